//! The compiled evaluator (decision 0036): pure expressions over ints,
//! floats and bools, including the bodies of lambdas (`.filter`, `.map`,
//! `.any`, `.sum_by`, ...), compiled with cranelift once they have run
//! [`THRESHOLD`] times, and run as native code from then on.
//!
//! It is the tree walker with a hook: at each node that has a plan
//! (`plan.rs`), the hook runs the compiled code if there is some, and
//! otherwise counts. Compiled code gives way to the tree walker for that
//! one evaluation whenever it cannot give the same answer: an input of an
//! unexpected kind, a null where a value is needed, an overflow, a
//! division by zero, a NaN ordered. Results and errors are therefore the
//! tree walker's, by construction; `tests/jit.rs` checks it.
//!
//! Per program (`ProgramJit`): the candidates are found once, by walking
//! the program's IR, into a map that never changes afterwards, so the hook
//! reads it without a lock. The program is kept alive by its `ProgramJit`,
//! so the expressions' addresses, the map's keys, stay valid and unique.

mod codegen;
mod native;
mod plan;
mod walk;

use crate::bounds::EvalError;
use crate::eval::{Frame, Hook, eval_with};
use crate::expr_eval::ExprEval;
use crate::value::Value;
use flow_compiler::ir::{Expr, Program, Var};
use native::{Code, Inputs, SendCompiler};
use plan::{Kind, Leaf, Plan};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Evaluations of an expression before it is compiled. Compiling one takes
/// 60–400 µs and saves 50–100 ns per evaluation (BENCHMARKS.md), so it pays
/// after a few thousand; a `map` over a large list reaches that early, a
/// flow's once-run conditions never do.
pub const THRESHOLD: u32 = 2_000;

/// How many programs keep their compiled code (the least recently started go first).
const PROGRAMS: usize = 64;

/// The engine's JIT: compiled code per program, and the compiler.
pub struct Jit {
    threshold: u32,
    compiler: Option<Arc<Mutex<SendCompiler>>>,
    programs: Mutex<Vec<Arc<ProgramJit>>>,
}

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit").field("threshold", &self.threshold).finish_non_exhaustive()
    }
}

impl Jit {
    /// A JIT compiling after `threshold` evaluations (0: at the first). On a
    /// machine cranelift does not support, nothing is compiled.
    pub fn new(threshold: u32) -> Jit {
        let compiler = codegen::Compiler::new().ok().map(|c| Arc::new(Mutex::new(SendCompiler(c))));
        Jit { threshold, compiler, programs: Mutex::new(Vec::new()) }
    }

    /// How many expressions are compiled, over the programs kept.
    pub fn compiled(&self) -> usize {
        self.programs.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|p| p.counts().1).sum()
    }

    /// The evaluator for runs of `program` (made once per program).
    pub fn for_program(&self, program: &Arc<Program>) -> Arc<ProgramJit> {
        let mut programs = self.programs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = programs.iter().position(|p| Arc::ptr_eq(&p.program, program)) {
            let found = programs.remove(at);
            programs.push(found.clone());
            return found;
        }
        let made = Arc::new(ProgramJit::new(program.clone(), self.threshold, self.compiler.clone()));
        if programs.len() == PROGRAMS {
            programs.remove(0);
        }
        programs.push(made.clone());
        made
    }
}

/// One program's compiled expressions.
pub struct ProgramJit {
    /// Kept alive: its expressions' addresses are the keys below.
    program: Arc<Program>,
    entries: FxHashMap<usize, Entry>,
    threshold: u32,
    compiler: Option<Arc<Mutex<SendCompiler>>>,
}

struct Entry {
    plan: Plan,
    runs: AtomicU32,
    /// Set once: the code, or `None` if compiling failed (never retried).
    kernel: OnceLock<Option<Kernel>>,
}

struct Kernel {
    code: Code,
    /// Keeps the code mapped.
    _compiler: Arc<Mutex<SendCompiler>>,
}

impl ProgramJit {
    fn new(program: Arc<Program>, threshold: u32, compiler: Option<Arc<Mutex<SendCompiler>>>) -> ProgramJit {
        let mut entries = FxHashMap::default();
        if compiler.is_some() {
            walk::program(&program, &mut |e: &Expr, plan: Plan| {
                entries.insert(
                    e as *const Expr as usize,
                    Entry { plan, runs: AtomicU32::new(0), kernel: OnceLock::new() },
                );
            });
        }
        ProgramJit { program, entries, threshold, compiler }
    }

    /// How many of the program's expressions have a plan, and how many are compiled.
    pub fn counts(&self) -> (usize, usize) {
        (self.entries.len(), self.entries.values().filter(|e| matches!(e.kernel.get(), Some(Some(_)))).count())
    }

    fn compile(&self, entry: &Entry) -> Option<Kernel> {
        let compiler = self.compiler.as_ref()?;
        let pointer = compiler.lock().unwrap_or_else(PoisonError::into_inner).0.compile(&entry.plan).ok()?;
        Some(Kernel { code: Code::new(pointer), _compiler: compiler.clone() })
    }
}

impl ExprEval for ProgramJit {
    fn eval(&self, expr: &Expr, frame: &Frame) -> Result<Value, EvalError> {
        eval_with(expr, frame, &mut Vec::new(), self)
    }
}

impl Hook for ProgramJit {
    #[inline]
    fn eval(&self, e: &Expr, frame: &Frame, locals: &[Value]) -> Option<Value> {
        let entry = self.entries.get(&(e as *const Expr as usize))?;
        match entry.kernel.get() {
            Some(Some(kernel)) => run(kernel, &entry.plan, frame, locals),
            Some(None) => None,
            None => {
                if entry.runs.fetch_add(1, Ordering::Relaxed) >= self.threshold {
                    let kernel = entry.kernel.get_or_init(|| self.compile(entry));
                    return kernel.as_ref().and_then(|k| run(k, &entry.plan, frame, locals));
                }
                None
            }
        }
    }
}

/// Runs compiled code; `None` gives the evaluation to the tree walker.
#[inline]
fn run(kernel: &Kernel, plan: &Plan, frame: &Frame, locals: &[Value]) -> Option<Value> {
    let mut inputs: Inputs = [0; 2 * plan::MAX_LEAVES];
    for (i, leaf) in plan.leaves.iter().enumerate() {
        let (value, null) = read(leaf, frame, locals)?;
        inputs[2 * i] = value;
        inputs[2 * i + 1] = null;
    }
    let mut out = 0u64;
    if kernel.code.call(&inputs, &mut out) != 0 {
        return None;
    }
    Some(match plan.kind {
        Kind::Int => Value::Int(out as i64),
        Kind::Float => Value::Float(f64::from_bits(out)),
        Kind::Bool => Value::Bool(out != 0),
    })
}

static NULL: Value = Value::Null;

/// A leaf's value as the compiled code takes it, or `None` when it is not
/// of the planned kind (the tree walker then runs).
#[inline]
fn read(leaf: &Leaf, frame: &Frame, locals: &[Value]) -> Option<(u64, u64)> {
    let mut value = match leaf.var {
        Var::Slot { up, slot } => frame.get(up, slot)?,
        Var::Local(i) => locals.get(i as usize)?,
    };
    for (name, optional) in &leaf.fields {
        value = match value {
            Value::Object(fields) => fields.get(&**name).unwrap_or(&NULL),
            Value::Null if *optional => &NULL,
            _ => return None,
        };
    }
    if leaf.len {
        let n = match value {
            Value::Str(s) => s.chars().count(),
            Value::List(items) => items.len(),
            Value::Object(fields) => fields.len(),
            _ => return None,
        };
        return Some((n as u64, 0));
    }
    match (value, leaf.kind) {
        (Value::Null, _) if leaf.nullable => Some((0, 1)),
        (Value::Int(i), Kind::Int) => Some((*i as u64, 0)),
        (Value::Float(f), Kind::Float) => Some((f.to_bits(), 0)),
        (Value::Bool(b), Kind::Bool) => Some((u64::from(*b), 0)),
        _ => None,
    }
}
