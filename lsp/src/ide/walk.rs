//! Every expression and every field declaration of a file, in source order:
//! what the features that look at syntax (fields, record keys, methods)
//! search, since the analysis records names and types but not those.

use flow_grammar::ast::*;

/// What a file holds besides names: its expressions (nested ones too) and
/// the fields its types declare.
#[derive(Default)]
pub struct Syntax<'a> {
    pub exprs: Vec<&'a Expr>,
    pub fields: Vec<&'a FieldDecl>,
    /// Keys of record literals and option records.
    pub keys: Vec<&'a Ident>,
}

pub fn syntax(file: &File) -> Syntax<'_> {
    let mut s = Syntax::default();
    for item in &file.items {
        match item {
            Item::Type(t) => s.type_expr(&t.ty),
            Item::Model(m) => s.record(&m.options),
            Item::Tool(t) => {
                t.params.iter().for_each(|p| s.type_expr(&p.ty));
                s.type_expr(&t.output);
                match &t.implementation {
                    Some(ToolImpl::Http { options, .. }) => s.record(options),
                    Some(ToolImpl::Command { argv, options, .. }) => {
                        s.expr(argv);
                        s.record(options);
                    }
                    None => {}
                }
            }
            Item::Flow(f) => {
                f.params.iter().for_each(|p| s.type_expr(&p.ty));
                s.type_expr(&f.output);
                s.block(&f.body);
            }
            Item::Test(t) => {
                for entry in &t.entries {
                    match entry {
                        TestEntry::Field { value, .. } | TestEntry::Mock { value, .. } => s.expr(value),
                    }
                }
            }
        }
    }
    s
}

impl<'a> Syntax<'a> {
    fn record(&mut self, fields: &'a [RecordField]) {
        for f in fields {
            self.keys.push(&f.key);
            self.expr(&f.value);
        }
    }

    fn block(&mut self, block: &'a Block) {
        for step in &block.steps {
            self.form(&step.form);
            for clause in &step.clauses {
                if let Clause::Catch(c) = clause {
                    if let Some(guard) = &c.guard {
                        self.expr(guard);
                    }
                    self.form(&c.form);
                }
            }
        }
        block.returns.iter().for_each(|r| self.expr(r));
    }

    fn form(&mut self, form: &'a Form) {
        match &form.kind {
            FormKind::Expr(e) => self.expr(e),
            FormKind::Llm(call) | FormKind::Agent(call) => {
                self.type_expr(&call.output);
                self.record(&call.options);
            }
            FormKind::Ask(ask) => {
                self.type_expr(&ask.output);
                self.record(&ask.options);
            }
            FormKind::Route(route) => {
                for arm in &route.arms {
                    self.expr(&arm.condition);
                    self.form(&arm.form);
                }
                if let Some(otherwise) = &route.otherwise {
                    self.form(otherwise);
                }
            }
            FormKind::When { condition, body } => {
                self.expr(condition);
                self.form(body);
            }
            FormKind::Map(map) => {
                self.expr(&map.source);
                self.record(&map.options);
                self.block(&map.body);
            }
            FormKind::Loop(lp) => {
                self.record(&lp.options);
                self.block(&lp.body);
                if let Some(until) = &lp.until {
                    self.expr(until);
                }
            }
        }
    }

    fn expr(&mut self, e: &'a Expr) {
        self.exprs.push(e);
        match &e.kind {
            ExprKind::List(items) => items.iter().for_each(|x| self.expr(x)),
            ExprKind::Record(fields) => self.record(fields),
            ExprKind::Field { target, .. } => self.expr(target),
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.expr(index);
            }
            ExprKind::Call { args, .. } => args.iter().for_each(|a| self.expr(&a.value)),
            ExprKind::Method { target, args, .. } => {
                self.expr(target);
                args.iter().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::If { condition, then, otherwise } => {
                self.expr(condition);
                self.expr(then);
                self.expr(otherwise);
            }
            ExprKind::Lambda { body, .. } => self.expr(body),
            ExprKind::Str(parts) => {
                for part in parts {
                    if let StrPart::Interp(x) = part {
                        self.expr(x);
                    }
                }
            }
            _ => {}
        }
    }

    fn type_expr(&mut self, t: &'a TypeExpr) {
        match &t.kind {
            TypeExprKind::List(inner) | TypeExprKind::Optional(inner) => self.type_expr(inner),
            TypeExprKind::Map(k, v) => {
                self.type_expr(k);
                self.type_expr(v);
            }
            TypeExprKind::Record(fields) => {
                for f in fields {
                    self.fields.push(f);
                    self.type_expr(&f.ty);
                }
            }
            TypeExprKind::Union(members) => members.iter().for_each(|m| self.type_expr(m)),
            _ => {}
        }
    }
}
