//! Builders of the `events` and `links` list columns.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, Int64Builder, ListArray, StructArray, UInt32Builder};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use contrail_proto::otlp::trace::v1::span::{Event, Link};

use super::RowsError;
use super::attrs::AttrListBuilder;
use super::builders::{Utf8Builder, finish_renewed, renewed_offsets};
use crate::block::v1::schema::{event_fields, link_fields};

fn non_empty<T: AsRef<[u8]> + ?Sized>(value: &T) -> Option<&T> {
    (!value.as_ref().is_empty()).then_some(value)
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
    name: Utf8Builder,
    attrs: AttrListBuilder,
    dropped: UInt32Builder,
}

impl Default for EventListBuilder {
    fn default() -> Self {
        EventListBuilder {
            offsets: vec![0],
            len: 0,
            time_offset: Int64Builder::new(),
            name: Utf8Builder::default(),
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
    pub(crate) fn push_event(&mut self, time_offset: i64, name: &[u8], dropped: u32) {
        self.time_offset.append_value(time_offset);
        self.name.append_value(name);
        self.dropped.append_value(dropped);
        self.len += 1;
    }

    pub(crate) fn end_row(&mut self) {
        self.offsets.push(self.len);
    }

    pub(crate) fn finish(&mut self) -> Result<ArrayRef, RowsError> {
        let items = usize::try_from(self.len).unwrap_or_default();
        let arrays: Vec<ArrayRef> = vec![
            finish_renewed(&mut self.time_offset, Int64Builder::with_capacity(items)),
            Arc::new(self.name.finish()?),
            self.attrs.finish()?,
            finish_renewed(&mut self.dropped, UInt32Builder::with_capacity(items)),
        ];
        self.len = 0;
        list_of(event_fields(), renewed_offsets(&mut self.offsets), arrays)
    }
}

/// The scalar fields of one link, borrowed from its protobuf encoding.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawLink<'a> {
    pub(crate) trace_id: &'a [u8],
    pub(crate) span_id: &'a [u8],
    /// UTF-8 by contract.
    pub(crate) trace_state: &'a [u8],
    pub(crate) flags: u32,
    pub(crate) dropped_attributes_count: u32,
}

pub(crate) struct LinkListBuilder {
    offsets: Vec<i32>,
    len: i32,
    trace_id: BinaryBuilder,
    span_id: BinaryBuilder,
    trace_state: Utf8Builder,
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
            trace_state: Utf8Builder::default(),
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
        let items = usize::try_from(self.len).unwrap_or_default();
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_state.finish()?),
            finish_renewed(&mut self.flags, UInt32Builder::with_capacity(items)),
            self.attrs.finish()?,
            finish_renewed(&mut self.dropped, UInt32Builder::with_capacity(items)),
        ];
        self.len = 0;
        list_of(link_fields(), renewed_offsets(&mut self.offsets), arrays)
    }
}
