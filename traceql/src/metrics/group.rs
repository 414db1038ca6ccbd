//! Per-batch grouping: maps each row to the label set of its `by()` values without allocating
//! per row. Every attribute gets batch-local ids (a dictionary column's keys directly; other
//! columns through a small per-batch map); a local id, or a tuple of them, is resolved to a
//! label set of the partial once per batch and then read from a table.

use std::collections::HashMap;

use crate::ast::Attribute;
use crate::fetch::{SpanBatch, ValueColumn};
use crate::metrics::input::{Column, resolve, trace_values};
use crate::metrics::labels::{GroupKey, ValueKey, ValueRef};
use crate::metrics::partial::SeriesPartial;
use crate::value::Value;

const UNKNOWN: u32 = u32::MAX;
const REFUSED: u32 = u32::MAX - 1;
/// At most this many `by()` attributes (spec §10.3).
pub(crate) const MAX_GROUP_BY: usize = 5;

/// Batch-local ids of one attribute.
enum Keys<'a> {
    /// Every row nil: local id 0.
    Missing,
    /// Local id = dictionary key (`values.len()` for an out-of-range key: nil).
    Dict {
        keys: &'a [u32],
        values: &'a [Value],
    },
    /// Local ids from distinct values.
    Hashed {
        source: HashedSource<'a>,
        ids: HashMap<ValueRef<'a>, u32>,
        values: Vec<&'a Value>,
    },
    /// One local id per trace.
    Trace {
        per_trace: Vec<u32>,
        values: Vec<Value>,
    },
    /// Span durations: local ids from distinct nanoseconds.
    Duration {
        durations: &'a [u64],
        ids: HashMap<u64, u32>,
        values: Vec<u64>,
    },
}

enum HashedSource<'a> {
    Plain(&'a [Value]),
    FirstOf(Vec<&'a ValueColumn>),
}

const NIL: &Value = &Value::Nil;

impl<'a> Keys<'a> {
    fn new(batch: &'a SpanBatch, attribute: &Attribute) -> Keys<'a> {
        match resolve(batch, attribute) {
            Column::Missing => Keys::Missing,
            Column::Values(ValueColumn::Dict { keys, values }) => Keys::Dict { keys, values },
            Column::Values(ValueColumn::Plain(values)) => Keys::hashed(HashedSource::Plain(values)),
            Column::FirstOf(columns) => Keys::hashed(HashedSource::FirstOf(columns)),
            Column::SpanDuration => Keys::Duration {
                durations: &batch.spans.duration_nano,
                ids: HashMap::new(),
                values: Vec::new(),
            },
            Column::Trace(field) => {
                let mut ids: HashMap<ValueKey, u32> = HashMap::new();
                let mut values: Vec<Value> = Vec::new();
                let per_trace = trace_values(batch, field)
                    .into_iter()
                    .map(|value| {
                        *ids.entry(ValueKey(value.clone())).or_insert_with(|| {
                            values.push(value);
                            (values.len() - 1) as u32
                        })
                    })
                    .collect();
                Keys::Trace { per_trace, values }
            }
        }
    }

    fn hashed(source: HashedSource<'a>) -> Keys<'a> {
        Keys::Hashed {
            source,
            ids: HashMap::new(),
            values: Vec::new(),
        }
    }

    #[inline]
    fn local(&mut self, row: usize, trace: u32) -> u32 {
        match self {
            Keys::Missing => 0,
            Keys::Dict { keys, values } => keys
                .get(row)
                .map_or(values.len() as u32, |key| (*key).min(values.len() as u32)),
            Keys::Hashed {
                source,
                ids,
                values,
            } => {
                let value = match source {
                    HashedSource::Plain(column) => column.get(row).unwrap_or(NIL),
                    HashedSource::FirstOf(columns) => columns
                        .iter()
                        .map(|column| column.get(row))
                        .find(|value| !value.is_nil())
                        .unwrap_or(NIL),
                };
                *ids.entry(ValueRef(value)).or_insert_with(|| {
                    values.push(value);
                    (values.len() - 1) as u32
                })
            }
            Keys::Trace { per_trace, .. } => per_trace.get(trace as usize).copied().unwrap_or(0),
            Keys::Duration {
                durations,
                ids,
                values,
            } => {
                let nanos = durations.get(row).copied().unwrap_or(0);
                *ids.entry(nanos).or_insert_with(|| {
                    values.push(nanos);
                    (values.len() - 1) as u32
                })
            }
        }
    }

    fn value(&self, local: u32) -> Value {
        match self {
            Keys::Missing => Value::Nil,
            Keys::Dict { values, .. } => values.get(local as usize).cloned().unwrap_or(Value::Nil),
            Keys::Hashed { values, .. } => values
                .get(local as usize)
                .map_or(Value::Nil, |value| (*value).clone()),
            Keys::Trace { values, .. } => values.get(local as usize).cloned().unwrap_or(Value::Nil),
            Keys::Duration { values, .. } => values
                .get(local as usize)
                .map_or(Value::Nil, |nanos| Value::Duration(*nanos as i64)),
        }
    }

    fn is_trace_level(&self) -> bool {
        matches!(self, Keys::Trace { .. })
    }
}

/// Row → label set for one batch.
pub(crate) struct BatchGroups<'a> {
    attributes: Vec<Keys<'a>>,
    single: Vec<u32>,
    multi: HashMap<[u32; MAX_GROUP_BY], u32>,
}

impl<'a> BatchGroups<'a> {
    pub(crate) fn new(batch: &'a SpanBatch, by: &[Attribute]) -> BatchGroups<'a> {
        BatchGroups {
            attributes: by
                .iter()
                .map(|attribute| Keys::new(batch, attribute))
                .collect(),
            single: Vec::new(),
            multi: HashMap::new(),
        }
    }

    /// For the counting fast path: `Some(None)` without `by()`, `Some(Some(keys, values))` for
    /// one dictionary column, `None` otherwise.
    pub(crate) fn dictionary_keys(&self) -> Option<Option<(&'a [u32], u32)>> {
        match self.attributes.as_slice() {
            [] => Some(None),
            [Keys::Dict { keys, values }] => Some(Some((keys, values.len() as u32))),
            _ => None,
        }
    }

    /// The label set of batch-local id `local` of a single attribute (or 0 without `by()`),
    /// `None` when the series cap refused it.
    #[inline(always)]
    pub(crate) fn label_set_of_local(
        &mut self,
        local: u32,
        partial: &mut SeriesPartial,
    ) -> Option<u32> {
        self.cached_single(local, partial)
    }

    /// `true` when some attribute needs each row's trace index.
    pub(crate) fn needs_traces(&self) -> bool {
        self.attributes.iter().any(Keys::is_trace_level)
    }

    /// The label set of `row` (in trace `trace`), `None` when the series cap refused it.
    #[inline]
    pub(crate) fn label_set(
        &mut self,
        row: usize,
        trace: u32,
        partial: &mut SeriesPartial,
    ) -> Option<u32> {
        match self.attributes.len() {
            0 => self.cached_single(0, partial),
            1 => {
                let local = self.attributes[0].local(row, trace);
                self.cached_single(local, partial)
            }
            _ => {
                let mut locals = [0u32; MAX_GROUP_BY];
                for (slot, keys) in locals.iter_mut().zip(self.attributes.iter_mut()) {
                    *slot = keys.local(row, trace);
                }
                let cached = self.multi.get(&locals).copied().unwrap_or(UNKNOWN);
                let label_set = if cached == UNKNOWN {
                    let resolved = self.resolve(&locals, partial);
                    self.multi.insert(locals, resolved);
                    resolved
                } else {
                    cached
                };
                (label_set != REFUSED).then_some(label_set)
            }
        }
    }

    #[inline(always)]
    fn cached_single(&mut self, local: u32, partial: &mut SeriesPartial) -> Option<u32> {
        let index = local as usize;
        let cached = self.single.get(index).copied().unwrap_or(UNKNOWN);
        let label_set = if cached == UNKNOWN {
            let resolved = self.resolve(&[local], partial);
            if self.single.len() <= index {
                self.single.resize(index + 1, UNKNOWN);
            }
            self.single[index] = resolved;
            resolved
        } else {
            cached
        };
        (label_set != REFUSED).then_some(label_set)
    }

    fn resolve(&self, locals: &[u32], partial: &mut SeriesPartial) -> u32 {
        let values: Box<[Value]> = self
            .attributes
            .iter()
            .zip(locals)
            .map(|(keys, local)| keys.value(*local))
            .collect();
        partial.label_set(&GroupKey(values)).unwrap_or(REFUSED)
    }
}
