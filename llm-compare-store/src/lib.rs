//! # llm-compare-store
//!
//! Persistence: comparisons (each model's streamed text and final result), sessions and their
//! turns, votes, a usage ledger and budget reservations. One [`Store`] trait, one SQL
//! implementation ([`SqlStore`], sqlx) over two backends chosen by URL: SQLite
//! (`sqlite://path/llm-compare.db`, embedded, WAL — the default) and PostgreSQL
//! (`postgres://…`). The schema is in `migrations/` and applied on open. What uses it —
//! the comparing service, budgets, the leaderboard — is `llm-compare-service`.
//!
//! Failures are typed: a database that is unreachable, timing out or too busy is
//! [`Error::Unavailable`] (503, retryable); a stored row that does not decode is an error
//! naming the row (logged), never a default.
//!
//! Durability contract used by the server: a model's result is written before its
//! `model_result` event is sent, a comparison before its `complete`; streamed text is saved
//! periodically, so a process that dies leaves `running` comparisons that
//! [`Store::mark_interrupted`] turns into `interrupted` with their partial text.
//!
//! Budgets: a comparison is recorded together with a reservation of its worst-case cost, in
//! one transaction that fails with [`Error::BudgetExceeded`] when the owner's period would go
//! over its limit; each model's result then replaces its reservation by its actual cost. So
//! concurrent requests cannot overshoot together, on one server or many sharing a database.

use std::sync::Arc;

use async_trait::async_trait;
use llm_compare_core::{Error, ModelResult, RequestStatus, Result, Totals};
use serde::{Deserialize, Serialize};

mod group;
mod keys;
mod sql;

pub use keys::{KeyLimits, StoredKey};
pub use sql::SqlStore;

/// A new comparison, as registered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewComparison {
    /// Its id.
    pub id: String,
    /// Who asked.
    pub owner: String,
    /// Its models, by `model_index`.
    pub models: Vec<String>,
    /// The caller's own data.
    pub metadata: Option<serde_json::Value>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// The session it continues.
    pub session_id: Option<String>,
    /// The user's message (a session turn's question).
    pub prompt: Option<String>,
    /// Model names hidden until the vote.
    pub blind: bool,
    /// The server instance running it (see [`Store::mark_interrupted`]).
    pub instance: String,
    /// Worst-case cost to hold against the owner's budget.
    pub reservation: Option<Reservation>,
    /// What it is.
    pub kind: ComparisonKind,
    /// The images and files of its prompt (stored once each, by content).
    pub attachments: Vec<llm_compare_core::Part>,
    /// Its category (per-category leaderboards).
    pub category: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// What a stored comparison is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComparisonKind {
    /// `POST /v1/comparisons`, a session turn, `engine.submit`.
    #[default]
    Comparison,
    /// One model through the OpenAI-compatible `/v1/chat/completions`.
    ChatCompletion,
    /// One model through the Anthropic-compatible `/v1/messages`.
    Message,
    /// One model through the OpenAI-compatible `/v1/responses`.
    Response,
    /// A judge's call in an evaluation run: held against the budget and in the usage
    /// ledger like any call, not listed with the comparisons.
    Judge,
}

impl ComparisonKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Comparison => "comparison",
            Self::ChatCompletion => "chat_completion",
            Self::Message => "message",
            Self::Response => "response",
            Self::Judge => "judge",
        }
    }

    /// From its stored form (`None`: not a kind).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "comparison" => Some(Self::Comparison),
            "chat_completion" => Some(Self::ChatCompletion),
            "message" => Some(Self::Message),
            "response" => Some(Self::Response),
            "judge" => Some(Self::Judge),
            _ => None,
        }
    }
}

/// One write to the store ([`Store::write_batch`]): what [`Store::create_comparison`],
/// [`Store::save_result`] and [`Store::finish_comparison`] do, as data.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Record a comparison.
    Create(Box<NewComparison>),
    /// A model's result.
    Result {
        /// The comparison.
        id: String,
        /// The result.
        result: Box<ModelResult>,
    },
    /// The end of a comparison.
    Finish {
        /// The comparison.
        id: String,
        /// How it ended.
        complete: Box<llm_compare_core::Complete>,
    },
    /// A Responses-API thread (replacing one of the same id).
    Thread(Box<ResponseThread>),
}

impl Write {
    /// The comparison it is for.
    pub fn comparison_id(&self) -> &str {
        match self {
            Write::Create(c) => &c.id,
            Write::Result { id, .. } | Write::Finish { id, .. } => id,
            // Its own key: a thread is not ordered with its comparison's writes (the two are
            // read apart), and must not keep a comparison from being recorded whole.
            Write::Thread(t) => &t.id,
        }
    }
}

/// A hold on an owner's budget for one comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The period's limit, pico-USD.
    pub limit_pico: i64,
    /// Start of the budget period (Unix ms): the period's key.
    pub period_start_ms: i64,
    /// Worst-case cost per model, by `model_index`, pico-USD.
    pub per_model_pico: Vec<i64>,
    /// Whose budget it is held against: the comparison's owner when None; an API key with a
    /// budget of its own holds against `key:<id>`.
    pub account: Option<String>,
}

/// One model of a stored comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredModel {
    /// Its position.
    pub model_index: usize,
    /// Its id.
    pub model: String,
    /// Its text (final, or as far as it was saved).
    pub text: String,
    /// Its result, once it finished.
    pub result: Option<ModelResult>,
}

/// A comparison [`Store::mark_interrupted`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// Who asked.
    pub owner: String,
    /// Its id.
    pub id: String,
}

/// A stored comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredComparison {
    /// Its id.
    pub id: String,
    /// Who asked.
    pub owner: String,
    /// Its status.
    pub status: RequestStatus,
    /// Its models, by `model_index`.
    pub models: Vec<StoredModel>,
    /// The caller's own data.
    pub metadata: Option<serde_json::Value>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds, once finished.
    pub finished_at_ms: Option<i64>,
    /// Totals, once complete.
    pub totals: Option<Totals>,
    /// Duration, once complete.
    pub duration_ms: Option<f64>,
    /// The vote, if any.
    pub preference: Option<Vote>,
    /// The session it belongs to.
    pub session_id: Option<String>,
    /// The user's message, for session turns.
    pub prompt: Option<String>,
    /// Whether model names are hidden until the vote.
    pub blind: bool,
    /// The images and files of its prompt.
    pub attachments: Vec<AttachmentRef>,
    /// Its category.
    pub category: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// An image or file of a stored prompt: what it is and where its bytes are (the store's
/// attachments, by SHA-256; or the URL the provider fetched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    /// `image` or `file`.
    #[serde(rename = "type")]
    pub kind: AttachmentKind,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub media_type: Option<String>,
    /// SHA-256 of its bytes, hex (bytes given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub sha256: Option<String>,
    /// Its size in bytes (bytes given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub size: Option<u64>,
    /// Its URL (a URL given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub url: Option<String>,
    /// Its file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub name: Option<String>,
}

/// What an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// An image.
    Image,
    /// A file (PDF, text).
    File,
}

/// An attachment's bytes, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    /// Its media type.
    pub media_type: String,
    /// The bytes, base64.
    pub data: std::sync::Arc<str>,
}

impl AttachmentRef {
    /// The reference to store for `part` (and the base64 to store under it, when the part
    /// carries bytes); None for text. The bytes are hashed in pieces (no copy held).
    pub fn of(
        part: &llm_compare_core::Part,
    ) -> Result<Option<(Self, Option<std::sync::Arc<str>>)>> {
        use llm_compare_core::Part;
        use llm_compare_core::Source;
        let (kind, name) = match part {
            Part::Text { .. } => return Ok(None),
            Part::Image { .. } => (AttachmentKind::Image, None),
            Part::File { name, .. } => (AttachmentKind::File, name.clone()),
        };
        Ok(Some(match part.source() {
            Some(Source::Bytes { media_type, data }) => {
                let found = llm_compare_core::inspect(&data, usize::MAX)
                    .map_err(|e| Error::invalid("attachments", e.to_string()))?;
                (
                    Self {
                        kind,
                        media_type: Some(media_type.to_string()),
                        sha256: Some(found.sha256),
                        size: Some(found.len as u64),
                        url: None,
                        name,
                    },
                    // A data: URL's base64 is a tail of the URL: stored as its own string.
                    Some(match part {
                        Part::Image { data: Some(d), .. } | Part::File { data: Some(d), .. } => {
                            d.clone()
                        }
                        _ => std::sync::Arc::from(data.as_str()),
                    }),
                )
            }
            Some(Source::Url { url, media_type }) => (
                Self {
                    kind,
                    media_type: media_type.map(str::to_string),
                    sha256: None,
                    size: None,
                    url: Some(url.to_string()),
                    name,
                },
                None,
            ),
            None => return Ok(None),
        }))
    }

    /// The part this reference stands for, with `data` (its stored bytes; None for a URL).
    pub fn to_part(&self, data: Option<std::sync::Arc<str>>) -> llm_compare_core::Part {
        use llm_compare_core::Part;
        let url = if data.is_some() {
            None
        } else {
            self.url.as_deref().map(std::sync::Arc::from)
        };
        match self.kind {
            AttachmentKind::Image => Part::Image {
                media_type: self.media_type.clone(),
                data,
                url,
            },
            AttachmentKind::File => Part::File {
                media_type: self.media_type.clone(),
                data,
                url,
                name: self.name.clone(),
            },
        }
    }
}

/// A comparison without its texts (listings).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparisonSummary {
    /// Its id.
    pub id: String,
    /// Its status.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: RequestStatus,
    /// Its models, by `model_index` ("Model A", … while blind and not voted on).
    pub models: Vec<String>,
    /// The user's message (at most 200 characters of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub prompt: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Whether model names are hidden until the vote.
    pub blind: bool,
    /// Whether it has a vote.
    pub voted: bool,
    /// A comparison, a chat completion (`/v1/chat/completions`), a message
    /// (`/v1/messages`) or a response (`/v1/responses`).
    pub kind: ComparisonKind,
}

/// A new session.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// Its id.
    pub id: String,
    /// Who owns it.
    pub owner: String,
    /// A title.
    pub title: Option<String>,
    /// Its models, by `model_index`.
    pub models: Vec<String>,
    /// A system prompt for every turn.
    pub system: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// An answer of the Responses door kept for `previous_response_id` and
/// `GET /v1/responses/{id}`: the conversation through the answer, and the answer as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseThread {
    /// The answer's id (`resp_…`).
    pub id: String,
    /// Who asked: only they may continue or read it.
    pub owner: String,
    /// The stored comparison of the call.
    pub comparison_id: String,
    /// The model that answered (a follow-up continues with it).
    pub model: String,
    /// The conversation through the answer: the instructions, every input and output item.
    pub messages: Vec<llm_compare_core::Message>,
    /// The answer, as the door sent it (its Response object).
    pub response: serde_json::Value,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// A session without its turns (listings).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionSummary {
    /// Its id.
    pub id: String,
    /// A title.
    pub title: Option<String>,
    /// Its models, by `model_index`.
    pub models: Vec<String>,
    /// Its system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub system: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// How many turns it has.
    #[serde(rename = "turn_count")]
    pub turns: u64,
}

/// A session with its turns (comparisons, oldest first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSession {
    /// The session.
    #[serde(flatten)]
    pub summary: SessionSummary,
    /// Its turns, oldest first.
    pub turns: Vec<StoredComparison>,
}

/// A vote on a finished comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The winning `model_index`, or `"tie"`, or `"all_bad"`.
    pub winner: Winner,
    /// Free-text feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

/// Who won.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum Winner {
    /// A model, by `model_index`.
    Model(usize),
    /// `"tie"` or `"all_bad"`.
    Outcome(Outcome),
}

/// The non-model outcomes of a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// All equally good.
    Tie,
    /// None was good.
    AllBad,
}

impl Winner {
    fn to_db(&self) -> String {
        match self {
            Winner::Model(i) => i.to_string(),
            Winner::Outcome(Outcome::Tie) => "tie".into(),
            Winner::Outcome(Outcome::AllBad) => "all_bad".into(),
        }
    }

    /// The stored form of comparison `id`'s vote; anything else is a corrupt row (never
    /// "model 0 won").
    fn from_db(id: &str, s: &str) -> Result<Self> {
        match s {
            "tie" => Ok(Winner::Outcome(Outcome::Tie)),
            "all_bad" => Ok(Winner::Outcome(Outcome::AllBad)),
            n => n
                .parse()
                .map(Winner::Model)
                .map_err(|_| sql::corrupt("preferences", id, format!("unknown winner `{n}`"))),
        }
    }
}

/// What style control knows of an answer: its length and its markdown.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AnswerStyle {
    /// Words.
    pub words: u32,
    /// Markdown elements: headers, list items, bold spans, code fences.
    pub markdown: u32,
}

impl AnswerStyle {
    /// `text`'s style.
    pub fn of(text: &str) -> Self {
        let mut markdown = 0u32;
        for line in text.lines() {
            let t = line.trim_start();
            let header = t.starts_with('#') && t.trim_start_matches('#').starts_with(' ');
            let bullet = t.starts_with("- ") || t.starts_with("* ") || t.starts_with("+ ");
            let numbered = t
                .split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            let fence = t.starts_with("```");
            markdown += u32::from(header || bullet || numbered || fence);
            markdown += u32::try_from(line.matches("**").count() / 2).unwrap_or(u32::MAX);
        }
        Self {
            words: u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX),
            markdown,
        }
    }
}

/// An evaluation run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRunRecord {
    /// Its id.
    pub id: String,
    /// Whose run it is.
    pub owner: String,
    /// The dataset's name (its file).
    pub dataset: String,
    /// The dataset's SHA-256: a resumed run must be given the same rows.
    pub dataset_sha256: String,
    /// The run's options (the service's JSON).
    pub options: serde_json::Value,
    /// Rows × repeats.
    pub units: u64,
    /// The summary, once finished.
    pub summary: Option<serde_json::Value>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms, once finished.
    pub finished_at_ms: Option<i64>,
    /// How many rows (× repeats) it has finished.
    pub rows_done: u64,
    /// Its finished rows' reports (the service's JSON), oldest first; empty in a listing.
    pub rows: Vec<serde_json::Value>,
}

/// A judge's verdict on one pair of a comparison's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeVote {
    /// The comparison.
    pub comparison_id: String,
    /// The judge model.
    pub judge: String,
    /// The pair, by `model_index` (a < b).
    pub a_index: usize,
    /// The other.
    pub b_index: usize,
    /// `Some(true)`: a won; `Some(false)`: b won; `None`: a tie.
    pub a_won: Option<bool>,
    /// The judge's reason.
    pub reason: Option<String>,
}

/// One vote with what the leaderboard needs of its comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteRecord {
    /// The comparison voted on.
    pub comparison_id: String,
    /// When the vote was cast (Unix ms).
    pub at_ms: i64,
    /// Its models, by `model_index`.
    pub models: Vec<String>,
    /// The outcome.
    pub winner: Winner,
    /// Each model's time to first token, when it produced one.
    pub ttft_ms: Vec<Option<f64>>,
    /// Each model's cost in pico-USD, when priced.
    pub cost_pico: Vec<Option<i64>>,
    /// Each answer's style (length, markdown), by position in `models`: the covariates of
    /// style control.
    pub style: Vec<AnswerStyle>,
    /// Who voted: `human`, or `judge:<model>` (then `models` is the judged pair).
    pub source: String,
    /// The comparison's category.
    pub category: Option<String>,
    /// A judge's vote: the pair's `model_index`es in the comparison.
    pub pair: Option<(usize, usize)>,
}

impl VoteRecord {
    /// What identifies the vote: its comparison (a human's), with the judge and pair (a
    /// judge's).
    pub fn key(&self) -> String {
        match self.pair {
            None => self.comparison_id.clone(),
            Some((a, b)) => format!("{}|{}|{a}|{b}", self.comparison_id, self.source),
        }
    }
}

/// One row of a usage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// The model.
    pub model: String,
    /// The UTC day (days since 1970-01-01).
    pub day: i64,
    /// Model calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost of the priced calls, pico-USD.
    pub cost_pico: i64,
    /// Calls without a known price (not in `cost_pico`).
    pub unpriced_calls: u64,
    /// Where these calls' costs came from; None for entries made before sources were kept.
    pub cost_source: Option<llm_compare_core::CostSource>,
}

/// An owner's budget period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct BudgetState {
    /// Spent (settled) in the period, pico-USD.
    pub spent_pico: i64,
    /// Spent plus still reserved by running comparisons, pico-USD.
    pub committed_pico: i64,
}

/// Where comparisons, sessions, votes, evaluations, usage and keys live: the sum of the
/// store's roles, each a trait of its own (bring the one you call into scope, or
/// `use llm_compare_store::roles::*`).
#[async_trait]
pub trait Store:
    ComparisonStore + SessionStore + VoteStore + EvalStore + UsageStore + KeyStore + std::fmt::Debug
{
    /// Whether the database answers (`SELECT 1`): [`Error::Unavailable`] when it does not.
    async fn ping(&self) -> Result<()>;
}

/// Comparisons: their records, streamed progress, results, endings and attachments.
#[async_trait]
pub trait ComparisonStore: Send + Sync {
    /// Records a new comparison (status `running`), reserving its worst-case cost when it
    /// carries a [`Reservation`]: [`Error::BudgetExceeded`] (and nothing recorded) when the
    /// period's committed cost would go over the limit.
    async fn create_comparison(&self, c: &NewComparison) -> Result<()>;
    /// Makes `writes` in order, in one transaction (all or none): how records that waited —
    /// chat completions written after they ran, writes held through an outage — reach the
    /// database in one go instead of a transaction each.
    async fn write_batch(&self, writes: &[Write]) -> Result<()>;
    /// Forgets a comparison that never ran (its registration failed), releasing its reservation.
    async fn discard_comparison(&self, id: &str) -> Result<()>;
    /// Saves a model's text so far (periodically while it streams).
    async fn save_progress(
        &self,
        id: &str,
        model_index: usize,
        model: &str,
        text: &str,
    ) -> Result<()>;
    /// Saves a model's final result, enters its cost in the usage ledger and settles its
    /// budget reservation (the reservation is replaced by the actual cost).
    async fn save_result(&self, id: &str, result: &ModelResult) -> Result<()>;
    /// Saves the end of a comparison.
    async fn finish_comparison(
        &self,
        id: &str,
        complete: &llm_compare_core::Complete,
    ) -> Result<()>;
    /// A comparison of `owner` (None if unknown or another owner's).
    async fn comparison(&self, owner: &str, id: &str) -> Result<Option<StoredComparison>>;
    /// `owner`'s comparisons outside sessions (session turns are listed with their session),
    /// newest first, at most `limit`, older than comparison id `before`. Blind ones that have
    /// no vote yet list "Model A", … instead of their models.
    async fn comparisons(
        &self,
        owner: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<ComparisonSummary>>;
    /// Turns every `running`/`pending` comparison of server `instance` into `interrupted`
    /// (on its start-up: the process that ran them is gone). Their reservations stay spent:
    /// what an interrupted call cost upstream is unknown. Returns them.
    async fn mark_interrupted(&self, instance: &str) -> Result<Vec<Interrupted>>;

    /// The stored bytes of attachment `sha256`.
    async fn attachment(&self, sha256: &str) -> Result<Option<StoredAttachment>>;
    /// The decoded bytes of the attachments `owner` stored, each counted once.
    async fn attachment_bytes(&self, owner: &str) -> Result<u64>;
}

/// Sessions and their turns, and the Responses door's threads.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Records a new session.
    async fn create_session(&self, s: &NewSession) -> Result<()>;
    /// `owner`'s sessions, newest first, at most `limit`, older than session id `before`.
    async fn sessions(
        &self,
        owner: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<SessionSummary>>;
    /// A session of `owner` with its turns (None if unknown or another owner's).
    async fn session(&self, owner: &str, id: &str) -> Result<Option<StoredSession>>;
    /// Deletes a session and its turns; false if unknown or another owner's.
    async fn delete_session(&self, owner: &str, id: &str) -> Result<bool>;
    /// Keeps an answer of the Responses door (its thread), replacing one of the same id;
    /// group-committed with the comparison writes (on disk when this returns).
    async fn save_thread(&self, t: &ResponseThread) -> Result<()>;
    /// An answer of `owner`'s (None if unknown or another owner's).
    async fn thread(&self, owner: &str, id: &str) -> Result<Option<ResponseThread>>;
}

/// Votes: people's and the judges'.
#[async_trait]
pub trait VoteStore: Send + Sync {
    /// Records `owner`'s vote: not found → [`Error::NotFound`]; not finished, or voted
    /// already → [`Error::Conflict`]; a winner out of range → [`Error::InvalidRequest`].
    async fn vote(&self, owner: &str, id: &str, vote: &Vote) -> Result<()>;

    /// Votes cast at or after `since_ms`, oldest first: the human votes and the judges'.
    async fn votes_since(&self, since_ms: i64) -> Result<Vec<VoteRecord>>;
    /// Records judges' pairwise verdicts (a verdict already recorded is replaced).
    async fn judge_votes(&self, votes: &[JudgeVote]) -> Result<()>;
}

/// Evaluation runs and their rows.
#[async_trait]
pub trait EvalStore: Send + Sync {
    /// Records a new evaluation run (its `rows` are ignored).
    async fn create_eval_run(&self, run: &EvalRunRecord) -> Result<()>;
    /// `owner`'s run `id` with its finished rows (None if unknown or another owner's).
    async fn eval_run(&self, owner: &str, id: &str) -> Result<Option<EvalRunRecord>>;
    /// `owner`'s evaluation runs, newest first, at most `limit` (without their rows).
    async fn eval_runs(&self, owner: &str, limit: u32) -> Result<Vec<EvalRunRecord>>;
    /// Records a finished row of run `run_id` (once: a row recorded already is a conflict).
    async fn save_eval_row(
        &self,
        run_id: &str,
        row_id: &str,
        repeat: u32,
        comparison_id: &str,
        report: &serde_json::Value,
    ) -> Result<()>;
    /// Records run `run_id`'s summary: it finished.
    async fn finish_eval_run(&self, run_id: &str, summary: &serde_json::Value) -> Result<()>;
}

/// The usage ledger and budget periods.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// `owner`'s usage from `from_ms` (inclusive) to `to_ms` (exclusive), per model and day.
    async fn usage(&self, owner: &str, from_ms: i64, to_ms: i64) -> Result<Vec<UsageRow>>;
    /// `owner`'s budget period starting at `period_start_ms`.
    async fn budget(&self, owner: &str, period_start_ms: i64) -> Result<BudgetState>;
}

/// API keys (their digests, never their secrets).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new API key (its digest, never its secret) and bumps the key epoch.
    async fn insert_key(&self, key: &StoredKey) -> Result<()>;
    /// Saves a key's name, scope, limits, expiry and revocation (a revoked key stays revoked)
    /// and bumps the key epoch; false when there is no such key.
    async fn update_key(&self, key: &StoredKey) -> Result<bool>;
    /// Key `id`.
    async fn key(&self, id: &str) -> Result<Option<StoredKey>>;
    /// The key whose secret has this hex SHA-256 digest.
    async fn key_by_digest(&self, digest: &str) -> Result<Option<StoredKey>>;
    /// Keys, newest first, up to `limit`, before the key id `before` (ids sort by creation).
    async fn keys(&self, limit: u32, before: Option<&str>) -> Result<Vec<StoredKey>>;
    /// Every key, revoked ones included (what a server caches).
    async fn all_keys(&self) -> Result<Vec<StoredKey>>;
    /// The key epoch: changes whenever a key does.
    async fn key_epoch(&self) -> Result<i64>;
    /// Records that key `id` was used at `at_ms`.
    async fn touch_key(&self, id: &str, at_ms: i64) -> Result<()>;
}

/// The store's roles, to bring their methods into scope at once.
pub mod roles {
    pub use crate::{
        ComparisonStore, EvalStore, KeyStore, SessionStore, Store, UsageStore, VoteStore,
    };
}

/// A shared store.
pub type SharedStore = Arc<dyn Store>;

/// The error for a `what` (comparison, session) that is unknown or another owner's.
pub fn not_yours(what: &str, id: &str) -> Error {
    Error::NotFound(format!("no {what} `{id}` (unknown or not yours)"))
}
