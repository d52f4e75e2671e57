//! Builtin functions and methods: one entry each, with its id, name,
//! receiver, parameters and one-line summary. The checker's type rules
//! (`compiler/src/builtins.rs`) and the VM's implementations
//! (`vm/src/builtins.rs`) match exhaustively on [`BuiltinId`].

/// What a method is called on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Receiver {
    /// A free function, `len(x)`.
    None,
    /// A method on lists, `xs.map(x => ...)`.
    List,
    /// A method on strings, `s.lower()`.
    String,
    /// A method on maps, `m.get(k)`.
    Map,
}

/// One builtin.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub id: BuiltinId,
    pub name: &'static str,
    pub receiver: Receiver,
    /// Parameter names, for messages (`x => ...` marks a lambda).
    pub params: &'static [&'static str],
    pub summary: &'static str,
}

impl Builtin {
    /// Whether the builtin's one argument is a lambda (`.map(x => ...)`).
    pub fn takes_lambda(&self) -> bool {
        self.params.first().is_some_and(|p| p.contains("=>"))
    }

    /// How the docs write it: `len(value)`, `.map(x => value)`.
    pub fn signature(&self) -> String {
        let dot = if self.receiver == Receiver::None { "" } else { "." };
        format!("{dot}{}({})", self.name, self.params.join(", "))
    }
}

macro_rules! builtins {
    ($($id:ident: $receiver:ident $name:literal ($($param:literal),*) $summary:literal;)*) => {
        /// Which builtin: a call's target in the checked program and the IR.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum BuiltinId { $($id),* }

        /// Every builtin, functions first.
        pub const BUILTINS: &[Builtin] = &[
            $(Builtin {
                id: BuiltinId::$id,
                name: $name,
                receiver: Receiver::$receiver,
                params: &[$($param),*],
                summary: $summary,
            }),*
        ];
    };
}

builtins! {
    Len: None "len" ("value") "number of items in a list or map, or characters in a string";
    Str: None "str" ("value") "the value as text (records and lists as JSON)";
    Int: None "int" ("value") "a float (truncated) or numeric string as an int";
    Float: None "float" ("value") "an int or numeric string as a float";
    Round: None "round" ("value") "a float rounded to the nearest int";
    Abs: None "abs" ("value") "absolute value of an int or float";
    Min: None "min" ("a", "b") "the smaller of two numbers";
    Max: None "max" ("a", "b") "the larger of two numbers";
    Sum: None "sum" ("list") "sum of a list of numbers";
    Keys: None "keys" ("map") "the keys of a map, sorted";
    Values: None "values" ("map") "the values of a map, in key order";
    Json: None "json" ("value") "the value serialized as a JSON string";
    ListMap: List "map" ("x => value") "a new list with the lambda applied to each item";
    ListFilter: List "filter" ("x => bool") "the items for which the lambda is true";
    ListAny: List "any" ("x => bool") "whether the lambda is true for some item";
    ListAll: List "all" ("x => bool") "whether the lambda is true for every item";
    ListFind: List "find" ("x => bool") "the first item for which the lambda is true, or null";
    ListCount: List "count" ("x => bool") "how many items the lambda is true for";
    ListSortBy: List "sort_by" ("x => key") "the items sorted by the lambda's value (stable)";
    ListFirst: List "first" () "the first item, or null";
    ListLast: List "last" () "the last item, or null";
    ListContains: List "contains" ("value") "whether the list holds the value";
    ListJoin: List "join" ("separator") "a list of strings joined with the separator";
    ListFlatten: List "flatten" () "a list of lists as one list";
    ListTake: List "take" ("n") "the first n items";
    ListSkip: List "skip" ("n") "all but the first n items";
    StrLower: String "lower" () "lower-cased text";
    StrUpper: String "upper" () "upper-cased text";
    StrTrim: String "trim" () "text without leading and trailing whitespace";
    StrContains: String "contains" ("text") "whether the text occurs in the string";
    StrStartsWith: String "starts_with" ("text") "whether the string starts with the text";
    StrEndsWith: String "ends_with" ("text") "whether the string ends with the text";
    StrSplit: String "split" ("separator") "the parts between separators";
    StrReplace: String "replace" ("from", "to") "every occurrence of `from` replaced by `to`";
    MapGet: Map "get" ("key") "the value for a key, or null";
}

impl BuiltinId {
    /// The registry entry.
    pub fn builtin(self) -> &'static Builtin {
        // Entries are in declaration order, so the discriminant is the index.
        &BUILTINS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.builtin().name
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_the_table() {
        for (i, b) in BUILTINS.iter().enumerate() {
            assert_eq!(b.id as usize, i, "{}", b.name);
            assert_eq!(b.id.builtin().name, b.name);
        }
    }

    #[test]
    fn names_are_unique_per_receiver() {
        for (i, a) in BUILTINS.iter().enumerate() {
            for b in &BUILTINS[i + 1..] {
                assert!(!(a.receiver == b.receiver && a.name == b.name), "{} twice", a.name);
            }
        }
    }
}
