//! `mock-upstream`: the mock OpenAI-compatible server of `llm_compare_testkit::mock_upstream`
//! as a process, for load generators and proxies (`llm-compare serve`, LiteLLM) to point at.
//!
//! `mock-upstream [--bind 127.0.0.1:9100] [--ttft-ms 0] [--tokens-per-s 0] [--chunks 20]`
//! Prints `mock-upstream listening on http://ADDR` once it accepts connections.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use llm_compare_benches::mock_upstream::{MockConfig, spawn};

#[derive(Debug, Parser)]
#[command(about = "A mock OpenAI-compatible upstream with configurable pacing.")]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9100")]
    bind: std::net::SocketAddr,
    /// Milliseconds to the first content chunk.
    #[arg(long, default_value_t = 0)]
    ttft_ms: u64,
    /// Content chunks per second (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    tokens_per_s: f64,
    /// Content chunks per answer.
    #[arg(long, default_value_t = 20)]
    chunks: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = MockConfig {
        ttft: Duration::from_millis(args.ttft_ms),
        tokens_per_s: args.tokens_per_s,
        chunks: args.chunks,
    };
    match spawn(args.bind, config).await {
        Ok((addr, _stats)) => {
            println!("mock-upstream listening on http://{addr}");
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.bind);
            ExitCode::from(2)
        }
    }
}
