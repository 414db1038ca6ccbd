//! Runs the real `contrail-cli traceql check` binary with queries as arguments and on stdin.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_contrail-cli"));
    command.args(["traceql", "check"]);
    command
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

#[test]
fn arguments_all_valid_exit_zero() {
    let output = cli()
        .args(["{ span:duration > 1s }", "{} | count_over_time() by (name)"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout_of(&output),
        "ok\t{ duration > 1s }\nok\t{ true } | count_over_time() by (name)\n"
    );
}

#[test]
fn arguments_with_a_failure_exit_non_zero() {
    let output = cli().args(["{ .a }", "{ .a < 3"]).output().expect("runs");
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(
        stdout_of(&output),
        "ok\t{ .a }\nerror\tparse\tparse error at line 1, col 9: expected '}'\n"
    );
}

#[test]
fn stdin_one_query_per_line() {
    let mut child = cli()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(
            b"{ status = error }\n\n{ 1 = \"a\" }\r\n({ .a } | count()) > ({ .b } | count())\n",
        )
        .expect("writes stdin");
    drop(stdin);
    let output = child.wait_with_output().expect("finishes");
    assert!(!output.status.success(), "{output:?}");
    let stdout = stdout_of(&output);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], "ok\t{ status = error }");
    assert!(lines[1].starts_with("error\tvalidate\t"), "{stdout}");
    assert!(lines[2].starts_with("error\tunsupported\t"), "{stdout}");
}
