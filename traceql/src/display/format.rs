//! Low-level writers and precedence levels shared by the `Display` impls of `display` and
//! `display::query` (a leaf, so neither imports its parent).

use std::fmt::{self, Display, Formatter, Write};

/// Precedence of atoms (never parenthesised).
pub(super) const ATOM: u8 = 10;
/// Precedence of prefix `-` on a constant.
pub(super) const CONSTANT_NEG: u8 = 8;
/// Precedence of prefix `-` / `!` in field expressions (the level they bind at).
pub(super) const FIELD_NEG: u8 = 4;
pub(super) const FIELD_NOT: u8 = 5;

pub(super) fn write_operand(
    f: &mut Formatter<'_>,
    operand: &dyn Display,
    parenthesise: bool,
) -> fmt::Result {
    if parenthesise {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
}

/// Writes `lhs op rhs`, parenthesising operands by precedence (`right_assoc` for `^`).
pub(super) fn write_binary(
    f: &mut Formatter<'_>,
    (lhs, lhs_precedence): (&dyn Display, u8),
    symbol: &str,
    (rhs, rhs_precedence): (&dyn Display, u8),
    precedence: u8,
    right_assoc: bool,
) -> fmt::Result {
    let (lhs_parens, rhs_parens) = if right_assoc {
        (lhs_precedence <= precedence, rhs_precedence < precedence)
    } else {
        (lhs_precedence < precedence, rhs_precedence <= precedence)
    };
    write_operand(f, lhs, lhs_parens)?;
    write!(f, " {symbol} ")?;
    write_operand(f, rhs, rhs_parens)
}

/// Formats a duration so that it lexes back to the same number of nanoseconds.
pub(super) fn write_duration(f: &mut Formatter<'_>, nanos: i64) -> fmt::Result {
    if nanos == 0 {
        return f.write_str("0s");
    }
    let mut remaining = nanos.unsigned_abs();
    if nanos < 0 {
        f.write_char('-')?;
    }
    const UNITS: [(&str, u64); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    for (unit, size) in UNITS {
        let amount = remaining / size;
        if amount > 0 {
            write!(f, "{amount}{unit}")?;
            remaining %= size;
        }
    }
    Ok(())
}

pub(super) fn write_float(f: &mut Formatter<'_>, value: f64) -> fmt::Result {
    // Debug gives the shortest text that reads back to the same value, with a '.' or an
    // exponent, so it lexes as a float again.
    write!(f, "{value:?}")
}

/// Writes a string literal: back-quoted when possible, else double-quoted with Go escapes.
pub(crate) fn write_string(f: &mut Formatter<'_>, value: &str) -> fmt::Result {
    if !value.contains(|c: char| c == '`' || c.is_control()) {
        return write!(f, "`{value}`");
    }
    f.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() && (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}
