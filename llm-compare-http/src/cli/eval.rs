//! `llm-compare eval DATASET -m MODEL…`: an evaluation run over a dataset, stored where
//! `serve` stores (each row a comparison, seen by a server on the same store). Prints one JSON
//! line per finished row and the summary last (`--json`), or a line per row and a summary
//! table.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use llm_compare_core::Error;
use llm_compare_service::Principal;
use llm_compare_service::eval::{Dataset, EvalEvent, EvalOptions, Summary};

use crate::{EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, EvalArgs};

/// The dataset's rows and the run's options, checked.
fn prepare(args: &EvalArgs) -> Result<(Dataset, EvalOptions), Error> {
    let name = args.dataset.display().to_string();
    let text = std::fs::read_to_string(&args.dataset)
        .map_err(|e| Error::invalid("dataset", format!("cannot read {name}: {e}")))?;
    let rows = Dataset::parse(&name, &text, args.prompt_template.as_deref())?;
    let options = EvalOptions {
        models: args.models.clone(),
        judge: args.judge.clone(),
        concurrency: args.concurrency,
        repeat: args.repeat,
        allow_self_judge: args.allow_self_judge,
    };
    options.check()?;
    Ok((rows, options))
}

/// Runs `llm-compare eval`.
pub async fn run(config: Option<&std::path::Path>, args: EvalArgs) -> u8 {
    let prepared = match prepare(&args) {
        Ok(p) => p,
        Err(e) => {
            super::print_error(&e);
            return EXIT_USAGE;
        }
    };
    let service = match super::stored_service_or_exit(
        config,
        args.data_dir.as_ref(),
        args.database_url.as_ref(),
    )
    .await
    {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (rows, options) = prepared;
    let who = Principal::user(args.owner.clone());
    let mut events = match service
        .evaluate(&who, rows, options, args.resume.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            super::print_error(&e);
            return EXIT_USAGE;
        }
    };
    // On a terminal: a live bar (rows, ETA, spend) with each row printed above it; else a
    // line per row. `--json` prints only JSON on stdout.
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} rows · {elapsed} · ETA {eta} · {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let say = |line: String| {
        if !args.json {
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
    };
    let mut done = 0usize;
    let mut total = 0usize;
    let mut spent = 0.0f64;
    let mut code = EXIT_OK;
    while let Some(e) = events.next().await {
        if args.json {
            match serde_json::to_string(&e) {
                Ok(line) => super::print_out(&line),
                Err(err) => {
                    eprintln!("error: {err}");
                    return EXIT_INTERNAL;
                }
            }
        }
        match e {
            EvalEvent::Start {
                run_id,
                units,
                done: before,
            } => {
                total = units;
                done = before;
                bar.set_length(units as u64);
                bar.set_position(before as u64);
                // The ETA counts this part of the run only.
                bar.reset_eta();
                bar.set_message("$0.0000");
                say(format!(
                    "run {run_id}: {units} rows{}",
                    if before > 0 {
                        format!(", {before} finished before")
                    } else {
                        String::new()
                    }
                ));
            }
            EvalEvent::Row(r) => {
                done += 1;
                spent += r.results.iter().map(|m| m.cost_usd).sum::<f64>()
                    + r.judge.as_ref().map_or(0.0, |j| j.cost_usd);
                let marks: Vec<String> = r
                    .results
                    .iter()
                    .map(|m| format!("{} {}", if m.passed { "✓" } else { "✗" }, m.model))
                    .collect();
                bar.set_position(done as u64);
                bar.set_message(format!("${spent:.4}"));
                say(format!(
                    "[{done}/{total}] {} · {} · ${spent:.4}",
                    r.row_id,
                    marks.join("  ")
                ));
            }
            EvalEvent::Summary(s) => {
                bar.finish_and_clear();
                if !args.json {
                    print_summary(&s);
                }
                if let Some(path) = &args.report {
                    code = write_report(&service, &who, &s.run_id, path).await;
                }
            }
            EvalEvent::Cancelled { run_id, .. } => {
                bar.abandon();
                say(format!(
                    "run {run_id} cancelled: --resume {run_id} runs the rest"
                ));
            }
        }
    }
    code
}

/// Writes run `run_id`'s HTML report (every row of it, earlier parts of a resumed run too).
async fn write_report(
    service: &llm_compare_service::Service,
    who: &Principal,
    run_id: &str,
    path: &std::path::Path,
) -> u8 {
    let html = match service.eval_report(&who.user, run_id).await {
        Ok(h) => h,
        Err(e) => {
            super::print_error(&e);
            return EXIT_INTERNAL;
        }
    };
    if let Err(e) = std::fs::write(path, html) {
        eprintln!("error: cannot write the report to {}: {e}", path.display());
        return EXIT_INTERNAL;
    }
    eprintln!("report: {}", path.display());
    EXIT_OK
}

fn print_summary(s: &Summary) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "model",
        "pass rate",
        "95% CI",
        "mean cost",
        "mean latency",
        "judge rating",
    ]);
    for m in &s.models {
        table.add_row([
            m.model.clone(),
            format!("{:.1}%", m.pass_rate * 100.0),
            format!("{:.1}–{:.1}%", m.pass_ci.0 * 100.0, m.pass_ci.1 * 100.0),
            format!("${:.6}", m.mean_cost_usd),
            format!("{:.0} ms", m.mean_latency_ms),
            m.judge_rating
                .map_or_else(|| "-".into(), |r| format!("{:.2}", r)),
        ]);
    }
    super::print_out(&table.to_string());
    for b in &s.better {
        super::print_out(&format!(
            "{} is better than {} (exact McNemar p = {:.4})",
            b.better, b.than, b.p_value
        ));
    }
    super::print_out(&format!(
        "run {} · {} rows · models ${:.4} · judge ${:.4}",
        s.run_id, s.rows, s.cost_usd, s.judge_cost_usd
    ));
}
