//! The Block-STM collaborative scheduler (Gelashvili et al., PPoPP 2023, Algorithms 4–5).
//!
//! Status of one transaction, with the function that moves it there:
//!
//! ```text
//!                 try_incarnate                 finish_execution
//!   READY(k) ───────────────────▶ EXECUTING(k) ──────────────────▶ EXECUTED(k)
//!      ▲                               │                               │
//!      │ set_ready_status              │ add_dependency                │ try_validation_abort
//!      │ (k+1)                         ▼ (read an ESTIMATE)            ▼ (read set invalid)
//!      └──────────────────────────  ABORTING(k) ◀──────────────────────┘
//! ```
//!
//! How the indices move:
//! 1. `execution_idx` and `validation_idx` only grow by `fetch_add` when a thread takes a task;
//!    they are lowered by `decrease_execution_idx` (a suspended transaction became ready again)
//!    and `decrease_validation_idx` (an execution wrote a location its previous incarnation had
//!    not written, or a validation aborted: everything above must be validated again).
//! 2. A thread takes a validation task when `validation_idx < execution_idx`, else an execution
//!    task: lower transactions first, so that work on higher ones is less often wasted.
//! 3. Every lowering bumps `decrease_cnt`. `check_done` declares the block done only if both
//!    indices are past the end, no task is active, and `decrease_cnt` did not move while it
//!    looked: then no task can ever be created again.
//!
//! One addition to the paper: a reader that meets the ESTIMATE of a transaction that is
//! executing right now waits for that execution to finish and reads again
//! (`wait_while_executing`), instead of suspending. Without it, a thread at high contention
//! suspends every higher transaction on the same ESTIMATE in turn, and all of them are
//! resumed and suspended again: quadratic work for a chain of dependent transactions.
//!
//! Another, in the same spirit, for locations written by transaction after transaction (the
//! run counts failed validations per location, see `ParallelRun`): a reader of such a hot
//! location waits for a lower transaction that is executing right now if, above the newest
//! write of the location, no transaction has executed without writing it
//! (`executing_above`). On 1,000 increments of one counter at two threads this took the
//! wasted executions from about 550 a block to 2-25 (a few runs). A wrong guess only costs
//! the wait: validation still decides.
//!
//! Two more additions serve the scheduling plans (`plan.rs`) and the retry policy:
//! - Sharded dispatch: instead of one execution index, one per shard over the shard's
//!   transactions, and a worker only executes its own shards (`next_task(worker)`). Lowering
//!   "the execution index to tx" lowers the cursor of tx's shard. Validation stays global.
//! - Serial mode (`enter_serial_mode`): after it, one execution at a time, always the lowest
//!   transaction that has not executed, once every lower one has, all on the first worker to
//!   take one (the others finish what they hold, then sleep until the block ends). Used when a
//!   transaction was re-executed too often: the rest of the block then runs in order, keeping
//!   what is done.
//!
//! Lock-free on the hot path: the status of each transaction is one `AtomicU64` moved by
//! compare-and-swap. The only lock is the per-transaction dependency list, taken when a
//! transaction suspends on an ESTIMATE and when its blocker finishes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};

use crate::plan::ShardPlan;
use crate::types::{Incarnation, TxIndex, Version};

const READY: u64 = 0;
const EXECUTING: u64 = 1;
const EXECUTED: u64 = 2;
const ABORTING: u64 = 3;

#[inline]
fn pack(incarnation: u32, status: u64) -> u64 {
    ((incarnation as u64) << 2) | status
}
#[inline]
fn unpack(word: u64) -> (u32, u64) {
    ((word >> 2) as u32, word & 3)
}

/// Work handed to a thread.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Task {
    Execute(Version),
    Validate(Version),
}

/// A status transition the protocol says cannot happen. The block falls back to sequential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scheduler invariant broken: {what} (tx {tx}, status word {word:#x})")]
pub struct InvariantError {
    pub what: &'static str,
    pub tx: u32,
    pub word: u64,
}

/// Where executions come from.
enum Dispatch {
    /// Block-STM: `execution_idx` over the whole block.
    Ordered,
    /// One cursor per shard over the shard's transactions.
    Sharded(Shards),
}

struct Shards {
    /// Transactions of each shard, ascending.
    lists: Vec<Vec<u32>>,
    /// Per transaction: its shard, and its position in the shard's list.
    shard_of: Vec<u32>,
    pos: Vec<u32>,
    /// Per shard: the next position to execute. SeqCst, like `execution_idx` (they take its
    /// place in `check_done`).
    cursors: Vec<CachePadded<AtomicUsize>>,
    workers: usize,
}

impl Shards {
    fn new(plan: &ShardPlan) -> Self {
        let mut lists = vec![Vec::new(); plan.shards as usize];
        let mut pos = Vec::with_capacity(plan.shard_of.len());
        for (tx, &s) in plan.shard_of.iter().enumerate() {
            pos.push(lists[s as usize].len() as u32);
            lists[s as usize].push(tx as u32);
        }
        let cursors = lists.iter().map(|_| CachePadded::new(AtomicUsize::new(0))).collect();
        Shards { lists, shard_of: plan.shard_of.clone(), pos, cursors, workers: plan.workers.max(1) as usize }
    }

    fn owns(&self, worker: usize, shard: usize) -> bool {
        shard % self.workers == worker % self.workers
    }
}

const NO_OWNER: usize = usize::MAX;

/// How long a worker benched by serial mode sleeps between looks at the block.
const BENCHED_NAP: std::time::Duration = std::time::Duration::from_micros(500);

pub struct Scheduler {
    block_size: usize,
    dispatch: Dispatch,
    /// Sharded dispatch: one past the highest transaction started so far. Validation is
    /// preferred below it, as Block-STM prefers it below `execution_idx`. SeqCst.
    exec_frontier: AtomicUsize,
    /// Serial mode is on (set once, never cleared). SeqCst: read by every `next_task`.
    serial: AtomicBool,
    /// Serial mode: every transaction below it has executed. Lowered with the execution
    /// indices, advanced by the scan in `next_task_serial`. SeqCst (part of `check_done`).
    serial_next: CachePadded<AtomicUsize>,
    /// Serial mode: the one worker that executes and validates from then on (`NO_OWNER`
    /// until a worker first finds an execution there). Set once. A worker runs one execution
    /// at a time, so this alone keeps serial executions one at a time. The others sleep until
    /// the block ends: handing each transaction to whichever thread polled first made serial
    /// mode slower than one worker alone.
    serial_worker: AtomicUsize,
    /// Next transaction to try to execute. Ordering: SeqCst, like the three counters below:
    /// `check_done` relies on one total order over all four to detect completion.
    execution_idx: CachePadded<AtomicUsize>,
    /// Next transaction to validate. SeqCst (see `execution_idx`).
    validation_idx: CachePadded<AtomicUsize>,
    /// Bumped on every decrease of either index. SeqCst.
    decrease_cnt: CachePadded<AtomicUsize>,
    /// Tasks taken and not yet finished. SeqCst.
    num_active_tasks: CachePadded<AtomicUsize>,
    /// Set once by `check_done`. Release/Acquire: a thread that sees it may stop.
    done_marker: AtomicBool,
    /// Per transaction: `incarnation << 2 | status`. Moved by CAS with AcqRel: the Release of
    /// EXECUTED in `finish_execution` pairs with the Acquire in `next_version_to_validate` and
    /// `add_dependency`, so whoever sees EXECUTED also sees the recorded reads and writes.
    /// Not cache-padded: a padded word per transaction is 128 bytes, and the page faults of
    /// allocating that for a large block cost more than the false sharing between neighbours.
    status: Vec<AtomicU64>,
    /// Per transaction: the transactions suspended until it finishes executing. Lock order:
    /// `add_dependency` holds `dependencies[blocker]` while it reads `status[blocker]` and moves
    /// `status[tx]`; nothing else holds a dependency lock while taking another lock.
    dependencies: Vec<Mutex<Vec<TxIndex>>>,
    /// Parking for threads with nothing to do; woken when an index is lowered or the block ends.
    idle: Idle,
}

/// Waiting strategy of a thread with nothing to do: spin briefly, then yield the core (which
/// returns at once when no other thread wants it, so wake-up stays cheap while cores are
/// free), and only after `YIELD_FOR` park on the condition variable (a futex wake-up costs
/// tens of microseconds, a large share of a transaction).
pub struct Backoff {
    round: u32,
    since: Option<std::time::Instant>,
}

impl Backoff {
    const SPINS: u32 = 64;
    const YIELD_FOR: std::time::Duration = std::time::Duration::from_micros(300);

    pub fn new() -> Self {
        Backoff { round: 0, since: None }
    }

    /// Spins or yields once; returns true when the caller should park instead.
    pub fn should_park(&mut self) -> bool {
        self.round += 1;
        if self.round <= Self::SPINS {
            std::hint::spin_loop();
            return false;
        }
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() < Self::YIELD_FOR {
            std::thread::yield_now();
            return false;
        }
        true
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

struct Idle {
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Idle {
    /// Sleeps until `ready()` (checked under the lock, after registering as a sleeper) or
    /// `timeout`. Every state change a sleeper can wait for calls `notify`.
    fn wait_until(&self, timeout: std::time::Duration, ready: impl Fn() -> bool) {
        let mut g = self.lock.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        if !ready() {
            self.cv.wait_for(&mut g, timeout);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn notify(&self) {
        // Ordering: SeqCst pairs with the SeqCst increment in `wait_until`; either the
        // sleeper sees the change in its re-check, or we see it counted and notify.
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = self.lock.lock();
            self.cv.notify_all();
        }
    }
}

impl Scheduler {
    pub fn new(block_size: usize) -> Self {
        Self::with_shards(block_size, None)
    }

    /// A scheduler with sharded dispatch when `shards` is given (already validated).
    pub fn with_shards(block_size: usize, shards: Option<&ShardPlan>) -> Self {
        Scheduler {
            block_size,
            dispatch: match shards {
                Some(p) => Dispatch::Sharded(Shards::new(p)),
                None => Dispatch::Ordered,
            },
            exec_frontier: AtomicUsize::new(0),
            serial: AtomicBool::new(false),
            serial_next: CachePadded::new(AtomicUsize::new(0)),
            serial_worker: AtomicUsize::new(NO_OWNER),
            execution_idx: CachePadded::new(AtomicUsize::new(0)),
            validation_idx: CachePadded::new(AtomicUsize::new(0)),
            decrease_cnt: CachePadded::new(AtomicUsize::new(0)),
            num_active_tasks: CachePadded::new(AtomicUsize::new(0)),
            done_marker: AtomicBool::new(block_size == 0),
            status: (0..block_size).map(|_| AtomicU64::new(pack(0, READY))).collect(),
            dependencies: (0..block_size).map(|_| Mutex::new(Vec::new())).collect(),
            idle: Idle { sleepers: AtomicUsize::new(0), lock: Mutex::new(()), cv: Condvar::new() },
        }
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    pub fn done(&self) -> bool {
        self.done_marker.load(Ordering::Acquire)
    }

    /// Transactions whose latest incarnation has finished executing, counted now: a progress
    /// figure for observers while the block runs. Each status is read on its own (no
    /// snapshot), and the count can fall: a failed validation sends a transaction back.
    pub fn executed_count(&self) -> usize {
        self.status.iter().filter(|s| unpack(s.load(Ordering::Relaxed)).1 == EXECUTED).count()
    }

    /// Wakes every parked thread (used when the block is halted from outside).
    pub fn wake_all(&self) {
        let _g = self.idle.lock.lock();
        self.idle.cv.notify_all();
    }

    /// Whether an index points into the block, i.e. a `next_task` call might find work.
    fn has_work(&self) -> bool {
        !self.executions_exhausted() || self.validation_idx.load(Ordering::SeqCst) < self.block_size
    }

    /// Whether no execution can be handed out until an index is lowered.
    fn executions_exhausted(&self) -> bool {
        if self.serial.load(Ordering::SeqCst) {
            return self.serial_next.load(Ordering::SeqCst) >= self.block_size;
        }
        match &self.dispatch {
            Dispatch::Ordered => self.execution_idx.load(Ordering::SeqCst) >= self.block_size,
            Dispatch::Sharded(sh) => {
                sh.cursors.iter().zip(&sh.lists).all(|(c, l)| c.load(Ordering::SeqCst) >= l.len())
            }
        }
    }

    /// Whether serial mode is on.
    pub fn serial(&self) -> bool {
        self.serial.load(Ordering::SeqCst)
    }

    /// Switches to serial mode (see the module docs). Executions already running finish.
    pub fn enter_serial_mode(&self) {
        if !self.serial.swap(true, Ordering::SeqCst) {
            self.decrease_cnt.fetch_add(1, Ordering::SeqCst);
            self.idle.notify();
        }
    }

    /// Blocks the calling thread until there may be work for `worker`, the block is done,
    /// `stop()` is true, or `timeout` passes.
    pub fn park(&self, timeout: std::time::Duration, worker: usize, stop: impl Fn() -> bool) {
        if self.benched(worker) {
            // Not a sleeper: the serial worker's notifications after every transaction would
            // wake it for nothing. It looks again in a while (the block's end, a halt).
            std::thread::sleep(timeout.min(BENCHED_NAP));
            return;
        }
        self.idle.wait_until(timeout, || self.has_work() || self.done() || stop());
    }

    /// Whether serial mode gave the rest of the block to another worker than `worker`.
    fn benched(&self, worker: usize) -> bool {
        if !self.serial.load(Ordering::SeqCst) {
            return false;
        }
        let w = self.serial_worker.load(Ordering::Acquire);
        w != NO_OWNER && w != worker
    }

    /// Waits while `blocker` is executing. Returns true once its execution has finished (the
    /// caller reads again), false if it is not executing (the caller suspends instead) or
    /// `stop()` became true.
    ///
    /// Why this cannot deadlock: a waiter only waits for a strictly lower transaction that
    /// some other thread is running right now, so every chain of waits ends at a thread that
    /// is executing and not waiting; and a blocker that stops executing without finishing
    /// (it suspended) releases its waiters, who then suspend through `add_dependency`.
    pub fn wait_while_executing(&self, blocker: TxIndex, stop: impl Fn() -> bool) -> bool {
        let status = |s: &Self| unpack(s.status[blocker.idx()].load(Ordering::Acquire)).1;
        let mut backoff = Backoff::new();
        loop {
            match status(self) {
                EXECUTING => {}
                EXECUTED => return true,
                _ => return false,
            }
            if stop() {
                return false;
            }
            if backoff.should_park() {
                self.idle.wait_until(std::time::Duration::from_micros(500), || status(self) != EXECUTING || stop());
            }
        }
    }

    /// Scanning down from `tx - 1` (at most `max_scan` transactions, never to `floor` or
    /// below): the first transaction that is executing, unless one that has executed comes
    /// first. Used to predict a write by a transaction still running: above the newest writer
    /// of a location (`floor`), a transaction that has executed did not write it, so the
    /// location is not written by every transaction and a running one is no sign of a write.
    pub fn executing_above(&self, tx: TxIndex, floor: Option<TxIndex>, max_scan: usize) -> Option<TxIndex> {
        let low = floor.map_or(0, |f| f.idx() + 1).max(tx.idx().saturating_sub(max_scan));
        for k in (low..tx.idx()).rev() {
            match unpack(self.status[k].load(Ordering::Acquire)).1 {
                EXECUTING => return Some(TxIndex::from_usize(k)),
                EXECUTED => return None,
                _ => {}
            }
        }
        None
    }

    /// The incarnation that currently owns `tx` and its status name (for stats and tests).
    pub fn incarnation(&self, tx: TxIndex) -> Incarnation {
        Incarnation(unpack(self.status[tx.idx()].load(Ordering::Acquire)).0)
    }

    /// Makes the execution indices point at or below each of `txs` (which became READY).
    fn decrease_execution_idx(&self, txs: impl IntoIterator<Item = usize>) {
        for tx in txs {
            match &self.dispatch {
                Dispatch::Ordered => {
                    self.execution_idx.fetch_min(tx, Ordering::SeqCst);
                }
                Dispatch::Sharded(sh) => {
                    sh.cursors[sh.shard_of[tx] as usize].fetch_min(sh.pos[tx] as usize, Ordering::SeqCst);
                }
            }
            self.serial_next.fetch_min(tx, Ordering::SeqCst);
        }
        self.decrease_cnt.fetch_add(1, Ordering::SeqCst);
        self.idle.notify();
    }

    fn decrease_validation_idx(&self, target: usize) {
        self.validation_idx.fetch_min(target, Ordering::SeqCst);
        self.decrease_cnt.fetch_add(1, Ordering::SeqCst);
        self.idle.notify();
    }

    fn check_done(&self) {
        let observed = self.decrease_cnt.load(Ordering::SeqCst);
        if self.executions_exhausted()
            && self.validation_idx.load(Ordering::SeqCst) >= self.block_size
            && self.num_active_tasks.load(Ordering::SeqCst) == 0
            && observed == self.decrease_cnt.load(Ordering::SeqCst)
        {
            self.done_marker.store(true, Ordering::Release);
            self.wake_all();
        }
    }

    /// READY(k) → EXECUTING(k). Consumes the active-task count taken by the caller on failure.
    fn try_incarnate(&self, tx: usize) -> Option<Version> {
        if tx < self.block_size {
            let word = self.status[tx].load(Ordering::Acquire);
            let (inc, st) = unpack(word);
            if st == READY
                && self.status[tx]
                    .compare_exchange(word, pack(inc, EXECUTING), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Some(Version { tx: TxIndex::from_usize(tx), incarnation: Incarnation(inc) });
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        None
    }

    fn next_version_to_execute(&self) -> Option<Version> {
        if self.execution_idx.load(Ordering::SeqCst) >= self.block_size {
            self.check_done();
            return None;
        }
        self.num_active_tasks.fetch_add(1, Ordering::SeqCst);
        let idx = self.execution_idx.fetch_add(1, Ordering::SeqCst);
        self.try_incarnate(idx)
    }

    fn next_version_to_validate(&self) -> Option<Version> {
        if self.validation_idx.load(Ordering::SeqCst) >= self.block_size {
            self.check_done();
            return None;
        }
        self.num_active_tasks.fetch_add(1, Ordering::SeqCst);
        let idx = self.validation_idx.fetch_add(1, Ordering::SeqCst);
        if idx < self.block_size {
            let (inc, st) = unpack(self.status[idx].load(Ordering::Acquire));
            if st == EXECUTED {
                return Some(Version { tx: TxIndex::from_usize(idx), incarnation: Incarnation(inc) });
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        None
    }

    /// The next task for worker `worker` (its shards, under sharded dispatch), or `None` if
    /// there is nothing to take right now.
    pub fn next_task(&self, worker: usize) -> Option<Task> {
        if self.serial.load(Ordering::SeqCst) {
            return self.next_task_serial(worker);
        }
        match &self.dispatch {
            Dispatch::Ordered => {
                if self.validation_idx.load(Ordering::SeqCst) < self.execution_idx.load(Ordering::SeqCst) {
                    self.next_version_to_validate().map(Task::Validate)
                } else {
                    self.next_version_to_execute().map(Task::Execute)
                }
            }
            Dispatch::Sharded(sh) => self.next_task_sharded(sh, worker),
        }
    }

    fn next_task_sharded(&self, sh: &Shards, worker: usize) -> Option<Task> {
        if self.validation_idx.load(Ordering::SeqCst) < self.exec_frontier.load(Ordering::SeqCst) {
            if let Some(v) = self.next_version_to_validate() {
                return Some(Task::Validate(v));
            }
        }
        let mut shard = worker % sh.workers;
        while shard < sh.lists.len() {
            if let Some(v) = self.next_version_to_execute_in(sh, shard) {
                return Some(Task::Execute(v));
            }
            shard += sh.workers;
        }
        // Nothing of its own to execute: help validate (this also detects completion).
        self.next_version_to_validate().map(Task::Validate)
    }

    fn next_version_to_execute_in(&self, sh: &Shards, shard: usize) -> Option<Version> {
        let list = &sh.lists[shard];
        if sh.cursors[shard].load(Ordering::SeqCst) >= list.len() {
            return None;
        }
        self.num_active_tasks.fetch_add(1, Ordering::SeqCst);
        let p = sh.cursors[shard].fetch_add(1, Ordering::SeqCst);
        if p >= list.len() {
            self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let tx = list[p] as usize;
        let v = self.try_incarnate(tx)?;
        self.exec_frontier.fetch_max(tx + 1, Ordering::SeqCst);
        Some(v)
    }

    /// Serial mode: validations first; then the lowest transaction that has not executed, once
    /// every lower one has. Only the serial worker (the first to find such an execution) gets
    /// tasks here; tasks handed to others by their own finishing executions and validations
    /// still run.
    fn next_task_serial(&self, worker: usize) -> Option<Task> {
        if self.benched(worker) {
            self.check_done();
            return None;
        }
        if self.validation_idx.load(Ordering::SeqCst) < self.block_size {
            if let Some(v) = self.next_version_to_validate() {
                return Some(Task::Validate(v));
            }
        }
        loop {
            let t = self.serial_next.load(Ordering::SeqCst);
            if t >= self.block_size {
                self.check_done();
                return None;
            }
            match unpack(self.status[t].load(Ordering::Acquire)).1 {
                EXECUTED => {
                    // An abort lowering `serial_next` meanwhile wins over this advance.
                    let _ = self.serial_next.compare_exchange(t, t + 1, Ordering::SeqCst, Ordering::SeqCst);
                }
                READY => {
                    if let Err(w) = self.serial_worker.compare_exchange(NO_OWNER, worker, Ordering::AcqRel, Ordering::Acquire) {
                        if w != worker {
                            return None;
                        }
                    }
                    // try_incarnate consumes the active count on failure.
                    self.num_active_tasks.fetch_add(1, Ordering::SeqCst);
                    return self.try_incarnate(t).map(Task::Execute);
                }
                // Running since before serial mode, or between abort and READY: wait.
                _ => return None,
            }
        }
    }

    /// `tx` read an ESTIMATE written by `blocker`. Returns false if `blocker` has finished
    /// executing meanwhile: then the caller re-executes the same incarnation at once.
    pub fn add_dependency(&self, tx: TxIndex, blocker: TxIndex) -> Result<bool, InvariantError> {
        {
            let mut deps = self.dependencies[blocker.idx()].lock();
            let (_, blocker_st) = unpack(self.status[blocker.idx()].load(Ordering::Acquire));
            if blocker_st == EXECUTED {
                return Ok(false);
            }
            let word = self.status[tx.idx()].load(Ordering::Acquire);
            let (inc, st) = unpack(word);
            if st != EXECUTING
                || self.status[tx.idx()]
                    .compare_exchange(word, pack(inc, ABORTING), Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return Err(InvariantError { what: "suspend a transaction that is not executing", tx: tx.0, word });
            }
            deps.push(tx);
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        // Threads waiting in place for `tx` must now suspend too.
        self.idle.notify();
        Ok(true)
    }

    /// ABORTING(k) → READY(k+1). Only the thread that drained the dependency list or won the
    /// validation abort calls this, so nothing races with it.
    fn set_ready_status(&self, tx: usize) -> Result<(), InvariantError> {
        let word = self.status[tx].load(Ordering::Acquire);
        let (inc, st) = unpack(word);
        if st != ABORTING
            || self.status[tx]
                .compare_exchange(word, pack(inc + 1, READY), Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Err(InvariantError { what: "make ready a transaction that is not aborting", tx: tx as u32, word });
        }
        Ok(())
    }

    fn resume_dependencies(&self, deps: Vec<TxIndex>) -> Result<(), InvariantError> {
        if deps.is_empty() {
            return Ok(());
        }
        for dep in &deps {
            self.set_ready_status(dep.idx())?;
        }
        match self.dispatch {
            // One index: lowering it to the smallest covers them all.
            Dispatch::Ordered => self.decrease_execution_idx(deps.iter().map(|d| d.idx()).min()),
            Dispatch::Sharded(_) => self.decrease_execution_idx(deps.iter().map(|d| d.idx())),
        }
        Ok(())
    }

    /// EXECUTING(k) → EXECUTED(k), after the incarnation's reads and writes were recorded.
    /// Returns a validation task for the same version when only it needs validating.
    pub fn finish_execution(&self, version: Version, wrote_new_location: bool) -> Result<Option<Task>, InvariantError> {
        let tx = version.tx.idx();
        let expected = pack(version.incarnation.0, EXECUTING);
        if let Err(word) = self.status[tx].compare_exchange(
            expected,
            pack(version.incarnation.0, EXECUTED),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            return Err(InvariantError { what: "finish an execution that is not running", tx: tx as u32, word });
        }
        // Threads waiting in place for this execution may read now.
        self.idle.notify();
        let deps = std::mem::take(&mut *self.dependencies[tx].lock());
        self.resume_dependencies(deps)?;
        if self.validation_idx.load(Ordering::SeqCst) > tx {
            if wrote_new_location {
                // Higher transactions may have read the location from a lower writer.
                self.decrease_validation_idx(tx);
            } else {
                return Ok(Some(Task::Validate(version)));
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        Ok(None)
    }

    /// EXECUTED(k) → ABORTING(k). Exactly one failed validation of an incarnation wins.
    pub fn try_validation_abort(&self, version: Version) -> bool {
        let tx = version.tx.idx();
        self.status[tx]
            .compare_exchange(
                pack(version.incarnation.0, EXECUTED),
                pack(version.incarnation.0, ABORTING),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Ends a validation task. After an abort, schedules validation of everything above and
    /// returns the re-execution of the aborted transaction when this thread may take it.
    pub fn finish_validation(&self, tx: TxIndex, aborted: bool, worker: usize) -> Result<Option<Task>, InvariantError> {
        if aborted {
            let t = tx.idx();
            self.set_ready_status(t)?;
            self.decrease_validation_idx(t + 1);
            if self.serial.load(Ordering::SeqCst) {
                // The serial scan picks it up in order.
                self.decrease_execution_idx([t]);
            } else {
                match &self.dispatch {
                    Dispatch::Ordered => {
                        if self.execution_idx.load(Ordering::SeqCst) > t {
                            // try_incarnate consumes the active count on failure; on success
                            // the count carries over to the execution task.
                            return Ok(self.try_incarnate(t).map(Task::Execute));
                        }
                    }
                    Dispatch::Sharded(sh) => {
                        let shard = sh.shard_of[t] as usize;
                        if sh.cursors[shard].load(Ordering::SeqCst) > sh.pos[t] as usize {
                            if sh.owns(worker, shard) {
                                return Ok(self.try_incarnate(t).map(Task::Execute));
                            }
                            // Another worker's shard: hand it back to its owner.
                            self.decrease_execution_idx([t]);
                        }
                    }
                }
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        Ok(None)
    }
}
