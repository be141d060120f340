//! Votes into a ranking: Bradley-Terry ratings with bootstrap 95% intervals, online Elo,
//! win/loss/tie counts, and each model's mean time to first token and cost.
//!
//! A vote over N models counts as the winner beating each of the others; `tie` and `all_bad`
//! count as a tie (half a win each way) between every pair. Ratings are on the Elo scale
//! (400 points = 10× the odds) centred on 1000.
//!
//! Cost: votes are first folded into *outcome groups* (the same models with the same
//! winner), so fitting and each bootstrap resample work on a few hundred groups however many
//! votes there are; the bootstrap resamples groups with Poisson weights (equivalent to
//! resampling votes). [`VoteCache`] folds votes into the plain boards as they arrive
//! ([`Fold`]), reading only new ones from the store, so the server's memory grows with the
//! models, not with the votes; filtered boards read their votes from the store.
//!
//! Votes have a source: `human`, or `judge:<model>` (an LLM judge's pairwise verdict in an
//! evaluation run). A board counts one kind or both ([`Source`]); on comparisons that have
//! both, [`Agreement`] says how often the judges agree with the humans (rate and Cohen's κ).

use std::collections::HashMap;

use llm_compare_core::Result;
use serde::Serialize;

use crate::{Store, VoteRecord, Winner};

mod style;

mod agreement;
mod cache;
mod fit;
mod fold;

pub use agreement::*;
pub use cache::*;
use fit::*;
pub use fold::*;

/// Scale of ratings: 400 points = 10× the odds.
const SCALE: f64 = 400.0;
/// The mean rating.
const BASE: f64 = 1000.0;
/// Elo's step per pairwise game.
const ELO_K: f64 = 4.0;
/// Pseudo-games (half won, half lost) against a reference of average strength: keeps a
/// model that never lost (or never won) finite without visibly moving the others.
const PRIOR: f64 = 0.5;

/// What to compute.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Votes cast at or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Votes cast before (Unix ms).
    pub to_ms: Option<i64>,
    /// Bootstrap resamples for the intervals (0: no intervals).
    pub bootstrap: usize,
    /// Seed of the resampling (same votes + seed → same intervals).
    pub seed: u64,
    /// Whose votes count.
    pub source: Source,
    /// Fit with style covariates (answer length and markdown differences): ratings with
    /// style's effect removed, intervals from the fit.
    pub style_control: bool,
    /// Only votes on comparisons of this category.
    pub category: Option<String>,
}

/// How much style sways a vote, when the board is style-controlled: each covariate's
/// coefficient (log-odds of winning per standard deviation of the covariate).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StyleCoefficients {
    /// The answers' length difference ((a − b) / (a + b), in words).
    pub length: f64,
    /// Their markdown difference (headers, list items, bold spans, code fences).
    pub markdown: f64,
}

/// Whose votes a board counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// People's votes (the default).
    #[default]
    Human,
    /// LLM judges' verdicts.
    Judge,
    /// Both.
    All,
}

impl Source {
    /// Whether a vote from `source` counts.
    pub fn counts(self, source: &str) -> bool {
        match self {
            Source::Human => source == "human",
            Source::Judge => source.starts_with("judge:"),
            Source::All => true,
        }
    }

    /// `human`, `judge` or `all`.
    pub fn parse(v: &str) -> Option<Self> {
        match v {
            "human" => Some(Source::Human),
            "judge" => Some(Source::Judge),
            "all" => Some(Source::All),
            _ => None,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            from_ms: None,
            to_ms: None,
            bootstrap: 200,
            seed: 0x5eed,
            source: Source::Human,
            style_control: false,
            category: None,
        }
    }
}

/// One model's standing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Standing {
    /// 1 for the best.
    pub rank: usize,
    /// The model.
    pub model: String,
    /// Bradley-Terry rating.
    pub rating: f64,
    /// Lower end of its bootstrap 95% interval.
    pub ci_low: f64,
    /// Upper end of its bootstrap 95% interval.
    pub ci_high: f64,
    /// Online Elo (votes in time order).
    pub elo: f64,
    /// Votes it won.
    pub wins: u64,
    /// Votes another model won.
    pub losses: u64,
    /// Votes that were a tie or all bad.
    pub ties: u64,
    /// Votes it took part in.
    pub votes: u64,
    /// Mean time to first token over those comparisons.
    pub mean_ttft_ms: Option<f64>,
    /// Mean cost over those comparisons (priced calls).
    pub mean_cost_usd: Option<f64>,
}

/// The leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Leaderboard {
    /// Votes counted.
    pub votes: u64,
    /// Votes cast at or after (Unix ms), if filtered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub from_ms: Option<i64>,
    /// Votes cast before (Unix ms), if filtered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub to_ms: Option<i64>,
    /// Whose votes it counts.
    pub source: Source,
    /// The category it counts, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub category: Option<String>,
    /// The categories of the votes it could count (for a filter).
    pub categories: Vec<String>,
    /// Models, best first.
    pub models: Vec<Standing>,
    /// With `style_control`: the style covariates' coefficients (ratings and intervals are
    /// then the style-controlled fit's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub style: Option<StyleCoefficients>,
    /// Judge–human agreement on the comparisons both voted on (in the time window), when
    /// there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub agreement: Option<Agreement>,
}

impl Leaderboard {
    /// As CSV (header + one row per model).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "rank,model,rating,ci_low,ci_high,elo,wins,losses,ties,votes,mean_ttft_ms,mean_cost_usd\n",
        );
        let opt = |v: Option<f64>, p: usize| v.map_or(String::new(), |v| format!("{v:.p$}"));
        for s in &self.models {
            // Model ids are `provider/model`; quote anyway so a comma cannot break a row.
            out.push_str(&format!(
                "{},\"{}\",{:.1},{:.1},{:.1},{:.1},{},{},{},{},{},{}\n",
                s.rank,
                s.model.replace('"', "\"\""),
                s.rating,
                s.ci_low,
                s.ci_high,
                s.elo,
                s.wins,
                s.losses,
                s.ties,
                s.votes,
                opt(s.mean_ttft_ms, 1),
                opt(s.mean_cost_usd, 8),
            ));
        }
        out
    }
}
