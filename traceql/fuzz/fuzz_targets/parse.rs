//! Parse + validate + Display on arbitrary input: no panic, and whatever parses prints a
//! canonical form that parses back to the same AST.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let Ok(root) = contrail_traceql::parse(query) else { return };
    let validated = contrail_traceql::validate(&root);
    let printed = root.to_string();
    let reparsed = match contrail_traceql::parse(&printed) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("canonical form {printed:?} of {query:?} does not parse: {error}"),
    };
    assert_eq!(root, reparsed, "canonical form {printed:?} of {query:?} parses differently");
    assert_eq!(validated.is_ok(), contrail_traceql::validate(&reparsed).is_ok());
});
