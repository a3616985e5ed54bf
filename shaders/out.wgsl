// The output table of a row kernel at binding 5, as f32 vec4s; out_f16.wgsl and
// out_f16_packed.wgsl store the same rows rounded to 16 bits.
@group(0) @binding(5) var<storage, read_write> y: array<vec4<f32>>;

fn load_out(i: u32) -> vec4<f32> { return y[i]; }
fn store_out(i: u32, v: vec4<f32>) { y[i] = v; }
