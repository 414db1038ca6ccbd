//! OTLP → span rows of the `vc1` schema.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, FixedSizeBinaryBuilder, Int32Builder, Int64Builder, RecordBatch,
    UInt32Builder, UInt64Builder,
};
use arrow::datatypes::SchemaRef;
use contrail_proto::TraceId;
use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use contrail_proto::otlp::trace::v1::{ResourceSpans, Span};
use contrail_traceql::structure::{SpanKey, nested_set};

use super::attrs::AttrListBuilder;
use super::builders::{Utf8Builder, finish_renewed};
use super::lists::{EventListBuilder, LinkListBuilder};
use super::{RefTables, RowsError};
use crate::block::v1::schema::{self, DedicatedScope, DedicatedType, arrow_schema, dedicated_of};

/// What the writer needs to know about a trace it appended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceSummary {
    pub(crate) spans: usize,
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
}

struct FlatSpan<'a> {
    resource_ref: u32,
    scope_ref: u32,
    span: &'a Span,
}

/// Accumulates span rows and turns them into a `RecordBatch`.
pub(crate) struct SpanBatchBuilder {
    pub(super) schema: SchemaRef,
    pub(super) rows: usize,
    pub(super) trace_id: FixedSizeBinaryBuilder,
    pub(super) trace_start: UInt64Builder,
    pub(super) trace_duration: UInt64Builder,
    pub(super) root_service_name: Utf8Builder,
    pub(super) root_span_name: Utf8Builder,
    pub(super) span_id: FixedSizeBinaryBuilder,
    pub(super) parent_index: Int32Builder,
    pub(super) parent_span_id: BinaryBuilder,
    pub(super) nested_set_left: Int32Builder,
    pub(super) nested_set_right: Int32Builder,
    pub(super) start_offset: Int64Builder,
    pub(super) duration: Int64Builder,
    pub(super) name: Utf8Builder,
    pub(super) kind: Int32Builder,
    pub(super) status_code: Int32Builder,
    pub(super) status_message: Utf8Builder,
    pub(super) trace_state: Utf8Builder,
    pub(super) flags: UInt32Builder,
    pub(super) dropped_attributes: UInt32Builder,
    pub(super) dropped_events: UInt32Builder,
    pub(super) dropped_links: UInt32Builder,
    pub(super) resource_ref: UInt32Builder,
    pub(super) scope_ref: UInt32Builder,
    pub(super) resource_dedicated: Vec<Utf8Builder>,
    pub(super) span_dedicated: Vec<DedicatedBuilder>,
    /// Attribute key of each span dedicated column, by slot (a linear scan with a length check
    /// beats hashing every attribute key: measured in `ingester/benches/ingest.rs`).
    pub(super) span_dedicated_keys: Vec<&'static str>,
    /// Per slot, the index of the attribute moved into it (reused across spans).
    pub(super) taken: Vec<Option<usize>>,
    pub(super) attrs: AttrListBuilder,
    pub(super) events: EventListBuilder,
    pub(super) links: LinkListBuilder,
    /// Per resource reference: its dedicated column values.
    pub(super) resource_values: Vec<Vec<Option<String>>>,
}

pub(super) enum DedicatedBuilder {
    String(Utf8Builder),
    Int(Int64Builder),
}

impl Default for SpanBatchBuilder {
    fn default() -> Self {
        let span_dedicated_columns: Vec<_> = dedicated_of(DedicatedScope::Span).collect();
        SpanBatchBuilder {
            schema: arrow_schema(),
            rows: 0,
            trace_id: FixedSizeBinaryBuilder::new(16),
            trace_start: UInt64Builder::new(),
            trace_duration: UInt64Builder::new(),
            root_service_name: Utf8Builder::default(),
            root_span_name: Utf8Builder::default(),
            span_id: FixedSizeBinaryBuilder::new(8),
            parent_index: Int32Builder::new(),
            parent_span_id: BinaryBuilder::new(),
            nested_set_left: Int32Builder::new(),
            nested_set_right: Int32Builder::new(),
            start_offset: Int64Builder::new(),
            duration: Int64Builder::new(),
            name: Utf8Builder::default(),
            kind: Int32Builder::new(),
            status_code: Int32Builder::new(),
            status_message: Utf8Builder::default(),
            trace_state: Utf8Builder::default(),
            flags: UInt32Builder::new(),
            dropped_attributes: UInt32Builder::new(),
            dropped_events: UInt32Builder::new(),
            dropped_links: UInt32Builder::new(),
            resource_ref: UInt32Builder::new(),
            scope_ref: UInt32Builder::new(),
            resource_dedicated: dedicated_of(DedicatedScope::Resource)
                .map(|_| Utf8Builder::default())
                .collect(),
            span_dedicated: span_dedicated_columns
                .iter()
                .map(|column| match column.value_type {
                    DedicatedType::String => DedicatedBuilder::String(Utf8Builder::default()),
                    DedicatedType::Int => DedicatedBuilder::Int(Int64Builder::new()),
                })
                .collect(),
            span_dedicated_keys: span_dedicated_columns
                .iter()
                .map(|column| column.attribute)
                .collect(),
            taken: vec![None; span_dedicated_columns.len()],
            attrs: AttrListBuilder::default(),
            events: EventListBuilder::default(),
            links: LinkListBuilder::default(),
            resource_values: Vec::new(),
        }
    }
}

fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find_map(|attr| match &attr.value {
        Some(AnyValue {
            value: Some(Value::StringValue(text)),
        }) if attr.key == key => Some(text.as_str()),
        _ => None,
    })
}

pub(super) fn non_empty<T: AsRef<[u8]> + ?Sized>(value: &T) -> Option<&T> {
    (!value.as_ref().is_empty()).then_some(value)
}

impl SpanBatchBuilder {
    /// Appends the spans of one trace. Every span must carry `trace_id` and an 8-byte span ID.
    pub(crate) fn append_trace(
        &mut self,
        trace_id: &TraceId,
        resource_spans: &[ResourceSpans],
        tables: &mut RefTables,
    ) -> Result<TraceSummary, RowsError> {
        let mut flat = Vec::new();
        for resource_span in resource_spans {
            let resource_ref = tables.intern_resource(resource_span);
            self.remember_resource(resource_ref, resource_span);
            for scope_span in &resource_span.scope_spans {
                let scope_ref = tables.intern_scope(scope_span);
                for span in &scope_span.spans {
                    if span.trace_id.as_slice() != trace_id.as_bytes() {
                        return Err(RowsError::new(format!(
                            "span {} has trace ID {} in trace {trace_id}",
                            hex::encode(&span.span_id),
                            hex::encode(&span.trace_id)
                        )));
                    }
                    if span.span_id.len() != 8 {
                        return Err(RowsError::new(format!(
                            "span ID must be 8 bytes, got {} in trace {trace_id}",
                            span.span_id.len()
                        )));
                    }
                    flat.push(FlatSpan {
                        resource_ref,
                        scope_ref,
                        span,
                    });
                }
            }
        }
        if flat.is_empty() {
            return Err(RowsError::new(format!("trace {trace_id} has no spans")));
        }
        let keys: Vec<SpanKey<'_>> = flat
            .iter()
            .map(|flat_span| SpanKey {
                span_id: &flat_span.span.span_id,
                parent_span_id: &flat_span.span.parent_span_id,
                start_time_unix_nano: flat_span.span.start_time_unix_nano,
            })
            .collect();
        let set = nested_set(&keys);
        let start = flat
            .iter()
            .map(|f| f.span.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = flat
            .iter()
            .map(|f| f.span.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        let root = set.order.iter().enumerate().find_map(|(position, input)| {
            let span = flat[*input].span;
            (set.parent_index[position] < 0 && span.parent_span_id.is_empty()).then_some(*input)
        });
        let (root_service, root_name) = match root {
            Some(input) => {
                let service = self.resource_values[flat[input].resource_ref as usize]
                    .first()
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                (service, flat[input].span.name.clone())
            }
            None => (String::new(), String::new()),
        };
        for (position, input) in set.order.iter().enumerate() {
            let flat_span = &flat[*input];
            self.trace_id.append_value(trace_id.as_bytes())?;
            self.trace_start.append_value(start);
            self.trace_duration.append_value(end.saturating_sub(start));
            self.root_service_name.append_value(&root_service);
            self.root_span_name.append_value(&root_name);
            self.append_span(flat_span, start)?;
            self.parent_index.append_value(set.parent_index[position]);
            let parent = &flat_span.span.parent_span_id;
            // The raw parent ID is kept only when the index cannot reproduce it.
            let resolved = set.parent_index[position] >= 0;
            self.parent_span_id
                .append_option((!resolved && !parent.is_empty()).then_some(parent.as_slice()));
            self.nested_set_left.append_value(set.left[position]);
            self.nested_set_right.append_value(set.right[position]);
            self.rows += 1;
        }
        Ok(TraceSummary {
            spans: flat.len(),
            start_unix_nano: start,
            end_unix_nano: end,
        })
    }

    pub(super) fn remember_resource(&mut self, resource_ref: u32, resource_span: &ResourceSpans) {
        let index = resource_ref as usize;
        // Entries are never empty once computed (one value per resource dedicated column); a
        // builder may meet references interned by an earlier builder, in any order.
        if self
            .resource_values
            .get(index)
            .is_some_and(|values| !values.is_empty())
        {
            return;
        }
        let attrs = resource_span
            .resource
            .as_ref()
            .map(|resource| resource.attributes.as_slice())
            .unwrap_or_default();
        let values = dedicated_of(DedicatedScope::Resource)
            .map(|column| string_attr(attrs, column.attribute).map(str::to_owned))
            .collect();
        if self.resource_values.len() <= index {
            self.resource_values.resize(index + 1, Vec::new());
        }
        self.resource_values[index] = values;
    }

    fn append_span(&mut self, flat_span: &FlatSpan<'_>, trace_start: u64) -> Result<(), RowsError> {
        let span = flat_span.span;
        self.span_id.append_value(&span.span_id)?;
        self.start_offset
            .append_value(span.start_time_unix_nano.wrapping_sub(trace_start) as i64);
        self.duration.append_value(
            span.end_time_unix_nano
                .wrapping_sub(span.start_time_unix_nano) as i64,
        );
        self.name.append_value(&span.name);
        self.kind.append_value(span.kind);
        match &span.status {
            Some(status) => {
                self.status_code.append_value(status.code);
                self.status_message
                    .append_option(non_empty(&status.message));
            }
            None => {
                self.status_code.append_null();
                self.status_message.append_null();
            }
        }
        self.trace_state.append_option(non_empty(&span.trace_state));
        self.flags.append_value(span.flags);
        self.dropped_attributes
            .append_value(span.dropped_attributes_count);
        self.dropped_events.append_value(span.dropped_events_count);
        self.dropped_links.append_value(span.dropped_links_count);
        self.resource_ref.append_value(flat_span.resource_ref);
        self.scope_ref.append_value(flat_span.scope_ref);
        let values = &self.resource_values[flat_span.resource_ref as usize];
        for (builder, value) in self.resource_dedicated.iter_mut().zip(values) {
            builder.append_option(value.as_deref());
        }
        self.append_span_attributes(&span.attributes);
        for event in &span.events {
            self.events.append_event(event, span.start_time_unix_nano);
        }
        self.events.end_row();
        for link in &span.links {
            self.links.append_link(link);
        }
        self.links.end_row();
        Ok(())
    }

    /// Moves the first attribute of each dedicated key with the column's type into its column;
    /// everything else (duplicates, other types) stays in the generic list.
    fn append_span_attributes(&mut self, attrs: &[KeyValue]) {
        let mut taken = std::mem::take(&mut self.taken);
        taken.clear();
        taken.resize(self.span_dedicated.len(), None);
        for (index, attr) in attrs.iter().enumerate() {
            let key = attr.key.as_str();
            let Some(slot) = self
                .span_dedicated_keys
                .iter()
                .position(|candidate| candidate.len() == key.len() && *candidate == key)
            else {
                continue;
            };
            // An attribute carrying `key_strindex` (profiles only) keeps its raw form in the
            // generic list, where that field survives the round trip.
            if taken[slot].is_some() || attr.key_strindex != 0 {
                continue;
            }
            let matches = matches!(
                (&self.span_dedicated[slot], &attr.value),
                (
                    DedicatedBuilder::String(_),
                    Some(AnyValue {
                        value: Some(Value::StringValue(_)),
                    }),
                ) | (
                    DedicatedBuilder::Int(_),
                    Some(AnyValue {
                        value: Some(Value::IntValue(_)),
                    }),
                )
            );
            if matches {
                taken[slot] = Some(index);
            }
        }
        for (builder, index) in self.span_dedicated.iter_mut().zip(&taken) {
            let value = index
                .and_then(|index| attrs[index].value.as_ref())
                .and_then(|v| v.value.as_ref());
            match (builder, value) {
                (DedicatedBuilder::String(builder), Some(Value::StringValue(text))) => {
                    builder.append_value(text)
                }
                (DedicatedBuilder::Int(builder), Some(Value::IntValue(number))) => {
                    builder.append_value(*number)
                }
                (DedicatedBuilder::String(builder), _) => builder.append_null(),
                (DedicatedBuilder::Int(builder), _) => builder.append_null(),
            }
        }
        let generic = attrs
            .iter()
            .enumerate()
            .filter(|(index, _)| !taken.contains(&Some(*index)))
            .map(|(_, attr)| attr);
        self.attrs.append_list(generic);
        self.taken = taken;
    }

    /// The rows appended so far as a batch of the `vc1` schema; the builder starts over, its
    /// buffers allocated at the size of this batch (see [`finish_renewed`]).
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, RowsError> {
        let rows = self.rows;
        let mut columns: Vec<ArrayRef> = vec![
            finish_renewed(
                &mut self.trace_id,
                FixedSizeBinaryBuilder::with_capacity(rows, 16),
            ),
            finish_renewed(&mut self.trace_start, UInt64Builder::with_capacity(rows)),
            finish_renewed(&mut self.trace_duration, UInt64Builder::with_capacity(rows)),
            Arc::new(self.root_service_name.finish()?),
            Arc::new(self.root_span_name.finish()?),
            finish_renewed(
                &mut self.span_id,
                FixedSizeBinaryBuilder::with_capacity(rows, 8),
            ),
            finish_renewed(&mut self.parent_index, Int32Builder::with_capacity(rows)),
            Arc::new(self.parent_span_id.finish()),
            finish_renewed(&mut self.nested_set_left, Int32Builder::with_capacity(rows)),
            finish_renewed(
                &mut self.nested_set_right,
                Int32Builder::with_capacity(rows),
            ),
            finish_renewed(&mut self.start_offset, Int64Builder::with_capacity(rows)),
            finish_renewed(&mut self.duration, Int64Builder::with_capacity(rows)),
            Arc::new(self.name.finish()?),
            finish_renewed(&mut self.kind, Int32Builder::with_capacity(rows)),
            finish_renewed(&mut self.status_code, Int32Builder::with_capacity(rows)),
            Arc::new(self.status_message.finish()?),
            Arc::new(self.trace_state.finish()?),
            finish_renewed(&mut self.flags, UInt32Builder::with_capacity(rows)),
            finish_renewed(
                &mut self.dropped_attributes,
                UInt32Builder::with_capacity(rows),
            ),
            finish_renewed(&mut self.dropped_events, UInt32Builder::with_capacity(rows)),
            finish_renewed(&mut self.dropped_links, UInt32Builder::with_capacity(rows)),
            finish_renewed(&mut self.resource_ref, UInt32Builder::with_capacity(rows)),
            finish_renewed(&mut self.scope_ref, UInt32Builder::with_capacity(rows)),
        ];
        // Dedicated columns in schema order: resource ones first, then span ones.
        debug_assert!(
            schema::DEDICATED_COLUMNS
                .iter()
                .take(self.resource_dedicated.len())
                .all(|column| column.scope == DedicatedScope::Resource)
        );
        for builder in &mut self.resource_dedicated {
            columns.push(Arc::new(builder.finish()?));
        }
        for builder in &mut self.span_dedicated {
            columns.push(match builder {
                DedicatedBuilder::String(builder) => Arc::new(builder.finish()?),
                DedicatedBuilder::Int(builder) => {
                    finish_renewed(builder, Int64Builder::with_capacity(rows))
                }
            });
        }
        columns.push(self.attrs.finish()?);
        columns.push(self.events.finish()?);
        columns.push(self.links.finish()?);
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
