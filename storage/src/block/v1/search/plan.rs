//! A first-pass request against one block: the resolved conditions, how each can be pruned,
//! the leaves the first pass decodes, and the attributes the batches report.

use contrail_traceql::ast::{Attribute, Intrinsic};
use contrail_traceql::fetch::{Combine, FetchRequest};

use std::sync::Arc;

use contrail_traceql::ast::Static;

use super::condition::{
    FlatTest, Op, Prune, Resolved, ResolvedSource, flat_test, id_width, is_absent, resolve,
};
use super::leaves::Leaves;
use super::sources::{FlatKind, Source, sources_of, value_leaves};
use crate::block::v1::convert::RefTables;
use crate::block::v1::schema;

/// Everything the scan of one row group needs to know about the request.
#[derive(Debug, Clone)]
pub(crate) struct ScanPlan {
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
    pub(crate) combine: Combine,
    pub(crate) conditions: Vec<Resolved>,
    pub(crate) prunes: Vec<Prune>,
    /// Sorted trace IDs of a targeted fetch.
    pub(crate) trace_ids: Option<Vec<[u8; 16]>>,
    pub(crate) outputs: Outputs,
    /// Leaves decoded to evaluate the conditions (sorted, unique).
    pub(crate) eval_leaves: Vec<usize>,
    /// Keys of the `span.x` conditions, looked for in the generic `attrs` list (sorted, unique).
    pub(crate) generic_keys: Vec<Arc<str>>,
    /// The `attrs.key` leaf, if the file has it.
    pub(crate) attrs_key_leaf: Option<usize>,
    pub(crate) need_span_ids: bool,
    pub(crate) need_structure: bool,
    /// Decode the root service and name (the request's `need_trace_roots`).
    pub(crate) need_trace_roots: bool,
    /// Set `SpanColumns::row_ref` (the request's `need_row_refs`).
    pub(crate) need_row_refs: bool,
    /// The request's `keep_most_recent`, kept only when this block evaluates every condition
    /// exactly (so a selected span is a matched trace): then a row group returns only the
    /// spans of its most recent selected traces.
    pub(crate) keep_most_recent: Option<usize>,
}

/// Whether the first pass selects exactly the spans `condition` holds for (never a superset):
/// resource and scope sets, and comparisons on the span columns it decodes as the engine reads
/// them (status, kind, duration against a duration, name and status message). Everything
/// else (attribute lists with array values, IDs, regexes, structural and trace-level
/// intrinsics) may select more, so the engine must see every selected trace.
fn is_exact(condition: &Resolved) -> bool {
    if condition.trace_level {
        return false;
    }
    let Op::Compare { op, value } = &condition.op else {
        return false;
    };
    condition.sources.iter().all(|source| match source {
        ResolvedSource::RefIn { .. } => true,
        ResolvedSource::Column(Source::Flat(flat)) => {
            let kind_exact = match flat.kind {
                FlatKind::Status | FlatKind::Kind | FlatKind::String => true,
                FlatKind::Duration => matches!(value, Static::Duration(_)),
                FlatKind::Int | FlatKind::Id => false,
            };
            kind_exact
                && matches!(
                    flat_test(flat.kind, *op, value, id_width(flat.column)),
                    FlatTest::Predicate(_) | FlatTest::Nothing
                )
        }
        ResolvedSource::Column(_) => false,
    })
}

/// The attributes a batch reports, by where they go.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outputs {
    pub(crate) span: Vec<(Attribute, Source)>,
    pub(crate) events: Vec<(Attribute, Source)>,
    pub(crate) links: Vec<(Attribute, Source)>,
    /// Keys of `span.x` sources that no span of the row group has in the generic `attrs`
    /// list (sorted): their values come from the dedicated column alone.
    pub(crate) absent_keys: Vec<Arc<str>>,
}

impl Outputs {
    /// The sources of `attributes`, without duplicates, split by destination.
    pub(crate) fn of<'a>(attributes: impl IntoIterator<Item = &'a Attribute>) -> Outputs {
        let mut outputs = Outputs::default();
        for attribute in attributes {
            for (key, source) in sources_of(attribute) {
                let list = match source {
                    Source::Event(_) => &mut outputs.events,
                    Source::Link(_) => &mut outputs.links,
                    _ => &mut outputs.span,
                };
                if !list.iter().any(|(existing, _)| *existing == key) {
                    list.push((key, source));
                }
            }
        }
        outputs
    }

    /// The leaves needed to produce these values.
    pub(crate) fn leaves(&self, leaves: &Leaves) -> Result<Vec<usize>, String> {
        let mut out = Vec::new();
        for (_, source) in self.span.iter().chain(&self.events).chain(&self.links) {
            match source {
                Source::SpanAttr {
                    key,
                    dedicated: Some(flat),
                } if is_absent(&self.absent_keys, key) => out.push(leaves.get(flat.column)?),
                Source::SpanAttr { key, .. } if is_absent(&self.absent_keys, key) => {}
                _ => out.extend(value_leaves(leaves, source)?),
            }
        }
        Ok(out)
    }

    /// The keys of the `span.x` sources (sorted, unique).
    pub(crate) fn generic_keys(&self) -> Vec<Arc<str>> {
        let mut keys: Vec<Arc<str>> = self
            .span
            .iter()
            .filter_map(|(_, source)| match source {
                Source::SpanAttr { key, .. } => Some(Arc::from(key.as_str())),
                _ => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// These outputs for a row group whose generic `attrs` list holds none of `absent_keys`.
    pub(crate) fn without_generic(&self, absent_keys: Vec<Arc<str>>) -> Outputs {
        Outputs {
            absent_keys,
            ..self.clone()
        }
    }

    /// Whether any of them needs more of the structure than the trace boundaries (nested
    /// sets, parents, child counts).
    pub(crate) fn needs_structure(&self) -> bool {
        self.span
            .iter()
            .any(|(_, source)| matches!(source, Source::Structural(_)))
    }

    /// Whether `span:parentID` is among them (it needs the span IDs of parent rows).
    pub(crate) fn needs_parent_ids(&self) -> bool {
        self.span
            .iter()
            .any(|(_, source)| matches!(source, Source::Structural(Intrinsic::SpanParentId)))
    }
}

/// Sorted, unique.
pub(crate) fn sorted_unique(mut leaves: Vec<usize>) -> Vec<usize> {
    leaves.sort_unstable();
    leaves.dedup();
    leaves
}

impl ScanPlan {
    pub(crate) fn new(
        request: &FetchRequest,
        tables: &RefTables,
        leaves: &Leaves,
    ) -> Result<ScanPlan, String> {
        let conditions: Vec<Resolved> = request
            .conditions
            .iter()
            .filter_map(|condition| resolve(condition, tables))
            .collect();
        let prunes = conditions.iter().map(|c| c.prune(leaves)).collect();
        let mut eval_leaves = Vec::new();
        for condition in &conditions {
            eval_leaves.extend(condition.eval_leaves(leaves, &[])?);
        }
        let mut generic_keys: Vec<Arc<str>> = conditions
            .iter()
            .flat_map(|condition| &condition.sources)
            .filter_map(|source| match source {
                ResolvedSource::Column(Source::SpanAttr { key, .. }) => {
                    Some(Arc::from(key.as_str()))
                }
                _ => None,
            })
            .collect();
        generic_keys.sort_unstable();
        generic_keys.dedup();
        let trace_ids = request.trace_ids.as_ref().map(|ids| {
            let mut ids: Vec<[u8; 16]> = ids.iter().map(|id| id.to_array()).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        let exact = request.combine == Combine::All
            && !conditions.is_empty()
            && conditions.iter().all(is_exact)
            && trace_ids.is_none();
        Ok(ScanPlan {
            keep_most_recent: request.keep_most_recent.filter(|_| exact),
            start_unix_nano: request.start_unix_nano,
            end_unix_nano: request.end_unix_nano,
            combine: request.combine,
            conditions,
            prunes,
            trace_ids,
            outputs: Outputs::of(request.conditions.iter().map(|c| &c.attribute)),
            eval_leaves: sorted_unique(eval_leaves),
            generic_keys,
            attrs_key_leaf: leaves.find(&format!("{}.key", schema::ATTRS)),
            need_span_ids: request.need_span_ids,
            need_structure: request.need_structure,
            need_trace_roots: request.need_trace_roots,
            need_row_refs: request.need_row_refs,
        })
    }

    /// The leaves decoded to evaluate the conditions in a row group whose `attrs` list holds
    /// none of `absent_keys` (sorted, unique).
    pub(crate) fn eval_leaves_without(
        &self,
        leaves: &Leaves,
        absent_keys: &[Arc<str>],
    ) -> Result<Vec<usize>, String> {
        if absent_keys.is_empty() {
            return Ok(self.eval_leaves.clone());
        }
        let mut out = Vec::new();
        for condition in &self.conditions {
            out.extend(condition.eval_leaves(leaves, absent_keys)?);
        }
        Ok(sorted_unique(out))
    }

    /// Whether conditions with an operator select spans at all.
    pub(crate) fn has_conditions(&self) -> bool {
        !self.conditions.is_empty()
    }

    /// Whether the combination of per-condition "may match" flags may select a span.
    pub(crate) fn may_select(&self, possible: &[bool]) -> bool {
        if possible.is_empty() {
            return true;
        }
        match self.combine {
            Combine::All => possible.iter().all(|p| *p),
            Combine::Any => possible.iter().any(|p| *p),
        }
    }
}

/// The structure leaves (read for every row of a row group with matches).
pub(crate) fn structure_leaves(leaves: &Leaves) -> Result<Vec<usize>, String> {
    [
        schema::NESTED_SET_LEFT,
        schema::NESTED_SET_RIGHT,
        schema::PARENT_INDEX,
        schema::PARENT_SPAN_ID,
    ]
    .iter()
    .map(|name| leaves.get(name))
    .collect()
}

/// The per-span leaves every batch needs.
pub(crate) fn span_leaves(
    leaves: &Leaves,
    span_ids: bool,
    trace_roots: bool,
) -> Result<Vec<usize>, String> {
    let mut names = vec![
        schema::TRACE_ID,
        schema::TRACE_START,
        schema::TRACE_DURATION,
        schema::START_OFFSET,
        schema::DURATION,
    ];
    if trace_roots {
        names.extend([schema::ROOT_SERVICE_NAME, schema::ROOT_SPAN_NAME]);
    }
    if span_ids {
        names.push(schema::SPAN_ID);
    }
    names.iter().map(|name| leaves.get(name)).collect()
}
