//! The model directory: versions, CURRENT, cleanup, safetensors, fingerprints, forgotten set.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ifru::data::ifru_folder::write_table;
use ifru::data::split::{SplitArgs, make_split};
use ifru::data::{self, Dataset, Format, Interactions, LoadOptions, Loaded};
use ifru::model::store::{
    AuditRecord, DataSource, ForgottenSet, ModelDir, ModelMeta, ModelState, Regularization, Seeds,
    StoreError, VersionId, load_model_data, params_from_safetensors, params_to_safetensors,
    remaining_rows, split_dataset, verify_data,
};
use ifru::model::{LossKind, ModelKind, ModelSpec, Params};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// A small IFRU-protocol folder: 6 users, 5 items, 16 training rows.
fn write_ifru_folder(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let mut normal = Interactions::default();
    for u in 0..6u32 {
        normal.push(u, u % 5, 1);
        normal.push(u, (u + 2) % 5, (u % 2) as u8);
    }
    let mut random = Interactions::default();
    random.push(0, 3, 0);
    random.push(1, 4, 1);
    random.push(2, 0, 0);
    random.push(3, 1, 1);
    let mut valid = Interactions::default();
    valid.push(4, 3, 1);
    let mut test = Interactions::default();
    test.push(5, 4, 0);
    write_table(&dir.join("train_normal.csv"), &normal).unwrap();
    write_table(&dir.join("train_random.csv"), &random).unwrap();
    write_table(&dir.join("valid.csv"), &valid).unwrap();
    write_table(&dir.join("test.csv"), &test).unwrap();
}

fn load_split(path: &Path) -> Dataset {
    match data::load(path, Format::Auto, &LoadOptions::default()).unwrap() {
        Loaded::Split(d) => d,
        Loaded::Raw(_) => panic!("expected a split dataset"),
    }
}

fn params(n_users: u32, n_items: u32, dim: u32, seed: u32) -> Params {
    // Deterministic values including awkward ones (−0.0, subnormals, large) to check bit
    // exactness.
    let fill = |n: u32, salt: u32| -> Vec<f32> {
        (0..n * dim)
            .map(|k| match (k + salt) % 7 {
                0 => -0.0,
                1 => f32::from_bits(1 + k),
                2 => 1.0e30,
                _ => ((k * 2_654_435_761u32.wrapping_add(seed)) % 1000) as f32 / 997.0 - 0.5,
            })
            .collect()
    };
    Params {
        n_users,
        n_items,
        dim,
        user_emb: fill(n_users, 0),
        item_emb: fill(n_items, 3),
    }
}

fn state_for(
    data_path: &Path,
    d: &Dataset,
    split: Option<ifru::data::split::Recipe>,
) -> ModelState {
    let spec = ModelSpec::new(ModelKind::Lightgcn, 2, 8, LossKind::Bce).unwrap();
    let source =
        DataSource::new(data_path, Format::Auto, &LoadOptions::default(), split, d).unwrap();
    let meta = ModelMeta::new(
        spec,
        Regularization::per_row(1e-4, d.train.len()),
        Seeds { train: 7, init: 11 },
        serde_json::json!({"lr": 0.01, "batch": 1024, "epochs": 3}),
        source,
        d,
    );
    ModelState::new(meta, params(d.n_users, d.n_items, 8, 1), d).unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    model: PathBuf,
    dataset: Dataset,
    state: ModelState,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_ifru_folder(&data);
    let dataset = load_split(&data);
    let state = state_for(&data, &dataset, None);
    let model = tmp.path().join("model");
    Fixture {
        _tmp: tmp,
        data,
        model,
        dataset,
        state,
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn create_open_load_roundtrip_is_bitwise() {
    let f = fixture();
    let dir = ModelDir::create(&f.model, &f.state).unwrap();
    assert_eq!(dir.current_version(), VersionId(1));
    assert_eq!(names(&f.model), ["CURRENT", "LOCK", "audit.jsonl", "v0001"]);
    assert_eq!(
        fs::read_to_string(f.model.join("CURRENT")).unwrap(),
        "v0001\n"
    );
    assert_eq!(
        names(&f.model.join("v0001")),
        [
            "audit.jsonl",
            "forgotten.json",
            "item_ids.csv",
            "model.json",
            "model.safetensors",
            "user_ids.csv"
        ]
    );
    let dir = ModelDir::open(&f.model).unwrap();
    let back = dir.load().unwrap();
    assert_eq!(bits(&back.params.user_emb), bits(&f.state.params.user_emb));
    assert_eq!(bits(&back.params.item_emb), bits(&f.state.params.item_emb));
    assert_eq!(back.meta, f.state.meta);
    assert_eq!(back.user_ids, f.state.user_ids);
    assert_eq!(back.item_ids, f.state.item_ids);
    assert_eq!(back.forgotten, f.state.forgotten);
    assert_eq!(dir.load_meta().unwrap(), f.state.meta);
    // model.json records what the issue asks for.
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(f.model.join("v0001/model.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], 1);
    assert_eq!(json["spec"]["kind"], "lightgcn");
    assert_eq!(json["spec"]["layers"], 2);
    assert_eq!(json["spec"]["dim"], 8);
    assert_eq!(json["spec"]["loss"], "bce");
    assert_eq!(json["seeds"]["init"], 11);
    assert_eq!(json["training"]["batch"], 1024);
    assert_eq!(json["data"]["format"], "ifru");
    assert!(Path::new(json["data"]["path"].as_str().unwrap()).is_absolute());
    assert!(
        json["data"]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(json["train_rows"], 16);
    // The data comes back through model.json.
    let d = load_model_data(&back.meta, None).unwrap();
    assert_eq!(d.train, f.dataset.train);
    assert_eq!(back.rows(&d), (0..16).collect::<Vec<u32>>());
}

#[test]
fn commit_makes_a_new_version_live_and_deletes_the_old() {
    let f = fixture();
    let mut dir = ModelDir::create(&f.model, &f.state).unwrap();
    let mut next = f.state.clone();
    next.params.user_emb[0] = 42.0;
    next.forgotten.insert_rows(&f.dataset, &[3]);
    let v = dir.commit(&next).unwrap();
    assert_eq!(v, VersionId(2));
    assert_eq!(dir.current_version(), VersionId(2));
    assert_eq!(
        fs::read_to_string(f.model.join("CURRENT")).unwrap(),
        "v0002\n"
    );
    assert_eq!(names(&f.model), ["CURRENT", "LOCK", "audit.jsonl", "v0002"]);
    let back = ModelDir::open(&f.model).unwrap().load().unwrap();
    assert_eq!(back.params.user_emb[0], 42.0);
    assert_eq!(back.forgotten.len(), 1);
    let v = dir.commit(&f.state).unwrap();
    assert_eq!(v, VersionId(3));
    assert_eq!(names(&f.model), ["CURRENT", "LOCK", "audit.jsonl", "v0003"]);
    // The log: one entry per version, each naming its parent and the model hashes that chain.
    let log = dir.audit_log().unwrap();
    assert_eq!(
        fs::read(f.model.join("audit.jsonl")).unwrap(),
        log.as_bytes()
    );
    let e = log.entries();
    let versions: Vec<_> = e.iter().map(|x| x["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["v0001", "v0002", "v0003"]);
    assert_eq!(e[0]["parent"], serde_json::Value::Null);
    assert_eq!(e[2]["parent"], "v0002");
    assert_eq!(e[1]["model_before"], e[0]["model_after"]);
    assert_eq!(e[2]["model_before"], e[1]["model_after"]);
    assert_eq!(
        e[2]["model_after"], e[0]["model_after"],
        "v0003 has v0001's parameters"
    );
    assert_eq!(
        e[2]["model_after"].as_str().unwrap(),
        dir.model_hash().unwrap()
    );
}

#[test]
fn one_writer_at_a_time_and_readers_cannot_commit() {
    let f = fixture();
    let a = ModelDir::create(&f.model, &f.state).unwrap();
    // The creating handle holds the lock: a second writer waits, then gives up.
    let e = ModelDir::open_for_write(&f.model, Duration::from_millis(100)).unwrap_err();
    assert!(matches!(e, StoreError::Locked { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&f.model.display().to_string()) && msg.contains("LOCK"),
        "{msg}"
    );
    // A reader is not held back, and cannot commit.
    let mut r = ModelDir::open(&f.model).unwrap();
    let e = r.commit(&f.state).unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
    drop(a);
    let mut b = ModelDir::open_for_write(&f.model, Duration::ZERO).unwrap();
    // A writer that ignored the lock (an older build) committed meanwhile: refused.
    copy_dir(&f.model.join("v0001"), &f.model.join("v0002"));
    fs::write(f.model.join("CURRENT"), "v0002\n").unwrap();
    let e = b.commit(&f.state).unwrap_err();
    assert!(e.to_string().contains("another writer"), "{e}");
    assert_eq!(
        names(&f.model),
        ["CURRENT", "LOCK", "audit.jsonl", "v0001", "v0002"]
    );
}

#[test]
fn open_removes_temporary_version_folders() {
    let f = fixture();
    ModelDir::create(&f.model, &f.state).unwrap();
    let stray = f.model.join("v0002.tmp-xyz");
    fs::create_dir(&stray).unwrap();
    fs::write(stray.join("model.safetensors"), b"half").unwrap();
    fs::write(f.model.join(".CURRENT.tmp.1.2"), b"v0002").unwrap();
    fs::write(f.model.join(".audit.jsonl.tmp.1.3"), b"{").unwrap();
    // Files that are not ours are left alone.
    fs::write(f.model.join("notes.txt"), b"mine").unwrap();
    // Opening for reading changes nothing (a writer may be at work).
    let before = names(&f.model);
    ModelDir::open(&f.model).unwrap().load().unwrap();
    assert_eq!(names(&f.model), before);
    let dir = ModelDir::open_for_write(&f.model, Duration::ZERO).unwrap();
    assert_eq!(dir.current_version(), VersionId(1));
    assert_eq!(
        names(&f.model),
        ["CURRENT", "LOCK", "audit.jsonl", "notes.txt", "v0001"]
    );
    dir.load().unwrap();
}

#[test]
fn a_version_not_named_by_current_is_removed_on_open() {
    // A crash after the new version was renamed into place but before CURRENT was replaced.
    let f = fixture();
    ModelDir::create(&f.model, &f.state).unwrap();
    copy_dir(&f.model.join("v0001"), &f.model.join("v0002"));
    let mut dir = ModelDir::open_for_write(&f.model, Duration::ZERO).unwrap();
    assert_eq!(dir.current_version(), VersionId(1));
    assert_eq!(names(&f.model), ["CURRENT", "LOCK", "audit.jsonl", "v0001"]);
    // An old version whose deletion failed goes too.
    dir.commit(&f.state).unwrap();
    drop(dir);
    copy_dir(&f.model.join("v0002"), &f.model.join("v0001"));
    ModelDir::open_for_write(&f.model, Duration::ZERO).unwrap();
    assert_eq!(names(&f.model), ["CURRENT", "LOCK", "audit.jsonl", "v0002"]);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn create_refuses_folders_that_are_not_empty_or_already_models() {
    let f = fixture();
    fs::create_dir(&f.model).unwrap();
    fs::write(f.model.join("other.txt"), b"x").unwrap();
    let e = ModelDir::create(&f.model, &f.state).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    fs::remove_file(f.model.join("other.txt")).unwrap();
    ModelDir::create(&f.model, &f.state).unwrap();
    let e = ModelDir::create(&f.model, &f.state).unwrap_err();
    assert!(e.to_string().contains("already holds a model"), "{e}");
    // Leftovers of an interrupted create (a version, no CURRENT) do not block a new create; a
    // log does (an interrupted create never leaves one without CURRENT).
    fs::remove_file(f.model.join("CURRENT")).unwrap();
    fs::create_dir(f.model.join("v0002.tmp-1-1")).unwrap();
    let e = ModelDir::create(&f.model, &f.state).unwrap_err();
    assert!(e.to_string().contains("audit.jsonl"), "{e}");
    fs::remove_file(f.model.join("audit.jsonl")).unwrap();
    ModelDir::create(&f.model, &f.state).unwrap();
    assert_eq!(names(&f.model), ["CURRENT", "LOCK", "audit.jsonl", "v0001"]);
}

#[test]
fn open_errors_are_clear() {
    let f = fixture();
    let e = ModelDir::open(&f.model).unwrap_err();
    assert!(e.to_string().contains("no such model directory"), "{e}");
    fs::create_dir(&f.model).unwrap();
    let e = ModelDir::open(&f.model).unwrap_err();
    assert!(e.to_string().contains("no CURRENT"), "{e}");
    fs::write(f.model.join("CURRENT"), "garbage\n").unwrap();
    let e = ModelDir::open(&f.model).unwrap_err();
    assert!(
        e.to_string().contains("CURRENT") && e.to_string().contains("garbage"),
        "{e}"
    );
    fs::write(f.model.join("CURRENT"), "v0007\n").unwrap();
    let e = ModelDir::open(&f.model).unwrap_err();
    assert!(e.to_string().contains("no such version folder"), "{e}");
}

fn replace_tensors(model: &Path, p: &Params) {
    fs::write(
        model.join("v0001/model.safetensors"),
        params_to_safetensors(p).unwrap(),
    )
    .unwrap();
}

#[test]
fn non_finite_or_misshapen_tensors_are_refused() {
    let f = fixture();
    let dir = ModelDir::create(&f.model, &f.state).unwrap();
    let file = f.model.join("v0001/model.safetensors");

    let mut p = f.state.params.clone();
    p.item_emb[8 * 2 + 3] = f32::NAN;
    replace_tensors(&f.model, &p);
    let e = dir.load().unwrap_err();
    assert!(matches!(e, StoreError::Tensor { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(
        msg.contains("\"item_emb\"") && msg.contains("[2, 3]") && msg.contains("NaN"),
        "{msg}"
    );

    let mut p = f.state.params.clone();
    p.n_users += 1;
    p.user_emb.extend([0.0; 8]);
    replace_tensors(&f.model, &p);
    let msg = dir.load().unwrap_err().to_string();
    assert!(
        msg.contains("\"user_emb\"") && msg.contains("shape [7, 8]"),
        "{msg}"
    );

    fs::write(&file, b"not a safetensors file").unwrap();
    let msg = dir.load().unwrap_err().to_string();
    assert!(
        msg.contains(&file.display().to_string()) && msg.contains("safetensors"),
        "{msg}"
    );

    // Committing a non-finite state is refused before anything is written.
    replace_tensors(&f.model, &f.state.params);
    drop(dir);
    let mut dir = ModelDir::open_for_write(&f.model, Duration::ZERO).unwrap();
    let before = all_bytes_under(&f.model, &[]);
    let mut bad = f.state.clone();
    bad.params.user_emb[5] = f32::INFINITY;
    let e = dir.commit(&bad).unwrap_err();
    assert!(matches!(e, StoreError::State(_)), "{e}");
    assert!(
        e.to_string().contains("user_emb[0, 5] is not finite"),
        "{e}"
    );
    let mut bad = f.state.clone();
    bad.params.item_emb.pop();
    assert!(matches!(
        dir.commit(&bad).unwrap_err(),
        StoreError::State(_)
    ));
    assert_eq!(all_bytes_under(&f.model, &[]), before);
}

#[test]
fn corrupt_side_files_name_the_file() {
    let f = fixture();
    let dir = ModelDir::create(&f.model, &f.state).unwrap();
    let fj = f.model.join("v0001/forgotten.json");
    fs::write(&fj, b"{\"schema\": 1, \"hash\": \"x\"").unwrap();
    let msg = dir.load().unwrap_err().to_string();
    assert!(msg.contains("forgotten.json"), "{msg}");

    let f = fixture();
    let dir = ModelDir::create(&f.model, &f.state).unwrap();
    let mj = f.model.join("v0001/model.json");
    let text = fs::read_to_string(&mj)
        .unwrap()
        .replace("\"schema\": 1", "\"schema\": 9");
    fs::write(&mj, text).unwrap();
    let msg = dir.load().unwrap_err().to_string();
    assert!(
        msg.contains("model.json") && msg.contains("schema 9"),
        "{msg}"
    );

    let f = fixture();
    let dir = ModelDir::create(&f.model, &f.state).unwrap();
    fs::write(f.model.join("v0001/user_ids.csv"), "id,raw\n0,0\n").unwrap();
    let msg = dir.load().unwrap_err().to_string();
    assert!(
        msg.contains("user_ids.csv") && msg.contains("holds 1 ids"),
        "{msg}"
    );
}

#[test]
fn data_with_another_fingerprint_is_refused() {
    let f = fixture();
    let dir = ModelDir::create(&f.model, &f.state).unwrap();
    let meta = dir.load_meta().unwrap();
    // Flip one training label.
    let p = f.data.join("train_random.csv");
    let text = fs::read_to_string(&p).unwrap().replace("2,0,0", "2,0,1");
    fs::write(&p, text).unwrap();
    let e = dir.load_data(&meta, None).unwrap_err();
    assert!(matches!(e, StoreError::DataMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&f.data.display().to_string()), "{msg}");
    assert!(msg.contains(&f.model.display().to_string()), "{msg}");
    assert!(
        msg.contains(&meta.data.fingerprint) && msg.contains("--data"),
        "{msg}"
    );
    let e = verify_data(&meta, &load_split(&f.data)).unwrap_err();
    assert!(matches!(e, StoreError::DataMismatch { .. }), "{e}");
}

#[test]
fn moved_data_is_found_with_an_override() {
    let f = fixture();
    let dir = ModelDir::create(&f.model, &f.state).unwrap();
    let meta = dir.load_meta().unwrap();
    let moved = f.data.with_file_name("moved");
    fs::rename(&f.data, &moved).unwrap();
    let e = dir.load_data(&meta, None).unwrap_err();
    assert!(matches!(e, StoreError::Data { .. }), "{e}");
    assert!(e.to_string().contains("new path if it moved"), "{e}");
    let d = dir.load_data(&meta, Some(&moved)).unwrap();
    assert_eq!(d.train, f.dataset.train);
}

#[test]
fn forgotten_rows_mask_and_remaining_rows() {
    let f = fixture();
    let mut s = f.state.clone();
    // Row 12 is (0, 3): forgetting it by raw ids.
    assert_eq!(
        (f.dataset.train.users[12], f.dataset.train.items[12]),
        (0, 3)
    );
    assert!(s.forgotten.insert("0", "3"));
    assert!(!s.forgotten.insert("0", "3"));
    assert!(s.forgotten.contains("0", "3"));
    assert!(!s.forgotten.contains("3", "0"));
    assert_eq!(s.forgotten.insert_rows(&f.dataset, &[0, 12]), 1);
    let mask = s.forgotten_mask(&f.dataset);
    assert_eq!(mask.iter().filter(|&&m| m).count(), 2);
    assert!(mask[0] && mask[12]);
    let rows = remaining_rows(&f.dataset, &s.forgotten);
    assert_eq!(rows.len(), 14);
    assert!(!rows.contains(&0) && !rows.contains(&12));
    // Survives a round trip.
    let mut dir = ModelDir::create(&f.model, &f.state).unwrap();
    dir.commit(&s).unwrap();
    let back = dir.load().unwrap();
    assert_eq!(back.rows(&f.dataset), rows);
    // The mask feeds the forget matcher: the pair is now "already forgotten".
    let req = ifru::data::forget::parse_forget(Path::new("req.csv"), b"user,item\n0,3\n").unwrap();
    let index = ifru::data::forget::PairIndex::new(&f.dataset.train);
    let m = ifru::data::forget::match_forget(
        &req,
        &f.dataset.train,
        &f.dataset.user_ids,
        &f.dataset.item_ids,
        &index,
        &back.forgotten_mask(&f.dataset),
    );
    assert_eq!(
        m[0].status,
        ifru::data::forget::ForgetStatus::AlreadyForgotten(vec![12])
    );
}

/// A raw delimited file with distinctive raw ids, split in memory.
fn raw_fixture(tmp: &Path) -> (PathBuf, Dataset, ifru::data::split::Recipe) {
    let src = tmp.join("ratings.tsv");
    let mut text = String::new();
    for u in 0..12 {
        for i in 0..8 {
            text.push_str(&format!(
                "user-zq{u}x\titem-kw{i}y\t{}\n",
                (u * 7 + i * 3) % 5 + 1
            ));
        }
    }
    fs::write(&src, text).unwrap();
    let mut args = SplitArgs::new(&src, tmp.join("unused"));
    args.kcore = 0;
    args.ratio = 0.1;
    let s = make_split(&args).unwrap();
    let d = split_dataset(&s, &src);
    (src, d, s.recipe)
}

fn all_bytes_under(dir: &Path, skip: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if p.is_dir() {
            out.extend(all_bytes_under(&p, skip));
        } else if !skip.contains(&name.as_str()) {
            out.push((p.clone(), fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn forgotten_pairs_are_never_stored_in_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, d, recipe) = raw_fixture(tmp.path());
    let mut state = state_for(&src, &d, Some(recipe));
    assert!(!state.user_ids.is_identity());
    let r = 5usize;
    let user = state.user_ids.raw(d.train.users[r]).unwrap().into_owned();
    let item = state.item_ids.raw(d.train.items[r]).unwrap().into_owned();
    assert!(user.starts_with("user-zq") && item.starts_with("item-kw"));
    state.forgotten.insert(&user, &item);
    let model = tmp.path().join("model");
    let mut dir = ModelDir::create(&model, &state).unwrap();
    let (digest, pairs) = state.forgotten.digest_rows(&d, &[r as u32]);
    let record = AuditRecord::new("unlearn")
        .with(
            "forget",
            serde_json::json!({"digest": digest, "pairs": pairs}),
        )
        .unwrap();
    dir.commit_with(&state, &record).unwrap();
    assert_eq!(
        dir.audit_log().unwrap().entries()[1]["forget"]["digest"],
        digest
    );
    // The id maps list every raw id (requests name rows by them); no other file (the audit logs
    // included) names either id of the forgotten pair, and the pair's dense ids are not in
    // forgotten.json.
    let files = all_bytes_under(&model, &["user_ids.csv", "item_ids.csv"]);
    assert_eq!(
        files.len(),
        7,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (p, bytes) in &files {
        assert!(!contains(bytes, &user), "{} holds {user}", p.display());
        assert!(!contains(bytes, &item), "{} holds {item}", p.display());
        assert!(
            !contains(bytes, "user-zq") && !contains(bytes, "item-kw"),
            "{}",
            p.display()
        );
    }
    let back = dir.load().unwrap();
    assert!(back.forgotten.contains(&user, &item));
    assert_eq!(back.user_ids, state.user_ids);
    // And the raw data comes back through the recorded split recipe.
    let again = dir.load_data(&back.meta, None).unwrap();
    assert_eq!(again.train, d.train);
    let mask = back.forgotten_mask(&again);
    assert!(mask[r]);
}

#[test]
fn the_root_log_is_repaired_when_behind_and_refused_when_edited() {
    let f = fixture();
    let mut dir = ModelDir::create(&f.model, &f.state).unwrap();
    dir.commit(&f.state).unwrap();
    drop(dir);
    let root = f.model.join("audit.jsonl");
    let full = fs::read(&root).unwrap();
    // A crash after CURRENT named v0002 but before the root log listed it.
    let first_line = full.iter().position(|&b| b == b'\n').unwrap() + 1;
    fs::write(&root, &full[..first_line]).unwrap();
    let dir = ModelDir::open_for_write(&f.model, Duration::ZERO).unwrap();
    assert_eq!(fs::read(&root).unwrap(), full);
    drop(dir);
    // Missing altogether: rebuilt from the live version's copy.
    fs::remove_file(&root).unwrap();
    drop(ModelDir::open_for_write(&f.model, Duration::ZERO).unwrap());
    assert_eq!(fs::read(&root).unwrap(), full);
    // Edited: refused, and left as found.
    let edited = String::from_utf8(full.clone())
        .unwrap()
        .replace("v0001", "v0009");
    fs::write(&root, &edited).unwrap();
    let before = all_bytes_under(&f.model, &[]);
    let e = ModelDir::open_for_write(&f.model, Duration::ZERO).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("audit.jsonl") && msg.contains("does not agree"),
        "{msg}"
    );
    assert_eq!(all_bytes_under(&f.model, &[]), before);
    // Reading is still possible.
    ModelDir::open(&f.model).unwrap().load().unwrap();
}

#[test]
fn request_digests_depend_on_the_set_of_pairs_and_the_salt() {
    let f = fixture();
    let s = &f.state.forgotten;
    let d = &f.dataset;
    let (a, n) = s.digest_rows(d, &[1, 2]);
    assert_eq!(n, 2);
    assert!(a.starts_with("sha256:") && a.len() == 71, "{a}");
    assert_eq!(
        s.digest_rows(d, &[2, 1, 1]).0,
        a,
        "order and repeats do not matter"
    );
    assert_ne!(s.digest_rows(d, &[1]).0, a);
    assert_ne!(s.digest_rows(d, &[1, 3]).0, a);
    let other = ForgottenSet::with_salt([7; 32]);
    assert_ne!(other.digest_rows(d, &[1, 2]).0, a, "another model's salt");
}

#[test]
fn salts_differ_between_models() {
    let f = fixture();
    let mut a = f.state.clone();
    let mut b = ModelState::new(f.state.meta.clone(), f.state.params.clone(), &f.dataset).unwrap();
    assert_ne!(a.forgotten.salt(), b.forgotten.salt());
    a.forgotten.insert("1", "4");
    b.forgotten.insert("1", "4");
    let ma = f.model.with_file_name("a");
    let mb = f.model.with_file_name("b");
    ModelDir::create(&ma, &a).unwrap();
    ModelDir::create(&mb, &b).unwrap();
    let read = |m: &Path| -> serde_json::Value {
        serde_json::from_slice(&fs::read(m.join("v0001/forgotten.json")).unwrap()).unwrap()
    };
    let (ja, jb) = (read(&ma), read(&mb));
    assert_eq!(ja["pairs"].as_array().unwrap().len(), 1);
    assert_ne!(ja["pairs"], jb["pairs"]);
    assert_ne!(ja["salt"], jb["salt"]);
    // Same salt, same hash.
    let mut c = ForgottenSet::with_salt(*a.forgotten.salt());
    c.insert("1", "4");
    assert_eq!(c, a.forgotten);
}

#[test]
fn safetensors_files_from_the_reference_serializer_are_read() {
    // Raw little-endian bytes, serialised by the safetensors crate (the format the Python
    // package reads and writes).
    let (nu, ni, d) = (3usize, 2usize, 4usize);
    let u: Vec<f32> = (0..nu * d).map(|k| k as f32 * 0.25 - 1.0).collect();
    let i: Vec<f32> = (0..ni * d).map(|k| -(k as f32) * 0.5).collect();
    let ub: Vec<u8> = u.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ib: Vec<u8> = i.iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = vec![
        (
            "user_emb",
            TensorView::new(Dtype::F32, vec![nu, d], &ub).unwrap(),
        ),
        (
            "item_emb",
            TensorView::new(Dtype::F32, vec![ni, d], &ib).unwrap(),
        ),
    ];
    let bytes = safetensors::serialize(tensors, None).unwrap();
    let p = params_from_safetensors(Path::new("m.safetensors"), &bytes, 3, 2, 4).unwrap();
    assert_eq!((p.user_emb, p.item_emb), (u.clone(), i.clone()));

    // A file written byte by byte from the format's specification: an 8-byte little-endian
    // header length, the JSON header (with metadata), then the data.
    let header = format!(
        "{{\"__metadata__\":{{\"format\":\"np\"}},\
         \"item_emb\":{{\"dtype\":\"F32\",\"shape\":[{ni},{d}],\"data_offsets\":[0,{}]}},\
         \"user_emb\":{{\"dtype\":\"F32\",\"shape\":[{nu},{d}],\"data_offsets\":[{},{}]}}}}",
        ib.len(),
        ib.len(),
        ib.len() + ub.len()
    );
    let mut hand = (header.len() as u64).to_le_bytes().to_vec();
    hand.extend_from_slice(header.as_bytes());
    hand.extend_from_slice(&ib);
    hand.extend_from_slice(&ub);
    let p = params_from_safetensors(Path::new("h.safetensors"), &hand, 3, 2, 4).unwrap();
    assert_eq!((p.user_emb, p.item_emb), (u.clone(), i.clone()));

    // What we write, the reference parser reads: names, dtype, shapes and bytes.
    let ours = params_to_safetensors(&Params {
        n_users: 3,
        n_items: 2,
        dim: 4,
        user_emb: u,
        item_emb: i,
    })
    .unwrap();
    let st = SafeTensors::deserialize(&ours).unwrap();
    let mut names = st.names();
    names.sort_unstable();
    assert_eq!(names, ["item_emb", "user_emb"]);
    let t = st.tensor("user_emb").unwrap();
    assert_eq!((t.dtype(), t.shape()), (Dtype::F32, &[3usize, 4][..]));
    assert_eq!(t.data(), &ub[..]);
    assert_eq!(st.tensor("item_emb").unwrap().data(), &ib[..]);

    // Wrong dtype, missing and extra tensors are refused by name.
    let f64b = vec![0u8; nu * d * 8];
    let bad = safetensors::serialize(
        vec![
            (
                "user_emb",
                TensorView::new(Dtype::F64, vec![nu, d], &f64b).unwrap(),
            ),
            (
                "item_emb",
                TensorView::new(Dtype::F32, vec![ni, d], &ib).unwrap(),
            ),
        ],
        None,
    )
    .unwrap();
    let msg = params_from_safetensors(Path::new("m.safetensors"), &bad, 3, 2, 4)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("m.safetensors") && msg.contains("\"user_emb\"") && msg.contains("F64"),
        "{msg}"
    );
    let only_items = safetensors::serialize(
        vec![(
            "item_emb",
            TensorView::new(Dtype::F32, vec![ni, d], &ib).unwrap(),
        )],
        None,
    )
    .unwrap();
    let msg = params_from_safetensors(Path::new("m.safetensors"), &only_items, 3, 2, 4)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("\"user_emb\"") && msg.contains("missing"),
        "{msg}"
    );
    let extra = safetensors::serialize(
        vec![
            (
                "user_emb",
                TensorView::new(Dtype::F32, vec![nu, d], &ub).unwrap(),
            ),
            (
                "item_emb",
                TensorView::new(Dtype::F32, vec![ni, d], &ib).unwrap(),
            ),
            (
                "bias",
                TensorView::new(Dtype::F32, vec![1], &ib[..4]).unwrap(),
            ),
        ],
        None,
    )
    .unwrap();
    let msg = params_from_safetensors(Path::new("m.safetensors"), &extra, 3, 2, 4)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("\"bias\"") && msg.contains("unexpected"),
        "{msg}"
    );
}

/// Optional: the Python `safetensors` package reads what we write and writes what we read. Run
/// with `cargo test --release --test model_store -- --ignored` where `python3 -c "import
/// safetensors, numpy"` works (`$PYTHON` names another interpreter).
#[test]
#[ignore = "needs python3 with safetensors and numpy"]
fn python_safetensors_interop() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours.safetensors");
    let theirs = tmp.path().join("theirs.safetensors");
    let params = params(3, 2, 4, 5);
    fs::write(&ours, params_to_safetensors(&params).unwrap()).unwrap();
    let script = format!(
        "import numpy as np\n\
         from safetensors.numpy import load_file, save_file\n\
         t = load_file({:?})\n\
         assert sorted(t) == ['item_emb', 'user_emb']\n\
         assert t['user_emb'].shape == (3, 4) and t['item_emb'].shape == (2, 4)\n\
         assert t['user_emb'].dtype == np.float32\n\
         print(int(t['user_emb'].view(np.uint32)[1, 2]))\n\
         u = (np.arange(12, dtype=np.float32) * 0.25 - 1).reshape(3, 4)\n\
         i = (np.arange(8, dtype=np.float32) * -0.5).reshape(2, 4)\n\
         save_file({{'user_emb': u, 'item_emb': i}}, {:?})\n",
        ours.display().to_string(),
        theirs.display().to_string()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let want = params.user_emb[4 + 2].to_bits().to_string();
    assert_eq!(printed, want, "python read the bits {printed}");
    let p = ifru::model::store::read_params(&theirs, 3, 2, 4).unwrap();
    let u: Vec<f32> = (0..12).map(|k| k as f32 * 0.25 - 1.0).collect();
    let i: Vec<f32> = (0..8).map(|k| k as f32 * -0.5).collect();
    assert_eq!((p.user_emb, p.item_emb), (u, i));
}

#[test]
fn a_model_trained_elsewhere_is_imported() {
    let f = fixture();
    let elsewhere = f.data.with_file_name("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    // What another tool writes: a hand-made model.json (relative data path, format auto, no
    // fingerprint) and the tensors in safetensors format.
    let json = r#"{
        "schema": 1,
        "spec": {"kind": "mf", "layers": 0, "dim": 8, "loss": "bce"},
        "reg": {"per_row": 0.0, "lambda": 0.0},
        "seeds": {"train": 0, "init": 0},
        "data": {"path": "../data", "format": "auto"},
        "n_users": 6, "n_items": 5, "train_rows": 16
    }"#;
    fs::write(elsewhere.join("model.json"), json).unwrap();
    let p = params(6, 5, 8, 9);
    let ub: Vec<u8> = p.user_emb.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ib: Vec<u8> = p.item_emb.iter().flat_map(|v| v.to_le_bytes()).collect();
    let bytes = safetensors::serialize(
        vec![
            (
                "user_emb",
                TensorView::new(Dtype::F32, vec![6, 8], &ub).unwrap(),
            ),
            (
                "item_emb",
                TensorView::new(Dtype::F32, vec![5, 8], &ib).unwrap(),
            ),
        ],
        None,
    )
    .unwrap();
    fs::write(elsewhere.join("model.safetensors"), bytes).unwrap();

    let (state, d) = ifru::model::store::import_model(
        &elsewhere.join("model.json"),
        &elsewhere.join("model.safetensors"),
        None,
    )
    .unwrap();
    assert_eq!(d.train, f.dataset.train);
    assert_eq!(state.meta.data.format, Format::Ifru);
    assert_eq!(state.meta.data.fingerprint, f.state.meta.data.fingerprint);
    assert_eq!(state.meta.data.path, fs::canonicalize(&f.data).unwrap());
    let dir = ModelDir::create(&f.model, &state).unwrap();
    let back = dir.load().unwrap();
    assert_eq!(bits(&back.params.user_emb), bits(&p.user_emb));
    dir.load_data(&back.meta, None).unwrap();

    // A recorded fingerprint must match; a wrong size is refused.
    let wrong = json.replace(
        "\"format\": \"auto\"",
        "\"format\": \"auto\", \"fingerprint\": \"sha256:00\"",
    );
    fs::write(elsewhere.join("model.json"), wrong).unwrap();
    let e = ifru::model::store::import_model(
        &elsewhere.join("model.json"),
        &elsewhere.join("model.safetensors"),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, StoreError::DataMismatch { .. }), "{e}");
    fs::write(
        elsewhere.join("model.json"),
        json.replace("\"n_users\": 6", "\"n_users\": 7"),
    )
    .unwrap();
    let e = ifru::model::store::import_model(
        &elsewhere.join("model.json"),
        &elsewhere.join("model.safetensors"),
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("6 users"), "{e}");
}

#[test]
fn a_model_of_the_shared_ml_100k_ifru_split() {
    let shared = common::require_data!();
    let data = shared.join("ml-100k-ifru/0.01");
    let d = load_split(&data);
    let tmp = tempfile::tempdir().unwrap();
    let mut state = state_for(&data, &d, None);
    assert_eq!(state.meta.data.format, Format::Ifru);
    // Forget the flipped rows (the IFRU protocol's D_r).
    let flipped: Vec<u32> = d.flipped_rows().collect();
    state.forgotten.insert_rows(&d, &flipped);
    let dir = ModelDir::create(&tmp.path().join("m"), &state).unwrap();
    let back = dir.load().unwrap();
    let again = dir.load_data(&back.meta, None).unwrap();
    let rows = back.rows(&again);
    // Pairs are unique in this data, so exactly D_r goes.
    assert_eq!(rows.len(), d.n_train_normal);
    assert_eq!(rows, (0..d.n_train_normal as u32).collect::<Vec<_>>());
}
