//! Evaluation runs as the HTTP API serves them: start one in the background, read its
//! events from any point (live while it runs here, then from the store), look at it, list
//! them, cancel one.

use futures::StreamExt;
use futures::stream::BoxStream;
use llm_compare_core::{Error, Result};
use serde::{Deserialize, Serialize};

use super::{Dataset, EvalEvent, EvalOptions, RowReport, Summary};
use crate::keys::Principal;
use crate::service::Service;

/// A dataset sent with the run: its file name (`.jsonl` or `.csv` says its format) and
/// its contents.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DatasetUpload {
    /// The file's name, e.g. `questions.jsonl` or `rows.csv`.
    pub name: String,
    /// Its contents (UTF-8).
    pub content: String,
}

/// A run to start (`POST /v1/evals`).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateEval {
    /// The rows.
    pub dataset: DatasetUpload,
    /// The models compared on every row.
    pub models: Vec<String>,
    /// The judge (grades `llm_rubric` assertions, judges every pair of answers).
    #[serde(default)]
    pub judge: Option<String>,
    /// Rows run at once (default 4).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Runs of each row (default 1).
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Let the judge judge comparisons that include its own model.
    #[serde(default)]
    pub allow_self_judge: bool,
    /// A CSV dataset's prompt template (`… {{column}} …`).
    #[serde(default)]
    pub prompt_template: Option<String>,
    /// Continue this earlier run (same dataset and options): only its unfinished rows run.
    #[serde(default)]
    pub resume: Option<String>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EvalStatus {
    /// Rows are running.
    Running,
    /// Every row ran; the summary is in.
    Completed,
    /// Cancelled: its finished rows are kept (`resume` runs the rest).
    Cancelled,
    /// Stopped before the end without a cancel (the process ended): `resume` runs the rest.
    Incomplete,
}

/// A run, without its rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EvalRunInfo {
    /// Its id.
    pub run_id: String,
    /// Where it stands.
    pub status: EvalStatus,
    /// The dataset's name.
    pub dataset: String,
    /// How it runs.
    pub options: EvalOptions,
    /// Rows × repeats.
    pub units: usize,
    /// Of them, finished.
    pub rows_done: usize,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub finished_at_ms: Option<i64>,
    /// Its summary, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub summary: Option<Summary>,
}

/// A run with its finished rows (`GET /v1/evals/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EvalRunView {
    /// The run.
    pub run: EvalRunInfo,
    /// Its finished rows, oldest first.
    pub rows: Vec<RowReport>,
}

/// A started run (`POST /v1/evals`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EvalStarted {
    /// Its id.
    pub run_id: String,
    /// Rows × repeats.
    pub units: usize,
    /// Of them, finished before (a resumed run).
    pub done: usize,
}

/// A run's events from some point ([`Service::eval_events`]).
pub struct EvalEvents {
    /// Each with its number (from 1).
    pub events: BoxStream<'static, (usize, EvalEvent)>,
    /// When the run has ended: how many events it has in all (nothing comes after).
    pub ended_with: Option<usize>,
}

impl std::fmt::Debug for EvalEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalEvents")
            .field("ended_with", &self.ended_with)
            .finish_non_exhaustive()
    }
}

impl CreateEval {
    /// The dataset (parsed: a bad row names the file, line and field), the options
    /// (checked) and the run to resume.
    pub fn into_parts(
        self,
        limits: &crate::Limits,
    ) -> Result<(Dataset, EvalOptions, Option<String>)> {
        let options = EvalOptions {
            models: self.models,
            judge: self.judge,
            concurrency: self.concurrency,
            repeat: self.repeat,
            allow_self_judge: self.allow_self_judge,
        };
        options.check()?;
        if self.dataset.name.trim().is_empty() {
            return Err(Error::invalid(
                "dataset.name",
                "the dataset needs a file name (.jsonl or .csv)",
            ));
        }
        let dataset = Dataset::parse_within(
            &self.dataset.name,
            &self.dataset.content,
            self.prompt_template.as_deref(),
            limits,
        )?;
        Ok((dataset, options, self.resume))
    }
}

fn corrupt(id: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("evaluation run `{id}`: its {what} is corrupt: {e}"))
}

impl Service {
    /// Starts `body` for `who` in the background; read its progress with
    /// [`Service::eval_events`]. A run still running here cannot be resumed (409).
    pub async fn start_evaluation(&self, who: &Principal, body: CreateEval) -> Result<EvalStarted> {
        let (dataset, options, resume) = body.into_parts(self.limits())?;
        let running = self.live_evals().running_of(&who.user);
        let max = self.limits().eval_runs_per_user;
        if running >= max {
            return Err(crate::Limits::exceeded(
                "eval_runs_per_user",
                max,
                "dataset",
                format!(
                    "{running} of your evaluation runs are running, and a user may run at most {max} at once: wait for one, or cancel it"
                ),
            ));
        }
        if let Some(id) = &resume
            && self
                .live_evals()
                .get(&who.user, id)
                .is_some_and(|r| !r.finished())
        {
            return Err(Error::Conflict(format!(
                "run `{id}` is still running: cancel it first, or wait for it"
            )));
        }
        let name = dataset.name.clone();
        let mut events = self
            .evaluate(who, dataset, options.clone(), resume.as_deref())
            .await?;
        let Some(start) = events.next().await else {
            return Err(Error::Internal("the run ended before it started".into()));
        };
        let EvalEvent::Start {
            run_id,
            units,
            done,
        } = start.clone()
        else {
            return Err(Error::Internal("a run's first event is not `start`".into()));
        };
        self.live_evals().spawn(
            super::live::RunInfo {
                owner: who.user.clone(),
                id: run_id.clone(),
                dataset: name,
                options,
                created_at_ms: llm_compare_core::now_ms(),
            },
            start,
            events,
        );
        Ok(EvalStarted {
            run_id,
            units,
            done,
        })
    }

    /// `owner`'s run `id`'s events after the first `after` (each with its number, from 1):
    /// live while it runs here; otherwise the stored run's (`start`, its rows, its summary
    /// when it completed).
    pub async fn eval_events(&self, owner: &str, id: &str, after: usize) -> Result<EvalEvents> {
        if let Some(run) = self.live_evals().get(owner, id) {
            let ended_with = run.finished().then(|| run.events().len());
            return Ok(EvalEvents {
                events: run.follow(after),
                ended_with,
            });
        }
        let view = self.stored_eval(owner, id).await?;
        let mut events = vec![EvalEvent::Start {
            run_id: view.run.run_id.clone(),
            units: view.run.units,
            done: 0,
        }];
        events.extend(view.rows.into_iter().map(EvalEvent::Row));
        events.extend(view.run.summary.map(EvalEvent::Summary));
        Ok(EvalEvents {
            ended_with: Some(events.len()),
            events: futures::stream::iter(
                events
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| (i + 1, e))
                    .skip(after),
            )
            .boxed(),
        })
    }

    /// `owner`'s run `id` with its finished rows.
    pub async fn eval_run(&self, owner: &str, id: &str) -> Result<EvalRunView> {
        let live = self.live_evals().get(owner, id);
        match (live, self.store_ref()) {
            (Some(run), None) => Ok(run.view()),
            (live, Some(_)) => {
                let mut view = self.stored_eval(owner, id).await?;
                if let Some(run) = live {
                    // The stored rows are every part's; the status is the live run's.
                    view.run.status = run.status();
                }
                Ok(view)
            }
            (None, None) => Err(crate::not_yours("evaluation run", id)),
        }
    }

    /// `owner`'s run `id` as a self-contained HTML report ([`super::report`]); a run not
    /// yet completed is reported on the rows it finished.
    pub async fn eval_report(&self, owner: &str, id: &str) -> Result<String> {
        let view = self.eval_run(owner, id).await?;
        let summary = view
            .run
            .summary
            .clone()
            .unwrap_or_else(|| super::summarize(id.to_string(), &view.rows));
        Ok(super::report::render(
            &view.run.dataset,
            &summary,
            &view.rows,
        ))
    }

    /// `owner`'s runs, newest first (at most `limit`).
    pub async fn eval_runs(&self, owner: &str, limit: u32) -> Result<Vec<EvalRunInfo>> {
        let live = self.live_evals().of(owner);
        let Some(store) = self.store_ref() else {
            let mut out: Vec<EvalRunInfo> = live.iter().map(|(_, r)| r.view().run).collect();
            out.sort_by_key(|r| std::cmp::Reverse(r.created_at_ms));
            out.truncate(limit as usize);
            return Ok(out);
        };
        let mut out = Vec::new();
        for record in store.eval_runs(owner, limit).await? {
            let mut info = info_of(record)?;
            if let Some((_, run)) = live.iter().find(|(id, _)| *id == info.run_id) {
                info.status = run.status();
            }
            out.push(info);
        }
        Ok(out)
    }

    /// Cancels `owner`'s run `id`: no new row starts, the rows in flight are cancelled,
    /// the finished ones are kept. Its status after (a run that already ended keeps its own).
    pub async fn cancel_evaluation(&self, owner: &str, id: &str) -> Result<EvalStatus> {
        if self.live_evals().cancel(owner, id).is_some() {
            return Ok(self
                .live_evals()
                .get(owner, id)
                .map_or(EvalStatus::Cancelled, |r| r.status()));
        }
        Ok(self.stored_eval(owner, id).await?.run.status)
    }

    async fn stored_eval(&self, owner: &str, id: &str) -> Result<EvalRunView> {
        let Some(store) = self.store_ref() else {
            return Err(crate::not_yours("evaluation run", id));
        };
        let Some(mut record) = store.eval_run(owner, id).await? else {
            return Err(crate::not_yours("evaluation run", id));
        };
        let rows = std::mem::take(&mut record.rows)
            .into_iter()
            .map(|r| serde_json::from_value(r).map_err(|e| corrupt(id, "row report", e)))
            .collect::<Result<Vec<RowReport>>>()?;
        Ok(EvalRunView {
            run: info_of(record)?,
            rows,
        })
    }
}

/// A stored run's info (status from the record: completed, or incomplete).
fn info_of(record: crate::EvalRunRecord) -> Result<EvalRunInfo> {
    let id = record.id;
    let options: EvalOptions =
        serde_json::from_value(record.options).map_err(|e| corrupt(&id, "options", e))?;
    let summary: Option<Summary> = record
        .summary
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| corrupt(&id, "summary", e))?;
    Ok(EvalRunInfo {
        status: if summary.is_some() {
            EvalStatus::Completed
        } else {
            EvalStatus::Incomplete
        },
        run_id: id,
        dataset: record.dataset,
        options,
        units: usize::try_from(record.units).unwrap_or(usize::MAX),
        rows_done: usize::try_from(record.rows_done).unwrap_or(usize::MAX),
        created_at_ms: record.created_at_ms,
        finished_at_ms: record.finished_at_ms,
        summary,
    })
}
