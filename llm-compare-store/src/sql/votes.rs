//! [`VoteStore`] in SQL: people's votes and the judges'.

use async_trait::async_trait;
use llm_compare_core::{Error, RequestStatus, Result, now_ms};

use super::SqlStore;
use super::decode::{corrupt, db_err, get};
use crate::{
    AnswerStyle, ComparisonStore, JudgeVote, Outcome, Vote, VoteRecord, VoteStore, Winner,
    not_yours,
};

#[async_trait]
impl VoteStore for SqlStore {
    async fn vote(&self, owner: &str, id: &str, vote: &Vote) -> Result<()> {
        let Some(c) = self.comparison(owner, id).await? else {
            return Err(not_yours("comparison", id));
        };
        if c.status != RequestStatus::Completed && c.status != RequestStatus::Failed {
            return Err(Error::Conflict(format!(
                "the comparison is {}: vote once it has completed",
                c.status.as_str()
            )));
        }
        if let Winner::Model(i) = vote.winner
            && i >= c.models.len()
        {
            return Err(Error::invalid(
                "winner",
                format!(
                    "winner must be a model_index below {}, \"tie\" or \"all_bad\"",
                    c.models.len()
                ),
            ));
        }
        if c.preference.is_some() {
            return Err(Error::Conflict("this comparison has a vote already".into()));
        }
        let inserted = sqlx::query("INSERT INTO preferences (comparison_id, owner, winner, feedback, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(owner)
            .bind(vote.winner.to_db())
            .bind(&vote.feedback)
            .bind(now_ms())
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(()),
            // Two votes racing: the primary key lets one in.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::Conflict("this comparison has a vote already".into()))
            }
            Err(e) => Err(db_err(e)),
        }
    }

    async fn votes_since(&self, since_ms: i64) -> Result<Vec<VoteRecord>> {
        let rows = sqlx::query(
            "SELECT p.comparison_id, p.winner, p.created_at_ms, m.model_index, m.model, m.ttft_ms, m.cost_pico, m.text, c.category \
             FROM preferences p JOIN model_results m ON m.comparison_id = p.comparison_id \
             JOIN comparisons c ON c.id = p.comparison_id \
             WHERE p.created_at_ms >= $1 ORDER BY p.created_at_ms, p.comparison_id, m.model_index",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut out: Vec<VoteRecord> = Vec::new();
        for row in rows {
            let cid: String = get(&row, "comparison_id")?;
            if out.last().is_none_or(|v| v.comparison_id != cid) {
                let winner: String = get(&row, "winner")?;
                out.push(VoteRecord {
                    winner: Winner::from_db(&cid, &winner)?,
                    comparison_id: cid,
                    at_ms: get(&row, "created_at_ms")?,
                    models: Vec::new(),
                    ttft_ms: Vec::new(),
                    cost_pico: Vec::new(),
                    style: Vec::new(),
                    source: "human".into(),
                    category: get(&row, "category")?,
                    pair: None,
                });
            }
            if let Some(v) = out.last_mut() {
                v.models.push(get(&row, "model")?);
                v.ttft_ms.push(get(&row, "ttft_ms")?);
                v.cost_pico.push(get(&row, "cost_pico")?);
                v.style.push(AnswerStyle::of(&get::<String>(&row, "text")?));
            }
        }
        let judged = sqlx::query(
            "SELECT j.comparison_id, j.judge, j.a_index, j.b_index, j.winner, j.created_at_ms, \
             ma.model AS model_a, ma.ttft_ms AS ttft_a, ma.cost_pico AS cost_a, ma.text AS text_a, \
             mb.model AS model_b, mb.ttft_ms AS ttft_b, mb.cost_pico AS cost_b, mb.text AS text_b, c.category \
             FROM judge_votes j \
             JOIN comparisons c ON c.id = j.comparison_id \
             JOIN model_results ma ON ma.comparison_id = j.comparison_id AND ma.model_index = j.a_index \
             JOIN model_results mb ON mb.comparison_id = j.comparison_id AND mb.model_index = j.b_index \
             WHERE j.created_at_ms >= $1 ORDER BY j.created_at_ms, j.comparison_id, j.judge, j.a_index, j.b_index",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for row in judged {
            let cid: String = get(&row, "comparison_id")?;
            let judge: String = get(&row, "judge")?;
            let index = |col: &str| -> Result<usize> {
                usize::try_from(get::<i64>(&row, col)?)
                    .map_err(|_| corrupt("judge_votes", &cid, format!("a negative {col}")))
            };
            let winner: String = get(&row, "winner")?;
            let winner = match winner.as_str() {
                "a" => Winner::Model(0),
                "b" => Winner::Model(1),
                "tie" => Winner::Outcome(Outcome::Tie),
                other => {
                    return Err(corrupt(
                        "judge_votes",
                        &cid,
                        format!("unknown winner `{other}`"),
                    ));
                }
            };
            out.push(VoteRecord {
                pair: Some((index("a_index")?, index("b_index")?)),
                comparison_id: cid,
                at_ms: get(&row, "created_at_ms")?,
                models: vec![get(&row, "model_a")?, get(&row, "model_b")?],
                winner,
                ttft_ms: vec![get(&row, "ttft_a")?, get(&row, "ttft_b")?],
                cost_pico: vec![get(&row, "cost_a")?, get(&row, "cost_b")?],
                style: vec![
                    AnswerStyle::of(&get::<String>(&row, "text_a")?),
                    AnswerStyle::of(&get::<String>(&row, "text_b")?),
                ],
                source: format!("judge:{judge}"),
                category: get(&row, "category")?,
            });
        }
        // Both kinds, oldest first.
        out.sort_by_key(|v| v.at_ms);
        Ok(out)
    }

    async fn judge_votes(&self, votes: &[JudgeVote]) -> Result<()> {
        if votes.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        for v in votes {
            let (a, b) = (
                i64::try_from(v.a_index).unwrap_or(i64::MAX),
                i64::try_from(v.b_index).unwrap_or(i64::MAX),
            );
            let winner = match v.a_won {
                Some(true) => "a",
                Some(false) => "b",
                None => "tie",
            };
            sqlx::query("DELETE FROM judge_votes WHERE comparison_id = $1 AND judge = $2 AND a_index = $3 AND b_index = $4")
                .bind(&v.comparison_id)
                .bind(&v.judge)
                .bind(a)
                .bind(b)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query("INSERT INTO judge_votes (comparison_id, judge, a_index, b_index, winner, reason, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(&v.comparison_id)
                .bind(&v.judge)
                .bind(a)
                .bind(b)
                .bind(winner)
                .bind(&v.reason)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }
}
