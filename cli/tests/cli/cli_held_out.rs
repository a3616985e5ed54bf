//! Requests name rows as the user's data holds them: a forget line naming a row the split
//! held out of training (validation or test) is accepted, counted apart, needs no model
//! update, and leaves the held-out set for good (a repeat is "already forgotten").

use crate::common;

use common::cli::{Fixture, item_of, ok, s};
use ifru::loaded::LoadedModel;

fn held_out_sizes(f: &Fixture) -> (usize, usize) {
    let loaded = LoadedModel::open(&f.model, None).unwrap();
    (loaded.data.valid.len(), loaded.data.test.len())
}

#[test]
fn held_out_rows_are_accepted_counted_apart_and_leave_the_held_out_set() {
    let f = Fixture::new("mf");
    let (valid0, test0) = held_out_sizes(&f);
    // k = 0: a training row; k = 7: a validation row of the same user.
    let mixed = f.forget("mixed.csv", &[(0, item_of(0, 0)), (0, item_of(0, 7))]);
    let report = f.tmp.path().join("mixed.json");
    let out = ok(&f.unlearn(&["--forget", &s(&mixed), "--report", &s(&report)]));
    assert!(out.contains("forgot 1 rows"), "{out}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["request"]["held_out"], 1, "{r}");
    assert_eq!(r["request"]["rows"], 1, "{r}");
    assert_eq!(held_out_sizes(&f), (valid0 - 1, test0));

    // A repeat of the held-out line: already forgotten, nothing committed.
    let version = f.current();
    let again = f.forget("again.csv", &[(0, item_of(0, 7))]);
    let out = ok(&f.unlearn(&["--forget", &s(&again)]));
    assert!(out.contains("nothing to forget"), "{out}");
    assert_eq!(f.current(), version);

    // A request of held-out rows only (a test row) commits a version without an update.
    let test_only = f.forget("test.csv", &[(1, item_of(1, 9))]);
    let out = ok(&f.unlearn(&["--forget", &s(&test_only)]));
    assert!(out.contains("forgot 1 held-out row"), "{out}");
    assert_ne!(f.current(), version);
    assert_eq!(held_out_sizes(&f), (valid0 - 1, test0 - 1));
}
