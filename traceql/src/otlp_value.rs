//! OTLP attribute values as run-time [`Value`]s: the one conversion every data source uses, so
//! the vc1 source and the in-memory source see the same value for the same attribute.
//!
//! Scalars map to their type (`string`, `bool`, `int`, `double` → float); an array becomes
//! `Value::Array` of its scalar elements (elements that are themselves arrays, key-value lists,
//! bytes or empty are left out, as TraceQL cannot compare them); bytes, key-value lists, an
//! empty `AnyValue` and a missing value are `Value::Nil`.

use std::sync::Arc;

use contrail_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};

use crate::value::Value;

/// The run-time value of an OTLP attribute value.
pub fn from_any_value(value: Option<&AnyValue>) -> Value {
    let Some(inner) = value.and_then(|value| value.value.as_ref()) else {
        return Value::Nil;
    };
    match inner {
        any_value::Value::ArrayValue(array) => {
            let items: Vec<Value> = array
                .values
                .iter()
                .filter_map(|item| scalar(item.value.as_ref()?))
                .collect();
            Value::Array(Arc::from(items))
        }
        other => scalar(other).unwrap_or(Value::Nil),
    }
}

fn scalar(value: &any_value::Value) -> Option<Value> {
    match value {
        any_value::Value::StringValue(text) => Some(Value::string(text)),
        any_value::Value::BoolValue(flag) => Some(Value::Bool(*flag)),
        any_value::Value::IntValue(number) => Some(Value::Int(*number)),
        any_value::Value::DoubleValue(number) => Some(Value::Float(*number)),
        _ => None,
    }
}

/// The value of the first attribute named `key` in `attributes` (`Value::Nil` when absent).
pub fn attribute_value(attributes: &[KeyValue], key: &str) -> Value {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .map(|attribute| from_any_value(attribute.value.as_ref()))
        .unwrap_or(Value::Nil)
}

#[cfg(test)]
mod tests {
    use contrail_proto::otlp::common::v1::{ArrayValue, KeyValueList};

    use super::*;

    fn any(value: any_value::Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn scalars_arrays_and_uncomparable_values() {
        assert_eq!(
            from_any_value(Some(&any(any_value::Value::StringValue("a".into())))),
            Value::string("a")
        );
        assert_eq!(
            from_any_value(Some(&any(any_value::Value::IntValue(3)))),
            Value::Int(3)
        );
        assert_eq!(
            from_any_value(Some(&any(any_value::Value::DoubleValue(1.5)))),
            Value::Float(1.5)
        );
        assert_eq!(
            from_any_value(Some(&any(any_value::Value::BoolValue(true)))),
            Value::Bool(true)
        );
        let array = any(any_value::Value::ArrayValue(ArrayValue {
            values: vec![
                any(any_value::Value::StringValue("x".into())),
                any(any_value::Value::BytesValue(vec![1])),
                any(any_value::Value::IntValue(2)),
            ],
        }));
        assert_eq!(
            from_any_value(Some(&array)),
            Value::Array(Arc::from(vec![Value::string("x"), Value::Int(2)]))
        );
        assert_eq!(
            from_any_value(Some(&any(any_value::Value::BytesValue(vec![1])))),
            Value::Nil
        );
        assert_eq!(
            from_any_value(Some(&any(any_value::Value::KvlistValue(
                KeyValueList::default()
            )))),
            Value::Nil
        );
        assert_eq!(from_any_value(Some(&AnyValue { value: None })), Value::Nil);
        assert_eq!(from_any_value(None), Value::Nil);
    }

    #[test]
    fn the_first_attribute_with_the_key_wins() {
        let attributes = vec![
            KeyValue {
                key: "k".into(),
                value: Some(any(any_value::Value::IntValue(1))),
                key_strindex: 0,
            },
            KeyValue {
                key: "k".into(),
                value: Some(any(any_value::Value::IntValue(2))),
                key_strindex: 0,
            },
        ];
        assert_eq!(attribute_value(&attributes, "k"), Value::Int(1));
        assert_eq!(attribute_value(&attributes, "other"), Value::Nil);
    }
}
