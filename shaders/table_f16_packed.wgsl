// A table stored as f16 on a device without native f16 (see table.wgsl for the slots): each
// vec4 of a row is two u32s, each holding two halves (the lower value in the low 16 bits,
// the byte layout of an f16 array), widened to f32 by unpack2x16float.
@group(0) @binding(10) var<storage, read> table0: array<vec2<u32>>;
@group(0) @binding(11) var<storage, read> table1: array<vec2<u32>>;
@group(0) @binding(12) var<storage, read> table2: array<vec2<u32>>;
@group(0) @binding(13) var<storage, read> table3: array<vec2<u32>>;

fn unpack4(v: vec2<u32>) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
}

fn load0(i: u32) -> vec4<f32> { return unpack4(table0[i]); }
fn load1(i: u32) -> vec4<f32> { return unpack4(table1[i]); }
fn load2(i: u32) -> vec4<f32> { return unpack4(table2[i]); }
fn load3(i: u32) -> vec4<f32> { return unpack4(table3[i]); }
