//! Unit tests: precedence, lexing corner cases, error positions, nesting limits, long input and
//! round trips beyond the shared corpus.

use std::time::{Duration, Instant};

use crate::ast::*;
use crate::{ErrorKind, parse, parse_and_validate};

fn ast(query: &str) -> RootExpr {
    parse(query).unwrap_or_else(|error| panic!("{query}: {error}"))
}

fn same(query: &str, explicit: &str) {
    assert_eq!(ast(query), ast(explicit), "{query} should mean {explicit}");
}

fn round_trip(query: &str) -> String {
    let parsed = ast(query);
    let printed = parsed.to_string();
    let reparsed = parse(&printed).unwrap_or_else(|error| panic!("{query} → {printed}: {error}"));
    assert_eq!(parsed, reparsed, "{query} → {printed}");
    printed
}

fn error_of(query: &str) -> crate::Error {
    match parse_and_validate(query) {
        Ok(root) => panic!("{query} was accepted as {root}"),
        Err(error) => error,
    }
}

#[test]
fn field_precedence_follows_tempo() {
    same("{ .a || .b && .c }", "{ (.a || .b) && .c }");
    same("{ .a && .b || .c }", "{ (.a && .b) || .c }");
    same("{ -.a * 2 = 1 }", "{ -(.a * 2) = 1 }");
    same("{ -2 ^ 2 = 1 }", "{ -(2 ^ 2) = 1 }");
    same("{ -.a + 1 = 1 }", "{ (-.a) + 1 = 1 }");
    same("{ !.a = .b }", "{ (!.a) = .b }");
    same("{ !.a * 2 }", "{ !(.a * 2) }");
    same("{ 2 ^ 3 ^ 2 = 1 }", "{ 2 ^ (3 ^ 2) = 1 }");
    same("{ 1 + 2 * 3 = 7 }", "{ 1 + (2 * 3) = 7 }");
    same("{ .a = 1 = true }", "{ (.a = 1) = true }");
    same("{ .a - 1 - 2 = 0 }", "{ (.a - 1) - 2 = 0 }");
    same("{ .a = nil + 1 }", "{ (.a = nil) + 1 }");
}

#[test]
fn spanset_precedence_follows_tempo() {
    same("{ .a } && { .b } || { .c }", "({ .a } && { .b }) || { .c }");
    same("{ .a } && { .b } > { .c }", "{ .a } && ({ .b } > { .c })");
    same("{ .a } > { .b } > { .c }", "({ .a } > { .b }) > { .c }");
    let root = ast("{ .a } | { .b } && { .c }");
    let Body::Pipeline(pipeline) = &root.body else {
        panic!("expected a pipeline")
    };
    assert_eq!(pipeline.stages.len(), 2);
    assert!(matches!(
        &pipeline.stages[1],
        Stage::Spanset(SpansetExpr::Binary {
            op: SpansetOp::And,
            ..
        })
    ));
}

#[test]
fn metrics_arithmetic_precedence() {
    same("5 + ({} | rate()) * 10", "5 + (({} | rate()) * 10)");
    same("({} | rate()) - 3 - 2", "(({} | rate()) - 3) - 2");
    same("({} | rate()) | topk(5)", "{} | rate() | topk(5)");
}

#[test]
fn scoped_intrinsics_fold_to_legacy_names() {
    same("{ span:duration > 1s }", "{ duration > 1s }");
    same("{ trace:rootService = `a` }", "{ rootServiceName = `a` }");
    same("{ span: name = `a` }", "{ name = `a` }");
    assert_eq!(
        round_trip("{ trace:duration > 2s }"),
        "{ traceDuration > 2s }"
    );
    assert_eq!(round_trip("{ span:id = \"ab\" }"), "{ span:id = `ab` }");
    for query in [
        "{ trace:name = `a` }",
        "{ span:rootName = `a` }",
        "{ span :duration > 1s }",
        "{ resource:foo = 1 }",
    ] {
        assert_eq!(error_of(query).kind(), ErrorKind::Parse, "{query}");
    }
}

#[test]
fn attribute_names_are_lexed_like_tempo() {
    let name_of = |query: &str| match ast(query).body {
        Body::Pipeline(Pipeline { stages }) => match &stages[0] {
            Stage::Spanset(SpansetExpr::Filter(FieldExpr::Attribute(Attribute::Custom {
                scope,
                name,
            }))) => (*scope, name.clone()),
            other => panic!("{query}: {other:?}"),
        },
        other => panic!("{query}: {other:?}"),
    };
    assert_eq!(
        name_of("{ .a+1 }"),
        (AttributeScope::Unscoped, "a+1".to_owned())
    );
    assert_eq!(
        name_of("{ span.foo:bar }"),
        (AttributeScope::Span, "foo:bar".to_owned())
    );
    assert_eq!(
        name_of("{ span.foo.\"bar baz\".qux }"),
        (AttributeScope::Span, "foo.bar baz.qux".to_owned())
    );
    assert_eq!(
        name_of("{ span.resource.foo }"),
        (AttributeScope::Span, "resource.foo".to_owned())
    );
    assert_eq!(
        name_of("{ .span.foo }"),
        (AttributeScope::Unscoped, "span.foo".to_owned())
    );
    assert_eq!(
        name_of("{ parent.resource.x }"),
        (AttributeScope::ParentResource, "x".to_owned())
    );
    assert_eq!(
        name_of("{ .\"a\\\\b\\\"c\" }"),
        (AttributeScope::Unscoped, "a\\b\"c".to_owned())
    );
    for query in [
        "{ . }",
        "{ span. }",
        "{ . foo }",
        "{ trace.foo = 1 }",
        "{ .\"a\\n\" }",
        "{ .\"abc }",
        "{ attribute = 4 }",
    ] {
        assert_eq!(error_of(query).kind(), ErrorKind::Parse, "{query}");
    }
}

#[test]
fn literals() {
    let value_of = |query: &str| match ast(query).body {
        Body::Pipeline(Pipeline { stages }) => match &stages[0] {
            Stage::Spanset(SpansetExpr::Filter(FieldExpr::Binary { rhs, .. })) => {
                match rhs.as_ref() {
                    FieldExpr::Static(value) => value.clone(),
                    other => panic!("{query}: {other:?}"),
                }
            }
            other => panic!("{query}: {other:?}"),
        },
        other => panic!("{query}: {other:?}"),
    };
    let seconds = |value: i64| Static::Duration(value * 1_000_000_000);
    assert_eq!(value_of("{ .a = 1h30m }"), seconds(5400));
    assert_eq!(value_of("{ .a = 1.5h }"), seconds(5400));
    assert_eq!(value_of("{ .a = 1d }"), seconds(86_400));
    assert_eq!(value_of("{ .a = 1ms500us }"), Static::Duration(1_500_000));
    assert_eq!(value_of("{ .a = .5s }"), Static::Duration(500_000_000));
    assert_eq!(value_of("{ .a = 1e3 }"), Static::Float(1000.0));
    assert_eq!(value_of("{ .a = 5. }"), Static::Float(5.0));
    assert_eq!(value_of("{ .a = maxInt }"), Static::Int(i64::MAX));
    assert_eq!(
        value_of("{ .a = \"a\\tb\\x41\\u00e9\" }"),
        Static::String("a\tbAé".to_owned())
    );
    assert_eq!(
        value_of("{ .a = `raw\\n` }"),
        Static::String("raw\\n".to_owned())
    );
    for query in [
        "{ .a = 1h1d }",
        "{ .a = 1t }",
        "{ .a = 10 s }",
        "{ .a = 1_000 }",
        "{ .a = 0x10 }",
        "{ .a = 9223372036854775808 }",
        "{ .a = \"\\q\" }",
        "{ .a = \"abc }",
        "{ .a = 'c' }",
        "{ .a = TRUE }",
        "{ .a == 1 }",
    ] {
        assert_eq!(error_of(query).kind(), ErrorKind::Parse, "{query}");
    }
    assert_eq!(round_trip("{ .a = minInt }"), "{ .a = minInt }");
}

#[test]
fn comments_are_skipped() {
    same("/* c */ { .a = 1 } // trailing", "{ .a = 1 }");
    same(
        "{ .a = 1 /* inside */ } | // line\n count() > 1",
        "{ .a = 1 } | count() > 1",
    );
    assert_eq!(error_of("{ .a = 1 } /* open").kind(), ErrorKind::Parse);
}

#[test]
fn parse_errors_carry_positions() {
    assert_eq!(
        error_of("{ .a < 3").to_string(),
        "parse error at line 1, col 9: expected '}'"
    );
    assert_eq!(
        error_of("{ .a = \"é\" ").to_string(),
        "parse error at line 1, col 12: expected '}'"
    );
    let error = error_of("{ .a = 1 } |\n  { .b = }");
    assert_eq!(
        error.to_string(),
        "parse error at line 2, col 10: expected an expression"
    );
    let error = error_of("{ .a = 1 } | count()");
    assert!(
        matches!(
            error,
            crate::Error::Parse {
                line: 1,
                col: 14,
                ..
            }
        ),
        "{error}"
    );
    let error = error_of("({} | rate()) + 5 100");
    assert!(
        matches!(
            error,
            crate::Error::Parse {
                line: 1,
                col: 19,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn error_kinds() {
    assert_eq!(error_of("{ 1 = \"a\" }").kind(), ErrorKind::Validate);
    let unsupported = error_of("{ parent.a = 1 }");
    assert_eq!(unsupported.kind(), ErrorKind::Unsupported);
    assert!(
        unsupported.to_string().starts_with("unsupported: "),
        "{unsupported}"
    );
    assert_eq!(error_of("{ .a =~ \"(\" }").kind(), ErrorKind::Validate);
    assert_eq!(
        error_of("({} | rate()) / (1 / 0)").kind(),
        ErrorKind::Validate
    );
    assert_eq!(
        error_of("{} | quantile_over_time(duration, 1.5)").kind(),
        ErrorKind::Validate
    );
    assert_eq!(
        error_of("{} | compare({ .a = 1 }, 0)").kind(),
        ErrorKind::Validate
    );
    assert_eq!(
        error_of("{} | compare({ .a = 1 }, 10, 5, 1)").kind(),
        ErrorKind::Validate
    );
    assert_eq!(
        error_of("{} | rate() by (.a, .b, .c, .d, .e, .f)").kind(),
        ErrorKind::Unsupported
    );
    assert!(parse_and_validate("{} | rate() by (.a, .b, .c, .d, .e)").is_ok());
    assert_eq!(
        error_of("{} | histogram_over_time(duration) by (.a, .b, .c, .d, .e)").kind(),
        ErrorKind::Unsupported
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 100_000;
    let cases = [
        format!("{}{{ .a }}{}", "(".repeat(depth), ")".repeat(depth)),
        format!("{{ {}.a = 1{} }}", "(".repeat(depth), ")".repeat(depth)),
        format!("{{ {}true }}", "!".repeat(depth)),
        format!("{{ .a = {}1 }}", "-".repeat(depth)),
        format!("{{ .a = 2{} }}", " ^ 2".repeat(depth)),
        format!("({{}} | rate()) * {}1", "-".repeat(depth)),
        format!("{{ .a = 1{} }}", " || .a = 1".repeat(depth)),
        format!("{{ }}{}", " | { }".repeat(depth)),
    ];
    for query in &cases {
        let error = error_of(query);
        assert_eq!(error.kind(), ErrorKind::Parse, "{error}");
        assert!(
            error.message().contains("too deep") || error.message().contains("nested too deeply"),
            "{error}"
        );
    }
    // just below the limits everything works, including printing and validation
    let nested = format!("{}{{ .a }}{}", "(".repeat(100), ")".repeat(100));
    assert!(parse_and_validate(&nested).is_ok());
    let chain = format!("{{ .a = 1{} }}", " || .a = 1".repeat(400));
    round_trip(&chain);
    assert!(parse_and_validate(&chain).is_ok());
}

#[test]
fn long_input_parses_in_linear_time() {
    let time = |query: &str| {
        let start = Instant::now();
        assert!(parse_and_validate(query).is_ok(), "long query rejected");
        start.elapsed()
    };
    let long_string = format!("{{ .a = \"{}\" }}", "x".repeat(4_000_000));
    let long_name = format!("{{ .{} = 1 }}", "n".repeat(4_000_000));
    let long_pipeline = format!("{{ }}{}", " | { .a = 1 }".repeat(900));
    let long_select = format!("{{ }} | select(.a{})", ", .b".repeat(200_000));
    for query in [&long_string, &long_name, &long_pipeline, &long_select] {
        assert!(
            time(query) < Duration::from_secs(10),
            "{} bytes took too long",
            query.len()
        );
    }
    // doubling the input roughly doubles the time (allowing generous noise)
    let small = format!("{{ }} | select(.a{})", ", .b".repeat(100_000));
    let (small_time, large_time) = (time(&small), time(&long_select));
    assert!(
        large_time < small_time * 8 + Duration::from_millis(50),
        "{small_time:?} vs {large_time:?}"
    );
}

#[test]
fn canonical_form() {
    assert_eq!(round_trip("{}"), "{ true }");
    assert_eq!(
        round_trip("{ .\"foo bar\" = \"v\" }"),
        "{ .\"foo bar\" = `v` }"
    );
    assert_eq!(
        round_trip("{ .a = \"has ` tick\" }"),
        "{ .a = \"has ` tick\" }"
    );
    assert_eq!(round_trip("{ .a = \"cr\\r\" }"), "{ .a = \"cr\\r\" }");
    assert_eq!(
        round_trip("{ (.a + 1) * 2 = -(.b) }"),
        "{ (.a + 1) * 2 = -.b }"
    );
    assert_eq!(round_trip("{ .a * -.b = 1 }"), "{ .a * (-.b) = 1 }");
    assert_eq!(
        round_trip("{ duration > 1500ms }"),
        "{ duration > 1s500ms }"
    );
    assert_eq!(round_trip("{ .a = 1e300 }"), "{ .a = 1e300 }");
    assert_eq!(
        round_trip("{} | rate() by(span.a,resource.b)"),
        "{ true } | rate() by (span.a, resource.b)"
    );
    assert_eq!(
        round_trip("{ } with(most_recent=true) with(sample=0.5, x=\"y\")"),
        "{ true } with(sample=0.5, x=`y`)"
    );
    for query in [
        "{ .\"5x\" = 1 }",
        "{ parent.\"span.x\" = 1 }",
        "{ ! ! .a }",
        "{ - - .a = 1 }",
        "{ nil = .a && .b != nil }",
        "({} | rate()) - -5 * -(2 + 3)",
        "{} | compare({ status = error }, 5, 1000, 2000)",
        "{} | quantile_over_time(duration, 0, 0.5, 1) by (name) | topk(3) > 1s",
        "({ .a } | count() > 1) >> ({ .b }) && ({ .c } | by(.d))",
        "({ .a } | count()) * ({ .b } | avg(duration)) > 2",
        "{ .a } | by(.b) | coalesce() | select(span:id, trace:id, .x)",
        "min(.a) + 1 > max(.b) ^ 2 % 3",
        "min(.a) ^ max(.b) ^ count() = 2",
        "{ event:name = `x` && link:traceID = `y` && instrumentation:version = `z` }",
    ] {
        round_trip(query);
    }
}

#[test]
fn wrapped_pipelines_follow_tempo_shapes() {
    assert!(parse("({ .a } | count() > 1) >> ({ .b })").is_ok());
    assert!(parse("({ } | by(.a)) > ({ })").is_ok());
    for query in [
        "({ } | by(.a)) > { }",
        "({ .a }) && ({ .b } | count() > 1)",
        "{ .a } | ({ .b } | { .c })",
    ] {
        assert_eq!(error_of(query).kind(), ErrorKind::Parse, "{query}");
    }
}
