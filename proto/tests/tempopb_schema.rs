//! Every `tempopb` message field in spec/tempo-api.md §6.2, transcribed independently of the
//! `.proto` file, checked against the compiled descriptors: number, name, type and label. Also
//! checks the service method paths of §5/§6.1.

use std::collections::BTreeMap;

use contrail_proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};

/// `(message, number, name, type)`; a type starting with `repeated ` is a repeated field,
/// `map<…>` a map, `optional ` a proto3 optional field, `.x.y` a message or enum.
const SPEC_FIELDS: &[(&str, i32, &str, &str)] = &[
    (
        "Trace",
        1,
        "resourceSpans",
        "repeated .opentelemetry.proto.trace.v1.ResourceSpans",
    ),
    ("TraceByIDRequest", 1, "traceID", "bytes"),
    ("TraceByIDRequest", 2, "blockStart", "string"),
    ("TraceByIDRequest", 3, "blockEnd", "string"),
    ("TraceByIDRequest", 5, "queryMode", "string"),
    ("TraceByIDRequest", 6, "allowPartialTrace", "bool"),
    (
        "TraceByIDRequest",
        7,
        "RF1After",
        ".google.protobuf.Timestamp",
    ),
    ("TraceByIDResponse", 1, "trace", ".tempopb.Trace"),
    (
        "TraceByIDResponse",
        2,
        "metrics",
        ".tempopb.TraceByIDMetrics",
    ),
    ("TraceByIDResponse", 3, "status", ".tempopb.PartialStatus"),
    ("TraceByIDResponse", 4, "message", "string"),
    ("TraceByIDMetrics", 1, "inspectedBytes", "uint64"),
    ("TraceByIDMetrics", 2, "backendReads", "uint64"),
    ("TraceByIDMetrics", 3, "backendBytes", "uint64"),
    (
        "TraceByIDMetrics",
        4,
        "additionalMetrics",
        "map<string,int64>",
    ),
    ("SearchRequest", 1, "Tags", "map<string,string>"),
    ("SearchRequest", 2, "MinDurationMs", "uint32"),
    ("SearchRequest", 3, "MaxDurationMs", "uint32"),
    ("SearchRequest", 4, "Limit", "uint32"),
    ("SearchRequest", 5, "start", "uint32"),
    ("SearchRequest", 6, "end", "uint32"),
    ("SearchRequest", 8, "Query", "string"),
    ("SearchRequest", 9, "SpansPerSpanSet", "uint32"),
    (
        "SearchRequest",
        10,
        "RF1After",
        ".google.protobuf.Timestamp",
    ),
    (
        "SearchRequest",
        11,
        "skipASTTransformations",
        "repeated string",
    ),
    (
        "SearchResponse",
        1,
        "traces",
        "repeated .tempopb.TraceSearchMetadata",
    ),
    ("SearchResponse", 2, "metrics", ".tempopb.SearchMetrics"),
    ("TraceSearchMetadata", 1, "traceID", "string"),
    ("TraceSearchMetadata", 2, "rootServiceName", "string"),
    ("TraceSearchMetadata", 3, "rootTraceName", "string"),
    ("TraceSearchMetadata", 4, "startTimeUnixNano", "uint64"),
    ("TraceSearchMetadata", 5, "durationMs", "uint32"),
    ("TraceSearchMetadata", 6, "spanSet", ".tempopb.SpanSet"),
    (
        "TraceSearchMetadata",
        7,
        "spanSets",
        "repeated .tempopb.SpanSet",
    ),
    (
        "TraceSearchMetadata",
        8,
        "serviceStats",
        "map<string,.tempopb.ServiceStats>",
    ),
    ("ServiceStats", 1, "spanCount", "uint32"),
    ("ServiceStats", 2, "errorCount", "uint32"),
    ("SpanSet", 1, "spans", "repeated .tempopb.Span"),
    ("SpanSet", 2, "matched", "uint32"),
    (
        "SpanSet",
        3,
        "attributes",
        "repeated .opentelemetry.proto.common.v1.KeyValue",
    ),
    ("Span", 1, "spanID", "string"),
    ("Span", 2, "name", "string"),
    ("Span", 3, "startTimeUnixNano", "uint64"),
    ("Span", 4, "durationNanos", "uint64"),
    (
        "Span",
        5,
        "attributes",
        "repeated .opentelemetry.proto.common.v1.KeyValue",
    ),
    ("SearchMetrics", 1, "inspectedTraces", "uint32"),
    ("SearchMetrics", 2, "inspectedBytes", "uint64"),
    ("SearchMetrics", 3, "totalBlocks", "uint32"),
    ("SearchMetrics", 4, "completedJobs", "uint32"),
    ("SearchMetrics", 5, "totalJobs", "uint32"),
    ("SearchMetrics", 6, "totalBlockBytes", "uint64"),
    ("SearchMetrics", 7, "inspectedSpans", "uint64"),
    ("SearchMetrics", 8, "backendReads", "uint64"),
    ("SearchMetrics", 9, "backendBytes", "uint64"),
    (
        "SearchMetrics",
        10,
        "additionalMetrics",
        "map<string,int64>",
    ),
    ("SearchTagsRequest", 1, "scope", "string"),
    ("SearchTagsRequest", 2, "query", "string"),
    ("SearchTagsRequest", 3, "start", "uint32"),
    ("SearchTagsRequest", 4, "end", "uint32"),
    ("SearchTagsRequest", 5, "maxTagsPerScope", "uint32"),
    ("SearchTagsRequest", 6, "staleValuesThreshold", "uint32"),
    (
        "SearchTagsRequest",
        7,
        "RF1After",
        ".google.protobuf.Timestamp",
    ),
    ("SearchTagsResponse", 1, "tagNames", "repeated string"),
    (
        "SearchTagsResponse",
        2,
        "metrics",
        ".tempopb.MetadataMetrics",
    ),
    (
        "SearchTagsV2Response",
        1,
        "scopes",
        "repeated .tempopb.SearchTagsV2Scope",
    ),
    (
        "SearchTagsV2Response",
        2,
        "metrics",
        ".tempopb.MetadataMetrics",
    ),
    ("SearchTagsV2Scope", 1, "name", "string"),
    ("SearchTagsV2Scope", 2, "tags", "repeated string"),
    ("SearchTagValuesRequest", 1, "tagName", "string"),
    ("SearchTagValuesRequest", 2, "query", "string"),
    ("SearchTagValuesRequest", 4, "start", "uint32"),
    ("SearchTagValuesRequest", 5, "end", "uint32"),
    ("SearchTagValuesRequest", 6, "maxTagValues", "uint32"),
    ("SearchTagValuesRequest", 7, "staleValueThreshold", "uint32"),
    (
        "SearchTagValuesRequest",
        8,
        "RF1After",
        ".google.protobuf.Timestamp",
    ),
    ("SearchTagValuesResponse", 1, "tagValues", "repeated string"),
    (
        "SearchTagValuesResponse",
        2,
        "metrics",
        ".tempopb.MetadataMetrics",
    ),
    ("TagValue", 1, "type", "string"),
    ("TagValue", 2, "value", "string"),
    (
        "SearchTagValuesV2Response",
        1,
        "tagValues",
        "repeated .tempopb.TagValue",
    ),
    (
        "SearchTagValuesV2Response",
        2,
        "metrics",
        ".tempopb.MetadataMetrics",
    ),
    ("MetadataMetrics", 1, "inspectedBytes", "uint64"),
    ("MetadataMetrics", 2, "totalJobs", "uint32"),
    ("MetadataMetrics", 3, "completedJobs", "uint32"),
    ("MetadataMetrics", 4, "totalBlocks", "uint32"),
    ("MetadataMetrics", 5, "totalBlockBytes", "uint64"),
    ("MetadataMetrics", 6, "backendReads", "uint64"),
    ("MetadataMetrics", 7, "backendBytes", "uint64"),
    (
        "MetadataMetrics",
        8,
        "additionalMetrics",
        "map<string,int64>",
    ),
    ("QueryRangeRequest", 1, "query", "string"),
    ("QueryRangeRequest", 2, "start", "uint64"),
    ("QueryRangeRequest", 3, "end", "uint64"),
    ("QueryRangeRequest", 4, "step", "uint64"),
    ("QueryRangeRequest", 7, "queryMode", "string"),
    ("QueryRangeRequest", 8, "blockID", "string"),
    ("QueryRangeRequest", 9, "startPage", "uint32"),
    ("QueryRangeRequest", 10, "pagesToSearch", "uint32"),
    ("QueryRangeRequest", 11, "version", "string"),
    ("QueryRangeRequest", 13, "size", "uint64"),
    ("QueryRangeRequest", 14, "footerSize", "uint32"),
    (
        "QueryRangeRequest",
        15,
        "dedicatedColumns",
        "repeated .tempopb.DedicatedColumn",
    ),
    ("QueryRangeRequest", 16, "exemplars", "uint32"),
    ("QueryRangeRequest", 17, "maxSeries", "uint32"),
    ("QueryRangeRequest", 18, "instant", "optional bool"),
    (
        "QueryRangeRequest",
        19,
        "skipASTTransformations",
        "repeated string",
    ),
    (
        "QueryRangeResponse",
        1,
        "series",
        "repeated .tempopb.TimeSeries",
    ),
    ("QueryRangeResponse", 2, "metrics", ".tempopb.SearchMetrics"),
    ("QueryRangeResponse", 3, "status", ".tempopb.PartialStatus"),
    ("QueryRangeResponse", 4, "message", "string"),
    (
        "TimeSeries",
        1,
        "labels",
        "repeated .opentelemetry.proto.common.v1.KeyValue",
    ),
    ("TimeSeries", 2, "samples", "repeated .tempopb.Sample"),
    ("TimeSeries", 4, "exemplars", "repeated .tempopb.Exemplar"),
    ("Sample", 1, "value", "double"),
    ("Sample", 2, "timestamp_ms", "int64"),
    (
        "Exemplar",
        1,
        "labels",
        "repeated .opentelemetry.proto.common.v1.KeyValue",
    ),
    ("Exemplar", 2, "value", "double"),
    ("Exemplar", 3, "timestamp_ms", "int64"),
    ("QueryInstantRequest", 1, "query", "string"),
    ("QueryInstantRequest", 2, "start", "uint64"),
    ("QueryInstantRequest", 3, "end", "uint64"),
    (
        "QueryInstantResponse",
        1,
        "series",
        "repeated .tempopb.InstantSeries",
    ),
    (
        "QueryInstantResponse",
        2,
        "metrics",
        ".tempopb.SearchMetrics",
    ),
    (
        "QueryInstantResponse",
        3,
        "status",
        ".tempopb.PartialStatus",
    ),
    ("QueryInstantResponse", 4, "message", "string"),
    (
        "InstantSeries",
        1,
        "labels",
        "repeated .opentelemetry.proto.common.v1.KeyValue",
    ),
    ("InstantSeries", 2, "value", "double"),
    (
        "DedicatedColumn",
        1,
        "type",
        ".tempopb.DedicatedColumn.Type",
    ),
    ("DedicatedColumn", 2, "name", "string"),
    (
        "DedicatedColumn",
        3,
        "scope",
        ".tempopb.DedicatedColumn.Scope",
    ),
    (
        "DedicatedColumn",
        4,
        "options",
        ".tempopb.DedicatedColumn.Options",
    ),
    ("PushBytesRequest", 2, "traces", "repeated bytes"),
    ("PushBytesRequest", 3, "ids", "repeated bytes"),
    ("PushBytesRequest", 5, "skipMetricsGeneration", "bool"),
    (
        "PushResponse",
        1,
        "errorsByTrace",
        "repeated .tempopb.PushErrorReason",
    ),
    (
        "PushSpansRequest",
        1,
        "batches",
        "repeated .opentelemetry.proto.trace.v1.ResourceSpans",
    ),
    ("PushSpansRequest", 2, "skipMetricsGeneration", "bool"),
    ("TraceBytes", 1, "traces", "repeated bytes"),
    (
        "LinkSlice",
        1,
        "links",
        "repeated .opentelemetry.proto.trace.v1.Span.Link",
    ),
];

/// Enum values of §6.2.
const SPEC_ENUMS: &[(&str, &[(&str, i32)])] = &[
    ("PartialStatus", &[("COMPLETE", 0), ("PARTIAL", 1)]),
    (
        "PushErrorReason",
        &[
            ("NO_ERROR", 0),
            ("MAX_LIVE_TRACES", 1),
            ("TRACE_TOO_LARGE", 2),
            ("UNKNOWN_ERROR", 3),
        ],
    ),
];

/// `(service, method, request, response, server streaming)` of §5 and §6.1.
const SPEC_METHODS: &[(&str, &str, &str, &str, bool)] = &[
    (
        "StreamingQuerier",
        "Search",
        "SearchRequest",
        "SearchResponse",
        true,
    ),
    (
        "StreamingQuerier",
        "SearchTags",
        "SearchTagsRequest",
        "SearchTagsResponse",
        true,
    ),
    (
        "StreamingQuerier",
        "SearchTagsV2",
        "SearchTagsRequest",
        "SearchTagsV2Response",
        true,
    ),
    (
        "StreamingQuerier",
        "SearchTagValues",
        "SearchTagValuesRequest",
        "SearchTagValuesResponse",
        true,
    ),
    (
        "StreamingQuerier",
        "SearchTagValuesV2",
        "SearchTagValuesRequest",
        "SearchTagValuesV2Response",
        true,
    ),
    (
        "StreamingQuerier",
        "MetricsQueryRange",
        "QueryRangeRequest",
        "QueryRangeResponse",
        true,
    ),
    (
        "StreamingQuerier",
        "MetricsQueryInstant",
        "QueryInstantRequest",
        "QueryInstantResponse",
        true,
    ),
    (
        "Pusher",
        "PushBytes",
        "PushBytesRequest",
        "PushResponse",
        false,
    ),
    (
        "Pusher",
        "PushBytesV2",
        "PushBytesRequest",
        "PushResponse",
        false,
    ),
    (
        "Metrics",
        "QueryRange",
        "QueryRangeRequest",
        "QueryRangeResponse",
        false,
    ),
];

fn scalar_name(field_type: Type) -> &'static str {
    match field_type {
        Type::String => "string",
        Type::Bool => "bool",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Uint64 => "uint64",
        Type::Int64 => "int64",
        Type::Int32 => "int32",
        Type::Double => "double",
        other => panic!("unexpected scalar {other:?}"),
    }
}

fn tempopb() -> prost_types::FileDescriptorProto {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .into_iter()
        .find(|file| file.package() == "tempopb")
        .unwrap()
}

/// The spec-style type string of every field of `message`.
fn describe(message: &DescriptorProto) -> BTreeMap<i32, (String, String)> {
    let entries: BTreeMap<String, &DescriptorProto> = message
        .nested_type
        .iter()
        .filter(|nested| {
            nested
                .options
                .as_ref()
                .is_some_and(|options| options.map_entry())
        })
        .map(|nested| (nested.name().to_owned(), nested))
        .collect();
    let type_of = |field: &prost_types::FieldDescriptorProto| match field.r#type() {
        Type::Message | Type::Enum => field.type_name().to_owned(),
        scalar => scalar_name(scalar).to_owned(),
    };
    message
        .field
        .iter()
        .map(|field| {
            let entry_name = field.type_name().rsplit('.').next().unwrap_or_default();
            let described = if let Some(entry) = entries
                .get(entry_name)
                .filter(|_| field.r#type() == Type::Message)
            {
                format!(
                    "map<{},{}>",
                    type_of(&entry.field[0]),
                    type_of(&entry.field[1])
                )
            } else if field.label() == Label::Repeated {
                format!("repeated {}", type_of(field))
            } else if field.proto3_optional() {
                format!("optional {}", type_of(field))
            } else {
                type_of(field)
            };
            (field.number(), (field.name().to_owned(), described))
        })
        .collect()
}

#[test]
fn every_spec_field_matches_the_compiled_schema() {
    let file = tempopb();
    let messages: BTreeMap<&str, &DescriptorProto> = file
        .message_type
        .iter()
        .map(|message| (message.name(), message))
        .collect();
    let mut expected: BTreeMap<&str, BTreeMap<i32, (String, String)>> = BTreeMap::new();
    for (message, number, name, field_type) in SPEC_FIELDS {
        expected
            .entry(message)
            .or_default()
            .insert(*number, ((*name).to_owned(), (*field_type).to_owned()));
    }
    for (message, fields) in &expected {
        let descriptor = messages
            .get(message)
            .unwrap_or_else(|| panic!("message {message} missing"));
        assert_eq!(&describe(descriptor), fields, "message {message}");
    }
    let extra: Vec<_> = messages
        .keys()
        .filter(|name| !expected.contains_key(*name))
        .collect();
    assert!(extra.is_empty(), "messages not in the spec: {extra:?}");
}

#[test]
fn enums_match_spec() {
    let file = tempopb();
    for (name, values) in SPEC_ENUMS {
        let descriptor = file
            .enum_type
            .iter()
            .find(|candidate| candidate.name() == *name)
            .unwrap();
        let actual: Vec<(&str, i32)> = descriptor
            .value
            .iter()
            .map(|value| (value.name(), value.number()))
            .collect();
        assert_eq!(&actual, values, "enum {name}");
    }
    let column = file
        .message_type
        .iter()
        .find(|message| message.name() == "DedicatedColumn")
        .unwrap();
    let nested: BTreeMap<&str, Vec<(&str, i32)>> = column
        .enum_type
        .iter()
        .map(|descriptor| {
            (
                descriptor.name(),
                descriptor
                    .value
                    .iter()
                    .map(|value| (value.name(), value.number()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(nested["Type"], [("STRING", 0), ("INT", 1)]);
    assert_eq!(
        nested["Scope"],
        [("SPAN", 0), ("RESOURCE", 1), ("EVENT", 2)]
    );
    assert_eq!(nested["Options"], [("NONE", 0), ("ARRAY", 1), ("BLOB", 2)]);
}

#[test]
fn service_methods_match_spec() {
    let file = tempopb();
    for (service, method, request, response, streaming) in SPEC_METHODS {
        let descriptor = file
            .service
            .iter()
            .find(|candidate| candidate.name() == *service)
            .unwrap();
        let found = descriptor
            .method
            .iter()
            .find(|candidate| candidate.name() == *method)
            .unwrap_or_else(|| panic!("{service}/{method}"));
        assert_eq!(
            found.input_type(),
            format!(".tempopb.{request}"),
            "{service}/{method}"
        );
        assert_eq!(
            found.output_type(),
            format!(".tempopb.{response}"),
            "{service}/{method}"
        );
        assert_eq!(found.server_streaming(), *streaming, "{service}/{method}");
        assert!(!found.client_streaming());
    }
    let streaming = file
        .service
        .iter()
        .find(|candidate| candidate.name() == "StreamingQuerier")
        .unwrap();
    assert_eq!(streaming.method.len(), 7);
}
