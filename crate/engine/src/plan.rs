//! Scheduling plans: how a parallel run hands out executions.
//!
//! Block-STM needs no plan: it executes transactions in index order and lets validation sort
//! out the conflicts. A plan only changes *when* and *by whom* a transaction is executed,
//! never what counts as a valid result: every plan runs under the same multi-version memory
//! and the same validation, so a wrong prediction costs time, not correctness.
//!
//! - `hints` (the dependency strategy): per transaction, the lower transactions predicted to
//!   write what it reads. Its first execution waits until they have executed.
//! - `shards` (the sharded strategy): a shard per transaction; shard `s` is executed, in block
//!   order, only by worker `s % workers`. Validation stays shared.

use crate::types::TxIndex;

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("hints: transaction {tx} is told to wait for transaction {dep}, which is not lower")]
    HintNotLower { tx: u32, dep: u32 },
    #[error("hints: {got} entries for a block of {expected} transactions")]
    HintsLength { got: usize, expected: usize },
    #[error("shards: {got} entries for a block of {expected} transactions")]
    ShardsLength { got: usize, expected: usize },
    #[error("shards: transaction {tx} is in shard {shard}, but there are {shards} shards")]
    ShardOutOfRange { tx: u32, shard: u32, shards: u32 },
    #[error("shards: need at least one shard and one worker")]
    Empty,
}

/// The partition of a block into shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardPlan {
    /// Shard of each transaction.
    pub shard_of: Vec<u32>,
    /// Number of shards.
    pub shards: u32,
    /// Workers that will pull from the run; worker `w` executes shards `w, w + workers, ...`.
    pub workers: u32,
}

/// A scheduling plan for one block (the default is plain Block-STM).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub hints: Option<Vec<Vec<TxIndex>>>,
    pub shards: Option<ShardPlan>,
}

impl Plan {
    /// Checks the plan against the block size.
    pub fn validate(&self, block_size: usize) -> Result<(), PlanError> {
        if let Some(h) = &self.hints {
            if h.len() != block_size {
                return Err(PlanError::HintsLength { got: h.len(), expected: block_size });
            }
            for (tx, deps) in h.iter().enumerate() {
                if let Some(d) = deps.iter().find(|d| d.idx() >= tx) {
                    return Err(PlanError::HintNotLower { tx: tx as u32, dep: d.0 });
                }
            }
        }
        if let Some(s) = &self.shards {
            if s.shards == 0 || s.workers == 0 {
                return Err(PlanError::Empty);
            }
            if s.shard_of.len() != block_size {
                return Err(PlanError::ShardsLength { got: s.shard_of.len(), expected: block_size });
            }
            if let Some((tx, &shard)) = s.shard_of.iter().enumerate().find(|(_, &sh)| sh >= s.shards) {
                return Err(PlanError::ShardOutOfRange { tx: tx as u32, shard, shards: s.shards });
            }
        }
        Ok(())
    }
}
