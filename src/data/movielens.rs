//! MovieLens `u.data`: tab-separated `user item rating timestamp`, no header. The timestamp is
//! read past (it may be missing). Ids are mapped to dense ids in order of first appearance.

use std::path::Path;

use super::parse::{self, Delim, Lines};
use super::{DataError, IdMap, RawData, ValueKind};

/// Loads a `u.data` file.
pub fn load(path: &Path) -> Result<RawData, DataError> {
    let bytes = parse::read(path)?;
    parse_bytes(path, &bytes)
}

/// Parses the content of a `u.data` file (`path` only names it in errors).
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<RawData, DataError> {
    let mut lines = Lines::new(bytes);
    let mut fields = Vec::new();
    let mut user_ids = IdMap::new();
    let mut item_ids = IdMap::new();
    let cap = bytes.len() / 16;
    let (mut users, mut items, mut ratings) = (
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
    );
    while let Some(next) = lines.next_nonblank(path) {
        let (line, text) = next?;
        parse::split_fields(text, &Delim::Whitespace, &mut fields)
            .map_err(|m| DataError::malformed(path, line, m))?;
        if !(3..=4).contains(&fields.len()) {
            return Err(DataError::malformed(
                path,
                line,
                format!(
                    "expected 4 tab-separated fields (user, item, rating, timestamp), found {}",
                    fields.len()
                ),
            ));
        }
        let rating = parse::parse_rating(path, line, &fields[2])?;
        let u = user_ids
            .intern(&fields[0])
            .ok_or_else(|| DataError::malformed(path, line, "too many users"))?;
        let i = item_ids
            .intern(&fields[1])
            .ok_or_else(|| DataError::malformed(path, line, "too many items"))?;
        users.push(u);
        items.push(i);
        ratings.push(rating);
    }
    if users.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(RawData {
        source: path.to_path_buf(),
        users,
        items,
        values: Some(ratings),
        kind: ValueKind::Rating,
        user_ids,
        item_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let p = Path::new("u.data");
        let d = parse_bytes(
            p,
            b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t1\n",
        )
        .unwrap();
        assert_eq!(d.users, [0, 1, 0]);
        assert_eq!(d.items, [0, 1, 2]);
        assert_eq!(d.values.as_deref(), Some(&[3.0, 3.0, 1.0][..]));
        assert_eq!(d.user_ids.raw(1).as_deref(), Some("186"));
        assert!(matches!(
            parse_bytes(p, b"\n\n"),
            Err(DataError::Empty { .. })
        ));
        let e = parse_bytes(p, b"1\t2\t3\t4\n1\t2\tx\t4\n").unwrap_err();
        assert!(matches!(e, DataError::BadRating { line: 2, .. }), "{e}");
        let e = parse_bytes(p, b"1\t2\n").unwrap_err();
        assert_eq!(e.line(), Some(1));
    }
}
