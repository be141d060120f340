//! Style control (as LMArena does it): the Bradley-Terry fit as a logistic regression whose
//! covariates are, besides which two models met, the difference in their answers' length and
//! markdown density. The models' coefficients are then their strength with the style effects
//! removed; the covariates' coefficients say how much style itself sways a vote. Fitted by
//! Newton's method (a few iterations over the battles); intervals from the inverse Hessian.

use crate::AnswerStyle;

/// One pairwise battle: models `a` and `b` (indices), `y` = 1 when a won, 0 when b won, ½
/// for a tie; the style covariates (a minus b, normalized by their sum).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Battle {
    pub a: usize,
    pub b: usize,
    pub y: f64,
    pub length: f64,
    pub markdown: f64,
}

impl Battle {
    /// The battle of answers styled `sa` and `sb`.
    pub fn new(a: usize, b: usize, y: f64, sa: AnswerStyle, sb: AnswerStyle) -> Self {
        let diff = |x: u32, z: u32| {
            let (x, z) = (f64::from(x), f64::from(z));
            if x + z == 0.0 { 0.0 } else { (x - z) / (x + z) }
        };
        Self {
            a,
            b,
            y,
            length: diff(sa.words, sb.words),
            markdown: diff(sa.markdown, sb.markdown),
        }
    }
}

/// The fit: each model's coefficient (natural log-odds, centred on 0) with its standard
/// error, and the covariates' coefficients (per standard deviation of each).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fit {
    pub strength: Vec<f64>,
    pub std_err: Vec<f64>,
    pub length: f64,
    pub markdown: f64,
}

/// A small ridge on every coefficient: keeps a model that never lost finite and the system
/// solvable, without visibly moving the others.
const RIDGE: f64 = 0.5;

/// Fits `m` models' strengths and the style coefficients to `battles`.
pub(crate) fn fit(battles: &[Battle], m: usize) -> Fit {
    let d = m + 2;
    // Standardize the covariates (their coefficients are then per standard deviation).
    let n = battles.len().max(1) as f64;
    let stats = |f: fn(&Battle) -> f64| {
        let mean = battles.iter().map(f).sum::<f64>() / n;
        let var = battles.iter().map(|b| (f(b) - mean).powi(2)).sum::<f64>() / n;
        (mean, if var > 1e-12 { var.sqrt() } else { 1.0 })
    };
    let (lm, ls) = stats(|b| b.length);
    let (mm, ms) = stats(|b| b.markdown);
    let mut beta = vec![0.0; d];
    let mut h = vec![vec![0.0; d]; d];
    for _ in 0..50 {
        let mut g = vec![0.0; d];
        for row in &mut h {
            row.iter_mut().for_each(|x| *x = 0.0);
        }
        for (k, v) in beta.iter().enumerate() {
            g[k] -= RIDGE * v;
            h[k][k] += RIDGE;
        }
        for b in battles {
            let x = [(b.length - lm) / ls, (b.markdown - mm) / ms];
            let eta = beta[b.a] - beta[b.b] + beta[m] * x[0] + beta[m + 1] * x[1];
            let p = 1.0 / (1.0 + (-eta).exp());
            let r = b.y - p;
            let w = p * (1.0 - p);
            // x = e_a − e_b + the covariates: the gradient and the Hessian's nonzero cells.
            let idx = [(b.a, 1.0), (b.b, -1.0), (m, x[0]), (m + 1, x[1])];
            for &(i, xi) in &idx {
                g[i] += r * xi;
                for &(j, xj) in &idx {
                    h[i][j] += w * xi * xj;
                }
            }
        }
        let Some(step) = solve(&h, &g) else { break };
        let mut change = 0.0_f64;
        for (v, s) in beta.iter_mut().zip(&step) {
            *v += s;
            change = change.max(s.abs());
        }
        if change < 1e-9 {
            break;
        }
    }
    // The inverse Hessian's diagonal: each coefficient's variance.
    let std_err = (0..m)
        .map(|k| {
            let mut e = vec![0.0; d];
            e[k] = 1.0;
            solve(&h, &e).map_or(f64::NAN, |col| col[k].max(0.0).sqrt())
        })
        .collect();
    let mean = beta[..m].iter().sum::<f64>() / m.max(1) as f64;
    Fit {
        strength: beta[..m].iter().map(|b| b - mean).collect(),
        std_err,
        length: beta[m],
        markdown: beta[m + 1],
    }
}

/// `a x = b` by Gaussian elimination with partial pivoting (None if singular).
fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(row, &v)| {
            let mut r = row.clone();
            r.push(v);
            r
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        let (top, below) = m.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for row in below.iter_mut() {
            let f = row[col] / pivot_row[col];
            if f != 0.0 {
                for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| m[row][k] * x[k]).sum();
        x[row] = (m[row][n] - s) / m[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_solves() {
        let x = solve(&[vec![2.0, 1.0], vec![1.0, 3.0]], &[3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
        assert!(solve(&[vec![1.0, 2.0], vec![2.0, 4.0]], &[1.0, 2.0]).is_none());
    }
}
