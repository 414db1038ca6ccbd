//! The fetch interface: how the engine asks a data source for spans, and what a source gives
//! back. `storage` implements [`SpanSource`] over one unit of a vc1 block (a block and a range of
//! its row groups); the ingester uses the in-memory implementation over its recent traces; both
//! must answer the same request with the same spans. `traceql` itself does no IO.
//!
//! A search or metrics query over one unit runs in two passes:
//! 1. [`SpanSource::fetch`] with a [`FetchRequest`]: the conditions the planner extracted. The
//!    source returns the spans that may satisfy them (see [`Combine`]) with the values of every
//!    requested attribute, grouped by trace, in [`SpanBatch`]es. A source may return more spans
//!    than asked for (any superset is correct: the engine evaluates the whole query again on
//!    what it gets) but never fewer. Conditions are evaluated with exactly the rules of
//!    [`crate::value`], so a vectorised source selects what the engine would.
//! 2. [`SpanSource::fetch_second_pass`] for the spans the engine kept: the fields a result shows
//!    (span name, `select()` attributes) and per-trace service statistics, only for those rows.
//!
//! Units combine: results of different units of the same query merge (spans deduplicated by span
//! ID), so the work can be split by block and row-group range in any way.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use contrail_proto::{ErrorCode, SpanId, TraceId};

use crate::ast::{Attribute, Static};
use crate::value::{CompareOp, Value};

/// What a condition asks of an attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionOp {
    /// `attribute OP value` (`value` is never `Static::Nil`).
    Compare { op: CompareOp, value: Static },
    /// `attribute =~ pattern` (`negated`: `!~`); the pattern as written, unanchored: compile it
    /// with [`crate::value::compile_regex`].
    Regex { pattern: String, negated: bool },
    /// `attribute != nil`.
    Exists,
    /// `attribute = nil`.
    Missing,
}

/// One attribute a query needs, and optionally how it narrows the spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// An intrinsic or a custom attribute. Unscoped `.x` means every scope (see [`SpanBatch`]).
    pub attribute: Attribute,
    /// `None`: only fetch the values (for the engine, `by()`, `select()`), select nothing.
    pub op: Option<ConditionOp>,
}

impl Condition {
    /// A condition that only fetches `attribute`.
    pub fn fetch(attribute: Attribute) -> Self {
        Condition {
            attribute,
            op: None,
        }
    }
}

/// How the conditions that have an operator select spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Combine {
    /// A span is returned when every condition with an operator holds for it.
    #[default]
    All,
    /// A span is returned when at least one condition with an operator holds for it.
    Any,
}

/// The first-pass request for one unit.
///
/// Semantics a source implements:
/// - Only traces whose time range overlaps `[start_unix_nano, end_unix_nano]` (a trace's range is
///   its portion's earliest span start to latest span end; the bounds are inclusive). A span is
///   never filtered by its own time here: the engine's result is per trace.
/// - With no condition that has an operator, every span of the selected traces is returned.
///   Otherwise spans are selected by [`Combine`]. Trace-level intrinsics (`trace:duration`,
///   `trace:rootName`, `trace:rootService`, `trace:id`) hold for every span of a trace or none.
///   Event and link conditions hold for a span when at least one of its events (links) satisfies
///   them. A condition on an unscoped attribute holds when the attribute in any scope does.
/// - ID intrinsics compare as IDs ([`crate::value::normalize_hex_id`]); a literal that is not
///   valid hex matches nothing with `=` and every span with `!=`.
/// - A portion with orphans ([`TraceInfo::has_orphans`]) may be part of a trace split across
///   units, so (1) trace-level conditions (`trace:duration`, `trace:rootName`,
///   `trace:rootService`) hold for all its spans (the engine decides on the whole trace), and
///   (2) it is always returned, with its [`TraceInfo`], even when none of its spans is
///   selected (then `rows` is empty). The engine defers such traces and fetches every portion
///   with `trace_ids`.
/// - `trace_ids`: when set, only these traces (sorted ascending, no duplicates); used to fetch
///   every portion of a trace that turned out to be split across units (see [`TraceInfo`]).
///   The engine asks for `span:parentID` then, to rebuild the structure over the union.
/// - Every row of one trace is in the same [`SpanBatch`] of an answer.
/// - `keep_most_recent`: see the field.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub conditions: Vec<Condition>,
    pub combine: Combine,
    pub trace_ids: Option<Vec<TraceId>>,
    /// The engine needs `SpanColumns::span_id` (search results, dedupe). Metrics over many
    /// spans may leave it off; the source then leaves the column empty.
    pub need_span_ids: bool,
    /// The engine needs the nested-set columns (structural operators, `span:childCount`).
    pub need_structure: bool,
    /// The engine reads [`TraceInfo::root_service_name`] and [`TraceInfo::root_span_name`]
    /// (search results, `trace:rootService`, `trace:rootName`); without it a source may leave
    /// them `None` (metrics over many spans that do not name them).
    pub need_trace_roots: bool,
    /// The engine passes rows back ([`SecondPassRequest::rows`], search and tags): the source
    /// sets [`SpanColumns::row_ref`]; without it a source may leave the column empty (metrics).
    pub need_row_refs: bool,
    /// `compare()`: also return, for the returned spans, every span-level intrinsic (`name`,
    /// `status`, `statusMessage`, `kind`, `instrumentation:name`, `instrumentation:version`) and
    /// every span, resource and instrumentation attribute they have, as `span_values` columns.
    pub all_attributes: bool,
    /// `Some(n)`: the engine keeps at most `n` traces of each batch, the most recent first
    /// (greatest `start_unix_nano`, then lowest trace ID), and every trace with a span that
    /// satisfies the conditions is in its result (the conditions, combined with
    /// [`Combine::All`], are the whole query). A source whose own evaluation of the conditions
    /// is exact may then return, per batch, only the spans of the `n` most recent selected
    /// traces without orphans (and every trace with orphans, as always), and counts the
    /// traces it left out in [`SpanBatch::omitted_traces`]. A source may ignore it.
    pub keep_most_recent: Option<usize>,
}

impl FetchRequest {
    /// Every span of every trace in `[start, end]`, with span IDs and structure.
    pub fn all_spans(start_unix_nano: u64, end_unix_nano: u64) -> Self {
        FetchRequest {
            start_unix_nano,
            end_unix_nano,
            conditions: Vec::new(),
            combine: Combine::All,
            trace_ids: None,
            need_span_ids: true,
            need_structure: true,
            need_trace_roots: true,
            need_row_refs: true,
            all_attributes: false,
            keep_most_recent: None,
        }
    }
}

/// One trace of a batch: trace-level fields of the portion of the trace this source holds.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceInfo {
    pub trace_id: TraceId,
    /// Earliest span start of the portion.
    pub start_unix_nano: u64,
    /// Latest span end of the portion (`trace:duration` = end − start).
    pub end_unix_nano: u64,
    /// `service.name` of the root span's resource; `None` when the portion has no root span.
    pub root_service_name: Option<Arc<str>>,
    /// Name of the root span; `None` when the portion has no root span.
    pub root_span_name: Option<Arc<str>>,
    /// This trace's returned spans: rows `rows` of the batch's span columns (contiguous).
    pub rows: Range<usize>,
    /// The portion has spans whose parent is not in it (a parent span ID that no span of the
    /// portion has). Such a trace may be split across blocks (a long-running trace flushed
    /// twice): trace-level results need all its portions (fetched with `trace_ids`).
    pub has_orphans: bool,
    /// Spans in the portion (all of them, not only the returned ones).
    pub span_count: u32,
}

/// Per-span columns that every batch has (row-aligned; empty when not requested).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanColumns {
    /// Set when [`FetchRequest::need_span_ids`].
    pub span_id: Vec<SpanId>,
    pub start_unix_nano: Vec<u64>,
    pub duration_nano: Vec<u64>,
    /// Nested-set numbers within the trace portion, as Tempo defines them: `left`/`right` from
    /// one depth-first counter starting at 1, `parent` = the parent's `left` (−1 for a root).
    /// Spans not connected to a root of the portion (a missing parent, and its descendants)
    /// have 0, 0, 0: they match no structural relation. Set when
    /// [`FetchRequest::need_structure`].
    pub nested_set_left: Vec<i32>,
    pub nested_set_right: Vec<i32>,
    pub nested_set_parent: Vec<i32>,
    /// An opaque per-source address of the row, passed back in [`SecondPassRequest::rows`].
    pub row_ref: Vec<u64>,
}

/// One value per row, plainly or as keys into a small table (for low-cardinality data such as
/// resource attributes and dictionary-encoded columns, so evaluation and grouping can work on
/// the keys).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueColumn {
    Plain(Vec<Value>),
    /// `values[keys[row]]`.
    Dict {
        keys: Vec<u32>,
        values: Vec<Value>,
    },
}

impl ValueColumn {
    /// The value of `row` (`Value::Nil` past the end or for a bad key).
    pub fn get(&self, row: usize) -> &Value {
        const NIL: &Value = &Value::Nil;
        match self {
            ValueColumn::Plain(values) => values.get(row).unwrap_or(NIL),
            ValueColumn::Dict { keys, values } => keys
                .get(row)
                .and_then(|key| values.get(*key as usize))
                .unwrap_or(NIL),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ValueColumn::Plain(values) => values.len(),
            ValueColumn::Dict { keys, .. } => keys.len(),
        }
    }

    /// `true` when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate bytes held.
    pub fn memory_size(&self) -> usize {
        match self {
            ValueColumn::Plain(values) => values.iter().map(Value::memory_size).sum(),
            ValueColumn::Dict { keys, values } => {
                keys.len() * 4 + values.iter().map(Value::memory_size).sum::<usize>()
            }
        }
    }
}

/// Values of the events (or links) of each span: event `e` of span `row` is item
/// `offsets[row] + e`, for `e < offsets[row + 1] - offsets[row]`. `offsets` has one entry per
/// span row plus one (or is empty when no event/link attribute was requested).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NestedValues {
    pub offsets: Vec<u32>,
    /// Columns aligned with the items, keyed by a scoped attribute (`event.x`, `event:name`,
    /// `event:timeSinceStart`; `link.x`, `link:traceID`, `link:spanID`).
    pub columns: Vec<(Attribute, ValueColumn)>,
}

impl NestedValues {
    /// The item range of span `row`.
    pub fn items_of(&self, row: usize) -> Range<usize> {
        match (self.offsets.get(row), self.offsets.get(row + 1)) {
            (Some(start), Some(end)) => *start as usize..*end as usize,
            _ => 0..0,
        }
    }
}

/// Spans of whole traces from one source, with the values the request asked for.
///
/// Attribute keys: `span_values` holds span-level intrinsics (`name`, `status`,
/// `statusMessage`, `kind`, `span:parentID`, `span:childCount`, `instrumentation:name`,
/// `instrumentation:version`) and custom attributes with a
/// concrete scope: `span.x`, `resource.x`, `instrumentation.x`. A requested unscoped `.x` is
/// answered by all of `span.x`, `resource.x`, `instrumentation.x` here and `event.x` / `link.x`
/// in `events` / `links`; the engine resolves the scope order (span → resource → event → link →
/// instrumentation). Trace-level intrinsics are in [`TraceInfo`]; `duration` and the span start
/// are in [`SpanColumns`], and so are `span:id` ([`SpanColumns::span_id`]) and the
/// `nestedSet*` intrinsics: the engine reads those from there. ID values (`span:parentID`,
/// `link:traceID`, `link:spanID`) are full-width lowercase hex strings; `span:parentID` is nil
/// for a root. A column missing from the batch means nil for every row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanBatch {
    pub traces: Vec<TraceInfo>,
    pub spans: SpanColumns,
    pub span_values: Vec<(Attribute, ValueColumn)>,
    pub events: NestedValues,
    pub links: NestedValues,
    /// Selected traces the source left out under [`FetchRequest::keep_most_recent`]: each
    /// starts before every trace without orphans the batch returns.
    pub omitted_traces: usize,
}

impl SpanBatch {
    /// Number of span rows.
    pub fn span_rows(&self) -> usize {
        self.spans.start_unix_nano.len()
    }

    /// The span-level column of `attribute`, if the source returned one.
    pub fn span_column(&self, attribute: &Attribute) -> Option<&ValueColumn> {
        self.span_values
            .iter()
            .find(|(key, _)| key == attribute)
            .map(|(_, column)| column)
    }

    /// Approximate bytes held, for memory budgets.
    pub fn memory_size(&self) -> usize {
        let rows = self.span_rows();
        let per_row = 8 + 8 + 8 + 12 + 8;
        let traces = self.traces.len() * std::mem::size_of::<TraceInfo>();
        let values: usize = self
            .span_values
            .iter()
            .chain(&self.events.columns)
            .chain(&self.links.columns)
            .map(|(_, column)| column.memory_size())
            .sum();
        rows * per_row
            + traces
            + values
            + (self.events.offsets.len() + self.links.offsets.len()) * 4
    }
}

/// Statistics of one service within one trace (search results' `serviceStats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStats {
    pub service_name: Arc<str>,
    pub span_count: u32,
    pub error_count: u32,
}

/// The second pass: result fields for the spans the engine kept.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondPassRequest {
    /// `row_ref`s from this source's first-pass batches, ascending, no duplicates.
    pub rows: Vec<u64>,
    /// Span-level, event or link attributes to return for those rows (e.g. `name` and the
    /// `select()` attributes); the same keying rules as [`SpanBatch`].
    pub attributes: Vec<Attribute>,
    /// Traces whose per-service span and error counts are wanted (over all their spans).
    pub service_stats_for: Vec<TraceId>,
}

/// What the second pass returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecondPassBatch {
    /// The requested rows, in request order; columns are aligned with them.
    pub rows: Vec<u64>,
    pub span_values: Vec<(Attribute, ValueColumn)>,
    pub events: NestedValues,
    pub links: NestedValues,
    /// Per requested trace that the source holds.
    pub service_stats: Vec<(TraceId, Vec<ServiceStats>)>,
}

/// What a source read to answer a request (search responses report these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub inspected_traces: u64,
    pub inspected_spans: u64,
    pub inspected_bytes: u64,
}

/// The first pass's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchOutput {
    pub batches: Vec<SpanBatch>,
    pub stats: FetchStats,
}

/// A query ran past its memory budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query exceeded its memory budget of {limit_bytes} bytes")]
pub struct BudgetExceeded {
    pub limit_bytes: usize,
}

/// The per-query memory budget: bytes of decoded columns and of held results. Sources reserve
/// what they decode while they decode it and release it when they hand the batches over; the
/// engine reserves the batches it holds (until evaluated) and its running answer.
#[derive(Debug)]
pub struct MemoryBudget {
    limit_bytes: usize,
    used_bytes: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit_bytes`.
    pub fn new(limit_bytes: usize) -> Self {
        MemoryBudget {
            limit_bytes,
            used_bytes: AtomicUsize::new(0),
        }
    }

    /// No limit (tests, tools).
    pub fn unlimited() -> Self {
        MemoryBudget::new(usize::MAX)
    }

    /// Reserves `bytes`, or fails without reserving when that would pass the limit.
    pub fn reserve(&self, bytes: usize) -> Result<(), BudgetExceeded> {
        let mut used = self.used_bytes.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if next > self.limit_bytes {
                return Err(BudgetExceeded {
                    limit_bytes: self.limit_bytes,
                });
            }
            match self.used_bytes.compare_exchange_weak(
                used,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => used = actual,
            }
        }
    }

    /// Gives back `bytes` reserved earlier.
    pub fn release(&self, bytes: usize) {
        let _ = self
            .used_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Bytes reserved now.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }
}

/// Why a source could not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Budget(#[from] BudgetExceeded),
    /// The source failed (object store unavailable, corrupt block, ...): its error code and
    /// message, kept for the API answer.
    #[error("{message}")]
    Source { code: ErrorCode, message: String },
}

impl FetchError {
    /// The wire code (a budget overrun: the query asks for too much at once).
    pub fn code(&self) -> ErrorCode {
        match self {
            FetchError::Budget(_) => ErrorCode::TooLarge,
            FetchError::Source { code, .. } => *code,
        }
    }
}

impl From<crate::cpu::CpuRunError> for FetchError {
    fn from(error: crate::cpu::CpuRunError) -> Self {
        FetchError::Source {
            code: ErrorCode::Internal,
            message: error.to_string(),
        }
    }
}

/// One unit of data the engine can query: a vc1 block's row-group range, or a set of traces in
/// memory. Implementations do their IO asynchronously and their CPU-heavy decoding on a bounded
/// pool, never on the async runtime's threads.
#[async_trait]
pub trait SpanSource: Send + Sync {
    /// First pass (see the module docs and [`FetchRequest`]).
    async fn fetch(
        &self,
        request: &FetchRequest,
        budget: &MemoryBudget,
    ) -> Result<FetchOutput, FetchError>;

    /// Second pass (see [`SecondPassRequest`]).
    async fn fetch_second_pass(
        &self,
        request: &SecondPassRequest,
        budget: &MemoryBudget,
    ) -> Result<SecondPassBatch, FetchError>;

    /// An upper bound of the start of every span the unit holds (a block's latest span
    /// start or end), or `None` when unknown. The driver visits units newest first and skips
    /// one whose bound is older than every trace of a full answer.
    fn latest_start_unix_nano(&self) -> Option<u64> {
        None
    }
}
