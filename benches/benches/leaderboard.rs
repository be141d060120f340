//! Recomputing the leaderboard: Bradley-Terry with 200 bootstrap resamples, online Elo and
//! the per-model tallies, over 10k and 100k votes among 12 models (2- and 3-model votes,
//! ties and all-bad votes included).
//!
//! `cargo bench -p llm-compare-benches --bench leaderboard`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llm_compare_service::leaderboard::{Options, compute};
use llm_compare_service::{Outcome, VoteRecord, Winner};

const MODELS: usize = 12;

fn votes(n: usize) -> Vec<VoteRecord> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..n)
        .map(|k| {
            let size = if rng.u8(0..4) == 0 { 3 } else { 2 };
            let mut models: Vec<String> = Vec::with_capacity(size);
            while models.len() < size {
                let m = format!("provider/model-{}", rng.usize(0..MODELS));
                if !models.contains(&m) {
                    models.push(m);
                }
            }
            let winner = match rng.u8(0..10) {
                0 => Winner::Outcome(Outcome::Tie),
                1 => Winner::Outcome(Outcome::AllBad),
                _ => Winner::Model(rng.usize(0..size)),
            };
            VoteRecord {
                comparison_id: format!("c{k}"),
                at_ms: k as i64,
                winner,
                ttft_ms: vec![Some(120.0); size],
                cost_pico: vec![Some(2_500_000); size],
                models,
                style: (0..size)
                    .map(|_| llm_compare_service::AnswerStyle {
                        words: rng.u32(20..600),
                        markdown: rng.u32(0..12),
                    })
                    .collect(),
                source: "human".into(),
                category: None,
                pair: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("leaderboard");
    g.sample_size(20);
    for n in [10_000, 100_000] {
        let v = votes(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("compute", n), &v, |b, v| {
            b.iter(|| {
                let board = compute(v, &Options::default());
                assert_eq!(board.models.len(), MODELS);
            });
        });
        g.bench_with_input(BenchmarkId::new("compute_style_control", n), &v, |b, v| {
            b.iter(|| {
                compute(
                    v,
                    &Options {
                        style_control: true,
                        ..Options::default()
                    },
                )
            });
        });
        g.bench_with_input(BenchmarkId::new("compute_no_bootstrap", n), &v, |b, v| {
            b.iter(|| {
                compute(
                    v,
                    &Options {
                        bootstrap: 0,
                        ..Options::default()
                    },
                )
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
