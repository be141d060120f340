//! How often two sources of votes agree (people and the judge), with Cohen's kappa.

use super::*;

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
