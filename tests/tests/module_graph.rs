//! Fails when a crate's file-level import graph has a cycle, naming the files and the imports
//! that close it (see `contrail_tests::module_graph` for what counts as an edge).

use std::path::PathBuf;

fn assert_acyclic(crate_dir: &str) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    let cycles = contrail_tests::module_graph::cycles(&src)
        .unwrap_or_else(|error| panic!("cannot build the module graph of {crate_dir}: {error}"));
    let report: Vec<String> = cycles.iter().map(ToString::to_string).collect();
    assert!(
        cycles.is_empty(),
        "{crate_dir}/src has {} import cycle(s):\n{}",
        cycles.len(),
        report.join("\n")
    );
}

#[test]
fn storage_modules_form_a_dag() {
    assert_acyclic("storage");
}

#[test]
fn proto_modules_form_a_dag() {
    assert_acyclic("proto");
}

#[test]
fn traceql_modules_form_a_dag() {
    assert_acyclic("traceql");
}
