//! Items, their parameters and types: one function per rule of `flow.pest`,
//! each moving the cursor as pest does (see the module above).

use super::{Bail, Parser, R};
use crate::ast::*;
use crate::build::{doc_before, member_doc};
use crate::span::Span;

impl<'s> Parser<'s> {
    pub(super) fn item(&mut self) -> R<Item> {
        let start = self.pos;
        let item = match self.peek_word() {
            Some("type") => self.type_def(start)?,
            Some("model") => self.model_def(start)?,
            Some("tool") => self.tool_def(start)?,
            Some("flow") => self.flow_def(start)?,
            Some("test") => self.test_def(start)?,
            _ => return Err(Bail),
        };
        Ok(item)
    }

    pub(super) fn doc(&self, start: usize) -> Option<String> {
        doc_before(self.src, start)
    }

    fn type_def(&mut self, start: usize) -> R<Item> {
        let name = self.named("type")?;
        let ty = if self.peek() == b'{' {
            self.record_type()?
        } else {
            self.punct("=")?;
            self.type_expr()?
        };
        let span = self.span(start);
        Ok(Item::Type(TypeDef { name, doc: self.doc(start), ty, span }))
    }

    fn model_def(&mut self, start: usize) -> R<Item> {
        let name = self.named("model")?;
        self.punct("=")?;
        let provider = self.ident()?;
        self.skip();
        self.punct("(")?;
        let model_id = self.str_lit()?;
        self.skip();
        self.punct(")")?;
        let options = self.record_lit_opt()?.map(|(fields, _)| fields).unwrap_or_default();
        let span = self.span(start);
        Ok(Item::Model(ModelDef { name, doc: self.doc(start), provider, model_id, options, span }))
    }

    fn tool_def(&mut self, start: usize) -> R<Item> {
        let (name, params, output) = self.signature("tool")?;
        self.skip();
        let implementation = if self.peek() == b'=' && self.peek_at(1) != b'=' && self.peek_at(1) != b'>' {
            self.pos += 1;
            self.skip();
            Some(self.tool_impl()?)
        } else {
            None
        };
        let span = self.span(start);
        Ok(Item::Tool(ToolDef { name, doc: self.doc(start), params, output, implementation, span }))
    }

    fn tool_impl(&mut self) -> R<ToolImpl> {
        let start = self.pos;
        if self.at_keyword("http") {
            self.pos += 4;
            self.skip();
            let method = match self.peek_word() {
                Some(m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE")) => m.to_string(),
                _ => return Err(Bail),
            };
            self.pos += method.len();
            self.skip();
            let url = self.template_lit()?;
            self.skip();
            let options = self.record_lit_opt()?.map(|(fields, _)| fields).unwrap_or_default();
            Ok(ToolImpl::Http { method, url, options, span: self.span(start) })
        } else {
            self.keyword("command")?;
            self.skip();
            let argv = self.list_lit()?;
            self.skip();
            let options = self.record_lit_opt()?.map(|(fields, _)| fields).unwrap_or_default();
            Ok(ToolImpl::Command { argv, options, span: self.span(start) })
        }
    }

    /// `KEYWORD name(params) -> T`, a tool's or a flow's head.
    fn signature(&mut self, keyword: &str) -> R<(Ident, Vec<Param>, TypeExpr)> {
        self.keyword(keyword)?;
        self.skip();
        let name = self.ident()?;
        self.skip();
        let params = self.params()?;
        self.skip();
        self.punct("->")?;
        Ok((name, params, self.type_expr()?))
    }

    fn params(&mut self) -> R<Vec<Param>> {
        self.punct("(")?;
        let params = self.comma_list(b')', |p| p.at_ident(), |p| p.param())?;
        self.expect(")")?;
        Ok(params)
    }

    fn param(&mut self) -> R<Param> {
        let start = self.pos;
        let name = self.ident()?;
        self.skip();
        self.punct(":")?;
        let ty = self.type_expr()?;
        Ok(Param { name, doc: self.doc(start), ty, span: self.span(start) })
    }

    fn flow_def(&mut self, start: usize) -> R<Item> {
        let (name, params, output) = self.signature("flow")?;
        self.skip();
        let body = self.block()?;
        let span = self.span(start);
        Ok(Item::Flow(FlowDef { name, doc: self.doc(start), params, output, body, span }))
    }

    fn test_def(&mut self, start: usize) -> R<Item> {
        let name = self.named("test")?;
        self.punct("{")?;
        let entries = self.separated_star(|p| p.peek_word().is_some(), |p| p.test_entry())?;
        self.skip();
        self.expect("}")?;
        let span = self.span(start);
        Ok(Item::Test(TestDef { name, doc: self.doc(start), entries, span }))
    }

    fn test_entry(&mut self) -> R<TestEntry> {
        if self.at_keyword("mock") {
            let save = self.pos;
            self.pos += 4;
            self.skip();
            if self.at_ident() {
                let target = self.ident()?;
                self.skip();
                self.punct(":")?;
                return Ok(TestEntry::Mock { target, value: self.expr()? });
            }
            self.pos = save;
        }
        let key = self.name()?;
        self.skip();
        self.punct(":")?;
        Ok(TestEntry::Field { key, value: self.expr()? })
    }

    // ------------------------------------------------------------ shapes of lists

    /// `(x ~ ","?)*` as pest runs it, the cursor just after the skip before it.
    pub(super) fn separated_star<T>(
        &mut self,
        starts: impl Fn(&Self) -> bool,
        mut one: impl FnMut(&mut Self) -> R<T>,
    ) -> R<Vec<T>> {
        let mut items = Vec::new();
        if !starts(self) {
            return Ok(items);
        }
        loop {
            items.push(one(self)?);
            self.skip();
            self.eat(",");
            let save = self.pos;
            self.skip();
            if !starts(self) {
                self.pos = save;
                return Ok(items);
            }
        }
    }

    /// `(x ~ ("," ~ x)* ~ ","?)?` then the skip before the closing bracket:
    /// the cursor ends at the closing bracket.
    pub(super) fn comma_list<T>(
        &mut self,
        close: u8,
        starts: impl Fn(&Self) -> bool,
        mut one: impl FnMut(&mut Self) -> R<T>,
    ) -> R<Vec<T>> {
        let mut items = Vec::new();
        if self.peek() == close {
            return Ok(items);
        }
        if !starts(self) {
            return Err(Bail);
        }
        loop {
            items.push(one(self)?);
            self.skip();
            if !self.eat(",") {
                break;
            }
            self.skip();
            if self.peek() == close {
                break;
            }
            if !starts(self) {
                return Err(Bail);
            }
        }
        self.skip();
        if self.peek() != close {
            return Err(Bail);
        }
        Ok(items)
    }

    // ------------------------------------------------------------ types

    pub(super) fn type_expr(&mut self) -> R<TypeExpr> {
        self.nested(|p| {
            let start = p.pos;
            let mut members = vec![p.type_postfix()?];
            p.skip();
            while p.peek() == b'|' && p.peek_at(1) != b'|' {
                p.pos += 1;
                p.skip();
                members.push(p.type_postfix()?);
                let save = p.pos;
                p.skip();
                if p.peek() != b'|' {
                    p.pos = save;
                    break;
                }
            }
            if members.len() == 1 {
                return Ok(members.pop().expect("one member"));
            }
            Ok(TypeExpr { kind: TypeExprKind::Union(members), span: p.span(start) })
        })
    }

    fn type_postfix(&mut self) -> R<TypeExpr> {
        let mut ty = self.type_primary()?;
        self.skip();
        if self.peek() != b'?' {
            return Ok(ty);
        }
        loop {
            self.pos += 1;
            let span = ty.span.to(Span::new(self.pos - 1, self.pos));
            ty = TypeExpr { kind: TypeExprKind::Optional(Box::new(ty)), span };
            let save = self.pos;
            self.skip();
            if self.peek() != b'?' {
                self.pos = save;
                return Ok(ty);
            }
        }
    }

    fn type_primary(&mut self) -> R<TypeExpr> {
        let start = self.pos;
        match self.peek() {
            b'[' => {
                self.pos += 1;
                self.skip();
                let inner = self.type_expr()?;
                self.skip();
                self.expect("]")?;
                Ok(TypeExpr { kind: TypeExprKind::List(Box::new(inner)), span: self.span(start) })
            }
            b'{' => self.record_type(),
            b'(' => {
                self.pos += 1;
                self.skip();
                let inner = self.type_expr()?;
                self.skip();
                self.expect(")")?;
                Ok(inner)
            }
            b'"' => {
                let literal = self.str_lit()?;
                self.skip();
                let alias = self.alias()?;
                let span = self.span(start);
                let doc = member_doc(self.src, start);
                Ok(TypeExpr { kind: TypeExprKind::Literal(literal.value, alias, doc), span })
            }
            b'-' | b'0'..=b'9' => self.number_type(),
            _ => match self.peek_word() {
                Some("map") => self.map_type(),
                Some(b @ ("true" | "false")) => {
                    self.pos += b.len();
                    Ok(TypeExpr { kind: TypeExprKind::Value(LiteralValue::Bool(b == "true")), span: self.span(start) })
                }
                Some("null") => {
                    self.pos += 4;
                    let span = self.span(start);
                    Ok(TypeExpr { kind: TypeExprKind::Named(Ident { name: "null".into(), span }), span })
                }
                _ => {
                    let name = self.ident()?;
                    Ok(TypeExpr { span: name.span, kind: TypeExprKind::Named(name) })
                }
            },
        }
    }

    /// `-`? digits (`.` digits)?, not followed by a name character.
    fn number_type(&mut self) -> R<TypeExpr> {
        let start = self.pos;
        let mut end = start + usize::from(self.peek() == b'-');
        end = self.digits_from(end).ok_or(Bail)?;
        if self.b.get(end) == Some(&b'.')
            && let Some(after) = self.digits_from(end + 1)
        {
            end = after;
        }
        if !self.ends_word(end) {
            return Err(Bail);
        }
        self.pos = end;
        let text = &self.src[start..end];
        let value = match text.parse::<i64>() {
            Ok(n) => LiteralValue::Int(n),
            Err(_) => LiteralValue::Float(text.parse().unwrap_or(f64::NAN)),
        };
        Ok(TypeExpr { kind: TypeExprKind::Value(value), span: Span::new(start, end) })
    }

    fn map_type(&mut self) -> R<TypeExpr> {
        let start = self.pos;
        self.keyword("map")?;
        self.skip();
        self.punct("<")?;
        let key = self.type_expr()?;
        self.skip();
        self.punct(",")?;
        let value = self.type_expr()?;
        self.skip();
        self.expect(">")?;
        Ok(TypeExpr { kind: TypeExprKind::Map(Box::new(key), Box::new(value)), span: self.span(start) })
    }

    fn record_type(&mut self) -> R<TypeExpr> {
        let start = self.pos;
        self.punct("{")?;
        let fields = self.separated_star(|p| p.peek_word().is_some(), |p| p.field_decl())?;
        self.skip();
        self.expect("}")?;
        Ok(TypeExpr { kind: TypeExprKind::Record(fields), span: self.span(start) })
    }

    fn field_decl(&mut self) -> R<FieldDecl> {
        let start = self.pos;
        let name = self.name()?;
        self.skip();
        self.punct(":")?;
        let ty = self.type_expr()?;
        self.skip();
        let alias = self.alias()?;
        Ok(FieldDecl { name, doc: self.doc(start), ty, alias, span: self.span(start) })
    }

    /// `as "Name"`, if it follows (`as` alone is a field's name).
    fn alias(&mut self) -> R<Option<String>> {
        if !self.at_keyword("as") {
            return Ok(None);
        }
        let save = self.pos;
        self.pos += 2;
        self.skip();
        if self.peek() != b'"' {
            self.pos = save;
            return Ok(None);
        }
        Ok(Some(self.str_lit()?.value))
    }
}
