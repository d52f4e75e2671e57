//! Printing the graph IR: a text dump (for snapshots and debugging), and
//! Mermaid or DOT diagrams (`flowc graph`).

use crate::ir::*;
use petgraph::Direction;
use petgraph::visit::EdgeRef;
use std::fmt::Write;

/// The whole program as text: one line per step with its id, type, action
/// and clauses, then the edges into it.
pub fn dump(program: &Program) -> String {
    let mut out = String::new();
    for tool in &program.tools {
        let params: Vec<String> = tool.params.iter().map(|(n, t)| format!("{n}: {t}")).collect();
        let how = match &tool.implementation {
            ToolImpl::Host => "host".to_string(),
            ToolImpl::Http { method, url, timeout_ms, .. } => format!("http {method} {url} timeout={timeout_ms:?}"),
            ToolImpl::Command { argv, timeout_ms } => format!("command {argv:?} timeout={timeout_ms:?}"),
        };
        let _ = writeln!(out, "tool {}({}) -> {} = {how}", tool.name, params.join(", "), tool.output);
    }
    for model in &program.models {
        let _ = writeln!(
            out,
            "model {} = {}({:?}) {}",
            model.name,
            model.provider,
            model.model_id,
            model_options(&model.options)
        );
    }
    for flow in &program.flows {
        let params: Vec<String> = flow.params.iter().map(|p| format!("${}: {}", p.slot, p.ty)).collect();
        let _ = writeln!(out, "\nflow {}({}) -> {}", flow.name, params.join(", "), flow.output);
        dump_block(program, &flow.body, 1, &mut out);
    }
    for test in &program.tests {
        let _ = writeln!(out, "\ntest {} runs {}", test.name, program.flows[test.flow].name);
    }
    out
}

fn dump_block(program: &Program, block: &Block, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(out, "{pad}block {} ({} slots)", block.id, block.slots);
    for node in block.graph.node_indices() {
        let step = &block.graph[node];
        let _ = write!(out, "{pad}  ${} {}: {} = ", step.slot, step.id, step.ty);
        dump_action(program, &step.action, depth + 2, out);
        if let Some(r) = &step.retry {
            let kinds: Vec<&str> = r.on.iter().map(|k| k.as_str()).collect();
            let _ = write!(out, " retry {} {:?} jitter={} on [{}]", r.retries, r.backoff, r.jitter, kinds.join(", "));
        }
        if let Some(t) = step.timeout_ms {
            let _ = write!(out, " timeout {t}ms");
        }
        out.push('\n');
        let inputs: Vec<String> = block
            .graph
            .edges_directed(node, Direction::Incoming)
            .map(|e| match e.weight() {
                Edge::Data(ty) => format!("{} ({ty})", block.graph[e.source()].name),
                Edge::After => format!("{} (after)", block.graph[e.source()].name),
            })
            .collect();
        if !inputs.is_empty() {
            let _ = writeln!(out, "{pad}    <- {}", inputs.join(", "));
        }
        for catch in &step.catches {
            let _ = write!(out, "{pad}    {} binding={:?}", catch.id, catch.binding);
            if let Some(g) = &catch.guard {
                let _ = write!(out, " when {}", expr(g));
            }
            out.push_str(" => ");
            dump_action(program, &catch.action, depth + 3, out);
            out.push('\n');
        }
    }
    let _ = writeln!(out, "{pad}  return {}", expr(&block.ret));
}

fn dump_action(program: &Program, action: &Action, depth: usize, out: &mut String) {
    match action {
        Action::Expr(e) => out.push_str(&expr(e)),
        Action::Call { callee, args } => {
            let args: Vec<String> = args.iter().map(|(n, e)| format!("{n}: {}", expr(e))).collect();
            let _ = write!(out, "call {}({})", callee_name(program, *callee), args.join(", "));
        }
        Action::Llm(call) => {
            let _ = write!(
                out,
                "llm {} -> {} {{ prompt: {} }}",
                program.models[call.model].name,
                call.output,
                expr(&call.prompt)
            );
        }
        Action::Agent(call) => {
            let tools: Vec<&str> = call.tools.iter().map(|c| callee_name(program, *c)).collect();
            let _ = write!(
                out,
                "agent {} -> {} {{ goal: {}, tools: [{}] }}",
                program.models[call.model].name,
                call.output,
                expr(&call.goal),
                tools.join(", ")
            );
        }
        Action::Ask(ask) => {
            let _ = write!(out, "ask -> {} {{ prompt: {} }}", ask.output, expr(&ask.prompt));
        }
        Action::Route(branches) => {
            out.push_str("route");
            let pad = "  ".repeat(depth);
            for b in branches {
                let cond = b.condition.as_ref().map_or("else".to_string(), |c| format!("when {}", expr(c)));
                let _ = write!(out, "\n{pad}{} {cond} => ", b.id);
                dump_action(program, &b.action, depth + 1, out);
            }
        }
        Action::When { id, condition, action } => {
            let _ = write!(out, "when {} {{ {id}: ", expr(condition));
            dump_action(program, action, depth + 1, out);
            out.push_str(" }");
        }
        Action::Map(map) => {
            let _ = write!(out, "map ${} in {}", map.item_slot, expr(&map.list));
            if let Some(c) = &map.concurrency {
                let _ = write!(out, " concurrency={}", expr(c));
            }
            match &map.tolerate {
                Some(Tolerate::Percent(p)) => {
                    let _ = write!(out, " tolerate={p}%");
                }
                Some(Tolerate::Count(c)) => {
                    let _ = write!(out, " tolerate={}", expr(c));
                }
                None => {}
            }
            out.push('\n');
            dump_block(program, &map.body, depth, out);
            // The caller ends the line.
            if out.ends_with('\n') {
                out.pop();
            }
        }
        Action::Loop(lp) => {
            let _ = write!(out, "loop max={}", expr(&lp.max));
            if let Some(slot) = lp.previous_slot {
                let _ = write!(out, " previous=${slot}");
            }
            if let Some(u) = &lp.until {
                let _ = write!(out, " until {}", expr(u));
            }
            out.push('\n');
            dump_block(program, &lp.body, depth, out);
            if out.ends_with('\n') {
                out.pop();
            }
        }
    }
}

fn callee_name(program: &Program, callee: Callee) -> &str {
    match callee {
        Callee::Tool(i) => &program.tools[i].name,
        Callee::Flow(i) => &program.flows[i].name,
    }
}

/// An IR expression in a compact syntax: `$n` is slot n of the current frame,
/// `$up.n` a slot `up` frames out, `@n` a lambda parameter.
pub fn expr(e: &Expr) -> String {
    let list = |items: &[Expr]| items.iter().map(expr).collect::<Vec<_>>().join(", ");
    match &e.kind {
        ExprKind::Null => "null".into(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Int(i) => i.to_string(),
        ExprKind::Float(f) => format!("{f:?}"),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Duration(ms) => format!("{ms}ms"),
        ExprKind::Percent(p) => format!("{p}%"),
        ExprKind::Concat(parts) => format!("concat({})", list(parts)),
        ExprKind::List(items) => format!("[{}]", list(items)),
        ExprKind::Record(fields) => {
            let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {}", expr(v))).collect();
            format!("{{{}}}", fields.join(", "))
        }
        ExprKind::Var(Var::Slot { up: 0, slot }) => format!("${slot}"),
        ExprKind::Var(Var::Slot { up, slot }) => format!("${up}.{slot}"),
        ExprKind::Var(Var::Local(i)) => format!("@{i}"),
        ExprKind::Field { target, name, optional } => {
            format!("{}{}{name}", expr(target), if *optional { "?." } else { "." })
        }
        ExprKind::Index { target, index } => format!("{}[{}]", expr(target), expr(index)),
        ExprKind::Call { function, args } => format!("{}({})", function.name(), list(args)),
        ExprKind::Method { target, method, args, optional } => {
            format!("{}{}{}({})", expr(target), if *optional { "?." } else { "." }, method.name(), list(args))
        }
        ExprKind::Lambda { first, arity, body } => {
            let params: Vec<String> = (*first..first + arity).map(|i| format!("@{i}")).collect();
            format!("({}) => {}", params.join(", "), expr(body))
        }
        ExprKind::Unary { op, operand } => format!("{}{}", op.symbol(), expr(operand)),
        ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", expr(lhs), op.symbol(), expr(rhs)),
        ExprKind::If { condition, then, otherwise } => {
            format!("(if {} {{ {} }} else {{ {} }})", expr(condition), expr(then), expr(otherwise))
        }
    }
}

/// Mermaid `flowchart` text: a subgraph per flow and per map body, a node
/// per step and per route or `when` branch, labelled edges for data
/// (with its type) and dotted ones for `after`.
pub fn mermaid(program: &Program) -> String {
    let mut out = String::from("flowchart TD\n");
    for flow in &program.flows {
        let _ = writeln!(out, "  subgraph {}[\"flow {}\"]", mermaid_id(&flow.body.id), flow.name);
        mermaid_block(program, &flow.body, 2, &mut out);
        out.push_str("  end\n");
    }
    out
}

fn mermaid_block(program: &Program, block: &Block, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for node in block.graph.node_indices() {
        let step = &block.graph[node];
        let id = mermaid_id(&step.id);
        let _ = writeln!(
            out,
            "{pad}{id}[\"{}: {}<br/>{}\"]",
            step.name,
            label(&step.ty.to_string()),
            action_summary(program, &step.action)
        );
        mermaid_branches(program, &step.id, &step.action, depth, out);
        for catch in &step.catches {
            let cid = mermaid_id(&catch.id);
            let _ = writeln!(out, "{pad}{cid}([\"catch: {}\"])", action_summary(program, &catch.action));
            let _ = writeln!(out, "{pad}{id} -. error .-> {cid}");
        }
    }
    for edge in block.graph.edge_references() {
        let from = mermaid_id(&block.graph[edge.source()].id);
        let to = mermaid_id(&block.graph[edge.target()].id);
        match edge.weight() {
            Edge::Data(ty) => {
                let _ = writeln!(out, "{pad}{from} -->|\"{}\"| {to}", label(&ty.to_string()));
            }
            Edge::After => {
                let _ = writeln!(out, "{pad}{from} -.->|after| {to}");
            }
        }
    }
}

fn mermaid_branches(program: &Program, parent: &NodeId, action: &Action, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let from = mermaid_id(parent);
    match action {
        Action::Route(branches) => {
            for b in branches {
                let bid = mermaid_id(&b.id);
                let cond = b.condition.as_ref().map_or("else".to_string(), |c| label(&expr(c)));
                let _ = writeln!(out, "{pad}{bid}([\"{}\"])", action_summary(program, &b.action));
                let _ = writeln!(out, "{pad}{from} -->|\"{cond}\"| {bid}");
            }
        }
        Action::When { id, condition, action } => {
            let bid = mermaid_id(id);
            let _ = writeln!(out, "{pad}{bid}([\"{}\"])", action_summary(program, action));
            let _ = writeln!(out, "{pad}{from} -->|\"{}\"| {bid}", label(&expr(condition)));
        }
        Action::Map(map) => {
            let bid = mermaid_id(&map.body.id);
            let _ = writeln!(out, "{pad}subgraph {bid}[\"each item\"]");
            mermaid_block(program, &map.body, depth + 1, out);
            let _ = writeln!(out, "{pad}end");
            let _ = writeln!(out, "{pad}{from} --> {bid}");
        }
        Action::Loop(lp) => {
            let bid = mermaid_id(&lp.body.id);
            let _ = writeln!(out, "{pad}subgraph {bid}[\"each iteration\"]");
            mermaid_block(program, &lp.body, depth + 1, out);
            let _ = writeln!(out, "{pad}end");
            let _ = writeln!(out, "{pad}{from} --> {bid}");
            let until = lp.until.as_ref().map_or("again".to_string(), |u| format!("until {}", label(&expr(u))));
            let _ = writeln!(out, "{pad}{bid} -.->|\"{until}\"| {bid}");
        }
        _ => {}
    }
}

/// Graphviz DOT text, with the same nodes and edges as [`mermaid`].
pub fn dot(program: &Program) -> String {
    let mut out = String::from("digraph flow {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for flow in &program.flows {
        let _ = writeln!(out, "  subgraph \"cluster_{}\" {{\n    label=\"flow {}\";", flow.body.id, flow.name);
        dot_block(program, &flow.body, 2, &mut out);
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

fn dot_block(program: &Program, block: &Block, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for node in block.graph.node_indices() {
        let step = &block.graph[node];
        let summary = action_summary(program, &step.action);
        let _ = writeln!(
            out,
            "{pad}\"{}\" [label=\"{}: {}\\n{}\"];",
            step.id,
            step.name,
            dot_escape(&step.ty.to_string()),
            dot_escape(&summary)
        );
        match &step.action {
            Action::Route(branches) => {
                for b in branches {
                    let cond = b.condition.as_ref().map_or("else".to_string(), expr);
                    let _ = writeln!(
                        out,
                        "{pad}\"{}\" [shape=ellipse, label=\"{}\"];",
                        b.id,
                        dot_escape(&action_summary(program, &b.action))
                    );
                    let _ = writeln!(out, "{pad}\"{}\" -> \"{}\" [label=\"{}\"];", step.id, b.id, dot_escape(&cond));
                }
            }
            Action::When { id, condition, action } => {
                let _ = writeln!(
                    out,
                    "{pad}\"{id}\" [shape=ellipse, label=\"{}\"];",
                    dot_escape(&action_summary(program, action))
                );
                let _ = writeln!(out, "{pad}\"{}\" -> \"{id}\" [label=\"{}\"];", step.id, dot_escape(&expr(condition)));
            }
            Action::Map(map) => dot_body(program, step, &map.body, "each item", "each", depth, out),
            Action::Loop(lp) => dot_body(program, step, &lp.body, "each iteration", "repeat", depth, out),
            _ => {}
        }
        for catch in &step.catches {
            let _ = writeln!(
                out,
                "{pad}\"{}\" [shape=ellipse, label=\"catch: {}\"];",
                catch.id,
                dot_escape(&action_summary(program, &catch.action))
            );
            let _ = writeln!(out, "{pad}\"{}\" -> \"{}\" [style=dotted, label=\"error\"];", step.id, catch.id);
        }
    }
    for edge in block.graph.edge_references() {
        let from = &block.graph[edge.source()].id;
        let to = &block.graph[edge.target()].id;
        match edge.weight() {
            Edge::Data(ty) => {
                let _ = writeln!(out, "{pad}\"{from}\" -> \"{to}\" [label=\"{}\"];", dot_escape(&ty.to_string()));
            }
            Edge::After => {
                let _ = writeln!(out, "{pad}\"{from}\" -> \"{to}\" [style=dashed, label=\"after\"];");
            }
        }
    }
}

/// A map's or loop's body as a cluster, with a dashed edge from its step.
fn dot_body(program: &Program, step: &Step, body: &Block, title: &str, edge: &str, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(out, "{pad}subgraph \"cluster_{}\" {{\n{pad}  label=\"{title}\";", body.id);
    dot_block(program, body, depth + 1, out);
    let _ = writeln!(out, "{pad}}}");
    if let Some(first) = body.graph.node_indices().next() {
        let _ = writeln!(out, "{pad}\"{}\" -> \"{}\" [style=dashed, label=\"{edge}\"];", step.id, body.graph[first].id);
    }
}

/// One line saying what an action does, for diagram labels.
fn action_summary(program: &Program, action: &Action) -> String {
    let summary = match action {
        Action::Expr(_) => "expression".to_string(),
        Action::Call { callee: Callee::Tool(i), .. } => format!("tool {}", program.tools[*i].name),
        Action::Call { callee: Callee::Flow(i), .. } => format!("flow {}", program.flows[*i].name),
        Action::Llm(call) => format!("llm {}", program.models[call.model].name),
        Action::Agent(call) => format!("agent {}", program.models[call.model].name),
        Action::Ask(ask) => format!("ask {}", ask.output),
        Action::Route(_) => "route".to_string(),
        Action::When { .. } => "when".to_string(),
        Action::Map(_) => "map".to_string(),
        Action::Loop(_) => "loop".to_string(),
    };
    label(&summary)
}

fn mermaid_id(id: &NodeId) -> String {
    // `/` becomes `__`: names are letters, digits and `_`, so this rarely collides.
    id.as_str().replace('/', "__")
}

/// Mermaid labels are in double quotes; entity codes keep the markup intact.
fn label(text: &str) -> String {
    text.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;").replace('|', "#124;")
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The options a model declares, `{name: value, ...}`.
fn model_options(o: &ModelOptions) -> String {
    let mut parts = Vec::new();
    macro_rules! given {
        ($($field:ident),*) => {
            $(if let Some(v) = &o.$field {
                parts.push(format!("{}: {v:?}", stringify!($field)));
            })*
        };
    }
    given!(
        temperature,
        max_tokens,
        base_url,
        concurrency,
        rpm,
        tpm,
        timeout_ms,
        repair,
        api_key_env,
        input_price,
        output_price,
        stream,
        idle_timeout_ms,
        tool_calling
    );
    format!("{{{}}}", parts.join(", "))
}
