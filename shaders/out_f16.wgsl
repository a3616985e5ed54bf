// An f16 output table (see out.wgsl), native f16. Needs f16_enable.wgsl first.
@group(0) @binding(5) var<storage, read_write> y: array<vec4<f16>>;

fn load_out(i: u32) -> vec4<f32> { return vec4<f32>(y[i]); }
fn store_out(i: u32, v: vec4<f32>) { y[i] = vec4<f16>(v); }
