//! The collectors both halves of the tag scan fill ([`TagNames`], [`TagValues`]), the data
//! scopes, what a tag-values request reads ([`ValueTarget`]) and tag-name parsing.

use std::collections::BTreeSet;

use contrail_proto::otlp::common::v1::{AnyValue, any_value};
use contrail_proto::tempopb::{SearchTagValuesV2Response, SearchTagsV2Response, SearchTagsV2Scope};

use crate::ast::Intrinsic;
use crate::ast::{Attribute, AttributeScope, Body, FieldExpr, FieldOp, SpansetExpr, Stage, Static};
use crate::error::{Error, Result};

/// A scope whose attribute names come from data (the `intrinsic` scope is a static list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataScope {
    Resource,
    Span,
    Event,
    Link,
    Instrumentation,
}

impl DataScope {
    /// Every data scope, in response order.
    pub const ALL: [DataScope; 5] = [
        DataScope::Resource,
        DataScope::Span,
        DataScope::Event,
        DataScope::Link,
        DataScope::Instrumentation,
    ];

    /// The scope's name in responses and in the `scope` parameter.
    pub fn name(self) -> &'static str {
        match self {
            DataScope::Resource => "resource",
            DataScope::Span => "span",
            DataScope::Event => "event",
            DataScope::Link => "link",
            DataScope::Instrumentation => "instrumentation",
        }
    }

    /// The scope named `name` (`None` for `intrinsic`, `none`, empty and unknown names).
    pub fn from_name(name: &str) -> Option<Self> {
        DataScope::ALL
            .into_iter()
            .find(|scope| scope.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts values seen again in a row, for `maxStaleValues` (0 = never stop).
#[derive(Debug, Clone, Copy, Default)]
struct Staleness {
    threshold: usize,
    in_a_row: usize,
}

impl Staleness {
    fn note(&mut self, new: bool) {
        if new {
            self.in_a_row = 0;
        } else {
            self.in_a_row = self.in_a_row.saturating_add(1);
        }
    }

    fn reached(&self) -> bool {
        self.threshold > 0 && self.in_a_row >= self.threshold
    }
}

/// Inserts into a set kept at the `limit` smallest entries (0 = unlimited); whether the entry
/// was new.
fn insert_bounded<T: Ord + Clone>(set: &mut BTreeSet<T>, limit: usize, entry: &T) -> bool {
    if set.contains(entry) {
        return false;
    }
    if limit > 0 && set.len() >= limit {
        match set.last() {
            Some(last) if entry < last => {
                set.pop_last();
            }
            _ => return false,
        }
    }
    set.insert(entry.clone());
    true
}

/// Attribute names by data scope; see the module docs.
#[derive(Debug, Clone)]
pub struct TagNames {
    wanted: [bool; 5],
    names: [BTreeSet<String>; 5],
    limit_per_scope: usize,
    staleness: Staleness,
}

impl TagNames {
    /// A collector of the names of `scopes`, at most `limit_per_scope` per scope (0 =
    /// unlimited), done after `max_stale_values` names in a row were already known (0 = never).
    pub fn new(scopes: &[DataScope], limit_per_scope: u32, max_stale_values: u32) -> Self {
        let mut wanted = [false; 5];
        for scope in scopes {
            wanted[scope.index()] = true;
        }
        TagNames {
            wanted,
            names: Default::default(),
            limit_per_scope: limit_per_scope as usize,
            staleness: Staleness {
                threshold: max_stale_values as usize,
                in_a_row: 0,
            },
        }
    }

    /// Whether names of `scope` are collected.
    pub fn wants(&self, scope: DataScope) -> bool {
        self.wanted[scope.index()]
    }

    /// Adds `name` seen in `scope` (ignored when the scope is not wanted).
    pub fn insert(&mut self, scope: DataScope, name: &str) {
        if !self.wants(scope) || name.is_empty() {
            return;
        }
        let set = &mut self.names[scope.index()];
        let new = if set.contains(name) {
            false
        } else {
            insert_bounded(set, self.limit_per_scope, &name.to_owned())
        };
        self.staleness.note(new);
    }

    /// Whether the scan can stop (`maxStaleValues` reached).
    pub fn is_done(&self) -> bool {
        self.staleness.reached()
    }

    /// The names of `scope`, sorted.
    pub fn names(&self, scope: DataScope) -> &BTreeSet<String> {
        &self.names[scope.index()]
    }

    /// Adds everything `other` collected.
    pub fn merge(&mut self, other: TagNames) {
        for scope in DataScope::ALL {
            for name in &other.names[scope.index()] {
                self.insert(scope, name);
            }
        }
    }

    /// The response: one entry per wanted scope that has names (no `intrinsic` scope: the
    /// frontend adds the static list).
    pub fn into_response(self) -> SearchTagsV2Response {
        let TagNames { wanted, names, .. } = self;
        let scopes = DataScope::ALL
            .into_iter()
            .zip(names)
            .filter(|(scope, names)| wanted[scope.index()] && !names.is_empty())
            .map(|(scope, names)| SearchTagsV2Scope {
                name: scope.name().to_owned(),
                tags: names.into_iter().collect(),
            })
            .collect();
        SearchTagsV2Response {
            scopes,
            metrics: None,
        }
    }
}

/// Typed values of one attribute; see the module docs.
#[derive(Debug, Clone)]
pub struct TagValues {
    values: BTreeSet<(String, String)>,
    limit: usize,
    staleness: Staleness,
}

/// Tempo's type names of tag values.
pub mod value_type {
    pub const STRING: &str = "string";
    pub const INT: &str = "int";
    pub const FLOAT: &str = "float";
    pub const BOOL: &str = "bool";
}

impl TagValues {
    /// A collector of at most `limit` values (0 = unlimited), done after `max_stale_values`
    /// values in a row were already known (0 = never).
    pub fn new(limit: u32, max_stale_values: u32) -> Self {
        TagValues {
            values: BTreeSet::new(),
            limit: limit as usize,
            staleness: Staleness {
                threshold: max_stale_values as usize,
                in_a_row: 0,
            },
        }
    }

    /// Adds a value of type `value_type` (see [`value_type`]); empty values are skipped.
    pub fn insert(&mut self, value_type: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        let entry = (value_type.to_owned(), value.to_owned());
        let new = insert_bounded(&mut self.values, self.limit, &entry);
        self.staleness.note(new);
    }

    /// Adds a string value.
    pub fn insert_string(&mut self, value: &str) {
        self.insert(value_type::STRING, value);
    }

    /// Adds an int value.
    pub fn insert_int(&mut self, value: i64) {
        self.insert(value_type::INT, &value.to_string());
    }

    /// Adds an OTLP attribute value: strings, ints, doubles and bools (arrays, maps and bytes
    /// have no tag value).
    pub fn insert_any(&mut self, value: Option<&AnyValue>) {
        match value.and_then(|value| value.value.as_ref()) {
            Some(any_value::Value::StringValue(text)) => self.insert_string(text),
            Some(any_value::Value::IntValue(number)) => self.insert_int(*number),
            Some(any_value::Value::DoubleValue(number)) => {
                self.insert(value_type::FLOAT, &number.to_string())
            }
            Some(any_value::Value::BoolValue(flag)) => {
                self.insert(value_type::BOOL, if *flag { "true" } else { "false" })
            }
            _ => {}
        }
    }

    /// Whether the scan can stop (`maxStaleValues` reached).
    pub fn is_done(&self) -> bool {
        self.staleness.reached()
    }

    /// The values as `(type, value)`, sorted.
    pub fn values(&self) -> &BTreeSet<(String, String)> {
        &self.values
    }

    /// Adds everything `other` collected.
    pub fn merge(&mut self, other: TagValues) {
        for (value_type, value) in &other.values {
            self.insert(value_type, value);
        }
    }

    /// The response (sorted by type, then value).
    pub fn into_response(self) -> SearchTagValuesV2Response {
        SearchTagValuesV2Response {
            tag_values: self
                .values
                .into_iter()
                .map(|(r#type, value)| contrail_proto::tempopb::TagValue { r#type, value })
                .collect(),
            metrics: None,
        }
    }
}

/// An intrinsic whose values come from data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntrinsicValues {
    /// `name`, `span:name`.
    SpanName,
    /// `statusMessage`, `span:statusMessage`.
    StatusMessage,
    /// `rootName`, `trace:rootName`.
    RootName,
    /// `rootServiceName`, `trace:rootService`.
    RootService,
    /// `event:name`.
    EventName,
    /// `instrumentation:name`.
    InstrumentationName,
    /// `instrumentation:version`.
    InstrumentationVersion,
}

/// Where the values of one tag-values request are read: the attribute key in each data scope,
/// or an intrinsic. Empty (nothing to read) for intrinsics without data values (IDs, nested-set
/// numbers) and parent scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueTarget {
    pub span: Option<String>,
    pub resource: Option<String>,
    pub event: Option<String>,
    pub link: Option<String>,
    pub instrumentation: Option<String>,
    pub intrinsic: Option<IntrinsicValues>,
}

impl ValueTarget {
    /// What `attribute` reads: an unscoped `.x` reads span and resource attributes (Tempo's
    /// rule for tag values).
    pub fn of(attribute: &Attribute) -> Self {
        let mut target = ValueTarget::default();
        match attribute {
            Attribute::Custom { scope, name } => {
                let name = Some(name.clone());
                match scope {
                    AttributeScope::Unscoped => {
                        target.span = name.clone();
                        target.resource = name;
                    }
                    AttributeScope::Span => target.span = name,
                    AttributeScope::Resource => target.resource = name,
                    AttributeScope::Event => target.event = name,
                    AttributeScope::Link => target.link = name,
                    AttributeScope::Instrumentation => target.instrumentation = name,
                    AttributeScope::Parent
                    | AttributeScope::ParentSpan
                    | AttributeScope::ParentResource => {}
                }
            }
            Attribute::Intrinsic(intrinsic) => {
                target.intrinsic = match intrinsic {
                    Intrinsic::Name => Some(IntrinsicValues::SpanName),
                    Intrinsic::StatusMessage => Some(IntrinsicValues::StatusMessage),
                    Intrinsic::TraceRootName => Some(IntrinsicValues::RootName),
                    Intrinsic::TraceRootService => Some(IntrinsicValues::RootService),
                    Intrinsic::EventName => Some(IntrinsicValues::EventName),
                    Intrinsic::InstrumentationName => Some(IntrinsicValues::InstrumentationName),
                    Intrinsic::InstrumentationVersion => {
                        Some(IntrinsicValues::InstrumentationVersion)
                    }
                    _ => None,
                };
            }
        }
        target
    }

    /// Whether nothing is read.
    pub fn is_empty(&self) -> bool {
        *self == ValueTarget::default()
    }
}

/// The `{scopedTag}` of a tag-values request as one TraceQL attribute
/// (`resource.service.name`, `.http.method`, `name`, `event.exception.type`, ...).
pub fn parse_tag_name(tag: &str) -> Result<Attribute> {
    if tag.is_empty() {
        return Err(Error::validate("please provide a non-empty tagName"));
    }
    let invalid =
        |reason: &str| Error::validate(format!("please provide a valid tagName: {reason}"));
    let root =
        crate::parse(&format!("{{ {tag} != nil }}")).map_err(|error| invalid(&error.message()))?;
    let Body::Pipeline(pipeline) = root.body else {
        return Err(invalid("not an attribute"));
    };
    if !root.hints.is_empty() || pipeline.stages.len() != 1 {
        return Err(invalid("not an attribute"));
    }
    match pipeline.stages.into_iter().next() {
        Some(Stage::Spanset(SpansetExpr::Filter(FieldExpr::Binary { op, lhs, rhs })))
            if op == FieldOp::Ne && *rhs == FieldExpr::Static(Static::Nil) =>
        {
            match *lhs {
                FieldExpr::Attribute(attribute) => Ok(attribute),
                _ => Err(invalid("not an attribute")),
            }
        }
        _ => Err(invalid("not an attribute")),
    }
}
