//! What a server does on start-up about the comparisons its previous process left running
//! (it crashed, or was killed): their rows become `interrupted` in the store, and — in
//! cluster mode, where clients may be following them on another server — their event logs
//! get an ending, so every stream still open on them ends with a `complete` instead of
//! waiting for events that will never come. That includes the comparisons the store had
//! already finished when the process died: a row is final before its `complete` is
//! published, so a crash between the two leaves a log without an end — it gets the store's.

use std::sync::Arc;

use llm_compare_core::{
    Complete, Cost, ErrorCode, ErrorInfo, EventKind, FinishReason, ModelResult, RequestInfo,
    RequestStatus, Result, Stage, Timing, Totals, Usage, now_ms,
};

use crate::StoredComparison;
use crate::service::{ModelSnapshot, Service, fold};
/// What [`Service::recover`] found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Comparisons of this instance the store had as running: now `interrupted`.
    pub interrupted: usize,
    /// Those whose event log the registry still held, now ended (cluster mode).
    pub ended: usize,
    /// Comparisons the store had finished whose `complete` the process died before
    /// publishing: their logs now end as the store has them (cluster mode).
    pub ended_as_stored: usize,
}

/// The events that end a log the registry holds, for a comparison the store finished
/// (`stored`): the results its readers have not seen (`published`: what the log's events
/// folded into), then `status` and `complete` as stored.
pub fn stored_ending(stored: &StoredComparison, published: &[ModelSnapshot]) -> Vec<EventKind> {
    let seen = |i: usize| {
        published
            .iter()
            .any(|m| m.model_index == i && m.result.is_some())
    };
    let mut results: Vec<ModelResult> = stored
        .models
        .iter()
        .filter_map(|m| m.result.clone())
        .collect();
    results.sort_by_key(|r| r.model_index);
    let mut out: Vec<EventKind> = results
        .iter()
        .filter(|r| !seen(r.model_index))
        .map(|r| EventKind::ModelResult(Box::new(r.clone())))
        .collect();
    let status = stored.status;
    out.push(EventKind::Status { status });
    out.push(EventKind::Complete(Complete {
        request_id: stored.id.clone(),
        status,
        totals: stored.totals.unwrap_or_else(|| Totals::of(&results)),
        results,
        duration_ms: stored.duration_ms.unwrap_or_default(),
    }));
    out
}

/// The events that end comparison `request_id`, abandoned with `models` as its events left
/// them: for each model still without a result, `error` (`interrupted`), `stage` failed and
/// its `model_result` (the text it had streamed, marked partial; usage and cost unknown);
/// then `status` and `complete`, both `interrupted`, with every model's result.
pub fn interrupted_ending(
    request_id: &str,
    models: Vec<ModelSnapshot>,
    duration_ms: f64,
) -> Vec<EventKind> {
    let mut out = Vec::new();
    let mut results = Vec::with_capacity(models.len());
    for m in models {
        if let Some(r) = m.result {
            results.push(r);
            continue;
        }
        let model: Arc<str> = Arc::from(m.model);
        let error = ErrorInfo {
            code: ErrorCode::Interrupted,
            message: "the server running this comparison stopped before the model finished".into(),
            retryable: ErrorCode::Interrupted.default_retryable(),
        };
        out.push(EventKind::Error {
            model_index: Some(m.model_index),
            model: Some(model.clone()),
            code: error.code,
            message: error.message.clone(),
            retryable: error.retryable,
        });
        out.push(EventKind::Stage {
            model_index: m.model_index,
            model: model.clone(),
            stage: Stage::Failed,
        });
        let result = ModelResult {
            model_index: m.model_index,
            model,
            partial: !m.text.is_empty(),
            text: m.text,
            reasoning: String::new(),
            tool_calls: Vec::new(),
            finish_reason: Some(FinishReason::Error),
            raw_finish_reason: None,
            // What the call used (and cost upstream) died with the process.
            usage: Usage::default(),
            cost: Cost::UNPRICED,
            timing: Timing::default(),
            error: Some(error),
            served_by: None,
            attempts: Vec::new(),
            history_trimmed: 0,
            structured: None,
            steps: 0,
            exchange: Vec::new(),
        };
        out.push(EventKind::ModelResult(Box::new(result.clone())));
        results.push(result);
    }
    results.sort_by_key(|r| r.model_index);
    let status = RequestStatus::Interrupted;
    out.push(EventKind::Status { status });
    out.push(EventKind::Complete(Complete {
        request_id: request_id.to_string(),
        status,
        totals: Totals::of(&results),
        results,
        duration_ms,
    }));
    out
}

impl Service {
    /// On start-up: turns the comparisons this instance's previous process left running into
    /// `interrupted` (store), and ends their event logs where the registry outlived the
    /// process (Redis), so clients following them elsewhere see them end. Call it before
    /// serving; instances must not share an id.
    pub async fn recover(&self) -> Result<Recovered> {
        let Some(store) = self.store_ref() else {
            return Ok(Recovered::default());
        };
        let abandoned = store.mark_interrupted(self.instance_ref()).await?;
        let mut done = Recovered {
            interrupted: abandoned.len(),
            ..Recovered::default()
        };
        let registry = self.registry_ref();
        // Read before any is ended (ending one takes it off the list).
        let unended = registry.left_unfinished(self.instance_ref()).await?;
        let interrupted: std::collections::HashSet<String> =
            abandoned.iter().map(|c| c.id.clone()).collect();
        for c in abandoned {
            let ended = self
                .end_open_log(&c.owner, &c.id, |info, models| {
                    let created = i64::try_from(info.created_at_ms).unwrap_or(0);
                    let duration_ms = now_ms().saturating_sub(created);
                    interrupted_ending(&c.id, models, duration_ms as f64)
                })
                .await?;
            done.ended += usize::from(ended);
        }
        for (owner, id) in unended {
            if interrupted.contains(&id) {
                continue;
            }
            // No row (it was discarded when its registration failed), or not final (never
            // here: every running row of this instance was just marked): nothing to take
            // an ending from.
            let Some(stored) = store.comparison(&owner, &id).await? else {
                continue;
            };
            if !stored.status.is_terminal() {
                continue;
            }
            let ended = self
                .end_open_log(&owner, &id, |_, published| {
                    stored_ending(&stored, &published)
                })
                .await?;
            done.ended_as_stored += usize::from(ended);
        }
        Ok(done)
    }

    /// Ends the log of `id` with what `ending` makes of it (its info and its models as its
    /// events left them), if the registry still holds it open; whether it did.
    async fn end_open_log(
        &self,
        owner: &str,
        id: &str,
        ending: impl FnOnce(&RequestInfo, Vec<ModelSnapshot>) -> Vec<EventKind>,
    ) -> Result<bool> {
        let registry = self.registry_ref();
        let info = match registry.status(owner, id).await {
            Ok(info) => info,
            // Gone from the registry (memory, or expired): nobody can be following it.
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if info.status.is_terminal() {
            return Ok(false);
        }
        let events = registry.events(owner, id, 0).await?;
        let models = fold(&info.models, events).models;
        let ending = ending(&info, models);
        registry.end_abandoned(owner, id, ending).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(i: usize, text: &str, result: Option<ModelResult>) -> ModelSnapshot {
        ModelSnapshot {
            model_index: i,
            model: format!("sim/m{i}"),
            stage: Stage::Streaming,
            text: text.into(),
            result,
        }
    }

    #[test]
    fn an_ending_fails_each_unfinished_model_and_completes_with_every_result() {
        let done = ModelResult {
            usage: Usage {
                input_tokens: 3,
                output_tokens: 5,
                ..Usage::default()
            },
            ..interrupted_result(0)
        };
        let done = ModelResult {
            error: None,
            finish_reason: Some(FinishReason::Stop),
            text: "finished".into(),
            ..done
        };
        let ending = interrupted_ending(
            "r1",
            vec![
                model(0, "finished", Some(done.clone())),
                model(1, "half an ans", None),
                model(2, "", None),
            ],
            1234.0,
        );
        let kinds: Vec<&str> = ending.iter().map(EventKind::type_name).collect();
        assert_eq!(
            kinds,
            [
                "error",
                "stage",
                "model_result",
                "error",
                "stage",
                "model_result",
                "status",
                "complete"
            ]
        );
        let EventKind::Complete(c) = &ending[7] else {
            panic!("{ending:?}")
        };
        assert_eq!(c.status, RequestStatus::Interrupted);
        assert_eq!(c.request_id, "r1");
        assert_eq!(c.duration_ms, 1234.0);
        assert_eq!(c.results.len(), 3);
        assert_eq!(c.results[0], done);
        let half = &c.results[1];
        assert_eq!(
            (
                half.text.as_str(),
                half.partial,
                half.error.as_ref().map(|e| e.code)
            ),
            ("half an ans", true, Some(ErrorCode::Interrupted))
        );
        assert!(!c.results[2].partial);
        assert!(!half.cost.priced);
        // Totals: the finished model's tokens; unpriced, since two costs are unknown.
        assert_eq!((c.totals.input_tokens, c.totals.output_tokens), (3, 5));
        assert!(!c.totals.priced);
    }

    fn finished(i: usize, text: &str) -> ModelResult {
        ModelResult {
            error: None,
            finish_reason: Some(FinishReason::Stop),
            partial: false,
            text: text.into(),
            ..interrupted_result(i)
        }
    }

    #[test]
    fn a_stored_ending_publishes_the_unseen_results_and_the_stored_status() {
        let (a, b) = (finished(0, "first"), finished(1, "second"));
        let stored = StoredComparison {
            id: "c".into(),
            owner: "alice".into(),
            status: RequestStatus::Completed,
            models: vec![
                crate::StoredModel {
                    model_index: 1,
                    model: "sim/m1".into(),
                    text: "second".into(),
                    result: Some(b.clone()),
                },
                crate::StoredModel {
                    model_index: 0,
                    model: "sim/m0".into(),
                    text: "first".into(),
                    result: Some(a.clone()),
                },
            ],
            metadata: None,
            created_at_ms: 1,
            finished_at_ms: Some(2),
            totals: None,
            duration_ms: Some(12.5),
            preference: None,
            session_id: None,
            prompt: None,
            blind: false,
            attachments: Vec::new(),
            category: None,
            tags: Vec::new(),
        };
        // Readers saw model 0's result; model 1 was still streaming when the process died.
        let published = [model(0, "first", Some(a.clone())), model(1, "sec", None)];
        let ending = stored_ending(&stored, &published);
        assert_eq!(ending.len(), 3, "{ending:?}");
        assert!(matches!(&ending[0], EventKind::ModelResult(r) if **r == b));
        assert!(matches!(
            ending[1],
            EventKind::Status {
                status: RequestStatus::Completed
            }
        ));
        let EventKind::Complete(c) = &ending[2] else {
            panic!("no complete: {ending:?}");
        };
        assert_eq!(c.status, RequestStatus::Completed);
        assert_eq!(c.results, vec![a, b], "every result, by model_index");
        assert_eq!(c.duration_ms, 12.5);
        assert_eq!(c.request_id, "c");
    }

    fn interrupted_result(i: usize) -> ModelResult {
        let ending = interrupted_ending("x", vec![model(i, "", None)], 0.0);
        match ending.into_iter().find_map(|e| match e {
            EventKind::ModelResult(r) => Some(*r),
            _ => None,
        }) {
            Some(r) => r,
            None => panic!("no result"),
        }
    }
}
