//! Builders of the `events` and `links` list columns.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Int64Builder, ListArray, StringBuilder, StructArray, UInt32Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use contrail_proto::otlp::trace::v1::span::{Event, Link};

use super::RowsError;
use super::attrs::AttrListBuilder;
use crate::block::v1::schema::{event_fields, link_fields};

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

fn list_of(
    fields: Fields,
    offsets: Vec<i32>,
    arrays: Vec<ArrayRef>,
) -> Result<ArrayRef, RowsError> {
    let values = StructArray::try_new(fields.clone(), arrays, None)?;
    let field = Arc::new(Field::new("item", DataType::Struct(fields), false));
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        Arc::new(values),
        None,
    )?))
}

pub(crate) struct EventListBuilder {
    offsets: Vec<i32>,
    len: i32,
    time_offset: Int64Builder,
    name: StringBuilder,
    attrs: AttrListBuilder,
    dropped: UInt32Builder,
}

impl Default for EventListBuilder {
    fn default() -> Self {
        EventListBuilder {
            offsets: vec![0],
            len: 0,
            time_offset: Int64Builder::new(),
            name: StringBuilder::new(),
            attrs: AttrListBuilder::default(),
            dropped: UInt32Builder::new(),
        }
    }
}

impl EventListBuilder {
    pub(crate) fn append_event(&mut self, event: &Event, span_start: u64) {
        self.time_offset
            .append_value(event.time_unix_nano.wrapping_sub(span_start) as i64);
        self.name.append_value(&event.name);
        self.attrs.append_list(&event.attributes);
        self.dropped.append_value(event.dropped_attributes_count);
        self.len += 1;
    }

    /// The attribute lists of the events (the wire path appends an event's attributes here,
    /// ends the list, then calls [`EventListBuilder::push_event`]).
    pub(crate) fn attrs_mut(&mut self) -> &mut AttrListBuilder {
        &mut self.attrs
    }

    /// Appends one event whose attribute list was just ended in [`Self::attrs_mut`].
    pub(crate) fn push_event(&mut self, time_offset: i64, name: &str, dropped: u32) {
        self.time_offset.append_value(time_offset);
        self.name.append_value(name);
        self.dropped.append_value(dropped);
        self.len += 1;
    }

    pub(crate) fn end_row(&mut self) {
        self.offsets.push(self.len);
    }

    pub(crate) fn finish(&mut self) -> Result<ArrayRef, RowsError> {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.time_offset.finish()),
            Arc::new(self.name.finish()),
            self.attrs.finish()?,
            Arc::new(self.dropped.finish()),
        ];
        self.len = 0;
        list_of(
            event_fields(),
            std::mem::replace(&mut self.offsets, vec![0]),
            arrays,
        )
    }
}

/// The scalar fields of one link, borrowed from its protobuf encoding.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawLink<'a> {
    pub(crate) trace_id: &'a [u8],
    pub(crate) span_id: &'a [u8],
    pub(crate) trace_state: &'a str,
    pub(crate) flags: u32,
    pub(crate) dropped_attributes_count: u32,
}

pub(crate) struct LinkListBuilder {
    offsets: Vec<i32>,
    len: i32,
    trace_id: BinaryBuilder,
    span_id: BinaryBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    attrs: AttrListBuilder,
    dropped: UInt32Builder,
}

impl Default for LinkListBuilder {
    fn default() -> Self {
        LinkListBuilder {
            offsets: vec![0],
            len: 0,
            trace_id: BinaryBuilder::new(),
            span_id: BinaryBuilder::new(),
            trace_state: StringBuilder::new(),
            flags: UInt32Builder::new(),
            attrs: AttrListBuilder::default(),
            dropped: UInt32Builder::new(),
        }
    }
}

impl LinkListBuilder {
    pub(crate) fn append_link(&mut self, link: &Link) {
        self.trace_id.append_value(&link.trace_id);
        self.span_id.append_value(&link.span_id);
        self.trace_state.append_option(non_empty(&link.trace_state));
        self.flags.append_value(link.flags);
        self.attrs.append_list(&link.attributes);
        self.dropped.append_value(link.dropped_attributes_count);
        self.len += 1;
    }

    /// The attribute lists of the links (see [`EventListBuilder::attrs_mut`]).
    pub(crate) fn attrs_mut(&mut self) -> &mut AttrListBuilder {
        &mut self.attrs
    }

    /// Appends one link whose attribute list was just ended in [`Self::attrs_mut`].
    pub(crate) fn push_link(&mut self, link: RawLink<'_>) {
        self.trace_id.append_value(link.trace_id);
        self.span_id.append_value(link.span_id);
        self.trace_state.append_option(non_empty(link.trace_state));
        self.flags.append_value(link.flags);
        self.dropped.append_value(link.dropped_attributes_count);
        self.len += 1;
    }

    pub(crate) fn end_row(&mut self) {
        self.offsets.push(self.len);
    }

    pub(crate) fn finish(&mut self) -> Result<ArrayRef, RowsError> {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.flags.finish()),
            self.attrs.finish()?,
            Arc::new(self.dropped.finish()),
        ];
        self.len = 0;
        list_of(
            link_fields(),
            std::mem::replace(&mut self.offsets, vec![0]),
            arrays,
        )
    }
}
