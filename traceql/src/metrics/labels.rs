//! Series labels (spec §10.3): names are the canonical attribute text (`resource.service.name`,
//! `.foo`, `name`, `kind`, `rootServiceName`), values keep their type, and a grouping value can be
//! nil. [`GroupKey`] makes a tuple of values usable as a map key (floats by bits).

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use contrail_proto::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};

use crate::ast::Attribute;
use crate::value::Value;

/// `__name__`: the label of an ungrouped series.
pub const NAME_LABEL: &str = "__name__";
/// The bucket bound label of `histogram_over_time`.
pub const BUCKET_LABEL: &str = "__bucket";
/// The quantile label of `quantile_over_time`.
pub const QUANTILE_LABEL: &str = "p";
/// `compare()`: `selection`, `baseline`, `selection_total`, `baseline_total`.
pub const META_TYPE_LABEL: &str = "__meta_type";
/// `compare()`: `__too_many_values__` for an attribute with more than top-N values.
pub const META_ERROR_LABEL: &str = "__meta_error";

/// One label of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub name: Arc<str>,
    pub value: Value,
}

impl Label {
    /// A label from a name and a value.
    pub fn new(name: impl Into<Arc<str>>, value: Value) -> Self {
        Label {
            name: name.into(),
            value,
        }
    }
}

/// The label name of a `by()` attribute: its canonical text.
pub fn label_name(attribute: &Attribute) -> Arc<str> {
    Arc::from(attribute.to_string())
}

/// The OTLP value of a label (how it appears in `labels` of the JSON and protobuf answers).
/// Nil is the string `nil`; durations, statuses and kinds are their TraceQL text.
pub fn any_value(value: &Value) -> AnyValue {
    let inner = match value {
        Value::Nil => any_value::Value::StringValue("nil".to_owned()),
        Value::Bool(flag) => any_value::Value::BoolValue(*flag),
        Value::Int(number) => any_value::Value::IntValue(*number),
        Value::Float(number) => any_value::Value::DoubleValue(*number),
        Value::String(text) => any_value::Value::StringValue(text.to_string()),
        Value::Duration(_) | Value::Status(_) | Value::Kind(_) => {
            any_value::Value::StringValue(value.to_string())
        }
        Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(any_value).collect(),
        }),
    };
    AnyValue { value: Some(inner) }
}

/// The OTLP key-values of a label set.
pub(crate) fn key_values(labels: &[Label]) -> Vec<KeyValue> {
    labels
        .iter()
        .map(|label| KeyValue {
            key: label.name.to_string(),
            value: Some(any_value(&label.value)),
            ..Default::default()
        })
        .collect()
}

/// The Prometheus-style text of a label set, `{a="x", b=200}`: a stable identity for sorting,
/// tie-breaking and error messages (strings quoted, other types bare, so int 200 and string
/// "200" differ).
pub fn labels_text(labels: &[Label]) -> String {
    let mut text = String::from("{");
    for (index, label) in labels.iter().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        let _ = match &label.value {
            Value::String(value) => write!(text, "{}={value:?}", label.name),
            other => write!(text, "{}={other}", label.name),
        };
    }
    text.push('}');
    text
}

/// A tuple of grouping values as a map key: equal when every value has the same type and the
/// same content (floats compare by bits, so NaN groups with NaN).
#[derive(Debug, Clone)]
pub(crate) struct GroupKey(pub Box<[Value]>);

impl PartialEq for GroupKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|(left, right)| same_value(left, right))
    }
}

impl Eq for GroupKey {}

impl Hash for GroupKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.len().hash(state);
        for value in self.0.iter() {
            hash_value(value, state);
        }
    }
}

/// `true` when two values are the same label value (type and content; floats by bits).
pub(crate) fn same_value(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| same_value(x, y))
        }
        _ => left == right,
    }
}

/// Hashes a value consistently with [`same_value`].
pub(crate) fn hash_value<H: Hasher>(value: &Value, state: &mut H) {
    std::mem::discriminant(value).hash(state);
    match value {
        Value::Nil => {}
        Value::Bool(flag) => flag.hash(state),
        Value::Int(number) | Value::Duration(number) => number.hash(state),
        Value::Float(number) => number.to_bits().hash(state),
        Value::String(text) => text.hash(state),
        Value::Status(status) => status.hash(state),
        Value::Kind(kind) => kind.hash(state),
        Value::Array(items) => {
            items.len().hash(state);
            for item in items.iter() {
                hash_value(item, state);
            }
        }
    }
}

/// A borrowed value as a map key (per-batch dictionaries of plain columns).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueRef<'a>(pub &'a Value);

impl PartialEq for ValueRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_value(self.0, other.0)
    }
}

impl Eq for ValueRef<'_> {}

impl Hash for ValueRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_value(self.0, state);
    }
}

/// An owned value as a map key (consistent with [`same_value`]).
#[derive(Debug, Clone)]
pub(crate) struct ValueKey(pub Value);

impl PartialEq for ValueKey {
    fn eq(&self, other: &Self) -> bool {
        same_value(&self.0, &other.0)
    }
}

impl Eq for ValueKey {}

impl Hash for ValueKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_value(&self.0, state);
    }
}
