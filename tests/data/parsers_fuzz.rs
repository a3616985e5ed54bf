//! Arbitrary bytes never panic a parser: every input gives a value or a clear error, one that
//! names the file and, for a problem in a line, a line that exists. Every format is covered:
//! the loaders (IFRU tables, MovieLens, LightGCN, delimited; whole folders and raw-data splits),
//! forget files and the matcher, id maps, permutation files, recipes, and the model
//! directory's files (`model.json`, `forgotten.json`, `model.safetensors`, `audit.jsonl`,
//! `CURRENT`).
//!
//! `IFRU_FUZZ_CASES` sets the cases per property (default 256, what CI runs); a long run is
//! e.g. `IFRU_FUZZ_CASES=20000 cargo test --release --test parsers_fuzz`.

use std::fmt::Display;
use std::path::Path;

use ifru::data::split::{Recipe, SplitArgs, make_split, parse_id_map, parse_permutation};
use ifru::data::{
    DataError, Dataset, DelimitedOptions, Format, IdMap, Interactions, ValueColumn, delimited,
    forget, ifru_folder, lightgcn, movielens,
};
use ifru::model::store::{
    AuditLog, DataSource, ForgottenSet, HASH_SCHEME, ModelMeta, Regularization, Seeds, VersionId,
    params_from_safetensors, params_to_safetensors,
};
use ifru::model::{LossKind, ModelKind, ModelSpec, Params};
use proptest::prelude::*;

fn config(divide: u32) -> ProptestConfig {
    let cases = std::env::var("IFRU_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases((cases / divide).max(1))
}

/// Checks a parser's answer: an error must name `file` and, when it points at a line, one of
/// the input's lines.
fn clear<T, E: Display>(
    file: &str,
    bytes: &[u8],
    r: Result<T, E>,
    line: impl Fn(&E) -> Option<usize>,
) {
    if let Err(e) = r {
        let msg = e.to_string();
        assert!(msg.contains(file), "the error does not name {file}: {msg}");
        if let Some(l) = line(&e) {
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!(l >= 1 && l <= lines, "{file}: line {l} of {lines}: {msg}");
        }
    }
}

fn data<T>(file: &str, bytes: &[u8], r: Result<T, DataError>) {
    clear(file, bytes, r, |e: &DataError| e.line());
}

fn store<T>(file: &str, bytes: &[u8], r: Result<T, ifru::model::store::StoreError>) {
    clear(file, bytes, r, |_| None);
}

const DELIMITED: [(Option<&str>, Option<bool>, ValueColumn); 4] = [
    (None, None, ValueColumn::Auto),
    (Some(","), Some(true), ValueColumn::Label),
    (Some("::"), Some(false), ValueColumn::Rating),
    (Some(" "), None, ValueColumn::None),
];

/// Every parser of a file's bytes.
fn all_parsers(bytes: &[u8]) {
    let p = |name: &str| Path::new(name).to_path_buf();
    data("t.csv", bytes, ifru_folder::parse_table(&p("t.csv"), bytes));
    data("u.data", bytes, movielens::parse_bytes(&p("u.data"), bytes));
    data(
        "train.txt",
        bytes,
        lightgcn::parse_bytes(&p("train.txt"), bytes),
    );
    for (delimiter, header, value) in DELIMITED {
        let opts = DelimitedOptions {
            delimiter: delimiter.map(str::to_string),
            header,
            value,
        };
        data(
            "r.tsv",
            bytes,
            delimited::parse_bytes(&p("r.tsv"), bytes, &opts),
        );
    }
    let parsed = forget::parse_forget(&p("f.csv"), bytes);
    if let Ok(rows) = &parsed {
        check_matcher(rows);
    }
    data("f.csv", bytes, parsed);
    data("ids.csv", bytes, parse_id_map(&p("ids.csv"), bytes));
    for n in [0, 5] {
        data(
            "perm.txt",
            bytes,
            parse_permutation(&p("perm.txt"), bytes, n),
        );
    }
    data(
        "recipe.json",
        bytes,
        Recipe::parse(&p("recipe.json"), bytes),
    );
    store(
        "model.json",
        bytes,
        ModelMeta::from_json(&p("model.json"), bytes),
    );
    store(
        "forgotten.json",
        bytes,
        ForgottenSet::parse(&p("forgotten.json"), bytes),
    );
    store(
        "audit.jsonl",
        bytes,
        AuditLog::parse(&p("audit.jsonl"), bytes),
    );
    store(
        "model.safetensors",
        bytes,
        params_from_safetensors(&p("model.safetensors"), bytes, 2, 3, 4),
    );
    // CURRENT: read as text, then the version name.
    if let Some(v) = VersionId::parse(String::from_utf8_lossy(bytes).trim_end()) {
        assert_eq!(VersionId::parse(&v.name()), Some(v));
    }
}

/// A dataset whose ids the near-valid forget lines use: users `0`..`3` and `a`, items `0`..`3`
/// and `x,1`, with repeated pairs and both labels.
fn toy() -> Dataset {
    let mut user_ids = IdMap::new();
    for u in ["0", "1", "2", "3", "a"] {
        user_ids.intern(u);
    }
    let mut item_ids = IdMap::new();
    for i in ["0", "1", "2", "3", "x,1"] {
        item_ids.intern(i);
    }
    let mut train = Interactions::default();
    for (u, i, l) in [
        (0, 0, 1),
        (0, 1, 0),
        (1, 4, 1),
        (4, 4, 0),
        (0, 0, 1),
        (2, 3, 1),
        (4, 2, 0),
    ] {
        train.push(u, i, l);
    }
    Dataset {
        source: "toy".into(),
        n_users: 5,
        n_items: 5,
        user_ids,
        item_ids,
        n_train_normal: train.len(),
        train,
        valid: Interactions::default(),
        test: Interactions::default(),
        implicit: false,
    }
}

/// The matcher on parsed lines: one class per line, counts that add up, and matched rows that
/// are training rows of the line's pair with the line's label, not forgotten.
fn check_matcher(rows: &[forget::ForgetRow]) {
    let d = toy();
    let index = forget::PairIndex::new(&d.train);
    let forgotten = [false, false, false, true, false, false, false];
    let m = forget::match_forget(rows, &d.train, &d.user_ids, &d.item_ids, &index, &forgotten);
    assert_eq!(m.len(), rows.len());
    let s = forget::ForgetSummary::of(&m);
    assert_eq!(
        s.matched + s.already_forgotten + s.not_in_training + s.duplicate + s.label_mismatch,
        rows.len()
    );
    for x in &m {
        if let forget::ForgetStatus::Matched(rs) = &x.status {
            assert!(!rs.is_empty());
            for &r in rs {
                let r = r as usize;
                assert!(!forgotten[r]);
                assert_eq!(d.user_ids.get(&x.row.user), Some(d.train.users[r]));
                assert_eq!(d.item_ids.get(&x.row.item), Some(d.train.items[r]));
                assert!(x.row.label.is_none_or(|l| l == d.train.labels[r]));
            }
        }
    }
}

/// Text made of the characters these formats use, so parsers get past their first checks.
fn near_valid() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("user,item,label".to_string()),
        Just("user,item".to_string()),
        Just("id,raw".to_string()),
        "[0-9]{1,11},[0-9]{1,11},[0-9.e-]{0,4}",
        "[0-3a],([0-3]|\"x,1\"),[01]?",
        "[0-9a-z\"]{0,5}[,\t;| ]{1,2}[0-9a-z\"]{0,5}([,\t: ]{1,2}[0-9na.\"]{0,4}){0,3}",
        "[0-9 ]{0,30}",
        "[\\x00-\\x7f\u{fffd}]{0,20}",
        "[{}\\[\\]\":,0-9a-z ]{0,30}",
    ];
    prop::collection::vec(line, 0..8).prop_map(|ls| ls.join("\n"))
}

/// Valid files of the JSON and binary formats, for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let d = toy();
    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, 4, LossKind::Bce).unwrap();
    let source = DataSource {
        path: "/data".into(),
        format: Format::Ifru,
        delimited: None,
        holdout: None,
        split: None,
        fingerprint: "sha256:00".into(),
        nodes: None,
        whole: None,
    };
    let meta = ModelMeta::new(
        spec,
        Regularization::per_row(1e-4, 7),
        Seeds { train: 1, init: 2 },
        serde_json::json!({"lr": 0.01}),
        source,
        &d,
    );
    let params = Params {
        n_users: 2,
        n_items: 3,
        dim: 4,
        user_emb: vec![0.5; 8],
        item_emb: vec![-0.25; 12],
    };
    let hex = |b: u8| format!("{b:02x}").repeat(32);
    vec![
        meta.to_json().unwrap(),
        params_to_safetensors(&params).unwrap(),
        format!(
            "{{\"schema\": 1, \"hash\": \"{HASH_SCHEME}\", \"salt\": \"{}\", \"pairs\": [\"{}\"]}}\n",
            hex(0),
            hex(0xab)
        )
        .into_bytes(),
        b"{\"version\":\"v0001\",\"parent\":null,\"model_after\":\"sha256:00\"}\n".to_vec(),
        b"id,raw\n0,a\n1,\"b,c\"\n".to_vec(),
        b"3\n0\n4\n1\n2\n".to_vec(),
        b"v0012\n".to_vec(),
    ]
}

/// One edit of a seed: overwrite, insert or delete a byte, or cut the end.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match *e {
            Edit::Set(i, b) if n > 0 => bytes[i % n] = b,
            Edit::Insert(i, b) => bytes.insert(i % (n + 1), b),
            Edit::Delete(i) if n > 0 => {
                bytes.remove(i % n);
            }
            Edit::Truncate(i) => bytes.truncate(i % (n + 1)),
            _ => {}
        }
    }
    bytes
}

/// Writes the four files of an IFRU folder and a LightGCN folder and loads them; splits the
/// first as a raw delimited file.
fn folders(tables: &[String; 4]) {
    let dir = tempfile::tempdir().unwrap();
    let ifru_dir = dir.path().join("ifru");
    let lgcn = dir.path().join("lightgcn");
    std::fs::create_dir_all(&ifru_dir).unwrap();
    std::fs::create_dir_all(&lgcn).unwrap();
    for (name, text) in ifru_folder::FILES.iter().zip(tables) {
        std::fs::write(ifru_dir.join(name), text).unwrap();
    }
    let named = |r: Result<_, DataError>| {
        if let Err(e) = r {
            let msg = e.to_string();
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        }
    };
    named(ifru_folder::load(&ifru_dir).map(|_| ()));
    std::fs::write(lgcn.join("train.txt"), &tables[0]).unwrap();
    std::fs::write(lgcn.join("test.txt"), &tables[1]).unwrap();
    named(lightgcn::load(&lgcn, 0.2, 3).map(|_| ()));
    let raw = dir.path().join("ratings.csv");
    std::fs::write(&raw, &tables[2]).unwrap();
    let mut args = SplitArgs::new(&raw, dir.path().join("out"));
    args.kcore = 2;
    match make_split(&args) {
        Ok(_) => {}
        // Settings errors name no file; these are the defaults, so none is expected.
        Err(e) => assert!(e.to_string().contains(&raw.display().to_string()), "{e}"),
    }
}

/// Four tables of one shape (IFRU tables with their header, LightGCN lines, or ratings), over
/// few ids so the dense-id, hold-out, k-core and split checks are reached, and sometimes one
/// junk line.
fn tables() -> impl Strategy<Value = [String; 4]> {
    let shape = |k: usize| match k {
        0 => "[0-5],[0-5],[01]",
        1 => "[0-5]( [0-5]){0,4}",
        _ => "[0-5],[0-5],[1-5]",
    };
    (0usize..3)
        .prop_flat_map(move |k| {
            let table = move || {
                prop::collection::vec(shape(k), 0..24).prop_map(move |ls| {
                    let header = if k == 0 { "user,item,label\n" } else { "" };
                    format!("{header}{}", ls.join("\n"))
                })
            };
            (
                [table(), table(), table(), table()],
                prop::option::weighted(
                    0.3,
                    (
                        0usize..4,
                        any::<prop::sample::Index>(),
                        "[0-9a-z, .-]{0,12}",
                    ),
                ),
            )
        })
        .prop_map(|(mut tables, junk)| {
            if let Some((t, at, text)) = junk {
                let mut lines: Vec<&str> = tables[t].lines().collect();
                lines.insert(at.index(lines.len() + 1), &text);
                tables[t] = lines.join("\n");
            }
            tables
        })
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        all_parsers(&bytes);
    }

    #[test]
    fn near_valid_text_never_panics(text in near_valid()) {
        all_parsers(text.as_bytes());
        let mut crlf = text.replace('\n', "\r\n").into_bytes();
        crlf.insert(0, 0xEF);
        all_parsers(&crlf);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        seed in 0usize..7,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let seeds = seeds();
        all_parsers(&mutate(seeds[seed % seeds.len()].clone(), &edits));
    }
}

proptest! {
    // Files on disk: fewer cases.
    #![proptest_config(config(8))]

    #[test]
    fn folders_and_splits_never_panic(tables in tables()) {
        folders(&tables);
    }
}

#[test]
fn the_seeds_parse() {
    // The mutation test starts from valid files: check they are.
    let s = seeds();
    let p = Path::new("x");
    ModelMeta::from_json(p, &s[0]).unwrap();
    params_from_safetensors(p, &s[1], 2, 3, 4).unwrap();
    ForgottenSet::parse(p, &s[2]).unwrap();
    assert_eq!(AuditLog::parse(p, &s[3]).unwrap().len(), 1);
    assert_eq!(parse_id_map(p, &s[4]).unwrap().len(), 2);
    assert_eq!(parse_permutation(p, &s[5], 5).unwrap(), [3, 0, 4, 1, 2]);
    assert_eq!(VersionId::parse("v0012"), Some(VersionId(12)));
}
