// Row `row`, vec4 lane `lane` of a table read through slots of `chunk_rows` rows (the
// load0..3 functions of the table include before this file).
fn table_fetch(row: u32, lane: u32, lanes: u32, chunk_rows: u32) -> vec4<f32> {
    let c = row / chunk_rows;
    let i = (row - c * chunk_rows) * lanes + lane;
    switch c {
        case 0u: { return load0(i); }
        case 1u: { return load1(i); }
        case 2u: { return load2(i); }
        default: { return load3(i); }
    }
}
