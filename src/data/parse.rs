//! Shared parsing helpers: reading files, iterating lines, splitting fields, parsing numbers.
//! Everything returns errors naming the path and line; nothing panics on any input.

use std::borrow::Cow;
use std::path::Path;

use super::DataError;

/// Reads a whole file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}

/// Iterates the lines of `bytes` as `(1-based line number, text)`, with a leading UTF-8 BOM and
/// trailing `\r` removed. Lines that are not UTF-8 are reported as malformed.
pub(crate) struct Lines<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        Lines {
            bytes,
            pos: 0,
            line: 0,
        }
    }

    /// The next line, or `None` at the end. Errors on invalid UTF-8.
    pub(crate) fn next_line(&mut self, path: &Path) -> Option<Result<(usize, &'a str), DataError>> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.pos..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let mut line = &rest[..end];
        self.pos += (end + 1).min(rest.len());
        self.line += 1;
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        Some(match std::str::from_utf8(line) {
            Ok(s) => Ok((self.line, s)),
            Err(_) => Err(DataError::malformed(path, self.line, "not valid UTF-8")),
        })
    }

    /// The next line that is not blank (only whitespace).
    pub(crate) fn next_nonblank(
        &mut self,
        path: &Path,
    ) -> Option<Result<(usize, &'a str), DataError>> {
        loop {
            match self.next_line(path)? {
                Ok((_, s)) if s.trim().is_empty() => continue,
                other => return Some(other),
            }
        }
    }
}

/// How fields are separated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Delim {
    /// Runs of spaces and tabs; no quoting.
    Whitespace,
    /// One character; fields may be quoted with `"` (a doubled `""` inside is a quote).
    Char(char),
    /// A multi-character separator such as `::`; no quoting.
    Str(String),
}

impl Delim {
    pub(crate) fn from_str(s: &str) -> Delim {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (None, _) => Delim::Whitespace,
            (Some(' '), None) => Delim::Whitespace,
            (Some(c), None) => Delim::Char(c),
            _ => Delim::Str(s.to_owned()),
        }
    }
}

/// Splits `line` into `out` (cleared first). Fields are trimmed of surrounding spaces.
pub(crate) fn split_fields<'a>(
    line: &'a str,
    delim: &Delim,
    out: &mut Vec<Cow<'a, str>>,
) -> Result<(), String> {
    out.clear();
    match delim {
        Delim::Whitespace => {
            out.extend(line.split_ascii_whitespace().map(Cow::Borrowed));
            Ok(())
        }
        Delim::Str(s) => {
            out.extend(line.split(s.as_str()).map(|f| Cow::Borrowed(f.trim())));
            Ok(())
        }
        Delim::Char(d) => split_quoted(line, *d, out),
    }
}

fn split_quoted<'a>(line: &'a str, d: char, out: &mut Vec<Cow<'a, str>>) -> Result<(), String> {
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c == ' ' && c != d);
        if let Some(after_quote) = trimmed.strip_prefix('"') {
            // Quoted field.
            let mut value = String::new();
            let mut chars = after_quote.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if after_quote[i + 1..].starts_with('"') {
                        value.push('"');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            let Some(end) = end else {
                return Err("unterminated quoted field".into());
            };
            out.push(Cow::Owned(value));
            let after = after_quote[end..].trim_start_matches(|c: char| c == ' ' && c != d);
            if after.is_empty() {
                return Ok(());
            }
            match after.strip_prefix(d) {
                Some(r) => rest = r,
                None => return Err("text after a closing quote".into()),
            }
        } else {
            match rest.find(d) {
                Some(pos) => {
                    out.push(Cow::Borrowed(rest[..pos].trim()));
                    rest = &rest[pos + d.len_utf8()..];
                }
                None => {
                    out.push(Cow::Borrowed(rest.trim()));
                    return Ok(());
                }
            }
        }
    }
}

/// Quotes a CSV field if it needs it (contains a comma, quote, or line break, or surrounding
/// spaces).
pub(crate) fn csv_field(s: &str) -> Cow<'_, str> {
    let needs = s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ');
    if needs {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// Parses a dense id (a non-negative decimal integer below 2^31).
pub(crate) fn parse_id(path: &Path, line: usize, what: &str, s: &str) -> Result<u32, DataError> {
    match s.parse::<u32>() {
        Ok(v) if v < (1 << 31) => Ok(v),
        Ok(_) => Err(DataError::malformed(
            path,
            line,
            format!("{what} id {s:?} is too large"),
        )),
        Err(_) => Err(DataError::malformed(
            path,
            line,
            format!("{what} id {s:?} is not a non-negative integer"),
        )),
    }
}

/// Parses a 0/1 label ("0", "1", or a number equal to 0 or 1 such as "1.0").
pub(crate) fn parse_label(path: &Path, line: usize, s: &str) -> Result<u8, DataError> {
    match s {
        "0" => return Ok(0),
        "1" => return Ok(1),
        _ => {}
    }
    let value = s.parse::<f64>().ok();
    if value == Some(0.0) {
        Ok(0)
    } else if value == Some(1.0) {
        Ok(1)
    } else {
        Err(DataError::BadLabel {
            path: path.to_path_buf(),
            line,
            value: s.to_owned(),
        })
    }
}

/// Parses a finite rating.
pub(crate) fn parse_rating(path: &Path, line: usize, s: &str) -> Result<f32, DataError> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(DataError::BadRating {
            path: path.to_path_buf(),
            line,
            value: s.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str, d: &Delim) -> Result<Vec<String>, String> {
        let mut v = Vec::new();
        split_fields(line, d, &mut v)?;
        Ok(v.into_iter().map(|c| c.into_owned()).collect())
    }

    #[test]
    fn splitting() {
        let c = Delim::Char(',');
        assert_eq!(split("a, b ,c", &c).unwrap(), ["a", "b", "c"]);
        assert_eq!(split("\"a,b\",\"x\"\"y\"", &c).unwrap(), ["a,b", "x\"y"]);
        assert_eq!(split("a,,", &c).unwrap(), ["a", "", ""]);
        assert!(split("\"abc", &c).is_err());
        assert!(split("\"a\"b,c", &c).is_err());
        let semi = Delim::Char(';');
        assert_eq!(
            split("\"276725\";\"034545104X\";\"0\"", &semi).unwrap(),
            ["276725", "034545104X", "0"]
        );
        assert_eq!(
            split(" 1  2\t3 ", &Delim::Whitespace).unwrap(),
            ["1", "2", "3"]
        );
        assert_eq!(
            split("1::2::5", &Delim::Str("::".into())).unwrap(),
            ["1", "2", "5"]
        );
        assert_eq!(split("a\tb", &Delim::Char('\t')).unwrap(), ["a", "b"]);
    }

    #[test]
    fn lines() {
        let p = Path::new("x");
        let mut l = Lines::new(b"\xEF\xBB\xBFa\r\n\n  \nb");
        assert_eq!(l.next_nonblank(p).unwrap().unwrap(), (1, "a"));
        assert_eq!(l.next_nonblank(p).unwrap().unwrap(), (4, "b"));
        assert!(l.next_nonblank(p).is_none());
        let mut l = Lines::new(b"ok\n\xff\xfe\n");
        assert!(l.next_line(p).unwrap().is_ok());
        let e = l.next_line(p).unwrap().unwrap_err();
        assert_eq!(e.line(), Some(2));
    }

    #[test]
    fn numbers() {
        let p = Path::new("f.csv");
        assert_eq!(parse_label(p, 1, "1.0").unwrap(), 1);
        assert!(matches!(
            parse_label(p, 3, "2"),
            Err(DataError::BadLabel { line: 3, .. })
        ));
        assert!(parse_rating(p, 1, "nan").is_err());
        assert!(parse_rating(p, 1, "4.5").is_ok());
        assert!(parse_id(p, 1, "user", "-1").is_err());
        assert!(parse_id(p, 1, "user", "4294967295").is_err());
        let msg = parse_rating(p, 7, "abc").unwrap_err().to_string();
        assert!(msg.contains("f.csv:7"), "{msg}");
    }
}
