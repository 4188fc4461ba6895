//! Counters a block run keeps. Each worker counts locally (`LocalCounts`) and adds its counts
//! to the shared totals once, when it leaves the block, so the hot path touches no shared
//! cache line for bookkeeping. Relaxed atomics: totals are read after the workers left, which
//! supplies the happens-before (thread join, or the message that says a worker is done).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

/// Counts of one worker, flushed into `Counters` when it leaves the block.
#[derive(Default, Clone, Copy)]
pub struct LocalCounts {
    pub executions: u64,
    pub validations: u64,
    pub validation_aborts: u64,
    pub dependency_waits: u64,
    pub dependency_aborts: u64,
    pub hint_waits: u64,
}

#[derive(Default)]
pub struct Counters {
    pub executions: AtomicU64,
    pub validations: AtomicU64,
    pub validation_aborts: AtomicU64,
    pub dependency_waits: AtomicU64,
    pub dependency_aborts: AtomicU64,
    pub hint_waits: AtomicU64,
    /// Updated on every execution start and end, so kept on its own cache line.
    executing_now: CachePadded<AtomicU64>,
    peak_concurrency: AtomicU64,
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
    /// Reads that met the ESTIMATE of a lower transaction (a dependency) and waited for it,
    /// in place or by suspending; and reads of a hot location (one that failed validations)
    /// that waited for a lower transaction still running.
    pub dependency_waits: u64,
    /// Incarnations abandoned because they read an ESTIMATE whose writer was not running
    /// (they suspend until it has executed): aborts caused by a dependency. The other cause
    /// of aborts is `validation_aborts`.
    pub dependency_aborts: u64,
    /// First executions held back because a predicted predecessor (a plan's hint) had not
    /// executed yet.
    pub hint_waits: u64,
    /// Most incarnations executing at the same time.
    pub peak_concurrency: u64,
    /// Retry policy: the transaction whose re-executions switched the rest of the block to
    /// in-order execution.
    pub serial_from: Option<u32>,
}

impl Counters {
    pub fn start_execution(&self) {
        let now = self.executing_now.fetch_add(1, Relaxed) + 1;
        if now > self.peak_concurrency.load(Relaxed) {
            self.peak_concurrency.fetch_max(now, Relaxed);
        }
    }
    pub fn flush(&self, local: &mut LocalCounts) {
        self.executions.fetch_add(local.executions, Relaxed);
        self.validations.fetch_add(local.validations, Relaxed);
        self.validation_aborts.fetch_add(local.validation_aborts, Relaxed);
        self.dependency_waits.fetch_add(local.dependency_waits, Relaxed);
        self.dependency_aborts.fetch_add(local.dependency_aborts, Relaxed);
        self.hint_waits.fetch_add(local.hint_waits, Relaxed);
        *local = LocalCounts::default();
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
            dependency_aborts: self.dependency_aborts.load(Relaxed),
            hint_waits: self.hint_waits.load(Relaxed),
            peak_concurrency: self.peak_concurrency.load(Relaxed),
            serial_from: None,
        }
    }
}
