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
    /// A call that shows what it does, as source text (it may use `m`, a
    /// `map<string, int>` holding `{"a": 1, "b": 2}`), and what it gives as
    /// JSON: the registry's test checks, compiles and runs each one.
    pub example: &'static str,
    pub result: &'static str,
}

impl Builtin {
    /// Whether the builtin's one argument is a lambda (`.map(x => ...)`).
    pub fn takes_lambda(&self) -> bool {
        self.params.first().is_some_and(|p| p.contains("=>"))
    }

    /// Whether it takes a start value and a two-parameter lambda (`.reduce`).
    pub fn folds(&self) -> bool {
        self.params.len() == 2 && self.params[1].contains("=>")
    }

    /// How the docs write it: `len(value)`, `.map(x => value)`.
    pub fn signature(&self) -> String {
        let dot = if self.receiver == Receiver::None { "" } else { "." };
        format!("{dot}{}({})", self.name, self.params.join(", "))
    }
}

macro_rules! builtins {
    ($($id:ident: $receiver:ident $name:literal ($($param:literal),*) $summary:literal
        example $example:literal gives $result:literal;)*) => {
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
                example: $example,
                result: $result,
            }),*
        ];
    };
}

builtins! {
    Len: None "len" ("value") "number of items in a list or map, or characters in a string"
        example "len(\"héllo\")" gives "5";
    Str: None "str" ("value") "the value as text (records and lists as JSON)"
        example "str([1, 2])" gives "\"[1,2]\"";
    Int: None "int" ("value") "a float (truncated) or numeric string as an int"
        example "int(\"42\")" gives "42";
    Float: None "float" ("value") "an int or numeric string as a float"
        example "float(3)" gives "3.0";
    Round: None "round" ("value") "a float rounded to the nearest int"
        example "round(2.6)" gives "3";
    Abs: None "abs" ("value") "absolute value of an int or float"
        example "abs(-4)" gives "4";
    Format: None "format" ("number", "decimals") "a number as text with that many decimals and thousands separators"
        example "format(1234.5, 2)" gives "\"1,234.50\"";
    Min: None "min" ("a", "b") "the smaller of two numbers"
        example "min(3, 1.5)" gives "1.5";
    Max: None "max" ("a", "b") "the larger of two numbers"
        example "max(3, 7)" gives "7";
    Sum: None "sum" ("list") "sum of a list of numbers"
        example "sum([1, 2, 3])" gives "6";
    Keys: None "keys" ("map") "the keys of a map, sorted"
        example "keys(m)" gives "[\"a\",\"b\"]";
    Entries: None "entries" ("map") "the map's keys and values, sorted by key: [{ key, value }]"
        example "entries(m)" gives "[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2}]";
    Range: None "range" ("n") "the ints from 0 up to (not including) n"
        example "range(3)" gives "[0,1,2]";
    Values: None "values" ("map") "the values of a map, in key order"
        example "values(m)" gives "[1,2]";
    Json: None "json" ("value") "the value serialized as a JSON string"
        example "json({ a: [1] })" gives "\"{\\\"a\\\":[1]}\"";
    ListMap: List "map" ("x => value") "a new list with the lambda applied to each item"
        example "[1, 2].map(x => x * 10)" gives "[10,20]";
    ListFilter: List "filter" ("x => bool") "the items for which the lambda is true"
        example "[1, 2, 3].filter(x => x > 1)" gives "[2,3]";
    ListAny: List "any" ("x => bool") "whether the lambda is true for some item"
        example "[1, 2].any(x => x > 1)" gives "true";
    ListAll: List "all" ("x => bool") "whether the lambda is true for every item"
        example "[1, 2].all(x => x > 1)" gives "false";
    ListFind: List "find" ("x => bool") "the first item for which the lambda is true, or null"
        example "[1, 2, 3].find(x => x > 1)" gives "2";
    ListCount: List "count" ("x => bool") "how many items the lambda is true for"
        example "[1, 2, 3].count(x => x > 1)" gives "2";
    ListSortBy: List "sort_by" ("x => key") "the items sorted by the lambda's value (stable)"
        example "[\"bb\", \"a\"].sort_by(x => len(x))" gives "[\"a\",\"bb\"]";
    ListSumBy: List "sum_by" ("x => number") "the sum of the lambda's value over the items"
        example "[\"ab\", \"c\"].sum_by(x => len(x))" gives "3";
    ListMaxBy: List "max_by" ("x => key") "the item with the largest key (number or string; the first on ties), or null"
        example "[\"ab\", \"c\", \"de\"].max_by(x => len(x))" gives "\"ab\"";
    ListMinBy: List "min_by" ("x => key") "the item with the smallest key (number or string; the first on ties), or null"
        example "[\"ab\", \"c\"].min_by(x => len(x))" gives "\"c\"";
    ListReduce: List "reduce" ("start", "(acc, x) => value") "folds the items into one value, from start, item by item"
        example "[1, 2, 3].reduce(0, (acc, x) => acc + x * x)" gives "14";
    ListGroupBy: List "group_by" ("x => key") "the items grouped by the lambda's string value, in order"
        example "[\"ab\", \"c\", \"de\"].group_by(x => str(len(x)))" gives "{\"2\":[\"ab\",\"de\"],\"1\":[\"c\"]}";
    ListFirst: List "first" () "the first item, or null"
        example "[4, 5].first()" gives "4";
    ListLast: List "last" () "the last item, or null"
        example "[4, 5].last()" gives "5";
    ListContains: List "contains" ("value") "whether the list holds the value"
        example "[4, 5].contains(5)" gives "true";
    ListJoin: List "join" ("separator") "a list of strings joined with the separator"
        example "[\"a\", \"b\"].join(\"-\")" gives "\"a-b\"";
    ListFlatten: List "flatten" () "a list of lists as one list"
        example "[[1], [2, 3]].flatten()" gives "[1,2,3]";
    ListTake: List "take" ("n") "the first n items"
        example "[1, 2, 3].take(2)" gives "[1,2]";
    ListSkip: List "skip" ("n") "all but the first n items"
        example "[1, 2, 3].skip(2)" gives "[3]";
    ListMax: List "max" () "the largest item (numbers or strings), or null for an empty list"
        example "[3, 9, 4].max()" gives "9";
    ListMin: List "min" () "the smallest item (numbers or strings), or null for an empty list"
        example "[\"b\", \"a\"].min()" gives "\"a\"";
    ListSort: List "sort" () "the items (numbers or strings) in ascending order"
        example "[3, 1, 2].sort()" gives "[1,2,3]";
    ListUniqueBy: List "unique_by" ("x => key") "the items whose key was not seen before, first kept"
        example "[\"ab\", \"cd\", \"e\"].unique_by(x => len(x))" gives "[\"ab\",\"e\"]";
    ListUnique: List "unique" () "the items without repeats, first kept"
        example "[1, 2, 1, 3].unique()" gives "[1,2,3]";
    ListReverse: List "reverse" () "the items in reverse order"
        example "[1, 2, 3].reverse()" gives "[3,2,1]";
    ListSlice: List "slice" ("start", "end") "the items from start up to (not including) end"
        example "[1, 2, 3, 4].slice(1, 3)" gives "[2,3]";
    ListEnumerate: List "enumerate" () "each item with its position: { index, value }"
        example "[\"a\", \"b\"].enumerate()" gives "[{\"index\":0,\"value\":\"a\"},{\"index\":1,\"value\":\"b\"}]";
    StrSlice: String "slice" ("start", "end") "the characters from start up to (not including) end"
        example "\"hello\".slice(1, 3)" gives "\"el\"";
    StrLower: String "lower" () "lower-cased text"
        example "\"Hi\".lower()" gives "\"hi\"";
    StrUpper: String "upper" () "upper-cased text"
        example "\"Hi\".upper()" gives "\"HI\"";
    StrTrim: String "trim" () "text without leading and trailing whitespace"
        example "\" hi \".trim()" gives "\"hi\"";
    StrContains: String "contains" ("text") "whether the text occurs in the string"
        example "\"hello\".contains(\"ell\")" gives "true";
    StrStartsWith: String "starts_with" ("text") "whether the string starts with the text"
        example "\"hello\".starts_with(\"he\")" gives "true";
    StrEndsWith: String "ends_with" ("text") "whether the string ends with the text"
        example "\"hello\".ends_with(\"lo\")" gives "true";
    StrSplit: String "split" ("separator") "the parts between separators"
        example "\"a,b\".split(\",\")" gives "[\"a\",\"b\"]";
    StrReplace: String "replace" ("from", "to") "every occurrence of `from` replaced by `to`"
        example "\"a-b\".replace(\"-\", \"+\")" gives "\"a+b\"";
    MapGet: Map "get" ("key") "the value for a key, or null"
        example "m.get(\"a\")" gives "1";
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
