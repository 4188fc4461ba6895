//! Serial mode at the level of the scheduler, driven step by step from one thread: the first
//! worker to find an execution there runs the rest of the block; every other worker is benched.

use parallel_evm_engine::scheduler::{Scheduler, Task};

#[test]
fn serial_mode_gives_the_rest_of_the_block_to_one_worker() {
    let s = Scheduler::new(5);
    s.enter_serial_mode();
    let (serial, others) = (2usize, [0usize, 1, 3]);
    let mut executed = Vec::new();
    let mut idle_polls = 0;
    while !s.done() {
        match s.next_task(serial) {
            Some(Task::Execute(v)) => {
                // While the serial worker executes, and after it finished, nobody
                // else gets work.
                for w in others {
                    assert!(s.next_task(w).is_none(), "worker {w} got a task during tx {}", v.tx.0);
                }
                executed.push(v.tx.0);
                let mut pending = s.finish_execution(v, true).unwrap();
                for w in others {
                    assert!(s.next_task(w).is_none(), "worker {w} got a task after tx {}", v.tx.0);
                }
                while let Some(task) = pending {
                    let Task::Validate(v) = task else { panic!("a finished execution handed out an execution") };
                    pending = s.finish_validation(v.tx, false, serial).unwrap();
                }
            }
            Some(Task::Validate(v)) => {
                assert!(s.finish_validation(v.tx, false, serial).unwrap().is_none());
            }
            None => {
                idle_polls += 1;
                assert!(idle_polls < 100, "the serial worker found nothing to do before the block was done");
            }
        }
    }
    assert_eq!(executed, vec![0, 1, 2, 3, 4], "serial mode runs every transaction once, in order");
    for w in others {
        assert!(s.next_task(w).is_none());
    }
}

/// Polls `worker` until it gets an execution, finishing any validations on the way; `None`
/// if it gets none in 100 polls.
fn next_execution(s: &Scheduler, worker: usize) -> Option<u32> {
    for _ in 0..100 {
        match s.next_task(worker) {
            Some(Task::Execute(v)) => return Some(v.tx.0),
            Some(Task::Validate(v)) => assert!(s.finish_validation(v.tx, false, worker).unwrap().is_none()),
            None if s.done() => return None,
            None => {}
        }
    }
    None
}

fn finish(s: &Scheduler, worker: usize, tx: u32) {
    let v = parallel_evm_engine::Version { tx: parallel_evm_engine::TxIndex(tx), incarnation: parallel_evm_engine::Incarnation(0) };
    let mut pending = s.finish_execution(v, true).unwrap();
    while let Some(Task::Validate(v)) = pending {
        pending = s.finish_validation(v.tx, false, worker).unwrap();
    }
}

#[test]
fn executions_begun_before_serial_mode_finish_where_they_run() {
    let s = Scheduler::new(4);
    assert_eq!(next_execution(&s, 0), Some(0));
    assert_eq!(next_execution(&s, 1), Some(1));
    s.enter_serial_mode();
    finish(&s, 0, 0);
    // Transaction 2 waits for 1, which worker 1 is still running: worker 0 may validate, but
    // gets no execution, and nobody is chosen yet.
    assert_eq!(next_execution(&s, 0), None);
    finish(&s, 1, 1);
    // Worker 1 asks first and keeps the rest of the block; worker 0 is benched for good.
    assert_eq!(next_execution(&s, 1), Some(2));
    assert!(s.next_task(0).is_none());
    finish(&s, 1, 2);
    assert!(s.next_task(0).is_none());
    assert_eq!(next_execution(&s, 1), Some(3));
    finish(&s, 1, 3);
    assert_eq!(next_execution(&s, 1), None);
    assert!(s.done());
}
