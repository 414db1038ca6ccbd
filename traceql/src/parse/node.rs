//! The untyped outer tree that the outer grammar (`outer.rs`) produces, because the meaning of
//! `>`, `&&` or `(` depends on the operands; `lower/` checks the shapes Tempo's grammar allows
//! and builds the typed AST. Also the operator meanings and the position-carrying error type
//! that lowering uses.

use crate::ast::{
    Aggregate, ArithOp, Attribute, CmpOp, FieldExpr, MetricsFunction, SpansetOp, Static,
};
use crate::parse::internal::ParseError;
use crate::parse::lexer::OuterOp;

/// A node of the untyped outer tree; `at` is the position (bytes left) where it starts.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) at: usize,
    pub(crate) kind: NodeKind,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Filter(FieldExpr),
    Paren(Box<Node>),
    Aggregate(Aggregate),
    GroupBy(FieldExpr),
    Select(Vec<Attribute>),
    Coalesce,
    Metrics(MetricsFunction),
    TopK(i64),
    BottomK(i64),
    /// An int, float or duration literal.
    Number(Static),
    Neg(Box<Node>),
    Binary {
        op: OuterOp,
        op_at: usize,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
}

/// The result of converting the outer tree; errors carry the node's position.
pub(crate) type Converted<T> = Result<T, ParseError>;

/// A conversion error at `node`.
pub(crate) fn error_at<T>(
    node: &Node,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Converted<T> {
    Err(ParseError::at_remaining(message, node.at))
}

/// `[a, b, c]` for `a | b | c` (a left-deep chain of pipes), else `[node]`.
pub(crate) fn flatten_pipe(node: Node) -> Vec<Node> {
    let mut items = Vec::new();
    let mut current = node;
    loop {
        match current.kind {
            NodeKind::Binary {
                op: OuterOp::Pipe,
                lhs,
                rhs,
                ..
            } => {
                items.push(*rhs);
                current = *lhs;
            }
            kind => {
                items.push(Node {
                    at: current.at,
                    kind,
                });
                break;
            }
        }
    }
    items.reverse();
    items
}

/// Whether the node is a `|` chain (checked without taking it apart).
pub(crate) fn is_pipe(node: &Node) -> bool {
    matches!(
        node.kind,
        NodeKind::Binary {
            op: OuterOp::Pipe,
            ..
        }
    )
}

/// The last item of a `|` chain (or the node itself).
pub(crate) fn last_pipe_item(node: &Node) -> &Node {
    match &node.kind {
        NodeKind::Binary {
            op: OuterOp::Pipe,
            rhs,
            ..
        } => rhs,
        _ => node,
    }
}

/// The spanset operator an outer operator means between spansets, if any.
pub(crate) fn spanset_op(op: OuterOp) -> Option<SpansetOp> {
    Some(match op {
        OuterOp::And => SpansetOp::And,
        OuterOp::Or => SpansetOp::Union,
        OuterOp::Gt => SpansetOp::Child,
        OuterOp::Lt => SpansetOp::Parent,
        OuterOp::Descendant => SpansetOp::Descendant,
        OuterOp::Ancestor => SpansetOp::Ancestor,
        OuterOp::Sibling => SpansetOp::Sibling,
        OuterOp::NotChild => SpansetOp::NotChild,
        OuterOp::NotParent => SpansetOp::NotParent,
        OuterOp::NotDescendant => SpansetOp::NotDescendant,
        OuterOp::NotAncestor => SpansetOp::NotAncestor,
        OuterOp::NotSibling => SpansetOp::NotSibling,
        OuterOp::UnionChild => SpansetOp::UnionChild,
        OuterOp::UnionParent => SpansetOp::UnionParent,
        OuterOp::UnionDescendant => SpansetOp::UnionDescendant,
        OuterOp::UnionAncestor => SpansetOp::UnionAncestor,
        OuterOp::UnionSibling => SpansetOp::UnionSibling,
        _ => return None,
    })
}

/// The comparison an outer operator means between numbers, if any.
pub(crate) fn cmp_op(op: OuterOp) -> Option<CmpOp> {
    Some(match op {
        OuterOp::Eq => CmpOp::Eq,
        OuterOp::Ne => CmpOp::Ne,
        OuterOp::Lt => CmpOp::Lt,
        OuterOp::Le => CmpOp::Le,
        OuterOp::Gt => CmpOp::Gt,
        OuterOp::Ge => CmpOp::Ge,
        _ => return None,
    })
}

/// The arithmetic an outer operator means, if any.
pub(crate) fn arith_op(op: OuterOp) -> Option<ArithOp> {
    Some(match op {
        OuterOp::Add => ArithOp::Add,
        OuterOp::Sub => ArithOp::Sub,
        OuterOp::Mul => ArithOp::Mul,
        OuterOp::Div => ArithOp::Div,
        OuterOp::Mod => ArithOp::Mod,
        OuterOp::Pow => ArithOp::Pow,
        _ => return None,
    })
}
