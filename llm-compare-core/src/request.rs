//! Request types: messages, generation parameters, model ids and the comparison request.
//!
//! A [`CompareRequest`] is what a user asks for (one conversation, N models). The engine turns
//! it into one [`ChatRequest`] per model — the unit a [`crate::Provider`] serves — so that a
//! multi-turn session can give each model its own history.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default cap on the number of models in one comparison.
pub const DEFAULT_MAX_MODELS: usize = 8;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person asking.
    User,
    /// The model's earlier answer.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Generation parameters, passed to every model of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Sampling temperature, 0–2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Most tokens to generate, ≥ 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Nucleus sampling, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Stop sequences (at most 4, none empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Seed for providers that support deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Params {
    /// Checks every parameter's range, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(Error::invalid(
                "params.temperature",
                format!("temperature must be between 0 and 2, got {t}"),
            ));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(Error::invalid(
                "params.top_p",
                format!("top_p must be in (0, 1], got {p}"),
            ));
        }
        if self.max_tokens == Some(0) {
            return Err(Error::invalid(
                "params.max_tokens",
                "max_tokens must be at least 1",
            ));
        }
        if self.stop.len() > 4 {
            return Err(Error::invalid("params.stop", "at most 4 stop sequences"));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::invalid(
                "params.stop",
                "stop sequences must not be empty",
            ));
        }
        Ok(())
    }
}

/// A model id written `provider/model` (`openai/gpt-4o-mini`, `sim/echo`).
///
/// The provider is everything before the first `/`; the model may itself contain `/`
/// (`together/meta-llama/Llama-3-8b`). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId {
    full: Arc<str>,
    split: usize,
}

impl ModelId {
    /// Parses `provider/model`.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        match s.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(Self {
                split: p.len(),
                full: Arc::from(s),
            }),
            _ => Err(Error::UnknownModel {
                model: s.to_string(),
                message:
                    "model ids are written provider/model, e.g. openai/gpt-4o-mini or sim/echo"
                        .into(),
            }),
        }
    }

    /// The provider part (`openai`).
    pub fn provider(&self) -> &str {
        &self.full[..self.split]
    }

    /// The model part (`gpt-4o-mini`).
    pub fn model(&self) -> &str {
        &self.full[self.split + 1..]
    }

    /// The whole id (`openai/gpt-4o-mini`).
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The whole id as a shared string (no copy).
    pub fn as_arc(&self) -> Arc<str> {
        self.full.clone()
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelId({})", self.full)
    }
}

impl FromStr for ModelId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for ModelId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for ModelId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One model call: what a [`crate::Provider`] serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model to call.
    pub model: ModelId,
    /// The whole conversation, system message first when there is one.
    pub messages: Vec<Message>,
    /// Generation parameters.
    pub params: Params,
}

impl ChatRequest {
    /// The last user message (what `sim/echo` echoes).
    pub fn last_user_message(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
    }
}

/// What a user asks for: one conversation sent to N models at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareRequest {
    /// The models, `provider/model`, in column order.
    pub models: Vec<String>,
    /// The conversation (ends with the user's message).
    pub messages: Vec<Message>,
    /// A system prompt, put before the messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Generation parameters.
    #[serde(default)]
    pub params: Params,
}

impl CompareRequest {
    /// A single-prompt comparison.
    pub fn prompt(
        models: impl IntoIterator<Item = impl Into<String>>,
        prompt: impl Into<String>,
    ) -> Self {
        Self {
            models: models.into_iter().map(Into::into).collect(),
            messages: vec![Message::user(prompt)],
            system: None,
            params: Params::default(),
        }
    }

    /// Checks the shape of the request (models count, prompt, params) without resolving models.
    pub fn validate(&self, max_models: usize) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::invalid("models", "at least one model is required"));
        }
        if self.models.len() > max_models {
            return Err(Error::invalid(
                "models",
                format!(
                    "at most {max_models} models per comparison, got {}",
                    self.models.len()
                ),
            ));
        }
        if self.messages.is_empty() {
            return Err(Error::invalid(
                "prompt",
                "a prompt or messages are required",
            ));
        }
        match self.messages.last() {
            Some(m) if m.role == Role::User && m.content.trim().is_empty() => {
                return Err(Error::invalid("prompt", "the prompt must not be empty"));
            }
            Some(m) if m.role != Role::User => {
                return Err(Error::invalid(
                    "messages",
                    "the last message must be the user's",
                ));
            }
            _ => {}
        }
        self.params.validate()
    }

    /// The conversation every model receives: the system prompt, then the messages.
    pub fn conversation(&self) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.messages.len() + 1);
        if let Some(s) = &self.system
            && !s.is_empty()
        {
            out.push(Message::system(s.clone()));
        }
        out.extend(self.messages.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        let m = ModelId::parse("together/meta-llama/Llama-3-8b").unwrap();
        assert_eq!(m.provider(), "together");
        assert_eq!(m.model(), "meta-llama/Llama-3-8b");
        assert!(ModelId::parse("gpt-4o").is_err());
        assert!(ModelId::parse("/x").is_err());
        assert!(ModelId::parse("x/").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut r = CompareRequest::prompt(["sim/echo"], "  ");
        assert_eq!(r.validate(8).unwrap_err().field(), Some("prompt"));
        r.messages = vec![Message::user("hi")];
        r.params.temperature = Some(3.0);
        assert_eq!(
            r.validate(8).unwrap_err().field(),
            Some("params.temperature")
        );
        r.params = Params::default();
        r.models = vec!["sim/echo".into(); 9];
        assert_eq!(r.validate(8).unwrap_err().field(), Some("models"));
        r.models.clear();
        assert_eq!(r.validate(8).unwrap_err().field(), Some("models"));
    }
}
