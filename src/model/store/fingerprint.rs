//! The fingerprint of a model's training data: SHA-256 over a canonical encoding of the
//! training rows and the id maps.
//!
//! Encoding (all integers little-endian):
//! `"ifru-data-v1\0"`, `n_users: u32`, `n_items: u32`, `rows: u64`, then per training row in
//! order `user: u32, item: u32, label: u8`, then for the user map and then the item map
//! `len: u64` followed by each raw id as `bytes: u64` and its UTF-8 bytes, in dense-id order.
//!
//! An identity map and an explicit table with the same raw ids fingerprint the same.
//! Validation and test rows are not part of it: they do not shape the model.

use sha2::{Digest, Sha256};

use crate::data::{Dataset, IdMap};

const TAG: &[u8] = b"ifru-data-v1\0";

/// The fingerprint of `d`'s training rows and id maps, as `"sha256:"` and 64 hex digits.
pub fn data_fingerprint(d: &Dataset) -> String {
    let mut h = Sha256::new();
    h.update(TAG);
    h.update(d.n_users.to_le_bytes());
    h.update(d.n_items.to_le_bytes());
    let t = &d.train;
    h.update((t.len() as u64).to_le_bytes());
    // Rows in blocks, so the hasher is not called once per 9 bytes.
    let mut buf = Vec::with_capacity(9 * 4096);
    for r in 0..t.len() {
        buf.extend_from_slice(&t.users[r].to_le_bytes());
        buf.extend_from_slice(&t.items[r].to_le_bytes());
        buf.push(t.labels[r]);
        if buf.len() >= 9 * 4096 {
            h.update(&buf);
            buf.clear();
        }
    }
    h.update(&buf);
    hash_id_map(&mut h, &d.user_ids);
    hash_id_map(&mut h, &d.item_ids);
    format!("sha256:{}", hex(&h.finalize()))
}

fn hash_id_map(h: &mut Sha256, m: &IdMap) {
    h.update((m.len() as u64).to_le_bytes());
    for id in 0..m.len() as u32 {
        let raw = m.raw(id).unwrap_or_default();
        h.update((raw.len() as u64).to_le_bytes());
        h.update(raw.as_bytes());
    }
}

/// `"sha256:"` and the 64 hex digits of the SHA-256 of `bytes`.
pub(crate) fn sha256_tag(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses lower- or upper-case hex; `None` for anything else.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Interactions;

    fn dataset(users: IdMap, items: IdMap) -> Dataset {
        let mut train = Interactions::default();
        train.push(0, 1, 1);
        train.push(1, 0, 0);
        Dataset {
            source: "x".into(),
            n_users: 2,
            n_items: 2,
            user_ids: users,
            item_ids: items,
            train,
            valid: Interactions::default(),
            test: Interactions::default(),
            n_train_normal: 2,
            implicit: false,
        }
    }

    #[test]
    fn hex_roundtrip() {
        assert_eq!(hex(&[0, 0xab, 0x1f]), "00ab1f");
        assert_eq!(unhex("00ab1F"), Some(vec![0, 0xab, 0x1f]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn fingerprint_sees_rows_labels_and_ids() {
        let base = dataset(IdMap::identity(2), IdMap::identity(2));
        let fp = data_fingerprint(&base);
        assert!(fp.starts_with("sha256:") && fp.len() == 7 + 64, "{fp}");
        // Identity and the equivalent table agree.
        let mut table = IdMap::new();
        table.intern("0");
        table.intern("1");
        assert_eq!(
            data_fingerprint(&dataset(table.clone(), IdMap::identity(2))),
            fp
        );
        // A label, a row order, a raw id: each changes it.
        let mut d = base.clone();
        d.train.labels[1] = 1;
        assert_ne!(data_fingerprint(&d), fp);
        let mut d = base.clone();
        d.train.users.swap(0, 1);
        d.train.items.swap(0, 1);
        d.train.labels.swap(0, 1);
        assert_ne!(data_fingerprint(&d), fp);
        let mut other = IdMap::new();
        other.intern("0");
        other.intern("u1");
        assert_ne!(data_fingerprint(&dataset(other, IdMap::identity(2))), fp);
        // Validation rows are not part of it.
        let mut d = base.clone();
        d.valid.push(0, 0, 1);
        assert_eq!(data_fingerprint(&d), fp);
    }
}
