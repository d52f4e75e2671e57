//! The language's tables, each defined once: builtin functions and methods
//! ([`builtins`]), error kinds ([`ErrorKind`]), model providers
//! ([`Provider`]) and the options of models, model steps, `map` and tools
//! ([`options`]).
//!
//! Every other crate reads these tables rather than repeating them: the
//! checker validates against them, lowering turns them into typed IR, the
//! VM implements them, and the docs tests check each entry is documented.
//! Where a phase must supply something per entry (a builtin's type rule in
//! the compiler, its implementation in the VM), it matches exhaustively on
//! the entry's id, so a new entry without it does not compile. That is why
//! the ids ([`BuiltinId`], [`Provider`], the option keys) are deliberately
//! not `#[non_exhaustive]`; [`ErrorKind`], which hosts match on, is.
//!
//! This crate depends on nothing else in the workspace.

pub mod builtins;
mod error_kinds;
pub mod options;
mod providers;

pub use builtins::{BUILTINS, Builtin, BuiltinId, Receiver, function, method, names};
pub use error_kinds::{ErrorKind, Source};
pub use providers::Provider;
