//! Metrics: the first-stage functions (`rate()`, `quantile_over_time(...)`, `compare(...)`,
//! with `by (...)`), the second stage (`topk`, `bottomk`, comparison filters) and arithmetic
//! between parenthesised metrics queries and constants.

use nom::Parser;
use nom::multi::separated_list1;

use crate::aggregate::{arith_op, cmp_op, convert_constant};
use crate::ast::{
    ArithOp, Attribute, MetricsExpr, MetricsFunction, MetricsQuery, MetricsRoot, OverTimeFunction,
    SecondStageOp, Static,
};
use crate::ident::attribute;
use crate::internal::{Ctx, ParseError, Res, expect, fail, punct, sp};
use crate::lexer::{keyword, peek_keyword};
use crate::literal::{integer, number, starts_number};
use crate::pipeline::{Converted, convert_stage, error_at};
use crate::spanset::{Node, NodeKind, flatten_pipe, is_pipe, spanset_filter};

/// An optional `by (attr, ...)` clause after a metrics function.
fn by_clause(input: &str) -> Res<'_, Vec<Attribute>> {
    if !peek_keyword(input, "by") {
        return Ok((input, Vec::new()));
    }
    let (rest, ()) = keyword("by").parse(input)?;
    let (rest, ()) = expect("expected '(' after by", punct("(")).parse(rest)?;
    let (rest, attributes) = separated_list1(punct(","), attribute).parse(rest)?;
    let (rest, ()) = expect("expected ')' or ','", punct(")")).parse(rest)?;
    Ok((rest, attributes))
}

fn empty_arguments<'a>(input: &'a str, message: &'static str) -> Res<'a, ()> {
    let (rest, ()) = expect("expected '('", punct("(")).parse(input)?;
    expect(message, punct(")")).parse(rest)
}

fn single_attribute(input: &str) -> Res<'_, Attribute> {
    let (rest, ()) = expect("expected '('", punct("(")).parse(input)?;
    let (rest, attribute) = attribute(rest)?;
    let (rest, ()) = expect("expected ')' after the attribute", punct(")")).parse(rest)?;
    Ok((rest, attribute))
}

/// An unsigned integer argument after optional whitespace.
fn integer_argument(input: &str) -> Res<'_, i64> {
    let (input, ()) = sp(input)?;
    if !starts_number(input) {
        return fail("expected an integer", input);
    }
    integer(input)
}

fn quantile(input: &str) -> Res<'_, f64> {
    let (input, ()) = sp(input)?;
    if !starts_number(input) {
        return fail("expected a quantile between 0 and 1", input);
    }
    match number(input)? {
        (rest, Static::Int(value)) => Ok((rest, value as f64)),
        (rest, Static::Float(value)) => Ok((rest, value)),
        _ => fail("expected a quantile between 0 and 1", input),
    }
}

fn compare_arguments<'a>(ctx: &Ctx, input: &'a str) -> Res<'a, (MetricsFunction, usize)> {
    let (rest, ()) = expect("expected '('", punct("(")).parse(input)?;
    let (rest, ()) = sp(rest)?;
    if !rest.starts_with('{') {
        return fail("compare() expects a spanset filter", rest);
    }
    let (mut rest, (filter, depth)) = spanset_filter(ctx, rest)?;
    let mut top_n = None;
    let mut window = None;
    if let Ok((after, ())) = punct(",").parse(rest) {
        let (after, value) = integer_argument(after)?;
        top_n = Some(value);
        rest = after;
        if let Ok((after, ())) = punct(",").parse(rest) {
            let (after, start) = integer_argument(after)?;
            let (after, ()) =
                expect("compare() takes both a start and an end", punct(",")).parse(after)?;
            let (after, end) = integer_argument(after)?;
            window = Some((start, end));
            rest = after;
        }
    }
    let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
    Ok((
        rest,
        (
            MetricsFunction::Compare {
                filter,
                top_n,
                window,
            },
            depth + 1,
        ),
    ))
}

/// Metrics functions and `topk`/`bottomk`; `None` if `name` is none of them.
pub(crate) fn metrics_call<'a>(
    ctx: &Ctx,
    name: &str,
    input: &'a str,
) -> Option<Res<'a, (NodeKind, usize)>> {
    let over_time = match name {
        "min_over_time" => Some(OverTimeFunction::Min),
        "max_over_time" => Some(OverTimeFunction::Max),
        "sum_over_time" => Some(OverTimeFunction::Sum),
        "avg_over_time" => Some(OverTimeFunction::Avg),
        "histogram_over_time" => Some(OverTimeFunction::Histogram),
        _ => None,
    };
    let known = over_time.is_some()
        || matches!(
            name,
            "rate" | "count_over_time" | "quantile_over_time" | "compare" | "topk" | "bottomk"
        );
    if !known {
        return None;
    }
    let parsed = (|| match name {
        "rate" | "count_over_time" => {
            let (rest, ()) =
                empty_arguments(input, "expected ')', this function takes no argument")?;
            let (rest, by) = by_clause(rest)?;
            let function = if name == "rate" {
                MetricsFunction::Rate { by }
            } else {
                MetricsFunction::CountOverTime { by }
            };
            Ok((rest, (NodeKind::Metrics(function), 1)))
        }
        "quantile_over_time" => {
            let (rest, ()) = expect("expected '('", punct("(")).parse(input)?;
            let (rest, attribute) = attribute(rest)?;
            let (rest, ()) = expect("expected ',' and quantiles", punct(",")).parse(rest)?;
            let (rest, quantiles) = separated_list1(punct(","), quantile).parse(rest)?;
            let (rest, ()) = expect("expected ')' or ','", punct(")")).parse(rest)?;
            let (rest, by) = by_clause(rest)?;
            Ok((
                rest,
                (
                    NodeKind::Metrics(MetricsFunction::QuantileOverTime {
                        attribute,
                        quantiles,
                        by,
                    }),
                    1,
                ),
            ))
        }
        "compare" => {
            let (rest, (function, depth)) = compare_arguments(ctx, input)?;
            Ok((rest, (NodeKind::Metrics(function), depth)))
        }
        "topk" | "bottomk" => {
            let (rest, ()) = expect("expected '('", punct("(")).parse(input)?;
            let (rest, limit) = integer_argument(rest)?;
            let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
            let kind = if name == "topk" {
                NodeKind::TopK(limit)
            } else {
                NodeKind::BottomK(limit)
            };
            Ok((rest, (kind, 1)))
        }
        _ => {
            let function = over_time.unwrap_or(OverTimeFunction::Min);
            let (rest, attribute) = single_attribute(input)?;
            let (rest, by) = by_clause(rest)?;
            Ok((
                rest,
                (
                    NodeKind::Metrics(MetricsFunction::OverTime {
                        function,
                        attribute,
                        by,
                    }),
                    1,
                ),
            ))
        }
    })();
    Some(parsed)
}

/// The node under a chain of comparisons (`rate() > 1 < 5` → `rate()`).
pub(crate) fn cmp_core(node: &Node) -> &Node {
    let mut current = node;
    while let NodeKind::Binary { op, lhs, .. } = &current.kind {
        if cmp_op(*op).is_none() {
            break;
        }
        current = lhs;
    }
    current
}

/// Whether the node is arithmetic involving a metrics query or function.
pub(crate) fn contains_metrics(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Metrics(_) => true,
        NodeKind::Paren(inner) if is_pipe(inner) => {
            let mut current: &Node = inner;
            loop {
                match &current.kind {
                    NodeKind::Binary {
                        op: crate::lexer::OuterOp::Pipe,
                        lhs,
                        rhs,
                        ..
                    } => {
                        if matches!(cmp_core(rhs).kind, NodeKind::Metrics(_)) {
                            return true;
                        }
                        current = lhs;
                    }
                    _ => return matches!(cmp_core(current).kind, NodeKind::Metrics(_)),
                }
            }
        }
        NodeKind::Paren(inner) | NodeKind::Neg(inner) => contains_metrics(cmp_core(inner)),
        NodeKind::Binary { op, lhs, rhs, .. } if arith_op(*op).is_some() => {
            contains_metrics(lhs) || contains_metrics(rhs)
        }
        _ => false,
    }
}

/// Splits `node` into the node under its comparison chain and the comparisons as filters.
fn unwrap_filters(node: Node) -> Converted<(Node, Vec<SecondStageOp>)> {
    let mut filters = Vec::new();
    let mut current = node;
    loop {
        match current.kind {
            NodeKind::Binary {
                op,
                op_at,
                lhs,
                rhs,
            } => match cmp_op(op) {
                Some(cmp) => {
                    filters.push(SecondStageOp::Filter {
                        op: cmp,
                        value: convert_constant(*rhs, true)?,
                    });
                    current = *lhs;
                }
                None => {
                    let kind = NodeKind::Binary {
                        op,
                        op_at,
                        lhs,
                        rhs,
                    };
                    current = Node {
                        at: current.at,
                        kind,
                    };
                    break;
                }
            },
            kind => {
                current = Node {
                    at: current.at,
                    kind,
                };
                break;
            }
        }
    }
    filters.reverse();
    Ok((current, filters))
}

/// A second-stage item after a metrics function: `topk(k)` / `bottomk(k)`, with filters.
fn convert_second_stage_item(node: Node) -> Converted<Vec<SecondStageOp>> {
    let (core, filters) = unwrap_filters(node)?;
    let head = match core.kind {
        NodeKind::TopK(limit) => SecondStageOp::TopK(limit),
        NodeKind::BottomK(limit) => SecondStageOp::BottomK(limit),
        _ => {
            return error_at(
                &core,
                "expected topk(), bottomk() or a comparison after a metrics function",
            );
        }
    };
    let mut ops = vec![head];
    ops.extend(filters);
    Ok(ops)
}

/// `stages... | function filters | second stage...`, the function at `index`.
pub(crate) fn convert_query(items: Vec<Node>, index: usize) -> Converted<MetricsQuery> {
    if index == 0 {
        return error_at(
            &items[0],
            "a metrics function must follow a spanset pipeline, e.g. { } | rate()",
        );
    }
    let mut items = items.into_iter();
    let stages = items
        .by_ref()
        .take(index)
        .enumerate()
        .map(|(position, item)| convert_stage(item, position == 0))
        .collect::<Converted<Vec<_>>>()?;
    let Some(function_item) = items.next() else {
        return Err(ParseError::at_remaining("expected a metrics function", 0));
    };
    let (core, mut second_stage) = unwrap_filters(function_item)?;
    let NodeKind::Metrics(function) = core.kind else {
        return error_at(&core, "expected a metrics function");
    };
    for item in items {
        second_stage.extend(convert_second_stage_item(item)?);
    }
    Ok(MetricsQuery {
        pipeline: crate::ast::Pipeline { stages },
        function,
        second_stage,
    })
}

fn convert_metrics_expr(node: Node) -> Converted<MetricsExpr> {
    if !contains_metrics(&node) {
        return convert_constant(node, false).map(MetricsExpr::Scalar);
    }
    let at = node.at;
    match node.kind {
        NodeKind::Paren(inner) => {
            let items = flatten_pipe(*inner);
            match items
                .iter()
                .position(|item| matches!(cmp_core(item).kind, NodeKind::Metrics(_)))
            {
                Some(index) => {
                    convert_query(items, index).map(|query| MetricsExpr::Query(Box::new(query)))
                }
                None if items.len() == 1 => match items.into_iter().next() {
                    Some(single) => convert_metrics_expr(single),
                    None => Err(ParseError::at_remaining("expected a metrics query", at)),
                },
                None => Err(ParseError::at_remaining("expected a metrics query", at)),
            }
        }
        NodeKind::Binary {
            op,
            op_at,
            lhs,
            rhs,
        } => match arith_op(op) {
            Some(arith @ (ArithOp::Add | ArithOp::Sub | ArithOp::Mul | ArithOp::Div)) => {
                Ok(MetricsExpr::Binary {
                    op: arith,
                    lhs: Box::new(convert_metrics_expr(*lhs)?),
                    rhs: Box::new(convert_metrics_expr(*rhs)?),
                })
            }
            _ => Err(ParseError::at_remaining(
                format!(
                    "operator '{}' cannot be used between metrics queries",
                    op.symbol()
                ),
                op_at,
            )),
        },
        NodeKind::Metrics(_) => error_at(
            &node,
            "a metrics function must follow a spanset pipeline, e.g. { } | rate()",
        ),
        _ => error_at(
            &node,
            "metrics queries in arithmetic must be wrapped in parentheses",
        ),
    }
}

/// Arithmetic over parenthesised metrics queries, then second-stage items.
pub(crate) fn convert_metrics_root(items: Vec<Node>) -> Converted<MetricsRoot> {
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Err(ParseError::at_remaining("expected a metrics query", 0));
    };
    let (core, mut second_stage) = unwrap_filters(first)?;
    let mut expr = convert_metrics_expr(core)?;
    for item in items {
        second_stage.extend(convert_second_stage_item(item)?);
    }
    if let MetricsExpr::Query(query) = &mut expr {
        query.second_stage.append(&mut second_stage);
    }
    Ok(MetricsRoot { expr, second_stage })
}
