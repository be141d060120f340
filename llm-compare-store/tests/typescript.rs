//! The Node package's TypeScript declarations of the event schema, the request bodies and the
//! results (`bindings/node/types.d.ts`) are generated from the Rust types by ts-rs; this test
//! fails when the committed file is stale. Regenerate with
//! `LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-store --test typescript`.

use std::path::PathBuf;

use llm_compare_core::cost::{Cost, PriceSummary};
use llm_compare_core::error::ErrorCode;
use llm_compare_core::event::{
    Attempt, Complete, ErrorInfo, Event, FinishReason, ModelResult, RequestStatus, Stage, Timing,
    ToolCall, Totals, Usage, UsageSource,
};
use llm_compare_core::provider::ModelInfo;
use llm_compare_core::request::{
    FunctionDef, Message, NamedFunction, Params, Role, Tool, ToolChoice, ToolChoiceMode,
};
use llm_compare_store::leaderboard::{Leaderboard, Standing};
use llm_compare_store::service::{ModelSnapshot, SessionDetail, Snapshot, Submitted, VoteBody};
use llm_compare_store::{ComparisonSummary, Outcome, SessionSummary, Winner};
use ts_rs::{Config, TS};

fn decl<T: TS + ?Sized>(cfg: &Config, out: &mut String) {
    if let Some(docs) = T::docs() {
        out.push_str(&docs);
    }
    out.push_str("export ");
    out.push_str(&T::decl(cfg));
    out.push_str("\n\n");
}

fn generate() -> String {
    // JSON numbers, not bigint: the counters never come near 2^53.
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from llm-compare-core's Rust types by ts-rs: do not edit.\n\
         // Regenerate: LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-store --test typescript\n\n",
    );
    // `Event` inlines its `type`-tagged body (serde's flatten): one union, no `EventKind`.
    decl::<Event>(&cfg, &mut out);
    decl::<RequestStatus>(&cfg, &mut out);
    decl::<Stage>(&cfg, &mut out);
    decl::<FinishReason>(&cfg, &mut out);
    decl::<ModelResult>(&cfg, &mut out);
    decl::<Complete>(&cfg, &mut out);
    decl::<Totals>(&cfg, &mut out);
    decl::<Usage>(&cfg, &mut out);
    decl::<UsageSource>(&cfg, &mut out);
    decl::<Cost>(&cfg, &mut out);
    decl::<Timing>(&cfg, &mut out);
    decl::<ErrorInfo>(&cfg, &mut out);
    decl::<ErrorCode>(&cfg, &mut out);
    decl::<Attempt>(&cfg, &mut out);
    decl::<ToolCall>(&cfg, &mut out);
    decl::<Message>(&cfg, &mut out);
    decl::<Role>(&cfg, &mut out);
    decl::<Params>(&cfg, &mut out);
    decl::<Tool>(&cfg, &mut out);
    decl::<FunctionDef>(&cfg, &mut out);
    decl::<ToolChoice>(&cfg, &mut out);
    decl::<ToolChoiceMode>(&cfg, &mut out);
    decl::<NamedFunction>(&cfg, &mut out);
    decl::<ModelInfo>(&cfg, &mut out);
    decl::<PriceSummary>(&cfg, &mut out);
    decl::<Submitted>(&cfg, &mut out);
    decl::<Snapshot>(&cfg, &mut out);
    decl::<ModelSnapshot>(&cfg, &mut out);
    decl::<VoteBody>(&cfg, &mut out);
    decl::<Winner>(&cfg, &mut out);
    decl::<Outcome>(&cfg, &mut out);
    decl::<ComparisonSummary>(&cfg, &mut out);
    decl::<SessionSummary>(&cfg, &mut out);
    decl::<SessionDetail>(&cfg, &mut out);
    decl::<Leaderboard>(&cfg, &mut out);
    decl::<Standing>(&cfg, &mut out);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn node_type_declarations_match_the_rust_types() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bindings/node/types.d.ts");
    let generated = generate();
    if std::env::var_os("LLM_COMPARE_UPDATE_TS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale; regenerate it with \
         `LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-store --test typescript`",
        path.display()
    );
}
