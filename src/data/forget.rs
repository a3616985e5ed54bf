//! Forget files: the one format in which rows to forget are named, the matcher, and the
//! generators.
//!
//! # Format
//! CSV with the header `user,item` or `user,item,label`, then one `(user, item)` pair per line.
//! Ids are in the dataset's own id space (the raw ids of raw data, mapped through its
//! [`IdMap`]s; the ids as written for folders whose ids are already dense). Fields may be quoted.
//! A line names **every** training row with that (user, item) — a pair can occur more than once.
//! A label, if given, must equal the training label of those rows; an empty label field means
//! "no label given".
//!
//! # Matching
//! [`match_forget`] classifies every line ([`ForgetStatus`]): it names remaining training rows,
//! rows that are all already forgotten, no training row at all, or repeats an earlier line's pair;
//! or its label disagrees with the training data. What each leads to is the caller's decision.
//!
//! # Generators
//! [`generate`] picks training rows ([`ForgetKind`]: `flipped`, `random`, `user`, `popular`);
//! [`write_forget_file`] writes them as distinct pairs **in ascending order of the pair's first
//! training row id**, with the label when all training rows of the pair share it.

use std::io::Write;
use std::path::Path;

use super::parse::{self, Delim, Lines};
use super::rng::Rng;
use super::{DataError, Dataset, IdMap, Interactions};

/// One line of a forget file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgetRow {
    /// 1-based line number.
    pub line: usize,
    /// The user id as written.
    pub user: String,
    /// The item id as written.
    pub item: String,
    /// The label, if given.
    pub label: Option<u8>,
}

/// Reads a forget file.
pub fn read_forget_file(path: &Path) -> Result<Vec<ForgetRow>, DataError> {
    let bytes = parse::read(path)?;
    parse_forget(path, &bytes)
}

/// Parses the content of a forget file (`path` only names it in errors).
pub fn parse_forget(path: &Path, bytes: &[u8]) -> Result<Vec<ForgetRow>, DataError> {
    let mut lines = Lines::new(bytes);
    let delim = Delim::Char(',');
    let mut fields = Vec::new();
    let Some(header) = lines.next_nonblank(path) else {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    };
    let (hline, htext) = header?;
    parse::split_fields(htext, &delim, &mut fields)
        .map_err(|m| DataError::malformed(path, hline, m))?;
    let names: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
    let with_label = match names.as_slice() {
        [u, i] if u == "user" && i == "item" => false,
        [u, i, l] if u == "user" && i == "item" && l == "label" => true,
        _ => {
            return Err(DataError::malformed(
                path,
                hline,
                format!(
                    "expected the header \"user,item\" or \"user,item,label\", found {htext:?}"
                ),
            ));
        }
    };
    let width = if with_label { 3 } else { 2 };
    let mut out = Vec::new();
    while let Some(next) = lines.next_nonblank(path) {
        let (line, text) = next?;
        parse::split_fields(text, &delim, &mut fields)
            .map_err(|m| DataError::malformed(path, line, m))?;
        if fields.len() != width {
            return Err(DataError::malformed(
                path,
                line,
                format!("expected {width} fields, found {}", fields.len()),
            ));
        }
        if fields[0].is_empty() || fields[1].is_empty() {
            return Err(DataError::malformed(path, line, "empty user or item id"));
        }
        let label = match fields.get(2) {
            Some(l) if !l.is_empty() => Some(parse::parse_label(path, line, l)?),
            _ => None,
        };
        out.push(ForgetRow {
            line,
            user: fields[0].to_string(),
            item: fields[1].to_string(),
            label,
        });
    }
    Ok(out)
}

/// Training rows by (user, item) pair: every row with a pair, found by binary search.
#[derive(Clone, Debug)]
pub struct PairIndex {
    /// (pair key, row id), sorted.
    entries: Vec<(u64, u32)>,
}

fn pair_key(u: u32, i: u32) -> u64 {
    (u64::from(u) << 32) | u64::from(i)
}

impl PairIndex {
    /// Indexes the rows of `t`.
    pub fn new(t: &Interactions) -> Self {
        let mut entries: Vec<(u64, u32)> = (0..t.len())
            .map(|r| (pair_key(t.users[r], t.items[r]), r as u32))
            .collect();
        entries.sort_unstable();
        PairIndex { entries }
    }

    /// The rows with pair `(u, i)`, ascending.
    pub fn rows(&self, u: u32, i: u32) -> impl Iterator<Item = u32> + '_ {
        let key = pair_key(u, i);
        let start = self.entries.partition_point(|e| e.0 < key);
        self.entries[start..]
            .iter()
            .take_while(move |e| e.0 == key)
            .map(|e| e.1)
    }

    /// Number of pairs that occur more than once.
    pub fn repeated_pairs(&self) -> usize {
        let mut n = 0;
        let mut k = 0;
        while k < self.entries.len() {
            let mut j = k + 1;
            while j < self.entries.len() && self.entries[j].0 == self.entries[k].0 {
                j += 1;
            }
            if j - k > 1 {
                n += 1;
            }
            k = j;
        }
        n
    }
}

/// What one forget line names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForgetStatus {
    /// Training rows that remain (ascending). Rows of the pair that are already forgotten are
    /// left out.
    Matched(Vec<u32>),
    /// Every training row with this pair is already forgotten (the rows, ascending).
    AlreadyForgotten(Vec<u32>),
    /// No training row has this pair; says why.
    NotInTraining(Missing),
    /// The same pair as an earlier line.
    Duplicate {
        /// That line.
        first_line: usize,
    },
    /// No training row has this pair, but held-out rows (validation, test) do: the line is
    /// accepted and the rows leave the held-out set; the model needs no update for them.
    HeldOut(HeldOutRows),
    /// A label was given and differs from the training label of some row of the pair.
    LabelMismatch {
        /// The rows of the pair (ascending).
        rows: Vec<u32>,
        /// Their training labels.
        training_labels: Vec<u8>,
    },
}

/// Held-out rows a forget line names: positions in the dataset's validation and test rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldOutRows {
    /// Validation rows, ascending.
    pub valid: Vec<u32>,
    /// Test rows, ascending.
    pub test: Vec<u32>,
}

impl HeldOutRows {
    /// True when no row is named.
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty() && self.test.is_empty()
    }

    /// Number of rows named.
    pub fn len(&self) -> usize {
        self.valid.len() + self.test.len()
    }

    /// Adds `other`'s rows (kept ascending, without repeats).
    pub fn extend(&mut self, other: &HeldOutRows) {
        for (mine, theirs) in [
            (&mut self.valid, &other.valid),
            (&mut self.test, &other.test),
        ] {
            mine.extend_from_slice(theirs);
            mine.sort_unstable();
            mine.dedup();
        }
    }
}

/// Marks the lines that name no training row but name held-out rows of `d` (its validation
/// or test rows) as [`ForgetStatus::HeldOut`]: a user's data includes the rows a split held
/// out of training, and a request may name them.
pub fn classify_held_out(matches: &mut [ForgetMatch], d: &super::Dataset) {
    let (valid, test) = (PairIndex::new(&d.valid), PairIndex::new(&d.test));
    for m in matches {
        if m.status != ForgetStatus::NotInTraining(Missing::NoRow) {
            continue;
        }
        let (Some(u), Some(i)) = (d.user_ids.get(&m.row.user), d.item_ids.get(&m.row.item)) else {
            continue;
        };
        let rows = HeldOutRows {
            valid: valid.rows(u, i).collect(),
            test: test.rows(u, i).collect(),
        };
        if !rows.is_empty() {
            m.status = ForgetStatus::HeldOut(rows);
        }
    }
}

/// Why a forget line names no training row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// The user id is not one of the data's.
    UnknownUser,
    /// The item id is not one of the data's.
    UnknownItem,
    /// Neither id is one of the data's.
    UnknownIds,
    /// Both ids are known, but no training row pairs them.
    NoRow,
}

/// The classification of one forget line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgetMatch {
    /// The line, as read.
    pub row: ForgetRow,
    /// What it names.
    pub status: ForgetStatus,
}

/// Per-class line counts and the union of the matched rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForgetSummary {
    /// Training rows named by `Matched` lines, ascending, without repeats.
    pub rows: Vec<u32>,
    /// Lines per class: matched, already forgotten, not in training, duplicate, label mismatch.
    pub matched: usize,
    /// See `matched`.
    pub already_forgotten: usize,
    /// See `matched`.
    pub not_in_training: usize,
    /// See `matched`.
    pub duplicate: usize,
    /// See `matched`.
    pub label_mismatch: usize,
    /// Lines naming held-out rows only (see [`classify_held_out`]).
    pub held_out: usize,
    /// The held-out rows those lines name.
    pub held_out_rows: HeldOutRows,
}

impl ForgetSummary {
    /// Summarises matches.
    pub fn of(matches: &[ForgetMatch]) -> Self {
        let mut s = ForgetSummary::default();
        for m in matches {
            match &m.status {
                ForgetStatus::Matched(rows) => {
                    s.matched += 1;
                    s.rows.extend_from_slice(rows);
                }
                ForgetStatus::AlreadyForgotten(_) => s.already_forgotten += 1,
                ForgetStatus::NotInTraining(_) => s.not_in_training += 1,
                ForgetStatus::Duplicate { .. } => s.duplicate += 1,
                ForgetStatus::LabelMismatch { .. } => s.label_mismatch += 1,
                ForgetStatus::HeldOut(rows) => {
                    s.held_out += 1;
                    s.held_out_rows.extend(rows);
                }
            }
        }
        s.rows.sort_unstable();
        s.rows.dedup();
        s
    }
}

/// Classifies each forget line against the training rows `train` (ids through `user_ids` /
/// `item_ids`). `forgotten[r]` marks training rows already forgotten (a shorter slice, or an
/// empty one, leaves the rest not forgotten).
pub fn match_forget(
    rows: &[ForgetRow],
    train: &Interactions,
    user_ids: &IdMap,
    item_ids: &IdMap,
    index: &PairIndex,
    forgotten: &[bool],
) -> Vec<ForgetMatch> {
    let mut first_line: std::collections::HashMap<(String, String), usize> =
        std::collections::HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let u = user_ids.get(&row.user);
        let i = item_ids.get(&row.item);
        let status = match (u, i) {
            (None, None) => ForgetStatus::NotInTraining(Missing::UnknownIds),
            (None, Some(_)) => ForgetStatus::NotInTraining(Missing::UnknownUser),
            (Some(_), None) => ForgetStatus::NotInTraining(Missing::UnknownItem),
            (Some(u), Some(i)) => {
                let all: Vec<u32> = index.rows(u, i).collect();
                let labels: Vec<u8> = all.iter().map(|&r| train.labels[r as usize]).collect();
                if all.is_empty() {
                    ForgetStatus::NotInTraining(Missing::NoRow)
                } else if row.label.is_some_and(|l| labels.iter().any(|&t| t != l)) {
                    ForgetStatus::LabelMismatch {
                        rows: all,
                        training_labels: labels,
                    }
                } else {
                    let (gone, left): (Vec<u32>, Vec<u32>) = all
                        .iter()
                        .partition(|&&r| forgotten.get(r as usize).copied().unwrap_or(false));
                    if left.is_empty() {
                        ForgetStatus::AlreadyForgotten(gone)
                    } else {
                        ForgetStatus::Matched(left)
                    }
                }
            }
        };
        // Duplicates are keyed by the dense pair when known, else by the raw strings. A repeat
        // whose label disagrees with the training data stays a label mismatch: a repeat must not
        // hide a wrong label.
        let key = match u.zip(i) {
            Some((u, i)) => (format!("#{u}"), format!("#{i}")),
            None => (format!("${}", row.user), row.item.clone()),
        };
        let status = match (first_line.get(&key), status) {
            (_, s @ ForgetStatus::LabelMismatch { .. }) => s,
            (Some(&first), _) => ForgetStatus::Duplicate { first_line: first },
            (None, s) => {
                first_line.insert(key, row.line);
                s
            }
        };
        out.push(ForgetMatch {
            row: row.clone(),
            status,
        });
    }
    out
}

/// How a generator picks the rows to forget.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgetKind {
    /// The IFRU protocol's D_r: the training rows whose labels were flipped
    /// (`train_random.csv`). `fraction` and `seed` are not used.
    Flipped,
    /// A uniformly random `fraction` of the training rows.
    Random,
    /// All rows of random users, users drawn until their rows reach `fraction` of the training
    /// rows (the last user may pass it).
    User,
    /// `fraction` of the training rows drawn uniformly from the rows of the most popular items
    /// (the top `popular_top` fraction of items by training rows, ties to the smaller id).
    Popular,
}

/// Parameters of [`generate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForgetSpec {
    /// How rows are picked.
    pub kind: ForgetKind,
    /// Target fraction of the training rows, in `[0, 1]`.
    pub fraction: f64,
    /// Seed.
    pub seed: u64,
    /// `popular` only: the fraction of items (by popularity) whose rows are the pool.
    pub popular_top: f64,
}

impl ForgetSpec {
    /// A spec with `popular_top` = 0.1.
    pub fn new(kind: ForgetKind, fraction: f64, seed: u64) -> Self {
        ForgetSpec {
            kind,
            fraction,
            seed,
            popular_top: 0.1,
        }
    }
}

/// Picks training rows of `d` to forget (ascending row ids).
pub fn generate(d: &Dataset, spec: &ForgetSpec) -> Result<Vec<u32>, DataError> {
    let n = d.train.len();
    if !(spec.fraction.is_finite() && (0.0..=1.0).contains(&spec.fraction)) {
        return Err(DataError::Config(format!(
            "the forget fraction must be in [0, 1], not {}",
            spec.fraction
        )));
    }
    let target = ((spec.fraction * n as f64).round() as usize).min(n);
    let mut rng = Rng::new(spec.seed);
    let rows = match spec.kind {
        ForgetKind::Flipped => {
            let r: Vec<u32> = d.flipped_rows().collect();
            if r.is_empty() {
                return Err(DataError::Config(
                    "the dataset has no flipped (train_random) rows".into(),
                ));
            }
            r
        }
        ForgetKind::Random => rng.sample_sorted(n, target),
        ForgetKind::User => {
            let mut by_user: Vec<Vec<u32>> = vec![Vec::new(); d.n_users as usize];
            for (r, &u) in d.train.users.iter().enumerate() {
                if let Some(v) = by_user.get_mut(u as usize) {
                    v.push(r as u32);
                }
            }
            let mut users: Vec<u32> = (0..d.n_users)
                .filter(|&u| !by_user[u as usize].is_empty())
                .collect();
            rng.shuffle(&mut users);
            let mut rows = Vec::new();
            for u in users {
                if rows.len() >= target {
                    break;
                }
                rows.extend_from_slice(&by_user[u as usize]);
            }
            rows.sort_unstable();
            rows
        }
        ForgetKind::Popular => {
            if !(spec.popular_top.is_finite() && spec.popular_top > 0.0 && spec.popular_top <= 1.0)
            {
                return Err(DataError::Config(format!(
                    "popular_top must be in (0, 1], not {}",
                    spec.popular_top
                )));
            }
            let mut count = vec![0usize; d.n_items as usize];
            for &i in &d.train.items {
                if let Some(c) = count.get_mut(i as usize) {
                    *c += 1;
                }
            }
            let mut items: Vec<u32> = (0..d.n_items).filter(|&i| count[i as usize] > 0).collect();
            items.sort_by(|&a, &b| count[b as usize].cmp(&count[a as usize]).then(a.cmp(&b)));
            let top = ((spec.popular_top * items.len() as f64).ceil() as usize)
                .clamp(1, items.len().max(1));
            let mut is_top = vec![false; d.n_items as usize];
            for &i in items.iter().take(top) {
                is_top[i as usize] = true;
            }
            let pool: Vec<u32> = (0..n as u32)
                .filter(|&r| {
                    is_top
                        .get(d.train.items[r as usize] as usize)
                        .copied()
                        .unwrap_or(false)
                })
                .collect();
            rng.sample_sorted(pool.len(), target)
                .into_iter()
                .map(|k| pool[k as usize])
                .collect()
        }
    };
    Ok(rows)
}

/// Writes the pairs of training rows `rows` of `d` as a forget file (distinct pairs in ascending
/// order of their first row in `rows`; the label when all training rows of the pair share it,
/// else an empty label field). Returns the number of lines written after the header.
pub fn write_forget_file(path: &Path, d: &Dataset, rows: &[u32]) -> Result<usize, DataError> {
    let index = PairIndex::new(&d.train);
    let mut sorted = rows.to_vec();
    sorted.sort_unstable();
    let mut seen = std::collections::HashSet::new();
    let mut lines = Vec::new();
    for &r in &sorted {
        let Some((&u, &i)) = d
            .train
            .users
            .get(r as usize)
            .zip(d.train.items.get(r as usize))
        else {
            return Err(DataError::Config(format!("row {r} is not a training row")));
        };
        if !seen.insert(pair_key(u, i)) {
            continue;
        }
        let labels: Vec<u8> = index
            .rows(u, i)
            .map(|x| d.train.labels[x as usize])
            .collect();
        let label = labels
            .first()
            .filter(|&&l| labels.iter().all(|&x| x == l))
            .map(|l| l.to_string())
            .unwrap_or_default();
        let (Some(ur), Some(ir)) = (d.user_ids.raw(u), d.item_ids.raw(i)) else {
            return Err(DataError::Config(format!(
                "row {r} has an id outside the id maps"
            )));
        };
        lines.push(format!(
            "{},{},{label}",
            parse::csv_field(&ur),
            parse::csv_field(&ir)
        ));
    }
    crate::fsio::write_atomic_with(path, |w| {
        writeln!(w, "user,item,label")?;
        for l in &lines {
            writeln!(w, "{l}")?;
        }
        Ok(())
    })
    .map_err(|e| DataError::io(path, e))?;
    Ok(lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn toy() -> Dataset {
        let mut t = Interactions::default();
        // rows: 0:(0,0,1) 1:(0,1,0) 2:(1,0,1) 3:(0,0,1) dup pair 4:(2,1,1) 5:(1,1,0) 6:(1,1,1)
        for (u, i, l) in [
            (0, 0, 1),
            (0, 1, 0),
            (1, 0, 1),
            (0, 0, 1),
            (2, 1, 1),
            (1, 1, 0),
            (1, 1, 1),
        ] {
            t.push(u, i, l);
        }
        let mut user_ids = IdMap::new();
        for s in ["alice", "bob", "carol"] {
            user_ids.intern(s);
        }
        let mut item_ids = IdMap::new();
        for s in ["x,1", "y"] {
            item_ids.intern(s);
        }
        Dataset {
            source: PathBuf::from("toy"),
            n_users: 3,
            n_items: 2,
            user_ids,
            item_ids,
            n_train_normal: 5,
            train: t,
            valid: Interactions::default(),
            test: Interactions::default(),
            implicit: false,
        }
    }

    #[test]
    fn matcher_classifies_each_line() {
        let d = toy();
        let p = Path::new("f.csv");
        let text = "user,item,label\n\
                    alice,\"x,1\",1\n\
                    bob,y,\n\
                    bob,\"x,1\",1\n\
                    alice,\"x,1\",\n\
                    zed,y,1\n\
                    carol,\"x,1\",0\n\
                    alice,y,1\n";
        let rows = parse_forget(p, text.as_bytes()).unwrap();
        let idx = PairIndex::new(&d.train);
        assert_eq!(idx.repeated_pairs(), 2);
        let mut forgotten = vec![false; 7];
        forgotten[2] = true;
        let m = match_forget(&rows, &d.train, &d.user_ids, &d.item_ids, &idx, &forgotten);
        let st: Vec<_> = m.iter().map(|x| x.status.clone()).collect();
        assert_eq!(st[0], ForgetStatus::Matched(vec![0, 3]));
        assert_eq!(st[1], ForgetStatus::Matched(vec![5, 6]));
        assert_eq!(st[2], ForgetStatus::AlreadyForgotten(vec![2]));
        assert_eq!(st[3], ForgetStatus::Duplicate { first_line: 2 });
        assert_eq!(st[4], ForgetStatus::NotInTraining(Missing::UnknownUser));
        assert_eq!(st[5], ForgetStatus::NotInTraining(Missing::NoRow));
        assert!(matches!(st[6], ForgetStatus::LabelMismatch { .. }));
        let s = ForgetSummary::of(&m);
        assert_eq!(s.rows, [0, 3, 5, 6]);
        assert_eq!(
            (
                s.matched,
                s.already_forgotten,
                s.not_in_training,
                s.duplicate,
                s.label_mismatch
            ),
            (2, 1, 2, 1, 1)
        );
    }

    #[test]
    fn forget_parse_errors() {
        let p = Path::new("f.csv");
        assert!(matches!(parse_forget(p, b""), Err(DataError::Empty { .. })));
        assert_eq!(parse_forget(p, b"u,i\n").unwrap_err().line(), Some(1));
        assert_eq!(
            parse_forget(p, b"user,item\na,b,1\n").unwrap_err().line(),
            Some(2)
        );
        let e = parse_forget(p, b"user,item,label\na,b,7\n").unwrap_err();
        assert!(matches!(e, DataError::BadLabel { line: 2, .. }));
        assert_eq!(parse_forget(p, b"user,item\n").unwrap(), vec![]);
    }

    #[test]
    fn generators_roundtrip_through_the_file() {
        let d = toy();
        let dir = tempfile::tempdir().unwrap();
        for kind in [
            ForgetKind::Flipped,
            ForgetKind::Random,
            ForgetKind::User,
            ForgetKind::Popular,
        ] {
            let rows = generate(&d, &ForgetSpec::new(kind, 0.3, 5)).unwrap();
            assert!(rows.windows(2).all(|w| w[0] < w[1]), "{kind:?}");
            assert!(!rows.is_empty(), "{kind:?}");
            let p = dir.path().join("f.csv");
            write_forget_file(&p, &d, &rows).unwrap();
            let parsed = read_forget_file(&p).unwrap();
            let idx = PairIndex::new(&d.train);
            let m = match_forget(&parsed, &d.train, &d.user_ids, &d.item_ids, &idx, &[]);
            let s = ForgetSummary::of(&m);
            assert_eq!(s.matched, parsed.len(), "{kind:?}");
            // Every picked row is named, plus the other rows of its pairs.
            assert!(rows.iter().all(|r| s.rows.contains(r)));
        }
        assert_eq!(
            generate(&d, &ForgetSpec::new(ForgetKind::Flipped, 0.0, 0)).unwrap(),
            [5, 6]
        );
        let pop = generate(
            &d,
            &ForgetSpec {
                popular_top: 0.5,
                ..ForgetSpec::new(ForgetKind::Popular, 0.4, 1)
            },
        )
        .unwrap();
        // Items 0 and 1 have 3 and 4 rows: the top half is item 1.
        assert!(pop.iter().all(|&r| d.train.items[r as usize] == 1));
        assert_eq!(pop.len(), 3);
    }
}
