//! Generic delimited files: `user <sep> item [<sep> value] [<sep> anything else]`, one row per
//! line. Ids may be any strings (numbers, ISBNs, product codes); they are mapped to dense ids in
//! order of first appearance. Fields may be quoted with `"` when the separator is one character.
//! The value column, if any, is a rating (any finite number) or a 0/1 label.

use std::path::Path;

use super::parse::{self, Delim, Lines};
use super::{DataError, IdMap, RawData, ValueKind};

/// What the third column holds.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueColumn {
    /// No third column: a row must have 2 fields; if a line has more, the rest is ignored
    /// (implicit data).
    None,
    /// A rating (or weight): any finite number.
    Rating,
    /// A label: 0 or 1.
    Label,
    /// Decide from the data: no third column → implicit; values all 0 or 1 → label; other
    /// numbers → rating.
    #[default]
    Auto,
}

/// How to read a delimited file.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DelimitedOptions {
    /// The field separator. `None`: sniffed from the first line (tab, then `::`, comma,
    /// semicolon, `|`, else runs of whitespace). `" "` means runs of whitespace.
    pub delimiter: Option<String>,
    /// Whether the first line is a header. `None`: guessed — it is a header when its value field
    /// is not a number, or when its first two fields name columns (`user…`, `item…`, `…id`).
    pub header: Option<bool>,
    /// What the third column holds.
    pub value: ValueColumn,
}

/// Loads a delimited file.
pub fn load(path: &Path, opts: &DelimitedOptions) -> Result<RawData, DataError> {
    let bytes = parse::read(path)?;
    parse_bytes(path, &bytes, opts)
}

fn sniff(line: &str) -> Delim {
    if line.contains('\t') {
        Delim::Char('\t')
    } else if line.contains("::") {
        Delim::Str("::".into())
    } else if line.contains(',') {
        Delim::Char(',')
    } else if line.contains(';') {
        Delim::Char(';')
    } else if line.contains('|') {
        Delim::Char('|')
    } else {
        Delim::Whitespace
    }
}

fn looks_like_column_name(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.starts_with("user") || s.starts_with("item") || s.ends_with("id") || s.contains("_id")
}

/// Parses the content of a delimited file (`path` only names it in errors).
pub fn parse_bytes(
    path: &Path,
    bytes: &[u8],
    opts: &DelimitedOptions,
) -> Result<RawData, DataError> {
    let mut lines = Lines::new(bytes);
    let mut fields = Vec::new();
    let Some(first) = lines.next_nonblank(path) else {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    };
    let (first_no, first_text) = first?;
    let delim = match &opts.delimiter {
        Some(d) => Delim::from_str(d),
        None => sniff(first_text),
    };
    parse::split_fields(first_text, &delim, &mut fields)
        .map_err(|m| DataError::malformed(path, first_no, m))?;
    let has_header = match opts.header {
        Some(h) => h,
        None => {
            let value_not_number = fields.len() >= 3
                && opts.value != ValueColumn::None
                && fields[2].parse::<f64>().is_err();
            let named = fields.len() >= 2
                && looks_like_column_name(&fields[0])
                && looks_like_column_name(&fields[1]);
            value_not_number || named
        }
    };

    let mut user_ids = IdMap::new();
    let mut item_ids = IdMap::new();
    let (mut users, mut items, mut values) = (Vec::new(), Vec::new(), Vec::new());
    // Whether rows carry a value: fixed by the option, or by the first data row for Auto.
    let mut with_value: Option<bool> = match opts.value {
        ValueColumn::None => Some(false),
        ValueColumn::Rating | ValueColumn::Label => Some(true),
        ValueColumn::Auto => None,
    };
    let mut pending = if has_header {
        None
    } else {
        Some((first_no, first_text))
    };
    loop {
        let (line, text) = match pending.take() {
            Some(x) => x,
            None => match lines.next_nonblank(path) {
                Some(next) => next?,
                None => break,
            },
        };
        parse::split_fields(text, &delim, &mut fields)
            .map_err(|m| DataError::malformed(path, line, m))?;
        if fields.len() < 2 {
            return Err(DataError::malformed(
                path,
                line,
                format!(
                    "expected at least 2 fields (user, item), found {}",
                    fields.len()
                ),
            ));
        }
        let want_value = *with_value.get_or_insert(fields.len() >= 3);
        if want_value {
            let Some(v) = fields.get(2) else {
                return Err(DataError::malformed(
                    path,
                    line,
                    "missing the value (third) field",
                ));
            };
            let v = match opts.value {
                ValueColumn::Label => f32::from(parse::parse_label(path, line, v)?),
                _ => parse::parse_rating(path, line, v)?,
            };
            values.push(v);
        }
        if fields[0].is_empty() || fields[1].is_empty() {
            return Err(DataError::malformed(path, line, "empty user or item id"));
        }
        let u = user_ids
            .intern(&fields[0])
            .ok_or_else(|| DataError::malformed(path, line, "too many users"))?;
        let i = item_ids
            .intern(&fields[1])
            .ok_or_else(|| DataError::malformed(path, line, "too many items"))?;
        users.push(u);
        items.push(i);
    }
    if users.is_empty() {
        return Err(DataError::invalid(path, "no data rows"));
    }
    let with_value = with_value.unwrap_or(false);
    let kind = match (with_value, opts.value) {
        (false, _) => ValueKind::Implicit,
        (true, ValueColumn::Label) => ValueKind::Label,
        (true, ValueColumn::Rating) => ValueKind::Rating,
        (true, _) => {
            if values.iter().all(|&v| v == 0.0 || v == 1.0) {
                ValueKind::Label
            } else {
                ValueKind::Rating
            }
        }
    };
    Ok(RawData {
        source: path.to_path_buf(),
        users,
        items,
        values: with_value.then_some(values),
        kind,
        user_ids,
        item_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str, opts: &DelimitedOptions) -> Result<RawData, DataError> {
        parse_bytes(Path::new("d.csv"), s.as_bytes(), opts)
    }

    #[test]
    fn string_ids_and_header() {
        let d = parse(
            "User-ID;ISBN;Book-Rating\n\"276725\";\"034545104X\";\"0\"\n\"276726\";\"0155061224\";\"5\"\n",
            &DelimitedOptions::default(),
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.item_ids.raw(0).as_deref(), Some("034545104X"));
        assert_eq!(d.kind, ValueKind::Rating);
    }

    #[test]
    fn labels_implicit_and_errors() {
        let d = parse("a\tx\t1\nb\tx\t0\n", &DelimitedOptions::default()).unwrap();
        assert_eq!(d.kind, ValueKind::Label);
        assert_eq!(d.users, [0, 1]);
        assert_eq!(d.items, [0, 0]);
        let d = parse("a,x\nb,y\n", &DelimitedOptions::default()).unwrap();
        assert_eq!(d.kind, ValueKind::Implicit);
        assert!(d.values.is_none());
        let label = DelimitedOptions {
            value: ValueColumn::Label,
            ..Default::default()
        };
        let e = parse("a,x,1\nb,y,3\n", &label).unwrap_err();
        assert!(matches!(e, DataError::BadLabel { line: 2, .. }), "{e}");
        let e = parse("a,x,1\nb,y,zz\n", &DelimitedOptions::default()).unwrap_err();
        assert!(matches!(e, DataError::BadRating { line: 2, .. }), "{e}");
        let e = parse("a,x,1\nb\n", &DelimitedOptions::default()).unwrap_err();
        assert_eq!(e.line(), Some(2));
        assert!(matches!(
            parse("", &DelimitedOptions::default()),
            Err(DataError::Empty { .. })
        ));
        assert!(parse("user,item\n", &DelimitedOptions::default()).is_err());
        let forced = DelimitedOptions {
            delimiter: Some("::".into()),
            header: Some(false),
            value: ValueColumn::Rating,
        };
        let d = parse("1::2::5::978300760\n", &forced).unwrap();
        assert_eq!(d.values.as_deref(), Some(&[5.0][..]));
    }
}
