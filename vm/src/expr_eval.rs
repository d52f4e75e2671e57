//! The seam between the scheduler and expression evaluation. The scheduler
//! evaluates every pure expression (steps, conditions, options, `return`)
//! through [`ExprEval`]; the default is the tree walker. A compiled
//! evaluator implements the same trait and may handle some expressions
//! itself and hand the rest to the tree walker, with identical results.

use crate::eval::{Frame, eval};
use crate::value::Value;
use flow_compiler::ir::Expr;

/// Evaluates typed IR expressions against a frame.
pub trait ExprEval: Send + Sync {
    /// The value of `expr`, or a `value` error's message.
    fn eval(&self, expr: &Expr, frame: &Frame) -> Result<Value, String>;
}

/// The tree-walking evaluator.
#[derive(Clone, Copy, Debug, Default)]
pub struct TreeWalker;

impl ExprEval for TreeWalker {
    fn eval(&self, expr: &Expr, frame: &Frame) -> Result<Value, String> {
        eval(expr, frame, &mut Vec::new())
    }
}
