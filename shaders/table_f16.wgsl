// A table stored as f16 (see table.wgsl for the slots), read as native vec4<f16> and widened
// to f32: every sum the kernels compute stays in f32. Needs f16_enable.wgsl first.
@group(0) @binding(10) var<storage, read> table0: array<vec4<f16>>;
@group(0) @binding(11) var<storage, read> table1: array<vec4<f16>>;
@group(0) @binding(12) var<storage, read> table2: array<vec4<f16>>;
@group(0) @binding(13) var<storage, read> table3: array<vec4<f16>>;

fn load0(i: u32) -> vec4<f32> { return vec4<f32>(table0[i]); }
fn load1(i: u32) -> vec4<f32> { return vec4<f32>(table1[i]); }
fn load2(i: u32) -> vec4<f32> { return vec4<f32>(table2[i]); }
fn load3(i: u32) -> vec4<f32> { return vec4<f32>(table3[i]); }
