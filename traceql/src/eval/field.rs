//! Field expressions per span, and spanset filters over the spans of a trace.
//!
//! A filter runs its tests first, one column at a time over the candidate rows (a dictionary
//! column answers a test once per distinct value), then its terms row by row, each only on the
//! rows that passed everything before it. `&&` and `||` short-circuit left to right. A nil
//! operand of `!` / unary `-` fails the query when the operator sits under `||` or `!`, and
//! otherwise makes the span not match (ADR 006).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::arith::{self, UnaryOutcome};
use crate::eval::bind::{BatchView, Column, Cursor, TraceValues};
use crate::eval::error::QueryError;
use crate::eval::program::{AttrId, Expr, Filter, Test};
use crate::fetch::ValueColumn;
use crate::value::{self, CompareOp, Value};

/// Why evaluation of an expression stopped.
#[derive(Debug)]
pub enum Flow {
    /// The span does not match (a nil under a non-strict prefix operator).
    Exclude,
    /// The query fails.
    Error(QueryError),
}

impl From<value::ValueError> for Flow {
    fn from(error: value::ValueError) -> Self {
        Flow::Error(QueryError {
            message: error.message,
        })
    }
}

/// Whether `test` holds for `value`.
pub fn test_holds(test: &Test, value: &Value) -> bool {
    match test {
        Test::Compare { op, value: literal } => {
            value::compare(*op, value, literal).unwrap_or(false)
        }
        Test::IdEquals {
            normalized,
            negated,
            ..
        } => match value {
            Value::String(text) => {
                let equal = normalized.as_deref().is_some_and(|normalized| {
                    text.trim_start_matches('0')
                        .eq_ignore_ascii_case(normalized)
                });
                equal != *negated
            }
            _ => false,
        },
        Test::Regex { regex, negated, .. } => value::matches_regex(value, regex, *negated),
        Test::Exists => !value.is_nil(),
        Test::Missing => value.is_nil(),
        Test::IsTrue => matches!(value, Value::Bool(true)),
    }
}

/// Per-batch memo of dictionary tests: for each test (by address), whether it holds for each
/// dictionary value.
#[derive(Debug, Default)]
pub struct DictCache {
    hits: RefCell<HashMap<usize, Rc<Vec<bool>>>>,
}

impl DictCache {
    fn hits(&self, test: &Test, values: &[Value]) -> Rc<Vec<bool>> {
        let key = test as *const Test as usize;
        self.hits
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                Rc::new(values.iter().map(|value| test_holds(test, value)).collect())
            })
            .clone()
    }
}

/// Everything the evaluation of one trace reads.
pub struct Scope<'a, 'b> {
    pub view: &'a BatchView<'b>,
    pub trace: &'a TraceValues,
    pub cache: &'a DictCache,
}

impl<'a, 'b> Scope<'a, 'b> {
    fn test_row(&self, attr: AttrId, test: &Test, row: usize, cursor: Cursor) -> bool {
        if let (
            Column::SpanId,
            Test::IdEquals {
                normalized,
                negated,
                ..
            },
        ) = (self.view.columns[attr], test)
        {
            let id = self.view.batch.spans.span_id[row];
            let equal = normalized
                .as_deref()
                .and_then(|hex| {
                    contrail_proto::SpanId::from_hex(if hex.is_empty() { "0" } else { hex }).ok()
                })
                .is_some_and(|literal| literal == id);
            return equal != *negated;
        }
        test_holds(test, &self.view.value(attr, row, self.trace, cursor))
    }

    /// Evaluates `expr` for span `row`.
    pub fn eval(&self, expr: &'a Expr, row: usize, cursor: Cursor) -> Result<Cow<'a, Value>, Flow> {
        Ok(match expr {
            Expr::Const(value) => Cow::Borrowed(value),
            Expr::Attr(attr) => self.view.value(*attr, row, self.trace, cursor),
            Expr::Test { attr, test } => {
                Cow::Owned(Value::Bool(self.test_row(*attr, test, row, cursor)))
            }
            Expr::Not { operand, strict } => {
                let value = self.eval(operand, row, cursor)?;
                unary(arith::not(&value)?, *strict, "!")?
            }
            Expr::Neg { operand, strict } => {
                let value = self.eval(operand, row, cursor)?;
                unary(arith::negate(&value)?, *strict, "-")?
            }
            Expr::And(lhs, rhs) => {
                let holds = self.holds(lhs, row, cursor)? && self.holds(rhs, row, cursor)?;
                Cow::Owned(Value::Bool(holds))
            }
            Expr::Or(lhs, rhs) => {
                let holds = self.holds(lhs, row, cursor)? || self.holds(rhs, row, cursor)?;
                Cow::Owned(Value::Bool(holds))
            }
            Expr::Compare { op, lhs, rhs } => {
                let left = self.eval(lhs, row, cursor)?;
                let right = self.eval(rhs, row, cursor)?;
                Cow::Owned(Value::Bool(value::compare(*op, &left, &right)?))
            }
            Expr::Regex {
                operand,
                regex,
                negated,
            } => {
                let value = self.eval(operand, row, cursor)?;
                Cow::Owned(Value::Bool(value::matches_regex(&value, regex, *negated)))
            }
            Expr::Arith { op, lhs, rhs } => {
                let left = self.eval(lhs, row, cursor)?;
                let right = self.eval(rhs, row, cursor)?;
                Cow::Owned(arith::arithmetic(*op, &left, &right)?)
            }
            Expr::IsNil { operand, negated } => {
                let value = self.eval(operand, row, cursor)?;
                Cow::Owned(Value::Bool(value.is_nil() != *negated))
            }
        })
    }

    fn holds(&self, expr: &'a Expr, row: usize, cursor: Cursor) -> Result<bool, Flow> {
        Ok(matches!(*self.eval(expr, row, cursor)?, Value::Bool(true)))
    }

    /// A term's verdict for a span: `Exclude` is a non-match, errors fail the query.
    fn term_holds(&self, expr: &'a Expr, row: usize, cursor: Cursor) -> Result<bool, QueryError> {
        match self.holds(expr, row, cursor) {
            Ok(holds) => Ok(holds),
            Err(Flow::Exclude) => Ok(false),
            Err(Flow::Error(error)) => Err(error),
        }
    }

    fn filter_holds_at(
        &self,
        filter: &'a Filter,
        row: usize,
        cursor: Cursor,
    ) -> Result<bool, QueryError> {
        for (attr, test) in &filter.tests {
            if !self.test_row(*attr, test, row, cursor) {
                return Ok(false);
            }
        }
        for term in &filter.terms {
            if !self.term_holds(term, row, cursor)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn filter_holds_per_item(&self, filter: &'a Filter, row: usize) -> Result<bool, QueryError> {
        let events: Vec<Option<usize>> = if filter.per_event {
            let items = self.view.event_items(row);
            if items.is_empty() {
                vec![None]
            } else {
                items.map(Some).collect()
            }
        } else {
            vec![None]
        };
        let links: Vec<Option<usize>> = if filter.per_link {
            let items = self.view.link_items(row);
            if items.is_empty() {
                vec![None]
            } else {
                items.map(Some).collect()
            }
        } else {
            vec![None]
        };
        for event in &events {
            for link in &links {
                let cursor = Cursor {
                    event: *event,
                    link: *link,
                };
                if self.filter_holds_at(filter, row, cursor)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The rows of `input` (sorted) that `filter` keeps, in order.
    pub fn filter(&self, filter: &'a Filter, input: &[u32]) -> Result<Vec<u32>, QueryError> {
        match filter.constant {
            Some(true) => return Ok(input.to_vec()),
            Some(false) => return Ok(Vec::new()),
            None => {}
        }
        if filter.per_event || filter.per_link {
            let mut out = Vec::new();
            for &row in input {
                if self.filter_holds_per_item(filter, row as usize)? {
                    out.push(row);
                }
            }
            return Ok(out);
        }
        let mut rows = input.to_vec();
        for (attr, test) in &filter.tests {
            if rows.is_empty() {
                break;
            }
            match self.view.columns[*attr] {
                Column::Span(ValueColumn::Dict { keys, values }) => {
                    let hits = self.cache.hits(test, values);
                    rows.retain(|row| {
                        keys.get(*row as usize)
                            .and_then(|key| hits.get(*key as usize))
                            .copied()
                            .unwrap_or_else(|| test_holds(test, &Value::Nil))
                    });
                }
                Column::Duration => {
                    let durations = &self.view.batch.spans.duration_nano;
                    if let Test::Compare { op, value: literal } = test {
                        rows.retain(|row| {
                            let value = Value::Duration(durations[*row as usize] as i64);
                            value::compare(*op, &value, literal).unwrap_or(false)
                        });
                    } else {
                        rows.retain(|row| {
                            self.test_row(*attr, test, *row as usize, Cursor::default())
                        });
                    }
                }
                _ => {
                    rows.retain(|row| self.test_row(*attr, test, *row as usize, Cursor::default()))
                }
            }
        }
        for term in &filter.terms {
            if rows.is_empty() {
                break;
            }
            let mut kept = Vec::with_capacity(rows.len());
            for &row in &rows {
                if self.term_holds(term, row as usize, Cursor::default())? {
                    kept.push(row);
                }
            }
            rows = kept;
        }
        Ok(rows)
    }

    /// `expr` of span `row` outside any filter (aggregates, `by()`): a nil under a non-strict
    /// prefix operator reads as nil.
    pub fn value_of(&self, expr: &'a Expr, row: usize) -> Result<Cow<'a, Value>, QueryError> {
        match self.eval(expr, row, Cursor::default()) {
            Ok(value) => Ok(value),
            Err(Flow::Exclude) => Ok(Cow::Owned(Value::Nil)),
            Err(Flow::Error(error)) => Err(error),
        }
    }
}

fn unary<'a>(outcome: UnaryOutcome, strict: bool, symbol: &str) -> Result<Cow<'a, Value>, Flow> {
    match outcome {
        UnaryOutcome::Value(value) => Ok(Cow::Owned(value)),
        UnaryOutcome::Nil if strict => Err(Flow::Error(QueryError {
            message: format!("'{symbol}' applied to a missing attribute (nil)"),
        })),
        UnaryOutcome::Nil => Err(Flow::Exclude),
    }
}

/// Evaluates an expression that reads no span (constant folding).
pub fn eval_constant(expr: &Expr) -> Result<Value, Flow> {
    let batch = crate::fetch::SpanBatch::default();
    let view = BatchView {
        batch: &batch,
        columns: Vec::new(),
    };
    let trace = TraceValues::none();
    let cache = DictCache::default();
    let scope = Scope {
        view: &view,
        trace: &trace,
        cache: &cache,
    };
    scope.eval(expr, 0, Cursor::default()).map(Cow::into_owned)
}

/// `op` as a comparison, for tests and compiled comparisons.
pub fn compare_op(op: crate::ast::FieldOp) -> Option<CompareOp> {
    use crate::ast::FieldOp;
    Some(match op {
        FieldOp::Eq => CompareOp::Eq,
        FieldOp::Ne => CompareOp::Ne,
        FieldOp::Lt => CompareOp::Lt,
        FieldOp::Le => CompareOp::Le,
        FieldOp::Gt => CompareOp::Gt,
        FieldOp::Ge => CompareOp::Ge,
        _ => return None,
    })
}
