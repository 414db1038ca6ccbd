//! The shared TraceQL conformance corpus: every query must land in its class, and every valid
//! query must survive print → parse unchanged.

use contrail_traceql::{ErrorKind, parse, parse_and_validate, validate};

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/traceql_examples.yaml"
);
const EXPECTED_TOTAL: usize = 463;

#[derive(serde::Deserialize)]
struct Examples {
    valid: Vec<String>,
    parse_fails: Vec<String>,
    validate_fails: Vec<String>,
    unsupported: Vec<String>,
}

fn load() -> Examples {
    let text = std::fs::read_to_string(EXAMPLES)
        .unwrap_or_else(|error| panic!("reading {EXAMPLES}: {error}"));
    serde_yaml::from_str(&text).unwrap_or_else(|error| panic!("parsing {EXAMPLES}: {error}"))
}

/// `Ok(())` when the query lands in `expected`, else a description of where it landed.
fn classify(query: &str, expected: Option<ErrorKind>) -> Result<(), String> {
    let outcome = parse_and_validate(query)
        .map(|_| ())
        .map_err(|error| (error.kind(), error.to_string()));
    match (expected, outcome) {
        (None, Ok(())) => Ok(()),
        (Some(kind), Err((actual, message))) if kind == actual => {
            if kind == ErrorKind::Unsupported && !message.contains("unsupported") {
                return Err(format!("unsupported error does not say so: {message}"));
            }
            Ok(())
        }
        (_, Ok(())) => Err("accepted".to_owned()),
        (_, Err((_, message))) => Err(message),
    }
}

#[test]
fn conformance_corpus() {
    let examples = load();
    let classes = [
        ("valid", None, &examples.valid),
        ("parse_fails", Some(ErrorKind::Parse), &examples.parse_fails),
        (
            "validate_fails",
            Some(ErrorKind::Validate),
            &examples.validate_fails,
        ),
        (
            "unsupported",
            Some(ErrorKind::Unsupported),
            &examples.unsupported,
        ),
    ];
    let mut total = 0;
    let mut failures = Vec::new();
    for (class, expected, queries) in classes {
        for query in queries.iter() {
            total += 1;
            if let Err(outcome) = classify(query, expected) {
                failures.push(format!("  [{class}] {query}  →  {outcome}"));
            }
        }
    }
    let passed = total - failures.len();
    println!("traceql conformance: {passed}/{total}");
    assert_eq!(total, EXPECTED_TOTAL, "the corpus changed size");
    assert!(
        failures.is_empty(),
        "traceql conformance: {passed}/{total}, misclassified:\n{}",
        failures.join("\n")
    );
}

#[test]
fn valid_queries_round_trip() {
    let examples = load();
    let mut failures = Vec::new();
    for query in &examples.valid {
        let Ok(ast) = parse(query) else {
            failures.push(format!("  {query}  →  does not parse"));
            continue;
        };
        let printed = ast.to_string();
        match parse(&printed) {
            Ok(reparsed) if reparsed == ast => {
                if let Err(error) = validate(&reparsed) {
                    failures.push(format!(
                        "  {query}  →  {printed}  →  no longer valid: {error}"
                    ));
                }
                if reparsed.to_string() != printed {
                    failures.push(format!("  {query}  →  {printed}  →  prints differently"));
                }
            }
            Ok(_) => failures.push(format!("  {query}  →  {printed}  →  different AST")),
            Err(error) => failures.push(format!("  {query}  →  {printed}  →  {error}")),
        }
    }
    println!(
        "traceql round trip: {}/{}",
        examples.valid.len() - failures.len(),
        examples.valid.len()
    );
    assert!(
        failures.is_empty(),
        "round trip failures:\n{}",
        failures.join("\n")
    );
}
