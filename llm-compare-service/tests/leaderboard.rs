//! The leaderboard on synthetic votes from known strengths: the ranking is recovered and the
//! 95% intervals cover the true ratings at about the stated rate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use llm_compare_service::leaderboard::{Options, compute};
use llm_compare_service::{Outcome, VoteRecord, Winner};

/// True ratings (Elo scale, mean 1000).
const TRUTH: [f64; 6] = [1200.0, 1100.0, 1040.0, 1000.0, 930.0, 730.0];

fn name(i: usize) -> String {
    format!("sim/m{i}")
}

/// `n` votes on random pairs, the winner drawn from the Bradley-Terry model of `TRUTH`.
fn synthetic(n: usize, seed: u64) -> Vec<VoteRecord> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|k| {
            let a = rng.usize(0..TRUTH.len());
            let b = (a + rng.usize(1..TRUTH.len())) % TRUTH.len();
            let p_a = 1.0 / (1.0 + 10f64.powf((TRUTH[b] - TRUTH[a]) / 400.0));
            VoteRecord {
                comparison_id: format!("c{k}"),
                at_ms: k as i64,
                models: vec![name(a), name(b)],
                winner: Winner::Model(if rng.f64() < p_a { 0 } else { 1 }),
                ttft_ms: vec![Some(100.0 + a as f64), None],
                cost_pico: vec![Some(1_000_000), Some(3_000_000)],
                style: Vec::new(),
                source: "human".into(),
                category: None,
                pair: None,
            }
        })
        .collect()
}

fn rating_of(
    board: &llm_compare_service::leaderboard::Leaderboard,
    model: &str,
) -> (f64, f64, f64) {
    let s = board.models.iter().find(|s| s.model == model).unwrap();
    (s.rating, s.ci_low, s.ci_high)
}

#[test]
fn ranking_is_recovered_from_known_strengths() {
    let votes = synthetic(20_000, 7);
    let board = compute(&votes, &Options::default());
    assert_eq!(board.votes, 20_000);
    let order: Vec<String> = board.models.iter().map(|s| s.model.clone()).collect();
    assert_eq!(order, (0..6).map(name).collect::<Vec<_>>());
    for (i, truth) in TRUTH.iter().enumerate() {
        let (r, lo, hi) = rating_of(&board, &name(i));
        assert!((r - truth).abs() < 25.0, "{}: {r} vs {truth}", name(i));
        assert!(lo <= r && r <= hi);
    }
    // Elo agrees on the order of the clearly separated ends.
    let elo = |m: &str| board.models.iter().find(|s| s.model == m).unwrap().elo;
    assert!(elo(&name(0)) > elo(&name(3)) && elo(&name(3)) > elo(&name(5)));
    // Tallies and means.
    let top = &board.models[0];
    assert_eq!(top.wins + top.losses, top.votes);
    assert_eq!(top.ties, 0);
    assert_eq!(top.mean_cost_usd.map(|c| (c * 1e6).round()), Some(2.0));
    assert!(top.mean_ttft_ms.is_some());
}

#[test]
fn intervals_cover_the_true_ratings_at_about_95_percent() {
    let (mut covered, mut total) = (0, 0);
    for rep in 0..40 {
        let board = compute(
            &synthetic(1_500, 1000 + rep),
            &Options {
                seed: rep,
                ..Options::default()
            },
        );
        for (i, truth) in TRUTH.iter().enumerate() {
            let (_, lo, hi) = rating_of(&board, &name(i));
            covered += usize::from(lo <= *truth && *truth <= hi);
            total += 1;
        }
    }
    let rate = covered as f64 / total as f64;
    eprintln!("coverage of the 95% intervals: {rate:.3} ({covered}/{total})");
    assert!((0.88..=0.995).contains(&rate), "coverage {rate}");
}

#[test]
fn ties_all_bad_multi_model_votes_and_time_filters() {
    let v = |k: i64, models: &[&str], winner: Winner| VoteRecord {
        comparison_id: format!("c{k}"),
        at_ms: k,
        models: models.iter().map(|m| m.to_string()).collect(),
        winner,
        ttft_ms: vec![None; models.len()],
        cost_pico: vec![None; models.len()],
        style: Vec::new(),
        source: "human".into(),
        category: None,
        pair: None,
    };
    let votes = vec![
        // A three-way vote: a beats b and c.
        v(1, &["a", "b", "c"], Winner::Model(0)),
        v(2, &["a", "b"], Winner::Outcome(Outcome::Tie)),
        v(3, &["b", "c"], Winner::Outcome(Outcome::AllBad)),
        v(4, &["c", "b"], Winner::Model(0)),
    ];
    let board = compute(&votes, &Options::default());
    let get = |m: &str| board.models.iter().find(|s| s.model == m).unwrap().clone();
    let (a, b, c) = (get("a"), get("b"), get("c"));
    assert_eq!((a.wins, a.losses, a.ties, a.votes), (1, 0, 1, 2));
    assert_eq!((b.wins, b.losses, b.ties, b.votes), (0, 2, 2, 4));
    assert_eq!((c.wins, c.losses, c.ties, c.votes), (1, 1, 1, 3));
    assert_eq!(board.models[0].model, "a");
    assert!(b.rating < c.rating);
    // Only votes 2 and 3: ties only, everyone level.
    let window = compute(
        &votes,
        &Options {
            from_ms: Some(2),
            to_ms: Some(4),
            ..Options::default()
        },
    );
    assert_eq!(window.votes, 2);
    for s in &window.models {
        assert!((s.rating - 1000.0).abs() < 0.5, "{s:?}");
    }
    let csv = board.to_csv();
    assert!(csv.starts_with("rank,model,rating,ci_low,ci_high,elo,wins,losses,ties,votes"));
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.lines().nth(1).unwrap().starts_with("1,\"a\","));
    assert!(compute(&[], &Options::default()).models.is_empty());
}

/// Cohen's κ on a confusion matrix with a known answer, and agreement read from votes: a
/// judge's pairwise verdicts against people's votes on the same comparisons.
#[test]
fn judge_human_agreement_is_the_rate_and_cohens_kappa() {
    use llm_compare_service::leaderboard::{Source, agreement, kappa};
    // 50 pairs: 35 agree; each rater says "first" half / 60 % of the time → κ = (0.7 − 0.5) / 0.5.
    let k = kappa(&[[20, 5, 0], [10, 15, 0], [0, 0, 0]]).unwrap();
    assert_eq!(k.pairs, 50);
    assert!((k.rate - 0.7).abs() < 1e-12);
    assert!((k.kappa - 0.4).abs() < 1e-12, "{k:?}");
    // Perfect agreement on one category only: κ is 1 (no disagreement to explain).
    assert_eq!(
        kappa(&[[3, 0, 0], [0, 0, 0], [0, 0, 0]]).unwrap().kappa,
        1.0
    );
    assert!(kappa(&[[0; 3]; 3]).is_none());

    let human = |k: i64, models: &[&str], winner: Winner| VoteRecord {
        comparison_id: format!("c{k}"),
        at_ms: k,
        models: models.iter().map(|m| m.to_string()).collect(),
        winner,
        ttft_ms: vec![None; models.len()],
        cost_pico: vec![None; models.len()],
        style: Vec::new(),
        source: "human".into(),
        category: None,
        pair: None,
    };
    let judge = |k: i64, models: [&str; 2], pair: (usize, usize), winner: Winner| VoteRecord {
        comparison_id: format!("c{k}"),
        at_ms: 100 + k,
        models: models.iter().map(|m| m.to_string()).collect(),
        winner,
        ttft_ms: vec![None; 2],
        cost_pico: vec![None; 2],
        style: Vec::new(),
        source: "judge:sim/judge".into(),
        category: None,
        pair: Some(pair),
    };
    let votes = vec![
        // Agree: a won.
        human(1, &["a", "b"], Winner::Model(0)),
        judge(1, ["a", "b"], (0, 1), Winner::Model(0)),
        // Disagree: people say b, the judge a.
        human(2, &["a", "b"], Winner::Model(1)),
        judge(2, ["a", "b"], (0, 1), Winner::Model(0)),
        // A three-way human vote for c: pair (a, b) has no outcome, (a, c) is c's.
        human(3, &["a", "b", "c"], Winner::Model(2)),
        judge(3, ["a", "b"], (0, 1), Winner::Model(0)),
        judge(3, ["a", "c"], (0, 2), Winner::Model(1)),
        // Agree on a tie.
        human(4, &["a", "b"], Winner::Outcome(Outcome::Tie)),
        judge(4, ["a", "b"], (0, 1), Winner::Outcome(Outcome::Tie)),
        // A judge's verdict with no human vote: not compared.
        judge(5, ["a", "b"], (0, 1), Winner::Model(1)),
    ];
    let a = agreement(votes.iter()).unwrap();
    assert_eq!(a.pairs, 4);
    assert!((a.rate - 0.75).abs() < 1e-12, "{a:?}");
    // Each board counts its source's votes, and reports the agreement.
    let judged = compute(
        &votes,
        &Options {
            source: Source::Judge,
            bootstrap: 0,
            ..Options::default()
        },
    );
    assert_eq!(judged.votes, 6);
    assert_eq!(judged.agreement.as_ref().unwrap().pairs, 4);
    let people = compute(
        &votes,
        &Options {
            bootstrap: 0,
            ..Options::default()
        },
    );
    assert_eq!(people.votes, 4);
    let all = compute(
        &votes,
        &Options {
            source: Source::All,
            bootstrap: 0,
            ..Options::default()
        },
    );
    assert_eq!(all.votes, 10);
}

/// Style control on synthetic votes where one model wins only by writing longer answers (all
/// four are equally good; the longer answer wins more often, whoever wrote it): without it the
/// long writer ranks first by a clear margin; with it the advantage vanishes within the
/// intervals, and the length coefficient carries it instead.
#[test]
fn style_control_removes_an_advantage_that_is_only_length() {
    use llm_compare_service::AnswerStyle;
    let mut rng = fastrand::Rng::with_seed(7);
    let names = ["m0", "m1", "m2", "long"];
    let votes: Vec<VoteRecord> = (0..4000)
        .map(|k| {
            let a = rng.usize(0..4);
            let b = (a + rng.usize(1..4)) % 4;
            let words = |m: usize, rng: &mut fastrand::Rng| {
                if m == 3 {
                    rng.u32(150..450)
                } else {
                    rng.u32(50..350)
                }
            };
            let (wa, wb) = (words(a, &mut rng), words(b, &mut rng));
            let diff = (f64::from(wa) - f64::from(wb)) / f64::from(wa + wb);
            let p_a = 1.0 / (1.0 + (-3.0 * diff).exp());
            VoteRecord {
                comparison_id: format!("s{k}"),
                at_ms: k,
                models: vec![names[a].to_string(), names[b].to_string()],
                winner: Winner::Model(if rng.f64() < p_a { 0 } else { 1 }),
                ttft_ms: vec![None; 2],
                cost_pico: vec![None; 2],
                style: vec![
                    AnswerStyle {
                        words: wa,
                        markdown: 0,
                    },
                    AnswerStyle {
                        words: wb,
                        markdown: 0,
                    },
                ],
                source: "human".into(),
                category: None,
                pair: None,
            }
        })
        .collect();
    let plain = compute(
        &votes,
        &Options {
            bootstrap: 100,
            ..Options::default()
        },
    );
    assert_eq!(plain.models[0].model, "long", "{:?}", plain.models);
    assert!(plain.style.is_none());
    let runner_up = &plain.models[1];
    assert!(
        plain.models[0].ci_low > runner_up.ci_high,
        "without style control the long writer is clearly ahead: {:?}",
        plain.models
    );
    let controlled = compute(
        &votes,
        &Options {
            style_control: true,
            ..Options::default()
        },
    );
    let style = controlled.style.as_ref().unwrap();
    assert!(style.length > 0.5, "{style:?}");
    let long = controlled
        .models
        .iter()
        .find(|s| s.model == "long")
        .unwrap();
    for other in controlled.models.iter().filter(|s| s.model != "long") {
        let gap = (long.rating - other.rating).abs();
        let half = (long.ci_high - long.ci_low) / 2.0 + (other.ci_high - other.ci_low) / 2.0;
        assert!(gap < half, "{long:?} vs {other:?}");
    }
}
