//! Bringing a model trained elsewhere: its user and item embedding tables, read from a
//! safetensors file or two `.npy` files, laid onto a dataset whose ids are the tables' row
//! numbers (user id k is row k of the user table, likewise items).
//!
//! What a table may be: f32, f16 or bf16 (widened to f32), `[rows, width]` with width up to
//! 256. A width that is not a multiple of 4 is padded with zero columns (the kernels read
//! vec4s; a zero column adds nothing to a score) and remembered, so an export gives the
//! table back at its own width. Rows the data never names are kept as nodes without rows.
//! Everything is checked before anything is written: the tensors exist, are 2-D, agree on
//! the width, hold only finite values, and have a row for every id the data names.

use std::path::{Path, PathBuf};

use half::{bf16, f16};
use safetensors::SafeTensors;
use safetensors::tensor::Dtype;

use crate::data::{Dataset, RawData};
use crate::kernels::MAX_DIM;
use crate::model::Params;
use crate::model::store::ImportedTables;

/// The user tensor names tried, in order, when none is given: ifru's own,
/// LightGCN-PyTorch's, RecBole's.
pub const USER_TENSORS: [&str; 3] = ["user_emb", "embedding_user.weight", "user_embedding.weight"];
/// The item tensor names tried, in order, when none is given.
pub const ITEM_TENSORS: [&str; 3] = ["item_emb", "embedding_item.weight", "item_embedding.weight"];

/// Why an import was refused. Every message names the file and, where there is one, the
/// tensor or the id.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
}

impl ImportError {
    fn invalid(path: &Path, msg: impl Into<String>) -> Self {
        ImportError::Invalid {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}

/// One embedding table, row-major f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Where it came from: the tensor name, or the file for `.npy`.
    pub name: String,
    pub rows: usize,
    pub width: usize,
    pub values: Vec<f32>,
}

/// Where the tables are.
#[derive(Debug, Clone)]
pub enum TableSource<'a> {
    /// A safetensors file; `None` tries [`USER_TENSORS`] / [`ITEM_TENSORS`].
    Safetensors {
        path: &'a Path,
        user: Option<&'a str>,
        item: Option<&'a str>,
    },
    /// Two `.npy` files (users, items).
    Npy { users: &'a Path, items: &'a Path },
}

impl TableSource<'_> {
    /// The file the tables come from (the users' `.npy` for a pair).
    pub fn path(&self) -> &Path {
        match self {
            TableSource::Safetensors { path, .. } => path,
            TableSource::Npy { users, .. } => users,
        }
    }

    /// Reads both tables; they must have the same width.
    pub fn read(&self) -> Result<(Table, Table), ImportError> {
        let (users, items) = match self {
            TableSource::Safetensors { path, user, item } => {
                let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                let st = SafeTensors::deserialize(&bytes).map_err(|e| {
                    ImportError::invalid(path, format!("not a valid safetensors file: {e}"))
                })?;
                (
                    named_tensor(path, &st, *user, &USER_TENSORS, "user")?,
                    named_tensor(path, &st, *item, &ITEM_TENSORS, "item")?,
                )
            }
            TableSource::Npy { users, items } => (read_npy(users)?, read_npy(items)?),
        };
        if users.width != items.width {
            return Err(ImportError::invalid(
                self.path(),
                format!(
                    "the user table {:?} is {} wide and the item table {:?} {}: a score needs \
                     one width",
                    users.name, users.width, items.name, items.width
                ),
            ));
        }
        Ok((users, items))
    }
}

fn named_tensor(
    path: &Path,
    st: &SafeTensors<'_>,
    given: Option<&str>,
    defaults: &[&str],
    side: &str,
) -> Result<Table, ImportError> {
    let name = match given {
        Some(n) => n.to_string(),
        None => defaults
            .iter()
            .find(|n| st.tensor(n).is_ok())
            .map(|n| n.to_string())
            .ok_or_else(|| {
                let mut have = st.names();
                have.sort_unstable();
                ImportError::invalid(
                    path,
                    format!(
                        "no {side} table: none of {defaults:?} is in the file (it holds \
                         {have:?}); name it with --{side}-tensor"
                    ),
                )
            })?,
    };
    let t = st.tensor(&name).map_err(|_| {
        let mut have = st.names();
        have.sort_unstable();
        ImportError::invalid(
            path,
            format!("no tensor {name:?} (the file holds {have:?})"),
        )
    })?;
    let shape = t.shape();
    let [rows, width] = shape else {
        return Err(ImportError::invalid(
            path,
            format!("tensor {name:?} has shape {shape:?}, not [rows, width]"),
        ));
    };
    let values = widen(t.dtype(), t.data())
        .map_err(|m| ImportError::invalid(path, format!("tensor {name:?}: {m}")))?;
    table(path, name, *rows, *width, values)
}

/// f32, f16 or bf16 little-endian bytes as f32 values.
fn widen(dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, String> {
    Ok(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => return Err(format!("dtype {other:?}: expected F32, F16 or BF16")),
    })
}

/// Checks a table's size and values.
fn table(
    path: &Path,
    name: String,
    rows: usize,
    width: usize,
    values: Vec<f32>,
) -> Result<Table, ImportError> {
    if width == 0 || width > MAX_DIM as usize {
        return Err(ImportError::invalid(
            path,
            format!("{name:?} is {width} wide: ifru takes widths from 1 to {MAX_DIM}"),
        ));
    }
    if values.len() != rows * width {
        return Err(ImportError::invalid(
            path,
            format!("{name:?}: {} values for [{rows}, {width}]", values.len()),
        ));
    }
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        return Err(ImportError::invalid(
            path,
            format!(
                "{name:?}: row {}, column {} is {} (every value must be finite)",
                k / width,
                k % width,
                values[k]
            ),
        ));
    }
    Ok(Table {
        name,
        rows,
        width,
        values,
    })
}

/// A 2-D `.npy` file (format 1.0–3.0, C order, little-endian f32, f16 or f64).
pub fn read_npy(path: &Path) -> Result<Table, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |m: &str| ImportError::invalid(path, format!("not a 2-D .npy table: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("format version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("a header cut short"))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| bad("no descr"))?;
    if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
        return Err(bad("Fortran order (save it with np.ascontiguousarray)"));
    }
    let shape: Vec<usize> = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .map(|dims| {
            dims.split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .filter_map(|d| d.parse().ok())
                .collect()
        })
        .ok_or_else(|| bad("no shape"))?;
    let [rows, width] = shape[..] else {
        return Err(bad(&format!("shape {shape:?}")));
    };
    let data = &bytes[start + header_len..];
    let values = match descr {
        "<f4" => widen(Dtype::F32, data),
        "<f2" => widen(Dtype::F16, data),
        "<f8" => Ok(data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
            .collect()),
        other => Err(format!("dtype {other}: expected <f4, <f2 or <f8")),
    }
    .map_err(|m| bad(&m))?;
    table(path, path.display().to_string(), rows, width, values)
}

/// The parameters of `users` and `items` laid onto `data`, whose ids must be the tables' row
/// numbers: the data grows to the tables' row counts (rows no data row names become nodes
/// without rows), the width is padded to a multiple of 4. Returns the data as the model
/// sees it, the parameters, and what an export needs to give the tables back.
pub fn lay_onto(
    mut data: Dataset,
    source: &TableSource<'_>,
    users: Table,
    items: Table,
) -> Result<(Dataset, Params, ImportedTables), ImportError> {
    let path = source.path();
    if !(data.user_ids.is_identity() && data.item_ids.is_identity()) {
        return Err(ImportError::invalid(
            &data.source,
            "the data's ids are not row numbers (it is a raw file with ids of its own): \
             give the data as an IFRU or LightGCN folder whose ids are the embedding rows",
        ));
    }
    for (side, table, n) in [
        ("user", &users, data.n_users),
        ("item", &items, data.n_items),
    ] {
        if (n as usize) > table.rows {
            return Err(ImportError::invalid(
                path,
                format!(
                    "{side} id {} has no row: {:?} has {} rows, the data names {side}s up to {}",
                    table.rows,
                    table.name,
                    table.rows,
                    n - 1
                ),
            ));
        }
    }
    data.extend_nodes(users.rows as u32, items.rows as u32)
        .map_err(|m| ImportError::invalid(&data.source, m))?;
    let (params, tables) = padded(source, users, items);
    Ok((data, params, tables))
}

/// How the data's ids name the tables' rows.
#[derive(Debug, Clone)]
pub enum RowIds {
    /// Id k is row k (ids must be whole numbers below the row count).
    RowNumbers,
    /// `id,row` CSV files, one per side (RecBole's remapped tokens, for example).
    Files { users: PathBuf, items: PathBuf },
}

/// Reads an `id,row` CSV (a header line is allowed).
fn read_row_map(path: &Path, rows: usize) -> Result<Vec<(String, usize)>, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (id, row) = line.rsplit_once(',').ok_or_else(|| {
            ImportError::invalid(path, format!("line {}: expected id,row", n + 1))
        })?;
        let row = match row.trim().parse::<usize>() {
            Ok(r) => r,
            Err(_) if n == 0 => continue,
            Err(_) => {
                return Err(ImportError::invalid(
                    path,
                    format!("line {}: row {row:?} is not a whole number", n + 1),
                ));
            }
        };
        if row >= rows {
            return Err(ImportError::invalid(
                path,
                format!(
                    "line {}: row {row} is beyond the table's {rows} rows",
                    n + 1
                ),
            ));
        }
        out.push((id.trim().to_string(), row));
    }
    Ok(out)
}

/// The id maps of tables with `rows` rows on one side: row r ↔ the data's id naming it
/// (rows no id names get their row number under row numbers, `<row r>` under a map file).
/// Every id of `tables` must name a row; two ids may not share one.
fn side_map(
    ids: &RowIds,
    side: &str,
    own: &[&crate::data::IdMap],
    rows: usize,
) -> Result<crate::data::IdMap, ImportError> {
    let mut names: Vec<Option<String>> = vec![None; rows];
    let mut place = |id: String, row: usize, at: &Path| -> Result<(), ImportError> {
        match &names[row] {
            Some(other) if *other != id => Err(ImportError::invalid(
                at,
                format!("{side}s {other:?} and {id:?} both name row {row}"),
            )),
            _ => {
                names[row] = Some(id);
                Ok(())
            }
        }
    };
    let data_ids = own
        .iter()
        .flat_map(|m| (0..m.len() as u32).filter_map(|d| m.raw(d)));
    match ids {
        RowIds::RowNumbers => {
            for id in data_ids {
                let row = id.trim().parse::<usize>().ok().filter(|&r| r < rows);
                let row = row.ok_or_else(|| {
                    ImportError::invalid(
                        Path::new(side),
                        format!(
                            "{side} id {id:?} is not a row of the {rows}-row table (with row \
                             numbers as ids, an id must be a whole number below {rows}; \
                             give an id map otherwise)"
                        ),
                    )
                })?;
                place(id.into_owned(), row, Path::new(side))?;
            }
        }
        RowIds::Files { users, items } => {
            let file = if side == "user" { users } else { items };
            let map: std::collections::HashMap<String, usize> =
                read_row_map(file, rows)?.into_iter().collect();
            for (id, &row) in &map {
                place(id.clone(), row, file)?;
            }
            if let Some(id) = data_ids
                .into_iter()
                .find(|id| !map.contains_key(id.as_ref()))
            {
                return Err(ImportError::invalid(
                    file,
                    format!("{side} {id:?} of the data is not in the id map"),
                ));
            }
        }
    }
    let mut map = crate::data::IdMap::new();
    for (row, name) in names.into_iter().enumerate() {
        let name = name.unwrap_or_else(|| match ids {
            RowIds::RowNumbers => row.to_string(),
            RowIds::Files { .. } => format!("<row {row}>"),
        });
        map.intern(&name)
            .ok_or_else(|| ImportError::invalid(Path::new(side), format!("too many {side}s")))?;
    }
    Ok(map)
}

/// A dataset of every row of `train` (validation rows from `valid`) laid onto tables of
/// `user_rows` × `item_rows` rows as `ids` says: what a model trained elsewhere on a raw
/// table saw. `threshold` turns ratings into labels.
pub fn whole_dataset(
    train: &RawData,
    valid: Option<&RawData>,
    ids: &RowIds,
    user_rows: usize,
    item_rows: usize,
    threshold: f64,
) -> Result<Dataset, ImportError> {
    let mut user_maps = vec![&train.user_ids];
    let mut item_maps = vec![&train.item_ids];
    if let Some(v) = valid {
        user_maps.push(&v.user_ids);
        item_maps.push(&v.item_ids);
    }
    let users = side_map(ids, "user", &user_maps, user_rows)?;
    let items = side_map(ids, "item", &item_maps, item_rows)?;
    Dataset::from_whole_tables(&train.source, train, valid, users, items, threshold)
        .map_err(|m| ImportError::invalid(&train.source, m))
}

/// The parameters of `users` and `items` for a dataset already laid onto their rows (as
/// [`whole_dataset`] lays one), and what an export needs to give the tables back.
pub fn params_of(
    source: &TableSource<'_>,
    data: &Dataset,
    users: Table,
    items: Table,
) -> Result<(Params, ImportedTables), ImportError> {
    if (data.n_users as usize, data.n_items as usize) != (users.rows, items.rows) {
        return Err(ImportError::invalid(
            source.path(),
            format!(
                "the tables have {} and {} rows, the data's id maps {} and {}",
                users.rows, items.rows, data.n_users, data.n_items
            ),
        ));
    }
    Ok(padded(source, users, items))
}

/// The tables as parameters, the width padded to a multiple of 4.
fn padded(source: &TableSource<'_>, users: Table, items: Table) -> (Params, ImportedTables) {
    let width = users.width;
    let dim = width.div_ceil(4) * 4;
    let pad = |t: &Table| -> Vec<f32> {
        let mut out = Vec::with_capacity(t.rows * dim);
        for row in t.values.chunks_exact(t.width) {
            out.extend_from_slice(row);
            out.resize(out.len() + dim - t.width, 0.0);
        }
        out
    };
    let params = Params {
        n_users: users.rows as u32,
        n_items: items.rows as u32,
        dim: dim as u32,
        user_emb: pad(&users),
        item_emb: pad(&items),
    };
    let tables = ImportedTables {
        file: source.path().to_path_buf(),
        user_tensor: users.name,
        item_tensor: items.name,
        width: width as u32,
    };
    (params, tables)
}

/// A row-major table of `dim`-wide rows cut to its first `width` columns: an imported
/// table back at the width it came with (the padding columns dropped).
pub fn at_width(table: &[f32], dim: usize, width: usize) -> Vec<f32> {
    table
        .chunks_exact(dim)
        .flat_map(|row| row[..width.min(dim)].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn npy_tables_read_in_each_dtype_and_bad_ones_name_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let values = [1.0f32, -2.0, 0.5, 3.0, 4.0, -0.25];
        let f4: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f2: Vec<u8> = values
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        let f8: Vec<u8> = values
            .iter()
            .flat_map(|v| f64::from(*v).to_le_bytes())
            .collect();
        for (descr, data) in [("<f4", f4.clone()), ("<f2", f2), ("<f8", f8)] {
            let p = dir.path().join(format!("t{}.npy", &descr[1..]));
            std::fs::write(&p, npy(descr, "(2, 3)", &data)).unwrap();
            let t = read_npy(&p).unwrap();
            assert_eq!((t.rows, t.width), (2, 3), "{descr}");
            assert_eq!(t.values, values, "{descr}");
        }
        let p = dir.path().join("bad.npy");
        std::fs::write(&p, npy("<f4", "(6,)", &f4)).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("bad.npy") && e.contains("shape [6]"), "{e}");
        let mut nan = f4.clone();
        nan[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&p, npy("<f4", "(2, 3)", &nan)).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("row 0, column 1") && e.contains("finite"), "{e}");
    }

    #[test]
    fn widths_are_padded_to_four_and_given_back() {
        let padded = [1.0, 2.0, 3.0, 0.0, 4.0, 5.0, 6.0, 0.0];
        assert_eq!(at_width(&padded, 4, 3), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(at_width(&padded, 4, 4), padded.to_vec());
    }
}
