//! The fault matrix over loopback: each upstream failure becomes the right typed error for
//! that model only, retried only when it should be, while the other models complete; and a
//! fallback chain that answers when the first model keeps failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use llm_compare_core::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn sse(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("data: {l}\n\n")).collect()
}

const HELLO: &str = r#"{"choices":[{"index":0,"delta":{"content":"Hello"}}]}"#;
const WORLD: &str =
    r#"{"choices":[{"index":0,"delta":{"content":" world"},"finish_reason":"stop"}]}"#;
const USAGE: &str =
    r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;

async fn mock(server: &MockServer, name: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/{name}/chat/completions")))
        .respond_with(response)
        .mount(server)
        .await;
}

fn stream_ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(sse(&[HELLO, WORLD, USAGE, "[DONE]"]), "text/event-stream")
}

async fn requests_to(server: &MockServer, name: &str) -> usize {
    let prefix = format!("/{name}/");
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with(&prefix))
        .count()
}

/// How a raw TCP upstream misbehaves after sending its headers.
#[derive(Clone, Copy)]
enum Raw {
    /// Sends one chunk, then resets the connection.
    ResetMidBody,
    /// Sends one chunk, then goes silent.
    StallMidBody,
    /// Sends nothing, stays silent.
    SilentFromStart,
}

/// A hand-rolled HTTP/1.1 server for failures wiremock cannot produce. Counts connections.
async fn raw_server(mode: Raw) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Read the request head (and whatever of the body came with it).
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                let event = format!("data: {HELLO}\n\n");
                let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                match mode {
                    Raw::ResetMidBody => {
                        let _ = sock.write_all(chunk.as_bytes()).await;
                        let _ = sock.flush().await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        // Linger 0: close with RST, mid-body. (Blocking on drop is what we
                        // want here, and it cannot block: linger is zero.)
                        #[allow(deprecated)]
                        let _ = sock.set_linger(Some(Duration::ZERO));
                        drop(sock);
                    }
                    Raw::StallMidBody => {
                        let _ = sock.write_all(chunk.as_bytes()).await;
                        let _ = sock.flush().await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Raw::SilentFromStart => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    (format!("http://{addr}"), hits)
}

fn provider(name: &str, base_url: &str) -> String {
    format!(
        "[providers.{name}]\nkind = \"openai\"\nbase_url = \"{base_url}\"\napi_key = \"k-{name}\"\n"
    )
}

#[tokio::test]
async fn fault_matrix() {
    let server = MockServer::start().await;
    let uri = server.uri();
    mock(
        &server,
        "f500",
        ResponseTemplate::new(500)
            .set_body_string(r#"{"error":{"message":"boom","type":"server_error"}}"#),
    )
    .await;
    mock(
        &server,
        "f503",
        ResponseTemplate::new(503).set_body_string("Service Unavailable"),
    )
    .await;
    mock(
        &server,
        "f429",
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_string(
                r#"{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}"#,
            ),
    )
    .await;
    mock(
        &server,
        "f401",
        ResponseTemplate::new(401)
            .set_body_string(r#"{"error":{"message":"Incorrect API key provided"}}"#),
    )
    .await;
    mock(
        &server,
        "malformed",
        ResponseTemplate::new(200).set_body_raw(
            sse(&[HELLO, "{\"choices\": [ not json"]),
            "text/event-stream",
        ),
    )
    .await;
    mock(
        &server,
        "html",
        ResponseTemplate::new(200).set_body_raw(
            "<html><body><h1>Welcome to the captive portal</h1></body></html>",
            "text/html; charset=utf-8",
        ),
    )
    .await;
    let (reset_url, reset_hits) = raw_server(Raw::ResetMidBody).await;
    let (stall_url, stall_hits) = raw_server(Raw::StallMidBody).await;
    let (silent_url, silent_hits) = raw_server(Raw::SilentFromStart).await;

    let mut toml = String::from(
        "[defaults]\nretries = 2\nbackoff_ms = 10\ntimeouts = { idle_ms = 300, first_token_ms = 300 }\n\
         [models.\"f429/m\"]\nretries = 1\n[sim]\nttft_ms = 0\ntokens_per_s = 50\n",
    );
    for name in ["f500", "f503", "f429", "f401", "malformed", "html"] {
        toml.push_str(&provider(name, &format!("{uri}/{name}")));
    }
    toml.push_str(&provider("reset", &reset_url));
    toml.push_str(&provider("stall", &stall_url));
    toml.push_str(&provider("silent", &silent_url));
    let engine = Config::parse(&toml)
        .unwrap()
        .engine()
        .unwrap()
        .with_max_models(10);

    let models = [
        "f500/m",
        "f503/m",
        "f429/m",
        "f401/m",
        "reset/m",
        "malformed/m",
        "stall/m",
        "html/m",
        "silent/m",
        "sim/echo",
    ];
    let done = engine
        .compare(&CompareRequest::prompt(
            models,
            "one two three four five six seven eight nine ten",
        ))
        .unwrap()
        .result()
        .await
        .unwrap();
    let r = |m: &str| done.results.iter().find(|r| &*r.model == m).unwrap();
    let err = |m: &str| {
        r(m).error
            .clone()
            .unwrap_or_else(|| panic!("{m} did not fail"))
    };

    // (model, code, retryable, partial, requests made)
    let cases: [(&str, ErrorCode, bool, bool, usize); 6] = [
        ("f500/m", ErrorCode::Server, true, false, 3),
        ("f503/m", ErrorCode::Overloaded, true, false, 3),
        ("f429/m", ErrorCode::RateLimited, true, false, 2),
        ("f401/m", ErrorCode::Auth, false, false, 1),
        ("malformed/m", ErrorCode::Parse, false, true, 1),
        ("html/m", ErrorCode::Parse, false, false, 1),
    ];
    for (m, code, retryable, partial, requests) in cases {
        let e = err(m);
        assert_eq!((e.code, e.retryable), (code, retryable), "{m}: {e:?}");
        assert_eq!(r(m).partial, partial, "{m}");
        let name = m.split('/').next().unwrap();
        assert_eq!(
            requests_to(&server, name).await,
            requests,
            "{m}: retried wrongly"
        );
        assert_eq!(
            r(m).attempts.len(),
            requests - 1,
            "{m}: attempts before the final error"
        );
    }
    assert!(
        err("f500/m").message.contains("boom"),
        "the provider's own message is kept"
    );
    assert!(err("f401/m").message.contains("Incorrect API key"));
    assert!(err("html/m").message.contains("text/html"));
    // Retry-After: 1 was honoured before the one retry.
    assert!(
        r("f429/m").timing.total_ms >= 1000.0,
        "{}",
        r("f429/m").timing.total_ms
    );

    // Failures after the first token: typed, partial text kept, never retried.
    let e = err("reset/m");
    assert_eq!(e.code, ErrorCode::Network, "{e:?}");
    assert!(r("reset/m").partial && r("reset/m").text == "Hello");
    assert_eq!(reset_hits.load(Ordering::SeqCst), 1);
    let e = err("stall/m");
    assert_eq!(e.code, ErrorCode::Timeout, "{e:?}");
    assert!(e.message.contains("idle"), "{e:?}");
    assert!(r("stall/m").partial && r("stall/m").text == "Hello");
    assert_eq!(stall_hits.load(Ordering::SeqCst), 1);
    assert!(r("stall/m").timing.total_ms < 2000.0);
    // No first token within the first-token timeout: retryable, retried.
    let e = err("silent/m");
    assert_eq!(e.code, ErrorCode::Timeout, "{e:?}");
    assert!(e.message.contains("first token"), "{e:?}");
    assert_eq!(silent_hits.load(Ordering::SeqCst), 3);

    // The healthy model in the same comparison completed.
    let ok = r("sim/echo");
    assert!(ok.error.is_none());
    assert_eq!(ok.text, "one two three four five six seven eight nine ten");
    assert_eq!(done.status, RequestStatus::Completed);
}

#[tokio::test]
async fn fallback_answers_when_the_first_model_returns_503_twice() {
    let server = MockServer::start().await;
    let uri = server.uri();
    mock(
        &server,
        "down",
        ResponseTemplate::new(503).set_body_string(r#"{"error":{"message":"overloaded"}}"#),
    )
    .await;
    mock(&server, "up", stream_ok()).await;
    let toml = format!(
        "{}{}[models.\"down/m\"]\nretries = 1\nbackoff_ms = 10\nfallbacks = [\"backup\"]\n[aliases]\nbackup = \"up/m\"\n\
         [prices.\"up/m\"]\ninput = 1\noutput = 2\n",
        provider("down", &format!("{uri}/down")),
        provider("up", &format!("{uri}/up")),
    );
    let engine = Config::parse(&toml).unwrap().engine().unwrap();
    let done = engine
        .compare(&CompareRequest::prompt(["down/m"], "hi"))
        .unwrap()
        .result()
        .await
        .unwrap();
    let r = &done.results[0];
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(&*r.model, "down/m", "the column keeps the model asked for");
    assert_eq!(r.served_by.as_deref(), Some("up/m"));
    assert_eq!(r.text, "Hello world");
    assert_eq!(r.attempts.len(), 2);
    for a in &r.attempts {
        assert_eq!(&*a.model, "down/m");
        assert_eq!(a.error.code, ErrorCode::Overloaded);
    }
    assert_eq!(requests_to(&server, "down").await, 2);
    assert_eq!(requests_to(&server, "up").await, 1);
    // Priced as the model that answered: 5 × $1/M + 2 × $2/M.
    assert_eq!(r.cost.total_usd, Some(Usd(5_000_000 + 4_000_000)));
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["served_by"], "up/m");
    assert_eq!(json["attempts"][0]["code"], "overloaded");
}

#[tokio::test]
async fn a_provider_without_a_key_fails_that_model_with_the_reason() {
    // The env var is unset in tests; the file names it explicitly.
    let toml = "[providers.openai]\napi_key_env = \"LLM_COMPARE_TEST_SURELY_UNSET_KEY\"\n";
    let engine = Config::parse(toml).unwrap().engine().unwrap();
    let models = engine.providers().catalogue(engine.prices()).await;
    let gpt = models
        .iter()
        .find(|m| m.id == "openai/gpt-4o-mini")
        .unwrap();
    assert!(!gpt.available);
    assert_eq!(
        gpt.reason.as_deref(),
        Some("LLM_COMPARE_TEST_SURELY_UNSET_KEY is not set")
    );
    assert!(gpt.input_usd_per_million.is_some());
    let done = engine
        .compare(&CompareRequest::prompt(
            ["openai/gpt-4o-mini", "sim/echo"],
            "hi",
        ))
        .unwrap()
        .result()
        .await
        .unwrap();
    let e = done.results[0].error.as_ref().unwrap();
    assert_eq!(e.code, ErrorCode::Auth);
    assert!(e.message.contains("is not set"));
    assert!(done.results[1].error.is_none());
    // Any model name under a configured provider is accepted; only an unknown prefix is not.
    assert!(
        engine
            .compare(&CompareRequest::prompt(
                ["openai/brand-new-model-2027"],
                "hi"
            ))
            .is_ok()
    );
    assert_eq!(
        engine
            .compare(&CompareRequest::prompt(["nosuch/model"], "hi"))
            .unwrap_err()
            .code(),
        ErrorCode::UnknownModel
    );
}
