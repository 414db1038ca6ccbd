//! The nom grammar, one file per area, in dependency order: `internal` (error type, `expect`
//! helpers, whitespace), `lexer` (identifiers, keywords, operators), `literal`, `ident`
//! (attributes and intrinsics), `expr` (field expressions), `node` (the untyped outer tree),
//! `calls` (filters, aggregates, pipeline operations, metrics functions), `outer` (precedence
//! climbing over the outer language) and `hints`. `lower/` turns the outer tree into the AST.

pub(crate) mod calls;
pub(crate) mod expr;
pub(crate) mod hints;
pub(crate) mod ident;
pub(crate) mod internal;
pub(crate) mod lexer;
pub(crate) mod literal;
pub(crate) mod node;
pub(crate) mod outer;
