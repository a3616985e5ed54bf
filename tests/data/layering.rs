//! No import cycles between the library's modules (nor the command line's).
//!
//! Each source file is a module. A module depends on another when it names it, or an item it
//! defines, through `crate::`, `super::`, `self::` or a child's name, in a `use` or inline;
//! a path through a `pub use` re-export counts as naming the module the item comes from.
//! Edges between a module and its own ancestors are not counted: a parent declaring and
//! re-exporting its children, and children using what their parent defines, is how a Rust
//! module tree is built. What remains must be acyclic, so the layers read one way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

struct Crate {
    /// Module path → source with comments and the unit-test module removed.
    sources: BTreeMap<Module, String>,
    /// (module, name) → the path a `pub use` in that module re-exports under that name.
    reexports: BTreeMap<(Module, String), Vec<String>>,
}

fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn strip(source: &str) -> String {
    let body = match source.find("#[cfg(test)]\nmod tests") {
        Some(i) => &source[..i],
        None => source,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bodies of `use` items (after `use`, before `;`), with whether they are re-exports.
fn use_items(source: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let line_start = before.rfind('\n').map_or(0, |n| n + 1);
        let prefix = before[line_start..].trim();
        let is_item = prefix.is_empty() || prefix.starts_with("pub");
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if is_item && (i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric()) {
            out.push((prefix.starts_with("pub"), after[..end].to_string()));
        }
        rest = &after[end.min(after.len())..];
    }
    out
}

/// `a::{b::c, d as e}` → `[a, b, c]`, `[a, d]`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    fn go(prefix: &[String], text: &str, out: &mut Vec<Vec<String>>) {
        let mut depth = 0;
        let mut start = 0;
        let mut items = Vec::new();
        for (i, c) in text.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&text[start..]);
        for item in items.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
            match (item.find('{'), item.rfind('}')) {
                (Some(open), Some(close)) => {
                    let mut p = prefix.to_vec();
                    p.extend(segments(item[..open].trim_end_matches(':')));
                    go(&p, &item[open + 1..close], out);
                }
                _ => {
                    let name = item.split(" as ").next().unwrap_or(item);
                    let mut p = prefix.to_vec();
                    p.extend(segments(name));
                    out.push(p);
                }
            }
        }
    }
    let flat: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    go(&[], &flat, &mut out);
    out
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Paths written inline: `crate::…`, `super::…`, `self::…`.
fn inline_paths(source: &str) -> Vec<Vec<String>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    for head in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = source[from..].find(head) {
            let at = from + i;
            from = at + head.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let end = source[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(source.len(), |e| at + e);
            out.push(segments(&source[at..end]));
        }
    }
    out
}

impl Crate {
    fn read(root: &Path) -> Crate {
        let mut files = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let sources: BTreeMap<Module, String> = files
            .iter()
            .map(|f| {
                (
                    module_of(root, f),
                    strip(&std::fs::read_to_string(f).unwrap()),
                )
            })
            .collect();
        let mut krate = Crate {
            sources,
            reexports: BTreeMap::new(),
        };
        let mut reexports = BTreeMap::new();
        for (module, source) in &krate.sources {
            for (public, tree) in use_items(source) {
                for path in expand(&tree).into_iter().filter(|_| public) {
                    if let (Some(name), Some(absolute)) =
                        (path.last().cloned(), krate.absolute(module, &path))
                    {
                        reexports.insert((module.clone(), name), absolute);
                    }
                }
            }
        }
        krate.reexports = reexports;
        krate
    }

    /// `path` as written in `module`, from the crate root; `None` for external crates.
    fn absolute(&self, module: &Module, path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?.as_str();
        let mut base = module.clone();
        let mut rest = path;
        match first {
            "crate" => {
                base.clear();
                rest = &path[1..];
            }
            "self" => rest = &path[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            child => {
                let mut candidate = module.clone();
                candidate.push(child.to_string());
                if !self.sources.contains_key(&candidate) {
                    return None;
                }
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The module a crate-rooted path names: its longest module prefix, following re-exports.
    fn module_named(&self, path: &[String], hops: usize) -> Option<Module> {
        (0..=path.len()).rev().find_map(|k| {
            let module = path[..k].to_vec();
            if !self.sources.contains_key(&module) {
                return None;
            }
            match path.get(k) {
                Some(name) if hops < 16 => {
                    match self.reexports.get(&(module.clone(), name.clone())) {
                        Some(target) => {
                            let mut next = target.clone();
                            next.extend(path[k + 1..].iter().cloned());
                            Some(self.module_named(&next, hops + 1).unwrap_or(module))
                        }
                        None => Some(module),
                    }
                }
                _ => Some(module),
            }
        })
    }

    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let is_ancestor = |a: &Module, b: &Module| b.len() > a.len() && b.starts_with(a);
        self.sources
            .iter()
            .map(|(module, source)| {
                let mut paths: Vec<Vec<String>> = use_items(source)
                    .iter()
                    .flat_map(|(_, t)| expand(t))
                    .collect();
                paths.extend(inline_paths(source));
                let targets = paths
                    .iter()
                    .filter_map(|p| self.absolute(module, p))
                    .filter_map(|p| self.module_named(&p, 0))
                    .filter(|t| t != module && !is_ancestor(t, module) && !is_ancestor(module, t))
                    .collect();
                (module.clone(), targets)
            })
            .collect()
    }
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, (usize, usize)>,
        stack: Vec<&'a Module>,
        next: usize,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        s.index.insert(v, (s.next, s.next));
        s.next += 1;
        s.stack.push(v);
        for w in &s.edges[v] {
            match s.index.get(w).copied() {
                None => {
                    visit(s, w);
                    let low = s.index[w].1.min(s.index[v].1);
                    s.index.get_mut(v).unwrap().1 = low;
                }
                Some((w_index, _)) if s.stack.contains(&w) => {
                    let low = w_index.min(s.index[v].1);
                    s.index.get_mut(v).unwrap().1 = low;
                }
                Some(_) => {}
            }
        }
        if s.index[v].0 == s.index[v].1 {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn assert_acyclic(root: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(root);
    let krate = Crate::read(&root);
    let edges = krate.edges();
    assert!(
        edges.len() > 5,
        "read only {} modules in {root:?}",
        edges.len()
    );
    let found = cycles(&edges);
    let shown: Vec<String> = found
        .iter()
        .map(|c| {
            c.iter()
                .map(|m| {
                    let name = m.join("::");
                    let inside: Vec<String> = edges[m]
                        .iter()
                        .filter(|t| c.contains(t))
                        .map(|t| t.join("::"))
                        .collect();
                    format!("{name} -> {}", inside.join(", "))
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect();
    assert!(found.is_empty(), "import cycles in {root:?}: {shown:#?}");
}

#[test]
fn the_library_has_no_import_cycle() {
    assert_acyclic("src");
}

#[test]
fn the_command_line_has_no_import_cycle() {
    assert_acyclic("cli/src");
}

#[test]
fn the_checker_finds_a_cycle_between_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("k")).unwrap();
    let files = [
        ("lib.rs", "pub mod k;\npub mod z;"),
        ("k/mod.rs", "mod a;\nmod b;\npub use a::Alpha;"),
        ("k/a.rs", "use super::b::Beta;\npub struct Alpha;"),
        ("k/b.rs", "pub struct Beta(crate::k::Alpha);"),
        ("z.rs", "use crate::k::Alpha; // crate::nothing"),
    ];
    for (name, text) in files {
        std::fs::write(src.join(name), text).unwrap();
    }
    let krate = Crate::read(src);
    let found = cycles(&krate.edges());
    let names: Vec<Vec<String>> = found
        .iter()
        .map(|c| c.iter().map(|m| m.join("::")).collect())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let mut cycle = names[0].clone();
    cycle.sort();
    assert_eq!(cycle, ["k::a", "k::b"]);
}
