//! What the first pass fetches: from the compiled program, the conditions a source may use to
//! select spans without ever changing a result.
//!
//! - A single filter as the first filtering stage pushes its tests as [`Combine::All`] (each
//!   is necessary for a span to match), together with the tests of later plain filter stages
//!   up to the first aggregate (which counts spans and so must see them all).
//! - Otherwise (spanset operators, wrapped pipelines, a filter without tests such as a top-level
//!   `||`) every leaf filter of the first stage contributes a *representative*: conditions one
//!   of which holds for every span the leaf can keep; the union is [`Combine::Any`]. A leaf
//!   without one (`{ }`, `{ !(.a = 1) }`) means every span is fetched.
//! - A filter folded to `false` contributes nothing; when nothing can match, nothing is fetched.
//! - Every other attribute the program reads is fetched without an operator.

use crate::ast::{Attribute, Intrinsic, SpansetOp, Static};
use crate::eval::program::{
    AttrId, Expr, Filter, Pipeline, PipelineExpr, SpansetExpr, Stage, Test,
};
use crate::fetch::{Combine, Condition, ConditionOp};
use crate::value::{CompareOp, Value};

fn static_of(value: &Value) -> Option<Static> {
    Some(match value {
        Value::Bool(value) => Static::Bool(*value),
        Value::Int(value) => Static::Int(*value),
        Value::Float(value) => Static::Float(*value),
        Value::String(text) => Static::String(text.to_string()),
        Value::Duration(nanos) => Static::Duration(*nanos),
        Value::Status(status) => Static::Status(*status),
        Value::Kind(kind) => Static::Kind(*kind),
        Value::Nil | Value::Array(_) => return None,
    })
}

/// The pushed-down form of a test.
pub fn condition_op(test: &Test) -> Option<ConditionOp> {
    Some(match test {
        Test::Compare { op, value } => ConditionOp::Compare {
            op: *op,
            value: static_of(value)?,
        },
        Test::IdEquals {
            literal, negated, ..
        } => ConditionOp::Compare {
            op: if *negated {
                CompareOp::Ne
            } else {
                CompareOp::Eq
            },
            value: Static::String(literal.clone()),
        },
        Test::Regex {
            pattern, negated, ..
        } => ConditionOp::Regex {
            pattern: pattern.clone(),
            negated: *negated,
        },
        Test::Exists => ConditionOp::Exists,
        Test::Missing => ConditionOp::Missing,
        Test::IsTrue => ConditionOp::Compare {
            op: CompareOp::Eq,
            value: Static::Bool(true),
        },
    })
}

type Pushed = (AttrId, ConditionOp);

/// Conditions every span the filter keeps satisfies.
fn necessary(filter: &Filter) -> Vec<Pushed> {
    let mut out: Vec<Pushed> = filter
        .tests
        .iter()
        .filter_map(|(attr, test)| condition_op(test).map(|op| (*attr, op)))
        .collect();
    for term in &filter.terms {
        if let Expr::Not { operand, .. } = term
            && let Expr::Attr(attr) = operand.as_ref()
        {
            out.push((
                *attr,
                ConditionOp::Compare {
                    op: CompareOp::Eq,
                    value: Static::Bool(false),
                },
            ));
        }
    }
    out
}

/// Alternatives one of which holds for every span `expr` is true for.
fn representative(expr: &Expr) -> Option<Vec<Pushed>> {
    match expr {
        Expr::Test { attr, test } => condition_op(test).map(|op| vec![(*attr, op)]),
        Expr::Const(Value::Bool(true)) => None,
        Expr::Const(_) => Some(Vec::new()),
        Expr::Not { operand, .. } => match operand.as_ref() {
            Expr::Attr(attr) => Some(vec![(
                *attr,
                ConditionOp::Compare {
                    op: CompareOp::Eq,
                    value: Static::Bool(false),
                },
            )]),
            _ => None,
        },
        Expr::And(lhs, rhs) => match (representative(lhs), representative(rhs)) {
            (Some(left), Some(right)) => Some(if left.len() <= right.len() {
                left
            } else {
                right
            }),
            (left, right) => left.or(right),
        },
        Expr::Or(lhs, rhs) => {
            let mut left = representative(lhs)?;
            left.extend(representative(rhs)?);
            Some(left)
        }
        _ => None,
    }
}

fn filter_representative(filter: &Filter) -> Option<Vec<Pushed>> {
    match filter.constant {
        Some(true) => return None,
        Some(false) => return Some(Vec::new()),
        None => {}
    }
    if let Some(first) = necessary(filter).into_iter().next() {
        return Some(vec![first]);
    }
    filter
        .terms
        .iter()
        .filter_map(representative)
        .min_by_key(Vec::len)
}

fn leaves<'p>(expr: &'p SpansetExpr, out: &mut Vec<&'p Filter>) {
    match expr {
        SpansetExpr::Filter(filter) => out.push(filter),
        SpansetExpr::Binary { lhs, rhs, .. } => {
            leaves(lhs, out);
            leaves(rhs, out);
        }
    }
}

/// The first stage that selects spans, if it is a spanset expression (stages before it only
/// group or select); `None` when an aggregate comes first or nothing filters.
fn first_filtering(pipeline: &Pipeline) -> Option<(usize, &SpansetExpr)> {
    for (index, stage) in pipeline.stages.iter().enumerate() {
        match stage {
            Stage::Spanset(expr) => return Some((index, expr)),
            Stage::ScalarFilter(_) => return None,
            Stage::GroupBy { .. } | Stage::Coalesce | Stage::Select => {}
        }
    }
    None
}

fn pipelines<'p>(expr: &'p PipelineExpr, out: &mut Vec<&'p Pipeline>) {
    match expr {
        PipelineExpr::Wrapped(pipeline) => out.push(pipeline),
        PipelineExpr::Binary { lhs, rhs, .. } => {
            pipelines(lhs, out);
            pipelines(rhs, out);
        }
    }
}

/// The selecting conditions of a program: `None` when nothing can match.
pub(crate) fn selecting(body: &PipelineExpr) -> Option<(Combine, Vec<Pushed>)> {
    if let PipelineExpr::Wrapped(pipeline) = body
        && let Some((index, SpansetExpr::Filter(filter))) = first_filtering(pipeline)
    {
        if filter.constant == Some(false) {
            return None;
        }
        let mut all = necessary(filter);
        if !all.is_empty() {
            for stage in &pipeline.stages[index + 1..] {
                match stage {
                    Stage::ScalarFilter(_) => break,
                    Stage::Spanset(SpansetExpr::Filter(later)) => all.extend(necessary(later)),
                    _ => {}
                }
            }
            return Some((Combine::All, all));
        }
        return match filter_representative(filter) {
            Some(any) if any.is_empty() => None,
            Some(any) => Some((Combine::Any, any)),
            None => Some((Combine::All, Vec::new())),
        };
    }
    let mut all_pipelines = Vec::new();
    pipelines(body, &mut all_pipelines);
    let mut any = Vec::new();
    for pipeline in all_pipelines {
        let Some((_, expr)) = first_filtering(pipeline) else {
            return Some((Combine::All, Vec::new()));
        };
        let mut filters = Vec::new();
        leaves(expr, &mut filters);
        for filter in filters {
            match filter_representative(filter) {
                Some(conditions) => any.extend(conditions),
                None => return Some((Combine::All, Vec::new())),
            }
        }
    }
    if any.is_empty() {
        None
    } else {
        Some((Combine::Any, any))
    }
}

/// Whether a span that satisfies every pushed condition puts its trace in the result: the
/// program is one filter whose tests are all pushed (a conjunction, nothing else: no terms,
/// no per-event or per-link evaluation), followed by nothing but `select()`. Then the engine
/// ranks traces by recency alone, and a source may leave out traces that cannot rank
/// ([`crate::fetch::FetchRequest::keep_most_recent`]).
pub(crate) fn decides_match(body: &PipelineExpr) -> bool {
    let PipelineExpr::Wrapped(pipeline) = body else {
        return false;
    };
    let Some((Stage::Spanset(SpansetExpr::Filter(filter)), rest)) = pipeline.stages.split_first()
    else {
        return false;
    };
    filter.constant.is_none()
        && filter.terms.is_empty()
        && !filter.per_event
        && !filter.per_link
        && !filter.tests.is_empty()
        && filter
            .tests
            .iter()
            .all(|(_, test)| condition_op(test).is_some())
        && rest.iter().all(|stage| matches!(stage, Stage::Select))
}

/// Whether the program uses structural operators or nested-set numbers.
pub(crate) fn needs_structure(body: &PipelineExpr, attributes: &[Attribute]) -> bool {
    fn spanset(expr: &SpansetExpr) -> bool {
        match expr {
            SpansetExpr::Filter(_) => false,
            SpansetExpr::Binary { op, lhs, rhs } => {
                !matches!(op, SpansetOp::And | SpansetOp::Union) || spanset(lhs) || spanset(rhs)
            }
        }
    }
    fn walk(expr: &PipelineExpr) -> bool {
        match expr {
            PipelineExpr::Wrapped(pipeline) => pipeline
                .stages
                .iter()
                .any(|stage| matches!(stage, Stage::Spanset(expr) if spanset(expr))),
            PipelineExpr::Binary { op, lhs, rhs } => {
                !matches!(op, SpansetOp::And | SpansetOp::Union) || walk(lhs) || walk(rhs)
            }
        }
    }
    walk(body)
        || attributes.iter().any(|attribute| {
            matches!(
                attribute,
                Attribute::Intrinsic(
                    Intrinsic::NestedSetLeft
                        | Intrinsic::NestedSetRight
                        | Intrinsic::NestedSetParent
                )
            )
        })
}

/// Attributes every batch carries without asking (span columns, trace info).
pub fn always_available(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Intrinsic(
            Intrinsic::Duration
                | Intrinsic::TraceDuration
                | Intrinsic::TraceRootName
                | Intrinsic::TraceRootService
                | Intrinsic::TraceId
                | Intrinsic::SpanId
                | Intrinsic::NestedSetLeft
                | Intrinsic::NestedSetRight
                | Intrinsic::NestedSetParent
        )
    )
}

/// The conditions of a fetch request: the selecting ones, then a fetch-only condition for
/// every other attribute the program reads.
pub(crate) fn conditions(attributes: &[Attribute], selecting: &[Pushed]) -> Vec<Condition> {
    let mut out: Vec<Condition> = selecting
        .iter()
        .map(|(attr, op)| Condition {
            attribute: attributes[*attr].clone(),
            op: Some(op.clone()),
        })
        .collect();
    for attribute in attributes {
        if always_available(attribute)
            || out
                .iter()
                .any(|condition| &condition.attribute == attribute)
        {
            continue;
        }
        out.push(Condition::fetch(attribute.clone()));
    }
    out
}
