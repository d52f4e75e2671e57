//! JSON Schemas from Flow types: what a model is told to produce (`llm`),
//! how a tool's parameters are described to an `agent`, and what
//! `flowc schema` prints.
//!
//! Every record lists all its fields as `required` and forbids extra ones;
//! an optional field is `anyOf [T, null]` instead of being left out. That is
//! the shape OpenAI's strict structured outputs demand, and every other
//! provider accepts it. Declared types go into `$defs` and are referenced, so
//! recursive types work; `///` comments become `description`s.

use crate::types::{Ty, TypeTable};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};

/// The schema a model's answer must match, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    pub schema: Value,
    /// Providers want an object at the root: any other type is sent as
    /// `{ "value": T }` and the answer unwrapped again.
    pub wrapped: bool,
    /// Whether the schema stays inside what OpenAI's `strict` mode accepts
    /// (no `map<string, T>`, whose keys cannot be listed as required).
    pub strict: bool,
}

/// The field a non-record answer is wrapped in.
pub const WRAP_FIELD: &str = "value";

/// The schema of a type on its own, as `flowc schema` prints it (fields
/// under the names a model sees).
pub fn type_schema(ty: &Ty, types: &TypeTable) -> Value {
    let mut b = Builder::new(types);
    let body = b.root(ty);
    b.finish(body)
}

/// The schema of a value of the type as the program holds it: fields under
/// their own names, not their `as` aliases.
pub fn value_schema(ty: &Ty, types: &TypeTable) -> Value {
    let mut b = Builder::new(types);
    b.aliases = false;
    let body = b.root(ty);
    b.finish(body)
}

/// The schema sent with an `llm` or `agent` step whose answer is `ty`.
pub fn output_schema(ty: &Ty, types: &TypeTable) -> OutputSchema {
    output_schema_named(ty, types, true)
}

/// The same schema with every field under its own name (not its `as`
/// alias): what an answer is checked against once it has been read.
pub fn checked_schema(ty: &Ty, types: &TypeTable) -> OutputSchema {
    output_schema_named(ty, types, false)
}

fn output_schema_named(ty: &Ty, types: &TypeTable, aliases: bool) -> OutputSchema {
    let mut b = Builder::new(types);
    b.aliases = aliases;
    let wrapped = !matches!(types.resolve(ty), Ty::Record(_) | Ty::Map(_));
    let body = if wrapped {
        let inner = b.schema(ty);
        object([(WRAP_FIELD.to_string(), inner)], None)
    } else {
        b.root(ty)
    };
    let strict = b.strict;
    OutputSchema { schema: b.finish(body), wrapped, strict }
}

/// The parameters of a tool (or flow) as one object schema, as agents see them.
pub fn parameters_schema(params: &[(String, Ty)], types: &TypeTable) -> Value {
    let mut b = Builder::new(types);
    let fields: Vec<(String, Value)> = params.iter().map(|(name, ty)| (name.clone(), b.schema(ty))).collect();
    let body = object(fields, None);
    b.finish(body)
}

/// The schema of one agent turn when tools are chosen through JSON rather
/// than the API's native tool calling: either
/// `{"tool": NAME, "arguments": {...}}` for one of `tools`, or
/// `{"final": ANSWER}`.
pub fn decision_schema(tools: &[(&str, &[(String, Ty)])], output: &Ty, types: &TypeTable) -> OutputSchema {
    let mut b = Builder::new(types);
    // A JSON-mode agent's answer is read as JSON as it is: fields under their own names.
    b.aliases = false;
    let mut variants: Vec<Value> = tools
        .iter()
        .map(|(name, params)| {
            let fields: Vec<(String, Value)> = params.iter().map(|(n, ty)| (n.clone(), b.schema(ty))).collect();
            object(
                [
                    ("tool".to_string(), json!({ "type": "string", "enum": [name] })),
                    ("arguments".to_string(), object(fields, None)),
                ],
                None,
            )
        })
        .collect();
    let answer = b.schema(output);
    variants.push(object([("final".to_string(), answer)], None));
    let body = json!({ "type": "object", "anyOf": variants });
    OutputSchema { schema: b.finish(body), wrapped: false, strict: false }
}

struct Builder<'t> {
    types: &'t TypeTable,
    defs: BTreeMap<String, Value>,
    /// Declared types being built: a reference back to one is a `$ref`.
    building: HashSet<String>,
    strict: bool,
    /// Fields under the names a model sees (`as "..."`), or their own.
    aliases: bool,
}

impl<'t> Builder<'t> {
    fn new(types: &'t TypeTable) -> Self {
        Builder { types, defs: BTreeMap::new(), building: HashSet::new(), strict: true, aliases: true }
    }

    /// The root of a document: a declared type is expanded in place rather
    /// than referenced, because providers want a plain object at the root.
    fn root(&mut self, ty: &Ty) -> Value {
        let Ty::Named(name) = ty else { return self.schema(ty) };
        let name = name.to_string();
        self.building.insert(name.clone());
        let mut body = self.body(ty);
        self.building.remove(&name);
        describe(&mut body, self.types.docs.get(&name));
        if self.defs.contains_key(&name) {
            // The type refers to itself: its `$defs` entry is the same body.
            self.defs.insert(name, body.clone());
        }
        body
    }

    fn schema(&mut self, ty: &Ty) -> Value {
        match ty {
            Ty::Named(name) => {
                let name = name.to_string();
                let reference = json!({ "$ref": format!("#/$defs/{name}") });
                if self.building.contains(&name) {
                    // Recursive: the entry is filled in when the outer build ends.
                    self.defs.entry(name).or_insert(Value::Null);
                    return reference;
                }
                if !matches!(self.defs.get(&name), Some(v) if !v.is_null()) {
                    self.building.insert(name.clone());
                    let mut body = self.body(ty);
                    self.building.remove(&name);
                    describe(&mut body, self.types.docs.get(&name));
                    self.defs.insert(name, body);
                }
                reference
            }
            other => self.body(other),
        }
    }

    /// The schema of a type's structure (a name is followed once).
    fn body(&mut self, ty: &Ty) -> Value {
        let ty = match ty {
            Ty::Named(_) => self.types.resolve(ty),
            other => other,
        };
        match ty {
            Ty::Unknown | Ty::Never | Ty::Named(_) => {
                self.strict = false;
                json!({})
            }
            Ty::Null => json!({ "type": "null" }),
            Ty::Bool => json!({ "type": "boolean" }),
            Ty::Int => json!({ "type": "integer" }),
            Ty::Float => json!({ "type": "number" }),
            Ty::Percent => json!({ "type": "number", "description": "a percentage, 0 to 100" }),
            Ty::Duration => json!({ "type": "integer", "description": "a duration in milliseconds" }),
            Ty::String => json!({ "type": "string" }),
            Ty::Lit(s) => json!({ "type": "string", "enum": [self.member(s)] }),
            Ty::Enum(members) => {
                let shown: Vec<String> = members.iter().map(|m| self.member(m)).collect();
                let mut schema = json!({ "type": "string", "enum": shown });
                // What each member means, for the model.
                let meanings: Vec<String> = members
                    .iter()
                    .filter_map(|m| {
                        self.types
                            .member_docs
                            .get(m)
                            .map(|d| format!("{}: {}", self.member(m), d.trim_end_matches('.')))
                    })
                    .collect();
                if !meanings.is_empty() {
                    describe(&mut schema, Some(&meanings.join("; ")));
                }
                schema
            }
            Ty::Optional(inner) => {
                let inner = self.schema(inner);
                json!({ "anyOf": [inner, { "type": "null" }] })
            }
            Ty::Const(c) => {
                let kind = match c {
                    crate::types::Const::Int(_) => "integer",
                    crate::types::Const::Float(_) => "number",
                    crate::types::Const::Bool(_) => "boolean",
                };
                json!({ "type": kind, "enum": [c.json()] })
            }
            Ty::Union(members) => {
                let members: Vec<Value> = members.iter().map(|m| self.schema(m)).collect();
                json!({ "anyOf": members })
            }
            Ty::List(item) => json!({ "type": "array", "items": self.schema(item) }),
            Ty::Map(value) => {
                self.strict = false;
                json!({ "type": "object", "additionalProperties": self.schema(value) })
            }
            Ty::Record(record) => {
                let fields: Vec<(String, Value)> = record
                    .fields
                    .iter()
                    .map(|f| {
                        let mut s = self.schema(&f.ty);
                        describe(&mut s, f.doc.as_ref());
                        let name = if self.aliases { f.alias.as_ref().unwrap_or(&f.name) } else { &f.name };
                        (name.clone(), s)
                    })
                    .collect();
                object(fields, None)
            }
        }
    }

    /// A literal member as the schema shows it: its `as` name, for a model.
    fn member(&self, member: &str) -> String {
        if self.aliases { self.types.shown_member(member).to_string() } else { member.to_string() }
    }

    fn finish(self, mut body: Value) -> Value {
        if let (false, Value::Object(map)) = (self.defs.is_empty(), &mut body) {
            map.insert("$defs".into(), Value::Object(self.defs.into_iter().collect()));
        }
        body
    }
}

/// A closed object whose fields are all required.
fn object(fields: impl IntoIterator<Item = (String, Value)>, doc: Option<&String>) -> Value {
    let fields: Vec<(String, Value)> = fields.into_iter().collect();
    let required: Vec<Value> = fields.iter().map(|(n, _)| Value::String(n.clone())).collect();
    let mut map = Map::new();
    map.insert("type".into(), json!("object"));
    map.insert("properties".into(), Value::Object(fields.into_iter().collect()));
    map.insert("required".into(), Value::Array(required));
    map.insert("additionalProperties".into(), json!(false));
    let mut v = Value::Object(map);
    describe(&mut v, doc);
    v
}

/// Adds `doc` to a schema's description (before what it says already).
fn describe(schema: &mut Value, doc: Option<&String>) {
    if let (Some(doc), Value::Object(map)) = (doc, schema) {
        let doc = doc.trim();
        if !doc.is_empty() {
            let text = match map.get("description").and_then(Value::as_str) {
                Some(earlier) => format!("{doc} {earlier}"),
                None => doc.to_string(),
            };
            map.insert("description".into(), Value::String(text));
        }
    }
}
