//! Credit reads: a transaction that only pays into an account without code (the recipient of
//! a plain value transfer) reads it as a credit and writes a balance delta. Validation then
//! checks the account's shape (nonce, code hash, storage root; absent counting as empty) and
//! whether the credit overflows, not the balance, so payments into one deposit address do not
//! conflict. The payment a credit read checks for overflow is the reader's own delta there.
//! Driven step by step on one thread: transaction 1 reads and finishes while 0 is still
//! running, then 0 finishes with `before`'s write, then both workers run to the end.

use std::sync::Arc;

use parallel_evm_engine::base::MapBase;
use parallel_evm_engine::*;

const PAYEE: Location = Location::Account([7; 20]);
const CODE_HASH: B256 = [9; 32];

fn account(nonce: u64, balance: U256, code_hash: B256) -> Value {
    Value::Account(Some(AccountInfo { nonce, balance, code_hash, storage_root: EMPTY_STORAGE_ROOT }))
}

fn eoa(balance: u64) -> Value {
    account(0, U256::from(balance), EMPTY_CODE_HASH)
}

fn run(base: Value) -> ParallelRun {
    ParallelRun::new(2, Arc::new(MapBase([(PAYEE, base)].into_iter().collect())), None)
}

fn next(r: &ParallelRun, w: &mut WorkerCtx) -> Version {
    match r.next(w) {
        Step::Execute(v) => v,
        s => panic!("worker {} expected an execution, got {s:?}", w.id()),
    }
}

/// How a scenario goes: 1 credits `credit` (after `upgrade`, a plain read; a credit of 0 writes
/// nothing, as a payment that failed), and 0, below it, finishes afterwards with `before`.
/// Returns the run, whether 1's read was recorded as a credit read, and the validation aborts.
fn scenario(base: Value, credit: u64, upgrade: bool, before: Vec<(Location, WriteOp)>) -> (ParallelRun, bool, u64) {
    let pay = || if credit == 0 { vec![] } else { vec![(PAYEE, WriteOp::AddBalance(U256::from(credit)))] };
    let r = run(base);
    let (mut a, mut b) = (WorkerCtx::new(0), WorkerCtx::new(1));
    assert_eq!(next(&r, &mut a).tx.0, 0);
    assert_eq!(next(&r, &mut b).tx.0, 1);
    let (_, credited) = r.read_credit(&mut b, &PAYEE).expect("the read");
    if upgrade {
        r.upgrade_credit(&mut b, &PAYEE);
    }
    r.finish(&mut b, pay());
    r.finish(&mut a, before);
    // Validations run inside `next`; a failed one hands 1 out again.
    for w in [&mut a, &mut b] {
        loop {
            match r.next(w) {
                Step::Execute(v) => {
                    assert_eq!(v.tx.0, 1, "only 1 can be re-executed");
                    r.read_credit(w, &PAYEE).expect("the read");
                    r.finish(w, pay());
                }
                Step::Done => break,
                s => panic!("{s:?}"),
            }
        }
    }
    let aborts = r.stats().validation_aborts;
    (r, credited, aborts)
}

fn final_value(r: &ParallelRun) -> Value {
    match r.snapshot().expect("snapshot").into_iter().find(|(l, _)| *l == PAYEE) {
        Some((_, FinalValue::Value(v))) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn another_transactions_debit_of_the_balance_leaves_a_credit_read_valid() {
    let (r, credited, aborts) = scenario(eoa(100), 5, false, vec![(PAYEE, WriteOp::Set(eoa(70)))]);
    assert!(credited);
    assert_eq!(aborts, 0);
    assert_eq!(final_value(&r), eoa(75));
    // In the dependency graph a credit read depends on the newest full write below it (the
    // shape it saw may come from there), not on credits.
    assert_eq!(r.dependency_graph().unwrap()[1], vec![TxIndex(0)]);
}

#[test]
fn another_transactions_credit_leaves_a_credit_read_valid_and_independent() {
    let (r, credited, aborts) = scenario(eoa(100), 5, false, vec![(PAYEE, WriteOp::AddBalance(U256::from(30)))]);
    assert!(credited);
    assert_eq!(aborts, 0);
    assert_eq!(final_value(&r), eoa(135));
    assert!(r.dependency_graph().unwrap()[1].is_empty(), "a credit read does not depend on credits below it");
}

#[test]
fn an_absent_account_counts_as_the_empty_one_a_credit_creates() {
    let (r, credited, aborts) = scenario(Value::Account(None), 5, false, vec![(PAYEE, WriteOp::AddBalance(U256::from(30)))]);
    assert!(credited);
    assert_eq!(aborts, 0);
    assert_eq!(final_value(&r), eoa(35));
}

#[test]
fn a_changed_nonce_code_hash_or_storage_root_invalidates_a_credit_read() {
    let nonce = vec![(PAYEE, WriteOp::Set(account(1, U256::from(100), EMPTY_CODE_HASH)))];
    let code = vec![(PAYEE, WriteOp::Set(account(0, U256::from(100), CODE_HASH)))];
    let root = vec![(PAYEE, WriteOp::Set(Value::Account(Some(AccountInfo { nonce: 0, balance: U256::from(100), code_hash: EMPTY_CODE_HASH, storage_root: [3; 32] }))))];
    let deleted = vec![(PAYEE, WriteOp::Set(Value::Account(None)))];
    for (what, before) in [("nonce", nonce), ("code hash", code), ("storage root", root)] {
        let (_, credited, aborts) = scenario(eoa(100), 5, false, before);
        assert!(credited);
        assert_eq!(aborts, 1, "{what}");
    }
    // Deleting an empty-shaped account leaves the shape a credit sees: the credit recreates it.
    let (r, _, aborts) = scenario(eoa(100), 5, false, deleted);
    assert_eq!(aborts, 0);
    assert_eq!(final_value(&r), eoa(5));
}

#[test]
fn a_credit_that_overflows_now_but_did_not_then_invalidates_it() {
    let near_max = |below: u64| account(0, U256::MAX - U256::from(below), EMPTY_CODE_HASH);
    // Read at MAX - 50, a credit of 30 fits; after 0's credit of 40 it would not.
    let (_, credited, aborts) = scenario(near_max(50), 30, false, vec![(PAYEE, WriteOp::AddBalance(U256::from(40)))]);
    assert!(credited);
    assert_eq!(aborts, 1);
    // A credit of 30 after one of 10 still fits.
    let (_, _, aborts) = scenario(near_max(50), 30, false, vec![(PAYEE, WriteOp::AddBalance(U256::from(10)))]);
    assert_eq!(aborts, 0);
}

#[test]
fn a_credit_read_without_its_own_payment_compares_the_whole_account() {
    // The payment failed (it would have overflowed, say): nothing tells validation what it
    // was, so the read holds only while the account is unchanged.
    let (_, credited, aborts) = scenario(eoa(100), 0, false, vec![(PAYEE, WriteOp::AddBalance(U256::from(30)))]);
    assert!(credited);
    assert_eq!(aborts, 1);
    let (_, _, aborts) = scenario(eoa(100), 0, false, vec![(Location::Account([8; 20]), WriteOp::AddBalance(U256::from(30)))]);
    assert_eq!(aborts, 0);
}

#[test]
fn an_account_with_code_is_read_in_full() {
    let (_, credited, aborts) = scenario(account(1, U256::from(100), CODE_HASH), 5, false, vec![(PAYEE, WriteOp::AddBalance(U256::from(30)))]);
    assert!(!credited, "code may read the balance");
    assert_eq!(aborts, 1);
}

#[test]
fn an_upgraded_credit_read_is_a_plain_read() {
    let (_, credited, aborts) = scenario(eoa(100), 5, true, vec![(PAYEE, WriteOp::AddBalance(U256::from(30)))]);
    assert!(credited);
    assert_eq!(aborts, 1);
}

#[test]
fn a_credit_read_of_a_storage_slot_halts_the_run() {
    let r = run(eoa(1));
    let mut w = WorkerCtx::new(0);
    next(&r, &mut w);
    assert!(matches!(r.read_credit(&mut w, &Location::Storage([7; 20], [0; 32])), Err(ReadError::Halted)));
    assert!(r.halted().is_some());
}
