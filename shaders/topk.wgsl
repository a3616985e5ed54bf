// Per-user top-K items by score s = <E_u, E_{n_users + i}>, skipping the user's excluded
// (training) items. One workgroup per listed user, 64 threads.
//
// Scan: thread t scores items t, t + 64, t + 128, ... (a sequential dot product over the
// row's vec4 lanes, so equal embeddings give bitwise equal scores) and keeps its own top K
// in private arrays by insertion. No barriers during the scan: a per-tile merge in
// workgroup memory (three barriers per 64 items) was 2x slower on lavapipe.
// Merge: K rounds; each round thread 0 picks the best head of the 64 sorted private lists
// from workgroup memory, writes it out, and the owner advances its head.
//
// Order: "a beats b" is (score_a > score_b) or (score_a == score_b and id_a < id_b), a
// strict total order over distinct items, so the result does not depend on scheduling.
// Items scoring NaN or -inf (or below FLOOR) never enter a list, so they are never listed.
// Lists with fewer than K items are padded with (NO_ITEM, FLOOR).
// Exclusion: each thread walks the user's sorted excluded-item list with its own cursor
// (its items ascend), so a user's exclusions cost O(n_items / 64 + degree) per thread.

struct Params {
    n_list: u32,
    n_users: u32,
    n_items: u32,
    k: u32,
    lanes: u32,
    chunk_rows: u32,
    pad0: u32,
    pad1: u32,
}

const MAX_K: u32 = 128u;
const NO_ITEM: u32 = 0xffffffffu;
// -f32::MAX: the sentinel score (the host reports it as -inf).
const FLOOR: f32 = -3.40282347e+38;

@group(0) @binding(0) var<uniform> p: Params;
// Node ids of the listed users.
@group(0) @binding(1) var<storage, read> list: array<u32>;
// Excluded items per user id: CSR with sorted items.
@group(0) @binding(2) var<storage, read> excl_ptr: array<u32>;
@group(0) @binding(3) var<storage, read> excl_items: array<u32>;
// Per listed user, K slots of (item id, bitcast score).
@group(0) @binding(4) var<storage, read_write> out: array<vec2<u32>>;

var<workgroup> user_row: array<vec4<f32>, 64>;
var<workgroup> head_s: array<f32, 64>;
var<workgroup> head_i: array<u32, 64>;
var<workgroup> winner: u32;

// <user_row, row `node` of the table>, summed over lanes in order. The binding holding the
// row is chosen once per row, not per lane (a per-lane `table_fetch` was 6x slower on
// lavapipe).
fn user_dot(node: u32) -> f32 {
    let c = node / p.chunk_rows;
    let base = (node - c * p.chunk_rows) * p.lanes;
    var acc = 0.0;
    if (c == 0u) {
        for (var l = 0u; l < p.lanes; l = l + 1u) {
            acc = acc + dot(user_row[l], table0[base + l]);
        }
    } else if (c == 1u) {
        for (var l = 0u; l < p.lanes; l = l + 1u) {
            acc = acc + dot(user_row[l], table1[base + l]);
        }
    } else if (c == 2u) {
        for (var l = 0u; l < p.lanes; l = l + 1u) {
            acc = acc + dot(user_row[l], table2[base + l]);
        }
    } else {
        for (var l = 0u; l < p.lanes; l = l + 1u) {
            acc = acc + dot(user_row[l], table3[base + l]);
        }
    }
    return acc;
}

fn beats(sa: f32, ia: u32, sb: f32, ib: u32) -> bool {
    return sa > sb || (sa == sb && ia < ib);
}

@compute @workgroup_size(64)
fn topk(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let w = linear_workgroup(wid, nwg);
    if (w >= p.n_list) {
        return;
    }
    let k = p.k;
    let user = list[w];
    if (t < p.lanes) {
        user_row[t] = table_fetch(user, t, p.lanes, p.chunk_rows);
    }
    var my_s: array<f32, MAX_K>;
    var my_i: array<u32, MAX_K>;
    for (var j = 0u; j < k; j = j + 1u) {
        my_s[j] = FLOOR;
        my_i[j] = NO_ITEM;
    }
    var cursor = excl_ptr[user];
    let excl_end = excl_ptr[user + 1u];
    workgroupBarrier();

    for (var item = t; item < p.n_items; item = item + WG) {
        while (cursor < excl_end && excl_items[cursor] < item) {
            cursor = cursor + 1u;
        }
        if (cursor < excl_end && excl_items[cursor] == item) {
            continue;
        }
        let s = user_dot(p.n_users + item);
        // Only items beating the K-th entry (so neither NaN nor below FLOOR) enter.
        if (beats(s, item, my_s[k - 1u], my_i[k - 1u])) {
            var j = k - 1u;
            while (j > 0u && beats(s, item, my_s[j - 1u], my_i[j - 1u])) {
                my_s[j] = my_s[j - 1u];
                my_i[j] = my_i[j - 1u];
                j = j - 1u;
            }
            my_s[j] = s;
            my_i[j] = item;
        }
    }

    var head = 0u;
    head_s[t] = my_s[0];
    head_i[t] = my_i[0];
    for (var r = 0u; r < k; r = r + 1u) {
        workgroupBarrier();
        if (t == 0u) {
            var b = 0u;
            for (var c = 1u; c < WG; c = c + 1u) {
                if (beats(head_s[c], head_i[c], head_s[b], head_i[b])) {
                    b = c;
                }
            }
            out[w * k + r] = vec2<u32>(head_i[b], bitcast<u32>(head_s[b]));
            winner = b;
        }
        workgroupBarrier();
        if (winner == t) {
            head = head + 1u;
            if (head < k) {
                head_s[t] = my_s[head];
                head_i[t] = my_i[head];
            } else {
                head_s[t] = FLOOR;
                head_i[t] = NO_ITEM;
            }
        }
    }
}
