//! Literals: integers, floats, durations (Prometheus then Go syntax), strings (Go escapes and
//! raw back-quoted strings) and the keyword literals.

use nom::Parser;
use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::{char, one_of};
use nom::combinator::{opt, recognize};
use nom::sequence::pair;

use crate::ast::{SpanKind, Static, Status};
use crate::parse::internal::{Res, backtrack, fail};

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;
const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;
const NANOS_PER_WEEK: i64 = 7 * NANOS_PER_DAY;
const NANOS_PER_YEAR: i64 = 365 * NANOS_PER_DAY;

fn is_duration_char(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(
            c,
            '.' | 'n' | 's' | 'u' | 'µ' | 'μ' | 'm' | 'h' | 'd' | 'w' | 'y'
        )
}

/// Whether the input starts a number (a digit, or `.` followed by a digit).
pub(crate) fn starts_number(input: &str) -> bool {
    let mut chars = input.chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('.') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// A number or a duration, without skipping whitespace first.
pub(crate) fn number(input: &str) -> Res<'_, Static> {
    if !starts_number(input) {
        return backtrack(input);
    }
    let run_len = input
        .find(|c: char| !is_duration_char(c))
        .unwrap_or(input.len());
    let run = &input[..run_len];
    if run.contains(|c: char| !c.is_ascii_digit() && c != '.')
        && let Some(nanos) = prometheus_duration(run).or_else(|| go_duration(run))
    {
        return Ok((&input[run_len..], Static::Duration(nanos)));
    }
    let digits = |i| take_while(|c: char| c.is_ascii_digit()).parse(i);
    let exponent = recognize((
        one_of("eE"),
        opt(one_of("+-")),
        take_while1(|c: char| c.is_ascii_digit()),
    ));
    let (rest, text) =
        recognize((digits, opt(pair(char('.'), digits)), opt(exponent))).parse(input)?;
    if text.contains(['.', 'e', 'E']) {
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok((rest, Static::Float(value))),
            _ => fail("float literal out of range", input),
        }
    } else {
        match text.parse::<i64>() {
            Ok(value) => Ok((rest, Static::Int(value))),
            Err(_) => fail("integer literal out of range", input),
        }
    }
}

/// An integer without sign (topk, compare arguments), after the caller skipped whitespace.
pub(crate) fn integer(input: &str) -> Res<'_, i64> {
    match number(input)? {
        (rest, Static::Int(value)) => Ok((rest, value)),
        _ => fail("expected an integer", input),
    }
}

/// Prometheus durations: integer amounts, units `y w d h m s ms` in descending order.
fn prometheus_duration(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", NANOS_PER_YEAR),
        ("w", NANOS_PER_WEEK),
        ("d", NANOS_PER_DAY),
        ("h", NANOS_PER_HOUR),
        ("ms", NANOS_PER_MILLI),
        ("m", NANOS_PER_MINUTE),
        ("s", NANOS_PER_SECOND),
    ];
    // rank in descending order of size; "ms" is smaller than "s"
    let rank = |unit: &str| match unit {
        "y" => 0,
        "w" => 1,
        "d" => 2,
        "h" => 3,
        "m" => 4,
        "s" => 5,
        _ => 6,
    };
    let mut rest = text;
    let mut total: i64 = 0;
    let mut last_rank = -1;
    while !rest.is_empty() {
        let digits_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_len == 0 {
            return None;
        }
        let amount: i64 = rest[..digits_len].parse().ok()?;
        rest = &rest[digits_len..];
        let (unit, size) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit))?;
        if rank(unit) <= last_rank {
            return None;
        }
        last_rank = rank(unit);
        rest = &rest[unit.len()..];
        total = total.checked_add(amount.checked_mul(*size)?)?;
    }
    Some(total)
}

/// Go durations (`time.ParseDuration` without sign): `1.5h`, `500us`, `1ms500us`.
fn go_duration(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 8] = [
        ("ns", 1),
        ("us", NANOS_PER_MICRO),
        ("µs", NANOS_PER_MICRO),
        ("μs", NANOS_PER_MICRO),
        ("ms", NANOS_PER_MILLI),
        ("s", NANOS_PER_SECOND),
        ("m", NANOS_PER_MINUTE),
        ("h", NANOS_PER_HOUR),
    ];
    if text == "0" {
        return Some(0);
    }
    let mut rest = text;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let size = UNITS.iter().find(|(name, _)| *name == unit)?.1;
        let whole: i64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(size)?;
        if !frac_part.is_empty() {
            // like Go: at most 18 significant fraction digits, scaled in floating point
            let kept = &frac_part[..frac_part.len().min(18)];
            let fraction: i64 = kept.parse().ok()?;
            let scale = 10f64.powi(i32::try_from(kept.len()).ok()?);
            let extra = (fraction as f64 * (size as f64 / scale)) as i64;
            value = value.checked_add(extra)?;
        }
        total = total.checked_add(value)?;
    }
    Some(total)
}

/// A double-quoted (Go escapes) or back-quoted (raw) string, without skipping whitespace.
pub(crate) fn string(input: &str) -> Res<'_, String> {
    if let Some(body) = input.strip_prefix('`') {
        return match body.find('`') {
            Some(end) => Ok((&body[end + 1..], body[..end].replace('\r', ""))),
            None => fail("string literal not terminated", input),
        };
    }
    let Some(body) = input.strip_prefix('"') else {
        return backtrack(input);
    };
    let mut bytes: Vec<u8> = Vec::with_capacity(body.len().min(64));
    let mut chars = body.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => {
                let rest = &body[index + 1..];
                return match String::from_utf8(bytes) {
                    Ok(value) => Ok((rest, value)),
                    Err(_) => fail("string literal is not valid utf-8", input),
                };
            }
            '\n' => break,
            '\\' => {
                let escape_at = &body[index..];
                let Some((_, escape)) = chars.next() else {
                    break;
                };
                let simple = match escape {
                    'a' => Some(0x07),
                    'b' => Some(0x08),
                    'f' => Some(0x0c),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(0x0b),
                    '\\' => Some(b'\\'),
                    '"' => Some(b'"'),
                    _ => None,
                };
                if let Some(byte) = simple {
                    bytes.push(byte);
                    continue;
                }
                let (digits, radix, is_byte) = match escape {
                    'x' => (2, 16, true),
                    'u' => (4, 16, false),
                    'U' => (8, 16, false),
                    '0'..='7' => (2, 8, true),
                    _ => return fail("invalid escape sequence in string literal", escape_at),
                };
                let mut value: u32 = if radix == 8 {
                    escape.to_digit(8).unwrap_or(0)
                } else {
                    0
                };
                for _ in 0..digits {
                    match chars.next().and_then(|(_, d)| d.to_digit(radix)) {
                        Some(digit) => value = value * radix + digit,
                        None => {
                            return fail("invalid escape sequence in string literal", escape_at);
                        }
                    }
                }
                if is_byte {
                    match u8::try_from(value) {
                        Ok(byte) => bytes.push(byte),
                        Err(_) => {
                            return fail("invalid escape sequence in string literal", escape_at);
                        }
                    }
                } else {
                    match char::from_u32(value) {
                        Some(decoded) => {
                            let mut buffer = [0u8; 4];
                            bytes.extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
                        }
                        None => {
                            return fail("invalid escape sequence in string literal", escape_at);
                        }
                    }
                }
            }
            other => {
                let mut buffer = [0u8; 4];
                bytes.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    fail("string literal not terminated", input)
}

/// The keyword literals (`true`, `ok`, `client`, `minInt`, ...); `nil` is handled by callers.
pub(crate) fn keyword_static(name: &str) -> Option<Static> {
    Some(match name {
        "true" => Static::Bool(true),
        "false" => Static::Bool(false),
        "ok" => Static::Status(Status::Ok),
        "error" => Static::Status(Status::Error),
        "unset" => Static::Status(Status::Unset),
        "unspecified" => Static::Kind(SpanKind::Unspecified),
        "internal" => Static::Kind(SpanKind::Internal),
        "server" => Static::Kind(SpanKind::Server),
        "client" => Static::Kind(SpanKind::Client),
        "producer" => Static::Kind(SpanKind::Producer),
        "consumer" => Static::Kind(SpanKind::Consumer),
        "minInt" => Static::Int(i64::MIN),
        "maxInt" => Static::Int(i64::MAX),
        _ => return None,
    })
}

/// A static for hint values: string, number, duration or keyword literal (no `nil`, no sign).
pub(crate) fn hint_static(input: &str) -> Res<'_, Static> {
    if input.starts_with(['"', '`']) {
        return string(input).map(|(rest, value)| (rest, Static::String(value)));
    }
    if starts_number(input) {
        return number(input);
    }
    match crate::parse::lexer::raw_ident(input) {
        Ok((rest, name)) => match keyword_static(name) {
            Some(value) => Ok((rest, value)),
            None => fail("expected a literal value", input),
        },
        Err(_) => fail("expected a literal value", input),
    }
}
