//! A native mock VM for the engine benchmark: each transaction reads one key, burns a fixed
//! CPU time, and writes the key back incremented. Low contention gives every transaction its
//! own key; high contention makes all of them use key 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use parallel_evm_engine::base::MapBase;
use parallel_evm_engine::*;

const MOCK_ADDRESS: Address = [0x11; 20];

fn slot(i: u32) -> B256 {
    let mut s = [0u8; 32];
    s[28..].copy_from_slice(&i.to_be_bytes());
    s
}

/// Spins the calling thread for `d` of wall time (the threads are not oversubscribed in the
/// benchmark, so this is CPU time).
pub fn burn(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

struct BurnVm {
    burn: Duration,
    high_contention: bool,
}

impl Vm for BurnVm {
    type Output = u64;
    fn execute(&self, tx: TxIndex, view: &mut dyn View) -> std::result::Result<(WriteSet, u64), ExecError> {
        let loc = Location::Storage(MOCK_ADDRESS, slot(if self.high_contention { 0 } else { tx.0 }));
        let Value::Storage(v) = view.read(&loc)? else {
            return Err(ExecError::CannotContinueInParallel("mock read a non-storage value".into()));
        };
        burn(self.burn);
        let next = v + U256::from(1u8);
        Ok((vec![(loc, WriteOp::Set(Value::Storage(next)))], v.as_limbs()[0]))
    }
}

#[napi(object)]
pub struct NativeMockOptions {
    pub transactions: u32,
    pub burn_micros: f64,
    /// `low` (distinct keys) or `high` (one key).
    pub contention: String,
    /// 0 runs the sequential executor.
    pub threads: u32,
}

#[napi(object)]
pub struct NativeMockResult {
    pub wall_ms: f64,
    /// A digest of every output and the final state, to compare runs.
    pub digest: String,
    pub executions: f64,
    pub fell_back: bool,
}

pub struct NativeMockTask(NativeMockOptions);

impl Task for NativeMockTask {
    type Output = NativeMockResult;
    type JsValue = NativeMockResult;

    fn compute(&mut self) -> Result<NativeMockResult> {
        let o = &self.0;
        let high = match o.contention.as_str() {
            "low" => false,
            "high" => true,
            other => return Err(Error::new(Status::InvalidArg, format!("contention must be low or high, not {other:?}"))),
        };
        let vm = BurnVm { burn: Duration::from_secs_f64(o.burn_micros / 1e6), high_contention: high };
        let base: Arc<dyn BaseState + Send> = Arc::new(MapBase::default());
        let n = o.transactions as usize;
        let start = Instant::now();
        let out = if o.threads == 0 {
            execute_sequential(&vm, n, base)
        } else {
            execute_parallel(&vm, n, base, &ParallelOptions { threads: o.threads as usize, ..Default::default() })
        }
        .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut state: Vec<String> = out.state.iter().map(|(l, v)| format!("{l:?}={v:?}")).collect();
        state.sort();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in format!("{:?}{:?}", out.outputs, state).bytes() {
            h = (h ^ byte as u64).wrapping_mul(0x100_0000_01b3);
        }
        Ok(NativeMockResult {
            wall_ms,
            digest: format!("{h:016x}"),
            executions: out.stats.executions as f64,
            fell_back: out.fallback.is_some(),
        })
    }

    fn resolve(&mut self, _env: Env, output: NativeMockResult) -> Result<NativeMockResult> {
        Ok(output)
    }
}

/// Runs a block of native mock transactions off the JS thread (see `NativeMockOptions`).
#[napi(catch_unwind, ts_return_type = "Promise<NativeMockResult>")]
pub fn run_native_mock_block(options: NativeMockOptions) -> AsyncTask<NativeMockTask> {
    AsyncTask::new(NativeMockTask(options))
}
