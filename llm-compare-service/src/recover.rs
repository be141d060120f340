//! What a server does on start-up about the comparisons its previous process left running
//! (it crashed, or was killed): their rows become `interrupted` in the store, and — in
//! cluster mode, where clients may be following them on another server — their event logs
//! get an ending, so every stream still open on them ends with a `complete` instead of
//! waiting for events that will never come.

use std::sync::Arc;

use llm_compare_core::{
    Complete, Cost, ErrorCode, ErrorInfo, EventKind, FinishReason, ModelResult, RequestStatus,
    Result, Stage, Timing, Totals, Usage,
};

use crate::service::{ModelSnapshot, Service, fold, now_ms};

/// What [`Service::recover`] found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Comparisons of this instance the store had as running: now `interrupted`.
    pub interrupted: usize,
    /// Those whose event log the registry still held, now ended (cluster mode).
    pub ended: usize,
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
            ended: 0,
        };
        for c in abandoned {
            let registry = self.registry_ref();
            // Gone from the registry (memory, or expired): nobody can be following it.
            let Ok(info) = registry.status(&c.owner, &c.id).await else {
                continue;
            };
            if info.status.is_terminal() {
                continue;
            }
            let events = registry.events(&c.owner, &c.id, 0).await?;
            let models = fold(&info.models, events).models;
            let duration_ms =
                now_ms().saturating_sub(i64::try_from(info.created_at_ms).unwrap_or(0));
            let ending = interrupted_ending(&c.id, models, duration_ms as f64);
            if registry.end_abandoned(&c.owner, &c.id, ending).await? {
                done.ended += 1;
            }
        }
        Ok(done)
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
