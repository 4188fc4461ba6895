//! Blocks in progress, shared by every JS environment of the process.
//!
//! The main thread creates a `NativeBlock`; worker threads attach to it by id with
//! `NativeWorker` and pull transactions from it synchronously (`next` blocks the worker's own
//! thread, never the main thread). Rust statics are per process while napi exports are per
//! environment, so the registry below is how the main thread's block reaches the workers.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use dashmap::DashMap;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use parallel_evm_engine::base::SharedBase;
use parallel_evm_engine::{
    BaseState, Fallback, Location, ParallelRun, Plan, ReadError, Run, SequentialRun, ShardPlan, Step, TxIndex, Value, WorkerCtx, B256,
};
use parking_lot::Mutex;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::codec::{self, CodecError};

pub struct Session {
    pub run: Box<dyn Run>,
    pub base: Arc<SharedBase>,
    /// Code by hash. Content-addressed, so it needs no versioning: an account's `code_hash`
    /// is what transactions read and validate.
    pub code: DashMap<B256, Arc<[u8]>, FxBuildHasher>,
}

static SESSIONS: LazyLock<Mutex<FxHashMap<u32, Arc<Session>>>> = LazyLock::new(Default::default);
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Bytes of code the process-wide code cache holds before it starts over.
const CODE_CACHE_BYTES: usize = 64 << 20;

/// Code by hash for every block and worker of the process: code a block loaded or deployed
/// stays here after the block, so a later block's worker finds it without asking the main
/// thread (a round trip per code and worker otherwise, and every worker asks for itself).
/// Content-addressed like `Session::code`: only code whose hash was computed or checked goes
/// in, so an entry is never wrong, only possibly gone. Past `CODE_CACHE_BYTES` it is emptied
/// and refills from the next misses (the count is approximate under concurrent puts; that
/// only moves when it empties).
struct CodeCache {
    map: DashMap<B256, Arc<[u8]>, FxBuildHasher>,
    bytes: AtomicUsize,
}

impl CodeCache {
    fn get(&self, hash: &B256) -> Option<Arc<[u8]>> {
        self.map.get(hash).map(|c| c.clone())
    }

    fn put(&self, hash: B256, code: &Arc<[u8]>) {
        if self.map.contains_key(&hash) {
            return;
        }
        let held = self.bytes.fetch_add(code.len(), Ordering::Relaxed) + code.len();
        if held > CODE_CACHE_BYTES {
            self.map.clear();
            self.bytes.store(code.len(), Ordering::Relaxed);
        }
        self.map.insert(hash, code.clone());
    }
}

static CODE_CACHE: LazyLock<CodeCache> =
    LazyLock::new(|| CodeCache { map: DashMap::with_hasher(FxBuildHasher), bytes: AtomicUsize::new(0) });

/// Keeps `code` (whose hash is `hash`) for the block and for later blocks.
fn keep_code(session: &Session, hash: B256, code: &[u8]) {
    let kept = session.code.entry(hash).or_insert_with(|| Arc::from(code)).clone();
    CODE_CACHE.put(hash, &kept);
}

fn load_base(session: &Session, buf: &[u8]) -> std::result::Result<u32, CodecError> {
    let entries = codec::decode_base(buf)?;
    let n = entries.len() as u32;
    for (loc, value) in entries {
        session.base.insert(loc, value);
    }
    Ok(n)
}

fn load_code(session: &Session, hash: &[u8], code: &[u8]) -> Result<()> {
    let hash: B256 = hash.try_into().map_err(|_| Error::new(Status::InvalidArg, "code hash must be 32 bytes"))?;
    keep_code(session, hash, code);
    Ok(())
}

#[napi(object)]
#[derive(Default)]
pub struct NativeBlockOptions {
    /// `parallel` (Block-STM) or `sequential`.
    pub mode: String,
    /// Whether the base state is complete (unlisted accounts do not exist) or loaded on demand.
    pub complete_base: bool,
    /// Retry policy: re-executions of one transaction after which the rest of the block runs
    /// in order.
    pub max_reexecutions: Option<u32>,
    /// Dependency hints (parallel mode): transaction `i` waits for
    /// `hints.preds[hints.offsets[i]..hints.offsets[i + 1]]` before its first execution.
    pub hints: Option<DependencyGraph>,
    /// Sharded dispatch (parallel mode): the shard of each transaction.
    pub shards: Option<NativeShards>,
}

#[napi(object)]
pub struct NativeShards {
    pub shard_of: Uint32Array,
    pub count: u32,
    /// Workers that will attach; worker `w` executes shards `w, w + workers, ...`.
    pub workers: u32,
}

#[napi(object)]
pub struct NativeRunStats {
    pub executions: f64,
    pub reexecutions: f64,
    pub validations: f64,
    pub validation_aborts: f64,
    pub dependency_waits: f64,
    pub dependency_aborts: f64,
    pub hint_waits: f64,
    pub peak_concurrency: f64,
    /// The transaction whose re-executions switched the rest of the block to in-order
    /// execution, if the retry limit engaged.
    pub serial_from: Option<u32>,
}

#[napi(object)]
pub struct DependencyGraph {
    pub offsets: Uint32Array,
    pub preds: Uint32Array,
}

/// A block in progress, owned by the thread that created it.
#[napi]
pub struct NativeBlock {
    id: u32,
    session: Arc<Session>,
}

#[napi]
impl NativeBlock {
    #[napi(constructor, catch_unwind)]
    pub fn new(tx_count: u32, options: NativeBlockOptions) -> Result<Self> {
        let base = Arc::new(SharedBase::new(options.complete_base));
        let shared: Arc<dyn BaseState + Send> = base.clone();
        let n = tx_count as usize;
        let run: Box<dyn Run> = match options.mode.as_str() {
            "parallel" => {
                let plan = plan_of(n, &options)?;
                let run = ParallelRun::with_plan(n, shared, plan, options.max_reexecutions)
                    .map_err(|e| Error::new(Status::InvalidArg, e.to_string()))?;
                Box::new(run)
            }
            "sequential" => Box::new(SequentialRun::new(n, shared)),
            other => return Err(Error::new(Status::InvalidArg, format!("unknown mode {other:?}"))),
        };
        let session = Arc::new(Session { run, base, code: DashMap::with_hasher(FxBuildHasher) });
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        SESSIONS.lock().insert(id, session.clone());
        Ok(NativeBlock { id, session })
    }

    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Loads base-state records (see the codec); returns how many.
    #[napi(catch_unwind)]
    pub fn load_base(&self, buf: Uint8ArraySlice) -> Result<u32> {
        Ok(load_base(&self.session, &buf)?)
    }

    #[napi(catch_unwind)]
    pub fn load_code(&self, hash: Uint8ArraySlice, code: Uint8ArraySlice) -> Result<()> {
        load_code(&self.session, &hash, &code)
    }

    /// The final value of every written location (codec snapshot records), once done.
    #[napi(catch_unwind)]
    pub fn snapshot(&self) -> Result<Buffer> {
        let state = self.session.run.snapshot().map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
        Ok(codec::encode_snapshot(&state).into())
    }

    /// Code written during the block, by hash (returns `null` if unknown).
    #[napi(catch_unwind)]
    pub fn code(&self, hash: Uint8ArraySlice) -> Option<Buffer> {
        let hash: B256 = (&*hash).try_into().ok()?;
        self.session.code.get(&hash).map(|c| c.to_vec().into())
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> NativeRunStats {
        let s = self.session.run.stats();
        NativeRunStats {
            executions: s.executions as f64,
            reexecutions: s.reexecutions as f64,
            validations: s.validations as f64,
            validation_aborts: s.validation_aborts as f64,
            dependency_waits: s.dependency_waits as f64,
            dependency_aborts: s.dependency_aborts as f64,
            hint_waits: s.hint_waits as f64,
            peak_concurrency: s.peak_concurrency as f64,
            serial_from: s.serial_from,
        }
    }

    /// Transactions executed so far while the block runs (see `Run::executed`): in a
    /// parallel run the count can fall when a validation re-opens a transaction.
    #[napi(catch_unwind)]
    pub fn executed(&self) -> u32 {
        self.session.run.executed() as u32
    }

    /// The dependency graph of a finished parallel run, flattened: for transaction `i`, its
    /// direct predecessors are `preds[offsets[i]..offsets[i + 1]]`. `null` for sequential runs.
    #[napi(catch_unwind)]
    pub fn dependency_graph(&self) -> Option<DependencyGraph> {
        let graph = self.session.run.dependency_graph()?;
        let mut offsets = Vec::with_capacity(graph.len() + 1);
        let mut preds = Vec::new();
        offsets.push(0u32);
        for deps in graph {
            preds.extend(deps.iter().map(|t| t.0));
            offsets.push(preds.len() as u32);
        }
        Some(DependencyGraph { offsets: offsets.into(), preds: preds.into() })
    }

    /// Per transaction of a finished parallel run, the microseconds its last finished
    /// incarnation's reads waited for other transactions (an ESTIMATE being rewritten, a hot
    /// location's running writer): not its own execution time. `null` for sequential runs.
    #[napi(catch_unwind)]
    pub fn read_wait_micros(&self) -> Option<Float64Array> {
        let waits = self.session.run.read_waits()?;
        Some(waits.iter().map(|d| d.as_secs_f64() * 1e6).collect::<Vec<_>>().into())
    }

    /// Bytes held by the engine's structures for this block (computed from their sizes and
    /// capacities; the base state and allocator overhead are not included).
    #[napi(catch_unwind)]
    pub fn memory_bytes(&self) -> f64 {
        self.session.run.approx_bytes() as f64
    }

    /// Stops the run: every worker's `next` returns at once. `reason` is kept for `haltReason`.
    #[napi(catch_unwind)]
    pub fn halt(&self, reason: String) {
        self.session.run.halt(Fallback::Vm(reason));
    }

    /// Why the run halted (`null` if it did not). Prefixed `vm:` when a worker or the caller
    /// halted it, `engine:` when an engine invariant broke.
    #[napi(catch_unwind)]
    pub fn halt_reason(&self) -> Option<String> {
        self.session.run.halted().map(|f| match f {
            Fallback::Vm(why) => format!("vm: {why}"),
            other => format!("engine: {other}"),
        })
    }

    /// Removes the block from the registry; workers can no longer attach.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        SESSIONS.lock().remove(&self.id);
    }
}

fn plan_of(n: usize, options: &NativeBlockOptions) -> Result<Plan> {
    let hints = match &options.hints {
        Some(g) => {
            if g.offsets.len() != n + 1 {
                return Err(Error::new(Status::InvalidArg, format!("hints: {} offsets for {n} transactions", g.offsets.len())));
            }
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let (a, b) = (g.offsets[i] as usize, g.offsets[i + 1] as usize);
                let deps = g.preds.get(a..b).ok_or_else(|| Error::new(Status::InvalidArg, "hints: offsets past the predecessors"))?;
                out.push(deps.iter().map(|&d| TxIndex(d)).collect());
            }
            Some(out)
        }
        None => None,
    };
    let shards = options.shards.as_ref().map(|s| ShardPlan { shard_of: s.shard_of.to_vec(), shards: s.count, workers: s.workers });
    Ok(Plan { hints, shards })
}

impl Drop for NativeBlock {
    fn drop(&mut self) {
        SESSIONS.lock().remove(&self.id);
    }
}

/// Return codes of `NativeWorker.read` (the value itself is written into the scratch buffer).
const READ_NOT_LOADED: i32 = -1;
const READ_HALTED: i32 = -2;
/// `read` returns `READ_BLOCKED_BASE - blocker` when an ESTIMATE of `blocker` is in the way.
const READ_BLOCKED_BASE: i32 = -16;
/// `readCredit` adds this to its answer when it recorded a credit read.
const READ_CREDITED: i32 = 2;

/// A read's answer to JS: the value written over `buf` (0: absent account / zero slot, 1:
/// written), or a negative code.
fn answer(read: std::result::Result<Value, ReadError>, buf: &mut [u8]) -> Result<i32> {
    Ok(match read {
        Ok(Value::Account(None)) => 0,
        Ok(Value::Account(Some(a))) => {
            if buf.len() < 104 {
                return Err(Error::new(Status::InvalidArg, "scratch buffer too small"));
            }
            codec::write_account_fields(&a, buf);
            1
        }
        Ok(Value::Storage(x)) if x.is_zero() => 0,
        Ok(Value::Storage(x)) => {
            buf[0..32].copy_from_slice(&x.to_be_bytes::<32>());
            1
        }
        Ok(Value::Cleared) => return Err(Error::new(Status::InvalidArg, "storage wipe markers cannot be read")),
        Err(ReadError::NotLoaded) => READ_NOT_LOADED,
        Err(ReadError::Halted) => READ_HALTED,
        Err(ReadError::Blocked(b)) => READ_BLOCKED_BASE - b.0 as i32,
    })
}

/// `next` returns these when there is no transaction to execute.
const NEXT_DONE: f64 = -1.0;
const NEXT_HALTED: f64 = -2.0;

/// One worker thread's handle on a block.
#[napi]
pub struct NativeWorker {
    session: Arc<Session>,
    ctx: WorkerCtx,
}

#[napi]
impl NativeWorker {
    /// Attaches worker number `worker` (0-based; it picks the shards it executes).
    #[napi(constructor, catch_unwind)]
    pub fn new(block_id: u32, worker: u32) -> Result<Self> {
        let session = SESSIONS
            .lock()
            .get(&block_id)
            .cloned()
            .ok_or_else(|| Error::new(Status::InvalidArg, format!("no native block with id {block_id}")))?;
        Ok(NativeWorker { session, ctx: WorkerCtx::new(worker as usize) })
    }

    /// Blocks until there is a transaction to execute. Returns `tx + incarnation * 2^32`,
    /// or -1 when the block is done, -2 when it halted.
    #[napi(catch_unwind)]
    pub fn next(&mut self) -> f64 {
        match self.session.run.next(&mut self.ctx) {
            Step::Execute(v) => v.tx.0 as f64 + v.incarnation.0 as f64 * 4_294_967_296.0,
            Step::Done => NEXT_DONE,
            Step::Halted => NEXT_HALTED,
        }
    }

    /// Reads the location encoded at the start of `scratch` and writes its value over it:
    /// returns 0 (absent account / zero slot), 1 (value written), or a negative code.
    #[napi(catch_unwind)]
    pub fn read(&mut self, mut scratch: Uint8ArraySlice) -> Result<i32> {
        let buf = unsafe { scratch.as_mut() };
        let loc = codec::decode_location(buf)?;
        answer(self.session.run.read(&mut self.ctx, &loc), buf)
    }

    /// A credit read (see `Run::read_credit`) of the account encoded at the start of
    /// `scratch`, whose balance the transaction only pays into. Answers as `read`, plus
    /// `READ_CREDITED` when the read was recorded as a credit read (the account has no code):
    /// the incarnation must then write a balance delta there, or call `upgradeCredit` first.
    #[napi(catch_unwind)]
    pub fn read_credit(&mut self, mut scratch: Uint8ArraySlice) -> Result<i32> {
        let buf = unsafe { scratch.as_mut() };
        let loc = codec::decode_location(buf)?;
        if !matches!(loc, Location::Account(_)) {
            return Err(Error::new(Status::InvalidArg, "a credit read is of an account"));
        }
        let (read, credited) = match self.session.run.read_credit(&mut self.ctx, &loc) {
            Ok((v, credited)) => (Ok(v), credited),
            Err(e) => (Err(e), false),
        };
        Ok(answer(read, buf)? | if credited { READ_CREDITED } else { 0 })
    }

    /// Turns this incarnation's credit read of the account encoded at the start of `scratch`
    /// into a plain read of the value it returned.
    #[napi(catch_unwind)]
    pub fn upgrade_credit(&mut self, scratch: Uint8ArraySlice) -> Result<()> {
        let loc = codec::decode_location(&scratch)?;
        self.session.run.upgrade_credit(&mut self.ctx, &loc);
        Ok(())
    }

    /// `finish` then `next` in one crossing (the worker loop's common path).
    #[napi(catch_unwind)]
    pub fn finish_next(&mut self, writes: Uint8ArraySlice, len: u32) -> Result<f64> {
        self.finish(writes, len)?;
        Ok(self.next())
    }

    /// Ends the current incarnation with the write-set records in `writes[..len]`.
    #[napi(catch_unwind)]
    pub fn finish(&mut self, writes: Uint8ArraySlice, len: u32) -> Result<()> {
        let bytes = writes.get(..len as usize).ok_or_else(|| Error::new(Status::InvalidArg, "length past the buffer"))?;
        let mut codes = Vec::new();
        let decoded = codec::decode_writes(bytes, &mut codes);
        for blob in codes {
            keep_code(&self.session, blob.hash, blob.code);
        }
        match decoded {
            Ok(ws) => self.session.run.finish(&mut self.ctx, ws),
            Err(e) => {
                // A malformed message is our bug, not the transaction's: stop the run.
                self.session.run.halt(Fallback::Protocol("malformed write set"));
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// The current incarnation starts over (a base value it needed has been loaded).
    #[napi(catch_unwind)]
    pub fn restart(&mut self) {
        self.ctx.restart();
    }

    /// Ends the current incarnation: it read an ESTIMATE of `blocker`.
    #[napi(catch_unwind)]
    pub fn suspend(&mut self, blocker: u32) {
        self.session.run.suspend(&mut self.ctx, parallel_evm_engine::TxIndex(blocker));
    }

    #[napi(catch_unwind)]
    pub fn load_base(&self, buf: Uint8ArraySlice) -> Result<u32> {
        Ok(load_base(&self.session, &buf)?)
    }

    #[napi(catch_unwind)]
    pub fn load_code(&self, hash: Uint8ArraySlice, code: Uint8ArraySlice) -> Result<()> {
        load_code(&self.session, &hash, &code)
    }

    /// Code by hash, if the block or the process-wide cache knows it (`null` otherwise).
    #[napi(catch_unwind)]
    pub fn code(&self, hash: Uint8ArraySlice) -> Option<Buffer> {
        let hash: B256 = (&*hash).try_into().ok()?;
        let code = self.session.code.get(&hash).map(|c| c.clone()).or_else(|| CODE_CACHE.get(&hash))?;
        Some(code.to_vec().into())
    }

    /// Stops the whole run (a worker-side failure that is not a transaction's).
    #[napi(catch_unwind)]
    pub fn halt(&self, reason: String) {
        self.session.run.halt(Fallback::Vm(reason));
    }
}
