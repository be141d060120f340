//! Evaluation runs: every row of a dataset compared across the same models (each row one
//! comparison, through [`Service::submit`] — recorded like any other when there is a store),
//! each answer checked against the row's assertions, and, with a judge, every pair of answers
//! judged in both orders (an inconsistent pair of verdicts is a tie). The run streams one
//! [`EvalEvent::Row`] per finished row and ends with [`EvalEvent::Summary`]: pass rates with
//! Wilson intervals, which model is significantly better than which (exact McNemar test on
//! the paired rows), costs (the judge's apart), and the judge's rating.

pub mod assertions;
pub mod dataset;
pub mod live;
pub mod report;
pub mod runs;
pub mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument as _;

use futures::StreamExt;
use futures::stream::BoxStream;
use llm_compare_core::judge::{
    self, PAIRWISE_SYSTEM, PairwiseVerdict, RUBRIC_SYSTEM, RubricVerdict, Winner,
};
use llm_compare_core::{
    CompareRequest, Complete, Error, EventKind, Message, ModelResult, ResponseFormat, Result,
};
use serde::{Deserialize, Serialize};

use crate::keys::Principal;
use crate::service::{CreateComparison, Service};
use assertions::{Answer, Assertion, Outcome};
use dataset::Row;

/// Most rows run at once.
pub const MAX_CONCURRENCY: usize = 64;
/// Most repeats of each row.
pub const MAX_REPEAT: u32 = 100;

/// How a run goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct EvalOptions {
    /// The models compared on every row.
    pub models: Vec<String>,
    /// The judge: grades `llm_rubric` assertions and judges every pair of answers.
    #[serde(default)]
    pub judge: Option<String>,
    /// Rows run at once (default 4).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Runs of each row (default 1): pass^N is then the share of rows passed every time.
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Let the judge judge comparisons that include its own model.
    #[serde(default)]
    pub allow_self_judge: bool,
}

impl EvalOptions {
    /// Checked: models, a judge that is not one of them (unless allowed), the limits.
    pub fn check(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::invalid(
                "models",
                "an evaluation needs at least one model",
            ));
        }
        if let Some(j) = &self.judge
            && self.models.contains(j)
            && !self.allow_self_judge
        {
            return Err(Error::invalid(
                "judge",
                format!(
                    "the judge `{j}` is one of the models it would judge; pick another judge or allow it (--allow-self-judge)"
                ),
            ));
        }
        if self
            .concurrency
            .is_some_and(|c| !(1..=MAX_CONCURRENCY).contains(&c))
        {
            return Err(Error::invalid(
                "concurrency",
                format!("concurrency must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        if self.repeat.is_some_and(|r| !(1..=MAX_REPEAT).contains(&r)) {
            return Err(Error::invalid(
                "repeat",
                format!("repeat must be between 1 and {MAX_REPEAT}"),
            ));
        }
        Ok(())
    }
}

/// One model's answer to a row, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelOutcome {
    /// The model.
    pub model: String,
    /// Its answer.
    pub text: String,
    /// Whether every assertion held (and the model answered).
    pub passed: bool,
    /// Each assertion's outcome.
    pub assertions: Vec<Outcome>,
    /// Its cost, USD.
    pub cost_usd: f64,
    /// Its latency, ms.
    pub latency_ms: f64,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error: Option<String>,
}

/// The judge's verdict on one pair of answers (both orders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PairVerdict {
    /// The first model's `model_index`.
    pub a_index: usize,
    /// The second's.
    pub b_index: usize,
    /// The first model.
    pub a: String,
    /// The second.
    pub b: String,
    /// The better one's name, or `tie` (also when the two orders disagreed).
    pub winner: String,
    /// The better one's `model_index` (None: a tie).
    pub winner_index: Option<usize>,
    /// Whether both orders agreed.
    pub consistent: bool,
    /// The judge's reasons, in order shown (a, b), then (b, a).
    pub reasons: Vec<String>,
}

/// The judge's part of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RowJudge {
    /// The judge.
    pub model: String,
    /// Each pair's verdict.
    pub pairs: Vec<PairVerdict>,
    /// What judging this row cost (rubrics too), USD.
    pub cost_usd: f64,
}

/// One finished row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RowReport {
    /// The row's id.
    pub row_id: String,
    /// Which run of the row (0-based; with `repeat`).
    pub repeat: u32,
    /// The row's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub category: Option<String>,
    /// The comparison that answered it.
    pub comparison_id: String,
    /// Each model's answer, by model order.
    pub results: Vec<ModelOutcome>,
    /// The judge's verdicts, with a judge.
    pub judge: Option<RowJudge>,
}

/// One model's standing at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelSummary {
    /// The model.
    pub model: String,
    /// Rows (× repeats) passed / run.
    pub pass_rate: f64,
    /// Its Wilson 95 % interval.
    pub pass_ci: (f64, f64),
    /// With `repeat` > 1: the share of rows passed every time (pass^N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pass_all_repeats: Option<f64>,
    /// With `repeat` > 1: the variance of the pass rate across repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pass_variance: Option<f64>,
    /// Mean cost per answer, USD.
    pub mean_cost_usd: f64,
    /// Mean latency, ms.
    pub mean_latency_ms: f64,
    /// With a judge: (wins + ½ ties) / judged pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub judge_rating: Option<f64>,
}

/// A significant difference: `better` passes more of the rows where the two differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Better {
    /// The better model.
    pub better: String,
    /// The other.
    pub than: String,
    /// The exact McNemar test's p-value.
    pub p_value: f64,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Summary {
    /// The run's id.
    pub run_id: String,
    /// Rows run (× repeats).
    pub rows: usize,
    /// Each model, in order.
    pub models: Vec<ModelSummary>,
    /// Significant differences (p < 0.05).
    pub better: Vec<Better>,
    /// What the models cost, USD.
    pub cost_usd: f64,
    /// What the judge cost, USD.
    pub judge_cost_usd: f64,
}

/// A dataset to run: its name, its content's SHA-256 (a resumed run must be given the same)
/// and its rows.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Its name (the file's).
    pub name: String,
    /// The SHA-256 of its content, hex.
    pub sha256: String,
    /// Its rows.
    pub rows: Vec<Row>,
}

impl Dataset {
    /// `text` (the contents of file `name`) parsed ([`dataset::parse`]).
    pub fn parse(name: &str, text: &str, template: Option<&str>) -> Result<Self> {
        Self::parse_within(name, text, template, &crate::Limits::local())
    }

    /// [`Dataset::parse`] within a server's `limits` ([`dataset::parse_within`]).
    pub fn parse_within(
        name: &str,
        text: &str,
        template: Option<&str>,
        limits: &crate::Limits,
    ) -> Result<Self> {
        use sha2::Digest as _;
        let rows = dataset::parse_within(name, text, dataset::Format::of(name), template, limits)?;
        let mut h = sha2::Sha256::new();
        h.update(text.as_bytes());
        if let Some(t) = template {
            h.update(b"\0template\0");
            h.update(t.as_bytes());
        }
        let sha256 = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            name: name.to_string(),
            sha256,
            rows,
        })
    }
}

/// A run as the bindings and the HTTP API give it: the dataset's name and text, the prompt
/// template, and the options as JSON (`{"models", "judge"?, "concurrency"?, "repeat"?,
/// "allow_self_judge"?}`), each checked.
pub fn prepare(
    name: &str,
    text: &str,
    template: Option<&str>,
    options_json: &str,
) -> Result<(Dataset, EvalOptions)> {
    let options: EvalOptions = serde_json::from_str(options_json).map_err(|e| {
        let msg = e.to_string();
        let field = [
            "models",
            "judge",
            "concurrency",
            "repeat",
            "allow_self_judge",
        ]
        .into_iter()
        .find(|f| msg.contains(&format!("`{f}`")))
        .unwrap_or("options");
        Error::invalid(field, msg)
    })?;
    options.check()?;
    Ok((Dataset::parse(name, text, template)?, options))
}

/// What a run streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum EvalEvent {
    /// The run started (or resumed): its id — what `--resume` takes.
    Start {
        /// The run's id.
        run_id: String,
        /// Rows × repeats.
        units: usize,
        /// Of them, finished before (a resumed run: not run again).
        done: usize,
    },
    /// A row finished.
    Row(RowReport),
    /// The run finished.
    Summary(Summary),
    /// The run was cancelled (its finished rows are kept: `resume` runs the rest).
    Cancelled {
        /// The run's id.
        run_id: String,
        /// Rows finished in this part of the run before the cancel.
        rows_done: usize,
    },
}

impl Service {
    /// Runs `dataset` across `options.models` for `who`: rows at once up to the concurrency,
    /// each one comparison; streams the start, each finished row, then the summary. A row whose
    /// models fail is reported failed (with the error), never dropped. With a store the run
    /// and each finished row are recorded, and `resume` (a run's id) runs only the rows that
    /// run has not finished — given the same dataset and options.
    pub async fn evaluate(
        &self,
        who: &Principal,
        dataset: Dataset,
        options: EvalOptions,
        resume: Option<&str>,
    ) -> Result<BoxStream<'static, EvalEvent>> {
        options.check()?;
        self.check_callable(who, &options.models, "models")?;
        if let Some(j) = &options.judge {
            self.check_callable(who, std::slice::from_ref(j), "judge")?;
        }
        if dataset.rows.is_empty() {
            return Err(Error::invalid(
                "dataset",
                "an evaluation needs at least one row",
            ));
        }
        let repeat = options.repeat.unwrap_or(1);
        let units_total = dataset.rows.len().saturating_mul(repeat as usize);
        let max = self.limits().eval_max_units;
        if units_total > max {
            return Err(crate::Limits::exceeded(
                "eval_max_units",
                max,
                "repeat",
                format!(
                    "{} rows × repeat {repeat} = {units_total} runs of a row, and a run may hold at most {max}",
                    dataset.rows.len()
                ),
            ));
        }
        let store = self.store_ref().cloned();
        let (run_id, earlier) = match (resume, &store) {
            (Some(_), None) => {
                return Err(Error::NotConfigured(
                    "resuming a run needs the store it was recorded in".into(),
                ));
            }
            (Some(id), Some(store)) => {
                let Some(run) = store.eval_run(&who.user, id).await? else {
                    return Err(crate::not_yours("evaluation run", id));
                };
                if run.dataset_sha256 != dataset.sha256 {
                    return Err(Error::invalid(
                        "dataset",
                        format!(
                            "run `{id}` ran {} with other contents (or another prompt template): give it the same dataset",
                            run.dataset
                        ),
                    ));
                }
                let recorded: EvalOptions =
                    serde_json::from_value(run.options.clone()).map_err(|e| {
                        Error::Internal(format!("run `{id}`: its options are corrupt: {e}"))
                    })?;
                for (field, same) in [
                    ("models", recorded.models == options.models),
                    ("judge", recorded.judge == options.judge),
                    ("repeat", recorded.repeat.unwrap_or(1) == repeat),
                ] {
                    if !same {
                        return Err(Error::invalid(
                            field,
                            format!("run `{id}` ran with other {field}: resume it with the same"),
                        ));
                    }
                }
                let mut earlier = Vec::with_capacity(run.rows.len());
                for r in run.rows {
                    earlier.push(serde_json::from_value::<RowReport>(r).map_err(|e| {
                        Error::Internal(format!("run `{id}`: a row's report is corrupt: {e}"))
                    })?);
                }
                (id.to_string(), earlier)
            }
            (None, _) => {
                let id = uuid::Uuid::now_v7().to_string();
                if let Some(store) = &store {
                    store
                        .create_eval_run(&crate::EvalRunRecord {
                            id: id.clone(),
                            owner: who.user.clone(),
                            dataset: dataset.name.clone(),
                            dataset_sha256: dataset.sha256.clone(),
                            options: serde_json::to_value(&options)
                                .map_err(|e| Error::Internal(e.to_string()))?,
                            units: units_total as u64,
                            summary: None,
                            created_at_ms: llm_compare_core::now_ms(),
                            finished_at_ms: None,
                            rows_done: 0,
                            rows: Vec::new(),
                        })
                        .await?;
                }
                (id, Vec::new())
            }
        };
        let done: std::collections::HashSet<(String, u32)> = earlier
            .iter()
            .map(|r| (r.row_id.clone(), r.repeat))
            .collect();
        let concurrency = options.concurrency.unwrap_or(4);
        let service = self.clone();
        let who = who.clone();
        let options = Arc::new(options);
        let units: Vec<(Arc<Row>, u32)> = dataset
            .rows
            .into_iter()
            .map(Arc::new)
            .flat_map(|r| (0..repeat).map(move |k| (r.clone(), k)))
            .filter(|(r, k)| !done.contains(&(r.id.clone(), *k)))
            .collect();
        let start = EvalEvent::Start {
            run_id: run_id.clone(),
            units: units_total,
            done: done.len(),
        };
        let run = run_id.clone();
        // Ends with the run's stream (the closure below holds it).
        let run_span = llm_compare_core::trace::evaluation(&run_id, units.len());
        let reports = futures::stream::iter(units)
            .map(move |(row, k)| {
                let (service, who, options, run) =
                    (service.clone(), who.clone(), options.clone(), run.clone());
                let span = llm_compare_core::trace::eval_row(&run_span, &row.id, k);
                async move {
                    let report = service.eval_row(&who, &row, k, &options).await;
                    service.record_row(&run, &report).await;
                    report
                }
                .instrument(span)
            })
            .buffer_unordered(concurrency);
        let rows_then_summary = with_summary(reports, run_id, earlier, store);
        Ok(futures::stream::once(async move { start })
            .chain(rows_then_summary)
            .boxed())
    }

    /// Records a finished row of run `run_id` (with a store): what `--resume` skips. A failed
    /// write is logged; the row is then run again on resume.
    async fn record_row(&self, run_id: &str, report: &RowReport) {
        let Some(store) = self.store_ref() else {
            return;
        };
        let saved = match serde_json::to_value(report) {
            Ok(v) => {
                store
                    .save_eval_row(
                        run_id,
                        &report.row_id,
                        report.repeat,
                        &report.comparison_id,
                        &v,
                    )
                    .await
            }
            Err(e) => Err(Error::Internal(e.to_string())),
        };
        if let Err(e) = saved {
            tracing::warn!(target: "llm_compare::eval", run = run_id, row = %report.row_id, error = %e, "the row's report was not stored");
        }
    }

    /// One row: its comparison, each answer checked, the judge's verdicts.
    async fn eval_row(
        &self,
        who: &Principal,
        row: &Row,
        repeat: u32,
        options: &EvalOptions,
    ) -> RowReport {
        let failed = |comparison_id: String, e: &Error| RowReport {
            row_id: row.id.clone(),
            repeat,
            category: row.category.clone(),
            comparison_id,
            results: options
                .models
                .iter()
                .map(|m| ModelOutcome {
                    model: m.clone(),
                    text: String::new(),
                    passed: false,
                    assertions: Vec::new(),
                    cost_usd: 0.0,
                    latency_ms: 0.0,
                    error: Some(e.to_string()),
                })
                .collect(),
            judge: None,
        };
        let body = CreateComparison {
            prompt: row.prompt.clone(),
            messages: row.messages.clone(),
            models: options.models.clone(),
            system: row.system.clone(),
            metadata: Some(serde_json::json!({"eval_row": row.id})),
            category: row.category.clone(),
            ..CreateComparison::default()
        };
        let complete = match self.run_to_end(who, body).await {
            Ok(c) => c,
            Err((id, e)) => return failed(id, &e),
        };
        let question = row
            .prompt
            .clone()
            .or_else(|| {
                row.messages
                    .as_ref()
                    .and_then(|m| m.last())
                    .map(|m| m.content.text().into_owned())
            })
            .unwrap_or_default();
        let mut judge_cost = 0.0;
        let mut results = Vec::with_capacity(complete.results.len());
        for r in &complete.results {
            let (outcome, cost) = self.check_answer(who, row, r, &question, options).await;
            judge_cost += cost;
            results.push(outcome);
        }
        let judge = match &options.judge {
            Some(j) if complete.results.len() > 1 => {
                let (pairs, cost) = self.judge_pairs(who, j, &question, &complete.results).await;
                self.record_verdicts(&complete.request_id, j, &pairs).await;
                Some(RowJudge {
                    model: j.clone(),
                    pairs,
                    cost_usd: cost + judge_cost,
                })
            }
            Some(j) => Some(RowJudge {
                model: j.clone(),
                pairs: Vec::new(),
                cost_usd: judge_cost,
            }),
            None => None,
        };
        RowReport {
            row_id: row.id.clone(),
            repeat,
            category: row.category.clone(),
            comparison_id: complete.request_id.clone(),
            results,
            judge,
        }
    }

    /// Submits `body` and reads its events to `complete`. While all of the caller's active
    /// slots are taken (by this run's other rows, say) it waits for one rather than failing
    /// the row; dropped before the end (a cancelled run), it cancels the comparison.
    async fn run_to_end(
        &self,
        who: &Principal,
        body: CreateComparison,
    ) -> std::result::Result<Complete, (String, Error)> {
        let mut waited = 0u32;
        let submitted = loop {
            // Wait for a free slot without writing anything; then give it back and take it
            // with the submission (which records the comparison and holds its budget). The
            // rows of the user's runs do this one at a time, so none takes the slot in
            // between; only the user's other work starting then makes it wait again.
            let turn = self.admission(&who.user).await;
            let slot = self
                .wait_for_slot(who)
                .await
                .map_err(|e| (String::new(), e))?;
            drop(slot);
            let submitted = self.submit(who, body.clone()).await;
            drop(turn);
            match submitted {
                Err(Error::RateLimited { .. }) => {
                    tokio::time::sleep(crate::service::slot_backoff(waited)).await;
                    waited = waited.saturating_add(1);
                }
                other => break other.map_err(|e| (String::new(), e))?,
            }
        };
        let id = submitted.request_id;
        let mut guard = CancelOnDrop(Some((self.clone(), who.user.clone(), id.clone())));
        let mut events = self
            .subscribe(&who.user, &id, 0)
            .await
            .map_err(|e| (id.clone(), e))?;
        while let Some(e) = events.next().await {
            if let EventKind::Complete(c) = e.kind {
                guard.0 = None;
                return Ok(c);
            }
        }
        Err((
            id.clone(),
            Error::Internal(format!("the comparison `{id}` ended without `complete`")),
        ))
    }

    /// `r` against the row's assertions (rubrics graded by the judge); the judge's cost.
    async fn check_answer(
        &self,
        who: &Principal,
        row: &Row,
        r: &ModelResult,
        question: &str,
        options: &EvalOptions,
    ) -> (ModelOutcome, f64) {
        let answer = Answer {
            text: &r.text,
            latency_ms: r.timing.total_ms,
            cost_usd: r.cost.total_usd.map(llm_compare_core::Usd::as_f64),
        };
        let mut outcomes = Vec::with_capacity(row.assert.len());
        let mut judge_cost = 0.0;
        for a in &row.assert {
            let outcome = match (a.check(answer), a) {
                (Some(o), _) => o,
                (None, Assertion::LlmRubric { value }) => match &options.judge {
                    None => Outcome {
                        kind: "llm_rubric".into(),
                        passed: false,
                        reason: "an `llm_rubric` needs a judge (--judge)".into(),
                    },
                    Some(j) => {
                        let prompt = judge::rubric_prompt(value, question, &r.text);
                        match self
                            .ask_judge::<RubricVerdict>(
                                who,
                                j,
                                RUBRIC_SYSTEM,
                                prompt,
                                judge::rubric_schema(),
                            )
                            .await
                        {
                            Ok((v, cost)) => {
                                judge_cost += cost;
                                Outcome {
                                    kind: "llm_rubric".into(),
                                    passed: v.pass,
                                    reason: v.reason,
                                }
                            }
                            Err(e) => Outcome {
                                kind: "llm_rubric".into(),
                                passed: false,
                                reason: format!("the judge failed: {e}"),
                            },
                        }
                    }
                },
                (None, other) => Outcome {
                    kind: other.kind().into(),
                    passed: false,
                    reason: "not checked".into(),
                },
            };
            outcomes.push(outcome);
        }
        let error = r.error.as_ref().map(|e| e.message.clone());
        let passed = error.is_none() && outcomes.iter().all(|o| o.passed);
        (
            ModelOutcome {
                model: r.model.to_string(),
                text: r.text.clone(),
                passed,
                assertions: outcomes,
                cost_usd: r.cost.total_usd.map_or(0.0, llm_compare_core::Usd::as_f64),
                latency_ms: r.timing.total_ms,
                error,
            },
            judge_cost,
        )
    }

    /// Stores the judge's verdicts as votes of their own kind (`judge:<model>`), when there is
    /// a store: the leaderboard's `source=judge`. A failed write is logged; the row stands.
    async fn record_verdicts(&self, comparison_id: &str, judge_model: &str, pairs: &[PairVerdict]) {
        let Some(store) = &self.store_ref() else {
            return;
        };
        let votes: Vec<crate::JudgeVote> = pairs
            .iter()
            .map(|p| crate::JudgeVote {
                comparison_id: comparison_id.to_string(),
                judge: judge_model.to_string(),
                a_index: p.a_index,
                b_index: p.b_index,
                a_won: p.winner_index.map(|w| w == p.a_index),
                reason: Some(p.reasons.join(" / ")),
            })
            .collect();
        if let Err(e) = store.judge_votes(&votes).await {
            tracing::warn!(target: "llm_compare::eval", comparison = comparison_id, error = %e, "the judge's verdicts were not stored");
        }
    }

    /// Every pair of answers judged in both orders; the verdicts and what they cost.
    async fn judge_pairs(
        &self,
        who: &Principal,
        judge_model: &str,
        question: &str,
        results: &[ModelResult],
    ) -> (Vec<PairVerdict>, f64) {
        let mut pairs = Vec::new();
        let mut cost = 0.0;
        for i in 0..results.len() {
            for j in i + 1..results.len() {
                let (a, b) = (&results[i], &results[j]);
                if a.error.is_some() || b.error.is_some() {
                    continue;
                }
                let ab = judge::pairwise_prompt(question, &a.text, &b.text);
                let ba = judge::pairwise_prompt(question, &b.text, &a.text);
                let (first, second) = futures::join!(
                    self.ask_judge::<PairwiseVerdict>(
                        who,
                        judge_model,
                        PAIRWISE_SYSTEM,
                        ab,
                        judge::pairwise_schema()
                    ),
                    self.ask_judge::<PairwiseVerdict>(
                        who,
                        judge_model,
                        PAIRWISE_SYSTEM,
                        ba,
                        judge::pairwise_schema()
                    ),
                );
                let (Ok((v1, c1)), Ok((v2, c2))) = (first, second) else {
                    continue;
                };
                cost += c1 + c2;
                // The second order swapped: its A is b.
                let second_for_a = match v2.winner {
                    Winner::A => Winner::B,
                    Winner::B => Winner::A,
                    Winner::Tie => Winner::Tie,
                };
                let consistent = v1.winner == second_for_a;
                let winner_index = match (consistent, v1.winner) {
                    (true, Winner::A) => Some(i),
                    (true, Winner::B) => Some(j),
                    _ => None,
                };
                let winner = winner_index
                    .map_or_else(|| "tie".to_string(), |w| results[w].model.to_string());
                pairs.push(PairVerdict {
                    a_index: i,
                    b_index: j,
                    a: a.model.to_string(),
                    b: b.model.to_string(),
                    winner,
                    winner_index,
                    consistent,
                    reasons: vec![v1.reason, v2.reason],
                });
            }
        }
        (pairs, cost)
    }

    /// One judgement: `judge_model` asked `prompt` for `who` (held against their budget,
    /// in their usage), its JSON verdict parsed; its cost.
    async fn ask_judge<T: serde::de::DeserializeOwned>(
        &self,
        who: &Principal,
        judge_model: &str,
        system: &str,
        prompt: String,
        schema: serde_json::Value,
    ) -> Result<(T, f64)> {
        let mut request = CompareRequest::prompt([judge_model], prompt);
        request.messages.insert(0, Message::system(system));
        request.response_format = Some(ResponseFormat::JsonSchema {
            json_schema: llm_compare_core::JsonSchemaFormat {
                name: "verdict".into(),
                description: None,
                schema,
                strict: Some(true),
            },
        });
        request.params.temperature = Some(0.0);
        let mut call = self.judge_call(who, request).await?;
        let mut done = None;
        while let Some(e) = call.events.next().await {
            if let EventKind::Complete(c) = e.kind {
                done = Some(c);
            }
        }
        let r = done
            .and_then(|c| c.results.into_iter().next())
            .ok_or_else(|| Error::Internal("the judge gave no result".into()))?;
        if let Some(e) = r.error {
            return Err(Error::invalid(
                "judge",
                format!("the judge failed: {}", e.message),
            ));
        }
        let cost = r.cost.total_usd.map_or(0.0, llm_compare_core::Usd::as_f64);
        judge::parse_verdict(&r.text)
            .map(|v| (v, cost))
            .map_err(|e| Error::invalid("judge", e))
    }
}

/// Cancels a row's comparison (service, owner, id) when its row is dropped unfinished.
struct CancelOnDrop(Option<(Service, String, String)>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some((service, owner, id)) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = service.cancel(&owner, &id).await;
            });
        }
    }
}

/// The rows as they finish, then the summary computed from all of them (and the `earlier`
/// ones of a resumed run), recorded as the run's end when there is a store.
fn with_summary(
    reports: impl futures::Stream<Item = RowReport> + Send + 'static,
    run_id: String,
    earlier: Vec<RowReport>,
    store: Option<crate::SharedStore>,
) -> BoxStream<'static, EvalEvent> {
    let state = Arc::new(parking_lot::Mutex::new(earlier));
    let kept = state.clone();
    let rows = reports.map(move |r| {
        kept.lock().push(r.clone());
        EvalEvent::Row(r)
    });
    let summary = futures::stream::once(async move {
        let all = std::mem::take(&mut *state.lock());
        let summary = summarize(run_id.clone(), &all);
        if let Some(store) = store {
            let saved = match serde_json::to_value(&summary) {
                Ok(v) => store.finish_eval_run(&run_id, &v).await,
                Err(e) => Err(Error::Internal(e.to_string())),
            };
            if let Err(e) = saved {
                tracing::warn!(target: "llm_compare::eval", run = %run_id, error = %e, "the run's summary was not stored");
            }
        }
        EvalEvent::Summary(summary)
    });
    rows.chain(summary).boxed()
}

/// The run's summary from its rows.
pub fn summarize(run_id: String, rows: &[RowReport]) -> Summary {
    let models: Vec<String> = rows
        .first()
        .map(|r| r.results.iter().map(|m| m.model.clone()).collect())
        .unwrap_or_default();
    let n = rows.len();
    let repeats: u32 = rows.iter().map(|r| r.repeat + 1).max().unwrap_or(1);
    let mut out = Vec::with_capacity(models.len());
    // (wins, ties, judged) by model.
    let mut judged: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    for r in rows {
        for p in r.judge.iter().flat_map(|j| &j.pairs) {
            for m in [&p.a, &p.b] {
                let e = judged.entry(m.as_str()).or_default();
                e.2 += 1.0;
                if p.winner == "tie" {
                    e.1 += 1.0;
                } else if &p.winner == m {
                    e.0 += 1.0;
                }
            }
        }
    }
    for (i, m) in models.iter().enumerate() {
        fn at(r: &RowReport, i: usize) -> Option<&ModelOutcome> {
            r.results.get(i)
        }
        let of = |r| at(r, i);
        let passed = rows
            .iter()
            .filter(|r| of(r).is_some_and(|o| o.passed))
            .count();
        #[allow(clippy::cast_precision_loss)]
        let nf = n.max(1) as f64;
        let (pass_all_repeats, pass_variance) = if repeats > 1 {
            let mut by_row: BTreeMap<&str, bool> = BTreeMap::new();
            let mut by_repeat: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
            for r in rows {
                let ok = of(r).is_some_and(|o| o.passed);
                *by_row.entry(r.row_id.as_str()).or_insert(true) &= ok;
                let e = by_repeat.entry(r.repeat).or_default();
                e.0 += f64::from(u8::from(ok));
                e.1 += 1.0;
            }
            #[allow(clippy::cast_precision_loss)]
            let all = by_row.values().filter(|v| **v).count() as f64 / by_row.len().max(1) as f64;
            let rates: Vec<f64> = by_repeat.values().map(|(p, t)| p / t).collect();
            (Some(all), Some(stats::variance(&rates)))
        } else {
            (None, None)
        };
        let judge_rating = judged
            .get(m.as_str())
            .filter(|e| e.2 > 0.0)
            .map(|(w, t, j)| (w + 0.5 * t) / j);
        out.push(ModelSummary {
            model: m.clone(),
            #[allow(clippy::cast_precision_loss)]
            pass_rate: passed as f64 / nf,
            pass_ci: stats::wilson(passed as u64, n as u64),
            pass_all_repeats,
            pass_variance,
            mean_cost_usd: rows.iter().filter_map(of).map(|o| o.cost_usd).sum::<f64>() / nf,
            mean_latency_ms: rows
                .iter()
                .filter_map(of)
                .map(|o| o.latency_ms)
                .sum::<f64>()
                / nf,
            judge_rating,
        });
    }
    let mut better = Vec::new();
    for i in 0..models.len() {
        for j in 0..models.len() {
            if i == j {
                continue;
            }
            let (mut only_i, mut only_j) = (0u64, 0u64);
            for r in rows {
                let pi = r.results.get(i).is_some_and(|o| o.passed);
                let pj = r.results.get(j).is_some_and(|o| o.passed);
                match (pi, pj) {
                    (true, false) => only_i += 1,
                    (false, true) => only_j += 1,
                    _ => {}
                }
            }
            if stats::better(only_i, only_j) {
                better.push(Better {
                    better: models[i].clone(),
                    than: models[j].clone(),
                    p_value: stats::mcnemar_exact(only_i, only_j),
                });
            }
        }
    }
    Summary {
        run_id,
        rows: n,
        models: out,
        better,
        cost_usd: rows
            .iter()
            .flat_map(|r| &r.results)
            .map(|o| o.cost_usd)
            .sum(),
        judge_cost_usd: rows
            .iter()
            .filter_map(|r| r.judge.as_ref())
            .map(|j| j.cost_usd)
            .sum(),
    }
}
