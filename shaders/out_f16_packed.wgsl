// An f16 output table (see out.wgsl) as packed pairs (see table_f16_packed.wgsl).
@group(0) @binding(5) var<storage, read_write> y: array<vec2<u32>>;

fn load_out(i: u32) -> vec4<f32> {
    let v = y[i];
    return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
}
fn store_out(i: u32, v: vec4<f32>) { y[i] = vec2<u32>(pack2x16float(v.xy), pack2x16float(v.zw)); }
