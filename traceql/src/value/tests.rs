//! The comparison tables of ../shared/spec/traceql.md §7, written from the spec.

use super::*;
use crate::ast::{SpanKind, Status};

fn int(value: i64) -> Value {
    Value::Int(value)
}
fn float(value: f64) -> Value {
    Value::Float(value)
}
fn text(value: &str) -> Value {
    Value::string(value)
}
fn array(items: Vec<Value>) -> Value {
    Value::Array(Arc::from(items))
}
fn holds(op: CompareOp, lhs: &Value, rhs: &Value) -> bool {
    compare(op, lhs, rhs).expect("comparable")
}

#[test]
fn nil_is_false_for_every_operator_including_not_equal() {
    use CompareOp::*;
    for op in [Eq, Ne, Lt, Le, Gt, Ge] {
        assert!(!holds(op, &Value::Nil, &int(1)), "nil {} 1", op.symbol());
        assert!(!holds(op, &int(1), &Value::Nil), "1 {} nil", op.symbol());
        assert!(
            !holds(op, &Value::Nil, &Value::Nil),
            "nil {} nil",
            op.symbol()
        );
    }
}

#[test]
fn numbers_compare_across_types_and_ints_exactly() {
    assert!(holds(CompareOp::Eq, &int(1), &float(1.0)));
    assert!(holds(CompareOp::Lt, &int(1), &float(1.1)));
    // int = duration compares raw nanoseconds
    assert!(holds(
        CompareOp::Eq,
        &Value::Duration(100_000_000),
        &int(100_000_000)
    ));
    assert!(holds(
        CompareOp::Gt,
        &Value::Duration(2_000),
        &float(1999.5)
    ));
    // exact beyond f64 precision
    assert!(holds(CompareOp::Ne, &int(i64::MAX), &int(i64::MAX - 1)));
    assert!(holds(CompareOp::Lt, &int(i64::MAX - 1), &int(i64::MAX)));
    // NaN: only != holds
    let nan = float(f64::NAN);
    assert!(holds(CompareOp::Ne, &nan, &float(1.0)));
    assert!(!holds(CompareOp::Eq, &nan, &nan));
    assert!(!holds(CompareOp::Lt, &nan, &float(1.0)));
}

#[test]
fn strings_compare_bytewise() {
    assert!(holds(CompareOp::Ge, &text("404"), &text("40")));
    assert!(holds(CompareOp::Gt, &text("123"), &text("")));
    assert!(holds(CompareOp::Lt, &text("B"), &text("a")));
    assert!(holds(CompareOp::Eq, &text("x"), &text("x")));
    assert!(!holds(CompareOp::Ne, &text("x"), &text("x")));
}

#[test]
fn mismatched_types_are_false_not_errors() {
    use CompareOp::*;
    for op in [Eq, Ne, Lt, Gt] {
        assert!(!holds(op, &text("1"), &int(1)));
        assert!(!holds(op, &Value::Bool(true), &int(1)));
        assert!(!holds(
            op,
            &Value::Status(Status::Ok),
            &Value::Kind(SpanKind::Server)
        ));
    }
}

#[test]
fn bool_status_kind_support_only_equality() {
    assert!(holds(CompareOp::Eq, &Value::Bool(true), &Value::Bool(true)));
    assert!(holds(
        CompareOp::Ne,
        &Value::Bool(true),
        &Value::Bool(false)
    ));
    assert!(!holds(
        CompareOp::Gt,
        &Value::Bool(true),
        &Value::Bool(false)
    ));
    assert!(holds(
        CompareOp::Eq,
        &Value::Status(Status::Error),
        &Value::Status(Status::Error)
    ));
    assert!(holds(
        CompareOp::Ne,
        &Value::Kind(SpanKind::Client),
        &Value::Kind(SpanKind::Server)
    ));
    assert!(!holds(
        CompareOp::Lt,
        &Value::Kind(SpanKind::Client),
        &Value::Kind(SpanKind::Server)
    ));
}

#[test]
fn arrays_match_if_some_element_does_and_not_equal_if_none_is_equal() {
    let tags = array(vec![text("a"), text("b")]);
    assert!(holds(CompareOp::Eq, &tags, &text("b")));
    assert!(holds(CompareOp::Eq, &text("b"), &tags));
    assert!(!holds(CompareOp::Ne, &tags, &text("b")));
    assert!(holds(CompareOp::Ne, &tags, &text("c")));
    let numbers = array(vec![int(1), int(5)]);
    assert!(holds(CompareOp::Gt, &numbers, &int(4)));
    assert!(holds(CompareOp::Lt, &int(4), &numbers));
    assert!(!holds(CompareOp::Gt, &numbers, &int(5)));
    let empty = array(vec![]);
    assert!(!holds(CompareOp::Eq, &empty, &text("a")));
    assert!(holds(CompareOp::Ne, &empty, &text("a")));
    assert!(compare(CompareOp::Eq, &tags, &tags).is_err());
}

#[test]
fn regexes_are_fully_anchored_and_dot_matches_newline() {
    let db = compile_regex("db").unwrap();
    assert!(!matches_regex(&text("db query"), &db, false));
    assert!(matches_regex(&text("db query"), &db, true));
    let any = compile_regex("a.*").unwrap();
    assert!(matches_regex(&text("a\nb"), &any, false));
    assert!(!matches_regex(&int(1), &any, false));
    assert!(!matches_regex(&int(1), &any, true));
    let tags = array(vec![text("x"), text("abc")]);
    assert!(matches_regex(&tags, &any, false));
    assert!(!matches_regex(&tags, &any, true));
    assert!(matches_regex(&array(vec![text("x")]), &any, true));
}

#[test]
fn hex_ids_normalise_leading_zeros_and_case() {
    assert_eq!(normalize_hex_id("000000C2"), "c2");
    assert_eq!(normalize_hex_id("00ab12"), normalize_hex_id("ab12"));
    assert_eq!(normalize_hex_id("0000"), "");
}

#[test]
fn go_duration_strings() {
    assert_eq!(format_go_duration(0), "0s");
    assert_eq!(format_go_duration(5), "5ns");
    assert_eq!(format_go_duration(1_500), "1.5µs");
    assert_eq!(format_go_duration(100_000_000), "100ms");
    assert_eq!(format_go_duration(1_500_000_000), "1.5s");
    assert_eq!(format_go_duration(150_000_000_000), "2m30s");
    assert_eq!(format_go_duration(3_723_000_000_000), "1h2m3s");
    assert_eq!(format_go_duration(-2_000_000), "-2ms");
}
