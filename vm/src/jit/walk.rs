//! Finds the expressions of a program that compile: every maximal subtree
//! with a plan, in step actions, conditions, options, map and loop bodies,
//! catches and returns, and inside lambdas, records and lists (where the
//! tree walker's hook will meet them).

use super::plan::{Plan, plan};
use flow_compiler::ir::{Action, Block, Expr, ExprKind, Program, Tolerate};

pub fn program(program: &Program, found: &mut dyn FnMut(&Expr, Plan)) {
    for flow in &program.flows {
        block(&flow.body, found);
    }
}

fn block(b: &Block, found: &mut dyn FnMut(&Expr, Plan)) {
    for step in b.graph.node_weights() {
        action(&step.action, found);
        for catch in &step.catches {
            if let Some(guard) = &catch.guard {
                expr(guard, found);
            }
            action(&catch.action, found);
        }
    }
    expr(&b.ret, found);
}

fn action(a: &Action, found: &mut dyn FnMut(&Expr, Plan)) {
    match a {
        Action::Expr(e) => expr(e, found),
        Action::Call { args, .. } => args.iter().for_each(|(_, e)| expr(e, found)),
        Action::Llm(call) => {
            expr(&call.prompt, found);
            for e in
                [&call.system, &call.messages, &call.temperature, &call.max_tokens, &call.repair].into_iter().flatten()
            {
                expr(e, found);
            }
        }
        Action::Agent(call) => {
            expr(&call.goal, found);
            for e in [&call.system, &call.messages, &call.max_turns, &call.temperature, &call.max_tokens]
                .into_iter()
                .flatten()
            {
                expr(e, found);
            }
        }
        Action::Route(branches) => {
            for b in branches {
                if let Some(c) = &b.condition {
                    expr(c, found);
                }
                action(&b.action, found);
            }
        }
        Action::When { condition, action: inner, .. } => {
            expr(condition, found);
            action(inner, found);
        }
        Action::Map(map) => {
            expr(&map.list, found);
            if let Some(c) = &map.concurrency {
                expr(c, found);
            }
            if let Some(Tolerate::Count(c)) = &map.tolerate {
                expr(c, found);
            }
            block(&map.body, found);
        }
        Action::Loop(lp) => {
            expr(&lp.max, found);
            if let Some(until) = &lp.until {
                expr(until, found);
            }
            block(&lp.body, found);
        }
        Action::Ask(ask) => expr(&ask.prompt, found),
    }
}

fn expr(e: &Expr, found: &mut dyn FnMut(&Expr, Plan)) {
    if let Some(p) = plan(e) {
        found(e, p);
        return;
    }
    match &e.kind {
        ExprKind::Concat(parts) | ExprKind::List(parts) => parts.iter().for_each(|p| expr(p, found)),
        ExprKind::Record(fields) => fields.iter().for_each(|(_, v)| expr(v, found)),
        ExprKind::Field { target, .. } => expr(target, found),
        ExprKind::Index { target, index } => {
            expr(target, found);
            expr(index, found);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| expr(a, found)),
        ExprKind::Method { target, args, .. } => {
            expr(target, found);
            args.iter().for_each(|a| expr(a, found));
        }
        ExprKind::If { condition, then, otherwise } => {
            expr(condition, found);
            expr(then, found);
            expr(otherwise, found);
        }
        ExprKind::Lambda { body, .. } => expr(body, found),
        ExprKind::Unary { operand, .. } => expr(operand, found),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, found);
            expr(rhs, found);
        }
        _ => {}
    }
}
