//! Parser plumbing shared by every grammar file: the nom error type carrying a message and a
//! position, `expect` helpers that turn a failed parser into a committed error, whitespace and
//! comment skipping, and the nesting-depth guard.

use std::borrow::Cow;
use std::cell::Cell;

use nom::error::{ErrorKind, ParseError as NomParseError};
use nom::{IResult, Parser};

/// Parenthesis / prefix-operator nesting allowed before the parser gives up.
pub(crate) const MAX_NESTING: u32 = 128;
/// Depth of the resulting tree (long operator chains count too), so that validation, printing
/// and dropping never recurse too deep.
pub(crate) const MAX_TREE_DEPTH: usize = 1000;

/// A parse failure: a message and the position, stored as the number of bytes left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) message: Cow<'static, str>,
    pub(crate) remaining: usize,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<Cow<'static, str>>, at: &str) -> Self {
        ParseError {
            message: message.into(),
            remaining: at.len(),
        }
    }

    pub(crate) fn at_remaining(message: impl Into<Cow<'static, str>>, remaining: usize) -> Self {
        ParseError {
            message: message.into(),
            remaining,
        }
    }
}

impl<'a> NomParseError<&'a str> for ParseError {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        ParseError::new("unexpected input", input)
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }

    /// Of two failed alternatives, keep the one that got further.
    fn or(self, other: Self) -> Self {
        if other.remaining < self.remaining {
            other
        } else {
            self
        }
    }
}

pub(crate) type Res<'a, T> = IResult<&'a str, T, ParseError>;

/// A committed failure (no backtracking past it).
pub(crate) fn fail<T>(message: impl Into<Cow<'static, str>>, at: &str) -> Res<'_, T> {
    Err(nom::Err::Failure(ParseError::new(message, at)))
}

/// A recoverable failure (an alternative may still match).
pub(crate) fn backtrack<T>(at: &str) -> Res<'_, T> {
    Err(nom::Err::Error(ParseError::new("unexpected input", at)))
}

/// Runs `parser` after skipping whitespace; if it fails without committing, fails with
/// `message` at the position where it was expected.
pub(crate) fn expect<'a, O, P>(
    message: &'static str,
    mut parser: P,
) -> impl FnMut(&'a str) -> Res<'a, O>
where
    P: Parser<&'a str, Output = O, Error = ParseError>,
{
    move |input: &'a str| {
        let (input, ()) = sp(input)?;
        match parser.parse(input) {
            Err(nom::Err::Error(_)) => fail(message, input),
            other => other,
        }
    }
}

/// Skips whitespace and Go-style comments (`// ...` and `/* ... */`).
pub(crate) fn sp(mut input: &str) -> Res<'_, ()> {
    loop {
        input = input.trim_start_matches(|c: char| c.is_whitespace());
        if let Some(rest) = input.strip_prefix("//") {
            input = rest.find('\n').map_or("", |index| &rest[index..]);
        } else if let Some(rest) = input.strip_prefix("/*") {
            match rest.find("*/") {
                Some(index) => input = &rest[index + 2..],
                None => return fail("comment not terminated", input),
            }
        } else {
            return Ok((input, ()));
        }
    }
}

/// Matches the punctuation `symbol` after optional whitespace.
pub(crate) fn punct<'a>(symbol: &'static str) -> impl FnMut(&'a str) -> Res<'a, ()> {
    move |input: &'a str| {
        let (input, ()) = sp(input)?;
        match input.strip_prefix(symbol) {
            Some(rest) => Ok((rest, ())),
            None => backtrack(input),
        }
    }
}

/// Parsing state shared by the grammar files: the current nesting depth.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    nesting: Cell<u32>,
}

/// Decrements the nesting depth when dropped.
pub(crate) struct NestingGuard<'c> {
    ctx: &'c Ctx,
}

impl Drop for NestingGuard<'_> {
    fn drop(&mut self) {
        self.ctx
            .nesting
            .set(self.ctx.nesting.get().saturating_sub(1));
    }
}

impl Ctx {
    /// Enters one nesting level, failing with a clear error past [`MAX_NESTING`].
    pub(crate) fn enter(&self, at: &str) -> Result<NestingGuard<'_>, nom::Err<ParseError>> {
        let depth = self.nesting.get() + 1;
        if depth > MAX_NESTING {
            return Err(nom::Err::Failure(ParseError::new(
                format!("query is nested too deeply (more than {MAX_NESTING} levels)"),
                at,
            )));
        }
        self.nesting.set(depth);
        Ok(NestingGuard { ctx: self })
    }
}

/// Checks the depth of a tree being built.
pub(crate) fn check_tree_depth(depth: usize, at: &str) -> Result<(), nom::Err<ParseError>> {
    if depth > MAX_TREE_DEPTH {
        return Err(nom::Err::Failure(ParseError::new(
            format!("expression is too deep (more than {MAX_TREE_DEPTH} nested operators)"),
            at,
        )));
    }
    Ok(())
}
