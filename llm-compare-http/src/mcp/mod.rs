//! The MCP door: the engine as tools for agents — compare models on a prompt, list the
//! models, run an evaluation, read the leaderboard (`tools.rs`) — over the two transports of
//! the official Rust MCP SDK (rmcp): `/mcp` on the server (streamable HTTP, stateless,
//! behind the same keys, rate and limits as every route) and `llm-compare mcp` (stdio, as
//! one local user). A tool that fails answers a tool error (`isError`) carrying the
//! service's code and message, as the HTTP API would.

mod tools;

use std::sync::Arc;

use llm_compare_service::{Principal, Service};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::server::AppState;

/// Where a tool call's service and caller come from.
#[derive(Clone)]
enum Source {
    /// The server: the caller authenticated by the route's middleware, its rate checked.
    Server(AppState),
    /// `llm-compare mcp`: one local user.
    Local {
        service: Arc<Service>,
        who: Principal,
    },
}

/// The MCP server's handler.
#[derive(Clone)]
pub struct McpDoor {
    source: Source,
}

impl std::fmt::Debug for McpDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpDoor").finish_non_exhaustive()
    }
}

impl McpDoor {
    /// The door of `llm-compare mcp`: `service`'s tools as `who`.
    pub fn local(service: Arc<Service>, who: Principal) -> Self {
        Self {
            source: Source::Local { service, who },
        }
    }

    /// The service and the caller of a tool call.
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<(&Service, Principal), ApiError> {
        match &self.source {
            Source::Local { service, who } => Ok((service, who.clone())),
            Source::Server(state) => {
                let who = ctx
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|p| p.extensions.get::<Principal>())
                    .cloned()
                    .ok_or_else(|| ApiError::unauthorized("no caller"))?;
                state.check_rate(&who)?;
                Ok((state.service(), who))
            }
        }
    }
}

/// A refusal as the tool's error result: the service's code and message (never a source
/// error's detail), and the field at fault.
fn refused(e: ApiError) -> CallToolResult {
    CallToolResult::structured_error(json!({"error": {
        "code": e.code, "message": e.message, "field": e.field,
    }}))
}

impl ServerHandler for McpDoor {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "llm-compare",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Compare LLMs side by side: `compare` sends one prompt to several models and answers each one's text, cost and latency; `list_models` says which models can be called.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = tools::list()
            .into_iter()
            .map(|t| {
                let schema = match t.input_schema {
                    Value::Object(o) => o,
                    _ => serde_json::Map::new(),
                };
                Tool::new(t.name, t.description, Arc::new(schema))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let (service, who) = match self.caller(&context) {
            Ok(c) => c,
            Err(e) => return Ok(refused(e).into()),
        };
        let arguments = request.arguments.map_or_else(|| json!({}), Value::Object);
        let result = match tools::call(service, &who, &request.name, arguments).await {
            Ok(v) => CallToolResult::structured(v),
            Err(e) => refused(ApiError::from(e)),
        };
        Ok(result.into())
    }
}

/// `/mcp`: the streamable HTTP transport, stateless (no session kept per client: nothing to
/// bound or expire), the host and origin checked by the server's own guard.
pub fn http_service(state: AppState) -> StreamableHttpService<McpDoor, LocalSessionManager> {
    let max = state.options().body_limit;
    let door = McpDoor {
        source: Source::Server(state),
    };
    StreamableHttpService::new(
        move || Ok(door.clone()),
        Arc::default(),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_max_request_body_bytes(max)
            .disable_allowed_hosts(),
    )
}

/// Serves `door` over stdin and stdout until the client closes them.
pub async fn serve_stdio(door: McpDoor) -> Result<(), llm_compare_core::Error> {
    let running = door
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| llm_compare_core::Error::Internal(format!("MCP over stdio: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| llm_compare_core::Error::Internal(format!("MCP over stdio: {e}")))?;
    Ok(())
}
