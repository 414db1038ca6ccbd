//! `contrail-cli traceql ...`: TraceQL checks for users who lint queries in CI and for outside
//! conformance runs. `check` parses and validates each query and prints one line per query:
//! `ok<TAB>canonical form` or `error<TAB>parse|validate|unsupported<TAB>message`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TraceqlCommand {
    /// Parse and validate queries from the arguments, or from stdin one per line.
    ///
    /// Prints `ok<TAB>canonical form` or `error<TAB>parse|validate|unsupported<TAB>message`
    /// for each query, and exits with status 1 if any query fails. Blank stdin lines are
    /// skipped; newlines inside printed text are shown as `\n` so each query stays one line.
    Check { queries: Vec<String> },
}

pub fn run(command: TraceqlCommand) -> anyhow::Result<ExitCode> {
    match command {
        TraceqlCommand::Check { queries } => {
            let mut stdout = std::io::stdout().lock();
            let all_passed = if queries.is_empty() {
                let lines = std::io::stdin().lock().lines();
                let mut all_passed = true;
                for line in lines {
                    let line = line?;
                    let query = line.trim_end_matches('\r');
                    if query.trim().is_empty() {
                        continue;
                    }
                    all_passed &= check_query(query, &mut stdout)?;
                }
                all_passed
            } else {
                check_queries(queries.iter().map(String::as_str), &mut stdout)?
            };
            stdout.flush()?;
            Ok(if all_passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Checks every query, writing one line each; returns whether all of them passed.
pub fn check_queries<'a>(
    queries: impl IntoIterator<Item = &'a str>,
    out: &mut impl Write,
) -> std::io::Result<bool> {
    let mut all_passed = true;
    for query in queries {
        all_passed &= check_query(query, out)?;
    }
    Ok(all_passed)
}

/// Checks one query and writes its line; returns whether it passed.
pub fn check_query(query: &str, out: &mut impl Write) -> std::io::Result<bool> {
    match contrail_traceql::parse_and_validate(query) {
        Ok(root) => {
            writeln!(out, "ok\t{}", one_line(&root.to_string()))?;
            Ok(true)
        }
        Err(error) => {
            writeln!(
                out,
                "error\t{}\t{}",
                error.kind(),
                one_line(&error.to_string())
            )?;
            Ok(false)
        }
    }
}

fn one_line(text: &str) -> String {
    text.replace('\r', "\\r").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(queries: &[&str]) -> (bool, String) {
        let mut out = Vec::new();
        let passed = check_queries(queries.iter().copied(), &mut out).expect("writing to a vec");
        (passed, String::from_utf8(out).expect("utf-8 output"))
    }

    #[test]
    fn valid_queries_print_their_canonical_form() {
        let (passed, out) = lines(&["{ span:duration>1s }", "{} | rate() by(name)"]);
        assert!(passed);
        assert_eq!(
            out,
            "ok\t{ duration > 1s }\nok\t{ true } | rate() by (name)\n"
        );
    }

    #[test]
    fn failures_print_their_class_and_message() {
        let (passed, out) = lines(&["{ .a < 3", "{ 1 = \"a\" }", "{ parent.a = 1 }", "{ .a }"]);
        assert!(!passed);
        let printed: Vec<&str> = out.lines().collect();
        assert_eq!(printed.len(), 4);
        assert_eq!(
            printed[0],
            "error\tparse\tparse error at line 1, col 9: expected '}'"
        );
        assert!(
            printed[1].starts_with("error\tvalidate\t"),
            "{}",
            printed[1]
        );
        assert!(
            printed[2].starts_with("error\tunsupported\tunsupported: "),
            "{}",
            printed[2]
        );
        assert_eq!(printed[3], "ok\t{ .a }");
    }

    #[test]
    fn output_stays_one_line_per_query() {
        let (passed, out) = lines(&["{ .\"a\nb\" = 1 }"]);
        assert!(passed);
        assert_eq!(out, "ok\t{ .\"a\\nb\" = 1 }\n");
    }
}
