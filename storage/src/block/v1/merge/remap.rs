//! The output block's resource and scope tables: every entry of every input's tables interned
//! once (identical resources of different inputs become one entry), and per input the map from
//! its references to the output's.

use crate::block::v1::convert::RefTables;

/// Per input: input reference → output reference, for resources and for scopes.
#[derive(Debug, Default)]
pub(super) struct RefRemap {
    resources: Vec<Vec<u32>>,
    scopes: Vec<Vec<u32>>,
}

impl RefRemap {
    /// Interns every entry of `inputs` (in input order) into `output`.
    pub(super) fn build<'a>(
        inputs: impl IntoIterator<Item = &'a RefTables>,
        output: &mut RefTables,
    ) -> Self {
        let mut remap = RefRemap::default();
        for tables in inputs {
            let resources = (0..tables.resource_count() as u32)
                .filter_map(|reference| tables.resource(reference))
                .map(|resource| output.intern_resource(resource))
                .collect();
            let scopes = (0..tables.scope_count() as u32)
                .filter_map(|reference| tables.scope(reference))
                .map(|scope| output.intern_scope(scope))
                .collect();
            remap.resources.push(resources);
            remap.scopes.push(scopes);
        }
        remap
    }

    /// The output reference of resource `reference` of `input`; `None` if out of range.
    pub(super) fn resource(&self, input: usize, reference: u32) -> Option<u32> {
        self.resources.get(input)?.get(reference as usize).copied()
    }

    /// The output reference of scope `reference` of `input`; `None` if out of range.
    pub(super) fn scope(&self, input: usize, reference: u32) -> Option<u32> {
        self.scopes.get(input)?.get(reference as usize).copied()
    }
}
