//! `ifru import` of a model trained outside ifru: a small reference trainer written here (MF,
//! BCE, full-batch gradient descent on the same objective) trains on the fixture's folder; its
//! tables go in under LightGCN-PyTorch's tensor names at a width that is not a multiple of 4;
//! `ifru unlearn` forgets the flipped rows; `ifru export --tensors base` gives the tables back
//! under the same names and width, and their forget AUC has moved at least half of the way
//! from the reference model's to the reference retrain's. Bad tables are refused by name with
//! nothing written.

use std::collections::HashMap;
use std::path::Path;

use crate::common;
use common::cli::{ITEMS, USERS, ifru, ok, s, stderr, write_ifru_folder};

const WIDTH: usize = 6;
/// λ in sum units; `--reg` is λ per training row.
const LAMBDA: f64 = 2.0;
/// The reference data: users, items, and each user's items (10 clean training rows, one
/// flipped, one validation and one test row).
const N_USERS: u32 = 200;
const N_ITEMS: u32 = 50;

/// A seeded xorshift draw in [-1, 1].
fn draws(mut state: u64) -> impl FnMut() -> f64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2001) as f64 / 1000.0 - 1.0
    }
}

/// An IFRU-protocol folder whose labels follow hidden rank-3 factors with noise, so a model
/// generalises and a flipped row is one the data contradicts. Returns the training rows in
/// the loader's order (clean, then flipped) and how many are flipped.
fn write_reference_folder(dir: &Path) -> (Vec<(u32, u32, u8)>, usize) {
    let mut draw = draws(7);
    let p: Vec<f64> = (0..N_USERS * 3).map(|_| draw()).collect();
    let q: Vec<f64> = (0..N_ITEMS * 3).map(|_| draw()).collect();
    let label = |u: u32, i: u32, noise: f64| {
        let s: f64 = (0..3)
            .map(|k| p[(u * 3 + k) as usize] * q[(i * 3 + k) as usize])
            .sum();
        u8::from(s + 0.3 * noise > 0.0)
    };
    std::fs::create_dir_all(dir).unwrap();
    let mut files: [String; 4] = Default::default();
    for f in &mut files {
        f.push_str("user,item,label\n");
    }
    let (mut clean, mut flipped) = (Vec::new(), Vec::new());
    for u in 0..N_USERS {
        for k in 0..13 {
            let i = (7 * u + 3 * k) % N_ITEMS;
            let l = label(u, i, draw());
            let (f, l) = match k {
                0..10 => (0, l),
                10 => (1, 1 - l),
                11 => (2, l),
                _ => (3, l),
            };
            files[f].push_str(&format!("{u},{i},{l}\n"));
            match f {
                0 => clean.push((u, i, l)),
                1 => flipped.push((u, i, l)),
                _ => {}
            }
        }
    }
    for (name, text) in ifru::data::ifru_folder::FILES.iter().zip(files) {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let n_flipped = flipped.len();
    clean.extend(flipped);
    (clean, n_flipped)
}

/// Final embeddings of θ = (users, items): θ itself for MF (K = 0); (θ + Âθ) / 2 for
/// LightGCN with one layer, Â the normalised adjacency of the positive rows.
fn propagate(layers: u32, rows: &[(u32, u32, u8)], t: &[f64]) -> Vec<f64> {
    if layers == 0 {
        return t.to_vec();
    }
    let n_users = N_USERS as usize;
    let mut degree = vec![0.0f64; n_users + N_ITEMS as usize];
    for &(u, i, y) in rows.iter().filter(|r| r.2 == 1) {
        let _ = y;
        degree[u as usize] += 1.0;
        degree[n_users + i as usize] += 1.0;
    }
    let mut out: Vec<f64> = t.iter().map(|x| 0.5 * x).collect();
    for &(u, i, _) in rows.iter().filter(|r| r.2 == 1) {
        let (a, b) = (u as usize, n_users + i as usize);
        let w = 0.5 / (degree[a] * degree[b]).sqrt();
        for k in 0..WIDTH {
            out[a * WIDTH + k] += w * t[b * WIDTH + k];
            out[b * WIDTH + k] += w * t[a * WIDTH + k];
        }
    }
    out
}

/// MF (K = 0) or LightGCN (K = 1) with BCE: minimises Σ softplus(s) − y·s + (λ/2)‖θ‖² by
/// gradient descent, from a seeded small draw, until the gradient is tiny. The propagation
/// is symmetric, so the gradient with respect to θ is the propagated gradient with respect to
/// the final embeddings. Returns θ (users then items, row-major).
fn reference_train(layers: u32, rows: &[(u32, u32, u8)]) -> Vec<f64> {
    let mut draw = draws(0x9e37_79b9_7f4a_7c15);
    let n = (N_USERS + N_ITEMS) as usize * WIDTH;
    let mut t: Vec<f64> = (0..n).map(|_| 0.3 * draw()).collect();
    let item = |i: u32| (N_USERS + i) as usize * WIDTH;
    for _ in 0..20_000 {
        let e = propagate(layers, rows, &t);
        let mut g = vec![0.0f64; n];
        for &(u, i, y) in rows {
            let (a, b) = (u as usize * WIDTH, item(i));
            let s: f64 = (0..WIDTH).map(|k| e[a + k] * e[b + k]).sum();
            let d = 1.0 / (1.0 + (-s).exp()) - f64::from(y);
            for k in 0..WIDTH {
                g[a + k] += d * e[b + k];
                g[b + k] += d * e[a + k];
            }
        }
        let mut grad = propagate(layers, rows, &g);
        for (gk, tk) in grad.iter_mut().zip(&t) {
            *gk += LAMBDA * tk;
        }
        if grad.iter().map(|x| x * x).sum::<f64>().sqrt() < 1e-7 {
            break;
        }
        for (x, gk) in t.iter_mut().zip(&grad) {
            *x -= 0.05 * gk;
        }
    }
    t
}

/// The AUC of `rows` with their labels under the tables.
fn auc(users: &[f32], items: &[f32], width: usize, rows: &[(u32, u32, u8)]) -> f64 {
    let score = |a: u32, b: u32| -> f64 {
        let (a, b) = (a as usize * width, b as usize * width);
        (0..width)
            .map(|k| f64::from(users[a + k]) * f64::from(items[b + k]))
            .sum()
    };
    let pos: Vec<f64> = rows
        .iter()
        .filter(|r| r.2 == 1)
        .map(|r| score(r.0, r.1))
        .collect();
    let neg: Vec<f64> = rows
        .iter()
        .filter(|r| r.2 == 0)
        .map(|r| score(r.0, r.1))
        .collect();
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

/// A tensor to write: name, rows, row-major values.
type Named<'a> = (&'a str, usize, &'a [f32]);

fn write_tables(path: &Path, tables: &[Named<'_>]) {
    let bytes: Vec<Vec<u8>> = tables
        .iter()
        .map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tables
        .iter()
        .zip(&bytes)
        .map(|((name, rows, values), bytes)| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![*rows, values.len() / rows],
                bytes,
            )
            .unwrap();
            (name.to_string(), view)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn read_tables(path: &Path) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, t)| {
            let values = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (name, (t.shape().to_vec(), values))
        })
        .collect()
}

/// `ifru unlearn` of `forget` in `model`, then `ifru export --tensors base`: the tables it
/// gives back, by name.
fn unlearn_and_export(
    model: &Path,
    forget: &Path,
    dir: &Path,
) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    ok(&ifru(&[
        "unlearn",
        "--model",
        &s(model),
        "--forget",
        &s(forget),
    ]));
    let back = dir.join("back.safetensors");
    ok(&ifru(&[
        "export",
        "--model",
        &s(model),
        "--tensors",
        "base",
        "--out",
        &s(&back),
    ]));
    read_tables(&back)
}

#[test]
fn an_externally_trained_model_is_imported_unlearned_and_exported_back() {
    for (kind, layers) in [("mf", 0), ("lightgcn", 1)] {
        imported_model_forgets(kind, layers);
    }
}

fn imported_model_forgets(kind: &str, layers: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (rows, n_flipped) = write_reference_folder(&data);
    let clean = rows.len() - n_flipped;
    let flipped: Vec<(u32, u32, u8)> = rows[clean..].to_vec();
    let split = N_USERS as usize * WIDTH;
    // Scores use the final embeddings, on the graph of the rows each model was left with.
    let forget_auc = |theta: &[f64], graph: &[(u32, u32, u8)]| {
        let e: Vec<f32> = propagate(layers, graph, theta)
            .iter()
            .map(|&x| x as f32)
            .collect();
        auc(&e[..split], &e[split..], WIDTH, &flipped)
    };
    let theta = reference_train(layers, &rows);
    let original = forget_auc(&theta, &rows);
    let retrain = forget_auc(&reference_train(layers, &rows[..clean]), &rows[..clean]);
    assert!(
        original - retrain > 0.1,
        "{kind}: the reference model memorised its flipped rows: {original:.3} vs {retrain:.3}"
    );

    let tables = tmp.path().join("lightgcn.safetensors");
    let theta32: Vec<f32> = theta.iter().map(|&x| x as f32).collect();
    write_tables(
        &tables,
        &[
            ("embedding_user.weight", N_USERS as usize, &theta32[..split]),
            ("embedding_item.weight", N_ITEMS as usize, &theta32[split..]),
        ],
    );
    let model = tmp.path().join("model");
    let reg = format!("{}", LAMBDA / rows.len() as f64);
    let layers_arg = layers.to_string();
    let out = ok(&ifru(&[
        "import",
        "--embeddings",
        &s(&tables),
        "--data",
        &s(&data),
        "--model",
        kind,
        "--layers",
        &layers_arg,
        "--loss",
        "bce",
        "--reg",
        &reg,
        "--out",
        &s(&model),
    ]));
    assert!(out.contains("of width 6"), "{kind}: {out}");
    let audit = std::fs::read_to_string(model.join("audit.jsonl")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(entry["command"], "import");
    let r = entry["stationarity"].as_f64().unwrap();
    assert!(
        r < 0.05,
        "{kind}: a converged model is near a stationary point: r = {r}"
    );

    let got = unlearn_and_export(&model, &data.join("train_random.csv"), tmp.path());
    let (shape_u, nu) = &got["embedding_user.weight"];
    let (shape_i, ni) = &got["embedding_item.weight"];
    assert_eq!(shape_u, &[N_USERS as usize, WIDTH], "{kind}");
    assert_eq!(shape_i, &[N_ITEMS as usize, WIDTH], "{kind}");
    let unlearned: Vec<f64> = nu.iter().chain(ni).map(|&x| f64::from(x)).collect();
    let after = forget_auc(&unlearned, &rows[..clean]);
    eprintln!("{kind}: forget AUC original {original:.3}, retrain {retrain:.3}, ifru {after:.3}");
    assert!(
        original - after >= 0.5 * (original - retrain),
        "{kind}: forget AUC {after:.3}, less than half of the way from {original:.3} to \
         {retrain:.3}"
    );
}

#[test]
fn bad_tables_are_refused_by_name_with_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_ifru_folder(&data);
    let users = vec![0.1f32; USERS as usize * 4];
    let items = vec![0.1f32; ITEMS as usize * 4];
    let mut nan = items.clone();
    nan[4 * 3 + 2] = f32::NAN;
    let short = vec![0.1f32; (USERS as usize - 1) * 4];
    let narrow = vec![0.1f32; ITEMS as usize * 3];
    let cases: [(&str, Vec<Named<'_>>, &[&str]); 5] = [
        (
            "NaN",
            vec![
                ("user_emb", USERS as usize, &users),
                ("item_emb", ITEMS as usize, &nan),
            ],
            &["row 3, column 2", "finite"],
        ),
        (
            "too few rows",
            vec![
                ("user_emb", USERS as usize - 1, &short),
                ("item_emb", ITEMS as usize, &items),
            ],
            &["user id 29 has no row"],
        ),
        (
            "widths differ",
            vec![
                ("user_emb", USERS as usize, &users),
                ("item_emb", ITEMS as usize, &narrow),
            ],
            &["4 wide", "3"],
        ),
        (
            "no item table",
            vec![("user_emb", USERS as usize, &users)],
            &["no item table", "--item-tensor"],
        ),
        (
            "unknown names",
            vec![("a", USERS as usize, &users), ("b", ITEMS as usize, &items)],
            &["no user table", "[\"a\", \"b\"]"],
        ),
    ];
    for (case, tables, needles) in cases {
        let file = tmp
            .path()
            .join(format!("{}.safetensors", case.replace(' ', "_")));
        write_tables(&file, &tables);
        let model = tmp.path().join("model");
        let out = ifru(&[
            "import",
            "--embeddings",
            &s(&file),
            "--data",
            &s(&data),
            "--model",
            "mf",
            "--out",
            &s(&model),
        ]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{case}: accepted");
        assert!(
            err.contains(&s(&file)),
            "{case}: the file is not named: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "{case}: {n:?} not in: {err}");
        }
        assert!(!model.exists(), "{case}: a model directory was written");
    }
}

/// A RecBole-style atomic `.inter` file (tab-separated, typed header, string tokens), with
/// the model's tables holding a padding row 0 and id-map files naming each token's row.
#[test]
fn a_raw_table_with_id_maps_is_imported_and_unlearned_by_its_own_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let mut draw = draws(11);
    let (users, items) = (40usize, 30usize);
    let mut inter = String::from("user_id:token\titem_id:token\trating:float\n");
    let mut valid = inter.clone();
    for u in 0..users {
        for k in 0..8 {
            let i = (5 * u + 3 * k) % items;
            let rating = 1 + ((draw() + 1.0) * 2.0).round() as u32;
            let line = format!("u{u}\ti{i}\t{rating}\n");
            if k < 7 {
                inter.push_str(&line)
            } else {
                valid.push_str(&line)
            }
        }
    }
    let (data, valid_file) = (
        tmp.path().join("ml.inter"),
        tmp.path().join("ml.valid.inter"),
    );
    std::fs::write(&data, inter).unwrap();
    std::fs::write(&valid_file, valid).unwrap();
    // RecBole's layout: row 0 is padding, tokens are remapped to rows 1.. in an order of its own.
    let map = |prefix: &str, n: usize| -> String {
        let mut text = String::from("id,row\n");
        for k in 0..n {
            text.push_str(&format!("{prefix}{},{}\n", (k * 7) % n, k + 1));
        }
        text
    };
    let (user_map, item_map) = (tmp.path().join("users.csv"), tmp.path().join("items.csv"));
    std::fs::write(&user_map, map("u", users)).unwrap();
    std::fs::write(&item_map, map("i", items)).unwrap();
    let mut table =
        |rows: usize| -> Vec<f32> { (0..rows * 5).map(|_| 0.3 * draw() as f32).collect() };
    let (u, v) = (table(users + 1), table(items + 1));
    let tables = tmp.path().join("recbole.safetensors");
    write_tables(
        &tables,
        &[
            ("user_embedding.weight", users + 1, &u),
            ("item_embedding.weight", items + 1, &v),
        ],
    );
    let model = tmp.path().join("model");
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "--embeddings",
            &s(&tables),
            "--data",
            &s(&data),
            "--model",
            "mf",
            "--loss",
            "bce",
            "--out",
            &s(&model),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ifru(&args)
    };
    // Without the maps, tokens are not row numbers: refused, nothing written.
    let out = import(&[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("\"u0\"") && stderr(&out).contains("id map"),
        "{}",
        stderr(&out)
    );
    assert!(!model.exists());
    let maps = ["--user-map", &s(&user_map), "--item-map", &s(&item_map)];
    let mut with_valid = maps.to_vec();
    let vf = s(&valid_file);
    with_valid.extend(["--valid", vf.as_str()]);
    let said = ok(&import(&with_valid));
    assert!(
        said.contains("imported 41 users and 31 items of width 5"),
        "{said}"
    );

    // Forget by the data's own tokens; the model reloads its data through its id maps.
    let forget = tmp.path().join("forget.csv");
    std::fs::write(&forget, "user,item\nu3,i15\nu3,i18\n").unwrap();
    let got = unlearn_and_export(&model, &forget, tmp.path());
    let (shape, after_u) = &got["user_embedding.weight"];
    assert_eq!(shape, &[users + 1, 5]);
    assert_eq!(&after_u[..5], &u[..5], "the padding row stays as it was");
    let row_of_u3 = (0..users).find(|k| (k * 7) % users == 3).unwrap() + 1;
    assert_ne!(
        &after_u[row_of_u3 * 5..row_of_u3 * 5 + 5],
        &u[row_of_u3 * 5..row_of_u3 * 5 + 5],
        "u3's row moved"
    );

    // A token the map does not name: refused by name.
    std::fs::write(&user_map, map("u", users - 1)).unwrap();
    let model2 = tmp.path().join("model2");
    let out = ifru(&[
        "import",
        "--embeddings",
        &s(&tables),
        "--data",
        &s(&data),
        "--model",
        "mf",
        "--user-map",
        &s(&user_map),
        "--item-map",
        &s(&item_map),
        "--out",
        &s(&model2),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&s(&user_map)) && stderr(&out).contains("not in the id map"),
        "{}",
        stderr(&out)
    );
    assert!(!model2.exists());
}
