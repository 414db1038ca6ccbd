//! Block format versions: `Encoding::from_version(&meta.format)` selects the code of a format.

use super::v1;

/// The block format versions this build reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `vc1`: flat span rows, see `docs/adr/001-block-schema.md`.
    V1,
}

impl Encoding {
    /// The newest format, used for new blocks.
    pub const LATEST: Encoding = Encoding::V1;

    /// The format named by `meta.format`.
    pub fn from_version(format: &str) -> Option<Encoding> {
        match format {
            v1::FORMAT => Some(Encoding::V1),
            _ => None,
        }
    }

    /// The name written into `meta.format`.
    pub fn version(self) -> &'static str {
        match self {
            Encoding::V1 => v1::FORMAT,
        }
    }
}
