//! The run's summary from its rows: pass rates with Wilson intervals, McNemar comparisons,
//! costs and the judge's rating.

use super::*;

/// The run's summary from its rows.
pub fn summarize(run_id: String, rows: &[RowReport]) -> Summary {
    let models: Vec<String> = rows
        .first()
        .map(|r| r.results.iter().map(|m| m.model.clone()).collect())
        .unwrap_or_default();
    let n = rows.len();
    let repeats: u32 = rows.iter().map(|r| r.repeat + 1).max().unwrap_or(1);
    let mut out = Vec::with_capacity(models.len());
    // (wins, ties, judged) by model.
    let mut judged: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    for r in rows {
        for p in r.judge.iter().flat_map(|j| &j.pairs) {
            for m in [&p.a, &p.b] {
                let e = judged.entry(m.as_str()).or_default();
                e.2 += 1.0;
                if p.winner == "tie" {
                    e.1 += 1.0;
                } else if &p.winner == m {
                    e.0 += 1.0;
                }
            }
        }
    }
    for (i, m) in models.iter().enumerate() {
        fn at(r: &RowReport, i: usize) -> Option<&ModelOutcome> {
            r.results.get(i)
        }
        let of = |r| at(r, i);
        let passed = rows
            .iter()
            .filter(|r| of(r).is_some_and(|o| o.passed))
            .count();
        #[allow(clippy::cast_precision_loss)]
        let nf = n.max(1) as f64;
        let (pass_all_repeats, pass_variance) = if repeats > 1 {
            let mut by_row: BTreeMap<&str, bool> = BTreeMap::new();
            let mut by_repeat: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
            for r in rows {
                let ok = of(r).is_some_and(|o| o.passed);
                *by_row.entry(r.row_id.as_str()).or_insert(true) &= ok;
                let e = by_repeat.entry(r.repeat).or_default();
                e.0 += f64::from(u8::from(ok));
                e.1 += 1.0;
            }
            #[allow(clippy::cast_precision_loss)]
            let all = by_row.values().filter(|v| **v).count() as f64 / by_row.len().max(1) as f64;
            let rates: Vec<f64> = by_repeat.values().map(|(p, t)| p / t).collect();
            (Some(all), Some(stats::variance(&rates)))
        } else {
            (None, None)
        };
        let judge_rating = judged
            .get(m.as_str())
            .filter(|e| e.2 > 0.0)
            .map(|(w, t, j)| (w + 0.5 * t) / j);
        out.push(ModelSummary {
            model: m.clone(),
            #[allow(clippy::cast_precision_loss)]
            pass_rate: passed as f64 / nf,
            pass_ci: stats::wilson(passed as u64, n as u64),
            pass_all_repeats,
            pass_variance,
            mean_cost_usd: rows.iter().filter_map(of).map(|o| o.cost_usd).sum::<f64>() / nf,
            mean_latency_ms: rows
                .iter()
                .filter_map(of)
                .map(|o| o.latency_ms)
                .sum::<f64>()
                / nf,
            judge_rating,
        });
    }
    let mut better = Vec::new();
    for i in 0..models.len() {
        for j in 0..models.len() {
            if i == j {
                continue;
            }
            let (mut only_i, mut only_j) = (0u64, 0u64);
            for r in rows {
                let pi = r.results.get(i).is_some_and(|o| o.passed);
                let pj = r.results.get(j).is_some_and(|o| o.passed);
                match (pi, pj) {
                    (true, false) => only_i += 1,
                    (false, true) => only_j += 1,
                    _ => {}
                }
            }
            if stats::better(only_i, only_j) {
                better.push(Better {
                    better: models[i].clone(),
                    than: models[j].clone(),
                    p_value: stats::mcnemar_exact(only_i, only_j),
                });
            }
        }
    }
    Summary {
        run_id,
        rows: n,
        models: out,
        better,
        cost_usd: rows
            .iter()
            .flat_map(|r| &r.results)
            .map(|o| o.cost_usd)
            .sum(),
        judge_cost_usd: rows
            .iter()
            .filter_map(|r| r.judge.as_ref())
            .map(|j| j.cost_usd)
            .sum(),
    }
}
