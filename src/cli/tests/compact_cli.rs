//! `contrail-cli block compact` on a local folder: three replicas of a corpus (RF3 as three
//! ingesters would write it) become one block holding each span once.

mod common;

use common::{cli, stdout, value_of, write_blocks};
use contrail_loadgen::corpus::CorpusConfig;

#[test]
fn compact_merges_rf3_replicas_into_one_block_and_reports_it() {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("corpus");
    let data = temp.path().join("data");
    let summary =
        contrail_loadgen::files::write_corpus(&input, CorpusConfig::default(), 300, 1000).unwrap();
    for _replica in 0..3 {
        write_blocks(&input, &data, 2500);
    }
    let listed = stdout(&cli(&["block", "list", data.to_str().unwrap()]));
    let level0_blocks = listed.lines().skip(1).count();
    assert!(level0_blocks >= 6, "{listed}");

    let output = cli(&[
        "block",
        "compact",
        data.to_str().unwrap(),
        "--max-input-blocks",
        "64",
    ]);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(value_of(&text, "jobs"), "1", "{text}");
    assert_eq!(value_of(&text, "input blocks"), level0_blocks.to_string());
    let spans = summary.spans;
    assert_eq!(value_of(&text, "input spans"), (3 * spans).to_string());
    assert_eq!(value_of(&text, "output spans"), spans.to_string());
    assert_eq!(value_of(&text, "duplicate spans"), (2 * spans).to_string());
    let input_bytes: u64 = value_of(&text, "input bytes").parse().unwrap();
    let output_bytes: u64 = value_of(&text, "output bytes").parse().unwrap();
    assert!(output_bytes * 2 < input_bytes, "{text}");
    assert!(text.contains("tenant single-tenant:"), "{text}");

    let listed = stdout(&cli(&["block", "list", data.to_str().unwrap()]));
    let live: Vec<&str> = listed
        .lines()
        .filter(|line| line.contains("\tlive\t"))
        .collect();
    assert_eq!(live.len(), 1, "{listed}");
    assert!(live[0].contains(&format!("\t{spans}\t")), "{listed}");
    assert_eq!(
        listed
            .lines()
            .filter(|line| line.contains("\tcompacted\t"))
            .count(),
        level0_blocks
    );
    assert!(data.join("single-tenant").join("index.json.zst").exists());

    // A second cycle has nothing left to do.
    let output = cli(&[
        "block",
        "compact",
        data.to_str().unwrap(),
        "--tenant",
        "single-tenant",
    ]);
    assert!(output.status.success());
    assert_eq!(value_of(&stdout(&output), "jobs"), "0");
}

#[test]
fn compact_refuses_bad_arguments_naming_them() {
    let temp = tempfile::tempdir().unwrap();
    let output = cli(&[
        "block",
        "compact",
        temp.path().to_str().unwrap(),
        "--zstd-level",
        "99",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("zstd_level"), "{stderr}");

    let output = cli(&[
        "block",
        "compact",
        temp.path().to_str().unwrap(),
        "--tenant",
        "a/b",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid tenant"));

    let output = cli(&[
        "block",
        "compact",
        temp.path().join("missing").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("missing"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
