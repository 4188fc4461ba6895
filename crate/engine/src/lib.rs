//! The parallel-evm engine: Block-STM (multi-version memory + collaborative scheduler) over
//! abstract transactions. No Node and no EVM in here; `cargo test` runs it alone.
//!
//! - [`types`]: transaction indices, versions, locations, values, read and write sets.
//! - [`mv_memory`]: the multi-version memory.
//! - [`scheduler`]: the lock-free collaborative scheduler.
//! - [`plan`]: scheduling plans (dependency hints, shards) over the same scheduler.
//! - [`run`]: one block in progress, pulled by workers (native threads or JS workers).
//! - [`executor`]: native threads over a [`executor::Vm`], and the sequential reference.
//! - [`base`]: base states (the state before the block).

pub mod base;
pub mod executor;
pub mod mv_memory;
pub mod plan;
pub mod run;
pub mod scheduler;
pub mod stats;
pub mod types;

pub use executor::{execute_parallel, execute_sequential, BlockOutput, ExecError, ParallelOptions, View, Vm};
pub use mv_memory::{BaseState, FinalValue};
pub use plan::{Plan, PlanError, ShardPlan};
pub use run::{Fallback, ParallelRun, ReadError, Run, SequentialRun, Step, WorkerCtx};
pub use stats::RunStats;
pub use types::*;
