//! The recorded provider streams (`llm-compare-core/tests/fixtures/provider-streams/`, copied
//! from `../shared/fixtures/provider-streams/`): their expectations and their bodies framed as
//! each provider sends them. Shared by the conformance tests and the parser benchmarks
//! (`benches/benches/parsers.rs`, which includes this file by path).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use llm_compare_core::Secret;
use llm_compare_core::providers::{HttpProviderSpec, WireFormat};
use serde_json::Value;

/// The fixtures directory: the including crate's own (`llm-compare-core`, in the workspace or
/// as packaged), else its sibling's in the workspace (the benches include this file too).
pub fn dir() -> PathBuf {
    const FIXTURES: &str = "tests/fixtures/provider-streams";
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = crate_dir.join(FIXTURES);
    match crate_dir.parent() {
        Some(workspace) if !own.is_dir() => workspace.join("llm-compare-core").join(FIXTURES),
        _ => own,
    }
}

/// `expected.json`: fixture file → wire format and what a parser must reconstruct.
pub fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

/// The body as the provider sends it (the fixtures README says how each frames it).
pub fn framed(file: &str, wire: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(dir().join(file)).unwrap();
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let line = line.strip_prefix("data: ").unwrap_or(line);
        match wire {
            "openai-chat" => out.push_str(&format!("data: {line}\n\n")),
            "anthropic-messages" => {
                let v: Value = serde_json::from_str(line).unwrap();
                out.push_str(&format!(
                    "event: {}\ndata: {line}\n\n",
                    v["type"].as_str().unwrap()
                ));
            }
            "gemini-generate-content" => out.push_str(&format!("data: {line}\r\n\r\n")),
            other => panic!("unknown wire format {other}"),
        }
    }
    if wire == "openai-chat" {
        out.push_str("data: [DONE]\n\n");
    }
    out.into_bytes()
}

/// The wire format of an `expected.json` entry.
pub fn wire_of(w: &str) -> WireFormat {
    match w {
        "openai-chat" => WireFormat::Openai,
        "anthropic-messages" => WireFormat::Anthropic,
        _ => WireFormat::Gemini,
    }
}

/// A provider of `wire` that is only used to parse (it is never sent anything).
pub fn spec(wire: WireFormat) -> HttpProviderSpec {
    HttpProviderSpec {
        name: "p".into(),
        wire,
        base_url: "http://127.0.0.1:9".into(),
        key: Some(Secret::new("k")),
        unavailable: None,
        headers: vec![],
        models: vec![],
        include_usage: true,
        connect_timeout: Duration::from_secs(1),
    }
}
