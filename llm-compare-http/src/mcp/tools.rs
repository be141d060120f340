//! The MCP door's tools, as plain calls of the service: compare models on a prompt, list
//! the models, run an evaluation, read the leaderboard. What each takes is a JSON Schema
//! (`list`); what each answers is JSON (`call`). No MCP types here: the transports
//! (`mcp/mod.rs`) wrap them.

use futures::StreamExt;
use llm_compare_core::{Error, EventKind, Result};
use llm_compare_service::eval::EvalEvent;
use llm_compare_service::eval::runs::{CreateEval, DatasetUpload};
use llm_compare_service::{CreateComparison, Principal, Service};
use serde::Deserialize;
use serde_json::{Value, json};

/// A tool: its name, what it does, and the JSON Schema of its arguments.
pub(crate) struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
}

/// The tools, in the order they are listed.
pub(crate) fn list() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "compare",
            description: "Send one prompt to several models at once and compare their answers: each model's text, cost (USD), time to first token and total latency (ms), tokens, or its error.",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "description": "What to ask every model"},
                    "models": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                               "description": "Models as provider/model (see list_models), e.g. sim/echo"},
                    "system": {"type": "string", "description": "A system prompt for every model"},
                    "max_tokens": {"type": "integer", "minimum": 1, "description": "Most tokens each model may write"}
                },
                "required": ["prompt", "models"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "list_models",
            description: "The models this server can call: id, provider, context window, prices per million tokens, capabilities, and whether each can be used now.",
            input_schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        },
        ToolSpec {
            name: "run_evaluation",
            description: "Evaluate models over rows of prompts (each row compared across the models, checked against its assertions, optionally judged pairwise) and answer the run's summary: pass rates, cost, latency, win rates.",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "models": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "rows": {"type": "array", "minItems": 1, "description": "Dataset rows, as in a JSONL dataset: {prompt, id?, expected?, assert?, category?}",
                             "items": {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}},
                    "judge": {"type": "string", "description": "A model that judges every pair of answers"},
                    "repeat": {"type": "integer", "minimum": 1, "description": "Runs of each row"}
                },
                "required": ["models", "rows"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "leaderboard",
            description: "The models ranked by the votes cast on their answers (people's votes; Bradley-Terry ratings with confidence intervals).",
            input_schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        },
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareArgs {
    prompt: String,
    models: Vec<String>,
    system: Option<String>,
    max_tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalArgs {
    models: Vec<String>,
    rows: Vec<Value>,
    judge: Option<String>,
    repeat: Option<u32>,
}

fn args<T: serde::de::DeserializeOwned>(tool: &str, args: Value) -> Result<T> {
    serde_json::from_value(args).map_err(|e| Error::invalid("arguments", format!("{tool}: {e}")))
}

/// Calls tool `name` with `arguments` for `who`: its answer, or the service's error (an
/// unknown tool is [`Error::NotFound`]).
pub(crate) async fn call(
    service: &Service,
    who: &Principal,
    name: &str,
    arguments: Value,
) -> Result<Value> {
    match name {
        "compare" => compare(service, who, args(name, arguments)?).await,
        "list_models" => Ok(json!({"models": service.models_for(who).await})),
        "run_evaluation" => evaluate(service, who, args(name, arguments)?).await,
        "leaderboard" => {
            Ok(serde_json::to_value(service.leaderboard(None, None).await?).unwrap_or_default())
        }
        other => Err(Error::NotFound(format!(
            "no tool `{other}`: compare, list_models, run_evaluation, leaderboard"
        ))),
    }
}

/// A comparison through the service's front door (keys, limits, budget, stored with the
/// caller's comparisons), followed to its end.
async fn compare(service: &Service, who: &Principal, a: CompareArgs) -> Result<Value> {
    let body = json!({
        "prompt": a.prompt, "models": a.models, "system": a.system,
        "params": {"max_tokens": a.max_tokens},
    });
    let body: CreateComparison =
        serde_json::from_value(body).map_err(|e| Error::invalid("arguments", e.to_string()))?;
    let submitted = service.submit(who, body).await?;
    let mut events = service
        .subscribe(&who.user, &submitted.request_id, 0)
        .await?;
    while let Some(e) = events.next().await {
        let EventKind::Complete(c) = e.kind else {
            continue;
        };
        let models: Vec<Value> = c
            .results
            .iter()
            .map(|r| {
                json!({
                    "model": r.model,
                    "text": r.text,
                    "error": r.error.as_ref().map(|e| json!({"code": e.code, "message": e.message})),
                    "cost_usd": r.cost.total_usd.map(llm_compare_core::Usd::as_f64),
                    "cost_source": r.cost.source,
                    "ttft_ms": r.timing.ttft_ms,
                    "total_ms": r.timing.total_ms,
                    "input_tokens": r.usage.input_tokens,
                    "output_tokens": r.usage.output_tokens,
                })
            })
            .collect();
        return Ok(json!({
            "comparison_id": submitted.request_id,
            "status": c.status,
            "models": models,
        }));
    }
    Err(Error::Internal(
        "the comparison ended without its result".into(),
    ))
}

/// An evaluation run through the service (its limits: rows, runs at once), followed to its
/// summary.
async fn evaluate(service: &Service, who: &Principal, a: EvalArgs) -> Result<Value> {
    let content = a
        .rows
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let started = service
        .start_evaluation(
            who,
            CreateEval {
                dataset: DatasetUpload {
                    name: "rows.jsonl".into(),
                    content,
                },
                models: a.models,
                judge: a.judge,
                concurrency: None,
                repeat: a.repeat,
                allow_self_judge: false,
                prompt_template: None,
                resume: None,
            },
        )
        .await?;
    let mut events = service
        .eval_events(&who.user, &started.run_id, 0)
        .await?
        .events;
    while let Some((_, e)) = events.next().await {
        match e {
            EvalEvent::Summary(s) => {
                return Ok(json!({"run_id": started.run_id, "summary": s}));
            }
            EvalEvent::Cancelled { rows_done, .. } => {
                return Err(Error::Conflict(format!(
                    "evaluation run {} was cancelled after {rows_done} rows",
                    started.run_id
                )));
            }
            _ => {}
        }
    }
    Err(Error::Internal(format!(
        "evaluation run {} ended without its summary",
        started.run_id
    )))
}
