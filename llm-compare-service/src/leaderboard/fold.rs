//! The leaderboard folded from votes one at a time ([`Fold`]), and [`compute`] over a slice.

use super::*;

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
