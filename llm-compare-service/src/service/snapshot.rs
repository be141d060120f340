//! A comparison as its events tell it: the fold of events into per-model snapshots, and the
//! snapshot of a stored comparison or session turn.

use std::collections::HashMap;
use std::sync::Arc;

use llm_compare_core::{Event, EventKind, ModelResult, RequestStatus, Stage, Totals, Turn};
use serde::Serialize;

use crate::{AttachmentRef, SessionSummary, StoredComparison};

use super::bodies::{VoteBody, with_attachments};

/// One model's state in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelSnapshot {
    /// Its position.
    pub model_index: usize,
    /// Its id.
    pub model: String,
    /// Its stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage: Stage,
    /// The text streamed so far.
    pub text: String,
    /// Its result, once it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub result: Option<ModelResult>,
}

/// A comparison now (`GET /v1/comparisons/{id}`, `engine.snapshot`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    /// The id.
    pub request_id: String,
    /// Its status.
    pub status: RequestStatus,
    /// Unix milliseconds of its creation.
    pub created_at_ms: u64,
    /// The last event's seq.
    pub last_seq: u64,
    /// Each model, by `model_index`.
    pub models: Vec<ModelSnapshot>,
    /// Totals, once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub totals: Option<Totals>,
    /// Duration, once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub duration_ms: Option<f64>,
    /// The metadata given at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub metadata: Option<serde_json::Value>,
    /// The vote, once cast.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub preference: Option<VoteBody>,
    /// The user's message (session turns, and comparisons of a server with a store).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub prompt: Option<String>,
    /// The session this comparison is a turn of.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub session_id: Option<String>,
    /// Blind: model names are "Model A", … until the vote.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub blind: bool,
    /// The prompt's images and files (their bytes: `GET
    /// /v1/comparisons/{id}/attachments/{index}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<AttachmentRef>>", optional))]
    pub attachments: Vec<AttachmentRef>,
    /// Its category.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub category: Option<String>,
    /// Its tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>", optional))]
    pub tags: Vec<String>,
}

impl Snapshot {
    /// Model names as a blind comparison shows them before the vote.
    pub(super) fn blind(&mut self) {
        for m in &mut self.models {
            m.model = llm_compare_core::blind_label(m.model_index);
            if let Some(r) = &mut m.result {
                r.blind();
            }
        }
    }
}

/// A session with its turns (`GET /v1/sessions/{id}`, `engine.session`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionDetail {
    /// The session.
    #[serde(flatten)]
    pub session: SessionSummary,
    /// Its turns, oldest first: the question (`prompt`), every model's answer and the vote.
    pub turns: Vec<Snapshot>,
}

/// A comparison's state as its events tell it: each model's stage, text and result, and the
/// totals once complete (snapshots; the ending of an abandoned comparison).
pub(crate) struct Folded {
    pub(crate) models: Vec<ModelSnapshot>,
    pub(crate) totals: Option<Totals>,
    pub(crate) duration_ms: Option<f64>,
}

/// Folds `events` of a comparison of models `names`.
pub(crate) fn fold(names: &[String], events: Vec<Event>) -> Folded {
    let mut models: Vec<ModelSnapshot> = names
        .iter()
        .enumerate()
        .map(|(i, m)| ModelSnapshot {
            model_index: i,
            model: m.clone(),
            stage: Stage::Queued,
            text: String::new(),
            result: None,
        })
        .collect();
    let mut totals = None;
    let mut duration_ms = None;
    for e in events {
        match e.kind {
            EventKind::Stage {
                model_index, stage, ..
            } => {
                if let Some(m) = models.get_mut(model_index) {
                    m.stage = stage;
                }
            }
            EventKind::ResponseChunk {
                model_index, delta, ..
            } => {
                if let Some(m) = models.get_mut(model_index) {
                    m.text.push_str(&delta);
                }
            }
            EventKind::ModelResult(r) => {
                if let Some(m) = models.get_mut(r.model_index) {
                    m.text.clone_from(&r.text);
                    m.result = Some(*r);
                }
            }
            EventKind::Complete(c) => {
                totals = Some(c.totals);
                duration_ms = Some(c.duration_ms);
            }
            _ => {}
        }
    }
    Folded {
        models,
        totals,
        duration_ms,
    }
}

/// A snapshot from the store: after a restart, once the registry has let it go, or as a
/// session turn.
pub fn stored_snapshot(c: StoredComparison) -> Snapshot {
    let models = c
        .models
        .into_iter()
        .map(|m| ModelSnapshot {
            model_index: m.model_index,
            stage: match &m.result {
                Some(r) if r.error.is_some() => Stage::Failed,
                Some(_) => Stage::Done,
                None if c.status.is_terminal() => Stage::Cancelled,
                None => Stage::Streaming,
            },
            model: m.model,
            text: m.text,
            result: m.result,
        })
        .collect();
    let hide = c.blind && c.preference.is_none();
    let mut snap = Snapshot {
        request_id: c.id,
        status: c.status,
        created_at_ms: u64::try_from(c.created_at_ms).unwrap_or(0),
        last_seq: 0,
        models,
        totals: c.totals,
        duration_ms: c.duration_ms,
        metadata: c.metadata,
        preference: c.preference.map(Into::into),
        prompt: c.prompt,
        session_id: c.session_id,
        blind: c.blind,
        attachments: c.attachments,
        category: c.category,
        tags: c.tags,
    };
    if hide {
        snap.blind();
    }
    snap
}

/// The turn stored comparison `c` answered, its attachments' bytes from `blobs` (by SHA-256).
pub(super) fn turn_of(c: &StoredComparison, blobs: &HashMap<String, Arc<str>>) -> Option<Turn> {
    let prompt = c.prompt.clone()?;
    // A cancelled or interrupted turn was never seen through: left out, as in memory.
    if !matches!(c.status, RequestStatus::Completed | RequestStatus::Failed) {
        return None;
    }
    let parts: Vec<llm_compare_core::Part> = c
        .attachments
        .iter()
        .map(|r| r.to_part(r.sha256.as_ref().and_then(|h| blobs.get(h)).cloned()))
        .collect();
    Some(Turn {
        request_id: c.id.clone(),
        user: with_attachments(prompt, Some(parts)),
        answers: c
            .models
            .iter()
            .map(|m| (!m.text.is_empty()).then(|| m.text.clone()))
            .collect(),
        exchanges: c
            .models
            .iter()
            .map(|m| {
                m.result
                    .as_ref()
                    .map(|r| r.exchange.clone())
                    .unwrap_or_default()
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, kind: EventKind) -> Event {
        Event { seq, kind }
    }

    #[test]
    fn fold_gathers_each_models_stage_and_text() {
        let names = vec!["sim/a".to_string(), "sim/b".to_string()];
        let chunk = |seq, i, d: &str| {
            ev(
                seq,
                EventKind::ResponseChunk {
                    model_index: i,
                    model: names.get(i).map_or("none", String::as_str).into(),
                    delta: d.into(),
                },
            )
        };
        let events = vec![
            ev(
                1,
                EventKind::Stage {
                    model_index: 1,
                    model: "sim/b".into(),
                    stage: Stage::Streaming,
                },
            ),
            chunk(2, 0, "Hel"),
            chunk(3, 1, "Bon"),
            chunk(4, 0, "lo"),
            // An index no model has is ignored, not a panic.
            chunk(5, 7, "x"),
        ];
        let f = fold(&names, events);
        assert_eq!(f.models.len(), 2);
        assert_eq!(f.models[0].text, "Hello");
        assert_eq!(f.models[0].stage, Stage::Queued);
        assert_eq!(f.models[1].text, "Bon");
        assert_eq!(f.models[1].stage, Stage::Streaming);
        assert!(f.totals.is_none() && f.duration_ms.is_none());
    }

    #[test]
    fn fold_of_no_events_is_every_model_queued() {
        let f = fold(&["sim/a".to_string()], vec![]);
        assert_eq!(f.models[0].model, "sim/a");
        assert_eq!(f.models[0].stage, Stage::Queued);
        assert!(f.models[0].result.is_none());
    }
}
