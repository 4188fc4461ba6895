//! One block in progress, driven by worker threads that pull work from it.
//!
//! The same pull protocol serves native threads (`executor.rs`) and JavaScript workers (the
//! Node binding): a worker calls `next` for the transaction to execute, `read` for each
//! location it needs, and ends the incarnation with `finish` (its writes) or `suspend` (it met
//! an ESTIMATE). Validation tasks never leave the engine: `next` runs them in place.
//!
//! Two implementations: `ParallelRun` (Block-STM) and `SequentialRun` (transactions in block
//! order on one worker; the reference every parallel result is compared with).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use dashmap::DashMap;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::mv_memory::{BaseState, FinalValue, MemoryError, MvMemory, ReadResult};
use crate::plan::{Plan, PlanError};
use crate::scheduler::{Backoff, InvariantError, Scheduler, Task};
use crate::stats::{Counters, LocalCounts, RunStats};
use crate::types::*;

/// Why a parallel run gave up; the block is then executed sequentially.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fallback {
    #[error("the VM cannot continue in parallel: {0}")]
    Vm(String),
    #[error(transparent)]
    Scheduler(#[from] InvariantError),
    #[error("multi-version memory: {0}")]
    Memory(#[from] MemoryError),
    #[error("worker protocol violated: {0}")]
    Protocol(&'static str),
    #[error("cancelled")]
    Cancelled,
    #[error("invalid plan: {0}")]
    Plan(#[from] PlanError),
}

/// What `next` hands a worker.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Execute(Version),
    /// Every transaction is executed and validated.
    Done,
    /// The run stopped (see `Run::halted`); the worker should return.
    Halted,
}

/// Why a read could not return a value.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// A lower transaction's ESTIMATE is in the way: abort and `suspend` on it.
    Blocked(TxIndex),
    /// The base value is not loaded: load it (`Run` does not know how) and read again.
    NotLoaded,
    /// The run was halted; abandon the incarnation.
    Halted,
}

/// Per-worker state. One per thread; never shared.
#[derive(Default)]
pub struct WorkerCtx {
    /// The worker's number (which shards it executes under sharded dispatch).
    id: usize,
    current: Option<Version>,
    pending: Option<Task>,
    reads: ReadSet,
    counts: LocalCounts,
    /// Time the current incarnation's reads spent waiting for other transactions.
    waited: Duration,
}

impl WorkerCtx {
    /// The context of worker number `id` (0-based; see `ShardPlan::workers`).
    pub fn new(id: usize) -> Self {
        WorkerCtx { id, ..Default::default() }
    }

    pub fn id(&self) -> usize {
        self.id
    }

    pub fn current(&self) -> Option<Version> {
        self.current
    }

    /// Forgets the reads of the current incarnation, which starts over from its beginning
    /// (after a base value it needed was loaded).
    pub fn restart(&mut self) {
        self.reads.clear();
        self.waited = Duration::ZERO;
    }

    /// Starts executing `v`.
    fn start(&mut self, v: Version) {
        self.current = Some(v);
        self.waited = Duration::ZERO;
    }
}

/// A block in progress.
pub trait Run: Send + Sync {
    fn block_size(&self) -> usize;
    /// Blocks until there is a transaction to execute, the block is done, or the run halts.
    fn next(&self, w: &mut WorkerCtx) -> Step;
    /// Reads `loc` for the worker's current incarnation and records what it saw.
    fn read(&self, w: &mut WorkerCtx, loc: &Location) -> Result<Value, ReadError>;
    /// Reads account `loc` for an incarnation that will only pay into it (the recipient of a
    /// plain value transfer). Where the account has no code, the read is recorded as a credit
    /// read: validation then checks only the account's shape (nonce, code hash, storage root;
    /// absent counting as empty) and whether the incarnation's own balance delta there
    /// overflows the balance, so other transactions' credits and debits of the same account do
    /// not invalidate it. The caller must write its change as a balance delta, or call
    /// `upgrade_credit` first. Returns the value and whether the read was recorded as a credit
    /// read. Runs without versions record nothing and answer as `read`.
    fn read_credit(&self, w: &mut WorkerCtx, loc: &Location) -> Result<(Value, bool), ReadError> {
        self.read(w, loc).map(|v| (v, false))
    }
    /// Turns the current incarnation's credit read of `loc` into a plain read of the value it
    /// returned (its change turned out to be more than a credit).
    fn upgrade_credit(&self, w: &mut WorkerCtx, loc: &Location) {
        if let Some(r) = w.reads.iter_mut().find(|r| r.loc == *loc) {
            r.credit = false;
        }
    }
    /// Ends the current incarnation with its writes.
    fn finish(&self, w: &mut WorkerCtx, writes: WriteSet);
    /// Ends the current incarnation, which read an ESTIMATE of `blocker`.
    fn suspend(&self, w: &mut WorkerCtx, blocker: TxIndex);
    /// Stops the run; every worker's next `next` returns `Halted`.
    fn halt(&self, reason: Fallback);
    /// Why the run halted, if it did.
    fn halted(&self) -> Option<Fallback>;
    /// The final value of every written location (after `Done`).
    fn snapshot(&self) -> Result<Vec<(Location, FinalValue)>, Fallback>;
    fn stats(&self) -> RunStats;
    /// Transactions executed so far, for progress reports while the run goes on: in a
    /// parallel run those whose latest incarnation has finished (the count can fall when a
    /// validation re-opens one), in a sequential run those finished in order.
    fn executed(&self) -> usize;
    /// Per transaction, the lower transactions it depends on (see `MvMemory::dependencies`);
    /// `None` where the run keeps no versions (sequential). After `Done`.
    fn dependency_graph(&self) -> Option<Vec<Vec<TxIndex>>> {
        None
    }
    /// Per transaction, how long its last finished incarnation's reads waited for other
    /// transactions (part of its wall time, not of its own execution); `None` where nothing
    /// waits (sequential). After `Done`.
    fn read_waits(&self) -> Option<Vec<Duration>> {
        None
    }
    /// Bytes held by the run's own structures (see `MvMemory::approx_bytes`).
    fn approx_bytes(&self) -> usize {
        0
    }
}

/// Shared halt flag plus its reason.
#[derive(Default)]
struct HaltState {
    /// Ordering: Release on set, Acquire on check; the reason is behind the mutex.
    flag: AtomicBool,
    reason: Mutex<Option<Fallback>>,
}

impl HaltState {
    fn set(&self, reason: Fallback) {
        let mut r = self.reason.lock();
        if r.is_none() {
            *r = Some(reason);
        }
        self.flag.store(true, Ordering::Release);
    }
    #[inline]
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
    fn get(&self) -> Option<Fallback> {
        if self.is_set() {
            self.reason.lock().clone()
        } else {
            None
        }
    }
}

/// Block-STM over the multi-version memory, under a scheduling plan.
pub struct ParallelRun {
    scheduler: Scheduler,
    memory: MvMemory,
    base: Arc<dyn BaseState + Send>,
    halt: HaltState,
    counters: Counters,
    /// Retry policy: a transaction about to execute more than `1 + limit` times switches the
    /// scheduler to serial mode (the rest of the block runs in order).
    max_reexecutions: Option<u32>,
    /// Executions started per transaction. Relaxed: only compared with the limit.
    started: Vec<AtomicU32>,
    /// Dependency hints (see `Plan::hints`), flattened: tx i waits for
    /// `hint_deps[hint_offsets[i]..hint_offsets[i + 1]]` before its first execution.
    hint_offsets: Vec<u32>,
    hint_deps: Vec<TxIndex>,
    /// Per transaction, how many of its hints were checked. Only the thread that owns the
    /// transaction's EXECUTING status touches it, so Relaxed suffices (the status CAS orders it).
    hint_cursor: Vec<AtomicU32>,
    /// The transaction whose re-executions switched the run to serial mode (u32::MAX: none).
    serial_from: AtomicU32,
    /// Hot locations: how many validations each one failed. A location that failed
    /// `HOT_AFTER` times is likely written by transaction after transaction (a counter, a
    /// pool's reserves); a read of it waits for a lower transaction still running to finish
    /// (`running_writer`) instead of reading a value that transaction will likely replace.
    hot: DashMap<Location, u32, FxBuildHasher>,
    /// Set once `hot` has a location past `HOT_AFTER`; until then reads skip the lookup.
    /// Relaxed: a late look only means one read does not wait.
    any_hot: AtomicBool,
    /// Per transaction, nanoseconds its last finished incarnation's reads waited (see
    /// `Run::read_waits`). Relaxed: written at `finish`, read once the block is done.
    read_waits: Vec<AtomicU64>,
}

/// Failed validations after which a location counts as hot.
const HOT_AFTER: u32 = 2;
/// How far below the reader `running_writer` looks for a running transaction.
const HOT_SCAN: usize = 64;
/// Most waits one read makes for running transactions at a hot location.
const HOT_WAITS: u32 = 4;

impl ParallelRun {
    pub fn new(block_size: usize, base: Arc<dyn BaseState + Send>, max_reexecutions: Option<u32>) -> Self {
        Self::with_plan(block_size, base, Plan::default(), max_reexecutions).expect("the empty plan is valid")
    }

    /// A run under `plan` (checked against the block size).
    pub fn with_plan(
        block_size: usize,
        base: Arc<dyn BaseState + Send>,
        plan: Plan,
        max_reexecutions: Option<u32>,
    ) -> Result<Self, Fallback> {
        plan.validate(block_size)?;
        let (hint_offsets, hint_deps) = match plan.hints {
            Some(h) => {
                let mut offsets = Vec::with_capacity(block_size + 1);
                let mut deps = Vec::new();
                offsets.push(0);
                for d in h {
                    deps.extend(d);
                    offsets.push(deps.len() as u32);
                }
                (offsets, deps)
            }
            None => (Vec::new(), Vec::new()),
        };
        let has_hints = !hint_deps.is_empty();
        Ok(ParallelRun {
            scheduler: Scheduler::with_shards(block_size, plan.shards.as_ref()),
            memory: MvMemory::new(block_size),
            base,
            halt: HaltState::default(),
            counters: Counters::default(),
            max_reexecutions,
            started: if max_reexecutions.is_some() { (0..block_size).map(|_| AtomicU32::new(0)).collect() } else { Vec::new() },
            hint_offsets,
            hint_deps,
            hint_cursor: if has_hints { (0..block_size).map(|_| AtomicU32::new(0)).collect() } else { Vec::new() },
            serial_from: AtomicU32::new(u32::MAX),
            hot: DashMap::with_hasher(FxBuildHasher),
            any_hot: AtomicBool::new(false),
            read_waits: (0..block_size).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Before a transaction's first execution: suspends it on the first predicted predecessor
    /// that has not executed yet. Returns true if it was suspended.
    fn defer_on_hint(&self, v: Version) -> Result<bool, Fallback> {
        if self.hint_cursor.is_empty() {
            return Ok(false);
        }
        let tx = v.tx.idx();
        let (start, end) = (self.hint_offsets[tx] as usize, self.hint_offsets[tx + 1] as usize);
        let mut at = start + self.hint_cursor[tx].load(Ordering::Relaxed) as usize;
        while at < end {
            let dep = self.hint_deps[at];
            at += 1;
            self.hint_cursor[tx].store((at - start) as u32, Ordering::Relaxed);
            if self.scheduler.add_dependency(v.tx, dep)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The transaction whose re-executions switched the run to serial mode, if one did.
    pub fn serial_from(&self) -> Option<TxIndex> {
        match self.serial_from.load(Ordering::Relaxed) {
            u32::MAX => None,
            t => Some(TxIndex(t)),
        }
    }

    /// Runs a validation task; returns the task it leads to, if any.
    fn validate(&self, w: &mut WorkerCtx, version: Version) -> Result<Option<Task>, Fallback> {
        w.counts.validations += 1;
        let stale = self.memory.first_stale_read(version.tx, &*self.base)?;
        let aborted = stale.is_some() && self.scheduler.try_validation_abort(version);
        if aborted {
            w.counts.validation_aborts += 1;
            self.memory.convert_writes_to_estimates(version.tx);
            if let Some(loc) = stale {
                self.note_conflict(loc);
            }
        }
        Ok(self.scheduler.finish_validation(version.tx, aborted, w.id)?)
    }

    /// Counts a failed validation against the location that changed.
    fn note_conflict(&self, loc: Location) {
        let mut n = self.hot.entry(loc).or_insert(0);
        *n += 1;
        if *n >= HOT_AFTER {
            self.any_hot.store(true, Ordering::Relaxed);
        }
    }

    /// Before `tx` reads hot location `loc`: the lower transaction still running that will
    /// likely write it, if any (see `Scheduler::executing_above`).
    fn running_writer(&self, loc: &Location, tx: TxIndex) -> Option<TxIndex> {
        if !self.any_hot.load(Ordering::Relaxed) || self.hot.get(loc).is_none_or(|n| *n < HOT_AFTER) {
            return None;
        }
        self.scheduler.executing_above(tx, self.memory.newest_writer_below(loc, tx), HOT_SCAN)
    }

    fn backoff(&self, backoff: &mut Backoff, worker: usize) {
        if backoff.should_park() {
            self.scheduler.park(Duration::from_millis(2), worker, || self.halt.is_set());
        }
    }
}

impl ParallelRun {
    /// The body of `next`: finds the worker's next execution, running validations in place.
    fn next_step(&self, w: &mut WorkerCtx) -> Step {
        let mut backoff = Backoff::new();
        loop {
            if self.halt.is_set() {
                return Step::Halted;
            }
            let task = match w.pending.take() {
                Some(t) => Some(t),
                None => self.scheduler.next_task(w.id),
            };
            match task {
                Some(Task::Execute(v)) => {
                    match self.defer_on_hint(v) {
                        Ok(true) => {
                            w.counts.hint_waits += 1;
                            continue;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            self.halt(e);
                            return Step::Halted;
                        }
                    }
                    if let Some(limit) = self.max_reexecutions {
                        let n = self.started[v.tx.idx()].fetch_add(1, Ordering::Relaxed);
                        if n > limit && !self.scheduler.serial() {
                            // Retry policy: stop speculating. This execution goes ahead; the
                            // scheduler hands out the rest in order, one at a time.
                            let _ = self.serial_from.compare_exchange(u32::MAX, v.tx.0, Ordering::Relaxed, Ordering::Relaxed);
                            self.scheduler.enter_serial_mode();
                        }
                    }
                    w.counts.executions += 1;
                    self.counters.start_execution();
                    w.start(v);
                    return Step::Execute(v);
                }
                Some(Task::Validate(v)) => match self.validate(w, v) {
                    Ok(t) => w.pending = t,
                    Err(e) => {
                        self.halt(e);
                        return Step::Halted;
                    }
                },
                None => {
                    if self.scheduler.done() {
                        return Step::Done;
                    }
                    self.backoff(&mut backoff, w.id);
                }
            }
        }
    }
}

impl ParallelRun {
    /// A read for the current incarnation, recorded for validation: plain, or (`credit`) a
    /// credit read where the value is an account without code (see `Run::read_credit`).
    /// Returns the value and whether it was recorded as a credit read.
    fn read_recorded(&self, w: &mut WorkerCtx, loc: &Location, credit: bool) -> Result<(Value, bool), ReadError> {
        let Some(v) = w.current else {
            self.halt(Fallback::Protocol("read() outside an execution"));
            return Err(ReadError::Halted);
        };
        let mut hot_waits = 0;
        loop {
            return match self.memory.read(loc, v.tx, &*self.base) {
                Ok(ReadResult::Value(value)) => {
                    let credit = credit && matches!(&value, Value::Account(a) if without_code(a));
                    // A credit read does not care about the writes the hot-location wait is for.
                    if hot_waits < HOT_WAITS && !credit {
                        if let Some(k) = self.running_writer(loc, v.tx) {
                            hot_waits += 1;
                            w.counts.dependency_waits += 1;
                            let began = Instant::now();
                            self.scheduler.wait_while_executing(k, || self.halt.is_set());
                            w.waited += began.elapsed();
                            if self.halt.is_set() {
                                return Err(ReadError::Halted);
                            }
                            continue;
                        }
                    }
                    w.reads.push(Read { loc: *loc, value: value.clone(), credit });
                    Ok((value, credit))
                }
                Ok(ReadResult::Blocked(b)) => {
                    w.counts.dependency_waits += 1;
                    let resolved = b < v.tx && {
                        let began = Instant::now();
                        let done = self.scheduler.wait_while_executing(b, || self.halt.is_set());
                        w.waited += began.elapsed();
                        done
                    };
                    if resolved {
                        continue;
                    }
                    Err(ReadError::Blocked(b))
                }
                Ok(ReadResult::NotLoaded) => Err(ReadError::NotLoaded),
                Err(e) => {
                    self.halt(e.into());
                    Err(ReadError::Halted)
                }
            };
        }
    }
}

impl Run for ParallelRun {
    fn block_size(&self) -> usize {
        self.scheduler.block_size()
    }

    fn next(&self, w: &mut WorkerCtx) -> Step {
        if w.current.take().is_some() {
            // The previous incarnation was neither finished nor suspended.
            self.halt(Fallback::Protocol("next() called during an execution"));
        }
        w.reads.clear();
        let step = self.next_step(w);
        if !matches!(step, Step::Execute(_)) {
            // The worker leaves the block: publish its counts.
            self.counters.flush(&mut w.counts);
        }
        step
    }

    fn read(&self, w: &mut WorkerCtx, loc: &Location) -> Result<Value, ReadError> {
        self.read_recorded(w, loc, false).map(|(v, _)| v)
    }

    fn read_credit(&self, w: &mut WorkerCtx, loc: &Location) -> Result<(Value, bool), ReadError> {
        if !matches!(loc, Location::Account(_)) {
            self.halt(MemoryError::DeltaOnNonAccount(*loc).into());
            return Err(ReadError::Halted);
        }
        self.read_recorded(w, loc, true)
    }

    fn finish(&self, w: &mut WorkerCtx, writes: WriteSet) {
        let Some(v) = w.current.take() else {
            return self.halt(Fallback::Protocol("finish() outside an execution"));
        };
        self.counters.end_execution();
        self.read_waits[v.tx.idx()].store(w.waited.as_nanos() as u64, Ordering::Relaxed);
        let reads = std::mem::take(&mut w.reads);
        let result = self
            .memory
            .record(v, reads, writes)
            .map_err(Fallback::from)
            .and_then(|(wrote_new, recycled)| {
                w.reads = recycled;
                Ok(self.scheduler.finish_execution(v, wrote_new)?)
            });
        match result {
            Ok(task) => w.pending = task,
            Err(e) => self.halt(e),
        }
    }

    fn suspend(&self, w: &mut WorkerCtx, blocker: TxIndex) {
        let Some(v) = w.current.take() else {
            return self.halt(Fallback::Protocol("suspend() outside an execution"));
        };
        self.counters.end_execution();
        w.reads.clear();
        if blocker >= v.tx {
            return self.halt(Fallback::Protocol("suspended on a transaction that is not lower"));
        }
        match self.scheduler.add_dependency(v.tx, blocker) {
            // The blocker finished meanwhile: run the same incarnation again right away.
            Ok(false) => w.pending = Some(Task::Execute(v)),
            Ok(true) => w.counts.dependency_aborts += 1,
            Err(e) => self.halt(e.into()),
        }
    }

    fn halt(&self, reason: Fallback) {
        self.halt.set(reason);
        self.scheduler.wake_all();
    }

    fn halted(&self) -> Option<Fallback> {
        self.halt.get()
    }

    fn snapshot(&self) -> Result<Vec<(Location, FinalValue)>, Fallback> {
        if let Some(reason) = self.halt.get() {
            return Err(reason);
        }
        if !self.scheduler.done() {
            return Err(Fallback::Protocol("snapshot() before the block is done"));
        }
        Ok(self.memory.snapshot(self.block_size(), &*self.base)?)
    }

    fn stats(&self) -> RunStats {
        let mut s = self.counters.snapshot(self.block_size());
        s.serial_from = self.serial_from().map(|t| t.0);
        s
    }

    fn executed(&self) -> usize {
        self.scheduler.executed_count()
    }

    fn approx_bytes(&self) -> usize {
        // Scheduler: a status word and a dependency list per transaction.
        self.memory.approx_bytes() + self.block_size() * (8 + std::mem::size_of::<Mutex<Vec<TxIndex>>>())
    }

    fn dependency_graph(&self) -> Option<Vec<Vec<TxIndex>>> {
        if !self.scheduler.done() || self.halt.is_set() {
            return None;
        }
        Some((0..self.block_size()).map(|i| self.memory.dependencies(TxIndex::from_usize(i))).collect())
    }

    fn read_waits(&self) -> Option<Vec<Duration>> {
        if !self.scheduler.done() || self.halt.is_set() {
            return None;
        }
        Some(self.read_waits.iter().map(|n| Duration::from_nanos(n.load(Ordering::Relaxed))).collect())
    }
}

/// A pending value in the sequential state.
#[derive(Clone, Debug)]
enum SeqEntry {
    Value(Value),
    /// Credits to an account whose base value nobody has read yet.
    Credit(U256),
}

#[derive(Default)]
struct SeqState {
    next_tx: usize,
    values: FxHashMap<Location, SeqEntry>,
    /// Addresses whose storage was wiped: their slots not in `values` read as zero.
    cleared: FxHashSet<Address>,
}

/// Transactions one after another in block order, on a single worker: the reference.
pub struct SequentialRun {
    block_size: usize,
    base: Arc<dyn BaseState + Send>,
    /// One worker drives it; the mutex only makes the type `Sync`.
    state: Mutex<SeqState>,
    /// Set while a worker holds a transaction; a second worker gets nothing.
    busy: AtomicUsize,
    halt: HaltState,
    counters: Counters,
}

impl SequentialRun {
    pub fn new(block_size: usize, base: Arc<dyn BaseState + Send>) -> Self {
        SequentialRun {
            block_size,
            base,
            state: Mutex::new(SeqState::default()),
            busy: AtomicUsize::new(0),
            halt: HaltState::default(),
            counters: Counters::default(),
        }
    }

    fn resolve(&self, st: &mut SeqState, loc: &Location) -> Result<Value, ReadError> {
        match st.values.get(loc) {
            Some(SeqEntry::Value(v)) => return Ok(v.clone()),
            Some(SeqEntry::Credit(d)) => {
                let d = *d;
                let Some(Value::Account(base)) = self.base.get(loc) else {
                    return Err(ReadError::NotLoaded);
                };
                let v = Value::Account(fold_delta(base, d));
                st.values.insert(*loc, SeqEntry::Value(v.clone()));
                return Ok(v);
            }
            None => {}
        }
        if let Location::Storage(a, _) = loc {
            if st.cleared.contains(a) {
                return Ok(Value::Storage(U256::ZERO));
            }
        }
        self.base.get(loc).ok_or(ReadError::NotLoaded)
    }
}

impl Run for SequentialRun {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn next(&self, w: &mut WorkerCtx) -> Step {
        if self.halt.is_set() {
            return Step::Halted;
        }
        if w.current.take().is_some() {
            self.halt(Fallback::Protocol("next() called during an execution"));
            return Step::Halted;
        }
        if self.busy.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_err() {
            self.halt(Fallback::Protocol("a second worker on a sequential run"));
            return Step::Halted;
        }
        let st = self.state.lock();
        if st.next_tx >= self.block_size {
            self.busy.store(0, Ordering::Release);
            self.counters.flush(&mut w.counts);
            return Step::Done;
        }
        let v = Version { tx: TxIndex::from_usize(st.next_tx), incarnation: Incarnation(0) };
        drop(st);
        w.counts.executions += 1;
        self.counters.start_execution();
        w.start(v);
        Step::Execute(v)
    }

    fn read(&self, w: &mut WorkerCtx, loc: &Location) -> Result<Value, ReadError> {
        if w.current.is_none() {
            self.halt(Fallback::Protocol("read() outside an execution"));
            return Err(ReadError::Halted);
        }
        if matches!(loc, Location::StorageClear(_)) {
            self.halt(MemoryError::KindMismatch(*loc).into());
            return Err(ReadError::Halted);
        }
        let mut st = self.state.lock();
        self.resolve(&mut st, loc)
    }

    fn finish(&self, w: &mut WorkerCtx, writes: WriteSet) {
        if w.current.take().is_none() {
            return self.halt(Fallback::Protocol("finish() outside an execution"));
        }
        self.counters.end_execution();
        let mut st = self.state.lock();
        for (loc, op) in writes {
            match (loc, op) {
                (Location::StorageClear(a), _) => {
                    for (l, e) in st.values.iter_mut() {
                        if matches!(l, Location::Storage(sa, _) if *sa == a) {
                            *e = SeqEntry::Value(Value::Storage(U256::ZERO));
                        }
                    }
                    st.cleared.insert(a);
                    st.values.insert(loc, SeqEntry::Value(Value::Cleared));
                }
                (_, WriteOp::Set(v)) => {
                    st.values.insert(loc, SeqEntry::Value(v));
                }
                (Location::Account(_), WriteOp::AddBalance(d)) => {
                    let next = match st.values.get(&loc) {
                        Some(SeqEntry::Value(Value::Account(a))) => SeqEntry::Value(Value::Account(fold_delta(*a, d))),
                        Some(SeqEntry::Credit(c)) => SeqEntry::Credit(c.wrapping_add(d)),
                        Some(SeqEntry::Value(_)) => {
                            drop(st);
                            return self.halt(MemoryError::KindMismatch(loc).into());
                        }
                        None => match self.base.get(&loc) {
                            Some(Value::Account(a)) => SeqEntry::Value(Value::Account(fold_delta(a, d))),
                            _ => SeqEntry::Credit(d),
                        },
                    };
                    st.values.insert(loc, next);
                }
                (_, WriteOp::AddBalance(_)) => {
                    drop(st);
                    return self.halt(MemoryError::DeltaOnNonAccount(loc).into());
                }
            }
        }
        st.next_tx += 1;
        drop(st);
        self.busy.store(0, Ordering::Release);
    }

    fn suspend(&self, w: &mut WorkerCtx, _blocker: TxIndex) {
        // Nothing writes ESTIMATEs here, so no read can block.
        w.current = None;
        self.halt(Fallback::Protocol("suspend() in a sequential run"));
    }

    fn halt(&self, reason: Fallback) {
        self.halt.set(reason);
    }

    fn halted(&self) -> Option<Fallback> {
        self.halt.get()
    }

    fn snapshot(&self) -> Result<Vec<(Location, FinalValue)>, Fallback> {
        if let Some(reason) = self.halt.get() {
            return Err(reason);
        }
        let st = self.state.lock();
        if st.next_tx < self.block_size {
            return Err(Fallback::Protocol("snapshot() before the block is done"));
        }
        Ok(st
            .values
            .iter()
            .map(|(loc, e)| {
                let v = match e {
                    SeqEntry::Value(v) => FinalValue::Value(v.clone()),
                    SeqEntry::Credit(d) => match self.base.get(loc) {
                        Some(Value::Account(a)) => FinalValue::Value(Value::Account(fold_delta(a, *d))),
                        _ => FinalValue::AddToBase(*d),
                    },
                };
                (*loc, v)
            })
            .collect())
    }

    fn stats(&self) -> RunStats {
        self.counters.snapshot(self.block_size)
    }

    fn executed(&self) -> usize {
        self.state.lock().next_tx
    }
}
