//! Column builders of the span rows that cost less than Arrow's own: a string column built from
//! bytes and checked for UTF-8 once per column, and builders that keep their size from batch to
//! batch.
//!
//! The flush appends every name, key and string value of every span straight from segment
//! bytes. Those bytes were checked for UTF-8 when they came in (by the distributor, or by the
//! full segment scan for batches received from elsewhere), so checking each one again to get a
//! `&str` for Arrow's `StringBuilder` cost about 6% of the flush's instructions (~19 short
//! strings per span, ~115 instructions each). [`Utf8Builder`] takes the bytes as they are and
//! lets [`StringArray::try_new`] check the whole column at [`Utf8Builder::finish`]: one pass of
//! the standard library's UTF-8 check over the concatenated values (which runs word-at-a-time
//! on ASCII) plus a character-boundary check at every offset. Together these accept exactly
//! the columns whose every value is UTF-8, so bytes that are not UTF-8 still fail the batch
//! with an error, never reach a block, and never cost a per-value check.
//!
//! Arrow's `finish` leaves an empty builder, whose buffers the next batch grows again by doubling
//! (a reallocation and a copy each time). [`Utf8Builder::finish`], [`finish_renewed`] and
//! [`renewed_offsets`] leave buffers allocated at the size of the batch just finished.

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{ArrayBuilder, ArrayRef, StringArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};

use super::RowsError;

/// Builds one `Utf8` column from byte strings (see the module documentation).
#[derive(Debug)]
pub(crate) struct Utf8Builder {
    offsets: Vec<i32>,
    values: Vec<u8>,
    nulls: NullBufferBuilder,
    /// The values outgrew `i32` offsets; [`Utf8Builder::finish`] reports it.
    overflowed: bool,
}

impl Default for Utf8Builder {
    fn default() -> Self {
        Self::with_capacity(0, 0)
    }
}

impl Utf8Builder {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Utf8Builder {
            offsets,
            values: Vec::with_capacity(bytes),
            nulls: NullBufferBuilder::new(rows),
            overflowed: false,
        }
    }

    fn push_offset(&mut self) {
        match i32::try_from(self.values.len()) {
            Ok(offset) => self.offsets.push(offset),
            Err(_) => {
                self.overflowed = true;
                self.offsets.push(i32::MAX);
            }
        }
    }

    /// Appends one value: bytes that the caller holds to be UTF-8.
    #[inline]
    pub(crate) fn append_value(&mut self, value: impl AsRef<[u8]>) {
        self.values.extend_from_slice(value.as_ref());
        self.push_offset();
        self.nulls.append_non_null();
    }

    /// Appends a null.
    #[inline]
    pub(crate) fn append_null(&mut self) {
        self.push_offset();
        self.nulls.append_null();
    }

    /// Appends `value`, or a null for `None`.
    #[inline]
    pub(crate) fn append_option(&mut self, value: Option<impl AsRef<[u8]>>) {
        match value {
            Some(value) => self.append_value(value),
            None => self.append_null(),
        }
    }

    /// The column built so far, its UTF-8 checked; the builder starts over at the same size.
    pub(crate) fn finish(&mut self) -> Result<StringArray, RowsError> {
        let rows = self.offsets.len() - 1;
        let next = Self::with_capacity(rows, self.values.len());
        let built = std::mem::replace(self, next);
        if built.overflowed {
            return Err(RowsError::new(format!(
                "a string column of {rows} rows holds more than {} bytes",
                i32::MAX
            )));
        }
        let Utf8Builder {
            offsets,
            values,
            mut nulls,
            ..
        } = built;
        // Offsets only grow (each push is the length so far), so `OffsetBuffer::new` holds.
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        StringArray::try_new(offsets, Buffer::from_vec(values), nulls.finish())
            .map_err(|error| RowsError::new(format!("string column: {error}")))
    }
}

/// Finishes `builder` and leaves `next` in its place: a builder allocated at the size of the
/// batch just finished.
pub(crate) fn finish_renewed<B: ArrayBuilder>(builder: &mut B, next: B) -> ArrayRef {
    let mut finished = std::mem::replace(builder, next);
    ArrayBuilder::finish(&mut finished)
}

/// Takes a list column's offsets and leaves `[0]` in their place, with room for as many rows.
pub(crate) fn renewed_offsets(offsets: &mut Vec<i32>) -> Vec<i32> {
    let mut next = Vec::with_capacity(offsets.len());
    next.push(0);
    std::mem::replace(offsets, next)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, StringBuilder};

    use super::Utf8Builder;

    #[test]
    fn builds_the_column_a_string_builder_builds() {
        let values = [
            Some("a"),
            None,
            Some(""),
            Some("ünïcödé ✓"),
            None,
            Some("z"),
        ];
        let mut ours = Utf8Builder::default();
        let mut arrows = StringBuilder::new();
        for _round in 0..2 {
            for value in values {
                ours.append_option(value);
                arrows.append_option(value);
            }
            assert_eq!(ours.finish().expect("utf-8"), arrows.finish());
        }
    }

    #[test]
    fn a_column_without_nulls_has_no_null_buffer() {
        let mut builder = Utf8Builder::default();
        builder.append_value("service");
        builder.append_value(b"name");
        let column = builder.finish().expect("utf-8");
        assert!(column.nulls().is_none());
        assert_eq!(column.value(1), "name");
    }

    #[test]
    fn bytes_that_are_not_utf8_fail_the_column_and_the_next_one_starts_clean() {
        let mut builder = Utf8Builder::default();
        builder.append_value("fine");
        builder.append_value([0xff, 0xfe]);
        let error = builder.finish().expect_err("not utf-8");
        assert!(error.to_string().contains("UTF-8"), "{error}");
        builder.append_value("next");
        assert_eq!(builder.finish().expect("utf-8").value(0), "next");
    }

    #[test]
    fn a_codepoint_split_across_two_values_fails_the_column() {
        // "é" is 0xc3 0xa9: each half alone is not UTF-8, the concatenation is.
        let mut builder = Utf8Builder::default();
        builder.append_value([b'a', 0xc3]);
        builder.append_value([0xa9, b'b']);
        let error = builder.finish().expect_err("split codepoint");
        assert!(error.to_string().contains("codepoint"), "{error}");
    }
}
