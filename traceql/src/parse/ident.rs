//! Identifiers: attribute references (`.x`, `span.x`, `resource."a b"`, `parent.span.x`),
//! scoped intrinsics (`span:duration`, `trace:id`), bare intrinsics and keyword literals.

use crate::ast::{Attribute, AttributeScope, Intrinsic, Static};
use crate::parse::internal::{Res, backtrack, fail, sp};
use crate::parse::lexer::raw_ident;
use crate::parse::literal::keyword_static;

/// What an identifier in a field expression turned out to be.
pub(crate) enum IdentAtom {
    Static(Static),
    Attribute(Attribute),
    Nil,
}

/// Characters that end an unquoted attribute name (besides whitespace).
pub(crate) fn is_attribute_terminator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ','
        )
}

fn bare_intrinsic(name: &str) -> Option<Intrinsic> {
    Some(match name {
        "duration" => Intrinsic::Duration,
        "name" => Intrinsic::Name,
        "status" => Intrinsic::Status,
        "statusMessage" => Intrinsic::StatusMessage,
        "kind" => Intrinsic::Kind,
        "parent" => Intrinsic::Parent,
        "rootName" => Intrinsic::TraceRootName,
        "rootServiceName" => Intrinsic::TraceRootService,
        "traceDuration" => Intrinsic::TraceDuration,
        "nestedSetLeft" => Intrinsic::NestedSetLeft,
        "nestedSetRight" => Intrinsic::NestedSetRight,
        "nestedSetParent" => Intrinsic::NestedSetParent,
        _ => return None,
    })
}

fn scoped_intrinsic(scope: &str, name: &str) -> Option<Intrinsic> {
    Some(match (scope, name) {
        ("trace", "duration") => Intrinsic::TraceDuration,
        ("trace", "rootName") => Intrinsic::TraceRootName,
        ("trace", "rootService") => Intrinsic::TraceRootService,
        ("trace", "id") => Intrinsic::TraceId,
        ("span", "duration") => Intrinsic::Duration,
        ("span", "name") => Intrinsic::Name,
        ("span", "kind") => Intrinsic::Kind,
        ("span", "status") => Intrinsic::Status,
        ("span", "statusMessage") => Intrinsic::StatusMessage,
        ("span", "id") => Intrinsic::SpanId,
        ("span", "parentID") => Intrinsic::SpanParentId,
        ("span", "childCount") => Intrinsic::SpanChildCount,
        ("event", "name") => Intrinsic::EventName,
        ("event", "timeSinceStart") => Intrinsic::EventTimeSinceStart,
        ("link", "traceID") => Intrinsic::LinkTraceId,
        ("link", "spanID") => Intrinsic::LinkSpanId,
        ("instrumentation", "name") => Intrinsic::InstrumentationName,
        ("instrumentation", "version") => Intrinsic::InstrumentationVersion,
        _ => return None,
    })
}

fn attribute_scope(name: &str) -> Option<AttributeScope> {
    Some(match name {
        "span" => AttributeScope::Span,
        "resource" => AttributeScope::Resource,
        "event" => AttributeScope::Event,
        "link" => AttributeScope::Link,
        "instrumentation" => AttributeScope::Instrumentation,
        "parent" => AttributeScope::Parent,
        _ => return None,
    })
}

/// An attribute name in attribute mode: everything up to a terminator, with `"`-quoted
/// segments (escapes `\"` and `\\` only) concatenated to the unquoted parts.
fn attribute_name(input: &str) -> Res<'_, String> {
    let mut name = String::new();
    let mut rest = input;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut closed = None;
            while let Some((index, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = Some(index + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, escaped @ ('"' | '\\'))) => name.push(escaped),
                        Some(_) => {
                            return fail(
                                "invalid escape sequence in attribute name",
                                &quoted[index..],
                            );
                        }
                        None => break,
                    },
                    other => name.push(other),
                }
            }
            match closed {
                Some(end) => rest = &quoted[end..],
                None => return fail("quoted attribute name not terminated", rest),
            }
            continue;
        }
        let end = rest
            .find(|c: char| c == '"' || is_attribute_terminator(c))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        name.push_str(&rest[..end]);
        rest = &rest[end..];
    }
    if name.is_empty() {
        return fail("expected an attribute name", input);
    }
    Ok((rest, name))
}

/// An attribute after its scope identifier: `rest` starts right after `scope_name`.
fn scoped_attribute<'a>(scope_name: &str, rest: &'a str) -> Option<Res<'a, Attribute>> {
    let mut scope = attribute_scope(scope_name)?;
    let mut after_dot = rest.strip_prefix('.')?;
    if scope == AttributeScope::Parent {
        if let Some(inner) = after_dot.strip_prefix("span.") {
            scope = AttributeScope::ParentSpan;
            after_dot = inner;
        } else if let Some(inner) = after_dot.strip_prefix("resource.") {
            scope = AttributeScope::ParentResource;
            after_dot = inner;
        }
    }
    Some(attribute_name(after_dot).map(|(rest, name)| (rest, Attribute::Custom { scope, name })))
}

/// `scope:` followed (whitespace allowed) by an intrinsic name.
fn scoped_intrinsic_after<'a>(scope_name: &str, rest: &'a str) -> Option<Res<'a, Attribute>> {
    if !matches!(
        scope_name,
        "trace" | "span" | "event" | "link" | "instrumentation"
    ) {
        return None;
    }
    let after_colon = rest.strip_prefix(':')?;
    let parsed = sp(after_colon).and_then(|(at, ())| match raw_ident(at) {
        Ok((rest, name)) => match scoped_intrinsic(scope_name, name) {
            Some(intrinsic) => Ok((rest, Attribute::Intrinsic(intrinsic))),
            None => fail(format!("unknown intrinsic '{scope_name}:{name}'"), at),
        },
        Err(_) => fail("expected an intrinsic name", at),
    });
    Some(parsed)
}

/// An atom starting with an identifier, in a field expression. `input` is at the identifier.
pub(crate) fn ident_atom(input: &str) -> Res<'_, IdentAtom> {
    let (rest, name) = raw_ident(input)?;
    if let Some(parsed) = scoped_attribute(name, rest) {
        return parsed.map(|(rest, attribute)| (rest, IdentAtom::Attribute(attribute)));
    }
    if let Some(parsed) = scoped_intrinsic_after(name, rest) {
        return parsed.map(|(rest, attribute)| (rest, IdentAtom::Attribute(attribute)));
    }
    if let Some(intrinsic) = bare_intrinsic(name) {
        return Ok((rest, IdentAtom::Attribute(Attribute::Intrinsic(intrinsic))));
    }
    if name == "nil" {
        return Ok((rest, IdentAtom::Nil));
    }
    if let Some(value) = keyword_static(name) {
        return Ok((rest, IdentAtom::Static(value)));
    }
    if name == "trace" && rest.starts_with('.') {
        return fail(
            "trace has no attributes, only intrinsics such as trace:id",
            input,
        );
    }
    fail(format!("unknown identifier '{name}'"), input)
}

/// An unscoped attribute `.name`; `input` starts with the dot.
pub(crate) fn unscoped_attribute(input: &str) -> Res<'_, Attribute> {
    let Some(after_dot) = input.strip_prefix('.') else {
        return backtrack(input);
    };
    let (rest, name) = attribute_name(after_dot)?;
    Ok((
        rest,
        Attribute::Custom {
            scope: AttributeScope::Unscoped,
            name,
        },
    ))
}

/// An attribute or intrinsic (for `select()`, metrics arguments and `by (...)`), after
/// optional whitespace.
pub(crate) fn attribute(input: &str) -> Res<'_, Attribute> {
    let (input, ()) = sp(input)?;
    if input.starts_with('.') {
        return unscoped_attribute(input);
    }
    if raw_ident(input).is_err() {
        return fail("expected an attribute or intrinsic", input);
    }
    match ident_atom(input)? {
        (rest, IdentAtom::Attribute(attribute)) => Ok((rest, attribute)),
        _ => fail("expected an attribute or intrinsic", input),
    }
}
