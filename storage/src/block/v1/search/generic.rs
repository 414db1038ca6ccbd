//! Which keys of the generic span-attribute list (`attrs`) a row group cannot hold, from the
//! `attrs.key` chunk's statistics and, when every page is dictionary-encoded, its dictionary
//! (one small page). A `span.x` condition then skips the list entirely in that row group: its
//! generic part is decided without decoding `attrs` (which is by far the widest column), and
//! only the dedicated column is read.

use std::sync::Arc;

use super::scan::Scan;
use crate::block::v1::reader::read_error;
use crate::error::Result;
use crate::parquet_query::dictionary::{dictionary_range, is_fully_dictionary_encoded};
use crate::parquet_query::predicate::{ColumnPredicate, CompareOp, Literal};
use crate::parquet_query::{SparseFile, chunk_may_match, read_dictionary};

fn key_predicate(key: &str) -> ColumnPredicate {
    ColumnPredicate::Compare {
        op: CompareOp::Eq,
        literal: Literal::text(key),
    }
}

impl Scan<'_> {
    /// The keys of `keys` that no span of `row_group` has in `attrs` (sorted). Fetches the
    /// `attrs.key` dictionary page into `file` when statistics do not decide.
    pub(crate) async fn absent_generic_keys(
        &self,
        row_group: usize,
        keys: &[Arc<str>],
        file: &mut SparseFile,
        bytes_fetched: &mut u64,
    ) -> Result<Vec<Arc<str>>> {
        let Some(leaf) = self.plan.attrs_key_leaf else {
            return Ok(Vec::new());
        };
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let chunk = self.footer.metadata.row_group(row_group).column(leaf);
        let mut absent = Vec::new();
        let mut undecided = Vec::new();
        for key in keys {
            if chunk_may_match(chunk, &key_predicate(key)) {
                undecided.push(key.clone());
            } else {
                absent.push(key.clone());
            }
        }
        let dictionary = (!undecided.is_empty() && is_fully_dictionary_encoded(chunk))
            .then(|| dictionary_range(chunk))
            .flatten();
        if let Some(range) = dictionary {
            *bytes_fetched += self.reader.fetch_more(&[range], file).await?;
            let footer = self.footer.clone();
            let dictionary_file = file.clone();
            let path = self.reader.data_path().clone();
            let not_in_dictionary = self
                .reader
                .pool()
                .run(self.reader.data_path().as_ref(), move || {
                    let chunk = footer.metadata.row_group(row_group).column(leaf);
                    let dictionary = read_dictionary(&dictionary_file, chunk, false)
                        .map_err(|error| read_error(&path, error))?;
                    Ok(undecided
                        .into_iter()
                        .filter(|key| {
                            dictionary
                                .as_ref()
                                .is_some_and(|values| !values.any_matches(&key_predicate(key)))
                        })
                        .collect::<Vec<_>>())
                })
                .await?;
            absent.extend(not_in_dictionary);
        }
        absent.sort_unstable();
        Ok(absent)
    }
}
