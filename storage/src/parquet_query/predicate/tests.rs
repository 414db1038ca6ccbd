use std::sync::Arc;

use arrow::array::{BooleanArray, Float64Array, Int32Array, Int64Array, StringArray};

use super::*;

fn compare(op: CompareOp, literal: Literal) -> ColumnPredicate {
    ColumnPredicate::Compare { op, literal }
}

fn mask(array: BooleanArray) -> Vec<bool> {
    (0..array.len()).map(|row| array.value(row)).collect()
}

#[test]
fn ranges_prune_by_min_max_and_nulls() {
    let eq = compare(CompareOp::Eq, Literal::Int(418));
    assert!(!eq.may_match_range(Some(StatValue::Int(200)), Some(StatValue::Int(404)), false));
    assert!(eq.may_match_range(Some(StatValue::Int(200)), Some(StatValue::Int(500)), false));
    // an all-null chunk never matches, whatever the bounds
    assert!(!eq.may_match_range(None, None, true));
    // no bounds: cannot rule out
    assert!(eq.may_match_range(None, None, false));
    let ge = compare(CompareOp::Ge, Literal::Int(500));
    assert!(!ge.may_match_range(Some(StatValue::Int(200)), Some(StatValue::Int(499)), false));
    assert!(ge.may_match_range(Some(StatValue::Int(200)), Some(StatValue::Int(500)), false));
    let ne = compare(CompareOp::Ne, Literal::Int(7));
    assert!(!ne.may_match_range(Some(StatValue::Int(7)), Some(StatValue::Int(7)), false));
    assert!(ne.may_match_range(Some(StatValue::Int(7)), Some(StatValue::Int(8)), false));
    // cross-numeric: an int column sees a float literal
    let float = compare(CompareOp::Gt, Literal::Float(1.5));
    assert!(float.may_match_range(Some(StatValue::Int(0)), Some(StatValue::Int(2)), false));
    assert!(!float.may_match_range(Some(StatValue::Int(0)), Some(StatValue::Int(1)), false));
    // strings byte-wise
    let text = compare(CompareOp::Eq, Literal::text("payment"));
    assert!(!text.may_match_range(
        Some(StatValue::Bytes(b"api")),
        Some(StatValue::Bytes(b"cart")),
        false
    ));
    // a literal of another kind matches nothing
    assert!(!text.may_match_range(Some(StatValue::Int(1)), Some(StatValue::Int(9)), false));
    let set = ColumnPredicate::IntIn(Arc::from(vec![3, 10]));
    assert!(!set.may_match_range(Some(StatValue::Int(4)), Some(StatValue::Int(9)), false));
    assert!(set.may_match_range(Some(StatValue::Int(4)), Some(StatValue::Int(10)), false));
    let nan = compare(CompareOp::Eq, Literal::Float(f64::NAN));
    assert!(!nan.may_match_range(Some(StatValue::Int(0)), Some(StatValue::Int(9)), false));
    assert!(
        compare(CompareOp::Ne, Literal::Float(f64::NAN)).may_match_range(
            Some(StatValue::Int(0)),
            Some(StatValue::Int(9)),
            false
        )
    );
}

#[test]
fn single_values_follow_the_typed_rules() {
    assert!(compare(CompareOp::Eq, Literal::Float(1.0)).matches(StatValue::Int(1)));
    assert!(compare(CompareOp::Lt, Literal::Int(2)).matches(StatValue::Float(1.5)));
    assert!(!compare(CompareOp::Eq, Literal::Int(1)).matches(StatValue::Bytes(b"1")));
    assert!(!compare(CompareOp::Ne, Literal::Int(1)).matches(StatValue::Bytes(b"1")));
    assert!(compare(CompareOp::Ne, Literal::Bool(true)).matches(StatValue::Bool(false)));
    assert!(!compare(CompareOp::Lt, Literal::Bool(true)).matches(StatValue::Bool(false)));
    assert!(compare(CompareOp::Ge, Literal::text("40")).matches(StatValue::Bytes(b"404")));
    assert!(compare(CompareOp::Ne, Literal::Float(f64::NAN)).matches(StatValue::Int(1)));
    assert!(!compare(CompareOp::Eq, Literal::Float(f64::NAN)).matches(StatValue::Float(f64::NAN)));
}

#[test]
fn arrays_are_evaluated_row_by_row_and_nulls_never_match() {
    let ints = Int64Array::from(vec![Some(1), None, Some(500), Some(404)]);
    assert_eq!(
        mask(
            compare(CompareOp::Ge, Literal::Int(404))
                .evaluate(&ints)
                .unwrap()
        ),
        vec![false, false, true, true]
    );
    assert_eq!(
        mask(
            compare(CompareOp::Ne, Literal::Int(1))
                .evaluate(&ints)
                .unwrap()
        ),
        vec![false, false, true, true]
    );
    assert_eq!(
        mask(
            compare(CompareOp::Eq, Literal::Float(500.0))
                .evaluate(&ints)
                .unwrap()
        ),
        vec![false, false, true, false]
    );
    let small = Int32Array::from(vec![2, 3]);
    assert_eq!(
        mask(
            ColumnPredicate::IntIn(Arc::from(vec![3]))
                .evaluate(&small)
                .unwrap()
        ),
        vec![false, true]
    );
    let floats = Float64Array::from(vec![f64::NAN, 1.0]);
    assert_eq!(
        mask(
            compare(CompareOp::Ne, Literal::Int(1))
                .evaluate(&floats)
                .unwrap()
        ),
        vec![true, false]
    );
    assert_eq!(
        mask(
            compare(CompareOp::Gt, Literal::Int(0))
                .evaluate(&floats)
                .unwrap()
        ),
        vec![false, true]
    );
    let strings = StringArray::from(vec![Some("a"), None, Some("b")]);
    assert_eq!(
        mask(
            compare(CompareOp::Eq, Literal::text("b"))
                .evaluate(&strings)
                .unwrap()
        ),
        vec![false, false, true]
    );
    assert_eq!(
        mask(
            compare(CompareOp::Eq, Literal::Int(1))
                .evaluate(&strings)
                .unwrap()
        ),
        vec![false, false, false]
    );
    assert_eq!(
        mask(ColumnPredicate::NotNull.evaluate(&strings).unwrap()),
        vec![true, false, true]
    );
    let flags = BooleanArray::from(vec![true, false]);
    assert_eq!(
        mask(
            compare(CompareOp::Ne, Literal::Bool(true))
                .evaluate(&flags)
                .unwrap()
        ),
        vec![false, true]
    );
}
