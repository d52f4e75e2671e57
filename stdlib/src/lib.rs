//! Flow's builtin functions and methods: their names, what they take, and a
//! one-line description. The checker types calls to them (and suggests names
//! when a call is misspelled); the interpreter will implement them.
//!
//! This crate depends on nothing else in the workspace, so both the compiler
//! and the VM can read the same table.

/// What a method is called on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// A free function, `len(x)`.
    None,
    List,
    String,
    Map,
}

#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub receiver: Receiver,
    /// Parameter names, for messages (`x => ...` marks a lambda).
    pub params: &'static [&'static str],
    pub summary: &'static str,
}

const fn f(name: &'static str, params: &'static [&'static str], summary: &'static str) -> Builtin {
    Builtin { name, receiver: Receiver::None, params, summary }
}

const fn m(receiver: Receiver, name: &'static str, params: &'static [&'static str], summary: &'static str) -> Builtin {
    Builtin { name, receiver, params, summary }
}

use Receiver::{List, Map, String as Str};

/// Every builtin, functions first.
pub const BUILTINS: &[Builtin] = &[
    f("len", &["value"], "number of items in a list or map, or characters in a string"),
    f("str", &["value"], "the value as text (records and lists as JSON)"),
    f("int", &["value"], "a float (truncated) or numeric string as an int"),
    f("float", &["value"], "an int or numeric string as a float"),
    f("round", &["value"], "a float rounded to the nearest int"),
    f("abs", &["value"], "absolute value of an int or float"),
    f("min", &["a", "b"], "the smaller of two numbers"),
    f("max", &["a", "b"], "the larger of two numbers"),
    f("sum", &["list"], "sum of a list of numbers"),
    f("keys", &["map"], "the keys of a map, sorted"),
    f("values", &["map"], "the values of a map, in key order"),
    f("json", &["value"], "the value serialized as a JSON string"),
    m(List, "map", &["x => value"], "a new list with the lambda applied to each item"),
    m(List, "filter", &["x => bool"], "the items for which the lambda is true"),
    m(List, "any", &["x => bool"], "whether the lambda is true for some item"),
    m(List, "all", &["x => bool"], "whether the lambda is true for every item"),
    m(List, "find", &["x => bool"], "the first item for which the lambda is true, or null"),
    m(List, "count", &["x => bool"], "how many items the lambda is true for"),
    m(List, "sort_by", &["x => key"], "the items sorted by the lambda's value (stable)"),
    m(List, "first", &[], "the first item, or null"),
    m(List, "last", &[], "the last item, or null"),
    m(List, "contains", &["value"], "whether the list holds the value"),
    m(List, "join", &["separator"], "a list of strings joined with the separator"),
    m(List, "flatten", &[], "a list of lists as one list"),
    m(List, "take", &["n"], "the first n items"),
    m(List, "skip", &["n"], "all but the first n items"),
    m(Str, "lower", &[], "lower-cased text"),
    m(Str, "upper", &[], "upper-cased text"),
    m(Str, "trim", &[], "text without leading and trailing whitespace"),
    m(Str, "contains", &["text"], "whether the text occurs in the string"),
    m(Str, "starts_with", &["text"], "whether the string starts with the text"),
    m(Str, "ends_with", &["text"], "whether the string ends with the text"),
    m(Str, "split", &["separator"], "the parts between separators"),
    m(Str, "replace", &["from", "to"], "every occurrence of `from` replaced by `to`"),
    m(Map, "get", &["key"], "the value for a key, or null"),
];

/// The free function called `name`.
pub fn function(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.receiver == Receiver::None && b.name == name)
}

/// The method `name` on a receiver of the given kind.
pub fn method(receiver: Receiver, name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.receiver == receiver && b.name == name)
}

/// Names callable on a receiver (or free functions for `Receiver::None`).
pub fn names(receiver: Receiver) -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().filter(move |b| b.receiver == receiver).map(|b| b.name)
}
