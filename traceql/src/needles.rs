//! Byte strings that a trace must contain, in any encoding that keeps strings verbatim (OTLP
//! protobuf), for a first-pass request to select one of its spans: the literals of string
//! equalities on span-level fields. A source that holds traces as encoded bytes (the
//! ingester's recent data) can skip a trace lacking them without decoding it.
//!
//! Only conditions that one span decides are used: custom attributes of the span, resource,
//! events, links and instrumentation scope, and the span's name, status message, event names
//! and scope name/version. Trace-level intrinsics (`trace:rootService`, ...) hold for every
//! span of a portion with orphans whatever the portion holds, and `parent.*` attributes
//! are read from another span, so neither gives a needle. A request with `trace_ids` (the
//! engine joining the portions of split traces) needs every portion: it has no needles.

use crate::ast::{Attribute, AttributeScope, Intrinsic, Static};
use crate::fetch::{Combine, ConditionOp, FetchRequest};
use crate::value::CompareOp;

/// What a trace's bytes must contain for the request to select any of its spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needles {
    /// Nothing is known: every trace may be selected.
    Unknown,
    /// Every one of these strings.
    All(Vec<Vec<u8>>),
    /// At least one of these strings.
    Any(Vec<Vec<u8>>),
}

impl Needles {
    /// The needles of `request` (see the module docs).
    pub fn of(request: &FetchRequest) -> Needles {
        if request.trace_ids.is_some() {
            return Needles::Unknown;
        }
        let selecting: Vec<Option<Vec<u8>>> = request
            .conditions
            .iter()
            .filter_map(|condition| {
                let op = condition.op.as_ref()?;
                Some(needle(&condition.attribute, op))
            })
            .collect();
        if selecting.is_empty() {
            return Needles::Unknown;
        }
        let all = request.combine == Combine::All || selecting.len() == 1;
        if all {
            let needles: Vec<Vec<u8>> = selecting.into_iter().flatten().collect();
            if needles.is_empty() {
                Needles::Unknown
            } else {
                Needles::All(needles)
            }
        } else {
            match selecting.into_iter().collect::<Option<Vec<_>>>() {
                Some(needles) => Needles::Any(needles),
                None => Needles::Unknown,
            }
        }
    }

    /// Whether a trace may be selected, given `contains` (does the trace hold these bytes?).
    pub fn admits(&self, mut contains: impl FnMut(&[u8]) -> bool) -> bool {
        match self {
            Needles::Unknown => true,
            Needles::All(needles) => needles.iter().all(|needle| contains(needle)),
            Needles::Any(needles) => needles.iter().any(|needle| contains(needle)),
        }
    }

    /// The strings this checks for (none when unknown).
    pub fn strings(&self) -> &[Vec<u8>] {
        match self {
            Needles::Unknown => &[],
            Needles::All(needles) | Needles::Any(needles) => needles,
        }
    }
}

/// The literal a selected span must carry verbatim, if the condition gives one.
fn needle(attribute: &Attribute, op: &ConditionOp) -> Option<Vec<u8>> {
    let ConditionOp::Compare {
        op: CompareOp::Eq,
        value: Static::String(literal),
    } = op
    else {
        return None;
    };
    if literal.is_empty() || !span_level(attribute) {
        return None;
    }
    Some(literal.as_bytes().to_vec())
}

fn span_level(attribute: &Attribute) -> bool {
    match attribute {
        Attribute::Custom { scope, .. } => matches!(
            scope,
            AttributeScope::Unscoped
                | AttributeScope::Span
                | AttributeScope::Resource
                | AttributeScope::Event
                | AttributeScope::Link
                | AttributeScope::Instrumentation
        ),
        Attribute::Intrinsic(intrinsic) => matches!(
            intrinsic,
            Intrinsic::Name
                | Intrinsic::StatusMessage
                | Intrinsic::EventName
                | Intrinsic::InstrumentationName
                | Intrinsic::InstrumentationVersion
        ),
    }
}

#[cfg(test)]
mod tests;
