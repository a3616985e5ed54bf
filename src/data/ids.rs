use std::borrow::Cow;
use std::collections::HashMap;

/// A map between a dataset's own ids (strings: numbers, ISBNs, product codes) and dense ids
/// `0..len`. Dense ids are given in order of first [`IdMap::intern`].
///
/// The identity map ([`IdMap::identity`]) stands for data whose ids are already dense: raw id
/// `"17"` is dense id 17. It stores no strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMap {
    repr: Repr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    Identity(u32),
    Table {
        raw: Vec<String>,
        index: HashMap<String, u32>,
    },
}

impl Default for IdMap {
    fn default() -> Self {
        IdMap::new()
    }
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        IdMap {
            repr: Repr::Table {
                raw: Vec::new(),
                index: HashMap::new(),
            },
        }
    }

    /// The identity map over `0..n`: raw ids are the dense ids written in decimal.
    pub fn identity(n: u32) -> Self {
        IdMap {
            repr: Repr::Identity(n),
        }
    }

    /// True for an identity map.
    pub fn is_identity(&self) -> bool {
        matches!(self.repr, Repr::Identity(_))
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Identity(n) => *n as usize,
            Repr::Table { raw, .. } => raw.len(),
        }
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dense id of `raw`, if known. For an identity map, `raw` must be the canonical decimal
    /// form of an id below `len` ("7", not "07" or "+7").
    pub fn get(&self, raw: &str) -> Option<u32> {
        match &self.repr {
            Repr::Identity(n) => {
                let v: u32 = raw.parse().ok()?;
                (v < *n && canonical_decimal(raw)).then_some(v)
            }
            Repr::Table { index, .. } => index.get(raw).copied(),
        }
    }

    /// The raw id of dense id `id`.
    pub fn raw(&self, id: u32) -> Option<Cow<'_, str>> {
        match &self.repr {
            Repr::Identity(n) => (id < *n).then(|| Cow::Owned(id.to_string())),
            Repr::Table { raw, .. } => raw.get(id as usize).map(|s| Cow::Borrowed(s.as_str())),
        }
    }

    /// The dense id of `raw`, adding it if new. `None` only when the map is full (2^32 − 1 ids).
    /// An identity map is first turned into an explicit table.
    pub fn intern(&mut self, raw: &str) -> Option<u32> {
        if let Repr::Identity(n) = self.repr {
            if let Some(v) = self.get(raw) {
                return Some(v);
            }
            let raw_ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let index = raw_ids
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as u32))
                .collect();
            self.repr = Repr::Table {
                raw: raw_ids,
                index,
            };
        }
        match &mut self.repr {
            Repr::Identity(_) => None,
            Repr::Table { raw: list, index } => {
                if let Some(&v) = index.get(raw) {
                    return Some(v);
                }
                let id = u32::try_from(list.len()).ok().filter(|&v| v < u32::MAX)?;
                list.push(raw.to_owned());
                index.insert(raw.to_owned(), id);
                Some(id)
            }
        }
    }

    /// A map holding the ids of `self` at `keep` (dense ids `keep[0]`, `keep[1]`, ... become
    /// 0, 1, ...).
    pub fn subset(&self, keep: &[u32]) -> IdMap {
        let mut m = IdMap::new();
        for &k in keep {
            let raw = self.raw(k).map(|c| c.into_owned()).unwrap_or_default();
            let _ = m.intern(&raw);
        }
        m
    }
}

fn canonical_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_and_lookup() {
        let mut m = IdMap::new();
        assert_eq!(m.intern("0345"), Some(0));
        assert_eq!(m.intern("abc"), Some(1));
        assert_eq!(m.intern("0345"), Some(0));
        assert_eq!(m.get("abc"), Some(1));
        assert_eq!(m.get("zzz"), None);
        assert_eq!(m.raw(1).as_deref(), Some("abc"));
        assert_eq!(m.raw(2), None);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn identity() {
        let mut m = IdMap::identity(3);
        assert_eq!(m.get("2"), Some(2));
        assert_eq!(m.get("02"), None);
        assert_eq!(m.get("3"), None);
        assert_eq!(m.raw(0).as_deref(), Some("0"));
        assert_eq!(m.intern("x"), Some(3));
        assert_eq!(m.get("1"), Some(1));
        assert!(!m.is_identity());
    }
}
