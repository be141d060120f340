//! `llm-compare mcp`: the engine as MCP tools over stdin and stdout, for an agent that starts
//! it (Claude Code's `claude mcp add`, any MCP client's stdio server), as one local user over
//! the server's store. Logs go to stderr; stdout is the protocol's.

use std::sync::Arc;

use llm_compare_service::Principal;

use crate::{EXIT_INTERNAL, EXIT_OK, McpArgs};

/// Runs `llm-compare mcp` until the client closes stdin.
pub async fn run(config: Option<&std::path::Path>, args: McpArgs) -> u8 {
    let service = match super::stored_service_or_exit(
        config,
        args.data_dir.as_ref(),
        args.database_url.as_ref(),
    )
    .await
    {
        Ok(s) => s,
        Err(code) => return code,
    };
    let door =
        llm_compare_http::mcp::McpDoor::local(Arc::new(service), Principal::user(args.owner));
    match llm_compare_http::mcp::serve_stdio(door).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            super::print_error(&e);
            EXIT_INTERNAL
        }
    }
}
