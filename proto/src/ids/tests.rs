use proptest::prelude::*;

use super::*;
use crate::ErrorCode;

const FIXTURE_TRACE_HEX: &str = "5b8efff798038103d269b633813fc700";
const FIXTURE_TRACE_BYTES: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc7, 0x00,
];

#[test]
fn trace_id_parses_full_width_hex_in_any_case() {
    let lower = TraceId::from_hex(FIXTURE_TRACE_HEX).unwrap();
    let upper = TraceId::from_hex("5B8EFFF798038103D269B633813FC700").unwrap();
    let mixed = TraceId::from_hex("5b8EfFf798038103d269B633813fc700").unwrap();
    assert_eq!(lower.as_bytes(), &FIXTURE_TRACE_BYTES);
    assert_eq!(lower, upper);
    assert_eq!(lower, mixed);
    assert_eq!(lower.to_hex(), FIXTURE_TRACE_HEX);
    assert_eq!(lower.to_string(), FIXTURE_TRACE_HEX);
    assert_eq!(
        format!("{lower:?}"),
        format!("TraceId({FIXTURE_TRACE_HEX})")
    );
}

#[test]
fn short_and_odd_length_hex_is_left_padded() {
    let jaeger = TraceId::from_hex("d6e9329d67b6146a").unwrap();
    assert_eq!(jaeger.to_hex(), "0000000000000000d6e9329d67b6146a");
    let odd = TraceId::from_hex("bad").unwrap();
    assert_eq!(odd.to_hex(), "00000000000000000000000000000bad");
    assert_eq!(odd.as_bytes()[14..], [0x0b, 0xad]);
    assert_eq!(TraceId::from_hex("1").unwrap().as_bytes()[15], 1);
    assert_eq!(
        SpanId::from_hex("abc").unwrap().to_hex(),
        "0000000000000abc"
    );
    // 31 digits: the first digit becomes the low nibble of the first byte.
    let thirty_one = TraceId::from_hex("123456789abcdef0123456789abcdef").unwrap();
    assert_eq!(thirty_one.to_hex(), "0123456789abcdef0123456789abcdef");
}

#[test]
fn non_hex_is_rejected_with_tempo_message_and_position() {
    let error = TraceId::from_hex("xyz").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid trace id \"xyz\": trace IDs can only contain hex characters: invalid character 'x' at position 1"
    );
    assert_eq!(error.code(), ErrorCode::BadRequest);
    let error = TraceId::from_hex("abcg").unwrap_err();
    assert!(
        matches!(
            error,
            IdError::NotHex {
                character: 'g',
                position: 4,
                ..
            }
        ),
        "{error:?}"
    );
    // Positions count characters, not bytes.
    let error = TraceId::from_hex("aé").unwrap_err();
    assert!(
        matches!(
            error,
            IdError::NotHex {
                character: 'é',
                position: 2,
                ..
            }
        ),
        "{error:?}"
    );
    let error = SpanId::from_hex("zz").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("span IDs can only contain hex characters"),
        "{error}"
    );
}

#[test]
fn prefixes_dashes_spaces_and_empty_are_rejected() {
    for input in ["0x5b8e", "5b8e-fff7", " 5b8e", "5b8e ", "+1", "-1"] {
        let error = TraceId::from_hex(input).unwrap_err();
        assert!(
            matches!(error, IdError::NotHex { .. }),
            "{input}: {error:?}"
        );
    }
    assert_eq!(
        TraceId::from_hex("").unwrap_err(),
        IdError::EmptyHex {
            kind: IdKind::Trace
        }
    );
    assert_eq!(
        SpanId::from_hex("").unwrap_err(),
        IdError::EmptyHex { kind: IdKind::Span }
    );
}

#[test]
fn too_long_hex_is_rejected_even_with_leading_zeros() {
    let thirty_four = format!("00{FIXTURE_TRACE_HEX}");
    let error = TraceId::from_hex(&thirty_four).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("trace IDs can't be larger than 128 bits"),
        "{error}"
    );
    // 33 digits is 17 bytes once padded to even length.
    assert!(TraceId::from_hex(&format!("1{FIXTURE_TRACE_HEX}")).is_err());
    let error = SpanId::from_hex("00eee19b7ec3c1b100").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("span IDs can't be larger than 64 bits"),
        "{error}"
    );
    assert!(SpanId::from_hex("eee19b7ec3c1b100").is_ok());
}

#[test]
fn huge_inputs_are_cut_in_messages() {
    let huge = "z".repeat(100_000);
    let message = TraceId::from_hex(&huge).unwrap_err().to_string();
    assert!(message.len() < 300, "{} bytes", message.len());
    assert!(message.contains('…'));
    let message = TenantId::new("a".repeat(1_000)).unwrap_err().to_string();
    assert!(
        message.contains("tenant ID is too long: max 150 characters"),
        "{message}"
    );
    assert!(message.len() < 300);
}

#[test]
fn from_bytes_left_pads_and_rejects_empty_or_long() {
    let widened = TraceId::from_bytes(&[0xd6, 0xe9, 0x32, 0x9d, 0x67, 0xb6, 0x14, 0x6a]).unwrap();
    assert_eq!(widened, TraceId::from_hex("d6e9329d67b6146a").unwrap());
    assert_eq!(
        TraceId::from_bytes(&FIXTURE_TRACE_BYTES).unwrap(),
        TraceId::from_array(FIXTURE_TRACE_BYTES)
    );
    assert_eq!(
        TraceId::from_bytes(&[0; 17]).unwrap_err(),
        IdError::BytesLength {
            kind: IdKind::Trace,
            len: 17
        }
    );
    assert_eq!(
        TraceId::from_bytes(&[]).unwrap_err(),
        IdError::BytesLength {
            kind: IdKind::Trace,
            len: 0
        }
    );
    assert_eq!(
        SpanId::from_bytes(&[1, 2]).unwrap().to_hex(),
        "0000000000000102"
    );
    assert!(SpanId::from_bytes(&[0; 9]).is_err());
    assert_eq!(
        TraceId::try_from(&FIXTURE_TRACE_BYTES[..])
            .unwrap()
            .to_array(),
        FIXTURE_TRACE_BYTES
    );
}

#[test]
fn ingest_validation_matches_distributor_rules() {
    assert!(TraceId::from_ingest_bytes(&FIXTURE_TRACE_BYTES).is_ok());
    let error = TraceId::from_ingest_bytes(&FIXTURE_TRACE_BYTES[..8]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trace ids must be 128 bit, received 64 bits"
    );
    let span = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x00];
    assert_eq!(
        SpanId::from_ingest_bytes(&span).unwrap().to_hex(),
        "eee19b7ec3c1b100"
    );
    let error = SpanId::from_ingest_bytes(&[0; 8]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "span ids must be 64 bit and not all zero, received 64 bits"
    );
    assert_eq!(
        SpanId::from_ingest_bytes(&[1; 4]).unwrap_err(),
        IdError::IngestSpanId { len: 4 }
    );
    assert_eq!(SpanId::from_parent_bytes(&[]).unwrap(), None);
    assert_eq!(SpanId::from_parent_bytes(&[0; 8]).unwrap(), None);
    assert_eq!(
        SpanId::from_parent_bytes(&span).unwrap(),
        Some(SpanId::from_array(span))
    );
    assert!(SpanId::from_parent_bytes(&[1; 9]).is_err());
}

#[test]
fn trimmed_hex_strips_leading_zeros_and_parses_back() {
    let jaeger = TraceId::from_hex("0000000000000000d6e9329d67b6146a").unwrap();
    assert_eq!(jaeger.to_hex_trimmed(), "d6e9329d67b6146a");
    let odd = TraceId::from_hex("0bad").unwrap();
    assert_eq!(odd.to_hex_trimmed(), "bad");
    assert_eq!(TraceId::from_hex(&odd.to_hex_trimmed()).unwrap(), odd);
    assert_eq!(TraceId::ZERO.to_hex_trimmed(), "0");
    assert_eq!(
        TraceId::from_hex(FIXTURE_TRACE_HEX)
            .unwrap()
            .to_hex_trimmed(),
        FIXTURE_TRACE_HEX
    );
}

#[test]
fn zero_default_and_ordering() {
    assert!(TraceId::default().is_zero());
    assert!(SpanId::ZERO.is_zero());
    assert!(!TraceId::from_hex("1").unwrap().is_zero());
    assert!(TraceId::from_hex("ff").unwrap() < TraceId::from_hex("100").unwrap());
    assert_eq!(SpanId::LEN, 8);
    assert_eq!(TraceId::LEN, 16);
}

#[test]
fn ids_serialize_as_hex_strings() {
    let trace_id = TraceId::from_hex(FIXTURE_TRACE_HEX).unwrap();
    let json = serde_json::to_string(&trace_id).unwrap();
    assert_eq!(json, format!("\"{FIXTURE_TRACE_HEX}\""));
    assert_eq!(serde_json::from_str::<TraceId>(&json).unwrap(), trace_id);
    assert_eq!(
        serde_json::from_str::<TraceId>("\"BAD\"").unwrap(),
        TraceId::from_hex("bad").unwrap()
    );
    let error = serde_json::from_str::<TraceId>("\"xyz\"")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("trace IDs can only contain hex characters"),
        "{error}"
    );
    assert!(serde_json::from_str::<TraceId>("42").is_err());
    let span_id = SpanId::from_hex("eee19b7ec3c1b101").unwrap();
    assert_eq!(
        serde_json::to_string(&span_id).unwrap(),
        "\"eee19b7ec3c1b101\""
    );
}

#[test]
fn tenant_ids_follow_dskit_rules() {
    for valid in [
        "single-tenant",
        "t1",
        "team-a",
        "A.b_c!d*e'f(g)h",
        "...",
        "a..",
        &"x".repeat(150),
    ] {
        assert_eq!(TenantId::new(valid).unwrap().as_str(), valid);
    }
    assert_eq!(TenantId::single_tenant().as_str(), "single-tenant");
    assert_eq!(
        TenantId::single_tenant().to_string(),
        TenantId::SINGLE_TENANT
    );

    let error = TenantId::new("a#b").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid tenant id \"a#b\": tenant ID contains unsupported character '#' at position 2"
    );
    assert_eq!(error.code(), ErrorCode::BadRequest);
    for invalid in ["a|b", "a/b", "a b", "é", "a\nb", "a:b"] {
        let error = TenantId::new(invalid).unwrap_err();
        assert!(
            error.to_string().contains("unsupported character"),
            "{invalid}: {error}"
        );
    }
    let error = TenantId::new("x".repeat(151)).unwrap_err();
    assert!(
        matches!(error, IdError::TenantTooLong { max: 150, .. }),
        "{error:?}"
    );
    for dots in [".", ".."] {
        let error = TenantId::new(dots).unwrap_err();
        assert!(
            error.to_string().ends_with("tenant ID is '.' or '..'"),
            "{error}"
        );
    }
    let error = TenantId::new("").unwrap_err();
    assert_eq!(error, IdError::MissingTenant);
    assert_eq!(error.to_string(), "no org id");
    assert_eq!(error.code(), ErrorCode::Unauthenticated);
}

#[test]
fn tenant_serde_validates() {
    let tenant: TenantId = serde_json::from_str("\"t1\"").unwrap();
    assert_eq!(serde_json::to_string(&tenant).unwrap(), "\"t1\"");
    assert!(serde_json::from_str::<TenantId>("\"a#b\"").is_err());
    assert!("..".parse::<TenantId>().is_err());
}

#[test]
fn multi_tenant_headers_split_sort_and_dedupe() {
    let tenants = parse_tenants("team-b|team-a|team-b").unwrap();
    let names: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
    assert_eq!(names, ["team-a", "team-b"]);
    assert_eq!(
        parse_tenants("t1").unwrap(),
        vec![TenantId::new("t1").unwrap()]
    );
    for empty_segment in ["", "|a", "a|", "a||b", "|"] {
        assert_eq!(
            parse_tenants(empty_segment).unwrap_err(),
            IdError::MissingTenant,
            "{empty_segment:?}"
        );
    }
    assert!(
        parse_tenants("t1|a#b")
            .unwrap_err()
            .to_string()
            .contains("unsupported character")
    );
}

proptest! {
    #[test]
    fn trace_id_hex_round_trips(bytes in any::<[u8; 16]>()) {
        let id = TraceId::from_array(bytes);
        prop_assert_eq!(TraceId::from_hex(&id.to_hex()).unwrap(), id);
        prop_assert_eq!(TraceId::from_hex(&id.to_hex().to_uppercase()).unwrap(), id);
        prop_assert_eq!(id.to_hex().len(), 32);
        prop_assert_eq!(TraceId::from_hex(&id.to_hex_trimmed()).unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(serde_json::from_str::<TraceId>(&json).unwrap(), id);
    }

    #[test]
    fn integer_views_keep_byte_order(left in any::<u128>(), right in any::<u128>(), span in any::<u64>()) {
        let (left_id, right_id) = (TraceId::from_u128(left), TraceId::from_u128(right));
        prop_assert_eq!(left_id.to_u128(), left);
        prop_assert_eq!(left_id.cmp(&right_id), left.cmp(&right));
        prop_assert_eq!(TraceId::from_hex(&format!("{left:x}")).unwrap(), left_id);
        prop_assert_eq!(SpanId::from_u64(span).to_u64(), span);
        prop_assert_eq!(SpanId::from_u64(span).to_hex(), format!("{span:016x}"));
    }

    #[test]
    fn span_id_hex_round_trips(bytes in any::<[u8; 8]>()) {
        let id = SpanId::from_array(bytes);
        prop_assert_eq!(id.to_string().parse::<SpanId>().unwrap(), id);
        prop_assert_eq!(SpanId::from_bytes(&bytes).unwrap(), id);
    }

    #[test]
    fn short_hex_equals_zero_padded_hex(digits in "[0-9a-fA-F]{1,32}") {
        let padded = format!("{digits:0>32}");
        prop_assert_eq!(TraceId::from_hex(&digits).unwrap(), TraceId::from_hex(&padded).unwrap());
        prop_assert_eq!(TraceId::from_hex(&digits).unwrap().to_hex(), padded.to_lowercase());
    }

    #[test]
    fn short_bytes_equal_zero_padded_bytes(bytes in proptest::collection::vec(any::<u8>(), 1..=16)) {
        let mut padded = [0u8; 16];
        padded[16 - bytes.len()..].copy_from_slice(&bytes);
        prop_assert_eq!(TraceId::from_bytes(&bytes).unwrap(), TraceId::from_array(padded));
    }

    #[test]
    fn parsing_never_panics(input in "\\PC{0,40}") {
        let _ = TraceId::from_hex(&input);
        let _ = SpanId::from_hex(&input);
        let _ = TenantId::new(input.clone());
        let _ = parse_tenants(&input);
    }

    #[test]
    fn valid_tenant_alphabet_is_accepted(id in "[a-zA-Z0-9!_*'()-][a-zA-Z0-9!._*'()-]{0,149}") {
        let tenant = TenantId::new(id.clone()).unwrap();
        prop_assert_eq!(tenant.as_str(), id.as_str());
    }
}

#[test]
fn tenants_come_from_http_headers() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(
        TenantId::from_http_headers(&headers).unwrap_err(),
        IdError::MissingTenant
    );
    headers.insert("x-scope-orgid", http::HeaderValue::from_static(""));
    assert_eq!(
        TenantId::from_http_headers(&headers).unwrap_err(),
        IdError::MissingTenant
    );
    headers.insert("X-Scope-OrgID", http::HeaderValue::from_static("t1"));
    assert_eq!(
        TenantId::from_http_headers(&headers).unwrap().as_str(),
        "t1"
    );
    headers.insert("X-Scope-OrgID", http::HeaderValue::from_static("t2|t1"));
    assert!(
        TenantId::from_http_headers(&headers)
            .unwrap_err()
            .to_string()
            .contains("unsupported character '|'")
    );
    let names: Vec<String> = tenants_from_http_headers(&headers)
        .unwrap()
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, ["t1", "t2"]);
    headers.insert(
        "X-Scope-OrgID",
        http::HeaderValue::from_bytes(b"t\xff").unwrap(),
    );
    let error = TenantId::from_http_headers(&headers).unwrap_err();
    assert!(
        matches!(
            error,
            IdError::TenantUnsupportedCharacter {
                character: '\u{fffd}',
                position: 2,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn tenants_come_from_grpc_metadata() {
    let mut metadata = tonic::metadata::MetadataMap::new();
    assert_eq!(
        TenantId::from_grpc_metadata(&metadata).unwrap_err(),
        IdError::MissingTenant
    );
    assert_eq!(
        tenants_from_grpc_metadata(&metadata).unwrap_err().code(),
        ErrorCode::Unauthenticated
    );
    metadata.insert(ORG_ID_METADATA_KEY, "team-a".parse().unwrap());
    assert_eq!(
        TenantId::from_grpc_metadata(&metadata).unwrap().as_str(),
        "team-a"
    );
    metadata.insert(ORG_ID_METADATA_KEY, "team-a|team-b".parse().unwrap());
    assert_eq!(tenants_from_grpc_metadata(&metadata).unwrap().len(), 2);
    metadata.insert(ORG_ID_METADATA_KEY, "a#b".parse().unwrap());
    assert_eq!(
        TenantId::from_grpc_metadata(&metadata).unwrap_err().code(),
        ErrorCode::BadRequest
    );
}
