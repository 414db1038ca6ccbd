//! The planner: a validated search query and its options become a [`Plan`]: the first-pass
//! [`FetchRequest`] (see `conditions.rs` for what is pushed down and why that never changes a
//! result), the second-pass attributes, and the evaluation [`Program`] (`compile.rs`).

mod compile;
mod conditions;

use crate::ast::{Attribute, Body, Intrinsic, RootExpr, Static};
use crate::error::{Error, Result};
use crate::eval::program::{PipelineExpr, Program};
use crate::fetch::{Combine, FetchRequest};

pub use conditions::{always_available, condition_op};

/// Search parameters (`/api/search`'s `start`, `end`, `limit`, `spss`, and the
/// `most_recent` hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOptions {
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// Traces returned (Tempo's default 20).
    pub limit: usize,
    /// Spans shown per spanset; 0 = all (Tempo's default 3).
    pub spans_per_spanset: usize,
    /// `with(most_recent=true)`: Contrail always returns the most recent traces (ADR 006), so
    /// this only records what was asked.
    pub most_recent: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            start_unix_nano: 0,
            end_unix_nano: u64::MAX,
            limit: 20,
            spans_per_spanset: 3,
            most_recent: false,
        }
    }
}

/// A search ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub options: SearchOptions,
    /// The first pass; `None` when the query can match nothing (nothing is fetched).
    pub fetch: Option<FetchRequest>,
    /// Attributes the second pass returns for result spans: `name`, then `select()`'s.
    pub second_pass: Vec<Attribute>,
    pub program: Program,
}

fn result_key(attribute: &Attribute) -> Option<String> {
    match attribute {
        Attribute::Custom { name, .. } => Some(name.clone()),
        Attribute::Intrinsic(
            Intrinsic::Name
            | Intrinsic::Duration
            | Intrinsic::TraceDuration
            | Intrinsic::TraceRootName
            | Intrinsic::TraceRootService
            | Intrinsic::TraceId
            | Intrinsic::SpanId
            | Intrinsic::Parent,
        ) => None,
        Attribute::Intrinsic(_) => {
            let printed = attribute.to_string();
            Some(printed.strip_prefix("span:").unwrap_or(&printed).to_owned())
        }
    }
}

/// The key under which a result span shows `attribute` (bare name, no scope), or `None` for
/// the fields a span result has anyway (name, duration, IDs, trace-level intrinsics).
pub fn shown_key(attribute: &Attribute) -> Option<String> {
    result_key(attribute)
}

/// Plans a search query. The query is validated first.
pub fn plan_search(root: &RootExpr, options: SearchOptions) -> Result<Plan> {
    crate::validate(root)?;
    let mut compiler = compile::Compiler::default();
    let body = match &root.body {
        Body::Pipeline(pipeline) => PipelineExpr::Wrapped(compiler.pipeline(pipeline)?),
        Body::PipelineExpr(expr) => compiler.pipeline_expr(expr)?,
        Body::ScalarPipelineFilter(_) => {
            return Err(Error::unsupported(
                "scalar filters over wrapped pipelines are not supported",
            ));
        }
        Body::Metrics(_) => {
            return Err(Error::validate(
                "a metrics query cannot be run as a search; use the metrics API",
            ));
        }
    };
    let most_recent = options.most_recent
        || root
            .hints
            .iter()
            .any(|hint| hint.name == "most_recent" && hint.value == Static::Bool(true));
    let attributes = compiler.attributes;
    let mut shown: Vec<(std::sync::Arc<str>, usize)> = Vec::new();
    for attr in &compiler.filter_attributes {
        if let Some(key) = result_key(&attributes[*attr])
            && !shown.iter().any(|(known, _)| **known == *key)
        {
            shown.push((std::sync::Arc::from(key.as_str()), *attr));
        }
    }
    let mut second_pass = vec![Attribute::Intrinsic(Intrinsic::Name)];
    second_pass.extend(compiler.selected.iter().cloned());
    let decides_match = conditions::decides_match(&body);
    let fetch = conditions::selecting(&body).map(|(combine, selecting)| FetchRequest {
        start_unix_nano: options.start_unix_nano,
        end_unix_nano: options.end_unix_nano,
        conditions: conditions::conditions(&attributes, &selecting),
        combine: if selecting.is_empty() {
            Combine::All
        } else {
            combine
        },
        trace_ids: None,
        need_span_ids: true,
        need_structure: conditions::needs_structure(&body, &attributes),
        need_trace_roots: true,
        need_row_refs: true,
        all_attributes: false,
        keep_most_recent: (decides_match && combine == Combine::All && !selecting.is_empty())
            .then_some(options.limit.max(1)),
    });
    Ok(Plan {
        options: SearchOptions {
            most_recent,
            ..options
        },
        fetch,
        second_pass,
        program: Program {
            attributes,
            body,
            shown,
        },
    })
}

#[cfg(test)]
mod tests;

/// A span pipeline compiled for a consumer of its surviving spans other than search (the
/// metrics first stage): the first-pass request (`None` when nothing can match), the program,
/// and extra filters compiled against the same attributes (`compare()`'s selection filter).
#[derive(Debug, Clone)]
pub struct PipelinePlan {
    pub fetch: Option<FetchRequest>,
    pub program: Program,
    pub filters: Vec<crate::eval::program::Filter>,
}

/// What [`plan_pipeline`] compiles, beyond the pipeline itself.
#[derive(Debug, Clone, Copy)]
pub struct PipelineInputs<'a> {
    /// Filters evaluated on the surviving spans (their attributes are fetched too).
    pub filters: &'a [crate::ast::FieldExpr],
    /// Attributes to fetch (values only) for the consumer (`by()`, the function's attribute).
    pub fetch_attributes: &'a [Attribute],
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub need_span_ids: bool,
    /// `compare()`: fetch every attribute of the spans.
    pub all_attributes: bool,
}

/// Whether `attribute` is read from the trace's root (its service or span name).
fn names_a_root(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Intrinsic(Intrinsic::TraceRootService | Intrinsic::TraceRootName)
    )
}

/// Compiles one span pipeline of a metrics query (the hook metrics uses; same pushdown rules
/// as [`plan_search`]).
pub fn plan_pipeline(
    pipeline: &crate::ast::Pipeline,
    inputs: PipelineInputs<'_>,
) -> Result<PipelinePlan> {
    let mut compiler = compile::Compiler::default();
    let body = PipelineExpr::Wrapped(compiler.pipeline(pipeline)?);
    let filters = inputs
        .filters
        .iter()
        .map(|filter| compiler.filter(filter))
        .collect::<Result<Vec<_>>>()?;
    let mut attributes = compiler.attributes;
    for attribute in inputs.fetch_attributes {
        if !attributes.contains(attribute) {
            attributes.push(attribute.clone());
        }
    }
    let fetch = conditions::selecting(&body).map(|(combine, selecting)| FetchRequest {
        start_unix_nano: inputs.start_unix_nano,
        end_unix_nano: inputs.end_unix_nano,
        conditions: conditions::conditions(&attributes, &selecting),
        combine: if selecting.is_empty() {
            Combine::All
        } else {
            combine
        },
        trace_ids: None,
        need_span_ids: inputs.need_span_ids,
        need_structure: conditions::needs_structure(&body, &attributes),
        need_trace_roots: inputs.all_attributes || attributes.iter().any(names_a_root),
        // the metrics first stage never runs a second pass
        need_row_refs: false,
        all_attributes: inputs.all_attributes,
        keep_most_recent: None,
    });
    Ok(PipelinePlan {
        fetch,
        program: Program {
            attributes,
            body,
            shown: Vec::new(),
        },
        filters,
    })
}
