//! Pipelines over the spansets of one trace (spec §8.1-§8.7): each stage maps the list of
//! spansets to a new list; a stage that outputs nothing ends the trace's evaluation. Spanset
//! operators evaluate both operands against the same list and need at most one spanset per
//! side.

use std::collections::BTreeMap;

use crate::eval::aggregate::aggregate;
use crate::eval::error::QueryError;
use crate::eval::field::Scope;
use crate::eval::program::{Pipeline, PipelineExpr, SpansetExpr, Stage};
use crate::eval::structural::{Nested, apply, union};
use crate::value::{self, Value};

/// A named value carried by a spanset (`count()`, `by(resource.service.name)`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpansetAttribute {
    pub name: String,
    pub value: Value,
    /// A `by()` value: spansets of different units with equal group keys are the same group.
    pub group_key: bool,
}

/// Spans of one trace (sorted batch rows) with their spanset attributes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spanset {
    pub rows: Vec<u32>,
    pub attributes: Vec<SpansetAttribute>,
}

const MULTIPLE_SPANSETS: &str = "spanset operators are not supported for multiple spansets per trace. consider using coalesce()";

/// Everything a pipeline of one trace reads.
pub struct TraceScope<'a, 'b> {
    pub scope: Scope<'a, 'b>,
    pub nested: Nested<'a>,
}

fn single(list: Vec<Spanset>) -> Result<Option<Spanset>, QueryError> {
    if list.len() > 1 {
        return Err(QueryError {
            message: MULTIPLE_SPANSETS.to_owned(),
        });
    }
    Ok(list.into_iter().next())
}

fn combine(
    op: crate::ast::SpansetOp,
    nested: Nested<'_>,
    lhs: Vec<Spanset>,
    rhs: Vec<Spanset>,
) -> Result<Vec<Spanset>, QueryError> {
    let lhs = single(lhs)?;
    let rhs = single(rhs)?;
    let empty: &[u32] = &[];
    let rows = apply(
        op,
        nested,
        lhs.as_ref().map_or(empty, |set| &set.rows),
        rhs.as_ref().map_or(empty, |set| &set.rows),
    );
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let attributes = rhs.or(lhs).map(|set| set.attributes).unwrap_or_default();
    Ok(vec![Spanset { rows, attributes }])
}

impl TraceScope<'_, '_> {
    fn spanset_expr(
        &self,
        expr: &SpansetExpr,
        input: &[Spanset],
    ) -> Result<Vec<Spanset>, QueryError> {
        match expr {
            SpansetExpr::Filter(filter) => {
                let mut out = Vec::with_capacity(input.len());
                for set in input {
                    let rows = self.scope.filter(filter, &set.rows)?;
                    if !rows.is_empty() {
                        out.push(Spanset {
                            rows,
                            attributes: set.attributes.clone(),
                        });
                    }
                }
                Ok(out)
            }
            SpansetExpr::Binary { op, lhs, rhs } => {
                let left = self.spanset_expr(lhs, input)?;
                let right = self.spanset_expr(rhs, input)?;
                combine(*op, self.nested, left, right)
            }
        }
    }

    fn stage(&self, stage: &Stage, input: Vec<Spanset>) -> Result<Vec<Spanset>, QueryError> {
        match stage {
            Stage::Spanset(expr) => self.spanset_expr(expr, &input),
            Stage::ScalarFilter(filter) => {
                let mut out = Vec::with_capacity(input.len());
                for mut set in input {
                    let Some(value) = aggregate(&filter.aggregate, &self.scope, &set.rows)? else {
                        continue;
                    };
                    if value::compare(filter.op, &value, &filter.constant).unwrap_or(false) {
                        set.attributes.push(SpansetAttribute {
                            name: filter.label.clone(),
                            value,
                            group_key: false,
                        });
                        out.push(set);
                    }
                }
                Ok(out)
            }
            Stage::GroupBy { expr, label } => {
                let mut out = Vec::new();
                for set in input {
                    let mut groups: BTreeMap<(u8, String), (Value, Vec<u32>)> = BTreeMap::new();
                    for row in &set.rows {
                        let value = self.scope.value_of(expr, *row as usize)?.into_owned();
                        groups
                            .entry(group_key(&value))
                            .or_insert_with(|| (value, Vec::new()))
                            .1
                            .push(*row);
                    }
                    for (_, (value, rows)) in groups {
                        let mut attributes = set.attributes.clone();
                        attributes.push(SpansetAttribute {
                            name: label.clone(),
                            value: if value.is_nil() {
                                Value::string("nil")
                            } else {
                                value
                            },
                            group_key: true,
                        });
                        out.push(Spanset { rows, attributes });
                    }
                }
                Ok(out)
            }
            Stage::Coalesce => {
                let rows = input
                    .iter()
                    .fold(Vec::new(), |rows, set| union(&rows, &set.rows));
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![Spanset {
                    rows,
                    attributes: Vec::new(),
                }])
            }
            Stage::Select => Ok(input),
        }
    }

    /// Runs `pipeline` on `input`.
    pub fn pipeline(
        &self,
        pipeline: &Pipeline,
        input: Vec<Spanset>,
    ) -> Result<Vec<Spanset>, QueryError> {
        let mut list = input;
        for stage in &pipeline.stages {
            list = self.stage(stage, list)?;
            if list.is_empty() {
                break;
            }
        }
        Ok(list)
    }

    /// Runs wrapped pipelines combined by spanset operators on `input`.
    pub fn pipeline_expr(
        &self,
        expr: &PipelineExpr,
        input: &Spanset,
    ) -> Result<Vec<Spanset>, QueryError> {
        match expr {
            PipelineExpr::Wrapped(pipeline) => self.pipeline(pipeline, vec![input.clone()]),
            PipelineExpr::Binary { op, lhs, rhs } => {
                let left = self.pipeline_expr(lhs, input)?;
                let right = self.pipeline_expr(rhs, input)?;
                combine(*op, self.nested, left, right)
            }
        }
    }
}

/// A type-sensitive grouping key (int 1 and float 1.0 are different groups; nil is a group).
pub fn group_key(value: &Value) -> (u8, String) {
    let tag = match value {
        Value::Nil => 0,
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::Float(_) => 3,
        Value::String(_) => 4,
        Value::Duration(_) => 5,
        Value::Status(_) => 6,
        Value::Kind(_) => 7,
        Value::Array(_) => 8,
    };
    let text = match value {
        Value::Float(number) => format!("{:016x}", number.to_bits()),
        other => other.to_string(),
    };
    (tag, text)
}
