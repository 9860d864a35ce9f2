//! Module rules read from the source: no poller module imports one that imports it back
//! (directly or through a chain); no two top-level modules of `src` import each other (directly
//! or through a chain); a tab (`app::tabs::*`) imports nothing of the app above it (its state,
//! messages, effects, router or queue); and production code imports nothing of the simulator
//! (only `sim`, `bench`, `demo` and `cli` may).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its module path (`src/poller/uhppote/commands.rs` is
/// `poller::uhppote::commands`).
fn files(dir: &Path, out: &mut Vec<(Vec<String>, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(src()).unwrap().with_extension("");
            let module: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .filter(|c| c != "mod")
                .collect();
            out.push((module, p));
        }
    }
}

/// The code without comments (doc links name modules too, but import nothing).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The path starts in `text`: every `a::b::{c, d::e}` becomes `[a, b, c]` and `[a, b, d, e]`
/// (enough segments to name modules).
fn paths(text: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_ident(chars[i]) || (i > 0 && (is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let (p, end) = path_at(&chars, i);
        if p.iter().any(|v| v.len() > 1) {
            out.extend(p);
        }
        i = end.max(i + 1);
    }
    out
}

/// `inner` split at the commas outside nested braces.
fn top_level(inner: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0;
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// The paths starting at `i`, and where they end.
fn path_at(chars: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        prefix.push(chars[start..i].iter().collect::<String>());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            if chars.get(i) == Some(&'{') {
                let mut depth = 0;
                let open = i;
                while i < chars.len() {
                    match chars[i] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let inner: String = chars[open + 1..i.min(chars.len())].iter().collect();
                let mut out = Vec::new();
                for item in top_level(&inner) {
                    let item: Vec<char> = item.trim().chars().collect();
                    if item.first().is_some_and(|c| is_ident(*c)) {
                        for tail in path_at(&item, 0).0 {
                            out.push([prefix.clone(), tail].concat());
                        }
                    }
                }
                return (out, i + 1);
            }
            if !chars.get(i).is_some_and(|c| is_ident(*c)) {
                return (vec![prefix], i);
            }
        } else {
            return (vec![prefix], i);
        }
    }
}

/// The module a path in `from` names, if it is one of `known` (or the module an item of it
/// lives in).
fn resolve(from: &[String], path: &[String], known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut base: Vec<String> = match path.first()?.as_str() {
        "crate" => Vec::new(),
        "super" | "self" => from.to_vec(),
        _ => from.to_vec(),
    };
    let mut rest = path;
    match path[0].as_str() {
        "crate" => rest = &path[1..],
        "self" => rest = &path[1..],
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            base.truncate(base.len().saturating_sub(ups));
            rest = &path[ups..];
        }
        _ => {}
    }
    // The longest module the path reaches.
    let mut found = None;
    let mut m = base.clone();
    if known.contains(&m) && path[0] == "super" {
        found = Some(m.clone());
    }
    for seg in rest {
        m.push(seg.clone());
        if known.contains(&m) {
            found = Some(m.clone());
        } else {
            break;
        }
    }
    found.filter(|f| f.as_slice() != from)
}

/// Module → modules it imports, for the modules under `root`.
fn imports(root: &str) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let known: BTreeSet<Vec<String>> = all.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = BTreeMap::new();
    for (module, path) in all.iter().filter(|(m, _)| m[0] == root) {
        let mut to = BTreeSet::new();
        for p in paths(&code(path)) {
            if let Some(m) = resolve(module, &p, &known) {
                if m.first().map(String::as_str) == Some(root) {
                    to.insert(m);
                }
            }
        }
        graph.insert(module.clone(), to);
    }
    graph
}

#[test]
fn no_poller_module_imports_one_that_imports_it_back() {
    let graph = imports("poller");
    assert!(
        graph.len() >= 10,
        "the poller's modules: {:?}",
        graph.keys()
    );
    // The actor talks to drivers only through the factory and the trait.
    let actor = &graph[&vec!["poller".to_string(), "actor".to_string()]];
    for driver in ["uhppote", "native", "zk"] {
        assert!(
            !actor.contains(&vec!["poller".to_string(), driver.to_string()]),
            "the actor imports {driver}: {actor:?}"
        );
    }
    // Depth-first search for a cycle, naming it.
    fn visit(
        m: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| s == m) {
            let cycle: Vec<String> = stack[i..].iter().map(|s| s.join("::")).collect();
            panic!("import cycle: {} -> {}", cycle.join(" -> "), m.join("::"));
        }
        stack.push(m.clone());
        for n in graph.get(m).into_iter().flatten() {
            visit(n, graph, stack, done);
        }
        stack.pop();
        done.insert(m.clone());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn production_code_imports_nothing_of_the_simulator() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let allowed = ["sim", "bench", "demo", "cli", "lib"];
    let mut offenders = Vec::new();
    for (module, path) in &all {
        if allowed.contains(&module[0].as_str()) {
            continue;
        }
        for p in paths(&code(path)) {
            let named = match p.first().map(String::as_str) {
                Some("crate") => p.get(1).is_some_and(|s| s == "sim"),
                Some("onecard") => p.get(1).is_some_and(|s| s == "sim"),
                _ => false,
            };
            if named {
                offenders.push(format!("{}: {}", module.join("::"), p.join("::")));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn the_path_reader_sees_grouped_imports() {
    let p =
        paths("use super::line::{self, Ctx, b::{c, d}};\nlet x = crate::db::command::finish();");
    assert!(p.contains(&vec!["super".into(), "line".into(), "Ctx".into()]));
    assert!(p.contains(&vec!["super".into(), "line".into(), "b".into(), "d".into()]));
    assert!(p.contains(&vec![
        "crate".into(),
        "db".into(),
        "command".into(),
        "finish".into()
    ]));
}

/// A module's path (`["app", "tabs", "cards"]`).
type Module = Vec<String>;

/// A module and what it imports: each module reached, with the path as written.
type Imports = (Module, Vec<(Module, Vec<String>)>);

/// Every module → the modules it imports (any of ours), and each import's path as written.
fn all_imports() -> Vec<Imports> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let known: BTreeSet<Vec<String>> = all.iter().map(|(m, _)| m.clone()).collect();
    all.iter()
        .map(|(module, path)| {
            let to = paths(&code(path))
                .into_iter()
                .filter_map(|p| resolve(module, &p, &known).map(|m| (m, p)))
                .collect();
            (module.clone(), to)
        })
        .collect()
}

/// A cycle in `graph`, named, if there is one.
fn cycle<N: Ord + Clone + std::fmt::Display>(graph: &BTreeMap<N, BTreeSet<N>>) -> Option<String> {
    fn visit<N: Ord + Clone + std::fmt::Display>(
        m: &N,
        graph: &BTreeMap<N, BTreeSet<N>>,
        stack: &mut Vec<N>,
        done: &mut BTreeSet<N>,
    ) -> Option<String> {
        if done.contains(m) {
            return None;
        }
        if let Some(i) = stack.iter().position(|s| s == m) {
            let names: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            return Some(format!("{} -> {m}", names.join(" -> ")));
        }
        stack.push(m.clone());
        for n in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(n, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    // `lib` and `main` only declare and start the others.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut why: BTreeMap<(String, String), String> = BTreeMap::new();
    for (module, to) in all_imports() {
        let from = module[0].clone();
        if from == "lib" || from == "main" {
            continue;
        }
        let edges = graph.entry(from.clone()).or_default();
        for (m, p) in to {
            if m[0] != from && m[0] != "lib" && m[0] != "main" {
                edges.insert(m[0].clone());
                why.entry((from.clone(), m[0].clone()))
                    .or_insert_with(|| format!("{}: {}", module.join("::"), p.join("::")));
            }
        }
    }
    assert!(
        graph.len() >= 15,
        "the top-level modules: {:?}",
        graph.keys()
    );
    if let Some(c) = cycle(&graph) {
        let names: Vec<&str> = c.split(" -> ").collect();
        let because: Vec<&String> = names
            .windows(2)
            .filter_map(|w| why.get(&(w[0].to_string(), w[1].to_string())))
            .collect();
        panic!("import cycle between top-level modules: {c}\n{because:#?}");
    }
}

#[test]
fn a_tab_imports_nothing_of_the_app_above_it() {
    let above = ["state", "msg", "effect", "router", "queue", "session"];
    // `app`'s own re-exports of the same (`crate::app::Msg` is `app::msg::Msg`).
    let reexported = ["Msg", "Effect", "State", "update"];
    let mut offenders = Vec::new();
    for (module, to) in all_imports() {
        if module.len() < 3 || module[0] != "app" || module[1] != "tabs" {
            continue;
        }
        for (m, p) in to {
            let bad = (m.len() == 2 && m[0] == "app" && above.contains(&m[1].as_str()))
                || (m == ["app"] && p.iter().any(|s| reexported.contains(&s.as_str())));
            if bad {
                offenders.push(format!("{}: {}", module.join("::"), p.join("::")));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn the_cycle_finder_names_a_cycle() {
    let g: BTreeMap<&str, BTreeSet<&str>> = [
        ("a", BTreeSet::from(["b"])),
        ("b", BTreeSet::from(["c"])),
        ("c", BTreeSet::from(["a"])),
    ]
    .into_iter()
    .collect();
    assert_eq!(cycle(&g).as_deref(), Some("a -> b -> c -> a"));
    let g: BTreeMap<&str, BTreeSet<&str>> = [("a", BTreeSet::from(["b"])), ("b", BTreeSet::new())]
        .into_iter()
        .collect();
    assert_eq!(cycle(&g), None);
}
