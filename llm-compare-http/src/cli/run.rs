//! `llm-compare run`: one prompt to N models, live in the terminal or as JSON lines.

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use comfy_table::{CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use llm_compare_core::{
    CompareRequest, Complete, Error, EventKind, Message, ModelResult, Params, RequestStatus, Stage,
    UsageSource,
};

use crate::{EXIT_INTERRUPTED, EXIT_MODEL_FAILED, EXIT_OK, EXIT_USAGE, RunArgs};

/// Builds the comparison request from the arguments (reading stdin for `-`).
fn request(args: &RunArgs) -> Result<CompareRequest, Error> {
    let prompt = match args.prompt.as_deref() {
        None => {
            return Err(Error::invalid(
                "prompt",
                "a prompt is required (or `-` to read it from stdin)",
            ));
        }
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::invalid("prompt", format!("could not read stdin: {e}")))?;
            s
        }
        Some(p) => p.to_string(),
    };
    let mut parts = Vec::new();
    for path in args.images.iter().chain(&args.files) {
        parts.push(llm_compare_core::Part::from_path_or_url(path)?);
    }
    let content = if parts.is_empty() {
        llm_compare_core::Content::Text(prompt)
    } else {
        parts.insert(0, llm_compare_core::Part::Text { text: prompt });
        llm_compare_core::Content::Parts(parts)
    };
    let response_format = match &args.schema {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::invalid("schema", format!("cannot read {}: {e}", path.display()))
            })?;
            let schema = serde_json::from_str(&text).map_err(|e| {
                Error::invalid("schema", format!("{} is not JSON: {e}", path.display()))
            })?;
            let name: String = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("answer")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(64)
                .collect();
            Some(llm_compare_core::ResponseFormat::JsonSchema {
                json_schema: llm_compare_core::JsonSchemaFormat {
                    name,
                    description: None,
                    schema,
                    strict: Some(true),
                },
            })
        }
    };
    Ok(CompareRequest {
        models: args.models.clone(),
        messages: vec![Message::user(content)],
        response_format,
        system: args.system.clone(),
        params: Params {
            temperature: args.temperature,
            max_tokens: args.max_tokens,
            top_p: args.top_p,
            stop: args.stop.clone(),
            seed: args.seed,
            reasoning_effort: None,
        },
        ..CompareRequest::default()
    })
}

/// The tool loop's options from `--tools`, `--max-steps` and `--tool-mode` (None without
/// `--tools`).
/// The tools of `--tools FILE` (`[tools.*]` and `[mcp.*]`, the MCP servers connected).
async fn agent_tools(
    args: &RunArgs,
) -> Result<Option<std::sync::Arc<dyn llm_compare_core::tools::ToolExecutor>>, Error> {
    let Some(path) = &args.tools else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid("tools", format!("cannot read {}: {e}", path.display())))?;
    llm_compare_core::Config::parse(&text)?
        .tools()
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "tools",
                format!(
                    "{} defines no [tools.<name>] and no [mcp.<name>]",
                    path.display()
                ),
            )
        })
        .map(Some)
}

fn agent(
    args: &RunArgs,
    tools: Option<std::sync::Arc<dyn llm_compare_core::tools::ToolExecutor>>,
) -> Result<Option<llm_compare_core::CompareOptions>, Error> {
    let Some(tools) = tools else {
        for (flag, set) in [
            ("max_steps", args.max_steps.is_some()),
            ("tool_mode", args.tool_mode.is_some()),
        ] {
            if set {
                return Err(Error::invalid(
                    flag,
                    format!("--{} goes with --tools", flag.replace('_', "-")),
                ));
            }
        }
        return Ok(None);
    };
    let mode = match args.tool_mode.as_deref() {
        None => llm_compare_core::tools::ToolMode::default(),
        Some(m) => serde_json::from_value(serde_json::Value::String(m.to_string()))
            .map_err(|_| Error::invalid("tool_mode", format!("`{m}`: independent or shared")))?,
    };
    llm_compare_core::CompareOptions::tool_loop(tools, args.max_steps, mode, None).map(Some)
}

/// Live per-model progress: a spinner, the stage, tokens so far and tokens/s.
struct Live {
    bars: Vec<ProgressBar>,
    chunks: Vec<u64>,
    first: Vec<Option<Instant>>,
    _multi: MultiProgress,
}

impl Live {
    fn new(models: &[std::sync::Arc<str>]) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let width = models.iter().map(|m| m.len()).max().unwrap_or(8);
        let style = ProgressStyle::with_template(&format!(
            "{{spinner:.cyan}} {{prefix:<{width}.bold}}  {{wide_msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bars = models
            .iter()
            .map(|m| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(style.clone());
                b.set_prefix(m.to_string());
                b.set_message("connecting…");
                b.enable_steady_tick(Duration::from_millis(100));
                b
            })
            .collect();
        Self {
            bars,
            chunks: vec![0; models.len()],
            first: vec![None; models.len()],
            _multi: multi,
        }
    }

    fn on_chunk(&mut self, i: usize) {
        let now = Instant::now();
        let first = *self.first[i].get_or_insert(now);
        self.chunks[i] += 1;
        let secs = (now - first).as_secs_f64();
        let rate = if secs > 0.0 {
            (self.chunks[i] - 1) as f64 / secs
        } else {
            0.0
        };
        self.bars[i].set_message(format!(
            "streaming · {} tok · {rate:.1} tok/s",
            self.chunks[i]
        ));
    }

    fn on_result(&self, r: &ModelResult) {
        let bar = &self.bars[r.model_index];
        let msg = match &r.error {
            None => format!(
                "done · {} tok · {:.2} s",
                r.usage.output_tokens,
                r.timing.total_ms / 1000.0
            ),
            Some(e) => format!("{} · {}", e.code, e.message),
        };
        bar.finish_with_message(msg);
    }
}

fn fmt_ms(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms >= 1000.0 => format!("{:.2} s", ms / 1000.0),
        Some(ms) => format!("{ms:.0} ms"),
    }
}

fn summary(c: &Complete) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header([
        "#",
        "Model",
        "Status",
        "TTFT",
        "Total",
        "Tokens in/out",
        "Tok/s",
        "Cost",
    ]);
    for r in &c.results {
        let status = match &r.error {
            None => "ok".to_string(),
            Some(e) if r.partial => format!("{} (partial)", e.code),
            Some(e) => e.code.to_string(),
        };
        let approx = if r.usage.source == UsageSource::Estimated {
            "~"
        } else {
            ""
        };
        t.add_row([
            r.model_index.to_string(),
            r.model.to_string(),
            status,
            fmt_ms(r.timing.ttft_ms),
            fmt_ms(Some(r.timing.total_ms)),
            format!(
                "{approx}{}/{approx}{}",
                r.usage.input_tokens, r.usage.output_tokens
            ),
            r.timing
                .tokens_per_s
                .map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            r.cost
                .total_usd
                .map_or_else(|| "n/a".into(), |c| c.to_string()),
        ]);
    }
    for col in [3, 4, 5, 6, 7] {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

fn print_human(c: &Complete) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", summary(c));
    for r in &c.results {
        let _ = writeln!(out, "\n── [{}] {} ──", r.model_index, r.model);
        if let Some(e) = &r.error {
            let _ = writeln!(out, "({}: {})", e.code, e.message);
        }
        if !r.reasoning.is_empty() {
            let _ = writeln!(out, "[reasoning] {}", r.reasoning);
        }
        for t in &r.tool_calls {
            let _ = writeln!(out, "[tool call] {}({})", t.name, t.arguments);
        }
        if !r.text.is_empty() {
            let _ = writeln!(out, "{}", r.text);
        }
        if let Some(s) = &r.structured {
            let verdict = if s.valid { "valid" } else { "INVALID" };
            let _ = writeln!(out, "[JSON {verdict}]");
            for e in &s.errors {
                let path = if e.path.is_empty() { "/" } else { &e.path };
                let _ = writeln!(out, "  {path}: {}", e.message);
            }
        }
    }
    let total = if c.totals.priced {
        c.totals.cost_usd.to_string()
    } else {
        format!("{} (some models unpriced)", c.totals.cost_usd)
    };
    let _ = writeln!(
        out,
        "\n{} · {} models · {:.2} s · {} in / {} out tokens · {total}",
        c.status.as_str(),
        c.results.len(),
        c.duration_ms / 1000.0,
        c.totals.input_tokens,
        c.totals.output_tokens
    );
}

/// Runs `llm-compare run`.
pub async fn run(config: Option<&std::path::Path>, args: RunArgs) -> u8 {
    let service = match agent_tools(&args).await {
        Ok(tools) => super::service(config, args.max_models, false)
            .await
            .map(|s| (s, tools)),
        Err(e) => Err(e),
    };
    let prepared = service.and_then(|(service, tools)| {
        let request = request(&args)?;
        match agent(&args, tools)? {
            Some(options) => service.compare_request_with(&request, options),
            None => service.compare_request(&request),
        }
    });
    let mut comparison = match prepared {
        Ok(c) => c,
        Err(e) => {
            super::print_error(&e);
            return EXIT_USAGE;
        }
    };
    let cancel = comparison.cancel_token();
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                cancel.cancel();
            }
        });
    }

    let mut live =
        (!args.json && std::io::stderr().is_terminal()).then(|| Live::new(comparison.models()));
    let mut complete = None;
    let mut stdout = std::io::stdout().lock();
    while let Some(event) = comparison.next().await {
        if args.json {
            // One event per line, flushed as it arrives so pipes see it live.
            let _ = writeln!(stdout, "{}", event.to_json());
            let _ = stdout.flush();
        }
        match event.kind {
            EventKind::ResponseChunk { model_index, .. }
            | EventKind::ReasoningChunk { model_index, .. } => {
                if let Some(l) = live.as_mut() {
                    l.on_chunk(model_index);
                }
            }
            EventKind::Stage {
                model_index,
                stage: Stage::Connecting,
                ..
            } => {
                if let Some(l) = live.as_ref() {
                    l.bars[model_index].set_message("connecting…");
                }
            }
            EventKind::ModelResult(r) => {
                if let Some(l) = live.as_ref() {
                    l.on_result(&r);
                }
            }
            EventKind::Complete(c) => complete = Some(c),
            _ => {}
        }
    }
    drop(stdout);
    drop(live);
    let Some(complete) = complete else {
        eprintln!("error: the comparison ended without a result");
        return crate::EXIT_INTERNAL;
    };
    if !args.json {
        print_human(&complete);
    }
    if interrupted.load(std::sync::atomic::Ordering::SeqCst)
        || complete.status == RequestStatus::Cancelled
    {
        EXIT_INTERRUPTED
    } else if complete.results.iter().any(|r| r.error.is_some()) {
        EXIT_MODEL_FAILED
    } else {
        EXIT_OK
    }
}
