// A row-major table of vec4 rows read through up to four bindings, each holding
// `chunk_rows` rows (a device caps one storage binding; see src/gpu/chunk.rs).
// Unused slots are bound to slot 0's range.
@group(0) @binding(10) var<storage, read> table0: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> table1: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read> table2: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read> table3: array<vec4<f32>>;

fn table_fetch(row: u32, lane: u32, lanes: u32, chunk_rows: u32) -> vec4<f32> {
    let c = row / chunk_rows;
    let i = (row - c * chunk_rows) * lanes + lane;
    switch c {
        case 0u: { return table0[i]; }
        case 1u: { return table1[i]; }
        case 2u: { return table2[i]; }
        default: { return table3[i]; }
    }
}
