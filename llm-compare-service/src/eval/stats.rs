//! The statistics an evaluation is read with: Wilson 95 % intervals for pass rates, and the
//! exact McNemar test for two models on the same rows (is one's pass rate really higher?).

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval (95 %) of `passed` out of `n`: `(0, 1)` when `n` is 0.
pub fn wilson(passed: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    #[allow(clippy::cast_precision_loss)]
    let (k, n) = (passed as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The exact McNemar test of two models' pass/fail on the same rows: `only_a` rows only the
/// first passed, `only_b` rows only the second. The two-sided p-value of the discordant rows
/// splitting that unevenly if both models were equally good (a binomial test, p = ½).
pub fn mcnemar_exact(only_a: u64, only_b: u64) -> f64 {
    let n = only_a + only_b;
    if n == 0 {
        return 1.0;
    }
    let k = only_a.min(only_b);
    // P(X ≤ k) for X ~ Binomial(n, ½), in log space (n may be large), doubled.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_c = 0.0_f64; // ln C(n, 0)
    let mut tail = 0.0_f64;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Whether model A is better than model B on paired rows: it passed more of the rows where
/// they differ, and the exact McNemar test says so at the 5 % level.
pub fn better(only_a: u64, only_b: u64) -> bool {
    only_a > only_b && mcnemar_exact(only_a, only_b) < 0.05
}

/// The population variance of `xs` (0 for fewer than two).
pub fn variance(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    #[test]
    fn wilson_matches_known_values() {
        // 8 of 10: (0.4902, 0.9433); 0 of 10: (0, 0.2775); 10 of 10: (0.7225, 1).
        let (lo, hi) = wilson(8, 10);
        assert!(close(lo, 0.4902) && close(hi, 0.9433), "{lo} {hi}");
        let (lo, hi) = wilson(0, 10);
        assert!(close(lo, 0.0) && close(hi, 0.2775), "{lo} {hi}");
        let (lo, hi) = wilson(10, 10);
        assert!(close(lo, 0.7225) && close(hi, 1.0), "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn mcnemar_exact_matches_the_binomial_test() {
        // 10 discordant rows split 9/1: p = 2 × 11/1024 = 0.02148.
        assert!(close(mcnemar_exact(9, 1), 0.021_484));
        assert!(close(mcnemar_exact(1, 9), 0.021_484));
        // 6/4: not significant.
        assert!(close(mcnemar_exact(6, 4), 0.753_906));
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert!(better(9, 1));
        assert!(!better(1, 9));
        assert!(!better(6, 4));
        // Large counts stay finite: 600/400 is very significant.
        assert!(mcnemar_exact(600, 400) < 1e-8);
    }

    #[test]
    fn variance_of_pass_rates() {
        assert_eq!(variance(&[0.5]), 0.0);
        assert!(close(variance(&[0.4, 0.6]), 0.01));
    }
}
