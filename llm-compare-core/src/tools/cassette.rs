//! Shared tool results: a [`Cassette`] records each distinct call once so every model of a
//! comparison sees the same result, and replays recordings without executing anything.

use super::*;

/// How an agent comparison's tools run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToolMode {
    /// Every call executed.
    #[default]
    Independent,
    /// Each (tool, arguments) executed once, replayed to the other models ([`Cassette`]).
    Shared,
}

/// One recorded tool call: what a cassette replays.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recording {
    /// The tool.
    pub tool: String,
    /// Its arguments.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub arguments: Value,
    /// What it returned.
    pub content: Content,
    /// Whether that was an error.
    #[serde(default)]
    pub is_error: bool,
}

type Pending = futures::future::Shared<BoxFuture<'static, ToolOutput>>;

/// Fairness for agent comparisons (`tool_mode: "shared"`): the first execution of a given
/// tool with given arguments (compared canonically: key order does not matter) is recorded,
/// and every other model asking the same gets that result, marked `replayed` — so models are
/// compared on the same world, with one real execution. Calls asked at once wait for the one
/// execution. Built over recordings alone ([`Cassette::replay`]), nothing is executed: a call
/// the recordings lack is an error result.
pub struct Cassette {
    inner: Option<Arc<dyn ToolExecutor>>,
    tools: Vec<Tool>,
    entries: parking_lot::Mutex<HashMap<(String, String), Pending>>,
}

impl fmt::Debug for Cassette {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cassette")
            .field("executes", &self.inner.is_some())
            .field("calls", &self.entries.lock().len())
            .finish()
    }
}

impl Cassette {
    /// Records `inner`'s executions, replaying them to identical calls.
    pub fn record(inner: Arc<dyn ToolExecutor>) -> Self {
        Self {
            tools: inner.tools(),
            inner: Some(inner),
            entries: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Replays `recordings` (offered as `tools`), executing nothing.
    pub fn replay(tools: Vec<Tool>, recordings: Vec<Recording>) -> Self {
        let entries = recordings
            .into_iter()
            .map(|r| {
                let output = ToolOutput {
                    content: r.content,
                    is_error: r.is_error,
                    replayed: false,
                };
                let ready: BoxFuture<'static, ToolOutput> = Box::pin(std::future::ready(output));
                (
                    (r.tool, canonical(&r.arguments)),
                    futures::FutureExt::shared(ready),
                )
            })
            .collect();
        Self {
            inner: None,
            tools,
            entries: parking_lot::Mutex::new(entries),
        }
    }

    /// What it holds, finished calls only, in no particular order: a cassette to replay
    /// later ([`Cassette::replay`]).
    pub fn recordings(&self) -> Vec<Recording> {
        self.entries
            .lock()
            .iter()
            .filter_map(|((tool, args), pending)| {
                let out = futures::FutureExt::now_or_never(pending.clone())?;
                Some(Recording {
                    tool: tool.clone(),
                    arguments: serde_json::from_str(args).unwrap_or(Value::Null),
                    content: out.content,
                    is_error: out.is_error,
                })
            })
            .collect()
    }
}

#[async_trait]
impl ToolExecutor for Cassette {
    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        let key = (name.to_string(), canonical(&arguments));
        let (pending, first) = {
            let mut entries = self.entries.lock();
            match entries.get(&key) {
                Some(p) => (p.clone(), false),
                None => {
                    let Some(inner) = self.inner.clone() else {
                        return ToolOutput::error(format!(
                            "`{name}` with these arguments is not in the cassette (nothing is executed when replaying)"
                        ));
                    };
                    let name = name.to_string();
                    let run: BoxFuture<'static, ToolOutput> =
                        Box::pin(async move { inner.call(&name, arguments).await });
                    let p = futures::FutureExt::shared(run);
                    entries.insert(key, p.clone());
                    // Replaying a supplied recording is a replay too.
                    (p, true)
                }
            }
        };
        let mut out = pending.await;
        out.replayed = !first || self.inner.is_none();
        out
    }
}

/// `v` as JSON with every object's keys sorted: equal arguments, equal text.
pub fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}
