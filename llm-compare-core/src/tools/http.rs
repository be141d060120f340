//! HTTP tools (`[tools.<name>]`): the call's arguments POSTed as JSON to a URL.

use super::*;

/// A tool the server's configuration defines (`[tools.<name>]`): the call's arguments are
/// POSTed as JSON to `url`; the answer's body is the result (a 2xx), or an error result.
#[derive(Clone)]
pub struct HttpTool {
    /// Its definition as the models see it.
    pub tool: Tool,
    /// Where the arguments go.
    pub url: String,
    /// Headers sent with each call (values resolved from the environment at start-up).
    pub headers: Vec<(String, String)>,
    /// Time one call may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpTool {
    // Headers may carry credentials: their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTool")
            .field("tool", &self.tool.function.name)
            .field("url", &self.url)
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The configured HTTP tools, by name.
#[derive(Debug, Clone)]
pub struct HttpTools {
    tools: Vec<HttpTool>,
    client: reqwest::Client,
}

impl HttpTools {
    /// `tools`, called with one shared HTTP client.
    pub fn new(tools: Vec<HttpTool>) -> Self {
        Self {
            tools,
            client: reqwest::Client::new(),
        }
    }
}

#[async_trait]
impl ToolExecutor for HttpTools {
    fn portable(&self) -> bool {
        true
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.iter().map(|t| t.tool.clone()).collect()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        let Some(t) = self.tools.iter().find(|t| t.tool.function.name == name) else {
            return ToolOutput::error(format!("no tool `{name}`"));
        };
        let mut req = self.client.post(&t.url).timeout(t.timeout).json(&arguments);
        for (k, v) in &t.headers {
            req = req.header(k, v);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return ToolOutput::error(format!("the tool `{name}` could not be reached: {e}"));
            }
        };
        let status = resp.status();
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => {
                return ToolOutput::error(format!("the tool `{name}`'s answer broke off: {e}"));
            }
        };
        // A JSON string is its text; any other body is passed on as it is.
        let text = match serde_json::from_str::<Value>(&body) {
            Ok(Value::String(s)) => s,
            _ => body,
        };
        if status.is_success() {
            ToolOutput::ok(text)
        } else {
            ToolOutput::error(format!(
                "the tool `{name}` answered HTTP {}: {text}",
                status.as_u16()
            ))
        }
    }
}
