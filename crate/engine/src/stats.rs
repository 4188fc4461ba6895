//! Counters a block run keeps. Relaxed atomics: they are only summed after the threads are
//! joined (or have reported done), which supplies the happens-before.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Counters {
    pub executions: AtomicU64,
    pub validations: AtomicU64,
    pub validation_aborts: AtomicU64,
    pub dependency_waits: AtomicU64,
    pub executing_now: AtomicU64,
    pub peak_concurrency: AtomicU64,
}

/// A snapshot of the counters of one block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Incarnations started (first executions and re-executions).
    pub executions: u64,
    /// Executions beyond the first of each transaction.
    pub reexecutions: u64,
    pub validations: u64,
    /// Validations that found a stale read and aborted the incarnation.
    pub validation_aborts: u64,
    /// Executions suspended on an ESTIMATE (a dependency on a lower transaction).
    pub dependency_waits: u64,
    /// Most incarnations executing at the same time.
    pub peak_concurrency: u64,
}

impl Counters {
    pub fn start_execution(&self) {
        self.executions.fetch_add(1, Relaxed);
        let now = self.executing_now.fetch_add(1, Relaxed) + 1;
        self.peak_concurrency.fetch_max(now, Relaxed);
    }
    pub fn end_execution(&self) {
        self.executing_now.fetch_sub(1, Relaxed);
    }
    pub fn snapshot(&self, block_size: usize) -> RunStats {
        let executions = self.executions.load(Relaxed);
        RunStats {
            executions,
            reexecutions: executions.saturating_sub(block_size as u64),
            validations: self.validations.load(Relaxed),
            validation_aborts: self.validation_aborts.load(Relaxed),
            dependency_waits: self.dependency_waits.load(Relaxed),
            peak_concurrency: self.peak_concurrency.load(Relaxed),
        }
    }
}
