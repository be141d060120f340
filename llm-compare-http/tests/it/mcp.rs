//! MCP servers as tools, against a real MCP server from the npm registry
//! (`@modelcontextprotocol/server-everything`, installed by scripts/test into
//! tests/mcp-servers and named by `LLM_COMPARE_TEST_MCP_EVERYTHING`): over stdio and over
//! streamable HTTP, its tools listed by `GET /v1/tools` and called by `sim/agent`'s loops.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// The server's entry point (`dist/index.js`), or None (skipped, said so) when not installed.
fn everything() -> Option<PathBuf> {
    match std::env::var("LLM_COMPARE_TEST_MCP_EVERYTHING") {
        Ok(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "LLM_COMPARE_TEST_MCP_EVERYTHING={}: no such file",
                p.display()
            );
            Some(p)
        }
        _ => {
            assert!(
                std::env::var_os("LLM_COMPARE_REQUIRE_SERVICES").is_none(),
                "LLM_COMPARE_TEST_MCP_EVERYTHING is not set (scripts/test sets it)"
            );
            eprintln!(
                "SKIPPED: set LLM_COMPARE_TEST_MCP_EVERYTHING to server-everything's dist/index.js (npm ci --prefix llm-compare-http/tests/mcp-servers)"
            );
            None
        }
    }
}

/// A server whose engine is `config`'s, MCP servers connected.
async fn serve_config(config: &str) -> Server {
    let config = llm_compare_core::Config::parse(config).unwrap();
    let engine = config.connect().await.unwrap();
    let sim = std::sync::Arc::new(llm_compare_core::SimProvider::new(sim_config()));
    start_state(
        llm_compare_http::AppState::with_store(
            engine,
            llm_compare_http::ServerOptions::default(),
            None,
        ),
        sim,
    )
    .await
}

/// Three models, two of them agents calling the MCP server's `echo`; what each gets back is
/// what the real server answered.
async fn agents_call_echo(s: &Server) {
    let listed = json(client().get(format!("{}/v1/tools", s.url))).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "get-sum"], "{listed}");
    let echo = &listed["tools"][0]["function"];
    assert_eq!(echo["description"], "Echoes back the input string");
    assert_eq!(
        echo["parameters"]["properties"]["message"]["type"],
        "string"
    );
    assert_eq!(echo["parameters"]["required"], json!(["message"]));

    let id = create_id(
        s,
        None,
        json!({"prompt": "hello mcp", "models": ["sim/agent", "sim/agent", "sim/echo"], "tools": ["echo"]}),
    )
    .await;
    let events = read_sse(s, None, &id, None, 1000).await;
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e.1 == "tool_result")
        .map(|e| &e.2)
        .collect();
    assert_eq!(results.len(), 2, "{events:?}");
    for r in &results {
        assert_eq!(r["name"], "echo");
        assert_eq!(r["content"], "Echo: hello mcp");
        assert_eq!(r["is_error"], false);
    }
    let done = &events.last().unwrap().2;
    assert_eq!(done["status"], "completed", "{done}");
    for i in 0..2 {
        assert_eq!(
            done["results"][i]["text"],
            "`echo` returned: Echo: hello mcp"
        );
        assert_eq!(done["results"][i]["steps"], 2);
    }
    assert_eq!(done["results"][2]["text"], "hello mcp");

    // A call the server refuses (get-sum wants `a` and `b`: sim/agent sets only the first)
    // is an error result the model sees, not a failed comparison.
    let id = create_id(
        s,
        None,
        json!({"prompt": "add 2", "models": ["sim/agent"], "tools": ["get-sum"]}),
    )
    .await;
    let events = read_sse(s, None, &id, None, 1000).await;
    let r = &events.iter().find(|e| e.1 == "tool_result").unwrap().2;
    assert_eq!(r["is_error"], true, "{r}");
    assert_eq!(events.last().unwrap().2["status"], "completed");
}

#[tokio::test]
async fn an_mcp_server_over_stdio_lists_its_tools_and_runs_in_each_models_loop() {
    let Some(entry) = everything() else { return };
    let s = serve_config(&format!(
        "[sim]\nttft_ms = 1\ntokens_per_s = 0\n\
         [mcp.everything]\ncommand = \"node\"\nargs = [{:?}, \"stdio\"]\ntools = [\"echo\", \"get-sum\"]\n",
        entry.display().to_string()
    ))
    .await;
    agents_call_echo(&s).await;
}

/// The server-everything process over streamable HTTP on a free port; killed on drop.
struct HttpEverything(std::process::Child);

impl Drop for HttpEverything {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_mcp_server_over_streamable_http_lists_its_tools_and_runs_in_each_models_loop() {
    let Some(entry) = everything() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = HttpEverything(
        std::process::Command::new("node")
            .arg(&entry)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the MCP server did not listen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = serve_config(&format!(
        "[sim]\nttft_ms = 1\ntokens_per_s = 0\n\
         [mcp.everything]\nurl = \"http://127.0.0.1:{port}/mcp\"\ntools = [\"echo\", \"get-sum\"]\n"
    ))
    .await;
    agents_call_echo(&s).await;
}

/// What cannot be connected is refused at start-up, naming the server.
#[tokio::test]
async fn an_mcp_server_that_cannot_start_or_lacks_a_tool_is_refused_naming_it() {
    let err = llm_compare_core::Config::parse(
        "[mcp.broken]\ncommand = \"/nonexistent/mcp-server\"\nconnect_timeout_s = 10\n",
    )
    .unwrap()
    .connect()
    .await
    .unwrap_err();
    assert_eq!(err.field(), Some("mcp.broken"), "{err}");
    assert!(err.to_string().contains("did not start"), "{err}");

    let Some(entry) = everything() else { return };
    let err = llm_compare_core::Config::parse(&format!(
        "[mcp.everything]\ncommand = \"node\"\nargs = [{:?}, \"stdio\"]\ntools = [\"echo\", \"nope\"]\n",
        entry.display().to_string()
    ))
    .unwrap()
    .connect()
    .await
    .unwrap_err();
    assert_eq!(err.field(), Some("mcp.everything.tools"), "{err}");
    assert!(err.to_string().contains("no tool `nope`"), "{err}");
    assert!(err.to_string().contains("echo"), "{err}");
}
