//! Fitting ratings: pairwise wins, Bradley-Terry by minorization-maximization, the Poisson
//! bootstrap's draws and percentiles.

use super::*;

/// Votes with the same models and the same outcome, and how many there were.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) models: Vec<usize>,
    /// Position of the winner in `models`; `None` for a tie.
    pub(crate) winner: Option<usize>,
    pub(crate) count: f64,
}

/// Pairwise wins: `w[i][j]` = games i won against j (ties count half each way).
pub(crate) fn pair_wins(groups: &[Group], weights: &[f64], m: usize) -> Vec<Vec<f64>> {
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
pub(crate) fn bradley_terry(w: &[Vec<f64>]) -> Vec<f64> {
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
pub(crate) fn poisson(rng: &mut fastrand::Rng, lambda: f64) -> f64 {
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

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
