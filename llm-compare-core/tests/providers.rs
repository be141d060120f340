//! Provider adapters against real recorded streams, over real HTTP on loopback.
//!
//! - Conformance: every recorded stream in `fixtures/provider-streams/` (copied from
//!   `../shared/fixtures/provider-streams/`) is served by a wiremock server framed as its
//!   provider frames it, called through a built-in preset pointed at it, and the engine's
//!   result must equal `expected.json` — text, reasoning, tool calls, finish reason, usage —
//!   with cost equal to price-table math.
//! - The same streams parse identically when the body arrives one byte per chunk.
//! - Request building for tools in all three wire formats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use llm_compare_core::providers::http::parse_sse;
use llm_compare_core::providers::{HttpProvider, WireFormat};
use llm_compare_core::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{expected, framed, spec, wire_of};

/// The preset that serves a fixture directory.
fn provider_for(file: &str) -> &'static str {
    match file.split('/').next().unwrap() {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "google" => "gemini",
        "groq" => "groq",
        "deepseek" => "deepseek",
        "mistral" => "mistral",
        "xai" => "xai",
        other => panic!("no provider for {other}"),
    }
}

/// The path a preset posts to (relative to the mock's root, base URLs point at `/{provider}`).
fn endpoint(provider: &str) -> String {
    match provider {
        "anthropic" => "/anthropic/v1/messages".into(),
        "gemini" => "/gemini/models/test-model:streamGenerateContent".into(),
        p => format!("/{p}/chat/completions"),
    }
}

// Prices for every `<provider>/test-model`, USD per 1M tokens.
const IN: u64 = 1_250_000;
const CACHED: u64 = 125_000;
const OUT: u64 = 10_000_000;

fn config(server: &MockServer) -> Config {
    let mut toml = String::new();
    for p in [
        "openai",
        "anthropic",
        "gemini",
        "groq",
        "deepseek",
        "mistral",
        "xai",
    ] {
        toml.push_str(&format!(
            "[providers.{p}]\nbase_url = \"{}/{p}\"\napi_key = \"test-key-{p}\"\n[prices.\"{p}/test-model\"]\ninput = \"1.25\"\noutput = \"10\"\ncache_read = \"0.125\"\n",
            server.uri()
        ));
    }
    toml.push_str("[defaults]\nretries = 0\n");
    Config::parse(&toml).unwrap()
}

#[tokio::test]
async fn every_recorded_stream_parses_as_expected_over_http() {
    let expected = expected();
    assert_eq!(expected.len(), 19, "the fixture set has 19 streams");
    for (file, exp) in &expected {
        let wire = exp["wire_format"].as_str().unwrap();
        let provider = provider_for(file);
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(endpoint(provider)))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/event-stream")
                    .set_body_bytes(framed(file, wire)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let engine = config(&server).engine().unwrap();
        let model = format!("{provider}/test-model");
        let done = engine
            .compare(&CompareRequest::prompt([model.as_str()], "hi"))
            .unwrap()
            .result()
            .await
            .unwrap();
        let r = &done.results[0];
        assert!(r.error.is_none(), "{file}: {:?}", r.error);
        assert_eq!(r.text, exp["text"].as_str().unwrap(), "{file}: text");
        assert_eq!(
            r.reasoning,
            exp["reasoning"].as_str().unwrap(),
            "{file}: reasoning"
        );
        let calls: Vec<(String, String)> = r
            .tool_calls
            .iter()
            .map(|t| (t.name.clone(), t.arguments.clone()))
            .collect();
        let want: Vec<(String, String)> = exp["tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().into(),
                    t["arguments"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(calls, want, "{file}: tool calls");
        assert_eq!(
            r.raw_finish_reason.as_deref(),
            exp["finish_reason"].as_str(),
            "{file}: finish reason"
        );
        let u = &exp["usage"];
        let mut want_out = u["output_tokens"].as_u64().unwrap();
        let want_reasoning = u["reasoning_tokens"].as_u64().unwrap_or(0);
        if file == "xai/xai-text.chunks.txt" {
            // xAI reports reasoning outside completion_tokens (total = prompt + completion +
            // reasoning); llm-compare counts output with reasoning included, as every other
            // provider does, so the reasoning is billed.
            want_out += want_reasoning;
        }
        assert_eq!(
            r.usage.input_tokens,
            u["input_tokens"].as_u64().unwrap(),
            "{file}: input tokens"
        );
        assert_eq!(r.usage.output_tokens, want_out, "{file}: output tokens");
        assert_eq!(
            r.usage.cached_input_tokens,
            u["cached_input_tokens"].as_u64().unwrap_or(0),
            "{file}: cached"
        );
        assert_eq!(
            r.usage.reasoning_tokens, want_reasoning,
            "{file}: reasoning tokens"
        );
        assert_eq!(r.usage.source, UsageSource::Reported, "{file}");
        if file == "xai/xai-text.chunks.txt" {
            // xAI reports the charge: `cost_in_usd_ticks: 1466250`, ticks of 10⁻¹⁰ USD:
            // $0.000146625 = 146,625,000 pico-USD, exactly.
            assert_eq!(r.cost.total_usd, Some(Usd(146_625_000)), "{file}: cost");
            assert_eq!(r.cost.source, CostSource::Provider, "{file}");
        } else {
            // Cost: price-table math on the usage (the config's prices).
            let cached = r.usage.cached_input_tokens;
            let input = (r.usage.input_tokens - cached) * IN + cached * CACHED;
            let output = r.usage.output_tokens * OUT;
            assert_eq!(r.cost.input_usd, Some(Usd(input)), "{file}: input cost");
            assert_eq!(
                r.cost.total_usd,
                Some(Usd(input + output)),
                "{file}: total cost"
            );
            assert_eq!(r.cost.source, CostSource::Config, "{file}");
        }
        // What was sent: the preset's wire format, streaming, the key in the right header.
        let sent = &server.received_requests().await.unwrap()[0];
        let body: Value = serde_json::from_slice(&sent.body).unwrap();
        match wire {
            "openai-chat" => {
                assert_eq!(body["model"], "test-model");
                assert_eq!(body["stream"], true);
                assert_eq!(
                    sent.headers["authorization"],
                    format!("Bearer test-key-{provider}").as_str()
                );
                // Mistral sends usage unasked and is not sent stream_options.
                assert_eq!(
                    body.get("stream_options").is_some(),
                    provider != "mistral",
                    "{file}"
                );
            }
            "anthropic-messages" => {
                assert_eq!(body["max_tokens"], 4096);
                assert_eq!(sent.headers["x-api-key"], "test-key-anthropic");
                assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
            }
            _ => {
                assert_eq!(sent.url.query(), Some("alt=sse"));
                assert_eq!(sent.headers["x-goog-api-key"], "test-key-gemini");
                assert_eq!(body["contents"][0]["parts"][0]["text"], "hi");
            }
        }
    }
}

/// Parses a body delivered in the given chunks; returns (events debug strings, error).
async fn parse_chunks(wire: WireFormat, chunks: Vec<Vec<u8>>) -> Vec<String> {
    let provider = HttpProvider::new(spec(wire)).unwrap();
    let stream = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c))),
    );
    parse_sse(stream, provider.parser())
        .map(|r| match r {
            Ok(e) => format!("{e:?}"),
            Err(e) => format!("ERR {e}"),
        })
        .collect()
        .await
}

#[tokio::test]
async fn streams_parse_identically_split_at_every_byte() {
    for (file, exp) in expected() {
        let w = exp["wire_format"].as_str().unwrap();
        let body = framed(&file, w);
        let whole = parse_chunks(wire_of(w), vec![body.clone()]).await;
        assert!(
            !whole.iter().any(|e| e.starts_with("ERR")),
            "{file}: {whole:?}"
        );
        // One byte per chunk: every boundary at once (inside UTF-8, between \r and \n).
        let bytes = parse_chunks(wire_of(w), body.iter().map(|b| vec![*b]).collect()).await;
        assert_eq!(bytes, whole, "{file}: split into single bytes");
        // And uneven chunkings.
        for size in [2, 3, 7, 64, 1000] {
            let chunks = body.chunks(size).map(<[u8]>::to_vec).collect();
            assert_eq!(
                parse_chunks(wire_of(w), chunks).await,
                whole,
                "{file}: chunks of {size}"
            );
        }
    }
    // The fixtures do hold multi-byte UTF-8 and CRLF, so the splits above cut through them.
    let gemini = framed("google/google-text.chunks.txt", "gemini-generate-content");
    assert!(gemini.windows(2).any(|w| w == b"\r\n"));
    let any_utf8 = expected().keys().any(|f| {
        let w = expected()[f]["wire_format"].as_str().unwrap().to_string();
        framed(f, &w).iter().any(|b| *b >= 0x80)
    });
    assert!(any_utf8);
}

fn tool_request() -> ChatRequest {
    let mut r = ChatRequest::new(
        ModelId::parse("p/m").unwrap(),
        vec![
            Message::system("be brief"),
            Message::user("weather in Paris?"),
            Message::assistant_tool_calls(
                "",
                vec![ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: "{\"city\":\"Paris\"}".into(),
                }],
            ),
            Message::tool_result("call_1", "{\"temp_c\":21}"),
        ],
    );
    r.tools = vec![Tool::function(
        "get_weather",
        "Current weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}),
    )];
    r.tool_choice = Some(ToolChoice::Function {
        kind: "function".into(),
        function: llm_compare_core::NamedFunction {
            name: "get_weather".into(),
        },
    });
    r.params.max_tokens = Some(100);
    r
}

#[test]
fn tools_and_tool_results_translate_for_each_wire_format() {
    let req = tool_request();

    let openai = HttpProvider::new(spec(WireFormat::Openai))
        .unwrap()
        .build_request(&req);
    let b = &openai.body;
    assert_eq!(b["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(b["tool_choice"]["function"]["name"], "get_weather");
    assert_eq!(b["messages"][0]["role"], "system");
    assert_eq!(
        b["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(
        b["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\":21}"})
    );
    assert_eq!(b["max_tokens"], 100);
    assert!(openai.url.ends_with("/chat/completions"));

    let anthropic = HttpProvider::new(spec(WireFormat::Anthropic))
        .unwrap()
        .build_request(&req);
    let b = &anthropic.body;
    assert_eq!(b["system"], "be brief");
    assert_eq!(b["tools"][0]["input_schema"]["required"][0], "city");
    assert_eq!(
        b["tool_choice"],
        json!({"type": "tool", "name": "get_weather"})
    );
    assert_eq!(
        b["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}})
    );
    assert_eq!(b["messages"][2]["role"], "user");
    assert_eq!(b["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(b["messages"][2]["content"][0]["tool_use_id"], "call_1");
    assert!(anthropic.url.ends_with("/v1/messages"));

    let gemini = HttpProvider::new(spec(WireFormat::Gemini))
        .unwrap()
        .build_request(&req);
    let b = &gemini.body;
    assert_eq!(b["systemInstruction"]["parts"][0]["text"], "be brief");
    let decl = &b["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], "get_weather");
    assert!(
        decl["parameters"].get("additionalProperties").is_none(),
        "Gemini rejects additionalProperties"
    );
    assert_eq!(
        b["toolConfig"]["functionCallingConfig"],
        json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]})
    );
    assert_eq!(b["contents"][1]["role"], "model");
    assert_eq!(
        b["contents"][1]["parts"][0]["functionCall"],
        json!({"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}})
    );
    assert_eq!(
        b["contents"][2]["parts"][0]["functionResponse"],
        json!({"id": "call_1", "name": "get_weather", "response": {"temp_c": 21}})
    );
    assert_eq!(b["generationConfig"]["maxOutputTokens"], 100);
    assert!(
        gemini
            .url
            .ends_with("/models/m:streamGenerateContent?alt=sse")
    );
}

/// A tool result with an image, where each API takes it: Anthropic's `tool_result` content
/// blocks, Gemini's `functionResponse.parts`; OpenAI's tool messages take text only, so the
/// image follows the turn's tool messages as one user message.
#[test]
fn tool_results_with_images_go_where_each_api_takes_them() {
    let mut req = tool_request();
    req.messages[3].content = serde_json::from_value(json!([
        {"type": "text", "text": "{\"temp_c\":21}"},
        {"type": "image", "media_type": "image/png", "data": PNG},
    ]))
    .unwrap();
    req.messages.push(Message::user("and tomorrow?"));
    let body = |wire| {
        HttpProvider::new(spec(wire))
            .unwrap()
            .build_request(&req)
            .body_json()
            .unwrap()
    };
    let b = body(WireFormat::Openai);
    assert_eq!(
        b["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\":21}"})
    );
    assert_eq!(
        b["messages"][4],
        json!({"role": "user", "content": [
            {"type": "text", "text": "Attachments of tool result `call_1`:"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
        ]})
    );
    assert_eq!(
        b["messages"][5],
        json!({"role": "user", "content": "and tomorrow?"})
    );
    let b = body(WireFormat::Anthropic);
    assert_eq!(
        b["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": [
            {"type": "text", "text": "{\"temp_c\":21}"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ]})
    );
    let b = body(WireFormat::Gemini);
    assert_eq!(
        b["contents"][2]["parts"][0],
        json!({"functionResponse": {
            "id": "call_1",
            "name": "get_weather",
            "response": {"temp_c": 21},
            "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}],
        }})
    );
}

#[test]
fn keys_stay_out_of_debug_output() {
    let p = HttpProvider::new(spec(WireFormat::Openai)).unwrap();
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("\"k\"") && dbg.contains("redacted"), "{dbg}");
}

/// One call of `model` through the built-in preset of `provider`, pointed at a loopback
/// server that answers `endpoint` with `body` (an event stream): the comparison's end.
async fn one_call(provider: &str, endpoint: &str, model: &str, body: Vec<u8>) -> Complete {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .expect(1)
        .mount(&server)
        .await;
    let toml = format!(
        "[providers.{provider}]\nbase_url = \"{}/{provider}\"\napi_key = \"test-key\"\n[defaults]\nretries = 0\n",
        server.uri()
    );
    let engine = Config::parse(&toml).unwrap().engine().unwrap();
    let done = engine
        .compare(&CompareRequest::prompt([model], "hi"))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert!(
        done.results[0].error.is_none(),
        "{:?}",
        done.results[0].error
    );
    done
}

/// Cache writes are priced at the cache-write rate (issue 20's first case): an Anthropic
/// stream reporting `cache_creation_input_tokens: 10000` (input 5, output 7) on
/// `anthropic/claude-sonnet-4-5` (bundled: input $3, cache write $3.75, output $15 per 1M).
/// Worked by hand: 5 × $3 + 10,000 × $3.75 + 7 × $15 = $15 + $37,500 + $105 per 1M tokens
/// = $0.03762 (as plain input it was $0.03012).
#[tokio::test]
async fn anthropic_cache_writes_are_priced_at_the_cache_write_rate() {
    let body = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":5,\"cache_creation_input_tokens\":10000,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Cached.\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );
    let done = one_call(
        "anthropic",
        "/anthropic/v1/messages",
        "anthropic/claude-sonnet-4-5",
        body.as_bytes().to_vec(),
    )
    .await;
    let r = &done.results[0];
    assert_eq!(r.text, "Cached.");
    // Our input includes cache reads and writes; the write is its own field.
    assert_eq!(r.usage.input_tokens, 10_005);
    assert_eq!(r.usage.cache_write_tokens, 10_000);
    assert_eq!(r.usage.cached_input_tokens, 0);
    assert_eq!(r.usage.output_tokens, 7);
    // $0.03762 = 37,620,000,000 pico-USD: input 37,515 µ$, output 105 µ$.
    assert_eq!(r.cost.input_usd, Some(Usd(37_515_000_000)));
    assert_eq!(r.cost.output_usd, Some(Usd(105_000_000)));
    assert_eq!(r.cost.total_usd, Some(Usd(37_620_000_000)));
    assert_eq!(r.cost.total_usd.unwrap().to_string(), "$0.03762");
}

/// Prompt-size tiers (issue 20's second case): `gemini/gemini-2.5-pro` bills a call whose
/// prompt is above 200k tokens at $2.50 in / $15 out per 1M (below: $1.25 / $10). Worked by
/// hand: 250,000 × $2.50 + 7 × $15 = $625,000 + $105 per 1M = $0.625105 (at the base rates it
/// was $0.31257); 200,000 × $1.25 + 7 × $10 = $0.25007 (at the threshold: still the base).
#[tokio::test]
async fn gemini_prompts_above_200k_tokens_are_billed_at_the_tier() {
    for (prompt, expected, input, output) in [
        (250_000u64, "$0.625105", 625_000_000_000u64, 105_000_000u64),
        (200_000, "$0.25007", 250_000_000_000, 70_000_000),
    ] {
        let body = format!(
            "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"Long.\"}}],\"role\":\"model\"}},\"finishReason\":\"STOP\",\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":{prompt},\"candidatesTokenCount\":7,\"totalTokenCount\":{}}}}}\r\n\r\n",
            prompt + 7
        );
        let done = one_call(
            "gemini",
            "/gemini/models/gemini-2.5-pro:streamGenerateContent",
            "gemini/gemini-2.5-pro",
            body.into_bytes(),
        )
        .await;
        let r = &done.results[0];
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (prompt, 7));
        assert_eq!(r.cost.input_usd, Some(Usd(input)), "{prompt}");
        assert_eq!(r.cost.output_usd, Some(Usd(output)), "{prompt}");
        assert_eq!(r.cost.total_usd.unwrap().to_string(), expected);
    }
}

/// Charges the provider reports are the cost (issue 20's third case): OpenRouter's last
/// chunk carries `usage.cost` (USD). A model the bundled table does not know is priced from
/// it; one it knows is too (the charge is what was billed). `source` says so.
#[tokio::test]
async fn openrouter_reported_charges_are_the_cost() {
    for model in ["some-lab/brand-new-model", "openai/gpt-4o"] {
        let body = concat!(
            "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Routed.\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":194,\"completion_tokens\":2,\"total_tokens\":196,\"cost\":0.000123,\"prompt_tokens_details\":{\"cached_tokens\":0,\"cache_write_tokens\":100},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n",
            "data: [DONE]\n\n",
        );
        let id = format!("openrouter/{model}");
        let done = one_call(
            "openrouter",
            "/openrouter/chat/completions",
            &id,
            body.as_bytes().to_vec(),
        )
        .await;
        let r = &done.results[0];
        assert_eq!(r.usage.input_tokens, 194);
        assert_eq!(r.usage.cache_write_tokens, 100);
        // $0.000123 = 123,000,000 pico-USD, as reported.
        assert_eq!(r.cost.total_usd, Some(Usd(123_000_000)), "{model}");
        assert!(r.cost.priced);
        assert_eq!(r.cost.source, CostSource::Provider);
        assert!(done.totals.priced);
        assert_eq!(done.totals.cost_usd, Usd(123_000_000));
    }
}

/// A stream in OpenAI's chat-completions format answering "Ok." with `usage` (a JSON
/// object) in its last chunk.
fn openai_stream(usage: &str) -> Vec<u8> {
    format!(
        concat!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"Ok.\"}},\"finish_reason\":null}}]}}\n\n",
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n",
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{}}}\n\n",
            "data: [DONE]\n\n",
        ),
        usage
    )
    .into_bytes()
}

/// An Anthropic Messages stream answering "Ok." with `start` as `message_start`'s usage and
/// `output_tokens` in `message_delta`.
fn anthropic_stream(start: &str, output_tokens: u64) -> Vec<u8> {
    format!(
        concat!(
            "event: message_start\n",
            "data: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{}}}}}\n\n",
            "event: content_block_start\n",
            "data: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n",
            "event: content_block_delta\n",
            "data: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"Ok.\"}}}}\n\n",
            "event: content_block_stop\n",
            "data: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n",
            "event: message_delta\n",
            "data: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":{}}}}}\n\n",
            "event: message_stop\n",
            "data: {{\"type\":\"message_stop\"}}\n\n",
        ),
        start, output_tokens
    )
    .into_bytes()
}

/// A Gemini stream answering "Ok." with `usage` as its `usageMetadata`.
fn gemini_stream(usage: &str) -> Vec<u8> {
    format!(
        "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"Ok.\"}}],\"role\":\"model\"}},\"finishReason\":\"STOP\",\"index\":0}}],\"usageMetadata\":{usage}}}\r\n\r\n"
    )
    .into_bytes()
}

/// One conformance case: a wire format's usage fields, what they normalize to, and the cost
/// worked out by hand from the bundled table's rates (USD per 1M tokens, in the comment).
struct CostCase {
    name: &'static str,
    provider: &'static str,
    endpoint: &'static str,
    model: &'static str,
    body: Vec<u8>,
    usage: Usage,
    /// (input, output) in pico-USD; None when the charge has no split (reported).
    split: Option<(u64, u64)>,
    total: &'static str,
    source: CostSource,
}

/// Every priced component and tier rule of every wire format (issue 20), priced through the
/// real engine over loopback HTTP against amounts worked out by hand, not by the code under
/// test.
#[tokio::test]
async fn every_priced_component_of_every_wire_format_is_billed_at_its_rate() {
    let u = |input, output| Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    };
    let cases = [
        // Anthropic, claude-sonnet-4-5 ($3 in, $0.30 cache read, $3.75 5-minute cache write,
        // $6 1-hour cache write, $15 out): 5 plain + 4,000 read + 1,000 + 2,000 written
        // (5 min, 1 h) in, 7 out: 15 + 1,200 + 3,750 + 12,000 = $16,965 per 1M in, 105 out.
        CostCase {
            name: "anthropic: cache reads, 5-minute and 1-hour cache writes",
            provider: "anthropic",
            endpoint: "/anthropic/v1/messages",
            model: "anthropic/claude-sonnet-4-5",
            body: anthropic_stream(
                r#"{"input_tokens":5,"cache_read_input_tokens":4000,"cache_creation_input_tokens":3000,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":1}"#,
                7,
            ),
            usage: Usage {
                cached_input_tokens: 4_000,
                cache_write_tokens: 3_000,
                cache_write_1h_tokens: 2_000,
                ..u(7_005, 7)
            },
            split: Some((16_965_000_000, 105_000_000)),
            total: "$0.01707",
            source: CostSource::PriceTable,
        },
        // Anthropic, claude-haiku-5-5 above its 100k tier ($0.50 in, $0.05 read, $0.625
        // write, $2.50 out; base $0.10 / $0.01 / $0.125 / $0.50): 1,000 plain + 99,500 read +
        // 500 written = 101,000 > 100,000, 10 out: 500 + 4,975 + 312.5 = $5,787.5 in, 25 out.
        CostCase {
            name: "anthropic: the prompt-size tier, cache included",
            provider: "anthropic",
            endpoint: "/anthropic/v1/messages",
            model: "anthropic/claude-haiku-5-5",
            body: anthropic_stream(
                r#"{"input_tokens":1000,"cache_read_input_tokens":99500,"cache_creation_input_tokens":500,"output_tokens":1}"#,
                10,
            ),
            usage: Usage {
                cached_input_tokens: 99_500,
                cache_write_tokens: 500,
                ..u(101_000, 10)
            },
            split: Some((5_787_500_000, 25_000_000)),
            total: "$0.0058125",
            source: CostSource::PriceTable,
        },
        // OpenAI, gpt-audio ($2.50 text in, $32 audio in, $10 text out, $64 audio out):
        // 1,000 in (600 audio), 500 out (400 audio): 1,000 + 19,200 = $20,200 in;
        // 1,000 + 25,600 = $26,600 out.
        CostCase {
            name: "openai: audio in and out",
            provider: "openai",
            endpoint: "/openai/chat/completions",
            model: "openai/gpt-audio",
            body: openai_stream(
                r#"{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":600},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":400,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#,
            ),
            usage: Usage {
                audio_input_tokens: 600,
                audio_output_tokens: 400,
                ..u(1_000, 500)
            },
            split: Some((20_200_000_000, 26_600_000_000)),
            total: "$0.0468",
            source: CostSource::PriceTable,
        },
        // OpenAI, gpt-5.4 above its 272k tier ($5 in, $0.50 cached, $22.50 out; base $2.50 /
        // $0.25 / $15): 300,000 in (100,000 cached), 1,000 out (600 reasoning, no rate of its
        // own: output): 1,000,000 + 50,000 = $1,050,000 in; 22,500 out.
        CostCase {
            name: "openai: the prompt-size tier, cached and reasoning tokens",
            provider: "openai",
            endpoint: "/openai/chat/completions",
            model: "openai/gpt-5.4",
            body: openai_stream(
                r#"{"prompt_tokens":300000,"completion_tokens":1000,"total_tokens":301000,"prompt_tokens_details":{"cached_tokens":100000},"completion_tokens_details":{"reasoning_tokens":600}}"#,
            ),
            usage: Usage {
                cached_input_tokens: 100_000,
                reasoning_tokens: 600,
                ..u(300_000, 1_000)
            },
            split: Some((1_050_000_000_000, 22_500_000_000)),
            total: "$1.0725",
            source: CostSource::PriceTable,
        },
        // DeepSeek, deepseek-chat ($0.28 miss, $0.028 hit, $0.42 out): 200 missed + 800 hit
        // in, 100 out: 56 + 22.4 = $78.4 in; 42 out.
        CostCase {
            name: "deepseek: cache hits and misses",
            provider: "deepseek",
            endpoint: "/deepseek/chat/completions",
            model: "deepseek/deepseek-chat",
            body: openai_stream(
                r#"{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100,"prompt_cache_hit_tokens":800,"prompt_cache_miss_tokens":200}"#,
            ),
            usage: Usage {
                cached_input_tokens: 800,
                ..u(1_000, 100)
            },
            split: Some((78_400_000, 42_000_000)),
            total: "$0.0001204",
            source: CostSource::PriceTable,
        },
        // xAI, grok-4.20 above its 200k tier ($2.50 in, $0.40 cached, $5 out; base $1.25 /
        // $0.20 / $2.50), reasoning reported outside completion_tokens (total = prompt +
        // completion + reasoning): 250,000 in (50,000 cached), 10 + 90 out: 500,000 + 20,000
        // = $520,000 in; 500 out.
        CostCase {
            name: "xai: the prompt-size tier, reasoning outside completion_tokens",
            provider: "xai",
            endpoint: "/xai/chat/completions",
            model: "xai/grok-4.20",
            body: openai_stream(
                r#"{"prompt_tokens":250000,"completion_tokens":10,"total_tokens":250100,"prompt_tokens_details":{"text_tokens":250000,"audio_tokens":0,"image_tokens":0,"cached_tokens":50000},"completion_tokens_details":{"reasoning_tokens":90,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"num_sources_used":0}"#,
            ),
            usage: Usage {
                cached_input_tokens: 50_000,
                reasoning_tokens: 90,
                ..u(250_000, 100)
            },
            split: Some((520_000_000_000, 500_000_000)),
            total: "$0.5205",
            source: CostSource::PriceTable,
        },
        // xAI's reported charge: 37,756,000 ticks of 10⁻¹⁰ USD = $0.0037756 (xAI's own
        // example), whatever the table says.
        CostCase {
            name: "xai: cost_in_usd_ticks is the cost",
            provider: "xai",
            endpoint: "/xai/chat/completions",
            model: "xai/grok-4.20",
            body: openai_stream(
                r#"{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13,"cost_in_usd_ticks":37756000}"#,
            ),
            usage: u(12, 1),
            split: None,
            total: "$0.0037756",
            source: CostSource::Provider,
        },
        // Gemini, gemini-2.5-flash ($0.30 in, $0.03 cached, $1 audio in, $2.50 out and
        // thoughts): 1,000 prompt (600 audio; 200 cached, 100 of them audio) + 300 tool-use
        // prompt tokens = 1,300 in: 200 cached, 500 uncached audio, 600 plain; 50 + 100
        // thoughts out: 180 + 6 + 500 = $686 in; 375 out.
        CostCase {
            name: "gemini: tool-use prompt, cached, audio and thoughts tokens",
            provider: "gemini",
            endpoint: "/gemini/models/gemini-2.5-flash:streamGenerateContent",
            model: "gemini/gemini-2.5-flash",
            body: gemini_stream(
                r#"{"promptTokenCount":1000,"cachedContentTokenCount":200,"candidatesTokenCount":50,"toolUsePromptTokenCount":300,"thoughtsTokenCount":100,"totalTokenCount":1450,"promptTokensDetails":[{"modality":"TEXT","tokenCount":400},{"modality":"AUDIO","tokenCount":600}],"cacheTokensDetails":[{"modality":"TEXT","tokenCount":100},{"modality":"AUDIO","tokenCount":100}],"toolUsePromptTokensDetails":[{"modality":"TEXT","tokenCount":300}]}"#,
            ),
            usage: Usage {
                cached_input_tokens: 200,
                audio_input_tokens: 500,
                reasoning_tokens: 100,
                ..u(1_300, 150)
            },
            split: Some((686_000_000, 375_000_000)),
            total: "$0.001061",
            source: CostSource::PriceTable,
        },
        // Gemini, gemini-2.5-pro-preview-tts ($1 text in, $0.70 audio in, $20 out, audio out
        // too): 10 text in, 1,000 audio out (split from candidatesTokensDetails): $10 in;
        // $20,000 out.
        CostCase {
            name: "gemini: audio out",
            provider: "gemini",
            endpoint: "/gemini/models/gemini-2.5-pro-preview-tts:streamGenerateContent",
            model: "gemini/gemini-2.5-pro-preview-tts",
            body: gemini_stream(
                r#"{"promptTokenCount":10,"candidatesTokenCount":1000,"totalTokenCount":1010,"promptTokensDetails":[{"modality":"TEXT","tokenCount":10}],"candidatesTokensDetails":[{"modality":"AUDIO","tokenCount":1000}]}"#,
            ),
            usage: Usage {
                audio_output_tokens: 1_000,
                ..u(10, 1_000)
            },
            split: Some((10_000_000, 20_000_000_000)),
            total: "$0.02001",
            source: CostSource::PriceTable,
        },
    ];
    for c in cases {
        let done = one_call(c.provider, c.endpoint, c.model, c.body).await;
        let r = &done.results[0];
        assert_eq!(r.text, "Ok.", "{}", c.name);
        assert_eq!(r.usage, c.usage, "{}: usage", c.name);
        if let Some((input, output)) = c.split {
            assert_eq!(r.cost.input_usd, Some(Usd(input)), "{}: input", c.name);
            assert_eq!(r.cost.output_usd, Some(Usd(output)), "{}: output", c.name);
        }
        assert_eq!(
            r.cost.total_usd.map(|t| t.to_string()).as_deref(),
            Some(c.total),
            "{}: total",
            c.name
        );
        assert_eq!(r.cost.source, c.source, "{}: source", c.name);
    }
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const PDF: &str = "JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKJSVFT0YK";

/// A question with an image by bytes, an image by URL (unless `urls` is false) and a PDF.
fn rich_message(urls: bool) -> Value {
    let mut parts = vec![
        json!({"type": "text", "text": "What is in these?"}),
        json!({"type": "image", "media_type": "image/png", "data": PNG}),
    ];
    if urls {
        parts.push(json!({"type": "image", "url": "https://example.com/cat.jpg"}));
    }
    parts.push(
        json!({"type": "file", "media_type": "application/pdf", "data": PDF, "name": "report.pdf"}),
    );
    json!({"role": "user", "content": parts})
}

/// A loopback mock that answers `answer` (an event stream) to POSTs at `endpoint`.
async fn answering(endpoint: &str, answer: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(answer.as_bytes().to_vec(), "text/event-stream"),
        )
        .mount(&server)
        .await;
    server
}

/// The body sent for one comparison of `model` with `message`, served `answer`
/// (an event stream) by a loopback mock at `endpoint`; and the comparison's end.
async fn sent_body(endpoint: &str, model: &str, message: Value, answer: &str) -> (Value, Complete) {
    let server = answering(endpoint, answer).await;
    let engine = config(&server).engine().unwrap();
    let request: CompareRequest =
        serde_json::from_value(json!({"models": [model], "messages": [message]})).unwrap();
    let done = engine.compare(&request).unwrap().result().await.unwrap();
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1, "one upstream call");
    (serde_json::from_slice(&sent[0].body).unwrap(), done)
}

const OPENAI_ANSWER: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A cat.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
const ANTHROPIC_ANSWER: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"A cat.\"}}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);
const GEMINI_ANSWER: &str = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A cat.\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}]}\r\n\r\n";

/// Images and files in each wire format's native shape (issue 22), field by field as each
/// API reference gives it: OpenAI `image_url` (data URL or URL) and `file.file_data`;
/// Anthropic `image`/`document` blocks with `base64` or `url` sources; Gemini `inlineData`.
#[tokio::test]
async fn images_and_files_go_in_each_wire_formats_native_shape() {
    let data_url = format!("data:image/png;base64,{PNG}");
    let (body, done) = sent_body(
        "/openai/chat/completions",
        "openai/test-model",
        rich_message(true),
        OPENAI_ANSWER,
    )
    .await;
    assert_eq!(done.results[0].text, "A cat.");
    assert_eq!(
        body["messages"][0],
        json!({"role": "user", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": data_url}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "file", "file": {"filename": "report.pdf", "file_data": format!("data:application/pdf;base64,{PDF}")}},
        ]})
    );
    let (body, done) = sent_body(
        "/anthropic/v1/messages",
        "anthropic/test-model",
        rich_message(true),
        ANTHROPIC_ANSWER,
    )
    .await;
    assert_eq!(done.results[0].text, "A cat.");
    assert_eq!(
        body["messages"][0],
        json!({"role": "user", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}, "title": "report.pdf"},
        ]})
    );
    let (body, done) = sent_body(
        "/gemini/models/test-model:streamGenerateContent",
        "gemini/test-model",
        rich_message(false),
        GEMINI_ANSWER,
    )
    .await;
    assert_eq!(done.results[0].text, "A cat.");
    assert_eq!(
        body["contents"][0],
        json!({"role": "user", "parts": [
            {"text": "What is in these?"},
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
            {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
        ]})
    );
    // A data: URL is bytes for every wire format; a plain-text file is text where the API has
    // no text document (OpenAI) and a `text` source where it has (Anthropic).
    let hello = "aGVsbG8sIGZpbGU="; // "hello, file"
    let msg = json!({"role": "user", "content": [
        {"type": "image", "url": data_url},
        {"type": "file", "media_type": "text/plain", "data": hello, "name": "notes.txt"},
    ]});
    let (body, _) = sent_body(
        "/gemini/models/test-model:streamGenerateContent",
        "gemini/test-model",
        msg.clone(),
        GEMINI_ANSWER,
    )
    .await;
    assert_eq!(
        body["contents"][0]["parts"][0],
        json!({"inlineData": {"mimeType": "image/png", "data": PNG}})
    );
    let (body, _) = sent_body(
        "/openai/chat/completions",
        "openai/test-model",
        msg.clone(),
        OPENAI_ANSWER,
    )
    .await;
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"type": "text", "text": "notes.txt:\nhello, file"})
    );
    let (body, _) = sent_body(
        "/anthropic/v1/messages",
        "anthropic/test-model",
        msg,
        ANTHROPIC_ANSWER,
    )
    .await;
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello, file"}, "title": "notes.txt"})
    );
}

/// A large attachment goes out as the request's own bytes (not copied into each model's
/// JSON) and arrives whole, with a `content-length` (not chunked), in every wire format.
#[tokio::test]
async fn a_large_attachment_is_sent_whole_with_its_length_by_every_wire_format() {
    use base64::Engine as _;
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    for (endpoint, model, answer, pointer) in [
        (
            "/openai/chat/completions",
            "openai/test-model",
            OPENAI_ANSWER,
            "/messages/0/content/1/image_url/url",
        ),
        (
            "/anthropic/v1/messages",
            "anthropic/test-model",
            ANTHROPIC_ANSWER,
            "/messages/0/content/1/source/data",
        ),
        (
            "/gemini/models/test-model:streamGenerateContent",
            "gemini/test-model",
            GEMINI_ANSWER,
            "/contents/0/parts/1/inlineData/data",
        ),
    ] {
        let server = answering(endpoint, answer).await;
        let engine = config(&server).engine().unwrap();
        let request: CompareRequest = serde_json::from_value(json!({
            "models": [model],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "media_type": "image/png", "data": b64},
            ]}],
        }))
        .unwrap();
        let done = engine.compare(&request).unwrap().result().await.unwrap();
        assert_eq!(done.results[0].text, "A cat.", "{model}");
        let sent = &server.received_requests().await.unwrap()[0];
        assert_eq!(
            sent.headers["content-length"],
            sent.body.len().to_string().as_str(),
            "{model}"
        );
        assert!(!sent.headers.contains_key("transfer-encoding"), "{model}");
        let body: Value = serde_json::from_slice(&sent.body).unwrap();
        let got = body.pointer(pointer).and_then(Value::as_str).unwrap();
        assert_eq!(
            got.trim_start_matches("data:image/png;base64,"),
            b64,
            "{model}"
        );
        assert!(
            String::from_utf8_lossy(&sent.body).contains("\"What is this?\""),
            "{model}"
        );
    }
}

/// A model known not to take images, or an API that cannot carry a part, fails alone with
/// `unsupported_input` naming the part — before any call — while the others answer.
#[tokio::test]
async fn a_model_that_cannot_take_an_image_fails_alone_before_any_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/openai/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(OPENAI_ANSWER.as_bytes().to_vec(), "text/event-stream"),
        )
        .expect(1)
        .mount(&server)
        .await;
    // Neither the text-only model (the price data says `!vision`) nor Gemini with a web URL
    // may reach their upstreams.
    for p in [
        "/deepseek/chat/completions",
        "/gemini/models/gemini-2.5-flash:streamGenerateContent",
    ] {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
    }
    let engine = config(&server).engine().unwrap();
    let request: CompareRequest = serde_json::from_value(json!({
        "models": ["openai/gpt-4o", "deepseek/deepseek-v4-pro", "gemini/gemini-2.5-flash"],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "url": "https://example.com/cat.jpg"},
        ]}],
    }))
    .unwrap();
    let done = engine.compare(&request).unwrap().result().await.unwrap();
    assert_eq!(done.results[0].text, "A cat.");
    assert!(done.results[0].error.is_none());
    for (r, why) in [
        (&done.results[1], "does not take images"),
        (&done.results[2], "Gemini takes images and files as bytes"),
    ] {
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.code, ErrorCode::UnsupportedInput, "{e:?}");
        assert!(
            e.message.contains("messages[0].content[1]") && e.message.contains(why),
            "{}",
            e.message
        );
    }
    assert_eq!(done.status, RequestStatus::Completed);
}

fn person_format() -> Value {
    json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name", "age"],
        "additionalProperties": false,
    }}})
}

/// Structured output (issue 22) in each wire format's shape — OpenAI `response_format`,
/// Gemini `responseMimeType` + `responseJsonSchema`, Anthropic a forced tool whose input is
/// the answer — and each answer judged against the schema: valid, or invalid with the path.
#[tokio::test]
async fn structured_output_is_asked_natively_and_judged_against_the_schema() {
    let server = MockServer::start().await;
    let openai_answer = |json: &str| {
        format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": json}, "finish_reason": "stop"}]})
        )
    };
    let anthropic_answer = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"person\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"name\\\": \\\"Ada\\\",\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"age\\\": 36}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    for (p, body) in [
        (
            "/openai/chat/completions",
            openai_answer("{\"name\": \"Ada\", \"age\": 36}"),
        ),
        (
            "/groq/chat/completions",
            openai_answer("{\"name\": \"Ada\", \"age\": \"old\"}"),
        ),
        ("/anthropic/v1/messages", anthropic_answer.to_string()),
        (
            "/gemini/models/test-model:streamGenerateContent",
            format!(
                "data: {}\r\n\r\n",
                json!({"candidates": [{"content": {"parts": [{"text": "not json"}], "role": "model"}, "finishReason": "STOP", "index": 0}]})
            ),
        ),
    ] {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream"),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let engine = config(&server).engine().unwrap();
    let request: CompareRequest = serde_json::from_value(json!({
        "models": ["openai/test-model", "groq/test-model", "anthropic/test-model", "gemini/test-model"],
        "messages": [{"role": "user", "content": "Who wrote the first program? Name and age at the time."}],
        "response_format": person_format(),
    }))
    .unwrap();
    let done = engine.compare(&request).unwrap().result().await.unwrap();
    let schema = person_format()["json_schema"]["schema"].clone();
    // What each was sent.
    let sent: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.url.path().to_string(),
                serde_json::from_slice::<Value>(&r.body).unwrap(),
            )
        })
        .map(|(p, mut b)| {
            b["__path"] = json!(p);
            b
        })
        .collect();
    let body_of = |p: &str| sent.iter().find(|b| b["__path"] == p).unwrap().clone();
    assert_eq!(
        body_of("/openai/chat/completions")["response_format"],
        person_format()
    );
    let g = body_of("/gemini/models/test-model:streamGenerateContent");
    assert_eq!(
        g["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(g["generationConfig"]["responseJsonSchema"], schema);
    let a = body_of("/anthropic/v1/messages");
    assert_eq!(
        a["tools"],
        json!([{"name": "person", "description": "Give your answer as this tool's input.", "input_schema": schema}])
    );
    assert_eq!(a["tool_choice"], json!({"type": "tool", "name": "person"}));
    // How each answer was judged.
    let by = |i: usize| &done.results[i];
    assert_eq!(
        by(0).structured,
        Some(Structured {
            valid: true,
            errors: vec![]
        })
    );
    let invalid = by(1).structured.clone().unwrap();
    assert!(!invalid.valid);
    assert_eq!(invalid.errors[0].path, "/age", "{invalid:?}");
    // Anthropic's forced tool call is the answer's text, and a plain stop.
    assert_eq!(by(2).text, "{\"name\": \"Ada\", \"age\": 36}");
    assert!(by(2).tool_calls.is_empty());
    assert_eq!(by(2).finish_reason, Some(FinishReason::Stop));
    assert_eq!(by(2).structured.as_ref().map(|s| s.valid), Some(true));
    let not_json = by(3).structured.clone().unwrap();
    assert!(
        !not_json.valid && not_json.errors[0].message.starts_with("not JSON"),
        "{not_json:?}"
    );
}

/// A schema that does not compile is a 400 naming it, before any call.
#[test]
fn a_bad_schema_or_name_is_refused_naming_the_field() {
    let engine = Engine::new(ProviderRegistry::with_sim());
    for (format, field) in [
        (
            json!({"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "objekt"}}}),
            "response_format.json_schema.schema",
        ),
        (
            json!({"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}),
            "response_format.json_schema.name",
        ),
    ] {
        let request: CompareRequest = serde_json::from_value(json!({
            "models": ["sim/echo"], "messages": [{"role": "user", "content": "x"}], "response_format": format,
        }))
        .unwrap();
        assert_eq!(engine.plan(&request).unwrap_err().field(), Some(field));
    }
}
