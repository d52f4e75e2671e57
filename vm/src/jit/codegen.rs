//! Cranelift code for a [`Plan`]: one function per expression,
//! `fn(inputs: *const u64, out: *mut u64) -> u32`. Input `i` is at
//! `inputs[2 i]` (an int, a float's bits, or 0/1) with its null flag at
//! `inputs[2 i + 1]`. It writes the value to `out` and returns 0, or returns
//! 1 where the tree walker would fail (overflow, division by zero, a NaN
//! ordered): the caller then lets the tree walker give the error, word for
//! word.

use super::plan::{Kind, Node, Plan};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{AbiParam, Block, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use flow_compiler::ast::{BinaryOp, UnaryOp};
use flow_stdlib::BuiltinId;

/// A JIT module and the contexts reused from one function to the next.
pub struct Compiler {
    module: JITModule,
    ctx: cranelift_codegen::Context,
    builder: FunctionBuilderContext,
    functions: usize,
}

impl Compiler {
    /// A compiler for this machine, or why there is none (an unsupported CPU).
    pub fn new() -> Result<Compiler, String> {
        let mut flags = settings::builder();
        for (name, value) in [("use_colocated_libcalls", "false"), ("is_pic", "false"), ("opt_level", "speed")] {
            flags.set(name, value).map_err(|e| e.to_string())?;
        }
        let isa = cranelift_native::builder()
            .map_err(|e| e.to_string())?
            .finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())?;
        let module = JITModule::new(JITBuilder::with_isa(isa, cranelift_module::default_libcall_names()));
        let ctx = module.make_context();
        Ok(Compiler { module, ctx, builder: FunctionBuilderContext::new(), functions: 0 })
    }

    /// Compiles a plan; the code lives as long as this compiler.
    pub fn compile(&mut self, plan: &Plan) -> Result<*const u8, String> {
        let pointer = self.module.target_config().pointer_type();
        let mut signature = self.module.make_signature();
        signature.params.push(AbiParam::new(pointer));
        signature.params.push(AbiParam::new(pointer));
        signature.returns.push(AbiParam::new(types::I32));
        self.functions += 1;
        let id = self
            .module
            .declare_function(&format!("expr{}", self.functions), Linkage::Local, &signature)
            .map_err(|e| e.to_string())?;
        self.ctx.func.signature = signature;
        let target = self.module.target_config();
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.builder);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let (inputs, out) = (b.block_params(entry)[0], b.block_params(entry)[1]);
            let fail = b.create_block();
            let mut emitter = Emitter { b, plan, inputs, fail };
            let value = emitter.emit(&plan.root);
            let mut b = emitter.b;
            let bits = match plan.kind {
                Kind::Int => value,
                Kind::Float => b.ins().bitcast(types::I64, MemFlagsData::new(), value),
                Kind::Bool => b.ins().uextend(types::I64, value),
            };
            b.ins().store(MemFlagsData::trusted(), bits, out, 0);
            let ok = b.ins().iconst(types::I32, 0);
            b.ins().return_(&[ok]);
            b.switch_to_block(fail);
            let failed = b.ins().iconst(types::I32, 1);
            b.ins().return_(&[failed]);
            b.seal_all_blocks();
            b.finalize(target);
        }
        let defined = self.module.define_function(id, &mut self.ctx).map_err(|e| e.to_string());
        self.module.clear_context(&mut self.ctx);
        defined?;
        self.module.finalize_definitions().map_err(|e| e.to_string())?;
        Ok(self.module.get_finalized_function(id))
    }
}

struct Emitter<'a> {
    b: FunctionBuilder<'a>,
    plan: &'a Plan,
    inputs: Value,
    fail: Block,
}

fn ty(kind: Kind) -> Type {
    match kind {
        Kind::Int => types::I64,
        Kind::Float => types::F64,
        Kind::Bool => types::I8,
    }
}

impl Emitter<'_> {
    fn emit(&mut self, node: &Node) -> Value {
        match node {
            Node::Int(i) => self.b.ins().iconst(types::I64, *i),
            Node::Float(f) => self.b.ins().f64const(*f),
            Node::Bool(v) => self.b.ins().iconst(types::I8, i64::from(*v)),
            Node::Leaf(i) => self.leaf(*i),
            Node::Coalesce(i, rhs) => {
                let offset = (16 * *i + 8) as i32;
                let null = self.b.ins().load(types::I64, MemFlagsData::trusted(), self.inputs, offset);
                let kind = self.plan.leaves[*i].kind;
                let (present, absent, join) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.append_block_param(join, ty(kind));
                self.b.ins().brif(null, absent, &[], present, &[]);
                self.b.switch_to_block(present);
                let v = self.leaf(*i);
                self.b.ins().jump(join, &[v.into()]);
                self.b.switch_to_block(absent);
                let r = self.emit(rhs);
                self.b.ins().jump(join, &[r.into()]);
                self.b.switch_to_block(join);
                self.b.block_params(join)[0]
            }
            Node::Unary(UnaryOp::Not, x) => {
                let v = self.emit(x);
                self.b.ins().bxor_imm_u(v, 1)
            }
            Node::Unary(UnaryOp::Neg, x) => {
                let v = self.emit(x);
                if self.plan.kind_of(x) == Kind::Float {
                    return self.b.ins().fneg(v);
                }
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, v, i64::MIN);
                self.fail_if(min);
                self.b.ins().ineg(v)
            }
            Node::Binary(op @ (BinaryOp::And | BinaryOp::Or), l, r) => self.short_circuit(*op, l, r),
            Node::Binary(op, l, r) => self.binary(*op, l, r),
            Node::If(c, t, o) => {
                let cond = self.emit(c);
                let kind = self.plan.kind_of(t);
                let (then, otherwise, join) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.append_block_param(join, ty(kind));
                self.b.ins().brif(cond, then, &[], otherwise, &[]);
                self.b.switch_to_block(then);
                let v = self.emit(t);
                self.b.ins().jump(join, &[v.into()]);
                self.b.switch_to_block(otherwise);
                let w = self.emit(o);
                self.b.ins().jump(join, &[w.into()]);
                self.b.switch_to_block(join);
                self.b.block_params(join)[0]
            }
            Node::Call(function, args) => self.call(*function, args),
        }
    }

    /// The numeric builtins, each failing where `builtins.rs` returns an error.
    fn call(&mut self, function: BuiltinId, args: &[Node]) -> Value {
        let Some(first) = args.first() else { return self.b.ins().iconst(types::I64, 0) };
        let float = self.plan.kind_of(first) == Kind::Float;
        let x = self.emit(first);
        match function {
            BuiltinId::Abs if float => self.b.ins().fabs(x),
            BuiltinId::Abs => {
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                self.fail_if(min);
                self.b.ins().iabs(x)
            }
            BuiltinId::Min | BuiltinId::Max => {
                let y = match args.get(1) {
                    Some(second) => self.emit(second),
                    None => x,
                };
                // `min` keeps the first unless it is greater; `max` only when it is.
                let cc = if function == BuiltinId::Min {
                    (IntCC::SignedLessThanOrEqual, FloatCC::LessThanOrEqual)
                } else {
                    (IntCC::SignedGreaterThan, FloatCC::GreaterThan)
                };
                let first = if float {
                    let unordered = self.b.ins().fcmp(FloatCC::Unordered, x, y);
                    self.fail_if(unordered);
                    self.b.ins().fcmp(cc.1, x, y)
                } else {
                    self.b.ins().icmp(cc.0, x, y)
                };
                self.b.ins().select(first, x, y)
            }
            BuiltinId::Float if float => x,
            BuiltinId::Float => self.b.ins().fcvt_from_sint(types::F64, x),
            BuiltinId::Int | BuiltinId::Round if !float => x,
            BuiltinId::Int => {
                self.fail_unless_whole_range(x);
                let t = self.b.ins().trunc(x);
                self.b.ins().fcvt_to_sint_sat(types::I64, t)
            }
            _ => {
                // `round`: half-way cases away from zero, as Rust's `f64::round`.
                self.fail_unless_whole_range(x);
                let t = self.b.ins().trunc(x);
                let fraction = self.b.ins().fsub(x, t);
                let distance = self.b.ins().fabs(fraction);
                let half = self.b.ins().f64const(0.5);
                let up = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, distance, half);
                let one = self.b.ins().f64const(1.0);
                let step = self.b.ins().fcopysign(one, x);
                let away = self.b.ins().fadd(t, step);
                let rounded = self.b.ins().select(up, away, t);
                self.b.ins().fcvt_to_sint_sat(types::I64, rounded)
            }
        }
    }

    /// `int` and `round` of a float fail unless it is finite and under 9.2e18 in size.
    fn fail_unless_whole_range(&mut self, x: Value) {
        let size = self.b.ins().fabs(x);
        let limit = self.b.ins().f64const(9.2e18);
        // Unordered (a NaN) or too large: the tree walker's error.
        let outside = self.b.ins().fcmp(FloatCC::UnorderedOrGreaterThanOrEqual, size, limit);
        self.fail_if(outside);
    }

    fn leaf(&mut self, i: usize) -> Value {
        let offset = (16 * i) as i32;
        match self.plan.leaves[i].kind {
            Kind::Int => self.b.ins().load(types::I64, MemFlagsData::trusted(), self.inputs, offset),
            Kind::Float => self.b.ins().load(types::F64, MemFlagsData::trusted(), self.inputs, offset),
            Kind::Bool => {
                let word = self.b.ins().load(types::I64, MemFlagsData::trusted(), self.inputs, offset);
                self.b.ins().ireduce(types::I8, word)
            }
        }
    }

    /// Branches to the failure exit when `condition` (an i8) is set.
    fn fail_if(&mut self, condition: Value) {
        let next = self.b.create_block();
        self.b.ins().brif(condition, self.fail, &[], next, &[]);
        self.b.switch_to_block(next);
    }

    fn short_circuit(&mut self, op: BinaryOp, l: &Node, r: &Node) -> Value {
        let left = self.emit(l);
        let (right, join) = (self.b.create_block(), self.b.create_block());
        self.b.append_block_param(join, types::I8);
        if op == BinaryOp::And {
            self.b.ins().brif(left, right, &[], join, &[left.into()]);
        } else {
            self.b.ins().brif(left, join, &[left.into()], right, &[]);
        }
        self.b.switch_to_block(right);
        let value = self.emit(r);
        self.b.ins().jump(join, &[value.into()]);
        self.b.switch_to_block(join);
        self.b.block_params(join)[0]
    }

    fn float(&mut self, node: &Node, value: Value) -> Value {
        match self.plan.kind_of(node) {
            Kind::Int => self.b.ins().fcvt_from_sint(types::F64, value),
            _ => value,
        }
    }

    fn binary(&mut self, op: BinaryOp, l: &Node, r: &Node) -> Value {
        let (kl, kr) = (self.plan.kind_of(l), self.plan.kind_of(r));
        let (a, c) = (self.emit(l), self.emit(r));
        let ints = kl == Kind::Int && kr == Kind::Int;
        let bools = kl == Kind::Bool && kr == Kind::Bool;
        if ints || bools {
            let signed = ints;
            let compare = |op: BinaryOp| -> Option<IntCC> {
                Some(match op {
                    BinaryOp::Eq => IntCC::Equal,
                    BinaryOp::Ne => IntCC::NotEqual,
                    BinaryOp::Lt if signed => IntCC::SignedLessThan,
                    BinaryOp::Le if signed => IntCC::SignedLessThanOrEqual,
                    BinaryOp::Gt if signed => IntCC::SignedGreaterThan,
                    BinaryOp::Ge if signed => IntCC::SignedGreaterThanOrEqual,
                    BinaryOp::Lt => IntCC::UnsignedLessThan,
                    BinaryOp::Le => IntCC::UnsignedLessThanOrEqual,
                    BinaryOp::Gt => IntCC::UnsignedGreaterThan,
                    BinaryOp::Ge => IntCC::UnsignedGreaterThanOrEqual,
                    _ => return None,
                })
            };
            if let Some(cc) = compare(op) {
                return self.b.ins().icmp(cc, a, c);
            }
            let (value, overflow) = match op {
                BinaryOp::Add => self.b.ins().sadd_overflow(a, c),
                BinaryOp::Sub => self.b.ins().ssub_overflow(a, c),
                BinaryOp::Mul => self.b.ins().smul_overflow(a, c),
                // Division is float division; `plan` leaves nothing else here.
                _ => return self.float_binary(op, l, r, a, c),
            };
            self.fail_if(overflow);
            return value;
        }
        self.float_binary(op, l, r, a, c)
    }

    fn float_binary(&mut self, op: BinaryOp, l: &Node, r: &Node, a: Value, c: Value) -> Value {
        let (x, y) = (self.float(l, a), self.float(r, c));
        match op {
            BinaryOp::Add => self.b.ins().fadd(x, y),
            BinaryOp::Sub => self.b.ins().fsub(x, y),
            BinaryOp::Mul => self.b.ins().fmul(x, y),
            BinaryOp::Div => {
                let zero = self.b.ins().f64const(0.0);
                let by_zero = self.b.ins().fcmp(FloatCC::Equal, y, zero);
                self.fail_if(by_zero);
                self.b.ins().fdiv(x, y)
            }
            BinaryOp::Eq => self.b.ins().fcmp(FloatCC::Equal, x, y),
            BinaryOp::Ne => self.b.ins().fcmp(FloatCC::NotEqual, x, y),
            _ => {
                // Ordering a NaN is an error in the tree walker.
                let unordered = self.b.ins().fcmp(FloatCC::Unordered, x, y);
                self.fail_if(unordered);
                let cc = match op {
                    BinaryOp::Lt => FloatCC::LessThan,
                    BinaryOp::Le => FloatCC::LessThanOrEqual,
                    BinaryOp::Gt => FloatCC::GreaterThan,
                    _ => FloatCC::GreaterThanOrEqual,
                };
                self.b.ins().fcmp(cc, x, y)
            }
        }
    }
}
