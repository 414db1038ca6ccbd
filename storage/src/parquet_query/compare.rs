//! The comparison operator of column predicates and its arrow kernel: the bottom of
//! `parquet_query`'s predicate modules (it imports none of them).

use std::cmp::Ordering;

use arrow::array::{BooleanArray, Datum};
use arrow::compute::kernels::cmp;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub(crate) fn holds(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Ne => ordering != Ordering::Equal,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
        }
    }
}

/// `left OP right` by arrow's comparison kernels.
pub(crate) fn kernel(
    op: CompareOp,
    left: &dyn Datum,
    right: &dyn Datum,
) -> Result<BooleanArray, arrow::error::ArrowError> {
    match op {
        CompareOp::Eq => cmp::eq(left, right),
        CompareOp::Ne => cmp::neq(left, right),
        CompareOp::Lt => cmp::lt(left, right),
        CompareOp::Le => cmp::lt_eq(left, right),
        CompareOp::Gt => cmp::gt(left, right),
        CompareOp::Ge => cmp::gt_eq(left, right),
    }
}
