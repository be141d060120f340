//! The usage report, for the caller or (admins) any user.

use llm_compare_core::{Error, Result};

use crate::keys::Principal;
use crate::usage::{UsageQuery, UsageReport};

use super::Service;

impl Service {
    /// `owner`'s usage report: calls, tokens and cost per model or per day (chat completions
    /// included), and their budget for the current period when budgets apply.
    /// The usage report `who` asks for: its own (with the budget its requests are held
    /// against — its key's own, else its user's), or with `user` another user's, which needs
    /// an admin key ([`Error::Forbidden`]).
    pub async fn usage_as(&self, who: &Principal, q: &UsageQuery) -> Result<UsageReport> {
        match q.user.as_deref().filter(|u| *u != who.user) {
            Some(other) if who.is_admin() => self.usage(other, q).await,
            Some(_) => Err(Error::Forbidden(
                "another user's usage needs an admin key".into(),
            )),
            None => {
                let mut report = self.usage(&who.user, q).await?;
                report.budget = self.budget_of(who).await?;
                Ok(report)
            }
        }
    }

    /// `owner`'s usage report (`user` in `q` is not consulted: see [`Service::usage_as`]).
    pub async fn usage(&self, owner: &str, q: &UsageQuery) -> Result<UsageReport> {
        let store = self.store_for("usage needs")?;
        let (from_ms, to_ms) = crate::usage::range(q, self.budget.as_ref().map(|b| b.period))?;
        let group_by = q.group_by.unwrap_or_default();
        let ledger = store.usage(owner, from_ms, to_ms).await?;
        let (rows, total) = crate::usage::group(&ledger, group_by);
        let budget = match self
            .budget
            .as_ref()
            .and_then(|b| b.limit_pico(owner).map(|l| (b, l)))
        {
            Some((b, limit)) => {
                let start = crate::budget::unix_ms(b.period.start(time::OffsetDateTime::now_utc()));
                let st = store.budget(owner, start).await?;
                Some(crate::usage::budget_view(b.period, start, limit, st))
            }
            None => None,
        };
        Ok(UsageReport {
            from_ms,
            to_ms,
            group_by,
            rows,
            total,
            budget,
        })
    }
}
