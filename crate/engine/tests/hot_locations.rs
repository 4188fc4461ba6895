//! Hot locations: once a location has failed two validations, a read of it waits for a lower
//! transaction that is still running (and likely to write it) instead of reading the value
//! that transaction is about to replace. Driven step by step; only the waiting read runs on a
//! second thread.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use parallel_evm_engine::base::MapBase;
use parallel_evm_engine::*;

const COUNTER: Location = Location::Storage([1; 20], [0; 32]);
const OTHER: Location = Location::Storage([2; 20], [0; 32]);

fn storage(n: u64) -> Value {
    Value::Storage(U256::from(n))
}

fn run(txs: usize) -> Arc<ParallelRun> {
    let base = MapBase([(COUNTER, storage(0)), (OTHER, storage(0))].into_iter().collect());
    Arc::new(ParallelRun::new(txs, Arc::new(base), None))
}

/// The worker's next execution (validations run inside `next`).
fn next(r: &ParallelRun, w: &mut WorkerCtx) -> Version {
    match r.next(w) {
        Step::Execute(v) => v,
        s => panic!("worker {} expected an execution, got {s:?}", w.id()),
    }
}

fn read(r: &ParallelRun, w: &mut WorkerCtx, loc: Location) -> u64 {
    match r.read(w, &loc) {
        Ok(Value::Storage(x)) => x.as_limbs()[0],
        other => panic!("read of {loc:?}: {other:?}"),
    }
}

fn finish(r: &ParallelRun, w: &mut WorkerCtx, writes: &[(Location, u64)]) {
    r.finish(w, writes.iter().map(|&(l, n)| (l, WriteOp::Set(storage(n)))).collect());
}

/// Transactions 0-2 increment the counter, all reading it before any writes, so the
/// validations of 1 and 2 fail on it: two failed validations make it hot. Then 1 and 2
/// re-execute in order. Returns three idle workers.
fn make_counter_hot(r: &ParallelRun) -> [WorkerCtx; 3] {
    let mut w = [WorkerCtx::new(0), WorkerCtx::new(1), WorkerCtx::new(2)];
    for (i, ctx) in w.iter_mut().enumerate() {
        assert_eq!(next(r, ctx).tx.0, i as u32);
    }
    for ctx in w.iter_mut() {
        assert_eq!(read(r, ctx, COUNTER), 0);
    }
    for ctx in w.iter_mut() {
        finish(r, ctx, &[(COUNTER, 1)]);
    }
    // Validating 1 finds 0's write, validating 2 finds 1's ESTIMATE: both re-execute.
    let v = next(r, &mut w[0]);
    assert_eq!((v.tx.0, v.incarnation.0), (1, 1));
    let v = next(r, &mut w[1]);
    assert_eq!((v.tx.0, v.incarnation.0), (2, 1));
    assert_eq!(read(r, &mut w[0], COUNTER), 1);
    finish(r, &mut w[0], &[(COUNTER, 2)]);
    assert_eq!(read(r, &mut w[1], COUNTER), 2);
    finish(r, &mut w[1], &[(COUNTER, 3)]);
    w
}

/// Starts `loc`'s read for `w` on another thread; the value arrives on the channel.
fn read_on_thread(r: &Arc<ParallelRun>, mut w: WorkerCtx, loc: Location) -> (mpsc::Receiver<u64>, std::thread::JoinHandle<WorkerCtx>) {
    let (tx, rx) = mpsc::channel();
    let r = Arc::clone(r);
    let h = std::thread::spawn(move || {
        let v = read(&r, &mut w, loc);
        tx.send(v).unwrap();
        w
    });
    (rx, h)
}

/// Reads `loc` for `w` on another thread and returns the value, failing if the read is still
/// waiting after 10 s (a read that should not wait would otherwise hang the test).
fn read_without_waiting(r: &Arc<ParallelRun>, w: WorkerCtx, loc: Location) -> u64 {
    let (value, h) = read_on_thread(r, w, loc);
    let v = value.recv_timeout(Duration::from_secs(10)).expect("the read waited");
    h.join().unwrap();
    v
}

/// Workers `a` and `b` start transactions 3 and 4.
fn start_3_and_4(r: &ParallelRun, a: &mut WorkerCtx, b: &mut WorkerCtx) {
    assert_eq!(next(r, a).tx.0, 3);
    assert_eq!(next(r, b).tx.0, 4);
}

#[test]
fn a_read_of_a_hot_location_waits_for_the_running_transaction_below() {
    let r = run(5);
    let [mut a, mut b, c] = make_counter_hot(&r);
    // 3 starts and has not read yet; 4 starts and reads the counter, whose newest write is
    // 2's: it must wait for 3, which is running.
    start_3_and_4(&r, &mut a, &mut b);
    let (value, h) = read_on_thread(&r, b, COUNTER);
    assert!(value.recv_timeout(Duration::from_millis(200)).is_err(), "read the counter while 3 was running");
    assert_eq!(read(&r, &mut a, COUNTER), 3, "3 reads 2's write without waiting");
    finish(&r, &mut a, &[(COUNTER, 4)]);
    assert_eq!(value.recv_timeout(Duration::from_secs(10)).unwrap(), 4, "4 reads 3's write");
    let mut b = h.join().unwrap();
    finish(&r, &mut b, &[(COUNTER, 5)]);
    for mut w in [a, b, c] {
        assert_eq!(r.next(&mut w), Step::Done);
    }
    // The wait is not 4's own execution time (the dependency graph weighs 4 without it).
    // (The read's thread may start a little after the 200 ms window opens.)
    let waits = r.read_waits().expect("waits of a finished parallel run");
    assert!(waits[4] >= Duration::from_millis(150), "4 waited through most of the 200 ms it was seen blocked, counted {:?}", waits[4]);
    assert_eq!(waits[3], Duration::ZERO, "3 did not wait");
    let stats = r.stats();
    assert_eq!((stats.validation_aborts, stats.reexecutions), (2, 2), "only the two re-executions that made the counter hot");
    assert_eq!(stats.dependency_waits, 1, "the wait of 4 for 3 is counted as a dependency wait");
}

#[test]
fn a_read_of_a_cold_location_does_not_wait() {
    let r = run(5);
    let [mut a, mut b, _c] = make_counter_hot(&r);
    start_3_and_4(&r, &mut a, &mut b);
    // No validation ever failed on OTHER: 4 reads it while 3 runs.
    assert_eq!(read_without_waiting(&r, b, OTHER), 0);
}

#[test]
fn a_transaction_that_executed_without_writing_ends_the_wait() {
    let r = run(6);
    let [mut a, mut b, mut c] = make_counter_hot(&r);
    // 3 runs; 4 executes without touching the counter; 5 reads the counter. Above the newest
    // write (2's), 4 executed and did not write it, so 3 running is no sign of a write.
    start_3_and_4(&r, &mut a, &mut b);
    finish(&r, &mut b, &[(OTHER, 1)]);
    assert_eq!(next(&r, &mut c).tx.0, 5);
    assert_eq!(read_without_waiting(&r, c, COUNTER), 3);
}
