//! The checker's types: what a value can be, when one type fits where another
//! is expected (structural, like TypeScript), and how branch types join.

use rustc_hash::FxHashMap as HashMap;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// The type of something already reported as wrong: fits everywhere, so
    /// one mistake is reported once.
    Unknown,
    /// The element type of `[]`: fits everywhere.
    Never,
    Null,
    Bool,
    Int,
    Float,
    String,
    Duration,
    Percent,
    /// The type of one string literal, e.g. `"high"` (widens to `string`).
    Lit(Arc<str>),
    /// A union of string literals, `"low" | "high"`.
    Enum(Arc<[String]>),
    List(Box<Ty>),
    Optional(Box<Ty>),
    /// `map<string, T>`.
    Map(Box<Ty>),
    Record(Arc<RecordTy>),
    /// A number or bool literal type: `3`, `0.5`, `true` (in unions: `1 | 2 | 3`).
    Const(Const),
    /// A union of other types (`Circle | Square`, `int | string`): a value
    /// of any member. Unions of string literals are [`Ty::Enum`]; with
    /// `null` among them, the union is optional instead.
    Union(Arc<[Ty]>),
    /// A declared type, by name; its body is in [`TypeTable`].
    Named(Arc<str>),
}

/// The value of a number or bool literal type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Const {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Const {
    /// The type its values belong to: `int`, `float` or `bool`.
    pub fn base(self) -> Ty {
        match self {
            Const::Int(_) => Ty::Int,
            Const::Float(_) => Ty::Float,
            Const::Bool(_) => Ty::Bool,
        }
    }

    /// The constant as JSON.
    pub fn json(self) -> serde_json::Value {
        match self {
            Const::Int(n) => n.into(),
            Const::Float(f) => {
                serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Const::Bool(b) => b.into(),
        }
    }
}

impl fmt::Display for Const {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Const::Int(n) => write!(f, "{n}"),
            Const::Float(x) => write!(f, "{x:?}"),
            Const::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordTy {
    pub fields: Vec<FieldTy>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldTy {
    pub name: String,
    pub ty: Ty,
    pub doc: Option<String>,
    /// The name a model sees in the schema and writes in its answer.
    pub alias: Option<String>,
}

impl RecordTy {
    pub fn field(&self, name: &str) -> Option<&FieldTy> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl Ty {
    pub fn record(fields: Vec<(&str, Ty)>) -> Ty {
        Ty::Record(Arc::new(RecordTy {
            fields: fields
                .into_iter()
                .map(|(n, ty)| FieldTy { name: n.to_string(), ty, doc: None, alias: None })
                .collect(),
        }))
    }

    pub fn optional(self) -> Ty {
        match self {
            Ty::Optional(_) | Ty::Unknown | Ty::Null => self,
            other => Ty::Optional(Box::new(other)),
        }
    }

    pub fn list(self) -> Ty {
        Ty::List(Box::new(self))
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Ty::Unknown)
    }
}

/// The roles of a [`builtin_types`] `Message`.
pub const MESSAGE_ROLES: [&str; 3] = ["system", "user", "assistant"];

/// Types every program has without declaring them (a program may declare
/// its own type of the same name instead): name, body, and its doc line.
pub fn builtin_types() -> [(&'static str, Ty, &'static str); 1] {
    let roles = Ty::Enum(Arc::from(MESSAGE_ROLES.iter().map(|r| r.to_string()).collect::<Vec<_>>()));
    [("Message", Ty::record(vec![("role", roles), ("content", Ty::String)]), "One message of a conversation.")]
}

/// The body of the builtin `Message` (whatever a program calls `Message`).
pub fn message_type() -> Ty {
    let [(_, body, _)] = builtin_types();
    body
}

/// Declared types by name.
#[derive(Clone, Default, Debug)]
pub struct TypeTable {
    pub bodies: HashMap<String, Ty>,
    /// The `///` comments of declared types, by name (JSON Schema descriptions).
    pub docs: HashMap<String, String>,
    /// String-literal members shown to models under another name
    /// (`"k1" as "Refund"`), by member: one name per member in a program.
    pub member_aliases: HashMap<String, String>,
    /// What string-literal members mean (their `///` comments), by member.
    pub member_docs: HashMap<String, String>,
}

impl TypeTable {
    /// The name a model sees for the literal member `member`.
    pub fn shown_member<'a>(&'a self, member: &'a str) -> &'a str {
        self.member_aliases.get(member).map_or(member, String::as_str)
    }
}

impl TypeTable {
    /// Follows names (and aliases of names) to a structural type.
    pub fn resolve<'a>(&'a self, ty: &'a Ty) -> &'a Ty {
        let mut current = ty;
        // Bounded: a cycle of aliases is reported when types are declared.
        for _ in 0..32 {
            match current {
                Ty::Named(name) => match self.bodies.get(&**name) {
                    Some(body) => current = body,
                    None => return &Ty::Unknown,
                },
                _ => return current,
            }
        }
        &Ty::Unknown
    }

    /// Whether a value of type `from` can be used where `to` is expected.
    pub fn fits(&self, from: &Ty, to: &Ty) -> bool {
        self.fits_in(from, to, &mut HashSet::new())
    }

    fn fits_in(&self, from: &Ty, to: &Ty, assumed: &mut HashSet<(String, String)>) -> bool {
        if let (Ty::Named(a), Ty::Named(b)) = (from, to) {
            if a == b {
                return true;
            }
            // Recursive types: assume the pair fits while checking it.
            if !assumed.insert((a.to_string(), b.to_string())) {
                return true;
            }
        }
        let from = self.resolve(from);
        let to = self.resolve(to);
        match (from, to) {
            (Ty::Unknown, _) | (_, Ty::Unknown) | (Ty::Never, _) => true,
            (Ty::Null, Ty::Optional(_)) => true,
            (Ty::Optional(a), Ty::Optional(b)) => self.fits_in(a, b, assumed),
            (a, Ty::Optional(b)) => self.fits_in(a, b, assumed),
            // A union fits where each of its members does; a value fits a union if it fits a member.
            (Ty::Union(members), to) => members.iter().all(|m| self.fits_in(m, to, assumed)),
            (from, Ty::Union(members)) => members.iter().any(|m| self.fits_in(from, m, assumed)),
            (Ty::Int, Ty::Float) => true,
            (Ty::Const(c), Ty::Const(d)) => c == d,
            (Ty::Const(Const::Int(_)), Ty::Int | Ty::Float) | (Ty::Const(Const::Float(_)), Ty::Float) => true,
            (Ty::Const(Const::Bool(_)), Ty::Bool) => true,
            (Ty::Lit(_) | Ty::Enum(_), Ty::String) => true,
            (Ty::Lit(s), Ty::Enum(members)) => members.iter().any(|m| **m == **s),
            (Ty::Lit(a), Ty::Lit(b)) => a == b,
            (Ty::Enum(a), Ty::Enum(b)) => a.iter().all(|m| b.contains(m)),
            (Ty::List(a), Ty::List(b)) => self.fits_in(a, b, assumed),
            (Ty::Map(a), Ty::Map(b)) => self.fits_in(a, b, assumed),
            // A record is a map with known keys: `{ a: 1.0 }` fits `map<string, float>`.
            (Ty::Record(r), Ty::Map(v)) => r.fields.iter().all(|f| self.fits_in(&f.ty, v, assumed)),
            (Ty::Record(a), Ty::Record(b)) => {
                b.fields.iter().all(|fb| match a.field(&fb.name) {
                    Some(fa) => self.fits_in(&fa.ty, &fb.ty, assumed),
                    None => matches!(self.resolve(&fb.ty), Ty::Optional(_) | Ty::Unknown),
                }) && a.fields.iter().all(|fa| b.field(&fa.name).is_some())
            }
            (a, b) => a == b,
        }
    }

    /// The type of a value that is either `a` or `b` (route branches, list
    /// elements), or `None` when they have nothing in common.
    pub fn join(&self, a: &Ty, b: &Ty) -> Option<Ty> {
        match (self.resolve(a), self.resolve(b)) {
            (Ty::Lit(x), Ty::Lit(y)) if x != y => {
                return Some(Ty::Enum(Arc::from(vec![x.to_string(), y.to_string()])));
            }
            (Ty::Lit(x), Ty::Enum(m)) | (Ty::Enum(m), Ty::Lit(x)) => {
                let mut members = m.to_vec();
                if !members.iter().any(|s| **s == **x) {
                    members.push(x.to_string());
                }
                return Some(Ty::Enum(Arc::from(members)));
            }
            (Ty::Enum(x), Ty::Enum(y)) => {
                let mut members = x.to_vec();
                members.extend(y.iter().filter(|m| !x.contains(m)).cloned());
                return Some(Ty::Enum(Arc::from(members)));
            }
            // `route { when a => 1 else => 2 }`: two numbers join as their type, not as a union.
            (Ty::Const(x), Ty::Const(y)) if x != y => return self.join(&x.base(), &y.base()),
            (Ty::Null, Ty::Null) => return Some(Ty::Null),
            (Ty::Null, _) => return Some(b.clone().optional()),
            (_, Ty::Null) => return Some(a.clone().optional()),
            _ => {}
        }
        if self.fits(a, b) {
            Some(b.clone())
        } else if self.fits(b, a) {
            Some(a.clone())
        } else if let (Ty::Optional(x), y) | (y, Ty::Optional(x)) = (self.resolve(a), self.resolve(b)) {
            self.join(x, y).map(Ty::optional)
        } else if let (Ty::List(x), Ty::List(y)) = (self.resolve(a), self.resolve(b)) {
            self.join(x, y).map(Ty::list)
        } else if let (Ty::Record(x), Ty::Record(y)) = (self.resolve(a), self.resolve(b)) {
            self.join_records(x, y)
        } else {
            None
        }
    }

    /// Two record literals with the same fields join field by field
    /// (`{ action: "approve" }` and `{ action: "reject" }` make
    /// `{ action: "approve" | "reject" }`).
    fn join_records(&self, a: &RecordTy, b: &RecordTy) -> Option<Ty> {
        if a.fields.len() != b.fields.len() {
            return None;
        }
        let mut fields = Vec::with_capacity(a.fields.len());
        for fa in &a.fields {
            let fb = b.field(&fa.name)?;
            let ty = self.join(&fa.ty, &fb.ty)?;
            fields.push(FieldTy { name: fa.name.clone(), ty, doc: fa.doc.clone(), alias: fa.alias.clone() });
        }
        Some(Ty::Record(Arc::new(RecordTy { fields })))
    }

    /// The type a value of `ty` computes as: a literal number or bool type
    /// (or a union of them) is its `int`, `float` or `bool`; others as they are.
    pub fn base(&self, ty: &Ty) -> Ty {
        match self.resolve(ty) {
            Ty::Const(c) => c.base(),
            Ty::Union(members) if members.iter().all(|m| matches!(self.resolve(m), Ty::Const(_))) => members
                .iter()
                .map(|m| self.base(m))
                .reduce(|a, b| self.join(&a, &b).unwrap_or(Ty::Unknown))
                .unwrap_or(Ty::Unknown),
            Ty::Optional(inner) if matches!(self.base(inner), Ty::Int | Ty::Float | Ty::Bool) => {
                self.base(inner).optional()
            }
            other => other.clone(),
        }
    }

    /// Whether a value of `ty` may be the constant `c`.
    pub fn admits(&self, ty: &Ty, c: Const) -> bool {
        self.fits(&Ty::Const(c), ty)
    }

    /// A record type's fields, following names; `None` for non-records.
    pub fn record<'a>(&'a self, ty: &'a Ty) -> Option<&'a RecordTy> {
        match self.resolve(ty) {
            Ty::Record(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Unknown => f.write_str("unknown"),
            Ty::Never => f.write_str("never"),
            Ty::Null => f.write_str("null"),
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("int"),
            Ty::Float => f.write_str("float"),
            Ty::String => f.write_str("string"),
            Ty::Duration => f.write_str("duration"),
            Ty::Percent => f.write_str("percent"),
            Ty::Lit(s) => write!(f, "{s:?}"),
            Ty::Enum(members) => {
                let parts: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
                f.write_str(&parts.join(" | "))
            }
            Ty::List(t) => write!(f, "[{t}]"),
            Ty::Optional(t) if matches!(**t, Ty::Enum(_) | Ty::Union(_)) => write!(f, "({t})?"),
            Ty::Optional(t) => write!(f, "{t}?"),
            Ty::Map(t) => write!(f, "map<string, {t}>"),
            Ty::Record(r) => {
                f.write_str("{ ")?;
                for (i, field) in r.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", field.name, field.ty)?;
                }
                f.write_str(if r.fields.is_empty() { "}" } else { " }" })
            }
            Ty::Const(c) => write!(f, "{c}"),
            Ty::Union(members) => {
                let parts: Vec<String> = members.iter().map(|m| m.to_string()).collect();
                f.write_str(&parts.join(" | "))
            }
            Ty::Named(n) => f.write_str(n),
        }
    }
}
