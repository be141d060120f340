//! Evaluation runs: every row of a dataset compared across the same models (each row one
//! comparison, through [`Service::submit`] — recorded like any other when there is a store),
//! each answer checked against the row's assertions, and, with a judge, every pair of answers
//! judged in both orders (an inconsistent pair of verdicts is a tie). The run streams one
//! [`EvalEvent::Row`] per finished row and ends with [`EvalEvent::Summary`]: pass rates with
//! Wilson intervals, which model is significantly better than which (exact McNemar test on
//! the paired rows), costs (the judge's apart), and the judge's rating.

pub mod assertions;
pub mod dataset;
pub mod live;
pub mod report;
pub mod runs;
pub mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument as _;

use futures::StreamExt;
use futures::stream::BoxStream;
use llm_compare_core::judge::{
    self, PAIRWISE_SYSTEM, PairwiseVerdict, RUBRIC_SYSTEM, RubricVerdict, Winner,
};
use llm_compare_core::{
    CompareRequest, Complete, Error, EventKind, Message, ModelResult, ResponseFormat, Result,
};
use serde::{Deserialize, Serialize};

use crate::keys::Principal;
use crate::service::{CreateComparison, Service};
use assertions::{Answer, Assertion, Outcome};
use dataset::Row;

mod prepare;
mod run;
mod summary;
mod types;

pub use prepare::*;
pub use summary::*;
pub use types::*;

/// Most rows run at once.
pub const MAX_CONCURRENCY: usize = 64;
/// Most repeats of each row.
pub const MAX_REPEAT: u32 = 100;
