//! The file-level import graph of one crate's `src/`, and its cycles.
//!
//! Nodes are source files. A file depends on another when it declares it (`mod x;`) or names
//! something in it: `use crate::…`, `use super::…`, `use self::…`, a child module's name, and the
//! same paths written inline in code (`crate::block::corrupt(…)`). A path through a parent's
//! re-export (`pub use child::Item;`, also `as` renames and globs) resolves to the file that
//! defines the item, so re-exporting a child is allowed; a child naming an item its parent
//! defines is an edge back to the parent, which makes a cycle with the parent's `mod`
//! declaration. Test-only modules (`#[cfg(test)]`) are left out: a test module uses its parent by
//! design.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module: its path from the crate root, its file, what it declares and imports.
#[derive(Debug, Default)]
struct Module {
    file: usize,
    children: BTreeMap<String, usize>,
    /// Names defined here (functions, types, constants, macros...).
    items: BTreeSet<String>,
    /// `use` bindings: name → absolute module path + item segments it stands for.
    bindings: BTreeMap<String, Vec<String>>,
    /// Targets of `use …::*`.
    globs: Vec<Vec<String>>,
    /// Names `use`d from outside the crate (`use std::sync::Arc;`, `pub use other_crate::X;`).
    externals: BTreeSet<String>,
    /// Paths this module names (absolute), with the text of the reference, for edges.
    references: Vec<(Vec<String>, String)>,
    path: Vec<String>,
}

/// One import edge, with the reference that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: PathBuf,
    pub to: PathBuf,
    pub reason: String,
}

/// A cycle of files, each edge with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub edges: Vec<Edge>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for edge in &self.edges {
            writeln!(
                f,
                "  {} -> {}  ({})",
                edge.from.display(),
                edge.to.display(),
                edge.reason
            )?;
        }
        Ok(())
    }
}

/// Why the graph could not be built.
#[derive(Debug)]
pub struct GraphError(pub String);

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct Crate {
    root: PathBuf,
    files: Vec<PathBuf>,
    modules: Vec<Module>,
}

/// The cycles of the import graph of the crate whose `src/` is `src` (root file `lib.rs`).
pub fn cycles(src: &Path) -> Result<Vec<Cycle>, GraphError> {
    let mut krate = Crate {
        root: src.to_path_buf(),
        files: Vec::new(),
        modules: Vec::new(),
    };
    krate.load_file(&src.join("lib.rs"), Vec::new(), true)?;
    krate.normalise();
    let edges = krate.edges();
    Ok(find_cycles(&krate.files, &edges, &krate.root))
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg") && {
            let tokens = attr
                .meta
                .require_list()
                .map(|list| list.tokens.to_string())
                .unwrap_or_default();
            tokens
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|word| word == "test")
                && !tokens.contains("not")
        }
    })
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(value) if attr.path().is_ident("path") => match &value.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => Some(text.value()),
            _ => None,
        },
        _ => None,
    })
}

impl Crate {
    fn load_file(
        &mut self,
        file: &Path,
        module_path: Vec<String>,
        owns_directory: bool,
    ) -> Result<usize, GraphError> {
        let text = std::fs::read_to_string(file)
            .map_err(|error| GraphError(format!("read {}: {error}", file.display())))?;
        let parsed = syn::parse_file(&text)
            .map_err(|error| GraphError(format!("parse {}: {error}", file.display())))?;
        let file_index = self.files.len();
        self.files.push(file.to_path_buf());
        // Children of `foo.rs` live in `foo/`; of `mod.rs` and `lib.rs` beside them.
        let directory = if owns_directory {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        self.load_items(&parsed.items, file_index, module_path, &directory)
    }

    fn load_items(
        &mut self,
        items: &[syn::Item],
        file_index: usize,
        module_path: Vec<String>,
        directory: &Path,
    ) -> Result<usize, GraphError> {
        let module_index = self.modules.len();
        self.modules.push(Module {
            file: file_index,
            path: module_path.clone(),
            ..Module::default()
        });
        let mut collector = Collector {
            module_path: module_path.clone(),
            bindings: BTreeMap::new(),
            globs: Vec::new(),
            references: Vec::new(),
            items: BTreeSet::new(),
            depth: 0,
        };
        for item in items {
            if let syn::Item::Mod(module) = item {
                if is_test_only(&module.attrs) {
                    continue;
                }
                let name = module.ident.to_string();
                let mut child_path = module_path.clone();
                child_path.push(name.clone());
                let child = match &module.content {
                    Some((_, inner)) => {
                        self.load_items(inner, file_index, child_path, &directory.join(&name))?
                    }
                    None => {
                        let (file, owns) = match path_attr(&module.attrs) {
                            Some(relative) => (directory.join(relative), true),
                            None => {
                                let flat = directory.join(format!("{name}.rs"));
                                if flat.exists() {
                                    (flat, false)
                                } else {
                                    (directory.join(&name).join("mod.rs"), true)
                                }
                            }
                        };
                        self.load_file(&file, child_path, owns)?
                    }
                };
                self.modules[module_index].children.insert(name, child);
                continue;
            }
            collector.visit_item(item);
        }
        let module = &mut self.modules[module_index];
        module.items = collector.items;
        module.bindings = collector.bindings;
        module.globs = collector.globs;
        module.references = collector.references;
        Ok(module_index)
    }

    fn module_at(&self, path: &[String]) -> Option<usize> {
        let mut current = 0;
        for segment in path {
            current = *self.modules[current].children.get(segment)?;
        }
        Some(current)
    }

    /// The file that defines what `path` (absolute) names; follows re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> Option<usize> {
        if depth > 32 {
            return None;
        }
        let mut module = 0;
        for (index, segment) in path.iter().enumerate() {
            if let Some(child) = self.modules[module].children.get(segment) {
                module = *child;
                continue;
            }
            let current = &self.modules[module];
            if current.items.contains(segment) {
                return Some(current.file);
            }
            if current.externals.contains(segment) {
                return None;
            }
            if let Some(target) = current.bindings.get(segment) {
                let mut full = target.clone();
                full.extend_from_slice(&path[index + 1..]);
                return self.resolve(&full, depth + 1).or(Some(current.file));
            }
            let local_globs: Vec<&Vec<String>> = current
                .globs
                .iter()
                .filter(|glob| self.module_at(glob).is_some())
                .collect();
            for glob in &current.globs {
                let mut full = glob.clone();
                full.extend_from_slice(&path[index..]);
                if let Some(glob_module) = self.module_at(glob) {
                    let defined = {
                        let target = &self.modules[glob_module];
                        target.items.contains(segment)
                            || target.children.contains_key(segment)
                            || target.bindings.contains_key(segment)
                    };
                    if defined {
                        return self.resolve(&full, depth + 1);
                    }
                }
            }
            // A name found nowhere but behind exactly one glob of a local module is defined
            // there by a macro (generated code): resolve to that module.
            if let [glob] = local_globs.as_slice()
                && let Some(glob_module) = self.module_at(glob)
            {
                return Some(self.modules[glob_module].file);
            }
            return Some(current.file);
        }
        Some(self.modules[module].file)
    }

    fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for module in &self.modules {
            for child in module.children.values() {
                let child_file = self.modules[*child].file;
                if child_file != module.file {
                    edges.push(Edge {
                        from: self.files[module.file].clone(),
                        to: self.files[child_file].clone(),
                        reason: format!("mod {}", self.modules[*child].path.join("::")),
                    });
                }
            }
            for (path, text) in &module.references {
                let Some(target) = self.resolve(path, 0) else {
                    continue;
                };
                if target != module.file {
                    edges.push(Edge {
                        from: self.files[module.file].clone(),
                        to: self.files[target].clone(),
                        reason: text.clone(),
                    });
                }
            }
        }
        edges
    }
}

/// Collects a module's definitions, `use` bindings and path references (not descending into
/// nested modules, which are loaded separately).
struct Collector {
    module_path: Vec<String>,
    bindings: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    references: Vec<(Vec<String>, String)>,
    items: BTreeSet<String>,
    depth: usize,
}

impl Collector {
    /// Turns a path that starts with `crate`, `super` or `self` into an absolute one.
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut base = self.module_path.clone();
        let mut rest = segments;
        match first.as_str() {
            "crate" => {
                base.clear();
                rest = &segments[1..];
            }
            "self" => rest = &segments[1..],
            "super" => {
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
            }
            _ => return None,
        }
        base.extend_from_slice(rest);
        Some(base)
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, record: bool) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree, record);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let ident = name.ident.to_string();
                self.bind(prefix, &ident, &ident, record);
            }
            syn::UseTree::Rename(rename) => {
                self.bind(
                    prefix,
                    &rename.ident.to_string(),
                    &rename.rename.to_string(),
                    record,
                );
            }
            syn::UseTree::Glob(_) => {
                if let Some(target) = self.absolute_or_local(prefix) {
                    if record {
                        self.globs.push(target.clone());
                    }
                    self.references
                        .push((target, format!("use {}::*", prefix.join("::"))));
                }
            }
            syn::UseTree::Group(group) => {
                for item in &group.items {
                    self.use_tree(prefix, item, record);
                }
            }
        }
    }

    /// Paths in `use` may also start with a child module's name (2018 edition); those are
    /// resolved as `self::…`.
    fn absolute_or_local(&self, segments: &[String]) -> Option<Vec<String>> {
        self.absolute(segments).or_else(|| {
            let first = segments.first()?;
            if first.chars().next().is_some_and(char::is_lowercase) {
                // Unknown at this point whether `first` is a child module or an external
                // crate; the resolver treats an unknown first segment as external.
                let mut local = self.module_path.clone();
                local.push(format!("\u{0}{first}"));
                local.extend_from_slice(&segments[1..]);
                Some(local)
            } else {
                None
            }
        })
    }

    fn bind(&mut self, prefix: &[String], ident: &str, alias: &str, record: bool) {
        let mut segments = prefix.to_vec();
        if ident != "self" {
            segments.push(ident.to_owned());
        }
        let alias = if ident == "self" && alias == "self" {
            prefix.last().cloned().unwrap_or_default()
        } else {
            alias.to_owned()
        };
        if let Some(target) = self.absolute_or_local(&segments) {
            if record {
                self.bindings.insert(alias, target.clone());
            }
            self.references
                .push((target, format!("use {}", segments.join("::"))));
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if self.depth == 0 {
            let name = match item {
                syn::Item::Const(item) => Some(item.ident.to_string()),
                syn::Item::Enum(item) => Some(item.ident.to_string()),
                syn::Item::Fn(item) => Some(item.sig.ident.to_string()),
                syn::Item::Macro(item) => item.ident.as_ref().map(ToString::to_string),
                syn::Item::Static(item) => Some(item.ident.to_string()),
                syn::Item::Struct(item) => Some(item.ident.to_string()),
                syn::Item::Trait(item) => Some(item.ident.to_string()),
                syn::Item::Type(item) => Some(item.ident.to_string()),
                syn::Item::Union(item) => Some(item.ident.to_string()),
                _ => None,
            };
            if let Some(name) = name {
                self.items.insert(name);
            }
        }
        if let syn::Item::Mod(module) = item
            && self.depth > 0
            && is_test_only(&module.attrs)
        {
            return;
        }
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Fn(item) => &item.attrs,
            syn::Item::Impl(item) => &item.attrs,
            syn::Item::Use(item) => &item.attrs,
            _ => &[],
        };
        if is_test_only(attrs) {
            return;
        }
        if let syn::Item::Use(item) = item {
            let record = self.depth == 0;
            self.use_tree(&mut Vec::new(), &item.tree, record);
            return;
        }
        self.depth += 1;
        syn::visit::visit_item(self, item);
        self.depth -= 1;
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        if segments.len() > 1
            && let Some(target) = self.absolute_or_local(&segments)
        {
            self.references.push((target, segments.join("::")));
        }
        syn::visit::visit_path(self, path);
    }
}

impl Crate {
    /// Replaces the local-first-segment marker by the child module it names, or drops the
    /// reference when the first segment is not a child (an external crate or a local binding).
    fn normalise(&mut self) {
        for module_index in 0..self.modules.len() {
            let fix = |target: &Vec<String>, modules: &Vec<Module>| -> Option<Vec<String>> {
                let marker = target.iter().position(|s| s.starts_with('\u{0}'));
                let Some(position) = marker else {
                    return Some(target.clone());
                };
                let name = &target[position][1..];
                let is_child = modules[module_index].children.contains_key(name);
                let is_binding = modules[module_index].bindings.contains_key(name);
                if is_child {
                    let mut fixed = target.clone();
                    fixed[position] = name.to_owned();
                    Some(fixed)
                } else if is_binding {
                    let mut fixed = modules[module_index].bindings[name].clone();
                    fixed.extend_from_slice(&target[position + 1..]);
                    if fixed.iter().any(|s| s.starts_with('\u{0}')) {
                        None
                    } else {
                        Some(fixed)
                    }
                } else {
                    None
                }
            };
            let modules = &self.modules;
            let references: Vec<_> = modules[module_index]
                .references
                .iter()
                .filter_map(|(target, text)| fix(target, modules).map(|t| (t, text.clone())))
                .collect();
            let mut externals = BTreeSet::new();
            let bindings: BTreeMap<_, _> = modules[module_index]
                .bindings
                .iter()
                .filter_map(|(name, target)| match fix(target, modules) {
                    Some(fixed) => Some((name.clone(), fixed)),
                    None => {
                        externals.insert(name.clone());
                        None
                    }
                })
                .collect();
            let globs: Vec<_> = modules[module_index]
                .globs
                .iter()
                .filter_map(|target| fix(target, modules))
                .collect();
            let module = &mut self.modules[module_index];
            module.references = references;
            module.bindings = bindings;
            module.globs = globs;
            module.externals = externals;
        }
    }
}

/// Every strongly connected set of files with more than one file, as one cycle through it.
fn find_cycles(files: &[PathBuf], edges: &[Edge], root: &Path) -> Vec<Cycle> {
    let index_of: BTreeMap<&PathBuf, usize> =
        files.iter().enumerate().map(|(i, f)| (f, i)).collect();
    let mut adjacency: Vec<Vec<(usize, &Edge)>> = vec![Vec::new(); files.len()];
    for edge in edges {
        adjacency[index_of[&edge.from]].push((index_of[&edge.to], edge));
    }
    let components = strongly_connected(&adjacency);
    let relative = |path: &PathBuf| path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let mut cycles = Vec::new();
    for component in components.into_iter().filter(|c| c.len() > 1) {
        let members: BTreeSet<usize> = component.iter().copied().collect();
        let start = *members.iter().next().expect("non-empty component");
        // Breadth-first from `start` back to `start` inside the component: a shortest cycle.
        let mut previous: BTreeMap<usize, (usize, &Edge)> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closing: Option<(usize, &Edge)> = None;
        while let Some(node) = queue.pop_front() {
            for (next, edge) in &adjacency[node] {
                if !members.contains(next) {
                    continue;
                }
                if *next == start {
                    closing = Some((node, edge));
                    break;
                }
                if !previous.contains_key(next) {
                    previous.insert(*next, (node, edge));
                    queue.push_back(*next);
                }
            }
            if closing.is_some() {
                break;
            }
        }
        let Some((last, closing_edge)) = closing else {
            continue;
        };
        let mut path = vec![closing_edge];
        let mut node = last;
        while node != start {
            let (before, edge) = previous[&node];
            path.push(edge);
            node = before;
        }
        path.reverse();
        cycles.push(Cycle {
            edges: path
                .into_iter()
                .map(|edge| Edge {
                    from: relative(&edge.from),
                    to: relative(&edge.to),
                    reason: edge.reason.clone(),
                })
                .collect(),
        });
    }
    cycles
}

/// Tarjan's algorithm, iterative.
fn strongly_connected(adjacency: &[Vec<(usize, &Edge)>]) -> Vec<Vec<usize>> {
    let count = adjacency.len();
    let mut index = vec![usize::MAX; count];
    let mut low = vec![0; count];
    let mut on_stack = vec![false; count];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut counter = 0;
    for start in 0..count {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        index[start] = counter;
        low[start] = counter;
        counter += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some((node, cursor)) = work.last_mut() {
            let node = *node;
            if let Some((next, _)) = adjacency[node].get(*cursor) {
                *cursor += 1;
                let next = *next;
                if index[next] == usize::MAX {
                    index[next] = counter;
                    low[next] = counter;
                    counter += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _)) = work.last() {
                low[*parent] = low[*parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests;
