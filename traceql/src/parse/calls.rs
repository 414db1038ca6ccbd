//! The calls of the outer grammar: spanset filters `{ ... }`, aggregates (`count()`,
//! `avg(e)`, ...), pipeline operations (`by()`, `select()`, `coalesce()`) and metrics functions
//! (`rate()`, `quantile_over_time(...)`, `compare(...)`, `topk`/`bottomk`, with `by (...)`).

use nom::Parser;
use nom::multi::separated_list1;

use crate::ast::{Aggregate, Attribute, FieldExpr, MetricsFunction, OverTimeFunction, Static};
use crate::parse::expr::field_expr;
use crate::parse::ident::attribute;
use crate::parse::internal::{Ctx, Res, expect, fail, punct, sp};
use crate::parse::lexer::{keyword, peek_keyword};
use crate::parse::literal::{integer, number, starts_number};
use crate::parse::node::NodeKind;

/// `{ expr }` or `{ }` (stored as `{ true }`), after optional whitespace.
pub(crate) fn spanset_filter<'a>(ctx: &Ctx, input: &'a str) -> Res<'a, (FieldExpr, usize)> {
    let (input, ()) = punct("{").parse(input)?;
    if let Ok((rest, ())) = punct("}").parse(input) {
        return Ok((rest, (FieldExpr::Static(Static::Bool(true)), 1)));
    }
    let (rest, (field, depth)) = field_expr(ctx, input)?;
    let (rest, ()) = expect("expected '}'", punct("}")).parse(rest)?;
    Ok((rest, (field, depth)))
}

/// `count()`, `avg(e)`, `min(e)`, `max(e)`, `sum(e)`; `None` if `name` is no aggregate.
pub(crate) fn aggregate_call<'a>(
    ctx: &Ctx,
    name: &str,
    input: &'a str,
) -> Option<Res<'a, (Aggregate, usize)>> {
    let build: fn(FieldExpr) -> Aggregate = match name {
        "count" => {
            return Some((|| {
                let (rest, ()) = expect("expected '(' after count", punct("(")).parse(input)?;
                let (rest, ()) =
                    expect("count() takes no argument, expected ')'", punct(")")).parse(rest)?;
                Ok((rest, (Aggregate::Count, 1)))
            })());
        }
        "avg" => Aggregate::Avg,
        "min" => Aggregate::Min,
        "max" => Aggregate::Max,
        "sum" => Aggregate::Sum,
        _ => return None,
    };
    Some((|| {
        let (rest, ()) =
            expect("expected '(' after the aggregate name", punct("(")).parse(input)?;
        let (rest, (field, depth)) = field_expr(ctx, rest)?;
        let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
        Ok((rest, (build(field), depth + 1)))
    })())
}

/// `by(expr)`, `select(attr, ...)` and `coalesce()`; `None` if `name` is none of them.
pub(crate) fn operation_call<'a>(
    ctx: &Ctx,
    name: &str,
    input: &'a str,
) -> Option<Res<'a, (NodeKind, usize)>> {
    let parsed = match name {
        "by" => (|| {
            let (rest, ()) = expect("expected '(' after by", punct("(")).parse(input)?;
            let (rest, (field, depth)) = field_expr(ctx, rest)?;
            let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
            Ok((rest, (NodeKind::GroupBy(field), depth)))
        })(),
        "select" => (|| {
            let (rest, ()) = expect("expected '(' after select", punct("(")).parse(input)?;
            let (rest, attributes) = separated_list1(punct(","), attribute).parse(rest)?;
            let (rest, ()) = expect("expected ')' or ','", punct(")")).parse(rest)?;
            Ok((rest, (NodeKind::Select(attributes), 1)))
        })(),
        "coalesce" => (|| {
            let (rest, ()) = expect("expected '(' after coalesce", punct("(")).parse(input)?;
            let (rest, ()) = expect("expected ')'", punct(")")).parse(rest)?;
            Ok((rest, (NodeKind::Coalesce, 1)))
        })(),
        _ => return None,
    };
    Some(parsed)
}

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
