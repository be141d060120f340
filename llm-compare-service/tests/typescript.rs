//! The Node package's TypeScript declarations of the event schema, the request bodies and the
//! results (`bindings/node/types.d.ts`) are generated from the Rust types by ts-rs; this test
//! fails when the committed file is stale. Regenerate with
//! `LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-service --test typescript`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use llm_compare_core::ModelInfo;
use llm_compare_core::{
    Attempt, Complete, ErrorInfo, Event, FinishReason, ModelResult, RequestStatus, Stage, Timing,
    ToolCall, Totals, Usage, UsageSource,
};
use llm_compare_core::{Cost, CostSource, pricing::PriceSummary};
use llm_compare_core::{ErrorCode, ErrorFamily};
use llm_compare_core::{
    FunctionDef, Message, NamedFunction, Params, Role, Tool, ToolChoice, ToolChoiceMode,
};
use llm_compare_service::keys::{CreatedKey, KeyPage, KeyView, Scope, SelfView};
use llm_compare_service::leaderboard::{Leaderboard, Standing};
use llm_compare_service::service::{ModelSnapshot, SessionDetail, Snapshot, Submitted, VoteBody};
use llm_compare_service::usage::{BudgetView, CostBySource, GroupBy, UsageLine, UsageReport};
use llm_compare_service::{ComparisonKind, ComparisonSummary, Outcome, SessionSummary, Winner};
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
         // Regenerate: LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-service --test typescript\n\n",
    );
    // `Event` inlines its `type`-tagged body (serde's flatten): one union, no `EventKind`.
    decl::<Event>(&cfg, &mut out);
    decl::<RequestStatus>(&cfg, &mut out);
    decl::<Stage>(&cfg, &mut out);
    decl::<FinishReason>(&cfg, &mut out);
    decl::<ModelResult>(&cfg, &mut out);
    decl::<llm_compare_core::Structured>(&cfg, &mut out);
    decl::<llm_compare_core::StructuredError>(&cfg, &mut out);
    decl::<llm_compare_core::ResponseFormat>(&cfg, &mut out);
    decl::<llm_compare_core::JsonSchemaFormat>(&cfg, &mut out);
    decl::<Complete>(&cfg, &mut out);
    decl::<Totals>(&cfg, &mut out);
    decl::<Usage>(&cfg, &mut out);
    decl::<UsageSource>(&cfg, &mut out);
    decl::<Cost>(&cfg, &mut out);
    decl::<CostSource>(&cfg, &mut out);
    decl::<Timing>(&cfg, &mut out);
    decl::<ErrorInfo>(&cfg, &mut out);
    decl::<ErrorCode>(&cfg, &mut out);
    decl::<Attempt>(&cfg, &mut out);
    decl::<ToolCall>(&cfg, &mut out);
    decl::<llm_compare_core::ToolStep>(&cfg, &mut out);
    decl::<llm_compare_core::ToolStepResult>(&cfg, &mut out);
    decl::<Message>(&cfg, &mut out);
    decl::<llm_compare_core::Content>(&cfg, &mut out);
    decl::<llm_compare_core::Part>(&cfg, &mut out);
    decl::<Role>(&cfg, &mut out);
    decl::<Params>(&cfg, &mut out);
    decl::<llm_compare_core::ReasoningEffort>(&cfg, &mut out);
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
    decl::<llm_compare_service::AttachmentRef>(&cfg, &mut out);
    decl::<llm_compare_service::AttachmentKind>(&cfg, &mut out);
    decl::<VoteBody>(&cfg, &mut out);
    decl::<llm_compare_service::eval::EvalOptions>(&cfg, &mut out);
    decl::<llm_compare_service::eval::EvalEvent>(&cfg, &mut out);
    decl::<llm_compare_service::eval::RowReport>(&cfg, &mut out);
    decl::<llm_compare_service::eval::ModelOutcome>(&cfg, &mut out);
    decl::<llm_compare_service::eval::assertions::Outcome>(&cfg, &mut out);
    decl::<llm_compare_service::eval::RowJudge>(&cfg, &mut out);
    decl::<llm_compare_service::eval::PairVerdict>(&cfg, &mut out);
    decl::<llm_compare_service::eval::Summary>(&cfg, &mut out);
    decl::<llm_compare_service::eval::ModelSummary>(&cfg, &mut out);
    decl::<llm_compare_service::eval::Better>(&cfg, &mut out);
    decl::<llm_compare_service::eval::runs::EvalRunInfo>(&cfg, &mut out);
    decl::<llm_compare_service::eval::runs::EvalRunView>(&cfg, &mut out);
    decl::<llm_compare_service::eval::runs::EvalStatus>(&cfg, &mut out);
    decl::<llm_compare_service::eval::runs::EvalStarted>(&cfg, &mut out);
    decl::<Winner>(&cfg, &mut out);
    decl::<Outcome>(&cfg, &mut out);
    decl::<ComparisonSummary>(&cfg, &mut out);
    decl::<ComparisonKind>(&cfg, &mut out);
    decl::<SessionSummary>(&cfg, &mut out);
    decl::<SessionDetail>(&cfg, &mut out);
    decl::<UsageReport>(&cfg, &mut out);
    decl::<UsageLine>(&cfg, &mut out);
    decl::<CostBySource>(&cfg, &mut out);
    decl::<BudgetView>(&cfg, &mut out);
    decl::<KeyView>(&cfg, &mut out);
    decl::<CreatedKey>(&cfg, &mut out);
    decl::<KeyPage>(&cfg, &mut out);
    decl::<SelfView>(&cfg, &mut out);
    decl::<Scope>(&cfg, &mut out);
    decl::<GroupBy>(&cfg, &mut out);
    decl::<Leaderboard>(&cfg, &mut out);
    decl::<Standing>(&cfg, &mut out);
    decl::<llm_compare_service::leaderboard::Source>(&cfg, &mut out);
    decl::<llm_compare_service::leaderboard::Agreement>(&cfg, &mut out);
    decl::<llm_compare_service::leaderboard::StyleCoefficients>(&cfg, &mut out);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// The Node name of an error class: Python's, with `Error` added where it lacks it.
fn node_class(f: ErrorFamily) -> String {
    let name = f.name();
    if name.ends_with("Error") {
        name.to_string()
    } else {
        format!("{name}Error")
    }
}

/// `errors.js`: the error classes (name, parent) and the class of every code, from the core.
fn generate_errors_js() -> String {
    let mut out = String::from(
        "'use strict'\n\
         // Generated from llm-compare-core's ErrorCode and ErrorFamily: do not edit.\n\
         // Regenerate: LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-service --test typescript\n\n\
         /** Each error class: [name, the class it extends (null for the base)], parents first. */\n\
         exports.CLASSES = [\n",
    );
    for f in ErrorFamily::ALL {
        let parent = f
            .parent()
            .map_or("null".to_string(), |p| format!("'{}'", node_class(p)));
        out.push_str(&format!("  ['{}', {parent}],\n", node_class(f)));
    }
    out.push_str("]\n\n/** The class of each error code. */\nexports.CODES = {\n");
    for c in ErrorCode::ALL {
        out.push_str(&format!(
            "  {}: '{}',\n",
            c.as_str(),
            node_class(c.family())
        ));
    }
    out.push_str("}\n");
    out
}

/// `errors.d.ts`: the subclasses' declarations (the base is declared in `index.d.ts`).
fn generate_errors_dts() -> String {
    let mut out = String::from(
        "// Generated from llm-compare-core's ErrorCode and ErrorFamily: do not edit.\n\
         // Regenerate: LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-service --test typescript\n\
         import { LlmCompareError } from './index'\n",
    );
    for f in ErrorFamily::ALL {
        let Some(parent) = f.parent() else { continue };
        let codes: Vec<String> = ErrorCode::ALL
            .iter()
            .filter(|c| c.family() == f)
            .map(|c| format!("`{}`", c.as_str()))
            .collect();
        out.push_str(&format!(
            "\n/** {} Codes: {}. */\nexport declare class {} extends {} {{}}\n",
            f.doc(),
            codes.join(", "),
            node_class(f),
            node_class(parent)
        ));
    }
    out
}

/// Writes `generated` to `file` in bindings/node under LLM_COMPARE_UPDATE_TS, else checks
/// that the committed file equals it.
fn check_generated(file: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bindings/node")
        .join(file);
    if std::env::var_os("LLM_COMPARE_UPDATE_TS").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale; regenerate it with \
         `LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-service --test typescript`",
        path.display()
    );
}

#[test]
fn node_type_declarations_match_the_rust_types() {
    check_generated("types.d.ts", &generate());
}

#[test]
fn node_error_classes_match_the_core_codes() {
    check_generated("errors.js", &generate_errors_js());
    check_generated("errors.d.ts", &generate_errors_dts());
}
