//! Validation: Tempo's static type rules and what it rejects after parsing, split into
//! validation errors and "unsupported" (parses, but cannot be executed). Children are checked
//! before their parent, so an unsupported `parent` reference wins over a type error around it.

use crate::ast::*;
use crate::error::{Error, Result};

mod constant;

/// The static type of an expression ("attribute" = unknown until run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Attribute,
    Nil,
    Bool,
    Int,
    Float,
    String,
    Duration,
    Status,
    Kind,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Attribute => "attribute",
            Type::Nil => "nil",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Float => "float",
            Type::String => "string",
            Type::Duration => "duration",
            Type::Status => "status",
            Type::Kind => "kind",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Duration)
    }

    fn compatible(self, other: Type) -> bool {
        self == other
            || (self.is_numeric() && other.is_numeric())
            || matches!(self, Type::Attribute | Type::Nil)
            || matches!(other, Type::Attribute | Type::Nil)
    }

    fn allows(self, op: FieldOp) -> bool {
        use FieldOp::*;
        match self {
            Type::Attribute => true,
            Type::Bool => matches!(op, And | Or | Eq | Ne),
            Type::Int | Type::Float | Type::Duration => {
                matches!(
                    op,
                    Add | Sub | Mul | Div | Mod | Pow | Eq | Ne | Lt | Le | Gt | Ge
                )
            }
            Type::String => matches!(op, Eq | Ne | Regex | NotRegex | Lt | Le | Gt | Ge),
            Type::Status | Type::Kind | Type::Nil => matches!(op, Eq | Ne),
        }
    }
}

fn static_type(value: &Static) -> Type {
    match value {
        Static::Nil => Type::Nil,
        Static::Bool(_) => Type::Bool,
        Static::Int(_) => Type::Int,
        Static::Float(_) => Type::Float,
        Static::String(_) => Type::String,
        Static::Duration(_) => Type::Duration,
        Static::Status(_) => Type::Status,
        Static::Kind(_) => Type::Kind,
    }
}

fn intrinsic_type(intrinsic: Intrinsic) -> Type {
    use Intrinsic::*;
    match intrinsic {
        Duration | TraceDuration | EventTimeSinceStart => Type::Duration,
        Name | StatusMessage | TraceRootName | TraceRootService | TraceId | SpanId
        | SpanParentId | EventName | LinkTraceId | LinkSpanId => Type::String,
        Status => Type::Status,
        Kind => Type::Kind,
        Parent => Type::Nil,
        NestedSetLeft | NestedSetRight | NestedSetParent | SpanChildCount => Type::Int,
        InstrumentationName | InstrumentationVersion => Type::Attribute,
    }
}

fn check_attribute(attribute: &Attribute) -> Result<Type> {
    match attribute {
        Attribute::Intrinsic(Intrinsic::Parent) => {
            Err(Error::unsupported("the parent intrinsic is not supported"))
        }
        Attribute::Intrinsic(intrinsic) => Ok(intrinsic_type(*intrinsic)),
        Attribute::Custom {
            scope:
                AttributeScope::Parent | AttributeScope::ParentSpan | AttributeScope::ParentResource,
            ..
        } => Err(Error::unsupported(
            "parent scoped attributes are not supported",
        )),
        Attribute::Custom { .. } => Ok(Type::Attribute),
    }
}

/// `true` for references that always exist, so comparing them to nil is meaningless.
fn never_nil(expr: &FieldExpr) -> bool {
    match expr {
        FieldExpr::Attribute(Attribute::Intrinsic(_)) => true,
        FieldExpr::Attribute(Attribute::Custom {
            scope: AttributeScope::Resource,
            name,
        }) => name == "service.name",
        _ => false,
    }
}

fn check_regex(pattern_expr: &FieldExpr) -> Result<()> {
    let FieldExpr::Static(Static::String(pattern)) = pattern_expr else {
        return Err(Error::validate(
            "the right side of a regex match must be a string literal",
        ));
    };
    regex::Regex::new(&format!("^(?s:{pattern})$"))
        .map(|_| ())
        .map_err(|error| {
            Error::validate(format!(
                "invalid regex {pattern:?}: {}",
                first_line(&error.to_string())
            ))
        })
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or(text)
        .to_lowercase()
}

/// Checks a field expression and returns its static type.
fn check_field(expr: &FieldExpr) -> Result<Type> {
    match expr {
        FieldExpr::Static(value) => Ok(static_type(value)),
        FieldExpr::Attribute(attribute) => check_attribute(attribute),
        FieldExpr::Unary {
            op: UnaryOp::Neg,
            operand,
        } => {
            let operand_type = check_field(operand)?;
            if operand_type.is_numeric() || operand_type == Type::Attribute {
                return Ok(operand_type);
            }
            Err(Error::validate(format!(
                "unary '-' needs a numeric operand, found {}",
                operand_type.name()
            )))
        }
        FieldExpr::Unary {
            op: UnaryOp::Not,
            operand,
        } => {
            let operand_type = check_field(operand)?;
            if matches!(operand_type, Type::Bool | Type::Attribute) {
                return Ok(Type::Bool);
            }
            Err(Error::validate(format!(
                "'!' needs a boolean operand, found {}",
                operand_type.name()
            )))
        }
        FieldExpr::Binary { op, lhs, rhs } => {
            let lhs_type = check_field(lhs)?;
            let rhs_type = check_field(rhs)?;
            if matches!(op, FieldOp::Regex | FieldOp::NotRegex) {
                check_regex(rhs)?;
            }
            if !lhs_type.compatible(rhs_type) {
                return Err(Error::validate(format!(
                    "'{}' cannot combine {} and {}",
                    op.symbol(),
                    lhs_type.name(),
                    rhs_type.name()
                )));
            }
            for operand_type in [lhs_type, rhs_type] {
                if !operand_type.allows(*op) {
                    return Err(Error::validate(format!(
                        "'{}' cannot be used with {} operands",
                        op.symbol(),
                        operand_type.name()
                    )));
                }
            }
            let is_nil = |side: &FieldExpr| matches!(side, FieldExpr::Static(Static::Nil));
            if *op == FieldOp::Eq
                && ((is_nil(lhs) && never_nil(rhs)) || (is_nil(rhs) && never_nil(lhs)))
            {
                let other = if is_nil(lhs) { rhs } else { lhs };
                return Err(Error::validate(format!(
                    "{other} always exists and cannot be compared with nil"
                )));
            }
            if op.is_arithmetic() {
                return Ok(if lhs_type == Type::Attribute {
                    rhs_type
                } else {
                    lhs_type
                });
            }
            Ok(Type::Bool)
        }
    }
}

fn check_filter(expr: &FieldExpr) -> Result<()> {
    let filter_type = check_field(expr)?;
    if matches!(filter_type, Type::Bool | Type::Attribute) {
        return Ok(());
    }
    Err(Error::validate(format!(
        "a spanset filter must be a boolean expression, found {}",
        filter_type.name()
    )))
}

fn check_spanset(expr: &SpansetExpr) -> Result<()> {
    match expr {
        SpansetExpr::Filter(field) => check_filter(field),
        SpansetExpr::Binary { lhs, rhs, .. } => {
            check_spanset(lhs)?;
            check_spanset(rhs)
        }
    }
}

fn check_aggregate(aggregate: &Aggregate) -> Result<()> {
    let (Aggregate::Avg(field)
    | Aggregate::Min(field)
    | Aggregate::Max(field)
    | Aggregate::Sum(field)) = aggregate
    else {
        return Ok(());
    };
    let argument_type = check_field(field)?;
    if !(argument_type.is_numeric() || argument_type == Type::Attribute) {
        return Err(Error::validate(format!(
            "aggregate {aggregate} needs a numeric argument, found {}",
            argument_type.name()
        )));
    }
    if !field.references_span() {
        return Err(Error::validate(format!(
            "aggregate {aggregate} must reference an attribute or intrinsic"
        )));
    }
    Ok(())
}

fn check_scalar(expr: &ScalarExpr) -> Result<()> {
    match expr {
        ScalarExpr::Aggregate(aggregate) => check_aggregate(aggregate),
        ScalarExpr::Constant(constant) => constant.evaluate().map(|_| ()),
        ScalarExpr::Binary { lhs, rhs, .. } => {
            check_scalar(lhs)?;
            check_scalar(rhs)
        }
    }
}

fn check_scalar_filter(filter: &ScalarFilter) -> Result<()> {
    check_scalar(&filter.lhs)?;
    check_scalar(&filter.rhs)?;
    match (&filter.lhs, &filter.rhs) {
        (ScalarExpr::Aggregate(_), ScalarExpr::Constant(_))
        | (ScalarExpr::Constant(_), ScalarExpr::Aggregate(_)) => Ok(()),
        _ => Err(Error::unsupported(format!(
            "scalar filter '{filter}': only an aggregate compared with a constant is supported"
        ))),
    }
}

fn check_attributes(attributes: &[Attribute]) -> Result<()> {
    attributes
        .iter()
        .try_for_each(|attribute| check_attribute(attribute).map(|_| ()))
}

fn check_pipeline(pipeline: &Pipeline) -> Result<()> {
    for stage in &pipeline.stages {
        match stage {
            Stage::Spanset(spanset) => check_spanset(spanset)?,
            Stage::ScalarFilter(filter) => check_scalar_filter(filter)?,
            Stage::GroupBy(field) => {
                check_field(field)?;
                if !field.references_span() {
                    return Err(Error::validate(format!(
                        "by({field}) must reference an attribute or intrinsic"
                    )));
                }
            }
            Stage::Coalesce => {}
            Stage::Select(attributes) => check_attributes(attributes)?,
        }
    }
    Ok(())
}

fn check_pipeline_expr(expr: &PipelineExpr) -> Result<()> {
    match expr {
        PipelineExpr::Wrapped(pipeline) => check_pipeline(pipeline),
        PipelineExpr::Binary { lhs, rhs, .. } => {
            check_pipeline_expr(lhs)?;
            check_pipeline_expr(rhs)
        }
    }
}

fn check_scalar_pipeline(expr: &ScalarPipelineExpr) -> Result<()> {
    match expr {
        ScalarPipelineExpr::Pipeline {
            pipeline,
            aggregate,
        } => {
            check_pipeline(pipeline)?;
            check_aggregate(aggregate)
        }
        ScalarPipelineExpr::Constant(constant) => constant.evaluate().map(|_| ()),
        ScalarPipelineExpr::Binary { lhs, rhs, .. } => {
            check_scalar_pipeline(lhs)?;
            check_scalar_pipeline(rhs)
        }
    }
}

fn check_metrics_function(function: &MetricsFunction) -> Result<()> {
    let by = function.by();
    check_attributes(by)?;
    let max_by = match function {
        MetricsFunction::QuantileOverTime { .. }
        | MetricsFunction::OverTime {
            function: OverTimeFunction::Histogram,
            ..
        } => 4,
        _ => 5,
    };
    if by.len() > max_by {
        return Err(Error::unsupported(format!(
            "{function}: by() supports at most {max_by} attributes here"
        )));
    }
    match function {
        MetricsFunction::Rate { .. } | MetricsFunction::CountOverTime { .. } => Ok(()),
        MetricsFunction::OverTime { attribute, .. } => check_attribute(attribute).map(|_| ()),
        MetricsFunction::QuantileOverTime {
            attribute,
            quantiles,
            ..
        } => {
            check_attribute(attribute)?;
            match quantiles
                .iter()
                .find(|quantile| !(0.0..=1.0).contains(*quantile))
            {
                Some(quantile) => Err(Error::validate(format!(
                    "quantile {quantile} is not between 0 and 1"
                ))),
                None => Ok(()),
            }
        }
        MetricsFunction::Compare {
            filter,
            top_n,
            window,
        } => {
            check_filter(filter)?;
            if let Some(top_n) = top_n
                && !(1..=1000).contains(top_n)
            {
                return Err(Error::validate(format!(
                    "compare() topN must be between 1 and 1000, got {top_n}"
                )));
            }
            match window {
                Some((start, end))
                    if !((*start == 0 && *end == 0) || (*start > 0 && end > start)) =>
                {
                    Err(Error::validate(
                        "compare() start and end must both be 0, or both positive with end after start",
                    ))
                }
                _ => Ok(()),
            }
        }
    }
}

fn check_second_stage(ops: &[SecondStageOp]) -> Result<()> {
    for op in ops {
        match op {
            SecondStageOp::TopK(limit) | SecondStageOp::BottomK(limit) if *limit <= 0 => {
                return Err(Error::validate(format!(
                    "topk and bottomk need a limit above 0, got {limit}"
                )));
            }
            SecondStageOp::Filter { value, .. } => {
                value.evaluate()?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_metrics_query(query: &MetricsQuery) -> Result<()> {
    check_pipeline(&query.pipeline)?;
    check_metrics_function(&query.function)?;
    if matches!(query.function, MetricsFunction::Compare { .. }) && !query.second_stage.is_empty() {
        return Err(Error::validate(
            "compare() cannot be followed by topk, bottomk or a filter",
        ));
    }
    check_second_stage(&query.second_stage)
}

fn check_metrics_expr(expr: &MetricsExpr, in_arithmetic: bool) -> Result<()> {
    match expr {
        MetricsExpr::Query(query) => {
            check_metrics_query(query)?;
            if in_arithmetic && matches!(query.function, MetricsFunction::Compare { .. }) {
                return Err(Error::validate("compare() cannot be used in arithmetic"));
            }
            Ok(())
        }
        MetricsExpr::Scalar(constant) => constant.evaluate().map(|_| ()),
        MetricsExpr::Binary { lhs, rhs, .. } => {
            check_metrics_expr(lhs, true)?;
            check_metrics_expr(rhs, true)
        }
    }
}

/// Validates a parsed query: type rules, Tempo's validation, and what is unsupported.
pub fn validate(root: &RootExpr) -> Result<()> {
    match &root.body {
        Body::Pipeline(pipeline) => check_pipeline(pipeline),
        Body::PipelineExpr(expr) => check_pipeline_expr(expr),
        Body::ScalarPipelineFilter(filter) => {
            check_scalar_pipeline(&filter.lhs)?;
            check_scalar_pipeline(&filter.rhs)?;
            Err(Error::unsupported(
                "scalar filters over wrapped pipelines are not supported",
            ))
        }
        Body::Metrics(metrics) => {
            check_metrics_expr(&metrics.expr, false)?;
            if matches!(&metrics.expr, MetricsExpr::Query(query) if matches!(query.function, MetricsFunction::Compare { .. }))
                && !metrics.second_stage.is_empty()
            {
                return Err(Error::validate(
                    "compare() cannot be followed by topk, bottomk or a filter",
                ));
            }
            check_second_stage(&metrics.second_stage)
        }
    }
}
