//! Token-level helpers: identifiers (Go rules) and the operator tokens of the two contexts
//! (field expressions inside `{ }` and the outer language between spansets, aggregates and
//! metrics). Operators are matched longest first.

use nom::Parser;
use nom::bytes::complete::{take_while, take_while1};
use nom::combinator::recognize;
use nom::sequence::pair;

use crate::ast::FieldOp;
use crate::parse::internal::{Res, backtrack, sp};

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A Go identifier, without skipping whitespace first.
pub(crate) fn raw_ident(input: &str) -> Res<'_, &str> {
    recognize(pair(
        take_while1(is_ident_start),
        take_while(is_ident_continue),
    ))
    .parse(input)
}

/// A Go identifier after optional whitespace.
pub(crate) fn ident(input: &str) -> Res<'_, &str> {
    let (input, ()) = sp(input)?;
    raw_ident(input)
}

/// The keyword `word` (a whole identifier) after optional whitespace.
pub(crate) fn keyword<'a>(word: &'static str) -> impl FnMut(&'a str) -> Res<'a, ()> {
    move |input: &'a str| {
        let (rest, name) = ident(input)?;
        if name == word {
            Ok((rest, ()))
        } else {
            backtrack(input)
        }
    }
}

/// Whether the next token is the identifier `word`.
pub(crate) fn peek_keyword(input: &str, word: &str) -> bool {
    matches!(ident(input), Ok((_, name)) if name == word)
}

/// A binary operator of field expressions, without skipping whitespace first.
pub(crate) fn field_op(input: &str) -> Option<(FieldOp, &str)> {
    const OPS: [(&str, FieldOp); 16] = [
        ("&&", FieldOp::And),
        ("||", FieldOp::Or),
        ("=~", FieldOp::Regex),
        ("!=", FieldOp::Ne),
        ("!~", FieldOp::NotRegex),
        ("<=", FieldOp::Le),
        (">=", FieldOp::Ge),
        ("=", FieldOp::Eq),
        ("<", FieldOp::Lt),
        (">", FieldOp::Gt),
        ("+", FieldOp::Add),
        ("-", FieldOp::Sub),
        ("*", FieldOp::Mul),
        ("/", FieldOp::Div),
        ("%", FieldOp::Mod),
        ("^", FieldOp::Pow),
    ];
    OPS.iter()
        .find_map(|(symbol, op)| input.strip_prefix(symbol).map(|rest| (*op, rest)))
}

/// Operators of the outer language. `>`/`<` are comparisons or child/parent depending on
/// their operands, which the conversion to the typed AST decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OuterOp {
    Pipe,
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Descendant,
    Ancestor,
    Sibling,
    NotChild,
    NotParent,
    NotDescendant,
    NotAncestor,
    NotSibling,
    UnionChild,
    UnionParent,
    UnionDescendant,
    UnionAncestor,
    UnionSibling,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl OuterOp {
    pub(crate) fn precedence(self) -> u8 {
        match self {
            OuterOp::Pipe => 1,
            OuterOp::And | OuterOp::Or => 2,
            OuterOp::Add | OuterOp::Sub => 4,
            OuterOp::Mul | OuterOp::Div | OuterOp::Mod => 6,
            OuterOp::Pow => 7,
            _ => 3,
        }
    }

    pub(crate) fn symbol(self) -> &'static str {
        OUTER_OPS
            .iter()
            .find_map(|(symbol, op)| (*op == self).then_some(*symbol))
            .unwrap_or("?")
    }
}

const OUTER_OPS: [(&str, OuterOp); 28] = [
    ("!>>", OuterOp::NotDescendant),
    ("!<<", OuterOp::NotAncestor),
    ("&>>", OuterOp::UnionDescendant),
    ("&<<", OuterOp::UnionAncestor),
    ("&&", OuterOp::And),
    ("||", OuterOp::Or),
    (">>", OuterOp::Descendant),
    ("<<", OuterOp::Ancestor),
    ("!>", OuterOp::NotChild),
    ("!<", OuterOp::NotParent),
    ("!~", OuterOp::NotSibling),
    ("&>", OuterOp::UnionChild),
    ("&<", OuterOp::UnionParent),
    ("&~", OuterOp::UnionSibling),
    (">=", OuterOp::Ge),
    ("<=", OuterOp::Le),
    ("!=", OuterOp::Ne),
    ("=", OuterOp::Eq),
    (">", OuterOp::Gt),
    ("<", OuterOp::Lt),
    ("~", OuterOp::Sibling),
    ("|", OuterOp::Pipe),
    ("+", OuterOp::Add),
    ("-", OuterOp::Sub),
    ("*", OuterOp::Mul),
    ("/", OuterOp::Div),
    ("%", OuterOp::Mod),
    ("^", OuterOp::Pow),
];

/// An operator of the outer language, without skipping whitespace first.
pub(crate) fn outer_op(input: &str) -> Option<(OuterOp, &str)> {
    OUTER_OPS
        .iter()
        .find_map(|(symbol, op)| input.strip_prefix(symbol).map(|rest| (*op, rest)))
}
