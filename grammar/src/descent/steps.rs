//! Blocks, steps, their forms and clauses: one function per rule of
//! `flow.pest`, each moving the cursor as pest does (see the module above).

use super::{Bail, Parser, R};
use crate::ast::*;
use crate::span::Span;

impl<'s> Parser<'s> {
    // ------------------------------------------------------------ blocks and steps

    pub(super) fn block(&mut self) -> R<Block> {
        let start = self.pos;
        self.punct("{")?;
        let (mut steps, mut returns) = (Vec::new(), Vec::new());
        // Where a failed try leaves the cursor does not matter here: the
        // rule goes on with a skip and its closing brace.
        loop {
            self.skip();
            match self.peek_word() {
                Some("step") => steps.push(self.step()?),
                Some("return") => {
                    self.pos += 6;
                    self.skip();
                    returns.push(self.expr()?);
                }
                _ => break,
            }
        }
        self.skip();
        self.expect("}")?;
        Ok(Block { steps, returns, span: self.span(start), broken: Broken::default() })
    }

    fn step(&mut self) -> R<Step> {
        let start = self.pos;
        let name = self.named("step")?;
        self.punct("=")?;
        let form = self.form()?;
        self.skip();
        let mut clauses = Vec::new();
        while let Some(clause) = self.clause()? {
            clauses.push(clause);
            let save = self.pos;
            self.skip();
            if !matches!(self.peek_word(), Some("retry" | "timeout" | "catch" | "after")) {
                self.pos = save;
                break;
            }
        }
        Ok(Step { name, doc: self.doc(start), form, clauses, span: self.span(start) })
    }

    fn form(&mut self) -> R<Form> {
        self.nested(|p| {
            let start = p.pos;
            let kind = match p.peek_word() {
                Some("llm") => FormKind::Llm(p.llm_call("llm")?),
                Some("agent") => FormKind::Agent(p.llm_call("agent")?),
                Some("ask") if p.ask_follows() => p.ask_form()?,
                Some("route") => p.route_form()?,
                Some("when") => {
                    p.pos += 4;
                    p.skip();
                    let condition = p.expr()?;
                    p.skip();
                    p.punct("{")?;
                    let body = Box::new(p.form()?);
                    p.skip();
                    p.expect("}")?;
                    FormKind::When { condition, body }
                }
                Some("map") => p.map_form()?,
                Some("loop") => p.loop_form()?,
                _ => FormKind::Expr(p.expr()?),
            };
            Ok(Form { kind, span: p.span(start) })
        })
    }

    fn llm_call(&mut self, keyword: &str) -> R<LlmCall> {
        self.keyword(keyword)?;
        self.skip();
        let model = self.ident()?;
        self.skip();
        self.punct("->")?;
        let output = self.type_expr()?;
        self.skip();
        let (options, options_span) = self.record_lit_opt()?.ok_or(Bail)?;
        Ok(LlmCall { model, output, options, options_span })
    }

    /// `ask` is a step form only when `->` follows.
    fn ask_follows(&mut self) -> bool {
        let save = self.pos;
        self.pos += 3;
        self.skip();
        let arrow = self.at("->");
        self.pos = save;
        arrow
    }

    fn ask_form(&mut self) -> R<FormKind> {
        self.pos += 3;
        self.skip();
        self.punct("->")?;
        let output = self.type_expr()?;
        self.skip();
        let (options, options_span) = self.record_lit_opt()?.ok_or(Bail)?;
        Ok(FormKind::Ask(AskForm { output, options, options_span }))
    }

    fn route_form(&mut self) -> R<FormKind> {
        self.keyword("route")?;
        self.skip();
        self.punct("{")?;
        let mut route = Route { arms: Vec::new(), otherwise: None, else_span: None };
        // Where a failed try leaves the cursor does not matter here: the
        // rule goes on with a skip and its closing brace.
        loop {
            self.skip();
            let arm_start = self.pos;
            match self.peek_word() {
                Some("when") => {
                    self.pos += 4;
                    self.skip();
                    let condition = self.expr()?;
                    self.skip();
                    self.punct("=>")?;
                    let form = self.form()?;
                    route.arms.push(RouteArm { condition, form, span: self.span(arm_start) });
                }
                Some("else") => {
                    let keyword = self.keyword("else")?;
                    self.skip();
                    self.punct("=>")?;
                    let form = self.form()?;
                    if route.otherwise.is_none() {
                        route.else_span = Some(keyword);
                        route.otherwise = Some(Box::new(form));
                    } else {
                        // A second `else` is kept as an arm so the checker can report it.
                        let condition = Expr { kind: ExprKind::Bool(true), span: keyword };
                        route.arms.push(RouteArm { condition, form, span: self.span(arm_start) });
                    }
                }
                _ => break,
            }
        }
        self.skip();
        self.expect("}")?;
        Ok(FormKind::Route(route))
    }

    fn map_form(&mut self) -> R<FormKind> {
        let item = self.named("map")?;
        self.keyword("in")?;
        self.skip();
        let source = self.map_source()?;
        self.skip();
        let options = match self.peek() {
            b'(' => {
                let options = self.options()?.0;
                self.skip();
                options
            }
            _ => Vec::new(),
        };
        let body = self.block()?;
        Ok(FormKind::Map(MapForm { item, source, options, body }))
    }

    fn loop_form(&mut self) -> R<FormKind> {
        let keyword = self.keyword("loop")?;
        self.skip();
        let previous = match self.at_ident() {
            true => {
                let name = self.ident()?;
                self.skip();
                Some(name)
            }
            false => None,
        };
        let (options, options_span) = match self.peek() {
            b'(' => {
                let options = self.options()?;
                self.skip();
                options
            }
            _ => (Vec::new(), keyword),
        };
        let body = self.block()?;
        // pest keeps this skip when `until_clause?` is absent.
        self.skip();
        let until = match self.at_keyword("until") {
            true => {
                self.pos += 5;
                self.skip();
                Some(self.expr()?)
            }
            false => None,
        };
        Ok(FormKind::Loop(LoopForm { previous, options, options_span, body, until }))
    }

    /// `( name: expr, ... )`: a map's or a loop's options, with their span.
    fn options(&mut self) -> R<(Vec<RecordField>, Span)> {
        let start = self.pos;
        self.punct("(")?;
        let options = self.comma_list(b')', |p| p.peek_word().is_some(), |p| p.record_field())?;
        self.expect(")")?;
        Ok((options, self.span(start)))
    }

    // ------------------------------------------------------------ clauses

    /// A clause, or `None` (cursor unmoved) when none starts here.
    fn clause(&mut self) -> R<Option<Clause>> {
        let start = self.pos;
        let clause = match self.peek_word() {
            Some("retry") => Clause::Retry(self.retry()?),
            Some("timeout") => {
                self.pos += 7;
                self.skip();
                let duration = self.duration_lit()?;
                Clause::Timeout { duration, span: self.span(start) }
            }
            Some("catch") => Clause::Catch(self.catch()?),
            Some("after") => {
                self.pos += 5;
                self.skip();
                let mut steps = vec![self.ident()?];
                // `("," ~ ident)*`: the skip before the first try is kept.
                self.skip();
                if self.eat(",") {
                    self.skip();
                    steps.push(self.ident()?);
                    loop {
                        let save = self.pos;
                        self.skip();
                        if !self.eat(",") {
                            self.pos = save;
                            break;
                        }
                        self.skip();
                        steps.push(self.ident()?);
                    }
                }
                Clause::After { steps, span: self.span(start) }
            }
            _ => return Ok(None),
        };
        Ok(Some(clause))
    }

    fn retry(&mut self) -> R<Retry> {
        let start = self.pos;
        self.pos += 5;
        self.skip();
        let count_start = self.pos;
        let count = self.int_literal()?;
        let count_span = Span::new(count_start, self.pos);
        let mut retry =
            Retry { count: count as u64, count_span, backoff: None, jitter: false, on: None, span: count_span };
        self.skip();
        if self.at_keyword("backoff") {
            self.pos += 7;
            self.skip();
            let low = self.duration_lit()?;
            self.skip();
            let high = match self.eat("..") {
                true => {
                    self.skip();
                    Some(self.duration_lit()?)
                }
                false => None,
            };
            retry.backoff = Some((low, high));
            self.skip();
        }
        if self.at_keyword("jitter") {
            self.pos += 6;
            retry.jitter = true;
            self.skip();
        }
        if self.at_keyword("on") {
            self.pos += 2;
            self.skip();
            self.punct("[")?;
            let kinds = self.comma_list(b']', |p| p.peek_word().is_some(), |p| p.name())?;
            self.expect("]")?;
            retry.on = Some(kinds);
        }
        retry.span = self.span(start);
        Ok(retry)
    }

    fn catch(&mut self) -> R<Catch> {
        let start = self.pos;
        self.pos += 5;
        self.skip();
        let (mut binding, mut guard) = (None, None);
        if self.at_ident() {
            binding = Some(self.ident()?);
            self.skip();
            if self.at_keyword("when") {
                self.pos += 4;
                self.skip();
                guard = Some(self.expr()?);
                self.skip();
            }
        }
        self.punct("=>")?;
        let form = Box::new(self.form()?);
        Ok(Catch { binding, guard, form, span: self.span(start) })
    }

    fn duration_lit(&mut self) -> R<DurationLit> {
        let start = self.pos;
        let millis = self.duration()?;
        Ok(DurationLit { millis, span: Span::new(start, self.pos) })
    }
}
