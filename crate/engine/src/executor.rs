//! Executors over a native `Vm`: N threads driving a `ParallelRun`, and the sequential
//! reference. A parallel run that halts (a broken invariant, or a VM that cannot continue in
//! parallel) is discarded and the block is executed again sequentially.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::mv_memory::{BaseState, FinalValue};
use crate::plan::Plan;
use crate::run::{Fallback, ParallelRun, ReadError, Run, SequentialRun, Step, WorkerCtx};
use crate::stats::RunStats;
use crate::types::*;

/// What a VM sees of the state while it executes one incarnation.
pub trait View {
    fn read(&mut self, loc: &Location) -> Result<Value, ReadError>;
}

/// Why an incarnation produced no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// A read failed; `Blocked` suspends the incarnation, the others end the run.
    Read(ReadError),
    /// The VM cannot execute this transaction in parallel; the block runs sequentially.
    CannotContinueInParallel(String),
}

impl From<ReadError> for ExecError {
    fn from(e: ReadError) -> Self {
        ExecError::Read(e)
    }
}

/// Executes one transaction against a view. It must be a deterministic function of the
/// values it reads: that is what makes the parallel result equal the sequential one.
/// A transaction that fails (reverts, is invalid) is an `Ok` with the failure in its output.
pub trait Vm: Sync {
    type Output: Send + Clone;
    fn execute(&self, tx: TxIndex, view: &mut dyn View) -> Result<(WriteSet, Self::Output), ExecError>;
}

struct RunView<'a> {
    run: &'a dyn Run,
    w: &'a mut WorkerCtx,
}

impl View for RunView<'_> {
    fn read(&mut self, loc: &Location) -> Result<Value, ReadError> {
        self.run.read(self.w, loc)
    }
}

/// The result of a block.
#[derive(Clone, Debug)]
pub struct BlockOutput<O> {
    /// Per transaction, the output of its committed incarnation.
    pub outputs: Vec<O>,
    /// The final value of every written location.
    pub state: Vec<(Location, FinalValue)>,
    pub stats: RunStats,
    /// Set when the parallel run gave up and the block was executed sequentially.
    pub fallback: Option<Fallback>,
}

/// Drives `run` on the calling thread until it is done or halted.
fn drive<V: Vm>(run: &dyn Run, vm: &V, outputs: &[Mutex<Option<V::Output>>], worker: usize) {
    let mut w = WorkerCtx::new(worker);
    loop {
        let version = match run.next(&mut w) {
            Step::Execute(v) => v,
            Step::Done | Step::Halted => return,
        };
        let result = vm.execute(version.tx, &mut RunView { run, w: &mut w });
        match result {
            Ok((writes, output)) => {
                // Incarnations of one transaction never overlap, so the last output stored
                // belongs to the last (committed) incarnation.
                *outputs[version.tx.idx()].lock() = Some(output);
                run.finish(&mut w, writes);
            }
            Err(ExecError::Read(ReadError::Blocked(blocker))) => run.suspend(&mut w, blocker),
            Err(ExecError::Read(ReadError::Halted)) => return,
            Err(ExecError::Read(ReadError::NotLoaded)) => {
                run.halt(Fallback::Vm(format!("base state of a location read by {:?} is not loaded", version.tx)));
                return;
            }
            Err(ExecError::CannotContinueInParallel(why)) => {
                run.halt(Fallback::Vm(why));
                return;
            }
        }
    }
}

fn collect<O>(run: &dyn Run, outputs: Vec<Mutex<Option<O>>>) -> Result<BlockOutput<O>, Fallback> {
    if let Some(reason) = run.halted() {
        return Err(reason);
    }
    let state = run.snapshot()?;
    let outputs = outputs
        .into_iter()
        .map(|o| o.into_inner().ok_or(Fallback::Protocol("a transaction has no output")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BlockOutput { outputs, state, stats: run.stats(), fallback: None })
}

/// Executes the block in order on the calling thread.
pub fn execute_sequential<V: Vm>(
    vm: &V,
    block_size: usize,
    base: Arc<dyn BaseState + Send>,
) -> Result<BlockOutput<V::Output>, Fallback> {
    let run = SequentialRun::new(block_size, base);
    let outputs: Vec<_> = (0..block_size).map(|_| Mutex::new(None)).collect();
    drive(&run, vm, &outputs, 0);
    collect(&run, outputs)
}

/// Options of a parallel execution.
#[derive(Clone, Debug, Default)]
pub struct ParallelOptions {
    pub threads: usize,
    /// Re-executions of one transaction after which the rest of the block runs in order.
    pub max_reexecutions: Option<u32>,
    /// How executions are handed out (default: plain Block-STM).
    pub plan: Plan,
}

/// Executes the block with Block-STM on `threads` native threads. If the parallel run halts,
/// the block is executed sequentially and `fallback` says why; the result is the same either way.
pub fn execute_parallel<V: Vm>(
    vm: &V,
    block_size: usize,
    base: Arc<dyn BaseState + Send>,
    opts: &ParallelOptions,
) -> Result<BlockOutput<V::Output>, Fallback> {
    let run = ParallelRun::with_plan(block_size, base.clone(), opts.plan.clone(), opts.max_reexecutions)?;
    let outputs: Vec<_> = (0..block_size).map(|_| Mutex::new(None)).collect();
    let threads = opts.threads.max(1);
    let panicked = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|worker| {
                let (run, outputs) = (&run, &outputs);
                s.spawn(move || {
                    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drive(run, vm, outputs, worker)));
                    if caught.is_err() {
                        // Let the other threads stop instead of waiting for this one's work.
                        run.halt(Fallback::Vm("a VM thread panicked".into()));
                    }
                    caught.is_err()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(true)).fold(false, |a, b| a | b)
    });
    match collect(&run, outputs) {
        Ok(out) if !panicked => Ok(out),
        Ok(_) => fallback(vm, block_size, base, Fallback::Vm("a VM thread panicked".into())),
        Err(reason) => fallback(vm, block_size, base, reason),
    }
}

fn fallback<V: Vm>(
    vm: &V,
    block_size: usize,
    base: Arc<dyn BaseState + Send>,
    reason: Fallback,
) -> Result<BlockOutput<V::Output>, Fallback> {
    let mut out = execute_sequential(vm, block_size, base)?;
    out.fallback = Some(reason);
    Ok(out)
}
