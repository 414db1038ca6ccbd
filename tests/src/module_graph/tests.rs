use std::path::Path;

use super::cycles;

/// Writes `files` (relative path, content) into a fresh `src/` and returns the temp dir.
fn crate_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    dir
}

fn cycle_files(src: &Path) -> Vec<Vec<String>> {
    cycles(src)
        .expect("graph builds")
        .into_iter()
        .map(|cycle| {
            let mut files: Vec<String> = cycle
                .edges
                .iter()
                .map(|edge| edge.from.display().to_string())
                .collect();
            files.sort();
            files
        })
        .collect()
}

#[test]
fn a_child_using_an_item_of_its_parent_is_a_cycle() {
    let dir = crate_with(&[
        ("lib.rs", "mod block;"),
        (
            "block/mod.rs",
            "mod reader;\npub(crate) fn corrupt() {}\npub use reader::Reader;",
        ),
        (
            "block/reader.rs",
            "pub struct Reader;\nfn f() { crate::block::corrupt(); }",
        ),
    ]);
    assert_eq!(
        cycle_files(dir.path()),
        vec![vec![
            "block/mod.rs".to_owned(),
            "block/reader.rs".to_owned()
        ]]
    );
    let text = cycles(dir.path()).unwrap()[0].to_string();
    assert!(text.contains("crate::block::corrupt"), "{text}");
}

#[test]
fn re_exports_of_a_child_resolve_to_the_child() {
    let dir = crate_with(&[
        (
            "lib.rs",
            "mod error;\nmod block;\npub use error::{Error as E, Result};",
        ),
        ("error.rs", "pub struct Error;\npub type Result = ();"),
        ("block/mod.rs", "mod paths;\nmod reader;\npub use paths::*;"),
        ("block/paths.rs", "pub fn corrupt() {}"),
        (
            "block/reader.rs",
            "use crate::E;\nuse super::corrupt;\nfn f() -> crate::Result { corrupt() }",
        ),
    ]);
    assert!(cycle_files(dir.path()).is_empty());
}

#[test]
fn sibling_cycles_through_super_and_self_are_found_and_test_modules_are_not_counted() {
    let dir = crate_with(&[
        ("lib.rs", "mod a;\nmod b;\n#[cfg(test)]\nmod tests;"),
        ("a.rs", "use super::b::B;\npub struct A;"),
        ("b.rs", "pub struct B;\nfn f() { let _ = crate::a::A; }"),
        ("tests.rs", "use super::*;"),
    ]);
    assert_eq!(
        cycle_files(dir.path()),
        vec![vec!["a.rs".to_owned(), "b.rs".to_owned()]]
    );

    let dir = crate_with(&[
        (
            "lib.rs",
            "mod a;\n#[cfg(test)]\nmod tests;\npub fn helper() {}",
        ),
        (
            "a.rs",
            "pub struct A;\nmod inner { use super::A; }\n#[cfg(test)]\nmod tests { use crate::helper; }",
        ),
        ("tests.rs", "use super::*;"),
    ]);
    assert!(cycle_files(dir.path()).is_empty());
}

#[test]
fn external_crates_and_local_names_are_not_edges() {
    let dir = crate_with(&[
        ("lib.rs", "mod a;\nmod b;"),
        (
            "a.rs",
            "use std::sync::Arc;\nuse tokio::sync::Semaphore;\nuse super::b;\nfn f() { b::g(); }",
        ),
        ("b.rs", "pub fn g() { let _ = std::mem::size_of::<u8>(); }"),
    ]);
    assert!(cycle_files(dir.path()).is_empty());
}
