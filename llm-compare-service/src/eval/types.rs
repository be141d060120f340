//! What an evaluation takes and reports: its options, each row's and model's outcome, the
//! summary, and the events a run streams.

use super::*;

/// How a run goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct EvalOptions {
    /// The models compared on every row.
    pub models: Vec<String>,
    /// The judge: grades `llm_rubric` assertions and judges every pair of answers.
    #[serde(default)]
    pub judge: Option<String>,
    /// Rows run at once (default 4).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Runs of each row (default 1): pass^N is then the share of rows passed every time.
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Let the judge judge comparisons that include its own model.
    #[serde(default)]
    pub allow_self_judge: bool,
}

impl EvalOptions {
    /// Checked: models, a judge that is not one of them (unless allowed), the limits.
    pub fn check(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::invalid(
                "models",
                "an evaluation needs at least one model",
            ));
        }
        if let Some(j) = &self.judge
            && self.models.contains(j)
            && !self.allow_self_judge
        {
            return Err(Error::invalid(
                "judge",
                format!(
                    "the judge `{j}` is one of the models it would judge; pick another judge or allow it (--allow-self-judge)"
                ),
            ));
        }
        if self
            .concurrency
            .is_some_and(|c| !(1..=MAX_CONCURRENCY).contains(&c))
        {
            return Err(Error::invalid(
                "concurrency",
                format!("concurrency must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        if self.repeat.is_some_and(|r| !(1..=MAX_REPEAT).contains(&r)) {
            return Err(Error::invalid(
                "repeat",
                format!("repeat must be between 1 and {MAX_REPEAT}"),
            ));
        }
        Ok(())
    }
}

/// One model's answer to a row, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelOutcome {
    /// The model.
    pub model: String,
    /// Its answer.
    pub text: String,
    /// Whether every assertion held (and the model answered).
    pub passed: bool,
    /// Each assertion's outcome.
    pub assertions: Vec<Outcome>,
    /// Its cost, USD.
    pub cost_usd: f64,
    /// Its latency, ms.
    pub latency_ms: f64,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error: Option<String>,
}

/// The judge's verdict on one pair of answers (both orders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PairVerdict {
    /// The first model's `model_index`.
    pub a_index: usize,
    /// The second's.
    pub b_index: usize,
    /// The first model.
    pub a: String,
    /// The second.
    pub b: String,
    /// The better one's name, or `tie` (also when the two orders disagreed).
    pub winner: String,
    /// The better one's `model_index` (None: a tie).
    pub winner_index: Option<usize>,
    /// Whether both orders agreed.
    pub consistent: bool,
    /// The judge's reasons, in order shown (a, b), then (b, a).
    pub reasons: Vec<String>,
}

/// The judge's part of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RowJudge {
    /// The judge.
    pub model: String,
    /// Each pair's verdict.
    pub pairs: Vec<PairVerdict>,
    /// What judging this row cost (rubrics too), USD.
    pub cost_usd: f64,
}

/// One finished row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RowReport {
    /// The row's id.
    pub row_id: String,
    /// Which run of the row (0-based; with `repeat`).
    pub repeat: u32,
    /// The row's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub category: Option<String>,
    /// The comparison that answered it.
    pub comparison_id: String,
    /// Each model's answer, by model order.
    pub results: Vec<ModelOutcome>,
    /// The judge's verdicts, with a judge.
    pub judge: Option<RowJudge>,
}

/// One model's standing at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelSummary {
    /// The model.
    pub model: String,
    /// Rows (× repeats) passed / run.
    pub pass_rate: f64,
    /// Its Wilson 95 % interval.
    pub pass_ci: (f64, f64),
    /// With `repeat` > 1: the share of rows passed every time (pass^N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pass_all_repeats: Option<f64>,
    /// With `repeat` > 1: the variance of the pass rate across repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pass_variance: Option<f64>,
    /// Mean cost per answer, USD.
    pub mean_cost_usd: f64,
    /// Mean latency, ms.
    pub mean_latency_ms: f64,
    /// With a judge: (wins + ½ ties) / judged pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub judge_rating: Option<f64>,
}

/// A significant difference: `better` passes more of the rows where the two differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Better {
    /// The better model.
    pub better: String,
    /// The other.
    pub than: String,
    /// The exact McNemar test's p-value.
    pub p_value: f64,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Summary {
    /// The run's id.
    pub run_id: String,
    /// Rows run (× repeats).
    pub rows: usize,
    /// Each model, in order.
    pub models: Vec<ModelSummary>,
    /// Significant differences (p < 0.05).
    pub better: Vec<Better>,
    /// What the models cost, USD.
    pub cost_usd: f64,
    /// What the judge cost, USD.
    pub judge_cost_usd: f64,
}

/// What a run streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum EvalEvent {
    /// The run started (or resumed): its id — what `--resume` takes.
    Start {
        /// The run's id.
        run_id: String,
        /// Rows × repeats.
        units: usize,
        /// Of them, finished before (a resumed run: not run again).
        done: usize,
    },
    /// A row finished.
    Row(RowReport),
    /// The run finished.
    Summary(Summary),
    /// The run was cancelled (its finished rows are kept: `resume` runs the rest).
    Cancelled {
        /// The run's id.
        run_id: String,
        /// Rows finished in this part of the run before the cancel.
        rows_done: usize,
    },
}
