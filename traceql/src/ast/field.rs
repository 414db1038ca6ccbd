//! Field expressions: what sits inside `{ }`, aggregate arguments and `by()`.

/// A literal value ("static" in Tempo's terms).
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    /// `nil`: only ever a direct operand of `=` or `!=`.
    Nil,
    Bool(bool),
    /// A 64-bit integer; `minInt` is `Int(i64::MIN)`, `maxInt` is `Int(i64::MAX)`.
    Int(i64),
    Float(f64),
    String(String),
    /// A duration in nanoseconds (never negative as a literal).
    Duration(i64),
    Status(Status),
    Kind(SpanKind),
}

/// Span status literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    Error,
    Unset,
}

/// Span kind literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// Where a custom attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeScope {
    /// `.x`: span, then resource, event, link, instrumentation.
    Unscoped,
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
    /// `parent.x` (parses, validation reports unsupported).
    Parent,
    /// `parent.span.x`
    ParentSpan,
    /// `parent.resource.x`
    ParentResource,
}

/// Intrinsics, bare (`duration`) or scoped (`span:duration`); scoped forms that have a legacy
/// bare name fold to the same variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    /// `duration`, `span:duration`
    Duration,
    /// `name`, `span:name`
    Name,
    /// `status`, `span:status`
    Status,
    /// `statusMessage`, `span:statusMessage`
    StatusMessage,
    /// `kind`, `span:kind`
    Kind,
    /// `parent` (parses, validation reports unsupported)
    Parent,
    NestedSetLeft,
    NestedSetRight,
    NestedSetParent,
    /// `traceDuration`, `trace:duration`
    TraceDuration,
    /// `rootName`, `trace:rootName`
    TraceRootName,
    /// `rootServiceName`, `trace:rootService`
    TraceRootService,
    /// `trace:id`
    TraceId,
    /// `span:id`
    SpanId,
    /// `span:parentID`
    SpanParentId,
    /// `span:childCount`
    SpanChildCount,
    /// `event:name`
    EventName,
    /// `event:timeSinceStart`
    EventTimeSinceStart,
    /// `link:traceID`
    LinkTraceId,
    /// `link:spanID`
    LinkSpanId,
    /// `instrumentation:name`
    InstrumentationName,
    /// `instrumentation:version`
    InstrumentationVersion,
}

/// A reference to a value of the span: an intrinsic or a custom attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    Intrinsic(Intrinsic),
    Custom { scope: AttributeScope, name: String },
}

/// Binary operators of field expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Regex,
    NotRegex,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

/// Prefix operators of field expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `!`
    Not,
}

/// An expression evaluated per span.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    Static(Static),
    Attribute(Attribute),
    Unary {
        op: UnaryOp,
        operand: Box<FieldExpr>,
    },
    Binary {
        op: FieldOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
    },
}

impl FieldOp {
    /// Binding strength (higher binds tighter), following Tempo's precedence table.
    pub fn precedence(self) -> u8 {
        match self {
            FieldOp::And | FieldOp::Or => 2,
            FieldOp::Eq
            | FieldOp::Ne
            | FieldOp::Lt
            | FieldOp::Le
            | FieldOp::Gt
            | FieldOp::Ge
            | FieldOp::Regex
            | FieldOp::NotRegex => 3,
            FieldOp::Add | FieldOp::Sub => 4,
            FieldOp::Mul | FieldOp::Div | FieldOp::Mod => 6,
            FieldOp::Pow => 7,
        }
    }

    /// The operator as written in a query.
    pub fn symbol(self) -> &'static str {
        match self {
            FieldOp::And => "&&",
            FieldOp::Or => "||",
            FieldOp::Eq => "=",
            FieldOp::Ne => "!=",
            FieldOp::Lt => "<",
            FieldOp::Le => "<=",
            FieldOp::Gt => ">",
            FieldOp::Ge => ">=",
            FieldOp::Regex => "=~",
            FieldOp::NotRegex => "!~",
            FieldOp::Add => "+",
            FieldOp::Sub => "-",
            FieldOp::Mul => "*",
            FieldOp::Div => "/",
            FieldOp::Mod => "%",
            FieldOp::Pow => "^",
        }
    }

    /// `true` for `=`, `!=`, `<`, `<=`, `>`, `>=`, `=~` and `!~`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `true` for `+ - * / % ^`.
    pub fn is_arithmetic(self) -> bool {
        self.precedence() >= 4
    }
}

impl FieldExpr {
    /// `true` when the expression reads a value of the span (an attribute or an intrinsic).
    pub fn references_span(&self) -> bool {
        match self {
            FieldExpr::Static(_) => false,
            FieldExpr::Attribute(_) => true,
            FieldExpr::Unary { operand, .. } => operand.references_span(),
            FieldExpr::Binary { lhs, rhs, .. } => lhs.references_span() || rhs.references_span(),
        }
    }
}
