//! Compiles `proto/**/*.proto` with protox (pure Rust, no protoc) and tonic-prost-build.
//!
//! OTLP packages are mapped onto `opentelemetry_proto::tonic` so that `tempopb.Trace` embeds the
//! very same `ResourceSpans` type the OTLP receivers decode. Every `tempopb` message also gets
//! serde attributes, derived here from the descriptors, that reproduce gogo `jsonpb` output
//! (spec §2.3): protoc `json_name`s, 64-bit integers as strings, bytes as base64, enums as names,
//! zero values omitted. The helpers they name live in `src/tempopb/json.rs` and
//! `src/tempopb/otlp_jsonpb.rs`.

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

const PROTO_FILES: [&str; 4] = [
    "tempopb/tempo.proto",
    "contrail/internal/v1/ingester.proto",
    "contrail/internal/v1/querier.proto",
    "contrail/internal/v1/metrics.proto",
];
const JSON: &str = "crate::tempopb::json";
const OTLP_JSON: &str = "crate::tempopb::otlp_jsonpb";

fn main() -> Result<(), Box<dyn Error>> {
    let proto_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed=proto");
    let file_descriptor_set = protox::compile(PROTO_FILES, [&proto_dir])?;
    // For gRPC reflection and for the schema test against the spec's field tables.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("contrail_descriptor.bin"),
        prost::Message::encode_to_vec(&file_descriptor_set),
    )?;

    // Pass 1: `tempopb` (messages with serde attributes, and services).
    let mut tempopb_fds = file_descriptor_set.clone();
    tempopb_fds
        .file
        .retain(|file| file.package() != "contrail.internal.v1");
    // BTreeMap: deterministic JSON with sorted keys, as jsonpb writes maps.
    let mut tempopb_config =
        otlp_extern_paths(tonic_prost_build::configure()).btree_map(".tempopb");
    for (path, attribute) in serde_attributes(&tempopb_fds)? {
        tempopb_config = if path.matches('.').count() == 2 {
            tempopb_config.message_attribute(path, attribute)
        } else {
            tempopb_config.field_attribute(path, attribute)
        };
    }
    tempopb_config.compile_fds(tempopb_fds)?;

    // Pass 2: `contrail.internal.v1`, referring to the pass-1 types by absolute path (its module
    // sits at `crate::internal::v1`, not `crate::contrail::internal::v1`). `tempopb`'s services
    // are dropped from this pass so its output file is not rewritten.
    let mut internal_fds = file_descriptor_set;
    for file in internal_fds
        .file
        .iter_mut()
        .filter(|file| file.package() == "tempopb")
    {
        file.service.clear();
    }
    otlp_extern_paths(tonic_prost_build::configure())
        .extern_path(".tempopb", "crate::tempopb")
        // Pre-encoded trace payloads: `Bytes`, so replicas share one buffer.
        .bytes(".contrail.internal.v1")
        .compile_fds(internal_fds)?;
    Ok(())
}

fn otlp_extern_paths(builder: tonic_prost_build::Builder) -> tonic_prost_build::Builder {
    builder
        .build_server(true)
        .build_client(true)
        .extern_path(
            ".opentelemetry.proto.common.v1",
            "::opentelemetry_proto::tonic::common::v1",
        )
        .extern_path(
            ".opentelemetry.proto.resource.v1",
            "::opentelemetry_proto::tonic::resource::v1",
        )
        .extern_path(
            ".opentelemetry.proto.trace.v1",
            "::opentelemetry_proto::tonic::trace::v1",
        )
}

/// `(proto path, attribute)` pairs for every `tempopb` message and field.
fn serde_attributes(fds: &FileDescriptorSet) -> Result<Vec<(String, String)>, Box<dyn Error>> {
    let mut attributes = Vec::new();
    for file in fds.file.iter().filter(|file| file.package() == "tempopb") {
        for message in &file.message_type {
            let message_path = format!(".tempopb.{}", message.name());
            attributes.push((
                message_path.clone(),
                "#[derive(serde::Serialize, serde::Deserialize)] #[serde(default)]".to_owned(),
            ));
            let map_entries: HashMap<String, &DescriptorProto> = message
                .nested_type
                .iter()
                .filter(|nested| {
                    nested
                        .options
                        .as_ref()
                        .is_some_and(|options| options.map_entry())
                })
                .map(|nested| (format!("{message_path}.{}", nested.name()), nested))
                .collect();
            for field in &message.field {
                let serde = field_serde(field, &map_entries)?;
                attributes.push((
                    format!("{message_path}.{}", field.name()),
                    format!("#[serde({serde})]"),
                ));
            }
        }
    }
    Ok(attributes)
}

/// protoc's `json_name`: drop underscores and upper-case the letter after each.
fn json_name(proto_name: &str) -> String {
    let mut json = String::with_capacity(proto_name.len());
    let mut upper_next = false;
    for character in proto_name.chars() {
        if character == '_' {
            upper_next = true;
        } else if upper_next {
            json.push(character.to_ascii_uppercase());
            upper_next = false;
        } else {
            json.push(character);
        }
    }
    json
}

/// The Rust path of a `tempopb` enum, e.g. `.tempopb.DedicatedColumn.Type` →
/// `crate::tempopb::dedicated_column::Type`.
fn enum_rust_path(type_name: &str) -> Result<String, Box<dyn Error>> {
    let relative = type_name
        .strip_prefix(".tempopb.")
        .ok_or_else(|| format!("enum {type_name} outside tempopb"))?;
    let mut segments: Vec<String> = relative.split('.').map(str::to_owned).collect();
    let last = segments.pop().ok_or("empty enum name")?;
    let modules = segments.iter().map(|segment| snake_case(segment));
    Ok(std::iter::once("crate::tempopb".to_owned())
        .chain(modules)
        .chain([last])
        .collect::<Vec<_>>()
        .join("::"))
}

fn snake_case(name: &str) -> String {
    let mut snake = String::new();
    for (index, character) in name.chars().enumerate() {
        if character.is_ascii_uppercase() {
            if index > 0 {
                snake.push('_');
            }
            snake.push(character.to_ascii_lowercase());
        } else {
            snake.push(character);
        }
    }
    snake
}

fn field_serde(
    field: &FieldDescriptorProto,
    map_entries: &HashMap<String, &DescriptorProto>,
) -> Result<String, Box<dyn Error>> {
    let name = field.name();
    let json = json_name(name);
    let mut parts = vec![format!("rename = \"{json}\"")];
    if json != name {
        parts.push(format!("alias = \"{name}\""));
    }
    let skip_empty_vec = "skip_serializing_if = \"::prost::alloc::vec::Vec::is_empty\"".to_owned();
    let null_default = format!("deserialize_with = \"{JSON}::null_as_default\"");
    let type_name = field.type_name();
    let repeated = field.label() == Label::Repeated;
    let specific = match (repeated, field.r#type()) {
        (true, Type::Message) if map_entries.contains_key(type_name) => {
            let value = &map_entries[type_name].field[1];
            let with = match value.r#type() {
                Type::Int64 => format!("with = \"{JSON}::i64_string_map\""),
                _ => null_default,
            };
            vec![
                with,
                "skip_serializing_if = \"::prost::alloc::collections::BTreeMap::is_empty\""
                    .to_owned(),
            ]
        }
        (true, Type::Message) => {
            let with = match type_name {
                ".opentelemetry.proto.common.v1.KeyValue" => {
                    format!("with = \"{OTLP_JSON}::key_values\"")
                }
                ".opentelemetry.proto.trace.v1.ResourceSpans" => {
                    format!("with = \"{OTLP_JSON}::resource_spans\"")
                }
                ".opentelemetry.proto.trace.v1.Span.Link" => {
                    format!("with = \"{OTLP_JSON}::links\"")
                }
                other if other.starts_with(".tempopb.") => null_default,
                other => {
                    return Err(format!("no JSON mapping for repeated {other} in {name}").into());
                }
            };
            vec![with, skip_empty_vec]
        }
        (true, Type::String) => vec![null_default, skip_empty_vec],
        (true, Type::Bytes) => vec![format!("with = \"{JSON}::base64_list\""), skip_empty_vec],
        (true, Type::Enum) => {
            let rust_enum = enum_rust_path(type_name)?;
            vec![
                format!("serialize_with = \"{JSON}::serialize_enum_list::<{rust_enum}, _>\""),
                format!("deserialize_with = \"{JSON}::deserialize_enum_list::<{rust_enum}, _>\""),
                skip_empty_vec,
            ]
        }
        (true, other) => {
            return Err(format!("no JSON mapping for repeated {other:?} in {name}").into());
        }
        (false, Type::Message) if type_name == ".google.protobuf.Timestamp" => {
            // Deprecated `RF1After` fields: never sent by clients, not part of any JSON answer.
            return Ok("skip".to_owned());
        }
        (false, Type::Message) => {
            vec!["skip_serializing_if = \"::core::option::Option::is_none\"".to_owned()]
        }
        (false, _) if field.proto3_optional() => {
            vec!["skip_serializing_if = \"::core::option::Option::is_none\"".to_owned()]
        }
        (false, Type::Uint32 | Type::Int32 | Type::Fixed32) => vec![
            // jsonpb accepts 32-bit integers as numbers or strings too.
            format!("deserialize_with = \"{JSON}::deserialize_integer\""),
            format!("skip_serializing_if = \"{JSON}::is_default\""),
        ],
        (false, Type::String | Type::Bool) => {
            vec![
                null_default,
                format!("skip_serializing_if = \"{JSON}::is_default\""),
            ]
        }
        (false, Type::Uint64 | Type::Fixed64) => {
            vec![
                format!("with = \"{JSON}::u64_string\""),
                format!("skip_serializing_if = \"{JSON}::is_default\""),
            ]
        }
        (false, Type::Int64 | Type::Sfixed64) => {
            vec![
                format!("with = \"{JSON}::i64_string\""),
                format!("skip_serializing_if = \"{JSON}::is_default\""),
            ]
        }
        (false, Type::Double) => {
            vec![
                format!("with = \"{JSON}::f64_special\""),
                format!("skip_serializing_if = \"{JSON}::is_default\""),
            ]
        }
        (false, Type::Bytes) => {
            vec![
                format!("with = \"{JSON}::base64\""),
                format!("skip_serializing_if = \"{JSON}::is_default\""),
            ]
        }
        (false, Type::Enum) => {
            let rust_enum = enum_rust_path(type_name)?;
            vec![
                format!("serialize_with = \"{JSON}::serialize_enum::<{rust_enum}, _>\""),
                format!("deserialize_with = \"{JSON}::deserialize_enum::<{rust_enum}, _>\""),
                format!("skip_serializing_if = \"{JSON}::is_default\""),
            ]
        }
        (false, other) => return Err(format!("no JSON mapping for {other:?} in {name}").into()),
    };
    parts.extend(specific);
    Ok(parts.join(", "))
}
