// A row-major table of vec4 rows read through up to four bindings, each holding
// `chunk_rows` rows (a device caps one storage binding; see src/gpu/chunk.rs).
// Unused slots are bound to slot 0's range.
@group(0) @binding(10) var<storage, read> table0: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> table1: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read> table2: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read> table3: array<vec4<f32>>;

// Element i of each slot as f32 vec4s. table_f16.wgsl and table_f16_packed.wgsl define the
// same functions over 16-bit storage, so a kernel reads any table storage through them.
fn load0(i: u32) -> vec4<f32> { return table0[i]; }
fn load1(i: u32) -> vec4<f32> { return table1[i]; }
fn load2(i: u32) -> vec4<f32> { return table2[i]; }
fn load3(i: u32) -> vec4<f32> { return table3[i]; }

