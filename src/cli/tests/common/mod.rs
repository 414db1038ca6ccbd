//! Helpers shared by the CLI tests: running `contrail-cli` and reading its `key: value` lines.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub(crate) fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contrail-cli"))
        .args(args)
        .output()
        .expect("run contrail-cli")
}

/// Runs `block write` from `input` into `data`, cutting blocks at `max_block_spans`; must succeed.
pub(crate) fn write_blocks(input: &Path, data: &Path, max_block_spans: usize) -> Output {
    let max_block_spans = max_block_spans.to_string();
    let output = cli(&[
        "block",
        "write",
        "--from",
        input.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
        "--max-block-spans",
        &max_block_spans,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn value_of<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}
