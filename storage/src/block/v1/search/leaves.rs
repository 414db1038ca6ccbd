//! Leaf columns of the `vc1` Parquet schema by their logical path (`trace_id`,
//! `attrs.key`, `events.attrs.str`): Parquet's list wrappers (`list`, `item`) are left out.

use std::collections::HashMap;

use parquet::schema::types::SchemaDescriptor;

/// The leaf index of every `vc1` column path of one file.
#[derive(Debug, Clone)]
pub(crate) struct Leaves {
    by_path: HashMap<String, usize>,
}

impl Leaves {
    pub(crate) fn new(schema: &SchemaDescriptor) -> Self {
        let by_path = schema
            .columns()
            .iter()
            .enumerate()
            .map(|(index, column)| {
                let parts: Vec<&str> = column
                    .path()
                    .parts()
                    .iter()
                    .map(String::as_str)
                    .filter(|part| !matches!(*part, "list" | "item" | "element"))
                    .collect();
                (parts.join("."), index)
            })
            .collect();
        Leaves { by_path }
    }

    /// The leaf at `path`, or an error naming it (a block without it is corrupt).
    pub(crate) fn get(&self, path: &str) -> Result<usize, String> {
        self.by_path
            .get(path)
            .copied()
            .ok_or_else(|| format!("data.parquet has no column {path}"))
    }

    /// The leaf at `path`, if the file has it.
    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }
}
