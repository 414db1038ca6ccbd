//! Where each TraceQL attribute lives in a `vc1` block, and the leaf columns that answer it.
//!
//! A requested attribute becomes one or more [`Source`]s, each keyed by the scoped attribute
//! the batch reports it under: an unscoped `.x` is answered by `span.x`, `resource.x` and
//! `instrumentation.x` (span level) and `event.x`, `link.x` (per item).

use contrail_traceql::ast::{Attribute, AttributeScope, Intrinsic};

use super::leaves::Leaves;
use crate::block::v1::schema::{self, DedicatedScope, DedicatedType, dedicated_of};

/// A per-row column holding an intrinsic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlatKind {
    /// Text (`name`, `statusMessage` with null read as "", root names).
    String,
    /// Nanoseconds (`duration_nano`, `trace_duration_nano`).
    Duration,
    /// OTLP status code (null read as unset).
    Status,
    /// OTLP span kind.
    Kind,
    /// Bytes shown as hex and compared as IDs.
    Id,
    /// A 64-bit integer (dedicated int columns).
    Int,
}

/// A flat column and how its values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flat {
    pub(crate) column: &'static str,
    pub(crate) kind: FlatKind,
}

/// Where one (scoped) attribute's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A per-row column.
    Flat(Flat),
    /// `span.x`: its dedicated column (if `x` has one) and the generic `attrs` list.
    SpanAttr {
        key: String,
        dedicated: Option<Flat>,
    },
    /// `resource.x`: the block's resource table through `resource_ref`.
    ResourceAttr { key: String },
    /// `instrumentation:name` / `:version` / `instrumentation.x`: the scope table through
    /// `scope_ref`.
    Scope(ScopeField),
    /// Computed from the trace's structure columns.
    Structural(Intrinsic),
    /// Per event of the span.
    Event(ItemField),
    /// Per link of the span.
    Link(ItemField),
    /// `parent.…` scopes (validation rejects them): nil, matches nothing.
    Unsupported,
}

/// A field of the scope table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScopeField {
    Name,
    Version,
    Attr(String),
}

/// A field of an event or a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemField {
    /// `event:name`
    Name,
    /// `event:timeSinceStart`
    TimeSinceStart,
    /// `link:traceID`
    TraceId,
    /// `link:spanID`
    SpanId,
    /// `event.x` / `link.x`
    Attr(String),
}

const fn flat(column: &'static str, kind: FlatKind) -> Flat {
    Flat { column, kind }
}

fn span_dedicated(key: &str) -> Option<Flat> {
    dedicated_of(DedicatedScope::Span)
        .find(|column| column.attribute == key)
        .map(|column| Flat {
            column: column.column,
            kind: match column.value_type {
                DedicatedType::String => FlatKind::String,
                DedicatedType::Int => FlatKind::Int,
            },
        })
}

fn custom(scope: AttributeScope, name: &str) -> Attribute {
    Attribute::Custom {
        scope,
        name: name.to_owned(),
    }
}

/// The sources of `attribute`, each with the scoped attribute it is reported under.
/// Trace-level intrinsics and `duration` are answered by `TraceInfo` and `SpanColumns`, but
/// still get a source so conditions on them can be evaluated.
pub(crate) fn sources_of(attribute: &Attribute) -> Vec<(Attribute, Source)> {
    let one = |source: Source| vec![(attribute.clone(), source)];
    match attribute {
        Attribute::Intrinsic(intrinsic) => match intrinsic {
            Intrinsic::Duration => one(Source::Flat(flat(schema::DURATION, FlatKind::Duration))),
            Intrinsic::Name => one(Source::Flat(flat(schema::NAME, FlatKind::String))),
            Intrinsic::Status => one(Source::Flat(flat(schema::STATUS_CODE, FlatKind::Status))),
            Intrinsic::StatusMessage => {
                one(Source::Flat(flat(schema::STATUS_MESSAGE, FlatKind::String)))
            }
            Intrinsic::Kind => one(Source::Flat(flat(schema::KIND, FlatKind::Kind))),
            Intrinsic::SpanId => one(Source::Flat(flat(schema::SPAN_ID, FlatKind::Id))),
            Intrinsic::TraceId => one(Source::Flat(flat(schema::TRACE_ID, FlatKind::Id))),
            Intrinsic::TraceDuration => one(Source::Flat(flat(
                schema::TRACE_DURATION,
                FlatKind::Duration,
            ))),
            Intrinsic::TraceRootName => {
                one(Source::Flat(flat(schema::ROOT_SPAN_NAME, FlatKind::String)))
            }
            Intrinsic::TraceRootService => one(Source::Flat(flat(
                schema::ROOT_SERVICE_NAME,
                FlatKind::String,
            ))),
            Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight
            | Intrinsic::NestedSetParent
            | Intrinsic::SpanParentId
            | Intrinsic::SpanChildCount => one(Source::Structural(*intrinsic)),
            Intrinsic::EventName => one(Source::Event(ItemField::Name)),
            Intrinsic::EventTimeSinceStart => one(Source::Event(ItemField::TimeSinceStart)),
            Intrinsic::LinkTraceId => one(Source::Link(ItemField::TraceId)),
            Intrinsic::LinkSpanId => one(Source::Link(ItemField::SpanId)),
            Intrinsic::InstrumentationName => one(Source::Scope(ScopeField::Name)),
            Intrinsic::InstrumentationVersion => one(Source::Scope(ScopeField::Version)),
            Intrinsic::Parent => one(Source::Unsupported),
        },
        Attribute::Custom { scope, name } => {
            let span = || Source::SpanAttr {
                key: name.clone(),
                dedicated: span_dedicated(name),
            };
            match scope {
                AttributeScope::Span => one(span()),
                AttributeScope::Resource => one(Source::ResourceAttr { key: name.clone() }),
                AttributeScope::Instrumentation => {
                    one(Source::Scope(ScopeField::Attr(name.clone())))
                }
                AttributeScope::Event => one(Source::Event(ItemField::Attr(name.clone()))),
                AttributeScope::Link => one(Source::Link(ItemField::Attr(name.clone()))),
                AttributeScope::Unscoped => vec![
                    (custom(AttributeScope::Span, name), span()),
                    (
                        custom(AttributeScope::Resource, name),
                        Source::ResourceAttr { key: name.clone() },
                    ),
                    (
                        custom(AttributeScope::Instrumentation, name),
                        Source::Scope(ScopeField::Attr(name.clone())),
                    ),
                    (
                        custom(AttributeScope::Event, name),
                        Source::Event(ItemField::Attr(name.clone())),
                    ),
                    (
                        custom(AttributeScope::Link, name),
                        Source::Link(ItemField::Attr(name.clone())),
                    ),
                ],
                AttributeScope::Parent
                | AttributeScope::ParentSpan
                | AttributeScope::ParentResource => one(Source::Unsupported),
            }
        }
    }
}

/// The generic attribute-list leaves under `prefix` (`attrs`, `events.attrs`, `links.attrs`).
pub(crate) fn attr_list_leaves(
    leaves: &Leaves,
    prefix: &str,
    fields: &[&str],
) -> Result<Vec<usize>, String> {
    fields
        .iter()
        .map(|field| leaves.get(&format!("{prefix}.{field}")))
        .collect()
}

/// Every value leaf of an attribute list.
pub(crate) const ATTR_ALL: &[&str] = &["key", "type", "str", "int", "double", "bool", "bytes"];

/// The leaves a source needs to produce values (not conditions).
pub(crate) fn value_leaves(leaves: &Leaves, source: &Source) -> Result<Vec<usize>, String> {
    Ok(match source {
        Source::Flat(flat) => vec![leaves.get(flat.column)?],
        Source::SpanAttr { dedicated, .. } => {
            let mut out = attr_list_leaves(leaves, schema::ATTRS, ATTR_ALL)?;
            if let Some(flat) = dedicated {
                out.push(leaves.get(flat.column)?);
            }
            out
        }
        Source::ResourceAttr { .. } => vec![leaves.get(schema::RESOURCE_REF)?],
        Source::Scope(_) => vec![leaves.get(schema::SCOPE_REF)?],
        Source::Structural(_) | Source::Unsupported => Vec::new(),
        Source::Event(field) => {
            let mut out = vec![leaves.get("events.time_offset_nano")?];
            match field {
                ItemField::Name => out.push(leaves.get("events.name")?),
                ItemField::Attr(_) => {
                    out.extend(attr_list_leaves(leaves, "events.attrs", ATTR_ALL)?)
                }
                _ => {}
            }
            out
        }
        Source::Link(field) => {
            let mut out = vec![leaves.get("links.flags")?];
            match field {
                ItemField::TraceId => out.push(leaves.get("links.trace_id")?),
                ItemField::SpanId => out.push(leaves.get("links.span_id")?),
                ItemField::Attr(_) => {
                    out.extend(attr_list_leaves(leaves, "links.attrs", ATTR_ALL)?)
                }
                _ => {}
            }
            out
        }
    })
}
