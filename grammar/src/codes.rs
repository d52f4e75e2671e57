//! Every diagnostic code, in one table: the code string users see, the
//! severity, and a one-line title. `docs/errors.md` documents each of them,
//! and a test keeps the two in step.

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($( $variant:ident = $code:literal, $sev:ident, $title:literal; )*) => {
        /// A stable diagnostic code. The string form (`E0203`) never changes meaning.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( $variant, )* }

        impl Code {
            /// All codes, in numeric order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The code as users see it, e.g. `E0203`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }

            /// What the code is about, in a few words.
            pub fn title(self) -> &'static str {
                match self { $( Code::$variant => $title, )* }
            }
        }
    };
}

codes! {
    // Syntax.
    Syntax = "E0001", Error, "syntax error";
    UnterminatedString = "E0002", Error, "unterminated string";
    InvalidLiteral = "E0003", Error, "invalid literal";
    TooDeep = "E0004", Error, "nesting too deep";
    ReservedWord = "E0005", Error, "reserved word used as a name";
    // Names and declarations.
    UnknownName = "E0101", Error, "unknown name";
    UnknownType = "E0102", Error, "unknown type";
    UnknownModel = "E0103", Error, "unknown model";
    UnknownCallee = "E0104", Error, "unknown tool or flow";
    DuplicateItem = "E0105", Error, "duplicate definition";
    DuplicateName = "E0106", Error, "duplicate name";
    UnknownFunction = "E0107", Error, "unknown function or method";
    UnknownProvider = "E0108", Error, "unknown provider";
    UnknownOption = "E0109", Error, "unknown option";
    MissingOption = "E0110", Error, "missing option";
    // Types.
    TypeMismatch = "E0201", Error, "type mismatch";
    NotARecord = "E0202", Error, "field access on a value that is not a record";
    UnknownField = "E0203", Error, "unknown field";
    OptionalUnhandled = "E0204", Error, "optional value used without handling null";
    UnknownArgument = "E0205", Error, "unknown argument";
    MissingArgument = "E0206", Error, "missing argument or field";
    BadOperands = "E0207", Error, "operator applied to the wrong types";
    RouteBranchMismatch = "E0208", Error, "route branches have different types";
    CatchTypeMismatch = "E0209", Error, "catch fallback has the wrong type";
    ReturnTypeMismatch = "E0210", Error, "returned value has the wrong type";
    MapOverNonList = "E0211", Error, "map over a value that is not a list";
    MisplacedCall = "E0212", Error, "tool, flow or model used where a value is expected";
    ConditionNotBool = "E0213", Error, "condition is not a bool";
    ImpossibleComparison = "E0214", Error, "comparison can never be true";
    InvalidType = "E0215", Error, "invalid type";
    BadArguments = "E0216", Error, "wrong arguments to a builtin";
    BadIndex = "E0217", Error, "invalid indexing";
    BadLambda = "E0218", Error, "lambda used wrongly";
    // Flow structure.
    Cycle = "E0301", Error, "dependency cycle";
    MissingReturn = "E0302", Error, "flow has no return";
    DuplicateReturn = "E0303", Error, "more than one return";
    RouteWithoutElse = "E0304", Error, "route without an else branch";
    // Clauses and options.
    TolerateOutOfRange = "E0401", Error, "tolerate outside 0% to 100%";
    RetryImpossible = "E0402", Error, "retry on an error that cannot occur";
    UnknownErrorKind = "E0403", Error, "unknown error kind";
    BadDuration = "E0404", Error, "invalid duration or retry setting";
    BadOptionValue = "E0405", Error, "option value out of range";
    DuplicateClause = "E0406", Error, "clause given twice";
    UnreachableCatch = "E0407", Error, "catch clause can never run";
    ComputedValue = "E0408", Error, "value must be written as a literal";
    BadUrlPlaceholder = "E0409", Error, "URL placeholder does not name a parameter";
    BadSecret = "E0410", Error, "secret used wrongly";
    // Tests.
    TestFlow = "E0501", Error, "test does not name a flow";
    UnknownMock = "E0502", Error, "mock for something the program does not declare";

    // Before a run starts (`flowc run`, `Engine::start`): nothing has run yet.
    UnknownFlow = "E0601", Error, "no such flow to run";
    BadInput = "E0602", Error, "input does not fit the flow's parameters";
    ToolUnavailable = "E0603", Error, "tool has no implementation here";
    CommandsNotAllowed = "E0604", Error, "command tools are not allowed";
    ModelUnavailable = "E0605", Error, "model has no provider here";
    MissingApiKey = "E0606", Error, "API key not set";
    AskUnavailable = "E0607", Error, "ask step has nobody to answer it";
    HttpNotAllowed = "E0608", Error, "http tools are not allowed here";
    KeyNotAllowed = "E0609", Error, "the host does not let this key go there";
    NetNotAllowed = "E0616", Error, "the network policy does not allow this address";
    SecretNotGranted = "E0617", Error, "the host does not grant this secret here";
    // Durable runs (`flowc resume/answer/cancel/...`, the run store).
    StoreUnavailable = "E0610", Error, "the run store cannot be used";
    UnknownRun = "E0611", Error, "no such run";
    NotResumable = "E0612", Error, "run cannot be resumed";
    ProgramChanged = "E0613", Error, "program changed under completed steps";
    BadAnswer = "E0614", Error, "answer does not fit the waiting step";
    UnknownDefinition = "E0615", Error, "no such stored flow";

    Internal = "E0900", Error, "internal compiler error";
    // Warnings.
    UnusedStep = "W0001", Warning, "unused step";
    RetryNoEffect = "W0002", Warning, "retry has no effect";
    UnusedParam = "W0003", Warning, "unused parameter";
    UnreachableElse = "W0004", Warning, "else branch can never run";
    MapAfterMap = "W0005", Warning, "a map waits for the whole of another map";
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}
