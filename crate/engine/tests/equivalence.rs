//! Property tests: every generated block, executed by Block-STM at 1, 2, 4 and 8 threads under
//! every scheduling plan (none, dependency hints, shards, both; with and without the retry
//! limit that switches the rest of a block to in-order execution), returns exactly what the
//! sequential executor returns (outputs and final state), and the same again when repeated.
//!
//! The mock transactions are small programs whose next read and whose write locations are
//! derived from the values already read, so their read and write sets change from one
//! incarnation to the next; they credit balances blindly (deltas), read-modify-write accounts,
//! wipe storage, and fail when a read value says so.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parallel_evm_engine::base::{MapBase, SharedBase};
use parallel_evm_engine::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn mix(mut x: u64) -> u64 {
    // splitmix64 finalizer
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn addr(i: u64) -> Address {
    let mut a = [0u8; 20];
    a[12..].copy_from_slice(&i.to_be_bytes());
    a
}

fn slot(i: u64) -> B256 {
    let mut s = [0u8; 32];
    s[24..].copy_from_slice(&i.to_be_bytes());
    s
}

fn low64(v: &Value) -> u64 {
    match v {
        Value::Storage(x) => x.as_limbs()[0],
        Value::Account(Some(a)) => a.balance.as_limbs()[0] ^ a.nonce.rotate_left(17),
        Value::Account(None) => 0xdead,
        Value::Cleared => 0xc1ea,
    }
}

#[derive(Clone, Debug)]
struct MockTx {
    seed: u64,
    reads: u32,
    writes: u32,
    credits: u32,
    rmw_account: bool,
    clear: bool,
    /// Spin this many iterations per read (jitter between threads; does not change results).
    work: u32,
}

struct MockBlock {
    keys: u64,
    accounts: u64,
    /// Storage of this many addresses (address index 1..=storage_addrs); wipes target them.
    storage_addrs: u64,
    fail_modulus: u64,
    txs: Vec<MockTx>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum MockOutput {
    Ok(u64),
    Failed(u64),
}

struct MockVm<'a> {
    block: &'a MockBlock,
    /// Transaction indices that declare they cannot run in parallel.
    refuse: Vec<u32>,
    executions: AtomicU64,
}

impl MockVm<'_> {
    fn storage_loc(&self, h: u64) -> Location {
        let a = 1 + (h >> 32) % self.block.storage_addrs;
        Location::Storage(addr(a), slot(h % self.block.keys))
    }
}

impl Vm for MockVm<'_> {
    type Output = MockOutput;

    fn execute(&self, tx: TxIndex, view: &mut dyn View) -> Result<(WriteSet, MockOutput), ExecError> {
        self.executions.fetch_add(1, Ordering::Relaxed);
        let t = &self.block.txs[tx.idx()];
        if self.refuse.contains(&tx.0) {
            return Err(ExecError::CannotContinueInParallel(format!("mock tx {} refuses", tx.0)));
        }
        let mut h = mix(t.seed);
        let mut writes: WriteSet = Vec::new();
        for _ in 0..t.reads {
            // The location read next depends on everything read so far.
            let v = view.read(&self.storage_loc(h))?;
            h = mix(h ^ low64(&v));
            for _ in 0..t.work {
                std::hint::black_box(h);
            }
        }
        if self.block.fail_modulus > 0 && h % self.block.fail_modulus == 0 {
            return Ok((Vec::new(), MockOutput::Failed(h)));
        }
        if t.rmw_account {
            let loc = Location::Account(addr(100 + h % self.block.accounts));
            let v = view.read(&loc)?;
            h = mix(h ^ low64(&v));
            let mut acc = match v {
                Value::Account(Some(a)) => a,
                _ => AccountInfo::with_balance(U256::ZERO),
            };
            acc.nonce += 1;
            acc.balance = acc.balance.wrapping_add(U256::from(h % 1000));
            writes.push((loc, WriteOp::Set(Value::Account(Some(acc)))));
        }
        let mut written = Vec::new();
        for i in 0..t.writes {
            let loc = self.storage_loc(mix(h ^ (i as u64 + 1)));
            if written.contains(&loc) {
                continue;
            }
            written.push(loc);
            writes.push((loc, WriteOp::Set(Value::Storage(U256::from(mix(h ^ 0x5eed ^ i as u64) % 5)))));
        }
        for i in 0..t.credits {
            let a = Location::Account(addr(100 + mix(t.seed ^ i as u64) % self.block.accounts));
            if !writes.iter().any(|(l, _)| *l == a) {
                writes.push((a, WriteOp::AddBalance(U256::from(1 + mix(h ^ i as u64) % 100))));
            }
        }
        if t.clear {
            let a = 1 + h % self.block.storage_addrs;
            // A wipe discards this transaction's own earlier writes to that address, as the
            // EVM adapter does; writes after the wipe are kept.
            writes.retain(|(l, _)| !matches!(l, Location::Storage(sa, _) if *sa == addr(a)));
            writes.push((Location::StorageClear(addr(a)), WriteOp::Set(Value::Cleared)));
            let loc = Location::Storage(addr(a), slot(h % self.block.keys));
            writes.push((loc, WriteOp::Set(Value::Storage(U256::from(7)))));
        }
        Ok((writes, MockOutput::Ok(h)))
    }
}

fn gen_block(rng: &mut SmallRng) -> (MockBlock, MapBase) {
    let keys = [10u64, 30, 100, 1000][rng.random_range(0..4)];
    let accounts = rng.random_range(1..8u64);
    let storage_addrs = rng.random_range(1..4u64);
    let n = rng.random_range(1..200usize);
    let clear_rate = if rng.random_bool(0.3) { 0.05 } else { 0.0 };
    let txs = (0..n)
        .map(|_| MockTx {
            seed: rng.random(),
            reads: rng.random_range(0..6),
            writes: rng.random_range(0..4),
            credits: if rng.random_bool(0.5) { rng.random_range(0..3) } else { 0 },
            rmw_account: rng.random_bool(0.15),
            clear: rng.random_bool(clear_rate),
            work: if rng.random_bool(0.2) { rng.random_range(0..3000) } else { 0 },
        })
        .collect();
    let fail_modulus = if rng.random_bool(0.5) { rng.random_range(5..40) } else { 0 };
    let mut base = MapBase::default();
    for a in 1..=storage_addrs {
        for k in 0..keys.min(50) {
            if rng.random_bool(0.5) {
                base.0.insert(Location::Storage(addr(a), slot(k)), Value::Storage(U256::from(rng.random_range(1..5u64))));
            }
        }
    }
    for a in 0..accounts {
        if rng.random_bool(0.7) {
            let info = AccountInfo { nonce: rng.random_range(0..5), ..AccountInfo::with_balance(U256::from(rng.random_range(0..1_000u64))) };
            base.0.insert(Location::Account(addr(100 + a)), Value::Account(Some(info)));
        }
    }
    (MockBlock { keys, accounts, storage_addrs, fail_modulus, txs }, base)
}

fn as_map(state: &[(Location, FinalValue)]) -> BTreeMap<String, FinalValue> {
    state.iter().map(|(l, v)| (format!("{l:?}"), v.clone())).collect()
}

fn assert_same(label: &str, seq: &BlockOutput<MockOutput>, par: &BlockOutput<MockOutput>) {
    assert_eq!(seq.outputs, par.outputs, "{label}: outputs differ");
    assert_eq!(as_map(&seq.state), as_map(&par.state), "{label}: final state differs");
}

/// Random (mostly wrong) dependency hints: a plan's predictions must never change a result.
fn random_hints(rng: &mut SmallRng, n: usize) -> Vec<Vec<TxIndex>> {
    (0..n)
        .map(|i| {
            let mut deps = Vec::new();
            if i > 0 && rng.random_bool(0.3) {
                deps.push(TxIndex::from_usize(i - 1));
            }
            if i > 1 && rng.random_bool(0.2) {
                deps.push(TxIndex::from_usize(rng.random_range(0..i)));
            }
            deps
        })
        .collect()
}

fn random_shards(rng: &mut SmallRng, n: usize, workers: usize) -> ShardPlan {
    let shards = rng.random_range(1..=workers as u32 + 1);
    ShardPlan { shard_of: (0..n).map(|_| rng.random_range(0..shards)).collect(), shards, workers: workers as u32 }
}

#[test]
fn parallel_equals_sequential_on_generated_blocks() {
    let blocks: u64 = std::env::var("ENGINE_PROPTEST_BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let mut rng = SmallRng::seed_from_u64(0x5eed_b10c);
    let mut compared = 0;
    let (mut reexecutions, mut waits, mut hint_waits, mut serial, mut txs) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for b in 0..blocks {
        let (block, base) = gen_block(&mut rng);
        let n = block.txs.len();
        let base: Arc<dyn BaseState + Send> = Arc::new(base);
        let vm = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
        let seq = execute_sequential(&vm, n, base.clone()).expect("sequential run");
        assert_eq!(seq.stats.executions as usize, n);
        for threads in [1usize, 2, 4, 8] {
            for variant in 0..4 {
                let plan = Plan {
                    hints: (variant & 1 == 1).then(|| random_hints(&mut rng, n)),
                    shards: (variant & 2 == 2).then(|| random_shards(&mut rng, n, threads)),
                };
                let max_reexecutions = rng.random_bool(0.25).then(|| rng.random_range(0..3));
                let opts = ParallelOptions { threads, max_reexecutions, plan };
                let par = execute_parallel(&vm, n, base.clone(), &opts).expect("parallel run");
                assert!(par.fallback.is_none(), "block {b} fell back: {:?}", par.fallback);
                assert_same(&format!("block {b} threads {threads} plan {variant} limit {max_reexecutions:?}"), &seq, &par);
                reexecutions += par.stats.reexecutions;
                waits += par.stats.dependency_waits;
                hint_waits += par.stats.hint_waits;
                serial += par.stats.serial_from.is_some() as u64;
                txs += n as u64;
                compared += 1;
            }
        }
    }
    // The generator must actually produce conflicts, hint waits and switches to in-order
    // execution, or this test proves little.
    assert!(reexecutions > txs / 50, "too few re-executions ({reexecutions} for {txs} txs)");
    assert!(waits > 0, "no execution ever waited on an ESTIMATE");
    assert!(hint_waits > 0, "no execution ever waited on a hint");
    assert!(serial > 0, "the retry limit never switched a block to in-order execution");
    println!(
        "compared {compared} parallel runs of {blocks} blocks with sequential: 0 mismatches; \
         {reexecutions} re-executions, {waits} dependency waits, {hint_waits} hint waits, \
         {serial} switches to in-order execution over {txs} txs"
    );
    assert_eq!(compared, blocks * 16);
}

/// Every transaction touches the one hot key: a fully dependent block.
fn hot_key_block(n: u64) -> MockBlock {
    MockBlock {
        keys: 1,
        accounts: 1,
        storage_addrs: 1,
        fail_modulus: 0,
        txs: (0..n).map(|i| MockTx { seed: i, reads: 2, writes: 2, credits: 1, rmw_account: true, clear: false, work: 200 }).collect(),
    }
}

#[test]
fn exact_hints_remove_every_reexecution() {
    // Each transaction told to wait for its predecessor starts only once everything it reads
    // is final: no execution is ever wasted, at any thread count.
    let block = hot_key_block(300);
    let base: Arc<dyn BaseState + Send> = Arc::new(MapBase::default());
    let vm = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
    let seq = execute_sequential(&vm, 300, base.clone()).unwrap();
    let hints: Vec<Vec<TxIndex>> = (0..300usize).map(|i| if i == 0 { vec![] } else { vec![TxIndex::from_usize(i - 1)] }).collect();
    for threads in [2usize, 4, 8] {
        let opts = ParallelOptions { threads, max_reexecutions: None, plan: Plan { hints: Some(hints.clone()), shards: None } };
        let par = execute_parallel(&vm, 300, base.clone(), &opts).unwrap();
        assert_same("exact hints", &seq, &par);
        assert_eq!(par.stats.reexecutions, 0, "threads {threads}: {:?}", par.stats);
        assert_eq!(par.stats.validation_aborts, 0);
    }
}

#[test]
fn one_shard_runs_in_order_on_one_worker() {
    // All transactions in one shard: only worker 0 executes, in block order, so nothing it
    // reads can change afterwards; the other workers only validate.
    let block = hot_key_block(200);
    let base: Arc<dyn BaseState + Send> = Arc::new(MapBase::default());
    let vm = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
    let seq = execute_sequential(&vm, 200, base.clone()).unwrap();
    let shards = ShardPlan { shard_of: vec![0; 200], shards: 1, workers: 4 };
    let opts = ParallelOptions { threads: 4, max_reexecutions: None, plan: Plan { hints: None, shards: Some(shards) } };
    let par = execute_parallel(&vm, 200, base.clone(), &opts).unwrap();
    assert_same("one shard", &seq, &par);
    assert_eq!(par.stats.reexecutions, 0, "{:?}", par.stats);
    assert_eq!(par.stats.peak_concurrency, 1);
}

#[test]
fn invalid_plans_are_refused() {
    let base: Arc<dyn BaseState + Send> = Arc::new(MapBase::default());
    let block = hot_key_block(3);
    let vm = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
    let not_lower = Plan { hints: Some(vec![vec![], vec![TxIndex(1)], vec![]]), shards: None };
    let bad_shard = Plan { hints: None, shards: Some(ShardPlan { shard_of: vec![0, 2, 0], shards: 2, workers: 1 }) };
    let short = Plan { hints: Some(vec![vec![]]), shards: None };
    for plan in [not_lower, bad_shard, short] {
        let err = execute_parallel(&vm, 3, base.clone(), &ParallelOptions { threads: 2, max_reexecutions: None, plan }).unwrap_err();
        assert!(matches!(err, Fallback::Plan(_)), "{err}");
    }
}

#[test]
fn repeated_runs_are_deterministic() {
    let mut rng = SmallRng::seed_from_u64(42);
    for _ in 0..20 {
        let (block, base) = gen_block(&mut rng);
        let base: Arc<dyn BaseState + Send> = Arc::new(base);
        let vm = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
        let opts = ParallelOptions { threads: 4, max_reexecutions: None, plan: Plan::default() };
        let first = execute_parallel(&vm, block.txs.len(), base.clone(), &opts).unwrap();
        for _ in 0..5 {
            let again = execute_parallel(&vm, block.txs.len(), base.clone(), &opts).unwrap();
            assert_same("repeat", &first, &again);
        }
    }
}

#[test]
fn vm_refusal_falls_back_to_sequential_with_the_same_result() {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut fell_back = 0;
    for _ in 0..30 {
        let (block, base) = gen_block(&mut rng);
        let n = block.txs.len() as u32;
        let base: Arc<dyn BaseState + Send> = Arc::new(base);
        let reference = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
        let seq = execute_sequential(&reference, block.txs.len(), base.clone()).unwrap();
        // The refusing VM refuses only in parallel: the sequential path is given a fresh VM.
        struct Refusing<'a> {
            inner: MockVm<'a>,
            parallel: std::sync::atomic::AtomicBool,
        }
        impl Vm for Refusing<'_> {
            type Output = MockOutput;
            fn execute(&self, tx: TxIndex, view: &mut dyn View) -> Result<(WriteSet, MockOutput), ExecError> {
                if self.parallel.load(Ordering::Relaxed) && self.inner.refuse.contains(&tx.0) {
                    self.parallel.store(false, Ordering::Relaxed);
                    return Err(ExecError::CannotContinueInParallel("refused".into()));
                }
                let mut plain = MockVm { block: self.inner.block, refuse: vec![], executions: AtomicU64::new(0) };
                plain.refuse.clear();
                plain.execute(tx, view)
            }
        }
        let vm = Refusing {
            inner: MockVm { block: &block, refuse: vec![n / 2], executions: AtomicU64::new(0) },
            parallel: std::sync::atomic::AtomicBool::new(true),
        };
        let par = execute_parallel(&vm, block.txs.len(), base.clone(), &ParallelOptions { threads: 4, max_reexecutions: None, plan: Plan::default() }).unwrap();
        if par.fallback.is_some() {
            fell_back += 1;
        }
        assert_same("refusal", &seq, &par);
    }
    assert_eq!(fell_back, 30, "every block has a refusing transaction and must fall back");
}

#[test]
fn reexecution_limit_runs_the_rest_in_order() {
    // One hot key: every transaction conflicts with the previous one. With a limit of zero
    // re-executions, the first abort switches the rest of the block to in-order execution;
    // the work done before is kept and the result is the same.
    let block = hot_key_block(300);
    let base: Arc<dyn BaseState + Send> = Arc::new(MapBase::default());
    let vm = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
    let seq = execute_sequential(&vm, block.txs.len(), base.clone()).unwrap();
    let mut switched = 0;
    // Whether an abort happens depends on the threads overlapping, which a busy machine can
    // prevent for a few runs: run until the limit has engaged a few times (or give up).
    for _ in 0..200 {
        if switched >= 3 {
            break;
        }
        let opts = ParallelOptions { threads: 4, max_reexecutions: Some(0), plan: Plan::default() };
        let par = execute_parallel(&vm, block.txs.len(), base.clone(), &opts).unwrap();
        assert_same("limit", &seq, &par);
        assert!(par.fallback.is_none(), "the retry limit must not discard the parallel work: {:?}", par.fallback);
        if let Some(tx) = par.stats.serial_from {
            switched += 1;
            assert!(tx < 300);
        }
    }
    // With 4 threads on a single hot key an abort is all but certain in a run.
    assert!(switched > 0, "the limit never engaged in 200 runs");
}

#[test]
fn credits_to_an_unloaded_account_stay_relative() {
    // A lazily loaded base where the credited account is never loaded: the final value must be
    // "base plus the credits", identical in both executors.
    let block = MockBlock {
        keys: 10,
        accounts: 1,
        storage_addrs: 1,
        fail_modulus: 0,
        txs: (0..50).map(|i| MockTx { seed: i, reads: 1, writes: 1, credits: 2, rmw_account: false, clear: false, work: 0 }).collect(),
    };
    let shared = SharedBase::new(false);
    for k in 0..10 {
        shared.insert(Location::Storage(addr(1), slot(k)), Value::Storage(U256::from(k)));
    }
    let base: Arc<dyn BaseState + Send> = Arc::new(shared);
    let vm = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
    let seq = execute_sequential(&vm, block.txs.len(), base.clone()).unwrap();
    let par = execute_parallel(&vm, block.txs.len(), base.clone(), &ParallelOptions { threads: 4, max_reexecutions: None, plan: Plan::default() }).unwrap();
    assert_same("credits", &seq, &par);
    let credited = par.state.iter().find(|(l, _)| *l == Location::Account(addr(100))).expect("credited account");
    assert!(matches!(credited.1, FinalValue::AddToBase(_)), "{:?}", credited.1);
}

#[test]
fn empty_block_is_done_at_once() {
    let block = MockBlock { keys: 1, accounts: 1, storage_addrs: 1, fail_modulus: 0, txs: vec![] };
    let base: Arc<dyn BaseState + Send> = Arc::new(MapBase::default());
    let vm = MockVm { block: &block, refuse: vec![], executions: AtomicU64::new(0) };
    let par = execute_parallel(&vm, 0, base, &ParallelOptions { threads: 3, max_reexecutions: None, plan: Plan::default() }).unwrap();
    assert!(par.outputs.is_empty() && par.state.is_empty());
}

#[test]
fn dependency_graph_follows_the_values_read() {
    use parallel_evm_engine::{ParallelRun, Run, Step, WorkerCtx};
    let slot0 = Location::Storage(addr(1), slot(0));
    let acct = Location::Account(addr(2));
    // tx0, tx1: read-modify-write slot 0 (a chain); tx2: writes slot 1 only (independent);
    // tx3, tx4: credit the account blindly; tx5: reads the account (depends on both credits).
    let run = ParallelRun::new(6, Arc::new(MapBase::default()), None);
    let mut w = WorkerCtx::default();
    loop {
        let v = match run.next(&mut w) {
            Step::Execute(v) => v,
            _ => break,
        };
        let writes: WriteSet = match v.tx.0 {
            0 | 1 => {
                let Value::Storage(x) = run.read(&mut w, &slot0).unwrap() else { panic!() };
                vec![(slot0, WriteOp::Set(Value::Storage(x + U256::from(1u8))))]
            }
            2 => vec![(Location::Storage(addr(1), slot(1)), WriteOp::Set(Value::Storage(U256::from(9u8))))],
            3 | 4 => vec![(acct, WriteOp::AddBalance(U256::from(5u8)))],
            _ => {
                run.read(&mut w, &acct).unwrap();
                vec![]
            }
        };
        run.finish(&mut w, writes);
    }
    let g = run.dependency_graph().expect("graph of a finished parallel run");
    let idx = |v: &[TxIndex]| v.iter().map(|t| t.0).collect::<Vec<_>>();
    assert_eq!(idx(&g[0]), Vec::<u32>::new());
    assert_eq!(idx(&g[1]), vec![0]);
    assert_eq!(idx(&g[2]), Vec::<u32>::new());
    assert_eq!(idx(&g[5]), vec![3, 4]);
}

#[test]
fn executed_counts_progress_and_falls_when_a_validation_reopens_a_transaction() {
    use parallel_evm_engine::{ParallelRun, Run, SequentialRun, Step, WorkerCtx};
    let slot0 = Location::Storage(addr(1), slot(0));
    let rmw = |run: &dyn Run, w: &mut WorkerCtx| {
        let Value::Storage(x) = run.read(w, &slot0).unwrap() else { panic!() };
        vec![(slot0, WriteOp::Set(Value::Storage(x + U256::from(1u8))))]
    };
    let execute = |step: Step| match step {
        Step::Execute(v) => v,
        other => panic!("expected an execution, got {other:?}"),
    };
    // Two read-modify-writes of one slot on two workers driven by hand: tx1 reads before tx0
    // writes, so tx1's validation fails once tx0 finishes, and tx1 runs again.
    let run = ParallelRun::new(2, Arc::new(MapBase::default()), None);
    let (mut a, mut b) = (WorkerCtx::default(), WorkerCtx::default());
    assert_eq!(run.executed(), 0);
    assert_eq!(execute(run.next(&mut a)).tx.0, 0);
    assert_eq!(execute(run.next(&mut b)).tx.0, 1);
    let writes = rmw(&run, &mut b);
    run.finish(&mut b, writes);
    assert_eq!(run.executed(), 1, "tx1 executed, tx0 still running");
    let writes = rmw(&run, &mut a);
    run.finish(&mut a, writes);
    assert_eq!(run.executed(), 2);
    let again = execute(run.next(&mut a));
    assert_eq!((again.tx.0, again.incarnation.0), (1, 1), "tx1 re-executes after its failed validation");
    assert_eq!(run.executed(), 1, "the re-opened transaction no longer counts");
    let writes = rmw(&run, &mut a);
    run.finish(&mut a, writes);
    assert_eq!(run.executed(), 2);
    assert!(!matches!(run.next(&mut a), Step::Execute(_)), "nothing left to execute");
    assert_eq!(run.executed(), 2);

    let seq = SequentialRun::new(3, Arc::new(MapBase::default()));
    let mut w = WorkerCtx::default();
    for i in 0..3 {
        assert_eq!(seq.executed(), i);
        execute(seq.next(&mut w));
        let writes = rmw(&seq, &mut w);
        seq.finish(&mut w, writes);
    }
    assert_eq!(seq.executed(), 3);
}
