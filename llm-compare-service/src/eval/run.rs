//! Running an evaluation on the service: rows fanned out under the concurrency limit, each
//! answer checked, pairs judged in both orders, rows resumed, runs cancelled with their rows.

use super::*;

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
