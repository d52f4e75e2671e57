//! The compiled evaluator (decision 0036): pure expressions over ints,
//! floats and bools, reading record fields and list items, calling the
//! numeric builtins, including the bodies of lambdas (`.filter`, `.map`,
//! `.any`, `.sum_by`, ...), compiled with cranelift once they have run
//! [`THRESHOLD`] times, and run as native code from then on.
//!
//! It is the tree walker with a hook: at each node that has a plan
//! (`plan.rs`), the hook runs the compiled code if there is some, and
//! otherwise counts. Compiled code gives way to the tree walker for that
//! one evaluation whenever it cannot give the same answer: an input of an
//! unexpected kind, a null where a value is needed, an overflow, a
//! division by zero, a NaN ordered. Results and errors are therefore the
//! tree walker's, by construction; `vm/tests/jit.rs` checks it.
//!
//! What the JIT learns about an expression (its plan, how often it ran,
//! its code) is kept on the expression itself (`ir::EvalCache`), so it
//! lives and dies with the program and is found with one load.

mod codegen;
mod native;
mod plan;

use crate::bounds::EvalError;
use crate::eval::{Frame, Hook, eval_with};
use crate::expr_eval::ExprEval;
use crate::value::Value;
use flow_compiler::ir::{Expr, Var};
use native::{Code, SendCompiler};
use plan::{Kind, Leaf, Plan, Step};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Evaluations of an expression before it is compiled. Compiling one takes
/// 300–500 µs here and saves 40–110 ns per evaluation (BENCHMARKS.md), so
/// it pays after roughly 5,000–10,000; a lambda over a large list reaches
/// that early, a flow's once-run conditions never do.
pub const THRESHOLD: u32 = 10_000;

/// The engine's JIT: the compiler, the threshold, and where compiling happens.
pub struct Jit {
    threshold: u32,
    shared: Arc<Shared>,
    /// Compiles on a thread of its own when set; else the evaluation that
    /// reaches the threshold compiles, then runs the code.
    background: Option<Mutex<std::sync::mpsc::Sender<Job>>>,
}

/// The compiler and its figures, shared with the background thread.
struct Shared {
    compiler: Option<Arc<Mutex<SendCompiler>>>,
    compiled: AtomicUsize,
    /// Time spent compiling, in nanoseconds.
    compiling: AtomicU64,
}

/// An expression to compile in the background, and where its code goes.
type Job = (Arc<Plan>, Arc<OnceLock<Option<Kernel>>>);

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit").field("threshold", &self.threshold).finish_non_exhaustive()
    }
}

/// What the JIT keeps on an expression.
struct Entry {
    /// `None`: the expression does not compile (the hook then does nothing).
    plan: Option<Arc<Plan>>,
    runs: AtomicU32,
    /// Set once: the code, or `None` if compiling failed (never retried).
    kernel: Arc<OnceLock<Option<Kernel>>>,
}

struct Kernel {
    code: Code,
    /// Keeps the code mapped.
    _compiler: Arc<Mutex<SendCompiler>>,
}

impl Jit {
    /// A JIT compiling an expression after `threshold` evaluations (0: at
    /// the first), in the evaluation that reaches it. On a machine
    /// cranelift does not support, nothing is compiled and the tree walker
    /// does everything.
    pub fn new(threshold: u32) -> Jit {
        let compiler = codegen::Compiler::new().ok().map(|c| Arc::new(Mutex::new(SendCompiler(c))));
        let shared = Arc::new(Shared { compiler, compiled: AtomicUsize::new(0), compiling: AtomicU64::new(0) });
        Jit { threshold, shared, background: None }
    }

    /// The same, compiling on a thread of its own while the tree walker
    /// goes on evaluating the expression. (No thread when it cannot start.)
    pub fn in_background(threshold: u32) -> Jit {
        let mut jit = Jit::new(threshold);
        let (send, receive) = std::sync::mpsc::channel::<Job>();
        let shared = jit.shared.clone();
        let started = std::thread::Builder::new().name("flow-jit".into()).spawn(move || {
            for (plan, kernel) in receive {
                let _ = kernel.get_or_init(|| shared.compile(&plan));
            }
        });
        if started.is_ok() {
            jit.background = Some(Mutex::new(send));
        }
        jit
    }

    /// How many expressions this JIT compiled.
    pub fn compiled(&self) -> usize {
        self.shared.compiled.load(Ordering::Relaxed)
    }

    /// The time spent compiling so far.
    pub fn compile_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.shared.compiling.load(Ordering::Relaxed))
    }
}

impl Shared {
    fn compile(&self, plan: &Plan) -> Option<Kernel> {
        let compiler = self.compiler.as_ref()?;
        let started = std::time::Instant::now();
        let pointer = compiler.lock().unwrap_or_else(PoisonError::into_inner).0.compile(plan).ok();
        self.compiling.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let pointer = pointer?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        Some(Kernel { code: Code::new(pointer), _compiler: compiler.clone() })
    }
}

impl ExprEval for Jit {
    fn eval(&self, expr: &Expr, frame: &Frame) -> Result<Value, EvalError> {
        eval_with(expr, frame, &mut Vec::new(), self)
    }
}

impl Hook for Jit {
    #[inline]
    fn eval(&self, e: &Expr, frame: &Frame, locals: &[Value]) -> Option<Value> {
        // Only these nodes can have a plan; the others are not even looked at.
        if !plan::may_plan(&e.kind) {
            return None;
        }
        let entry = e.cache.get_or_init(|| Entry {
            plan: if self.shared.compiler.is_some() { plan::plan(e).map(Arc::new) } else { None },
            runs: AtomicU32::new(0),
            kernel: Arc::default(),
        })?;
        let plan = entry.plan.as_ref()?;
        match entry.kernel.get() {
            Some(Some(kernel)) => run(kernel, plan, frame, locals),
            Some(None) => None,
            None => {
                let runs = entry.runs.fetch_add(1, Ordering::Relaxed);
                match &self.background {
                    Some(queue) if runs == self.threshold => {
                        let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
                        let _ = queue.send((plan.clone(), entry.kernel.clone()));
                        None
                    }
                    Some(_) => None,
                    None if runs >= self.threshold => {
                        let kernel = entry.kernel.get_or_init(|| self.shared.compile(plan));
                        kernel.as_ref().and_then(|k| run(k, plan, frame, locals))
                    }
                    None => None,
                }
            }
        }
    }
}

/// Runs compiled code; `None` gives the evaluation to the tree walker.
#[inline(always)]
fn run(kernel: &Kernel, plan: &Plan, frame: &Frame, locals: &[Value]) -> Option<Value> {
    // Most expressions read a few values: a small buffer is cheaper to set up.
    if plan.leaves.len() <= 4 {
        run_with::<8>(kernel, plan, frame, locals)
    } else {
        run_with::<{ 2 * plan::MAX_LEAVES }>(kernel, plan, frame, locals)
    }
}

#[inline]
fn run_with<const N: usize>(kernel: &Kernel, plan: &Plan, frame: &Frame, locals: &[Value]) -> Option<Value> {
    let mut inputs = [0u64; N];
    for (leaf, input) in plan.leaves.iter().zip(inputs.chunks_exact_mut(2)) {
        let (value, null) = read(leaf, frame, locals)?;
        input[0] = value;
        input[1] = null;
    }
    let mut out = 0u64;
    if kernel.code.call(&inputs, plan.leaves.len(), &mut out) != 0 {
        return None;
    }
    Some(match plan.kind {
        Kind::Int => Value::Int(out as i64),
        Kind::Float => Value::Float(f64::from_bits(out)),
        Kind::Bool => Value::Bool(out != 0),
    })
}

static NULL: Value = Value::Null;

#[inline(always)]
fn variable<'a>(var: Var, frame: &'a Frame, locals: &'a [Value]) -> Option<&'a Value> {
    match var {
        Var::Slot { up, slot } => frame.get(up, slot),
        Var::Local(i) => locals.get(i as usize),
    }
}

/// A leaf's value as the compiled code takes it, or `None` when it is not
/// of the planned kind (the tree walker then runs).
#[inline(always)]
fn read(leaf: &Leaf, frame: &Frame, locals: &[Value]) -> Option<(u64, u64)> {
    let mut value = variable(leaf.var, frame, locals)?;
    for step in &leaf.path {
        value = match (step, value) {
            (Step::Field(name, _), Value::Object(fields)) => fields.get(&**name).unwrap_or(&NULL),
            (Step::Field(_, true), Value::Null) => &NULL,
            (Step::Index(i), Value::List(items)) => usize::try_from(*i).ok().and_then(|i| items.get(i))?,
            (Step::IndexBy(var), Value::List(items)) => match variable(*var, frame, locals)? {
                Value::Int(i) => usize::try_from(*i).ok().and_then(|i| items.get(i))?,
                _ => return None,
            },
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
