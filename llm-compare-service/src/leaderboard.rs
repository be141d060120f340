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

/// How often judges agree with people, on the pairs of answers both judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agreement {
    /// Pairs judged by both a person and a judge.
    pub pairs: u64,
    /// Share of them with the same outcome (first better, second better, tie).
    pub rate: f64,
    /// Cohen's κ over those three outcomes: agreement beyond chance (1 perfect, 0 chance).
    pub kappa: f64,
}

/// Agreement of the judges' verdicts in `votes` with the human votes on the same
/// comparisons: a human vote gives each pair its outcome (the winner beats the other; a tie
/// or `all_bad`: a tie; a pair neither of which won is left out). None without such pairs.
pub fn agreement<'a>(votes: impl Iterator<Item = &'a VoteRecord>) -> Option<Agreement> {
    // Outcome of a pair (a < b): 0 a better, 1 b better, 2 tie.
    let (human, judged): (Vec<&VoteRecord>, Vec<&VoteRecord>) =
        votes.partition(|v| v.source == "human");
    let human: HashMap<&str, &VoteRecord> = human
        .into_iter()
        .map(|v| (v.comparison_id.as_str(), v))
        .collect();
    let mut confusion = [[0u64; 3]; 3];
    for v in judged {
        let (Some((a, b)), Some(h)) = (v.pair, human.get(v.comparison_id.as_str())) else {
            continue;
        };
        let said = match h.winner {
            Winner::Model(w) if w == a => 0,
            Winner::Model(w) if w == b => 1,
            Winner::Model(_) => continue,
            Winner::Outcome(_) => 2,
        };
        let judged = match v.winner {
            Winner::Model(0) => 0,
            Winner::Model(_) => 1,
            Winner::Outcome(_) => 2,
        };
        confusion[said][judged] += 1;
    }
    kappa(&confusion)
}

/// Agreement rate and Cohen's κ of a confusion matrix (rows: one rater, columns: the other).
pub fn kappa(confusion: &[[u64; 3]; 3]) -> Option<Agreement> {
    let n: u64 = confusion.iter().flatten().sum();
    if n == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    #[allow(clippy::cast_precision_loss)]
    let observed = (0..3).map(|k| confusion[k][k]).sum::<u64>() as f64 / nf;
    #[allow(clippy::cast_precision_loss)]
    let expected: f64 = (0..3)
        .map(|k| {
            let row: u64 = confusion[k].iter().sum();
            let col: u64 = confusion.iter().map(|r| r[k]).sum();
            (row as f64 / nf) * (col as f64 / nf)
        })
        .sum();
    let kappa = if (1.0 - expected).abs() < f64::EPSILON {
        1.0
    } else {
        (observed - expected) / (1.0 - expected)
    };
    Some(Agreement {
        pairs: n,
        rate: observed,
        kappa,
    })
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

/// Votes with the same models and the same outcome, and how many there were.
#[derive(Debug, Clone)]
struct Group {
    models: Vec<usize>,
    /// Position of the winner in `models`; `None` for a tie.
    winner: Option<usize>,
    count: f64,
}

/// Pairwise wins: `w[i][j]` = games i won against j (ties count half each way).
fn pair_wins(groups: &[Group], weights: &[f64], m: usize) -> Vec<Vec<f64>> {
    let mut w = vec![vec![0.0; m]; m];
    for (g, &weight) in groups.iter().zip(weights) {
        if weight == 0.0 {
            continue;
        }
        match g.winner {
            Some(pos) => {
                let a = g.models[pos];
                for (k, &b) in g.models.iter().enumerate() {
                    if k != pos && a != b {
                        w[a][b] += weight;
                    }
                }
            }
            None => {
                for (k, &a) in g.models.iter().enumerate() {
                    for &b in &g.models[k + 1..] {
                        if a != b {
                            w[a][b] += weight / 2.0;
                            w[b][a] += weight / 2.0;
                        }
                    }
                }
            }
        }
    }
    w
}

/// Bradley-Terry strengths by minorization-maximization (Hunter 2004), as ratings centred on
/// [`BASE`].
fn bradley_terry(w: &[Vec<f64>]) -> Vec<f64> {
    let m = w.len();
    let wins: Vec<f64> = w.iter().map(|row| row.iter().sum()).collect();
    let mut p = vec![1.0_f64; m];
    for _ in 0..1000 {
        let mut next = vec![0.0; m];
        for i in 0..m {
            let mut denom = 2.0 * PRIOR / (p[i] + 1.0);
            for j in 0..m {
                let n = w[i][j] + w[j][i];
                if i != j && n > 0.0 {
                    denom += n / (p[i] + p[j]);
                }
            }
            next[i] = (wins[i] + PRIOR) / denom;
        }
        // Fix the scale (geometric mean 1) so iterations compare.
        let mean_log = next.iter().map(|x| x.ln()).sum::<f64>() / m as f64;
        let mut change = 0.0_f64;
        for i in 0..m {
            let v = (next[i].ln() - mean_log).exp();
            change = change.max((v / p[i] - 1.0).abs());
            p[i] = v;
        }
        if change < 1e-9 {
            break;
        }
    }
    p.iter()
        .map(|x| BASE + SCALE * x.log10())
        .collect::<Vec<_>>()
}

/// A Poisson(λ) draw: Knuth's method for small λ, the normal approximation above 30.
fn poisson(rng: &mut fastrand::Rng, lambda: f64) -> f64 {
    if lambda > 30.0 {
        let (u1, u2) = (rng.f64().max(f64::MIN_POSITIVE), rng.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        return (lambda + lambda.sqrt() * z).round().max(0.0);
    }
    let limit = (-lambda).exp();
    let mut k = 0.0;
    let mut prod = rng.f64();
    while prod > limit {
        k += 1.0;
        prod *= rng.f64();
    }
    k
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Per-model tallies gathered in one pass.
#[derive(Debug, Default, Clone)]
struct Tally {
    wins: u64,
    losses: u64,
    ties: u64,
    votes: u64,
    ttft_sum: f64,
    ttft_n: u64,
    cost_sum: i128,
    cost_n: u64,
    elo: f64,
}

/// Votes folded one by one into what a board is computed from: each model's tallies and
/// online Elo, the outcome groups (same models, same winner: their count), the categories
/// seen, and — with style control — each pairwise battle's style covariates. Without style
/// control it grows with the models (and their combinations), not with the votes: the
/// server keeps one per source current as votes arrive instead of keeping the votes.
#[derive(Debug, Default, Clone)]
pub struct Fold {
    ids: HashMap<String, usize>,
    names: Vec<String>,
    tallies: Vec<Tally>,
    group_ix: HashMap<(Vec<usize>, Option<usize>), usize>,
    groups: Vec<Group>,
    counted: u64,
    style_control: bool,
    battles: Vec<style::Battle>,
    categories: std::collections::BTreeSet<String>,
}

impl Fold {
    /// An empty fold; with `style_control`, it keeps every battle's covariates.
    pub fn new(style_control: bool) -> Self {
        Self {
            style_control,
            ..Self::default()
        }
    }

    /// Notes that a vote of `category` could be counted (the board lists the categories).
    pub fn saw_category(&mut self, category: Option<&String>) {
        if let Some(c) = category
            && !self.categories.contains(c)
        {
            self.categories.insert(c.clone());
        }
    }

    /// Counts vote `v` (after its owner filtered it by window, source and category).
    pub fn add(&mut self, v: &VoteRecord) {
        let winner = match v.winner {
            Winner::Model(i) if i < v.models.len() => Some(i),
            Winner::Model(_) => return,
            Winner::Outcome(_) => None,
        };
        self.counted += 1;
        let mut idx = Vec::with_capacity(v.models.len());
        for m in &v.models {
            let i = match self.ids.get(m.as_str()) {
                Some(&i) => i,
                None => {
                    self.ids.insert(m.clone(), self.names.len());
                    self.names.push(m.clone());
                    self.tallies.push(Tally {
                        elo: BASE,
                        ..Tally::default()
                    });
                    self.names.len() - 1
                }
            };
            idx.push(i);
        }
        let tallies = &mut self.tallies;
        for (pos, &i) in idx.iter().enumerate() {
            let t = &mut tallies[i];
            t.votes += 1;
            match winner {
                Some(w) if w == pos => t.wins += 1,
                Some(_) => t.losses += 1,
                None => t.ties += 1,
            }
            if let Some(Some(ms)) = v.ttft_ms.get(pos) {
                t.ttft_sum += ms;
                t.ttft_n += 1;
            }
            if let Some(Some(c)) = v.cost_pico.get(pos) {
                t.cost_sum += i128::from(*c);
                t.cost_n += 1;
            }
        }
        // Online Elo: one game per pair, in vote order.
        for a in 0..idx.len() {
            for b in a + 1..idx.len() {
                let (i, j) = (idx[a], idx[b]);
                if i == j {
                    continue;
                }
                let score = match winner {
                    Some(w) if w == a => 1.0,
                    Some(w) if w == b => 0.0,
                    Some(_) => continue,
                    None => 0.5,
                };
                let expected = 1.0 / (1.0 + 10f64.powf((tallies[j].elo - tallies[i].elo) / SCALE));
                let delta = ELO_K * (score - expected);
                tallies[i].elo += delta;
                tallies[j].elo -= delta;
            }
        }
        if self.style_control {
            let style_of = |pos: usize| v.style.get(pos).copied().unwrap_or_default();
            for a in 0..idx.len() {
                for b in a + 1..idx.len() {
                    let y = match winner {
                        Some(w) if w == a => 1.0,
                        Some(w) if w == b => 0.0,
                        Some(_) => continue,
                        None => 0.5,
                    };
                    if idx[a] != idx[b] {
                        self.battles.push(style::Battle::new(
                            idx[a],
                            idx[b],
                            y,
                            style_of(a),
                            style_of(b),
                        ));
                    }
                }
            }
        }
        let key = (idx, winner);
        match self.group_ix.get(&key) {
            Some(&g) => self.groups[g].count += 1.0,
            None => {
                self.groups.push(Group {
                    models: key.0.clone(),
                    winner,
                    count: 1.0,
                });
                self.group_ix.insert(key, self.groups.len() - 1);
            }
        }
    }

    /// The board of what was folded (`opts` gives the bootstrap, the seed and the labels;
    /// its filters were applied by whoever folded), with `agreement` as given.
    pub fn board(&self, opts: &Options, agreement: Option<Agreement>) -> Leaderboard {
        let (names, tallies, groups, counted, battles) = (
            &self.names,
            &self.tallies,
            &self.groups,
            self.counted,
            &self.battles,
        );
        let styled_asked = opts.style_control && self.style_control;
        let m = names.len();
        let counts: Vec<f64> = groups.iter().map(|g| g.count).collect();
        // Style control: the logistic fit with covariates gives the ratings and (from its
        // Hessian) the intervals; no bootstrap.
        let styled = (styled_asked && m > 0).then(|| style::fit(battles, m));
        let per_log_odds = SCALE / std::f64::consts::LN_10;
        let ratings = match (&styled, m) {
            (Some(f), _) => f.strength.iter().map(|b| BASE + per_log_odds * b).collect(),
            (None, 0) => Vec::new(),
            (None, _) => bradley_terry(&pair_wins(groups, &counts, m)),
        };
        let bootstrap = if styled.is_some() { 0 } else { opts.bootstrap };
        // Bootstrap: each resample reweights the outcome groups.
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(bootstrap); m];
        let mut rng = fastrand::Rng::with_seed(opts.seed);
        for _ in 0..bootstrap {
            let weights: Vec<f64> = counts.iter().map(|&c| poisson(&mut rng, c)).collect();
            for (i, r) in bradley_terry(&pair_wins(groups, &weights, m))
                .into_iter()
                .enumerate()
            {
                samples[i].push(r);
            }
        }
        let mut models: Vec<Standing> = (0..m)
            .map(|i| {
                let t = &tallies[i];
                let s = &mut samples[i];
                s.sort_by(f64::total_cmp);
                let (lo, hi) = match &styled {
                    Some(f) => {
                        let half = 1.959_964 * per_log_odds * f.std_err[i];
                        (ratings[i] - half, ratings[i] + half)
                    }
                    None if s.is_empty() => (ratings[i], ratings[i]),
                    None => (percentile(s, 0.025), percentile(s, 0.975)),
                };
                Standing {
                    rank: 0,
                    model: names[i].clone(),
                    rating: round1(ratings[i]),
                    ci_low: round1(lo.min(ratings[i])),
                    ci_high: round1(hi.max(ratings[i])),
                    elo: round1(t.elo),
                    wins: t.wins,
                    losses: t.losses,
                    ties: t.ties,
                    votes: t.votes,
                    mean_ttft_ms: (t.ttft_n > 0).then(|| round1(t.ttft_sum / t.ttft_n as f64)),
                    mean_cost_usd: (t.cost_n > 0)
                        .then(|| t.cost_sum as f64 / t.cost_n as f64 / 1e12),
                }
            })
            .collect();
        models.sort_by(|a, b| b.rating.total_cmp(&a.rating).then(a.model.cmp(&b.model)));
        for (i, s) in models.iter_mut().enumerate() {
            s.rank = i + 1;
        }
        Leaderboard {
            votes: counted,
            from_ms: opts.from_ms,
            to_ms: opts.to_ms,
            source: opts.source,
            category: opts.category.clone(),
            categories: self.categories.iter().cloned().collect(),
            models,
            style: styled.map(|f| StyleCoefficients {
                length: f.length,
                markdown: f.markdown,
            }),
            agreement,
        }
    }
}

/// Whether vote `v` is inside `opts`' time window.
fn in_window(v: &VoteRecord, opts: &Options) -> bool {
    !(opts.from_ms.is_some_and(|f| v.at_ms < f) || opts.to_ms.is_some_and(|t| v.at_ms >= t))
}

/// The leaderboard of `votes` (in time order) under `opts`.
pub fn compute(votes: &[VoteRecord], opts: &Options) -> Leaderboard {
    let mut fold = Fold::new(opts.style_control);
    for v in votes {
        if !in_window(v, opts) || !opts.source.counts(&v.source) {
            continue;
        }
        fold.saw_category(v.category.as_ref());
        if opts
            .category
            .as_ref()
            .is_some_and(|c| v.category.as_ref() != Some(c))
        {
            continue;
        }
        fold.add(v);
    }
    fold.board(opts, agreement(votes.iter().filter(|v| in_window(v, opts))))
}

/// Reads votes as they are cast: each refresh reads only those since the newest seen (minus
/// a clock-skew margin) and hands over the ones it had not seen. It keeps no votes: only the
/// keys of those a refresh may read again.
#[derive(Debug, Default)]
pub struct VoteReader {
    /// The keys of the votes a refresh may read again (those inside the skew margin) and when
    /// each was cast: older ones are forgotten, so this stays small whatever the votes.
    seen: HashMap<String, i64>,
    newest_ms: Option<i64>,
}

/// How far back a refresh re-reads: votes cast by another server whose clock runs behind
/// this one still arrive.
const SKEW_MS: i64 = 10_000;

impl VoteReader {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The votes cast since the last refresh, oldest first (all of them the first time).
    pub async fn refresh(&mut self, store: &dyn Store) -> Result<Vec<VoteRecord>> {
        let since = self
            .newest_ms
            .map_or(i64::MIN, |t| t.saturating_sub(SKEW_MS));
        let mut new = Vec::new();
        for v in store.votes_since(since).await? {
            if self.seen.insert(v.key(), v.at_ms).is_none() {
                self.newest_ms = Some(self.newest_ms.map_or(v.at_ms, |t| t.max(v.at_ms)));
                new.push(v);
            }
        }
        if !new.is_empty()
            && let Some(newest) = self.newest_ms
        {
            // What the next refresh cannot read again needs no key.
            let horizon = newest.saturating_sub(SKEW_MS);
            self.seen.retain(|_, at| *at >= horizon);
        }
        Ok(new)
    }
}

/// A board's filter: `[from, to)` in Unix ms, the source, style control, the category.
type Window = (Option<i64>, Option<i64>, Source, bool, Option<String>);

/// The leaderboards a server serves. The plain ones (all time, no category, no style
/// control: what the leaderboard page shows first) are folded vote by vote as votes arrive,
/// one per source, so the server's memory grows with the models, not with the votes; a
/// filtered board (a time window, a category, style control) is computed from the votes read
/// from the store for it — off the lock and off the runtime's threads (a bootstrap takes
/// CPU) — and kept by its parameters ([`FILTERED_KEPT`] of them), recomputed only when votes
/// arrived. A computation is asked of the caller's guard first (a rate per user).
#[derive(Debug, Default)]
pub struct VoteCache {
    inner: tokio::sync::Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    reader: VoteReader,
    /// The plain boards' folds: human, judge, all.
    plain: [Fold; 3],
    /// Whether any judge's vote was seen: the plain boards' agreement then reads the store.
    judged: bool,
    last: Option<(Window, Leaderboard)>,
    /// When the last board was computed and how long that took.
    computed: Option<(std::time::Instant, std::time::Duration)>,
    /// Batches of new votes seen so far: a kept filtered board of an earlier count is stale.
    epoch: u64,
    /// Filtered boards by their parameters: the board, the epoch it saw, when it was
    /// computed and how long that took.
    filtered: HashMap<Window, Kept>,
}

#[derive(Debug, Clone)]
struct Kept {
    board: Leaderboard,
    epoch: u64,
    at: std::time::Instant,
    took: std::time::Duration,
}

/// Filtered boards kept (the least recently computed goes first).
pub const FILTERED_KEPT: usize = 64;

/// A board is recomputed for new votes at most once per this many times its own compute
/// time: with a few votes (microseconds) every read sees every vote; with 100k votes under a
/// stream of votes and reads (~50 ms a board) a board may lag by up to half a second instead
/// of every read recomputing it.
const STALE_FACTOR: u32 = 10;

impl CacheState {
    /// Folds votes cast since the last look into the plain boards; whether there were any.
    async fn catch_up(&mut self, store: &dyn Store) -> Result<bool> {
        let new = self.reader.refresh(store).await?;
        for v in &new {
            self.judged |= Source::Judge.counts(&v.source);
            for (fold, source) in
                self.plain
                    .iter_mut()
                    .zip([Source::Human, Source::Judge, Source::All])
            {
                if source.counts(&v.source) {
                    fold.saw_category(v.category.as_ref());
                    fold.add(v);
                }
            }
        }
        if !new.is_empty() {
            // Every board computed before is stale now.
            self.epoch += 1;
            self.last = None;
        }
        Ok(!new.is_empty())
    }
}

impl VoteCache {
    /// The leaderboard for votes in `[from, to)`, reading only votes not seen yet.
    pub async fn board(
        &self,
        store: &dyn Store,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        source: Source,
        style_control: bool,
        category: Option<String>,
    ) -> Result<Leaderboard> {
        self.board_guarded(
            store,
            (from_ms, to_ms, source, style_control, category),
            || Ok(()),
        )
        .await
    }

    /// [`VoteCache::board`] of `wanted` (from, to, source, style control, category), asking
    /// `may_compute` before a filtered board is computed (not when a kept one serves).
    pub async fn board_guarded(
        &self,
        store: &dyn Store,
        wanted: (Option<i64>, Option<i64>, Source, bool, Option<String>),
        may_compute: impl FnOnce() -> Result<()>,
    ) -> Result<Leaderboard> {
        let (from_ms, to_ms, source, style_control, _) = wanted.clone();
        let plain = from_ms.is_none() && to_ms.is_none() && !style_control && wanted.4.is_none();
        if !plain {
            return self.filtered(store, wanted, may_compute).await;
        }
        let mut st = self.inner.lock().await;
        let fresh_enough = st
            .computed
            .is_some_and(|(at, took)| at.elapsed() < took * STALE_FACTOR)
            && st.last.as_ref().is_some_and(|(key, _)| *key == wanted);
        if !fresh_enough {
            st.catch_up(store).await?;
        }
        if let Some((key, board)) = &st.last
            && *key == wanted
        {
            return Ok(board.clone());
        }
        let started = std::time::Instant::now();
        let opts = Options {
            from_ms,
            to_ms,
            source,
            style_control,
            category: wanted.4.clone(),
            ..Options::default()
        };
        // Agreement pairs judges' and people's votes on the same comparisons: read from
        // the store when there are judges' votes at all (there is none without).
        let agreement = if st.judged {
            agreement(store.votes_since(i64::MIN).await?.iter())
        } else {
            None
        };
        let fold = match source {
            Source::Human => &st.plain[0],
            Source::Judge => &st.plain[1],
            Source::All => &st.plain[2],
        };
        let board = fold.board(&opts, agreement);
        st.last = Some((wanted, board.clone()));
        st.computed = Some((std::time::Instant::now(), started.elapsed()));
        Ok(board)
    }

    /// A filtered board: kept, or computed without holding the cache's lock.
    async fn filtered(
        &self,
        store: &dyn Store,
        wanted: Window,
        may_compute: impl FnOnce() -> Result<()>,
    ) -> Result<Leaderboard> {
        let epoch = {
            let mut st = self.inner.lock().await;
            let kept = st.filtered.get(&wanted).cloned();
            // Votes came since? Only look when the kept board is older than its own cost
            // allows (as the plain boards do).
            let stale = kept
                .as_ref()
                .is_none_or(|k| k.at.elapsed() >= k.took * STALE_FACTOR);
            if stale {
                st.catch_up(store).await?;
            }
            if let Some(k) = kept
                && k.epoch == st.epoch
            {
                return Ok(k.board);
            }
            st.epoch
        };
        may_compute()?;
        let started = std::time::Instant::now();
        let (from_ms, to_ms, source, style_control, category) = wanted.clone();
        let opts = Options {
            from_ms,
            to_ms,
            source,
            style_control,
            category,
            ..Options::default()
        };
        let votes = store.votes_since(from_ms.unwrap_or(i64::MIN)).await?;
        let board = tokio::task::spawn_blocking(move || compute(&votes, &opts))
            .await
            .map_err(|e| {
                llm_compare_core::Error::Internal(format!(
                    "the leaderboard's computation failed: {e}"
                ))
            })?;
        let mut st = self.inner.lock().await;
        if st.filtered.len() >= FILTERED_KEPT
            && !st.filtered.contains_key(&wanted)
            && let Some(oldest) = st
                .filtered
                .iter()
                .min_by_key(|(_, k)| k.at)
                .map(|(w, _)| w.clone())
        {
            st.filtered.remove(&oldest);
        }
        st.filtered.insert(
            wanted,
            Kept {
                board: board.clone(),
                epoch,
                at: std::time::Instant::now(),
                took: started.elapsed(),
            },
        );
        Ok(board)
    }

    /// Forgets every vote (after a deletion): the next request reads them all again.
    pub async fn invalidate(&self) {
        let mut st = self.inner.lock().await;
        *st = CacheState::default();
    }
}
