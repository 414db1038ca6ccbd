//! Binding a program's attributes to the columns of one [`SpanBatch`], and reading a value of
//! a span: custom attributes by scope (unscoped: span → resource → event → link →
//! instrumentation, spec §5.1), intrinsics from the span columns, the value columns or the
//! trace. Event and link values are read for the event (link) a [`Cursor`] points at, or,
//! without one, from the first event (link) that has the attribute.

use std::borrow::Cow;
use std::sync::Arc;

use crate::ast::{Attribute, AttributeScope, Intrinsic};
use crate::fetch::{NestedValues, SpanBatch, TraceInfo, ValueColumn};
use crate::value::Value;

const NIL: &Value = &Value::Nil;

/// Where one attribute's values are in a batch.
#[derive(Debug, Clone, Copy)]
pub enum Column<'b> {
    Nil,
    Span(&'b ValueColumn),
    Event(&'b ValueColumn),
    Link(&'b ValueColumn),
    Unscoped {
        span: Option<&'b ValueColumn>,
        resource: Option<&'b ValueColumn>,
        event: Option<&'b ValueColumn>,
        link: Option<&'b ValueColumn>,
        instrumentation: Option<&'b ValueColumn>,
    },
    Duration,
    SpanId,
    NestedLeft,
    NestedRight,
    NestedParent,
    TraceDuration,
    TraceRootName,
    TraceRootService,
    TraceId,
}

/// The event and link a per-event (per-link) evaluation looks at: item indexes into the
/// batch's [`NestedValues`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    pub event: Option<usize>,
    pub link: Option<usize>,
}

/// Trace-level values of the trace being evaluated.
#[derive(Debug, Clone)]
pub struct TraceValues {
    pub duration: Value,
    pub root_name: Value,
    pub root_service: Value,
    pub id: Value,
}

impl TraceValues {
    /// The values of `info` (its portion, or the whole trace when rebuilt); the hex trace ID
    /// only `with_id` (it costs an allocation per trace).
    pub fn new(info: &TraceInfo, with_id: bool) -> Self {
        let text = |value: &Option<Arc<str>>| match value {
            Some(text) => Value::String(text.clone()),
            None => Value::Nil,
        };
        TraceValues {
            duration: Value::Duration(
                info.end_unix_nano.saturating_sub(info.start_unix_nano) as i64
            ),
            root_name: text(&info.root_span_name),
            root_service: text(&info.root_service_name),
            id: if with_id {
                Value::String(Arc::from(info.trace_id.to_hex().as_str()))
            } else {
                Value::Nil
            },
        }
    }

    /// No trace (constant folding).
    pub fn none() -> Self {
        TraceValues {
            duration: Value::Nil,
            root_name: Value::Nil,
            root_service: Value::Nil,
            id: Value::Nil,
        }
    }
}

/// A batch with the program's attributes bound to its columns.
#[derive(Debug)]
pub struct BatchView<'b> {
    pub batch: &'b SpanBatch,
    pub columns: Vec<Column<'b>>,
}

fn find<'b>(columns: &'b [(Attribute, ValueColumn)], key: &Attribute) -> Option<&'b ValueColumn> {
    columns
        .iter()
        .find(|(candidate, _)| candidate == key)
        .map(|(_, column)| column)
}

fn custom(scope: AttributeScope, name: &str) -> Attribute {
    Attribute::Custom {
        scope,
        name: name.to_owned(),
    }
}

fn bind<'b>(batch: &'b SpanBatch, attribute: &Attribute) -> Column<'b> {
    let span = |key: &Attribute| find(&batch.span_values, key).map_or(Column::Nil, Column::Span);
    match attribute {
        Attribute::Custom { scope, name } => match scope {
            AttributeScope::Span | AttributeScope::Resource | AttributeScope::Instrumentation => {
                span(attribute)
            }
            AttributeScope::Event => {
                find(&batch.events.columns, attribute).map_or(Column::Nil, Column::Event)
            }
            AttributeScope::Link => {
                find(&batch.links.columns, attribute).map_or(Column::Nil, Column::Link)
            }
            AttributeScope::Unscoped => Column::Unscoped {
                span: find(&batch.span_values, &custom(AttributeScope::Span, name)),
                resource: find(&batch.span_values, &custom(AttributeScope::Resource, name)),
                event: find(&batch.events.columns, &custom(AttributeScope::Event, name)),
                link: find(&batch.links.columns, &custom(AttributeScope::Link, name)),
                instrumentation: find(
                    &batch.span_values,
                    &custom(AttributeScope::Instrumentation, name),
                ),
            },
            AttributeScope::Parent
            | AttributeScope::ParentSpan
            | AttributeScope::ParentResource => Column::Nil,
        },
        Attribute::Intrinsic(intrinsic) => match intrinsic {
            Intrinsic::Duration => Column::Duration,
            Intrinsic::SpanId if !batch.spans.span_id.is_empty() => Column::SpanId,
            Intrinsic::NestedSetLeft if !batch.spans.nested_set_left.is_empty() => {
                Column::NestedLeft
            }
            Intrinsic::NestedSetRight if !batch.spans.nested_set_right.is_empty() => {
                Column::NestedRight
            }
            Intrinsic::NestedSetParent if !batch.spans.nested_set_parent.is_empty() => {
                Column::NestedParent
            }
            Intrinsic::TraceDuration => Column::TraceDuration,
            Intrinsic::TraceRootName => Column::TraceRootName,
            Intrinsic::TraceRootService => Column::TraceRootService,
            Intrinsic::TraceId => Column::TraceId,
            Intrinsic::EventName | Intrinsic::EventTimeSinceStart => {
                find(&batch.events.columns, attribute).map_or(Column::Nil, Column::Event)
            }
            Intrinsic::LinkTraceId | Intrinsic::LinkSpanId => {
                find(&batch.links.columns, attribute).map_or(Column::Nil, Column::Link)
            }
            Intrinsic::Parent => Column::Nil,
            _ => span(attribute),
        },
    }
}

fn first_item<'b>(nested: &NestedValues, column: &'b ValueColumn, row: usize) -> &'b Value {
    nested
        .items_of(row)
        .map(|item| column.get(item))
        .find(|value| !value.is_nil())
        .unwrap_or(NIL)
}

impl<'b> BatchView<'b> {
    /// Binds `attributes` (a program's table) to `batch`.
    pub fn new(batch: &'b SpanBatch, attributes: &[Attribute]) -> Self {
        BatchView {
            batch,
            columns: attributes
                .iter()
                .map(|attribute| bind(batch, attribute))
                .collect(),
        }
    }

    fn nested_value(
        &self,
        nested: &NestedValues,
        column: &'b ValueColumn,
        row: usize,
        item: Option<usize>,
    ) -> &'b Value {
        match item {
            Some(item) if nested.items_of(row).contains(&item) => column.get(item),
            Some(_) => NIL,
            None => first_item(nested, column, row),
        }
    }

    /// The value of attribute `attr` for span `row`.
    pub fn value<'t>(
        &self,
        attr: usize,
        row: usize,
        trace: &'t TraceValues,
        cursor: Cursor,
    ) -> Cow<'t, Value>
    where
        'b: 't,
    {
        let spans = &self.batch.spans;
        let int = |values: &[i32]| Cow::Owned(Value::Int(i64::from(values[row])));
        match self.columns[attr] {
            Column::Nil => Cow::Borrowed(NIL),
            Column::Span(column) => Cow::Borrowed(column.get(row)),
            Column::Event(column) => {
                Cow::Borrowed(self.nested_value(&self.batch.events, column, row, cursor.event))
            }
            Column::Link(column) => {
                Cow::Borrowed(self.nested_value(&self.batch.links, column, row, cursor.link))
            }
            Column::Unscoped {
                span,
                resource,
                event,
                link,
                instrumentation,
            } => {
                for column in [span, resource].into_iter().flatten() {
                    let value = column.get(row);
                    if !value.is_nil() {
                        return Cow::Borrowed(value);
                    }
                }
                if let Some(column) = event {
                    let value = first_item(&self.batch.events, column, row);
                    if !value.is_nil() {
                        return Cow::Borrowed(value);
                    }
                }
                if let Some(column) = link {
                    let value = first_item(&self.batch.links, column, row);
                    if !value.is_nil() {
                        return Cow::Borrowed(value);
                    }
                }
                Cow::Borrowed(instrumentation.map_or(NIL, |column| column.get(row)))
            }
            Column::Duration => Cow::Owned(Value::Duration(
                spans.duration_nano.get(row).copied().unwrap_or(0) as i64,
            )),
            Column::SpanId => Cow::Owned(Value::String(Arc::from(
                spans.span_id[row].to_hex().as_str(),
            ))),
            Column::NestedLeft => int(&spans.nested_set_left),
            Column::NestedRight => int(&spans.nested_set_right),
            Column::NestedParent => int(&spans.nested_set_parent),
            Column::TraceDuration => Cow::Borrowed(&trace.duration),
            Column::TraceRootName => Cow::Borrowed(&trace.root_name),
            Column::TraceRootService => Cow::Borrowed(&trace.root_service),
            Column::TraceId => Cow::Borrowed(&trace.id),
        }
    }

    /// The event item range of `row`, or one `None` cursor when it has no events.
    pub fn event_items(&self, row: usize) -> std::ops::Range<usize> {
        self.batch.events.items_of(row)
    }

    /// The link item range of `row`.
    pub fn link_items(&self, row: usize) -> std::ops::Range<usize> {
        self.batch.links.items_of(row)
    }
}
