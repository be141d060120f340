//! Fuzzes the SSE framing and the three provider stream parsers with arbitrary bodies in
//! arbitrary chunkings. Any panic is a bug: malformed input must become a typed error.
//!
//! `cargo fuzz run stream_parsers fuzz/corpus/stream_parsers -- -max_total_time=600`
#![no_main]

use bytes::Bytes;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use llm_compare_core::providers::anthropic::AnthropicParser;
use llm_compare_core::providers::gemini::GeminiParser;
use llm_compare_core::providers::http::{StreamParser, parse_sse};
use llm_compare_core::providers::openai::OpenAiParser;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else { return };
    // The first byte picks the chunk size: splits land everywhere across runs.
    let size = usize::from(first % 32) + 1;
    let parsers: [fn() -> Box<dyn StreamParser>; 3] = [
        || Box::new(OpenAiParser::new()),
        || Box::new(AnthropicParser::new()),
        || Box::new(GeminiParser::new()),
    ];
    for make in parsers {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            body.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let events = parse_sse(futures::stream::iter(chunks), make());
        let _ = futures::executor::block_on(events.collect::<Vec<_>>());
    }
});
