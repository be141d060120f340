//! Client-side tools: the client carries out each call and sends the result back.

use super::*;

/// Client-side tools: the client carries out each call — it gets an `action` event and sends
/// the result back ([`ClientTools::deliver`], `POST /v1/comparisons/{id}/tool_results`);
/// a result that does not come within the tool timeout is an error result the model sees.
#[derive(Debug, Default)]
pub struct ClientTools {
    tools: Vec<Tool>,
    /// The calls waiting for their result, by (model_index, call id).
    waiting: parking_lot::Mutex<HashMap<(usize, String), tokio::sync::oneshot::Sender<ToolOutput>>>,
}

/// A client's result of one call of a client-side tool.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientResult {
    /// The model that made the call (the `action` event's `model_index`).
    pub model_index: usize,
    /// The call (the `action` event's `call_id`).
    pub call_id: String,
    /// The result: text, or parts (text and images).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub content: Content,
    /// Whether it is an error the model should see as one.
    #[serde(default)]
    pub is_error: bool,
}

impl ClientTools {
    /// `tools`, carried out by the client.
    pub fn new(tools: Vec<Tool>) -> Self {
        Self {
            tools,
            waiting: parking_lot::Mutex::default(),
        }
    }

    /// Whether `name` is one of them.
    pub fn has(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t.function.name == name)
    }

    /// Waits for the result of `model_index`'s call `call_id` (registered before its
    /// `action` event goes out, so a quick client finds it).
    pub(crate) fn expect(
        &self,
        model_index: usize,
        call_id: &str,
    ) -> tokio::sync::oneshot::Receiver<ToolOutput> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut waiting = self.waiting.lock();
        // Calls given up (timeout, cancel) leave closed senders: dropped here.
        waiting.retain(|_, s| !s.is_closed());
        waiting.insert((model_index, call_id.to_string()), tx);
        rx
    }

    /// Stops waiting for `model_index`'s call `call_id` (it ended: answered or given up).
    pub(crate) fn forget(&self, model_index: usize, call_id: &str) {
        self.waiting
            .lock()
            .remove(&(model_index, call_id.to_string()));
    }

    /// Hands `results` to the calls waiting for them: all of them, or — when one names a call
    /// that is not waiting (unknown, answered already, given up) — none, with its index.
    pub fn deliver(&self, results: Vec<ClientResult>) -> std::result::Result<usize, usize> {
        let mut waiting = self.waiting.lock();
        let mut seen = std::collections::HashSet::new();
        for (i, r) in results.iter().enumerate() {
            let key = (r.model_index, r.call_id.clone());
            let open = waiting.get(&key).is_some_and(|s| !s.is_closed());
            if !open || !seen.insert(key) {
                return Err(i);
            }
        }
        let n = results.len();
        for r in results {
            if let Some(tx) = waiting.remove(&(r.model_index, r.call_id)) {
                // A call given up between the check and here just drops its result.
                let _ = tx.send(ToolOutput {
                    content: r.content,
                    is_error: r.is_error,
                    replayed: false,
                });
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl ToolExecutor for ClientTools {
    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call(&self, name: &str, _arguments: Value) -> ToolOutput {
        // The loop routes these calls to the client; reaching here means none could.
        ToolOutput::error(format!("the tool `{name}` is carried out by the client"))
    }
}

/// One client-side call as an executor: its result is what the client sends.
#[derive(Debug)]
pub(crate) struct Awaiting {
    tool: Tool,
    result: parking_lot::Mutex<Option<tokio::sync::oneshot::Receiver<ToolOutput>>>,
}

impl Awaiting {
    pub(crate) fn new(tool: Tool, result: tokio::sync::oneshot::Receiver<ToolOutput>) -> Self {
        Self {
            tool,
            result: parking_lot::Mutex::new(Some(result)),
        }
    }
}

#[async_trait]
impl ToolExecutor for Awaiting {
    fn tools(&self) -> Vec<Tool> {
        vec![self.tool.clone()]
    }

    async fn call(&self, name: &str, _arguments: Value) -> ToolOutput {
        let rx = self.result.lock().take();
        match rx {
            Some(rx) => rx.await.unwrap_or_else(|_| {
                ToolOutput::error(format!("the client's result of `{name}` was lost"))
            }),
            None => ToolOutput::error(format!("the tool `{name}` was called twice")),
        }
    }
}
