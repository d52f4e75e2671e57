//! What a model action sends on every call, built once per run: the
//! answer's JSON Schema and its validator, and for agents the tools (as
//! native tool descriptions, or as a catalog in the prompt for JSON mode).

use crate::models::ToolSpec;
use flow_compiler::ir::{Callee, Program};
use flow_compiler::schema::{OutputSchema, checked_schema, decision_schema, output_schema, parameters_schema};
use flow_compiler::types::Ty;

/// What a model action sends every time, built once per run and action.
pub(crate) struct Prepared {
    pub schema: OutputSchema,
    pub validator: jsonschema::Validator,
    /// Tools described for native tool calling (empty in JSON mode).
    pub tools: Vec<ToolSpec>,
    /// Agent in JSON mode: the model picks tools by answering with JSON.
    pub json_tools: bool,
    /// In JSON mode, the tool catalog appended to the goal.
    pub catalog: String,
}

/// A tool as an agent sees it: name, parameters, doc comment.
type Described<'p> = (&'p str, Vec<(String, Ty)>, Option<&'p String>);

/// Builds the schema, validator and tool descriptions of a model action
/// answering `output`; `agent` gives an agent's tools and whether they are
/// offered through JSON answers rather than the API's tool calling.
pub(crate) fn prepare(program: &Program, output: &Ty, agent: Option<(&[Callee], bool)>) -> Result<Prepared, String> {
    let types = &program.types;
    let callees = agent.map_or(&[][..], |(c, _)| c);
    let described: Vec<Described> = callees
        .iter()
        .map(|c| match c {
            Callee::Tool(i) => {
                let t = &program.tools[*i];
                (t.name.as_str(), t.params.clone(), t.doc.as_ref())
            }
            Callee::Flow(i) => {
                let f = &program.flows[*i];
                (f.name.as_str(), flow_params(f), f.doc.as_ref())
            }
        })
        .collect();
    let json_tools = agent.is_some_and(|(_, json)| json);
    let (schema, tools, catalog) = if json_tools {
        let signatures: Vec<(&str, &[(String, Ty)])> = described.iter().map(|(n, p, _)| (*n, p.as_slice())).collect();
        let mut catalog = String::from("\n\nYou can use these tools:\n");
        for (name, params, doc) in &described {
            let params: Vec<String> = params.iter().map(|(n, ty)| format!("{n}: {ty}")).collect();
            catalog.push_str(&format!(
                "- {name}({}){}\n",
                params.join(", "),
                doc.map_or(String::new(), |d| format!(": {d}"))
            ));
        }
        catalog.push_str(
            "\nAnswer every turn with one JSON object: {\"tool\": NAME, \"arguments\": {...}} to call a tool \
             (its result comes back to you), or {\"final\": ANSWER} when you have the answer.",
        );
        (decision_schema(&signatures, output, types), Vec::new(), catalog)
    } else {
        let tools = described
            .iter()
            .map(|(name, params, doc)| ToolSpec {
                name: name.to_string(),
                description: doc.cloned().unwrap_or_default(),
                parameters: parameters_schema(params, types),
            })
            .collect();
        (output_schema(output, types), tools, String::new())
    };
    // What was read is checked under the fields' own names (the model saw their aliases).
    let checked = if json_tools { schema.schema.clone() } else { checked_schema(output, types).schema };
    let validator = jsonschema::validator_for(&checked).map_err(|e| format!("the output schema is invalid: {e}"))?;
    Ok(Prepared { schema, validator, tools, json_tools, catalog })
}

/// A flow's parameters as (name, type) pairs, the shape tools have.
pub(crate) fn flow_params(flow: &flow_compiler::ir::Flow) -> Vec<(String, Ty)> {
    flow.params.iter().map(|p| (p.name.clone(), p.ty.clone())).collect()
}
