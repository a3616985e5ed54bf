//! The IFRU-protocol folder: `train_normal.csv`, `train_random.csv`, `valid.csv`, `test.csv`,
//! each CSV with the header `user,item,label` and dense ids used as they are. `train.csv`, if
//! present, is ignored. The training rows are `train_normal.csv` followed by
//! `train_random.csv`, with the labels as written (those of `train_random.csv` are flipped).
//! `n_users` / `n_items` are 1 + the largest id over the four files, as the official loaders
//! compute them.

use std::io::Write;
use std::path::Path;

use super::parse::{self, Delim, Lines};
use super::{DataError, Dataset, IdMap, Interactions};

/// The four files, in the order they are read.
pub const FILES: [&str; 4] = [
    "train_normal.csv",
    "train_random.csv",
    "valid.csv",
    "test.csv",
];

/// The header line of every file.
pub const HEADER: &str = "user,item,label";

/// Loads an IFRU-protocol folder.
pub fn load(dir: &Path) -> Result<Dataset, DataError> {
    let mut tables = Vec::with_capacity(4);
    for name in FILES {
        let path = dir.join(name);
        let bytes = parse::read(&path)?;
        tables.push(parse_table(&path, &bytes)?);
    }
    let test = tables.pop().unwrap_or_default();
    let valid = tables.pop().unwrap_or_default();
    let random = tables.pop().unwrap_or_default();
    let mut train = tables.pop().unwrap_or_default();
    let n_train_normal = train.len();
    train.extend_from(&random);
    if train.is_empty() {
        return Err(DataError::invalid(dir, "the folder has no training rows"));
    }
    let all = [&train, &valid, &test];
    let n_users = all.iter().map(|t| t.user_bound()).max().unwrap_or(0);
    let n_items = all.iter().map(|t| t.item_bound()).max().unwrap_or(0);
    let total: usize = all.iter().map(|t| t.len()).sum();
    check_dense(dir, "user", n_users, total)?;
    check_dense(dir, "item", n_items, total)?;
    Ok(Dataset {
        source: dir.to_path_buf(),
        n_users,
        n_items,
        user_ids: IdMap::identity(n_users),
        item_ids: IdMap::identity(n_items),
        train,
        valid,
        test,
        n_train_normal,
        implicit: false,
    })
}

/// Ids are used as they are, so they must be (roughly) dense: the id bound may not exceed
/// 16 × the number of rows + 1024 (this keeps a stray huge id from allocating gigabytes).
pub(crate) fn check_dense(
    dir: &Path,
    what: &str,
    bound: u32,
    rows: usize,
) -> Result<(), DataError> {
    if bound as u64 > 16 * rows as u64 + 1024 {
        return Err(DataError::invalid(
            dir,
            format!(
                "{what} ids are not dense: the largest is {} for {rows} rows",
                bound.saturating_sub(1)
            ),
        ));
    }
    Ok(())
}

/// Parses one `user,item,label` table.
pub fn parse_table(path: &Path, bytes: &[u8]) -> Result<Interactions, DataError> {
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
    if names != ["user", "item", "label"] {
        return Err(DataError::malformed(
            path,
            hline,
            format!("expected the header {HEADER:?}, found {htext:?}"),
        ));
    }
    let mut out = Interactions::with_capacity(bytes.len() / 10);
    while let Some(next) = lines.next_nonblank(path) {
        let (line, text) = next?;
        parse::split_fields(text, &delim, &mut fields)
            .map_err(|m| DataError::malformed(path, line, m))?;
        if fields.len() != 3 {
            return Err(DataError::malformed(
                path,
                line,
                format!(
                    "expected 3 fields (user,item,label), found {}",
                    fields.len()
                ),
            ));
        }
        let u = parse::parse_id(path, line, "user", &fields[0])?;
        let i = parse::parse_id(path, line, "item", &fields[1])?;
        let l = parse::parse_label(path, line, &fields[2])?;
        out.push(u, i, l);
    }
    Ok(out)
}

/// Writes one `user,item,label` table atomically, with `\n` line ends.
pub fn write_table(path: &Path, t: &Interactions) -> Result<(), DataError> {
    crate::fsio::write_atomic_with(path, |w| {
        writeln!(w, "{HEADER}")?;
        for r in 0..t.len() {
            writeln!(w, "{},{},{}", t.users[r], t.items[r], t.labels[r])?;
        }
        Ok(())
    })
    .map_err(|e| DataError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let p = Path::new("t.csv");
        let t = parse_table(p, b"user,item,label\n0,1,1\r\n2,3,0\n\n").unwrap();
        assert_eq!(t.users, [0, 2]);
        assert_eq!(t.items, [1, 3]);
        assert_eq!(t.labels, [1, 0]);
        assert!(parse_table(p, b"user,item,label\n").unwrap().is_empty());
        assert!(matches!(parse_table(p, b""), Err(DataError::Empty { .. })));
        let e = parse_table(p, b"user,item,label\n0,1,2\n").unwrap_err();
        assert!(matches!(e, DataError::BadLabel { line: 2, .. }), "{e}");
        let e = parse_table(p, b"user,item,label\n0,1\n").unwrap_err();
        assert_eq!(e.line(), Some(2));
        let e = parse_table(p, b"u,i,l\n0,1,1\n").unwrap_err();
        assert_eq!(e.line(), Some(1));
        let e = parse_table(p, b"user,item,label\n0,x,1\n").unwrap_err();
        assert!(e.to_string().starts_with("t.csv:2:"), "{e}");
    }

    #[test]
    fn folder_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Interactions::default();
        a.push(0, 0, 1);
        a.push(1, 2, 0);
        let mut b = Interactions::default();
        b.push(1, 0, 0);
        write_table(&dir.path().join("train_normal.csv"), &a).unwrap();
        write_table(&dir.path().join("train_random.csv"), &b).unwrap();
        write_table(&dir.path().join("valid.csv"), &b).unwrap();
        let mut c = Interactions::default();
        c.push(3, 1, 1);
        write_table(&dir.path().join("test.csv"), &c).unwrap();
        let d = load(dir.path()).unwrap();
        assert_eq!(d.n_users, 4);
        assert_eq!(d.n_items, 3);
        assert_eq!(d.train.len(), 3);
        assert_eq!(d.n_train_normal, 2);
        assert_eq!(d.flipped_rows(), 2..3);
        assert_eq!(d.test, c);
    }
}
