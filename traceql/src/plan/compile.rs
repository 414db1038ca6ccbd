//! Lowering a validated query into the evaluation [`Program`]: attributes numbered, constant
//! sub-expressions folded (spec §7: `{ 1 = 2 }` is `{ false }`), comparisons of an attribute
//! with a literal turned into [`Test`]s, the top-level `&&` terms of every filter split into
//! tests (evaluated first) and the rest, and every prefix operator marked strict when it sits
//! under `||` or `!` (ADR 006).

use std::sync::Arc;

use crate::ast::{
    self, ArithOp, Attribute, AttributeScope, FieldExpr, FieldOp, Intrinsic, Static, UnaryOp,
};
use crate::error::{Error, Result};
use crate::eval::field::{Flow, compare_op, eval_constant};
use crate::eval::program::{
    AggregateFn, AttrId, Expr, Filter, Pipeline, PipelineExpr, ScalarFilter, SpansetExpr, Stage,
    Test,
};
use crate::value::{Value, compile_regex, normalize_hex_id};

/// Builds the attribute table while compiling.
#[derive(Debug, Default)]
pub(crate) struct Compiler {
    pub(crate) attributes: Vec<Attribute>,
    /// Attributes referenced by spanset filters, in query order (shown on result spans).
    pub(crate) filter_attributes: Vec<AttrId>,
    /// `select()` attributes, in query order.
    pub(crate) selected: Vec<Attribute>,
    in_filter: bool,
}

fn is_id(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Intrinsic(
            Intrinsic::TraceId
                | Intrinsic::SpanId
                | Intrinsic::SpanParentId
                | Intrinsic::LinkTraceId
                | Intrinsic::LinkSpanId
        )
    )
}

fn arith_op(op: FieldOp) -> Option<ArithOp> {
    Some(match op {
        FieldOp::Add => ArithOp::Add,
        FieldOp::Sub => ArithOp::Sub,
        FieldOp::Mul => ArithOp::Mul,
        FieldOp::Div => ArithOp::Div,
        FieldOp::Mod => ArithOp::Mod,
        FieldOp::Pow => ArithOp::Pow,
        _ => return None,
    })
}

fn query_error(flow: Flow) -> Error {
    match flow {
        Flow::Error(error) => Error::Query {
            message: error.message,
        },
        Flow::Exclude => Error::Query {
            message: "prefix operator applied to nil".to_owned(),
        },
    }
}

/// Whether the test reads event (link) values.
fn scope_of(attribute: &Attribute) -> (bool, bool) {
    match attribute {
        Attribute::Custom {
            scope: AttributeScope::Event,
            ..
        }
        | Attribute::Intrinsic(Intrinsic::EventName | Intrinsic::EventTimeSinceStart) => {
            (true, false)
        }
        Attribute::Custom {
            scope: AttributeScope::Link,
            ..
        }
        | Attribute::Intrinsic(Intrinsic::LinkTraceId | Intrinsic::LinkSpanId) => (false, true),
        _ => (false, false),
    }
}

impl Compiler {
    fn attr(&mut self, attribute: &Attribute) -> AttrId {
        let id = match self.attributes.iter().position(|known| known == attribute) {
            Some(id) => id,
            None => {
                self.attributes.push(attribute.clone());
                self.attributes.len() - 1
            }
        };
        if self.in_filter && !self.filter_attributes.contains(&id) {
            self.filter_attributes.push(id);
        }
        id
    }

    fn test(
        &mut self,
        attribute: &Attribute,
        op: FieldOp,
        literal: &Static,
    ) -> Result<Option<Test>> {
        if matches!(literal, Static::Nil) {
            return Ok(match op {
                FieldOp::Eq => Some(Test::Missing),
                FieldOp::Ne => Some(Test::Exists),
                _ => None,
            });
        }
        if let (FieldOp::Regex | FieldOp::NotRegex, Static::String(pattern)) = (op, literal) {
            let regex = compile_regex(pattern).map_err(|error| Error::Query {
                message: format!("invalid regex {pattern:?}: {error}"),
            })?;
            return Ok(Some(Test::Regex {
                pattern: pattern.clone(),
                regex: Arc::new(regex),
                negated: op == FieldOp::NotRegex,
            }));
        }
        let Some(compare) = compare_op(op) else {
            return Ok(None);
        };
        if let (true, Static::String(text), FieldOp::Eq | FieldOp::Ne) =
            (is_id(attribute), literal, op)
        {
            let hex = text.chars().all(|c| c.is_ascii_hexdigit());
            return Ok(Some(Test::IdEquals {
                literal: text.clone(),
                normalized: hex.then(|| normalize_hex_id(text)),
                negated: op == FieldOp::Ne,
            }));
        }
        Ok(Some(Test::Compare {
            op: compare,
            value: Value::from_static(literal),
        }))
    }

    /// Compiles a field expression; `under_logic`: below a `||` or `!` of the filter.
    pub(crate) fn field(&mut self, expr: &FieldExpr, under_logic: bool) -> Result<Expr> {
        if !expr.references_span() {
            let compiled = self.field_unfolded(expr, under_logic)?;
            return eval_constant(&compiled)
                .map(Expr::Const)
                .map_err(query_error);
        }
        self.field_unfolded(expr, under_logic)
    }

    fn field_unfolded(&mut self, expr: &FieldExpr, under_logic: bool) -> Result<Expr> {
        Ok(match expr {
            FieldExpr::Static(value) => Expr::Const(Value::from_static(value)),
            FieldExpr::Attribute(attribute) => Expr::Attr(self.attr(attribute)),
            FieldExpr::Unary {
                op: UnaryOp::Not,
                operand,
            } => Expr::Not {
                operand: Box::new(self.field(operand, true)?),
                strict: under_logic,
            },
            FieldExpr::Unary {
                op: UnaryOp::Neg,
                operand,
            } => Expr::Neg {
                operand: Box::new(self.field(operand, under_logic)?),
                strict: under_logic,
            },
            FieldExpr::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, under_logic)?,
        })
    }

    fn binary(
        &mut self,
        op: FieldOp,
        lhs: &FieldExpr,
        rhs: &FieldExpr,
        under_logic: bool,
    ) -> Result<Expr> {
        match op {
            FieldOp::And => {
                return Ok(Expr::And(
                    Box::new(self.field(lhs, under_logic)?),
                    Box::new(self.field(rhs, under_logic)?),
                ));
            }
            FieldOp::Or => {
                return Ok(Expr::Or(
                    Box::new(self.field(lhs, true)?),
                    Box::new(self.field(rhs, true)?),
                ));
            }
            _ => {}
        }
        let nil = |side: &FieldExpr| matches!(side, FieldExpr::Static(Static::Nil));
        if matches!(op, FieldOp::Eq | FieldOp::Ne) && (nil(lhs) || nil(rhs)) {
            if nil(lhs) && nil(rhs) {
                return Ok(Expr::Const(Value::Bool(false)));
            }
            let other = if nil(lhs) { rhs } else { lhs };
            if let FieldExpr::Attribute(attribute) = other {
                let test = if op == FieldOp::Eq {
                    Test::Missing
                } else {
                    Test::Exists
                };
                return Ok(Expr::Test {
                    attr: self.attr(attribute),
                    test,
                });
            }
            return Ok(Expr::IsNil {
                operand: Box::new(self.field(other, under_logic)?),
                negated: op == FieldOp::Ne,
            });
        }
        if op.is_comparison() {
            let simple = match (lhs, rhs) {
                (FieldExpr::Attribute(attribute), FieldExpr::Static(literal)) => {
                    Some((attribute, op, literal))
                }
                (FieldExpr::Static(literal), FieldExpr::Attribute(attribute))
                    if !matches!(op, FieldOp::Regex | FieldOp::NotRegex) =>
                {
                    let flipped = compare_op(op).map(|compare| compare.flipped());
                    let flipped = match flipped {
                        Some(crate::value::CompareOp::Eq) => FieldOp::Eq,
                        Some(crate::value::CompareOp::Ne) => FieldOp::Ne,
                        Some(crate::value::CompareOp::Lt) => FieldOp::Lt,
                        Some(crate::value::CompareOp::Le) => FieldOp::Le,
                        Some(crate::value::CompareOp::Gt) => FieldOp::Gt,
                        Some(crate::value::CompareOp::Ge) => FieldOp::Ge,
                        None => op,
                    };
                    Some((attribute, flipped, literal))
                }
                _ => None,
            };
            if let Some((attribute, simple_op, literal)) = simple
                && let Some(test) = self.test(attribute, simple_op, literal)?
            {
                return Ok(Expr::Test {
                    attr: self.attr(attribute),
                    test,
                });
            }
            if let FieldOp::Regex | FieldOp::NotRegex = op {
                let FieldExpr::Static(Static::String(pattern)) = rhs else {
                    return Err(Error::Query {
                        message: "the right side of a regex match must be a string literal"
                            .to_owned(),
                    });
                };
                let regex = compile_regex(pattern).map_err(|error| Error::Query {
                    message: format!("invalid regex {pattern:?}: {error}"),
                })?;
                return Ok(Expr::Regex {
                    operand: Box::new(self.field(lhs, under_logic)?),
                    regex: Arc::new(regex),
                    negated: op == FieldOp::NotRegex,
                });
            }
            let compare = compare_op(op).unwrap_or(crate::value::CompareOp::Eq);
            return Ok(Expr::Compare {
                op: compare,
                lhs: Box::new(self.field(lhs, under_logic)?),
                rhs: Box::new(self.field(rhs, under_logic)?),
            });
        }
        let arith = arith_op(op).unwrap_or(ArithOp::Add);
        Ok(Expr::Arith {
            op: arith,
            lhs: Box::new(self.field(lhs, under_logic)?),
            rhs: Box::new(self.field(rhs, under_logic)?),
        })
    }

    /// Compiles the expression of a spanset filter `{ expr }`.
    pub(crate) fn filter(&mut self, expr: &FieldExpr) -> Result<Filter> {
        self.in_filter = true;
        let result = self.filter_inner(expr);
        self.in_filter = false;
        result
    }

    fn filter_inner(&mut self, expr: &FieldExpr) -> Result<Filter> {
        let mut filter = Filter {
            constant: None,
            tests: Vec::new(),
            terms: Vec::new(),
            per_event: false,
            per_link: false,
        };
        if !expr.references_span() {
            let value = eval_constant(&self.field_unfolded(expr, false)?).map_err(query_error)?;
            filter.constant = Some(matches!(value, Value::Bool(true)));
            return Ok(filter);
        }
        let mut conjuncts = Vec::new();
        flatten_and(expr, &mut conjuncts);
        for conjunct in conjuncts {
            let compiled = match conjunct {
                FieldExpr::Attribute(attribute) => Expr::Test {
                    attr: self.attr(attribute),
                    test: Test::IsTrue,
                },
                other => self.field(other, false)?,
            };
            match compiled {
                Expr::Test { attr, test } => filter.tests.push((attr, test)),
                Expr::Const(Value::Bool(true)) => {}
                Expr::Const(_) => {
                    filter.constant = Some(false);
                    filter.tests.clear();
                    filter.terms.clear();
                    return Ok(filter);
                }
                other => filter.terms.push(other),
            }
        }
        let mut visit = |attr: AttrId| {
            let (event, link) = scope_of(&self.attributes[attr]);
            filter.per_event |= event;
            filter.per_link |= link;
        };
        for (attr, _) in &filter.tests {
            visit(*attr);
        }
        for term in &filter.terms {
            term.for_each_attr(&mut visit);
        }
        if filter.tests.is_empty() && filter.terms.is_empty() {
            filter.constant = Some(true);
        }
        Ok(filter)
    }

    fn spanset(&mut self, expr: &ast::SpansetExpr) -> Result<SpansetExpr> {
        Ok(match expr {
            ast::SpansetExpr::Filter(field) => SpansetExpr::Filter(self.filter(field)?),
            ast::SpansetExpr::Binary { op, lhs, rhs } => SpansetExpr::Binary {
                op: *op,
                lhs: Box::new(self.spanset(lhs)?),
                rhs: Box::new(self.spanset(rhs)?),
            },
        })
    }

    fn aggregate(&mut self, aggregate: &ast::Aggregate) -> Result<AggregateFn> {
        Ok(match aggregate {
            ast::Aggregate::Count => AggregateFn::Count,
            ast::Aggregate::Avg(expr) => AggregateFn::Avg(self.field(expr, false)?),
            ast::Aggregate::Min(expr) => AggregateFn::Min(self.field(expr, false)?),
            ast::Aggregate::Max(expr) => AggregateFn::Max(self.field(expr, false)?),
            ast::Aggregate::Sum(expr) => AggregateFn::Sum(self.field(expr, false)?),
        })
    }

    fn scalar_filter(&mut self, filter: &ast::ScalarFilter) -> Result<ScalarFilter> {
        let (aggregate, constant, op) = match (&filter.lhs, &filter.rhs) {
            (ast::ScalarExpr::Aggregate(aggregate), ast::ScalarExpr::Constant(constant)) => {
                (aggregate, constant, cmp(filter.op))
            }
            (ast::ScalarExpr::Constant(constant), ast::ScalarExpr::Aggregate(aggregate)) => {
                (aggregate, constant, cmp(filter.op).flipped())
            }
            _ => {
                return Err(Error::unsupported(format!(
                    "scalar filter '{filter}': only an aggregate compared with a constant is supported"
                )));
            }
        };
        Ok(ScalarFilter {
            label: aggregate.to_string(),
            aggregate: self.aggregate(aggregate)?,
            op,
            constant: Value::from_static(&constant.evaluate()?),
        })
    }

    /// Compiles a pipeline.
    pub(crate) fn pipeline(&mut self, pipeline: &ast::Pipeline) -> Result<Pipeline> {
        let mut stages = Vec::with_capacity(pipeline.stages.len());
        for stage in &pipeline.stages {
            stages.push(match stage {
                ast::Stage::Spanset(expr) => Stage::Spanset(self.spanset(expr)?),
                ast::Stage::ScalarFilter(filter) => {
                    Stage::ScalarFilter(self.scalar_filter(filter)?)
                }
                ast::Stage::GroupBy(expr) => Stage::GroupBy {
                    expr: self.field(expr, false)?,
                    label: format!("by({expr})"),
                },
                ast::Stage::Coalesce => Stage::Coalesce,
                ast::Stage::Select(attributes) => {
                    for attribute in attributes {
                        if !self.selected.contains(attribute) {
                            self.selected.push(attribute.clone());
                        }
                    }
                    Stage::Select
                }
            });
        }
        Ok(Pipeline { stages })
    }

    /// Compiles wrapped pipelines.
    pub(crate) fn pipeline_expr(&mut self, expr: &ast::PipelineExpr) -> Result<PipelineExpr> {
        Ok(match expr {
            ast::PipelineExpr::Wrapped(pipeline) => PipelineExpr::Wrapped(self.pipeline(pipeline)?),
            ast::PipelineExpr::Binary { op, lhs, rhs } => PipelineExpr::Binary {
                op: *op,
                lhs: Box::new(self.pipeline_expr(lhs)?),
                rhs: Box::new(self.pipeline_expr(rhs)?),
            },
        })
    }
}

fn cmp(op: ast::CmpOp) -> crate::value::CompareOp {
    use crate::value::CompareOp;
    match op {
        ast::CmpOp::Eq => CompareOp::Eq,
        ast::CmpOp::Ne => CompareOp::Ne,
        ast::CmpOp::Lt => CompareOp::Lt,
        ast::CmpOp::Le => CompareOp::Le,
        ast::CmpOp::Gt => CompareOp::Gt,
        ast::CmpOp::Ge => CompareOp::Ge,
    }
}

fn flatten_and<'e>(expr: &'e FieldExpr, out: &mut Vec<&'e FieldExpr>) {
    match expr {
        FieldExpr::Binary {
            op: FieldOp::And,
            lhs,
            rhs,
        } => {
            flatten_and(lhs, out);
            flatten_and(rhs, out);
        }
        other => out.push(other),
    }
}
