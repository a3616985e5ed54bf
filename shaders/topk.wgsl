// Per-user top-K items by score s = <E_u, E_{n_users + i}>, skipping each user's excluded
// (training) items. One workgroup of 64 threads per UPW listed users.
//
// Scan: thread t reads the rows of items t, t + 64, t + 128, ... once and scores them for
// all UPW users (one item row read serves UPW users); each score is a sequential dot product
// over the row's vec4 lanes, so equal embeddings give bitwise equal scores whatever the
// user's slot. Per user, the thread keeps its own top K in private arrays by insertion.
// There are no barriers during the scan: a per-tile merge in workgroup memory (three
// barriers per 64 items) was 2x slower on lavapipe.
// Merge: K rounds; in each, thread u < UPW picks user u's best head among the 64 sorted
// private lists (from workgroup memory), writes it out, and the owner advances its head.
//
// Order: "a beats b" is (score_a > score_b) or (score_a == score_b and id_a < id_b), a
// strict total order over distinct items, so the result does not depend on scheduling.
// Items scoring NaN or -inf (or below FLOOR) never enter a list, so they are never listed.
// Lists with fewer than K items are padded with (NO_ITEM, FLOOR).
// Exclusion: each thread walks each user's sorted excluded-item list with its own cursor
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

// Users per workgroup (src/kernels/topk.rs: USERS_PER_WORKGROUP).
const UPW: u32 = 4u;
const MAX_K: u32 = 100u;
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

// The users' rows: user u's lane l at u * 64 + l.
var<workgroup> user_rows: array<vec4<f32>, 256>;
// User u's head of thread c's list at u * 64 + c.
var<workgroup> head_s: array<f32, 256>;
var<workgroup> head_i: array<u32, 256>;
var<workgroup> winner: array<u32, UPW>;

fn row_dots(v: vec4<f32>, l: u32, acc: vec4<f32>) -> vec4<f32> {
    return acc + vec4<f32>(dot(user_rows[l], v), dot(user_rows[64u + l], v),
                           dot(user_rows[128u + l], v), dot(user_rows[192u + l], v));
}

// <user u's row, row `node` of the table> for every slot u, each summed over lanes in
// order. The binding holding the row is chosen once per row, not per lane (a per-lane
// `table_fetch` was 6x slower on lavapipe).
fn user_dots(node: u32) -> vec4<f32> {
    let c = node / p.chunk_rows;
    let base = (node - c * p.chunk_rows) * p.lanes;
    var acc = vec4<f32>(0.0);
    if (c == 0u) {
        for (var l = 0u; l < p.lanes; l = l + 1u) {
            acc = row_dots(load0(base + l), l, acc);
        }
    } else if (c == 1u) {
        for (var l = 0u; l < p.lanes; l = l + 1u) {
            acc = row_dots(load1(base + l), l, acc);
        }
    } else if (c == 2u) {
        for (var l = 0u; l < p.lanes; l = l + 1u) {
            acc = row_dots(load2(base + l), l, acc);
        }
    } else {
        for (var l = 0u; l < p.lanes; l = l + 1u) {
            acc = row_dots(load3(base + l), l, acc);
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
    let first = w * UPW;
    if (first >= p.n_list) {
        return;
    }
    // Users in this workgroup (the last one may hold fewer than UPW).
    let n_here = min(UPW, p.n_list - first);
    let k = p.k;
    var cursor: array<u32, UPW>;
    var excl_end: array<u32, UPW>;
    for (var u = 0u; u < UPW; u = u + 1u) {
        // Unused slots repeat the first user; their lists are never written out.
        let user = list[first + select(0u, u, u < n_here)];
        if (t < p.lanes) {
            user_rows[u * 64u + t] = table_fetch(user, t, p.lanes, p.chunk_rows);
        }
        cursor[u] = excl_ptr[user];
        excl_end[u] = excl_ptr[user + 1u];
    }
    // Per user u, entries u * MAX_K .. u * MAX_K + k, best first; the K-th kept in registers.
    var my_s: array<f32, UPW * MAX_K>;
    var my_i: array<u32, UPW * MAX_K>;
    var kth_s: array<f32, UPW>;
    var kth_i: array<u32, UPW>;
    for (var u = 0u; u < UPW; u = u + 1u) {
        for (var j = 0u; j < k; j = j + 1u) {
            my_s[u * MAX_K + j] = FLOOR;
            my_i[u * MAX_K + j] = NO_ITEM;
        }
        kth_s[u] = FLOOR;
        kth_i[u] = NO_ITEM;
    }
    workgroupBarrier();

    for (var item = t; item < p.n_items; item = item + WG) {
        let scores = user_dots(p.n_users + item);
        for (var u = 0u; u < n_here; u = u + 1u) {
            var c = cursor[u];
            let end = excl_end[u];
            while (c < end && excl_items[c] < item) {
                c = c + 1u;
            }
            cursor[u] = c;
            let s = scores[u];
            // Only items beating the K-th entry (so neither NaN nor below FLOOR) enter.
            if ((c < end && excl_items[c] == item) || !beats(s, item, kth_s[u], kth_i[u])) {
                continue;
            }
            let b = u * MAX_K;
            var j = k - 1u;
            while (j > 0u && beats(s, item, my_s[b + j - 1u], my_i[b + j - 1u])) {
                my_s[b + j] = my_s[b + j - 1u];
                my_i[b + j] = my_i[b + j - 1u];
                j = j - 1u;
            }
            my_s[b + j] = s;
            my_i[b + j] = item;
            kth_s[u] = my_s[b + k - 1u];
            kth_i[u] = my_i[b + k - 1u];
        }
    }

    var head: array<u32, UPW>;
    for (var u = 0u; u < UPW; u = u + 1u) {
        head_s[u * 64u + t] = my_s[u * MAX_K];
        head_i[u * 64u + t] = my_i[u * MAX_K];
    }
    for (var r = 0u; r < k; r = r + 1u) {
        workgroupBarrier();
        if (t < n_here) {
            let h = t * 64u;
            var b = 0u;
            for (var c = 1u; c < WG; c = c + 1u) {
                if (beats(head_s[h + c], head_i[h + c], head_s[h + b], head_i[h + b])) {
                    b = c;
                }
            }
            out[(first + t) * k + r] = vec2<u32>(head_i[h + b], bitcast<u32>(head_s[h + b]));
            winner[t] = b;
        }
        workgroupBarrier();
        for (var u = 0u; u < n_here; u = u + 1u) {
            if (winner[u] == t) {
                head[u] = head[u] + 1u;
                var s = FLOOR;
                var i = NO_ITEM;
                if (head[u] < k) {
                    s = my_s[u * MAX_K + head[u]];
                    i = my_i[u * MAX_K + head[u]];
                }
                head_s[u * 64u + t] = s;
                head_i[u * 64u + t] = i;
            }
        }
    }
}
