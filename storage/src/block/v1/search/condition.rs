//! The engine's conditions against a `vc1` block: resolved once per block (resource and scope
//! conditions become sets of `resource_ref` / `scope_ref`), turned into column predicates for
//! pruning (statistics, page index, dictionaries), and evaluated row by row over decoded
//! columns with Arrow kernels, under exactly the rules of `contrail_traceql::value`.
//!
//! Where a condition cannot be decided from the columns cheaply and exactly (structural
//! intrinsics, `= nil` on span attributes, ordering on IDs, array-valued attributes), it holds
//! for every candidate row: the source may return more spans than asked for, never fewer.

use std::sync::Arc;

use contrail_traceql::ast::Static;
use contrail_traceql::fetch::{Condition, ConditionOp};
use contrail_traceql::memory::otlp::{any_to_value as from_any_value, lookup as attribute_value};
use contrail_traceql::value::{Value, compare, compile_regex, matches_regex, normalize_hex_id};
use regex::Regex;

use super::leaves::Leaves;
use super::sources::{Flat, FlatKind, ItemField, ScopeField, Source, attr_list_leaves, sources_of};
use crate::block::v1::convert::RefTables;
use crate::block::v1::schema;
use crate::parquet_query::predicate::{ColumnPredicate, CompareOp, Literal};

/// A condition's operator with its regex compiled.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Compare { op: CompareOp, value: Static },
    Regex { regex: Arc<Regex>, negated: bool },
    Exists,
    Missing,
}

/// One condition with an operator, resolved against one block.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) op: Op,
    pub(crate) sources: Vec<ResolvedSource>,
    /// On `trace:duration`, `trace:rootName` or `trace:rootService`: holds on every span of a
    /// portion with orphans (the engine decides on the whole trace).
    pub(crate) trace_level: bool,
}

/// A source of a condition; table sources carry the references whose entry satisfies it.
#[derive(Debug, Clone)]
pub(crate) enum ResolvedSource {
    Column(Source),
    /// `resource_ref` / `scope_ref` (leaf column name) in this set (sorted).
    RefIn {
        column: &'static str,
        refs: Arc<[i64]>,
    },
}

/// How a condition can be pruned: it matches nowhere, maybe anywhere, or only where one of
/// these leaf predicates may match.
#[derive(Debug, Clone)]
pub(crate) enum Prune {
    Never,
    Maybe,
    Check(Vec<(usize, ColumnPredicate)>),
}

fn compare_op(op: contrail_traceql::value::CompareOp) -> CompareOp {
    use contrail_traceql::value::CompareOp as V;
    match op {
        V::Eq => CompareOp::Eq,
        V::Ne => CompareOp::Ne,
        V::Lt => CompareOp::Lt,
        V::Le => CompareOp::Le,
        V::Gt => CompareOp::Gt,
        V::Ge => CompareOp::Ge,
    }
}

fn value_op(op: CompareOp) -> contrail_traceql::value::CompareOp {
    use contrail_traceql::value::CompareOp as V;
    match op {
        CompareOp::Eq => V::Eq,
        CompareOp::Ne => V::Ne,
        CompareOp::Lt => V::Lt,
        CompareOp::Le => V::Le,
        CompareOp::Gt => V::Gt,
        CompareOp::Ge => V::Ge,
    }
}

/// Resolves `condition` (which has an operator) against the block's tables. A regex that does
/// not compile matches nothing (validation rejects such queries before they get here).
pub(crate) fn resolve(condition: &Condition, tables: &RefTables) -> Option<Resolved> {
    let op = match condition.op.as_ref()? {
        ConditionOp::Compare { op, value } => Op::Compare {
            op: compare_op(*op),
            value: value.clone(),
        },
        ConditionOp::Regex { pattern, negated } => match compile_regex(pattern) {
            Ok(regex) => Op::Regex {
                regex: Arc::new(regex),
                negated: *negated,
            },
            Err(_) => {
                return Some(Resolved {
                    op: Op::Missing,
                    sources: vec![ResolvedSource::Column(Source::Unsupported)],
                    trace_level: false,
                });
            }
        },
        ConditionOp::Exists => Op::Exists,
        ConditionOp::Missing => Op::Missing,
    };
    let sources = sources_of(&condition.attribute)
        .into_iter()
        .map(|(_, source)| match source {
            Source::ResourceAttr { key } => ResolvedSource::RefIn {
                column: schema::RESOURCE_REF,
                refs: matching_refs(tables.resource_count(), &op, |index| {
                    let attributes = tables
                        .resource(index)
                        .and_then(|entry| entry.resource.as_ref())
                        .map(|resource| resource.attributes.as_slice())
                        .unwrap_or_default();
                    attribute_value(attributes, &key)
                }),
            },
            Source::Scope(field) => ResolvedSource::RefIn {
                column: schema::SCOPE_REF,
                refs: matching_refs(tables.scope_count(), &op, |index| {
                    scope_value(tables, index, &field)
                }),
            },
            other => ResolvedSource::Column(other),
        })
        .collect();
    let trace_level = matches!(
        condition.attribute,
        contrail_traceql::ast::Attribute::Intrinsic(
            contrail_traceql::ast::Intrinsic::TraceDuration
                | contrail_traceql::ast::Intrinsic::TraceRootName
                | contrail_traceql::ast::Intrinsic::TraceRootService
        )
    );
    Some(Resolved {
        op,
        sources,
        trace_level,
    })
}

/// The value of a scope-table field for scope `index`.
pub(crate) fn scope_value(tables: &RefTables, index: u32, field: &ScopeField) -> Value {
    let Some(scope) = tables.scope(index).and_then(|entry| entry.scope.as_ref()) else {
        return Value::Nil;
    };
    match field {
        ScopeField::Name => Value::string(&scope.name),
        ScopeField::Version => Value::string(&scope.version),
        ScopeField::Attr(key) => attribute_value(&scope.attributes, key),
    }
}

fn matching_refs(count: usize, op: &Op, value_of: impl Fn(u32) -> Value) -> Arc<[i64]> {
    (0..count as u32)
        .filter(|index| value_holds(op, &value_of(*index)))
        .map(i64::from)
        .collect::<Vec<_>>()
        .into()
}

/// `value OP …` under the engine's rules.
pub(crate) fn value_holds(op: &Op, value: &Value) -> bool {
    match op {
        Op::Compare { op, value: literal } => {
            compare(value_op(*op), value, &Value::from_static(literal)).unwrap_or(false)
        }
        Op::Regex { regex, negated } => matches_regex(value, regex, *negated),
        Op::Exists => !value.is_nil(),
        Op::Missing => value.is_nil(),
    }
}

/// What a flat column of `kind` makes of a comparison: a predicate, nothing, or everything.
pub(crate) enum FlatTest {
    Predicate(ColumnPredicate),
    Nothing,
    Everything,
}

/// Status and kind literals as their OTLP codes.
pub(crate) fn status_code(status: contrail_traceql::ast::Status) -> i64 {
    use contrail_traceql::ast::Status;
    match status {
        Status::Unset => 0,
        Status::Ok => 1,
        Status::Error => 2,
    }
}

pub(crate) fn kind_code(kind: contrail_traceql::ast::SpanKind) -> i64 {
    use contrail_traceql::ast::SpanKind;
    match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// An ID literal as the bytes of an `width`-byte ID (leading zeros restored), or `None` when it
/// is no valid hex (`=` matches nothing, `!=` everything); `Some(None)` when it is valid but longer than any such ID.
pub(crate) fn id_literal(text: &str, width: usize) -> Option<Option<Vec<u8>>> {
    let normalized = normalize_hex_id(text);
    if !normalized.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    if normalized.len() > width * 2 {
        return Some(None);
    }
    let padded = format!("{normalized:0>width$}", width = width * 2);
    Some(hex::decode(padded).ok())
}

/// `column OP literal` for a flat column (values as the engine sees them; for status, null is
/// read as unset before the predicate is applied).
pub(crate) fn flat_test(kind: FlatKind, op: CompareOp, literal: &Static, width: usize) -> FlatTest {
    use FlatTest::{Everything, Nothing, Predicate};
    let compare = |literal: Literal| Predicate(ColumnPredicate::Compare { op, literal });
    let numeric = |literal: &Static, exact_durations: bool| match literal {
        Static::Int(value) if kind == FlatKind::Int => compare(Literal::Int(*value)),
        Static::Int(value) => compare(Literal::Float(*value as f64)),
        Static::Float(value) => compare(Literal::Float(*value)),
        Static::Duration(value) if exact_durations => compare(Literal::Int(*value)),
        Static::Duration(value) => compare(Literal::Float(*value as f64)),
        _ => Nothing,
    };
    match kind {
        FlatKind::String => match literal {
            Static::String(text) => compare(Literal::text(text)),
            _ => Nothing,
        },
        FlatKind::Duration => numeric(literal, true),
        FlatKind::Int => numeric(literal, false),
        FlatKind::Status | FlatKind::Kind => {
            let code = match (kind, literal) {
                (FlatKind::Status, Static::Status(status)) => status_code(*status),
                (FlatKind::Kind, Static::Kind(span_kind)) => kind_code(*span_kind),
                _ => return Nothing,
            };
            match op {
                CompareOp::Eq | CompareOp::Ne => compare(Literal::Int(code)),
                _ => Nothing,
            }
        }
        FlatKind::Id => match (literal, op) {
            (Static::String(text), CompareOp::Eq | CompareOp::Ne) => {
                match id_literal(text, width) {
                    None if op == CompareOp::Eq => Nothing,
                    None => Everything,
                    Some(None) if op == CompareOp::Eq => Nothing,
                    Some(None) => Everything,
                    Some(Some(bytes)) => compare(Literal::Bytes(Arc::from(bytes))),
                }
            }
            (Static::String(_), _) => Everything,
            _ => Nothing,
        },
    }
}

/// Byte width of the ID held by a flat column.
pub(crate) fn id_width(column: &str) -> usize {
    if column == schema::TRACE_ID || column == "links.trace_id" {
        16
    } else {
        8
    }
}

fn flat_prune(leaves: &Leaves, leaf_path: &str, flat: &Flat, op: &Op) -> Prune {
    let Some(leaf) = leaves.find(leaf_path) else {
        return Prune::Maybe;
    };
    match op {
        Op::Compare { op, value } => {
            // Null status reads as unset: `= unset` and `!=` match nulls, so no pruning there.
            let unset = matches!(value, Static::Status(contrail_traceql::ast::Status::Unset));
            if flat.kind == FlatKind::Status && (unset || *op == CompareOp::Ne) {
                return Prune::Maybe;
            }
            match flat_test(flat.kind, *op, value, id_width(flat.column)) {
                FlatTest::Predicate(predicate) => Prune::Check(vec![(leaf, predicate)]),
                FlatTest::Nothing => Prune::Never,
                FlatTest::Everything => Prune::Maybe,
            }
        }
        Op::Exists if matches!(flat.kind, FlatKind::Int) => {
            Prune::Check(vec![(leaf, ColumnPredicate::NotNull)])
        }
        _ => Prune::Maybe,
    }
}

fn key_prune(leaves: &Leaves, prefix: &str, key: &str, op: &Op) -> Prune {
    if matches!(op, Op::Missing) {
        return Prune::Maybe;
    }
    match leaves.find(&format!("{prefix}.key")) {
        Some(leaf) => Prune::Check(vec![(
            leaf,
            ColumnPredicate::Compare {
                op: CompareOp::Eq,
                literal: Literal::text(key),
            },
        )]),
        None => Prune::Maybe,
    }
}

fn item_flat(field: &ItemField, nested: &str) -> Option<(String, Flat)> {
    let (leaf, column, kind) = match field {
        ItemField::Name => ("name", "events.name", FlatKind::String),
        ItemField::TimeSinceStart => (
            "time_offset_nano",
            "events.time_offset_nano",
            FlatKind::Duration,
        ),
        ItemField::TraceId => ("trace_id", "links.trace_id", FlatKind::Id),
        ItemField::SpanId => ("span_id", "links.span_id", FlatKind::Id),
        ItemField::Attr(_) => return None,
    };
    Some((format!("{nested}.{leaf}"), Flat { column, kind }))
}

fn or_prunes(prunes: impl IntoIterator<Item = Prune>) -> Prune {
    let mut checks = Vec::new();
    for prune in prunes {
        match prune {
            Prune::Never => {}
            Prune::Maybe => return Prune::Maybe,
            Prune::Check(list) => checks.extend(list),
        }
    }
    if checks.is_empty() {
        Prune::Never
    } else {
        Prune::Check(checks)
    }
}

impl Resolved {
    /// How this condition can be pruned by statistics, page index and dictionaries.
    pub(crate) fn prune(&self, leaves: &Leaves) -> Prune {
        if matches!(self.op, Op::Missing) && self.sources.iter().any(is_column) {
            return Prune::Maybe;
        }
        or_prunes(self.sources.iter().map(|source| {
            match source {
                ResolvedSource::RefIn { refs, .. } if refs.is_empty() => Prune::Never,
                ResolvedSource::RefIn { column, refs } => match leaves.find(column) {
                    Some(leaf) => Prune::Check(vec![(leaf, ColumnPredicate::IntIn(refs.clone()))]),
                    None => Prune::Maybe,
                },
                ResolvedSource::Column(source) => match source {
                    Source::Flat(flat) => flat_prune(leaves, flat.column, flat, &self.op),
                    Source::SpanAttr { key, dedicated } => or_prunes([
                        dedicated
                            .as_ref()
                            .map(|flat| flat_prune(leaves, flat.column, flat, &self.op))
                            .unwrap_or(Prune::Never),
                        key_prune(leaves, schema::ATTRS, key, &self.op),
                    ]),
                    Source::Event(field) | Source::Link(field) => {
                        let nested = if matches!(source, Source::Event(_)) {
                            "events"
                        } else {
                            "links"
                        };
                        match field {
                            ItemField::Attr(key) => {
                                key_prune(leaves, &format!("{nested}.attrs"), key, &self.op)
                            }
                            other => match item_flat(other, nested) {
                                Some((path, flat)) => flat_prune(leaves, &path, &flat, &self.op),
                                None => Prune::Maybe,
                            },
                        }
                    }
                    Source::Structural(_) => Prune::Maybe,
                    Source::Unsupported => Prune::Never,
                    Source::ResourceAttr { .. } | Source::Scope(_) => Prune::Maybe,
                },
            }
        }))
    }

    /// The leaves the first pass decodes to evaluate this condition, in a row group whose
    /// generic `attrs` list holds none of `absent_keys` (sorted).
    pub(crate) fn eval_leaves(
        &self,
        leaves: &Leaves,
        absent_keys: &[Arc<str>],
    ) -> Result<Vec<usize>, String> {
        let mut out = Vec::new();
        let typed: &[&str] = match &self.op {
            Op::Compare { value, .. } => match value {
                Static::Int(_) | Static::Float(_) | Static::Duration(_) => &["int", "double"],
                Static::String(_) => &["str"],
                Static::Bool(_) => &["bool"],
                _ => &[],
            },
            Op::Regex { .. } => &["str"],
            Op::Exists | Op::Missing => &[],
        };
        let mut list_fields = vec!["key", "type"];
        list_fields.extend_from_slice(typed);
        for source in &self.sources {
            match source {
                ResolvedSource::RefIn { column, .. } => out.push(leaves.get(column)?),
                ResolvedSource::Column(source) => match source {
                    Source::Flat(flat) => out.push(leaves.get(flat.column)?),
                    Source::SpanAttr { key, dedicated } => {
                        if let Some(flat) = dedicated {
                            out.push(leaves.get(flat.column)?);
                        }
                        if !is_absent(absent_keys, key) {
                            out.extend(attr_list_leaves(leaves, schema::ATTRS, &list_fields)?);
                        }
                    }
                    Source::Event(field) | Source::Link(field) => {
                        let nested = if matches!(source, Source::Event(_)) {
                            "events"
                        } else {
                            "links"
                        };
                        match field {
                            ItemField::Attr(_) => out.extend(attr_list_leaves(
                                leaves,
                                &format!("{nested}.attrs"),
                                &list_fields,
                            )?),
                            other => {
                                if let Some((path, _)) = item_flat(other, nested) {
                                    out.push(leaves.get(&path)?);
                                }
                            }
                        }
                    }
                    Source::Structural(_) | Source::Unsupported => {}
                    Source::ResourceAttr { .. } | Source::Scope(_) => {}
                },
            }
        }
        Ok(out)
    }
}

/// Whether `key` is among `absent_keys` (sorted).
pub(crate) fn is_absent(absent_keys: &[Arc<str>], key: &str) -> bool {
    absent_keys
        .binary_search_by(|absent| absent.as_ref().cmp(key))
        .is_ok()
}

fn is_column(source: &ResolvedSource) -> bool {
    matches!(source, ResolvedSource::Column(_))
}

/// The run-time value of an OTLP `AnyValue` encoded as protobuf (array attributes).
pub(crate) fn decode_any_value(bytes: &[u8]) -> Value {
    use prost::Message;
    match contrail_proto::otlp::common::v1::AnyValue::decode(bytes) {
        Ok(value) => from_any_value(Some(&value)),
        Err(_) => Value::Nil,
    }
}
