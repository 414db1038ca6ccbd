//! Fails when a workspace crate depends on a crate it must not (the table in ARCHITECTURE.md).

use std::collections::BTreeMap;
use std::process::Command;

/// For each crate: the internal crates its `[dependencies]` may name.
fn allowed_edges() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("contrail-proto", &[][..]),
        ("contrail-traceql", &["contrail-proto"][..]),
        (
            "contrail-storage",
            &["contrail-proto", "contrail-traceql"][..],
        ),
        ("contrail-overrides", &["contrail-proto"][..]),
        ("contrail-ring", &["contrail-proto"][..]),
        (
            "contrail-distributor",
            &["contrail-proto", "contrail-ring", "contrail-overrides"][..],
        ),
        (
            "contrail-ingester",
            &[
                "contrail-proto",
                "contrail-storage",
                "contrail-traceql",
                "contrail-ring",
                "contrail-overrides",
            ][..],
        ),
        (
            "contrail-querier",
            &[
                "contrail-proto",
                "contrail-storage",
                "contrail-traceql",
                "contrail-ring",
                "contrail-overrides",
            ][..],
        ),
        (
            "contrail-compactor",
            &["contrail-proto", "contrail-storage", "contrail-overrides"][..],
        ),
        ("contrail-loadgen", &["contrail-proto"][..]),
        (
            "contrail",
            &[
                "contrail-proto",
                "contrail-storage",
                "contrail-traceql",
                "contrail-ring",
                "contrail-overrides",
                "contrail-distributor",
                "contrail-ingester",
                "contrail-querier",
                "contrail-compactor",
            ][..],
        ),
        ("contrail-tests", &["contrail", "contrail-proto"][..]),
    ])
}

#[test]
fn workspace_crates_respect_the_dependency_table() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("metadata is json");
    let allowed = allowed_edges();
    let packages = metadata["packages"].as_array().expect("packages");
    let internal: Vec<&str> = packages
        .iter()
        .filter_map(|package| package["name"].as_str())
        .collect();
    let mut violations = Vec::new();
    for package in packages {
        let name = package["name"].as_str().expect("name");
        let Some(allowed_for_crate) = allowed.get(name) else {
            violations.push(format!(
                "{name}: not in the dependency table; add it there first"
            ));
            continue;
        };
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let dependency_name = dependency["name"].as_str().expect("dependency name");
            let is_normal = dependency["kind"].is_null();
            if is_normal
                && internal.contains(&dependency_name)
                && !allowed_for_crate.contains(&dependency_name)
            {
                violations.push(format!("{name} must not depend on {dependency_name}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependency rules broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_table_rejects_a_forbidden_edge() {
    let allowed = allowed_edges();
    assert!(!allowed["contrail-traceql"].contains(&"contrail-storage"));
    assert!(!allowed["contrail-distributor"].contains(&"contrail-ingester"));
    assert!(!allowed["contrail-proto"].contains(&"contrail-traceql"));
}
