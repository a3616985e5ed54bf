// A second chunked vec4 table (see table.wgsl), for kernels that read two tables.
@group(0) @binding(14) var<storage, read> table_b0: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read> table_b1: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read> table_b2: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> table_b3: array<vec4<f32>>;

fn table_b_fetch(row: u32, lane: u32, lanes: u32, chunk_rows: u32) -> vec4<f32> {
    let c = row / chunk_rows;
    let i = (row - c * chunk_rows) * lanes + lane;
    switch c {
        case 0u: { return table_b0[i]; }
        case 1u: { return table_b1[i]; }
        case 2u: { return table_b2[i]; }
        default: { return table_b3[i]; }
    }
}
