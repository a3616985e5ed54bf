//! Bad input to `ifru unlearn` (and `ifru train`): each gives a clear error naming the file,
//! line or id at fault, a non-zero exit, and leaves the model directory byte-for-byte as it
//! was. Then the inputs that are not errors: duplicate lines, `--skip-missing`, and requests
//! that leave a user or an item with no rows.
//!
//! Each refusal's message is printed (`cargo test --test cli_bad_input -- --nocapture` lists
//! them all).

use crate::common;

use std::fs;
use std::path::Path;

use common::cli::{Fixture, ITEMS, USERS, ifru, item_of, ok, s, snapshot, stderr, training_rows};
use ifru::model::Params;
use ifru::model::store::{ModelDir, params_to_safetensors};

/// Runs `unlearn` with `args` on `fx`'s model and expects a refusal whose message holds every
/// one of `needles`, with the model directory unchanged. Returns the message.
fn refused(fx: &Fixture, case: &str, args: &[&str], needles: &[&str]) -> String {
    let before = snapshot(&fx.model);
    let out = fx.unlearn(args);
    let err = error_text(case, &out);
    for n in needles {
        assert!(
            err.contains(n),
            "{case}: {n:?} is not in the message:\n{err}"
        );
    }
    assert_eq!(
        snapshot(&fx.model),
        before,
        "{case}: the model directory changed"
    );
    err
}

/// The error of a failed run (from `error:` on), printed with its case; fails the test if the
/// run succeeded or panicked.
fn error_text(case: &str, out: &std::process::Output) -> String {
    let all = stderr(out);
    assert!(!out.status.success(), "{case}: accepted; stderr:\n{all}");
    assert_eq!(out.status.code(), Some(1), "{case}: {all}");
    assert!(!all.contains("panicked"), "{case}: {all}");
    let err = all[all.find("error:").unwrap_or(0)..]
        .trim_end()
        .to_string();
    eprintln!("[{case}]\n{err}\n");
    err
}

/// The training items of user `u`, and an item the user never had in training.
fn items_of(u: u32) -> (Vec<u32>, u32) {
    let rows = training_rows();
    let mine: Vec<u32> = rows.iter().filter(|r| r.0 == u).map(|r| r.1).collect();
    // Not a training row, nor a held-out one (those are accepted: cli/tests/cli/cli_held_out.rs).
    let held_out = [item_of(u, 7), item_of(u, 8), item_of(u, 9)];
    let other = (0..ITEMS)
        .find(|i| !mine.contains(i) && !held_out.contains(i))
        .unwrap();
    (mine, other)
}

fn label_of(u: u32, i: u32) -> u8 {
    training_rows()
        .iter()
        .find(|r| r.0 == u && r.1 == i)
        .unwrap()
        .2
}

#[test]
fn malformed_forget_files_name_the_file_and_line() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(0);
    let good = format!("0,{}", items[0]);
    let cases: [(&str, Vec<u8>, &[&str]); 7] = [
        (
            "bad_header.csv",
            format!("usr,item\n{good}\n").into_bytes(),
            &["bad_header.csv:1", "expected the header"],
        ),
        (
            "fields.csv",
            format!("user,item\n{good}\n0,1,1\n").into_bytes(),
            &["fields.csv:3", "expected 2 fields, found 3"],
        ),
        (
            "quote.csv",
            format!("user,item\n{good}\n\"0,1\n").into_bytes(),
            &["quote.csv:3", "unterminated quoted field"],
        ),
        (
            "utf8.csv",
            b"user,item\n\xff\xfe,1\n".to_vec(),
            &["utf8.csv:2", "not valid UTF-8"],
        ),
        (
            "label.csv",
            format!("user,item,label\n{good},7\n").into_bytes(),
            &["label.csv:2", "label \"7\" is not 0 or 1"],
        ),
        (
            "empty_id.csv",
            b"user,item\n,3\n".to_vec(),
            &["empty_id.csv:2", "empty user or item id"],
        ),
        (
            "binary.csv",
            vec![0u8, 159, 146, 150, 10, 0, 0, 10],
            &["binary.csv:1"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let f = fx.file(name, bytes);
        refused(&fx, name, &["--forget", &s(&f)], needles);
    }
    let missing = fx.tmp.path().join("no_such_file.csv");
    refused(
        &fx,
        "missing forget file",
        &["--forget", &s(&missing)],
        &["no_such_file.csv", "No such file"],
    );
}

#[test]
fn empty_forget_files_are_refused() {
    let fx = Fixture::new("mf");
    let empty = fx.file("empty.csv", "");
    refused(
        &fx,
        "empty",
        &["--forget", &s(&empty)],
        &["empty.csv: empty file"],
    );
    let blank = fx.file("blank.csv", "\n  \n\r\n");
    refused(
        &fx,
        "blank lines",
        &["--forget", &s(&blank)],
        &["blank.csv: empty file"],
    );
    let header = fx.file("header_only.csv", "user,item,label\n");
    refused(
        &fx,
        "header only",
        &["--forget", &s(&header)],
        &["header_only.csv: no forget lines after the header"],
    );
    // One empty file spoils a request of several.
    let (items, _) = items_of(1);
    let good = fx.forget("good.csv", &[(1, items[0])]);
    refused(
        &fx,
        "one of two files header only",
        &["--forget", &s(&good), "--forget", &s(&header)],
        &["header_only.csv"],
    );
}

#[test]
fn non_numeric_and_unknown_ids_name_the_line_and_the_id() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(2);
    let f = fx.file(
        "ids.csv",
        format!(
            "user,item\n2,{}\nabc,0\n0,xyz\n{USERS},0\n0,{ITEMS}\nzz,yy\n",
            items[0]
        ),
    );
    refused(
        &fx,
        "unknown and non-numeric ids",
        &["--forget", &s(&f)],
        &[
            "5 forget line(s) name rows that were never in the training data",
            "ids.csv:3: user \"abc\", item \"0\" (no user \"abc\" in the data)",
            "ids.csv:4: user \"0\", item \"xyz\" (no item \"xyz\" in the data)",
            &format!("ids.csv:5: user \"{USERS}\", item \"0\" (no user \"{USERS}\" in the data)"),
            &format!("ids.csv:6: user \"0\", item \"{ITEMS}\" (no item \"{ITEMS}\" in the data)"),
            "ids.csv:7: user \"zz\", item \"yy\" (no user \"zz\" and no item \"yy\" in the data)",
            "--skip-missing",
        ],
    );
}

#[test]
fn rows_never_in_training_are_refused_listing_the_first_few() {
    let fx = Fixture::new("mf");
    let mut rows = Vec::new();
    for u in 0..8 {
        rows.push((u, items_of(u).1));
    }
    let f = fx.forget("never.csv", &rows);
    let err = refused(
        &fx,
        "rows never in training",
        &["--forget", &s(&f)],
        &[
            "8 forget line(s) name rows that were never in the training data",
            "nothing was changed",
            "never.csv:2:",
            "never.csv:6:",
            "(no training row pairs them)",
            "... and 3 more",
        ],
    );
    assert!(!err.contains("never.csv:7:"), "only the first five: {err}");
}

#[test]
fn a_label_that_differs_from_the_training_row_is_refused() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(4);
    let (i, j) = (items[0], items[1]);
    let (li, lj) = (label_of(4, i), label_of(4, j));
    let f = fx.file(
        "labels.csv",
        format!("user,item,label\n4,{i},{li}\n4,{j},{}\n", 1 - lj),
    );
    refused(
        &fx,
        "label mismatch",
        &["--forget", &s(&f)],
        &[
            "1 forget line(s) carry a label that differs from the training row's",
            &format!(
                "labels.csv:3: user \"4\", item \"{j}\" (label {}, but the training label is {lj})",
                1 - lj
            ),
        ],
    );
    // A repeated pair does not hide a wrong label.
    let f = fx.file(
        "repeat.csv",
        format!("user,item,label\n4,{i},{li}\n4,{i},{}\n", 1 - li),
    );
    refused(
        &fx,
        "label mismatch on a repeated line",
        &["--forget", &s(&f)],
        &["repeat.csv:3", "differs from the training row's"],
    );
}

#[test]
fn non_numeric_ids_in_data_files_name_the_file_and_line() {
    let fx = Fixture::new("mf");
    // Training on such data writes nothing.
    let bad = fx.tmp.path().join("bad_data");
    common::cli::write_ifru_folder(&bad);
    let p = bad.join("train_normal.csv");
    let text = fs::read_to_string(&p).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[3] = "1,x,1";
    fs::write(&p, lines.join("\n")).unwrap();
    let out_dir = fx.tmp.path().join("never_written");
    let out = ifru(&[
        "train",
        "--data",
        &s(&bad),
        "--model",
        "mf",
        "--dim",
        "8",
        "--out",
        &s(&out_dir),
    ]);
    let err = error_text("train on data with a non-numeric id", &out);
    assert!(
        err.contains("train_normal.csv:4: item id \"x\" is not a non-negative integer"),
        "{err}"
    );
    assert!(!out_dir.exists());
    // The model's data replaced by such a copy.
    let (items, _) = items_of(0);
    let f = fx.forget("f.csv", &[(0, items[0])]);
    refused(
        &fx,
        "unlearn with data holding a non-numeric id",
        &["--forget", &s(&f), "--data", &s(&bad)],
        &[
            "train_normal.csv:4: item id \"x\" is not a non-negative integer",
            &s(&fx.model),
        ],
    );
}

#[test]
fn malformed_or_empty_data_files_of_the_model_are_named() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(0);
    let f = fx.forget("f.csv", &[(0, items[0])]);
    let cases: [(&str, &str, &[&str]); 4] = [
        ("train_random.csv", "", &["train_random.csv: empty file"]),
        (
            "valid.csv",
            "user,item,label\n1,2,1\n1,3,yes\n",
            &["valid.csv:3: label \"yes\" is not 0 or 1"],
        ),
        (
            "test.csv",
            "user,item\n1,2\n",
            &["test.csv:1: expected the header \"user,item,label\""],
        ),
        (
            "train_normal.csv",
            "user,item,label\n1,2\n",
            &["train_normal.csv:2: expected 3 fields"],
        ),
    ];
    for (name, text, needles) in cases {
        let p = fx.data.join(name);
        let original = fs::read(&p).unwrap();
        fs::write(&p, text).unwrap();
        let model = s(&fx.model);
        let mut all = needles.to_vec();
        all.push(&model);
        refused(
            &fx,
            &format!("data file {name}"),
            &["--forget", &s(&f)],
            &all,
        );
        fs::write(&p, original).unwrap();
    }
    // The data gone altogether.
    let moved = fx.tmp.path().join("moved");
    fs::rename(&fx.data, &moved).unwrap();
    refused(
        &fx,
        "data moved",
        &["--forget", &s(&f)],
        &["train_normal.csv", "No such file", "--data"],
    );
    fs::rename(&moved, &fx.data).unwrap();
}

#[test]
fn data_whose_fingerprint_differs_is_refused() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(0);
    let f = fx.forget("f.csv", &[(0, items[0])]);
    // One training label flipped: same shape, other data.
    let p = fx.data.join("train_normal.csv");
    let text = fs::read_to_string(&p).unwrap();
    let (head, rest) = text.split_once('\n').unwrap();
    let (first, tail) = rest.split_once('\n').unwrap();
    let flipped = match first.strip_suffix('1') {
        Some(x) => format!("{x}0"),
        None => format!("{}1", first.strip_suffix('0').unwrap()),
    };
    fs::write(&p, format!("{head}\n{flipped}\n{tail}")).unwrap();
    refused(
        &fx,
        "fingerprint mismatch",
        &["--forget", &s(&f)],
        &[
            "does not match the model",
            &s(&fx.model),
            "fingerprint sha256:",
            "--data",
        ],
    );
}

fn version_file(fx: &Fixture, name: &str) -> std::path::PathBuf {
    fx.model.join(fx.current()).join(name)
}

fn params(fx: &Fixture) -> Params {
    ModelDir::open(&fx.model).unwrap().load().unwrap().params
}

fn write_params(fx: &Fixture, p: &Params) {
    fs::write(
        version_file(fx, "model.safetensors"),
        params_to_safetensors(p).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_checkpoint_with_non_finite_values_or_wrong_shapes_is_refused() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(0);
    let f = fx.forget("f.csv", &[(0, items[0])]);
    let good = params(&fx);
    let tensors = version_file(&fx, "model.safetensors");
    let t = s(&tensors);

    let mut p = good.clone();
    p.user_emb[2 * 8 + 3] = f32::NAN;
    write_params(&fx, &p);
    refused(
        &fx,
        "NaN in the checkpoint",
        &["--forget", &s(&f)],
        &[
            &t,
            "tensor \"user_emb\": value at [2, 3] is NaN, not finite",
        ],
    );

    let mut p = good.clone();
    p.item_emb[5 * 8] = f32::NEG_INFINITY;
    write_params(&fx, &p);
    refused(
        &fx,
        "-inf in the checkpoint",
        &["--forget", &s(&f)],
        &[
            &t,
            "tensor \"item_emb\": value at [5, 0] is -inf, not finite",
        ],
    );

    let narrow = Params {
        dim: 4,
        user_emb: vec![0.1; USERS as usize * 4],
        item_emb: vec![0.1; ITEMS as usize * 4],
        ..good.clone()
    };
    write_params(&fx, &narrow);
    refused(
        &fx,
        "checkpoint of another shape",
        &["--forget", &s(&f)],
        &[&t, "shape [30, 4], but model.json expects [30, 8]"],
    );

    fs::write(&tensors, b"\x08\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
    refused(
        &fx,
        "truncated checkpoint",
        &["--forget", &s(&f)],
        &[&t, "not a valid safetensors file"],
    );
}

#[test]
fn an_embedding_size_the_kernels_cannot_take_is_refused() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(0);
    let f = fx.forget("f.csv", &[(0, items[0])]);
    let json = version_file(&fx, "model.json");
    let original = fs::read_to_string(&json).unwrap();
    assert!(original.contains("\"dim\": 8"));
    for dim in ["6", "0", "260"] {
        fs::write(
            &json,
            original.replace("\"dim\": 8", &format!("\"dim\": {dim}")),
        )
        .unwrap();
        refused(
            &fx,
            &format!("model.json with d = {dim}"),
            &["--forget", &s(&f)],
            &[
                &s(&json),
                &format!("embedding size {dim} is not supported"),
                "multiples of 4 from 4 to 256",
            ],
        );
    }
    fs::write(&json, original).unwrap();
    // Training one is refused before anything is written.
    let out_dir = fx.tmp.path().join("never_written");
    let out = ifru(&[
        "train",
        "--data",
        &s(&fx.data),
        "--model",
        "mf",
        "--dim",
        "10",
        "--out",
        &s(&out_dir),
    ]);
    let err = error_text("train --dim 10", &out);
    assert!(err.contains("embedding size 10 is not supported"), "{err}");
    assert!(!out_dir.exists());
}

#[test]
fn a_folder_that_is_not_a_model_directory_is_named() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(0);
    let f = fx.forget("f.csv", &[(0, items[0])]);
    let current = fx.model.join("CURRENT");
    fs::write(&current, "garbage\n").unwrap();
    refused(
        &fx,
        "CURRENT garbage",
        &["--forget", &s(&f)],
        &[
            &s(&current),
            "expected a version name such as v0001, found \"garbage\\n\"",
        ],
    );
    fs::write(&current, "v0007\n").unwrap();
    refused(
        &fx,
        "CURRENT names a missing version",
        &["--forget", &s(&f)],
        &[
            &s(&current),
            "names v0007, but there is no such version folder",
        ],
    );
    fs::write(&current, "v0001\n").unwrap();
    let nowhere = fx.tmp.path().join("nowhere");
    let out = ifru(&["unlearn", "--model", &s(&nowhere), "--forget", &s(&f)]);
    let err = error_text("no such model directory", &out);
    assert!(
        err.contains(&format!("{}: no such model directory", s(&nowhere))),
        "{err}"
    );
    assert!(!nowhere.exists());
}

#[test]
fn a_failed_solve_changes_nothing() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(5);
    let f = fx.forget("f.csv", &[(5, items[0]), (5, items[1])]);
    // Finite parameters so large that every score overflows: the solve fails.
    let mut p = params(&fx);
    p.user_emb.iter_mut().for_each(|v| *v = 3e19);
    p.item_emb.iter_mut().for_each(|v| *v = 3e19);
    write_params(&fx, &p);
    refused(
        &fx,
        "solve on overflowing parameters",
        &["--forget", &s(&f)],
        &["the influence solve was refused", "unchanged"],
    );
}

#[test]
fn late_failures_with_out_or_report_change_nothing() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(5);
    let f = fx.forget("f.csv", &[(5, items[0])]);
    // --out into a folder that holds something else: refused after the solve.
    let busy = fx.tmp.path().join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("mine.txt"), "x").unwrap();
    let busy_before = snapshot(&busy);
    refused(
        &fx,
        "--out into a folder that is not empty",
        &["--forget", &s(&f), "--out", &s(&busy)],
        &[&s(&busy), "the folder is not empty (\"mine.txt\")"],
    );
    assert_eq!(snapshot(&busy), busy_before);
    // A report that cannot be written is refused before any work.
    let report = fx.tmp.path().join("no_dir/r.json");
    refused(
        &fx,
        "--report into a missing folder",
        &["--forget", &s(&f), "--report", &s(&report)],
        &["no_dir", "does not exist"],
    );
}

#[test]
fn duplicate_lines_count_once_with_a_warning_naming_them() {
    let fx = Fixture::new("mf");
    let (items, _) = items_of(6);
    let (a, b) = (items[0], items[1]);
    let f = fx.forget("dup.csv", &[(6, a), (6, b), (6, a), (6, a)]);
    let report = fx.tmp.path().join("r.json");
    let out = fx.unlearn(&["--forget", &s(&f), "--report", &s(&report)]);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning: 2 duplicate line(s) counted once")
            && err.contains("dup.csv:4: user \"6\", item")
            && err.contains("dup.csv:5:")
            && err.contains("(repeats line 2)"),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["request"]["duplicate"], 2);
    assert_eq!(r["request"]["matched"], 2);
    assert_eq!(r["request"]["rows"], 2);
    assert!(r["warnings"].to_string().contains("duplicate"), "{r}");
    let state = ModelDir::open(&fx.model).unwrap().load().unwrap();
    assert_eq!(state.forgotten.len(), 2);
    // The audit log counts the repeats but names no line (the lines are rows in clear).
    let log = fs::read_to_string(fx.model.join("audit.jsonl")).unwrap();
    assert!(
        log.contains("\"duplicate\":2") && !log.contains("dup.csv"),
        "{log}"
    );
}

#[test]
fn skip_missing_applies_the_rest_and_reports_what_it_skipped() {
    let fx = Fixture::new("mf");
    let (items, never) = items_of(7);
    let f = fx.file(
        "mixed.csv",
        format!(
            "user,item\n7,{}\n7,{never}\n7,{}\nnobody,1\n8,{}\n",
            items[0],
            items[1],
            items_of(8).1
        ),
    );
    refused(
        &fx,
        "partly missing without --skip-missing",
        &["--forget", &s(&f)],
        &["3 forget line(s)", "--skip-missing"],
    );
    let report = fx.tmp.path().join("r.json");
    let out = fx.unlearn(&[
        "--forget",
        &s(&f),
        "--skip-missing",
        "--report",
        &s(&report),
    ]);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning: skipped 3 line(s) never in the training data")
            && err.contains("mixed.csv:3:")
            && err.contains("mixed.csv:5: user \"nobody\"")
            && err.contains("mixed.csv:6:")
            && err.contains("3 skipped"),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["request"]["not_in_training"], 3);
    assert_eq!(r["request"]["rows"], 2);
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("skipped 3 line(s)") && warnings.contains("mixed.csv:5"),
        "{warnings}"
    );
    assert_eq!(
        ModelDir::open(&fx.model)
            .unwrap()
            .load()
            .unwrap()
            .forgotten
            .len(),
        2
    );
    let log = fs::read_to_string(fx.model.join("audit.jsonl")).unwrap();
    assert!(log.contains("\"not_in_training\":3"), "{log}");
    assert!(
        !log.contains("nobody") && !log.contains("mixed.csv"),
        "ids in clear: {log}"
    );
    // Nothing left once the missing lines are skipped: exit 0, nothing changes.
    let only_missing = fx.forget("missing.csv", &[(7, never)]);
    let before = snapshot(&fx.model);
    let out = fx.unlearn(&["--forget", &s(&only_missing), "--skip-missing"]);
    assert!(ok(&out).contains("nothing to forget"), "{}", stderr(&out));
    assert_eq!(snapshot(&fx.model), before);
}

/// Every committed parameter is finite.
fn assert_finite(model: &Path, what: &str) {
    let p = ModelDir::open(model).unwrap().load().unwrap().params;
    let bad = p
        .user_emb
        .iter()
        .chain(&p.item_emb)
        .filter(|v| !v.is_finite())
        .count();
    assert_eq!(bad, 0, "{what}: {bad} non-finite parameters");
}

#[test]
fn forgetting_every_row_of_a_user_or_an_item_leaves_finite_parameters() {
    let rows = training_rows();
    let user_rows: Vec<(u32, u32)> = rows
        .iter()
        .filter(|r| r.0 == 3)
        .map(|r| (r.0, r.1))
        .collect();
    let item = 5;
    let item_rows: Vec<(u32, u32)> = rows
        .iter()
        .filter(|r| r.1 == item)
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(user_rows.len(), 7);
    assert!(item_rows.len() >= 5, "{item_rows:?}");
    for (kind, extra) in [
        ("lightgcn", &[][..]),
        ("lightgcn", &["--hessian-at", "new"][..]),
        ("mf", &[][..]),
    ] {
        let fx = Fixture::new(kind);
        for (name, rows) in [("user.csv", &user_rows), ("item.csv", &item_rows)] {
            let f = fx.forget(name, rows);
            let report = fx.tmp.path().join("r.json");
            let mut args = vec!["--forget".to_string(), s(&f), "--report".into(), s(&report)];
            args.extend(extra.iter().map(|a| a.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(&fx.unlearn(&args));
            let what = format!("{kind} {extra:?} {name}");
            assert_finite(&fx.model, &what);
            let r: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
            assert_eq!(r["request"]["rows"], rows.len(), "{what}");
            for key in ["valid_auc", "test_auc", "residual"] {
                assert!(
                    r[key].as_f64().is_some_and(f64::is_finite),
                    "{what}: {key}: {r}"
                );
            }
        }
    }
}
