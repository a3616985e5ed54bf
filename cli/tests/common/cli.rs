//! Helpers of the command-line tests: running `ifru`, a small synthetic IFRU-protocol folder
//! and a model trained on it in a temporary folder (fast: a fraction of a second on lavapipe),
//! and byte snapshots of model directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `ifru` with `args` (and `env` set), in the system's temporary folder (tests pass
/// absolute paths; a crash test's core file, where those are enabled, lands there).
pub fn ifru_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ifru"));
    c.args(args).current_dir(std::env::temp_dir());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run ifru")
}

/// Runs `ifru` with `args`.
pub fn ifru(args: &[&str]) -> Output {
    ifru_env(args, &[])
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success; returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "stderr: {}", stderr(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn s(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

/// Every file under `dir` with its bytes (folders appear through their files; an empty folder
/// as itself).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut empty = true;
        for entry in std::fs::read_dir(&d).unwrap() {
            empty = false;
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
        if empty {
            out.insert(d, Vec::new());
        }
    }
    out
}

/// Users, items and training rows of [`write_ifru_folder`]: user `u` has items
/// `(7u + 3k) mod 20` for k = 0..10; k < 6 are clean training rows, k = 6 a flipped one,
/// k = 7, 8 validation rows and k = 9 a test row.
pub const USERS: u32 = 30;
pub const ITEMS: u32 = 20;

pub fn item_of(u: u32, k: u32) -> u32 {
    (7 * u + 3 * k) % ITEMS
}

fn label_of(u: u32, i: u32) -> u8 {
    u8::from((u * u + 3 * i + u * i) % 5 < 2)
}

/// The training rows `(user, item, label)` in the order the loader reads them
/// (`train_normal.csv`, then `train_random.csv`).
pub fn training_rows() -> Vec<(u32, u32, u8)> {
    let mut normal = Vec::new();
    let mut random = Vec::new();
    for u in 0..USERS {
        for k in 0..7 {
            let i = item_of(u, k);
            if k < 6 {
                normal.push((u, i, label_of(u, i)));
            } else {
                random.push((u, i, 1 - label_of(u, i)));
            }
        }
    }
    normal.extend(random);
    normal
}

/// Writes the small IFRU-protocol folder described at [`USERS`].
pub fn write_ifru_folder(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut files: [String; 4] = Default::default();
    for f in &mut files {
        f.push_str("user,item,label\n");
    }
    for u in 0..USERS {
        for k in 0..10 {
            let i = item_of(u, k);
            let l = label_of(u, i);
            let (f, l) = match k {
                0..6 => (0, l),
                6 => (1, 1 - l),
                7 | 8 => (2, l),
                _ => (3, l),
            };
            files[f].push_str(&format!("{u},{i},{l}\n"));
        }
    }
    for (name, text) in ifru::data::ifru_folder::FILES.iter().zip(files) {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// A temporary folder with the data, a model trained on it, and room for forget files.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub model: PathBuf,
}

impl Fixture {
    /// Trains `kind` (`mf` or `lightgcn`) with d = 8 for two epochs.
    pub fn new(kind: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        write_ifru_folder(&data);
        let model = tmp.path().join("model");
        ok(&ifru(&[
            "train",
            "--data",
            &s(&data),
            "--model",
            kind,
            "--dim",
            "8",
            "--epochs",
            "2",
            "--lr",
            "0.05",
            "--out",
            &s(&model),
        ]));
        Fixture { tmp, data, model }
    }

    /// Writes `text` to a file named `name` in the temporary folder.
    pub fn file(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A forget file naming `rows` (`user,item`, no label).
    pub fn forget(&self, name: &str, rows: &[(u32, u32)]) -> PathBuf {
        let mut text = String::from("user,item\n");
        for (u, i) in rows {
            text.push_str(&format!("{u},{i}\n"));
        }
        self.file(name, text)
    }

    /// `ifru unlearn --model MODEL` with `args` appended.
    pub fn unlearn(&self, args: &[&str]) -> Output {
        self.unlearn_env(args, &[])
    }

    /// [`Fixture::unlearn`] with environment variables.
    pub fn unlearn_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let model = s(&self.model);
        let mut all = vec!["unlearn", "--model", &model];
        all.extend_from_slice(args);
        ifru_env(&all, env)
    }

    /// The live version's name.
    pub fn current(&self) -> String {
        std::fs::read_to_string(self.model.join("CURRENT"))
            .unwrap()
            .trim()
            .to_string()
    }
}
