//! MCP servers as tools (`[mcp.<name>]` in the configuration), through the official Rust SDK
//! `rmcp`: a server run as a child process speaking over stdio, or reached over streamable
//! HTTP. At start-up each server is connected and its tools listed; a model's call of one of
//! them is a `tools/call` on its server. A server that goes away (its process died, its
//! connection broke) is reconnected on the next call; until then its calls are error results.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, ContentBlock, ResourceContents};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ServiceError, ServiceExt};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::tools::{ToolExecutor, ToolOutput};
use crate::types::content::{Content, Part};
use crate::types::error::{Error, Result};
use crate::types::request::Tool;

/// How an MCP server is reached.
#[derive(Clone, PartialEq)]
pub enum McpTransport {
    /// A child process speaking MCP over its stdin/stdout (its stderr goes to the logs).
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Environment variables set for it (resolved at start-up).
        env: Vec<(String, String)>,
        /// Its working directory (default: the server's).
        cwd: Option<PathBuf>,
    },
    /// A server speaking MCP's streamable HTTP at `url`.
    Http {
        /// The endpoint (`http://host:port/mcp`).
        url: String,
        /// Headers sent with every request (`authorization: Bearer …` goes as the bearer token).
        headers: Vec<(String, String)>,
    },
}

impl std::fmt::Debug for McpTransport {
    // The variables and headers carry tokens: their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names =
            |pairs: &[(String, String)]| pairs.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        match self {
            Self::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env_names", &names(env))
                .field("cwd", cwd)
                .finish(),
            Self::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", url)
                .field("header_names", &names(headers))
                .finish(),
        }
    }
}

/// One configured MCP server.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServer {
    /// Its name in the configuration (`[mcp.<name>]`), in messages and logs.
    pub name: String,
    /// How it is reached.
    pub transport: McpTransport,
    /// Time to connect and list its tools.
    pub connect_timeout: Duration,
    /// Only these of its tools are offered (default: all).
    pub only: Option<Vec<String>>,
}

type Client = RunningService<RoleClient, ()>;

/// A connected server.
struct Connection {
    spec: McpServer,
    tools: Vec<Tool>,
    /// The live connection; `None` after it broke, until the next call reconnects.
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

/// The configured MCP servers' tools, by name.
pub struct McpTools {
    servers: Vec<Arc<Connection>>,
    /// Tool name → index into `servers`.
    by_name: HashMap<String, usize>,
}

impl fmt::Debug for McpTools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpTools")
            .field(
                "servers",
                &self
                    .servers
                    .iter()
                    .map(|s| (&s.spec.name, s.tools.len()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl McpTools {
    /// Connects to each of `servers` and lists its tools. Fails naming the server that could
    /// not be reached, a tool in `only` it does not have, or a tool name two servers share.
    pub async fn connect(servers: Vec<McpServer>) -> Result<Self> {
        let mut out = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for spec in servers {
            let field = format!("mcp.{}", spec.name);
            let (client, tools) = tokio::time::timeout(spec.connect_timeout, open_and_list(&spec))
                .await
                .map_err(|_| {
                    Error::invalid(
                        field.clone(),
                        format!(
                            "the MCP server `{}` did not answer within {} s",
                            spec.name,
                            spec.connect_timeout.as_secs_f64()
                        ),
                    )
                })?
                .map_err(|e| Error::invalid(field.clone(), e))?;
            let tools = match &spec.only {
                None => tools,
                Some(only) => {
                    for name in only {
                        if !tools.iter().any(|t| &t.function.name == name) {
                            let have: Vec<&str> =
                                tools.iter().map(|t| t.function.name.as_str()).collect();
                            return Err(Error::invalid(
                                format!("{field}.tools"),
                                format!(
                                    "the MCP server `{}` has no tool `{name}`; it has: {}",
                                    spec.name,
                                    have.join(", ")
                                ),
                            ));
                        }
                    }
                    tools
                        .into_iter()
                        .filter(|t| only.contains(&t.function.name))
                        .collect()
                }
            };
            for t in &tools {
                if let Some(&other) = by_name.get(&t.function.name) {
                    let other: &Arc<Connection> = &out[other];
                    return Err(Error::invalid(
                        format!("{field}.tools"),
                        format!(
                            "the tool `{}` is offered by both MCP servers `{}` and `{}`; list the ones to use in `tools = [...]`",
                            t.function.name, other.spec.name, spec.name
                        ),
                    ));
                }
                by_name.insert(t.function.name.clone(), out.len());
            }
            tracing::info!(target: "llm_compare::mcp", server = %spec.name, tools = tools.len(), "MCP server connected");
            out.push(Arc::new(Connection {
                spec,
                tools,
                client: tokio::sync::Mutex::new(Some(Arc::new(client))),
            }));
        }
        Ok(Self {
            servers: out,
            by_name,
        })
    }

    /// The names of the servers, each with its tools' names.
    pub fn servers(&self) -> Vec<(String, Vec<String>)> {
        self.servers
            .iter()
            .map(|s| {
                (
                    s.spec.name.clone(),
                    s.tools.iter().map(|t| t.function.name.clone()).collect(),
                )
            })
            .collect()
    }
}

#[async_trait]
impl ToolExecutor for McpTools {
    fn portable(&self) -> bool {
        true
    }

    fn tools(&self) -> Vec<Tool> {
        self.servers
            .iter()
            .flat_map(|s| s.tools.iter().cloned())
            .collect()
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolOutput {
        let Some(server) = self.by_name.get(name).map(|&i| self.servers[i].clone()) else {
            return ToolOutput::error(format!("no tool `{name}`"));
        };
        let client = match server.live().await {
            Ok(c) => c,
            Err(e) => return ToolOutput::error(e),
        };
        let mut params = CallToolRequestParams::new(name.to_string());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        // Dropping this future (timeout, cancel) sends the server `notifications/cancelled`.
        match client.call_tool(params).await {
            Ok(result) => {
                let content = content_of(result.content, result.structured_content);
                if result.is_error == Some(true) {
                    ToolOutput {
                        content,
                        is_error: true,
                        replayed: false,
                    }
                } else {
                    ToolOutput::ok(content)
                }
            }
            Err(e) => {
                if matches!(e, ServiceError::TransportClosed) {
                    server.broke(&client).await;
                }
                ToolOutput::error(format!(
                    "the MCP server `{}` failed the call of `{name}`: {e}",
                    server.spec.name
                ))
            }
        }
    }
}

impl Connection {
    /// The live connection, reconnecting one that broke.
    async fn live(&self) -> std::result::Result<Arc<Client>, String> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        tracing::warn!(target: "llm_compare::mcp", server = %self.spec.name, "MCP server connection lost; reconnecting");
        let client = tokio::time::timeout(self.spec.connect_timeout, open(&self.spec))
            .await
            .map_err(|_| {
                format!(
                    "the MCP server `{}` is not reachable (it did not answer within {} s)",
                    self.spec.name,
                    self.spec.connect_timeout.as_secs_f64()
                )
            })??;
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Forgets `client`, which broke (unless it was replaced already).
    async fn broke(&self, client: &Arc<Client>) {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, client)) {
            *slot = None;
        }
    }
}

/// Connects to `spec` and lists its tools, as the models are offered them.
async fn open_and_list(spec: &McpServer) -> std::result::Result<(Client, Vec<Tool>), String> {
    let client = open(spec).await?;
    let listed = client
        .list_all_tools()
        .await
        .map_err(|e| format!("the MCP server `{}` did not list its tools: {e}", spec.name))?;
    let tools = listed
        .into_iter()
        .map(|t| {
            Tool::function(
                t.name.to_string(),
                t.description
                    .map(|d| d.to_string())
                    .or(t.title)
                    .unwrap_or_default(),
                Value::Object((*t.input_schema).clone()),
            )
        })
        .collect();
    Ok((client, tools))
}

/// Opens a session with `spec`'s server (the MCP handshake done).
async fn open(spec: &McpServer) -> std::result::Result<Client, String> {
    let name = &spec.name;
    match &spec.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).envs(env.iter().cloned()).kill_on_drop(true);
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            let (transport, stderr) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("the MCP server `{name}` (`{command}`) did not start: {e}"))?;
            if let Some(stderr) = stderr {
                let server = name.clone();
                tokio::spawn(async move {
                    let mut lines = tokio::io::BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::info!(target: "llm_compare::mcp", server = %server, "{line}");
                    }
                });
            }
            ().serve(transport)
                .await
                .map_err(|e| format!("the MCP server `{name}` failed the handshake: {e}"))
        }
        McpTransport::Http { url, headers } => {
            let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone());
            for (k, v) in headers {
                if k.eq_ignore_ascii_case("authorization")
                    && let Some(token) = v.strip_prefix("Bearer ")
                {
                    config.auth_header = Some(token.to_string());
                    continue;
                }
                let header = reqwest::header::HeaderName::try_from(k.as_str())
                    .map_err(|_| format!("`{k}` is not a header name"))?;
                let value = reqwest::header::HeaderValue::try_from(v.as_str())
                    .map_err(|_| format!("the header `{k}` has a value that cannot be sent"))?;
                config.custom_headers.insert(header, value);
            }
            ().serve(StreamableHttpClientTransport::from_config(config))
                .await
                .map_err(|e| format!("the MCP server `{name}` at {url} failed the handshake: {e}"))
        }
    }
}

/// A tool result's content blocks as one [`Content`]: text blocks in order (a resource as
/// its text, or its URI), images as image parts; the structured result when there is no
/// other content.
fn content_of(blocks: Vec<ContentBlock>, structured: Option<Value>) -> Content {
    let mut parts: Vec<Part> = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, parts: &mut Vec<Part>| {
        if !text.is_empty() {
            parts.push(Part::Text {
                text: std::mem::take(text),
            });
        }
    };
    for block in blocks {
        let piece = match block {
            ContentBlock::Text(t) => t.text,
            ContentBlock::Image(i) => {
                flush(&mut text, &mut parts);
                parts.push(Part::Image {
                    media_type: Some(i.mime_type),
                    data: Some(i.data.into()),
                    url: None,
                });
                continue;
            }
            ContentBlock::Audio(a) => format!("[audio: {}]", a.mime_type),
            ContentBlock::Resource(r) => match r.resource {
                ResourceContents::TextResourceContents { text, .. } => text,
                ResourceContents::BlobResourceContents { uri, mime_type, .. } => format!(
                    "[resource {uri}{}]",
                    mime_type.map(|m| format!(" ({m})")).unwrap_or_default()
                ),
                _ => "[a resource of a kind this client does not read]".to_string(),
            },
            ContentBlock::ResourceLink(l) => format!("[resource {}]", l.uri),
            // A kind of block newer than this client: said, not dropped silently.
            _ => "[content of a kind this client does not read]".to_string(),
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&piece);
    }
    if parts.is_empty() {
        if text.is_empty()
            && let Some(v) = structured
        {
            return Content::Text(v.to_string());
        }
        return Content::Text(text);
    }
    flush(&mut text, &mut parts);
    Content::Parts(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ImageContent, TextContent};

    #[test]
    fn text_blocks_join_and_images_become_parts() {
        let text = content_of(
            vec![
                ContentBlock::Text(TextContent::new("a")),
                ContentBlock::Text(TextContent::new("b")),
            ],
            None,
        );
        assert_eq!(text, Content::Text("a\nb".into()));
        let structured = content_of(vec![], Some(serde_json::json!({"sum": 3})));
        assert_eq!(structured, Content::Text("{\"sum\":3}".into()));
        let mixed = content_of(
            vec![
                ContentBlock::Text(TextContent::new("see")),
                ContentBlock::Image(ImageContent::new("AAAA", "image/png")),
            ],
            None,
        );
        let Content::Parts(parts) = mixed else {
            panic!("parts expected")
        };
        assert_eq!(parts.len(), 2);
        assert!(matches!(&parts[1], Part::Image { media_type: Some(m), .. } if m == "image/png"));
    }
}
