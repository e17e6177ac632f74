//! Checkpoints and scheduling (DESIGN §3 "Checkpoints and scheduling"): `checkpoint`
//! yields and then raises when cancelled, `checkpoint_if_cancelled` only raises,
//! `cancel_shielded_checkpoint` only yields; every blocking operation yields even when it
//! could finish at once (also when it fails at once with `Cancelled`); batches are fair
//! (no task starves others by checkpointing in a loop, and deadlines are served between
//! batches); a seeded shuffle changes the order but not the results.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::*;
use trio_core::lowlevel::current_task;
use trio_core::{
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, current_time, open_nursery,
    sleep, sleep_forever, sleep_until, CancelScope, Error, Result, Runner,
};
use trio_testing::MockClock;

/// Counts how many times a sibling task gets to run while `op` executes once.
async fn sibling_steps_during<F, Fut, T>(op: F) -> Result<(T, u32)>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
    T: 'static,
{
    let steps = Rc::new(Cell::new(0u32));
    let stop = Rc::new(Cell::new(false));
    let (s, st) = (steps.clone(), stop.clone());
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    let fut = op();
    open_nursery(|n| async move {
        n.start_soon(async move {
            while !st.get() {
                s.set(s.get() + 1);
                cancel_shielded_checkpoint().await;
            }
            Ok(())
        });
        // Let the sibling start and count from a known point.
        cancel_shielded_checkpoint().await;
        let before = steps.get();
        let v = fut.await;
        let during = steps.get() - before;
        stop.set(true);
        *o.borrow_mut() = Some((v, during));
        Ok(())
    })
    .await?;
    let v = out.borrow_mut().take().expect("set");
    Ok(v)
}

#[test]
fn checkpoint_yields_to_other_tasks() {
    autojump(|| async {
        let ((), steps) = sibling_steps_during(|| async {
            checkpoint().await.unwrap();
        })
        .await?;
        assert_eq!(steps, 1);
        Ok(())
    })
    .unwrap();
}

#[test]
fn checkpoint_if_cancelled_never_yields() {
    autojump(|| async {
        let (r, steps) = sibling_steps_during(checkpoint_if_cancelled).await?;
        r?;
        assert_eq!(steps, 0);
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancel_shielded_checkpoint_yields_and_never_raises() {
    autojump(|| async {
        let scope = CancelScope::new();
        scope.handle().cancel();
        let r = scope
            .run(async {
                let ((), steps) = CancelScope::new()
                    .with_shield(true)
                    .run(sibling_steps_during(cancel_shielded_checkpoint))
                    .await?
                    .expect("shielded");
                assert_eq!(steps, 1);
                cancel_shielded_checkpoint().await; // inside the cancelled scope: no error
                checkpoint().await
            })
            .await?;
        assert_eq!(r, None);
        Ok(())
    })
    .unwrap();
}

#[test]
fn checkpoint_raises_cancelled_in_a_cancelled_scope_after_yielding() {
    autojump(|| async {
        let cancelled_and_steps = CancelScope::new()
            .with_shield(true)
            .run(sibling_steps_during(|| async {
                let scope = CancelScope::new();
                scope.handle().cancel();
                scope
                    .run(async {
                        let r = checkpoint().await;
                        assert!(r.as_ref().is_err_and(Error::is_cancelled));
                        r
                    })
                    .await
            }))
            .await?
            .expect("shielded");
        let (r, steps) = cancelled_and_steps;
        assert_eq!(r?, None);
        assert_eq!(steps, 1, "checkpoint yields even when it raises");
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_blocking_operation_in_an_already_cancelled_scope_still_yields() {
    // Trio's wait_task_rescheduled goes through the scheduler even when the abort
    // succeeds at once; so a task looping on a cancelled sleep cannot starve others.
    autojump(|| async {
        let (r, steps) = sibling_steps_during(|| async {
            let scope = CancelScope::new();
            scope.handle().cancel();
            scope
                .run(async {
                    for _ in 0..3 {
                        let r = sleep_forever().await;
                        assert!(r.is_err_and(|e| e.is_cancelled()));
                    }
                    Ok(())
                })
                .await
        })
        .await?;
        assert_eq!(r?, Some(()));
        assert_eq!(steps, 3, "each cancelled sleep was a schedule point");
        Ok(())
    })
    .unwrap();
}

#[test]
fn sleeping_zero_or_until_the_past_is_still_a_checkpoint() {
    autojump(|| async {
        sleep(secs(2)).await?;
        let (r, steps) = sibling_steps_during(|| sleep(secs(0))).await?;
        r?;
        assert_eq!(steps, 1);
        let (r, steps) = sibling_steps_during(|| sleep_until(at(1))).await?;
        r?;
        assert!(steps >= 1, "sleep_until(past) yielded");
        assert_eq!(current_time(), at(2));
        let scope = CancelScope::new();
        scope.handle().cancel();
        let r = scope.run(sleep(secs(0))).await?;
        assert_eq!(r, None, "sleep(0) raises Cancelled in a cancelled scope");
        Ok(())
    })
    .unwrap();
}

#[test]
fn checkpoints_are_counted_on_the_task() {
    autojump(|| async {
        let me = current_task();
        let (c0, s0) = (me.cancel_points(), me.schedule_points());
        checkpoint().await?;
        checkpoint_if_cancelled().await?;
        cancel_shielded_checkpoint().await;
        assert_eq!(me.cancel_points() - c0, 2);
        assert_eq!(me.schedule_points() - s0, 2);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_task_spinning_on_checkpoint_does_not_starve_a_sibling() {
    autojump(|| async {
        let flag = Rc::new(Cell::new(false));
        let iterations = Rc::new(Cell::new(0));
        let (f, i) = (flag.clone(), iterations.clone());
        open_nursery(|n| async move {
            let f2 = f.clone();
            n.start_soon(async move {
                while !f.get() && i.get() < 10_000 {
                    i.set(i.get() + 1);
                    checkpoint().await?;
                }
                Ok(())
            });
            n.start_soon(async move {
                checkpoint().await?;
                f2.set(true);
                Ok(())
            });
            Ok(())
        })
        .await?;
        assert!(flag.get());
        assert!(iterations.get() <= 3, "spun {} times", iterations.get());
        Ok(())
    })
    .unwrap();
}

#[test]
fn deadlines_expire_between_batches_even_while_a_task_spins() {
    // No autojump: the clock moves only when the spinner jumps it, and the sleeper must
    // be woken although some task is always runnable.
    let clock = MockClock::new();
    let handle = clock.clone();
    Runner::new()
        .clock(clock)
        .run(move || async move {
            let woke = Rc::new(Cell::new(false));
            let spins = Rc::new(Cell::new(0));
            let (w, s) = (woke.clone(), spins.clone());
            open_nursery(|n| async move {
                let w2 = w.clone();
                n.start_soon(async move {
                    sleep(secs(1)).await?;
                    w2.set(true);
                    Ok(())
                });
                n.start_soon(async move {
                    checkpoint().await?; // the sleeper has registered its deadline
                    handle.jump(secs(2));
                    while !w.get() && s.get() < 10_000 {
                        s.set(s.get() + 1);
                        checkpoint().await?;
                    }
                    Ok(())
                });
                Ok(())
            })
            .await?;
            assert!(woke.get());
            assert!(spins.get() <= 3, "spun {} times", spins.get());
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_task_woken_during_a_batch_runs_in_the_next_batch_after_the_others() {
    // Batch 1 runs a, b, c (spawn order); each re-queues itself. A task is never run twice
    // in one batch, so the log interleaves instead of letting one task run ahead.
    autojump(|| async {
        let log = Rc::new(RefCell::new(Vec::new()));
        open_nursery(|n| {
            let log = log.clone();
            async move {
                for name in ["a", "b", "c"] {
                    let log = log.clone();
                    n.start_soon(async move {
                        for round in 0..3 {
                            log.borrow_mut().push(format!("{name}{round}"));
                            checkpoint().await?;
                        }
                        Ok(())
                    });
                }
                Ok(())
            }
        })
        .await?;
        assert_eq!(
            *log.borrow(),
            ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
        );
        Ok(())
    })
    .unwrap();
}

/// Runs ten tasks that each log their index after a checkpoint; returns the log and
/// the sum the tasks computed.
fn run_ten_tasks(seed: Option<u64>) -> (Vec<usize>, usize) {
    let mut runner = Runner::new().clock(MockClock::new().with_autojump_threshold(secs(0)));
    if let Some(seed) = seed {
        runner = runner.shuffle_seed(seed);
    }
    runner
        .run(|| async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let sum = Rc::new(Cell::new(0));
            open_nursery(|n| {
                let (log, sum) = (log.clone(), sum.clone());
                async move {
                    for i in 0..10 {
                        let (log, sum) = (log.clone(), sum.clone());
                        n.start_soon(async move {
                            checkpoint().await?;
                            log.borrow_mut().push(i);
                            sum.set(sum.get() + i);
                            Ok(())
                        });
                    }
                    Ok(())
                }
            })
            .await?;
            let log = log.borrow().clone();
            Ok((log, sum.get()))
        })
        .unwrap()
}

#[test]
fn the_default_batch_order_is_deterministic_spawn_order() {
    assert_eq!(run_ten_tasks(None).0, (0..10).collect::<Vec<_>>());
    assert_eq!(
        run_ten_tasks(Some(0)).0,
        (0..10).collect::<Vec<_>>(),
        "0 = off"
    );
}

#[test]
fn a_shuffle_seed_changes_the_order_but_not_the_results() {
    let (plain, plain_sum) = run_ten_tasks(None);
    let mut orders = Vec::new();
    for seed in 1..=5 {
        let (order, sum) = run_ten_tasks(Some(seed));
        assert_eq!(sum, plain_sum);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, plain);
        assert_eq!(
            run_ten_tasks(Some(seed)).0,
            order,
            "a seed reproduces its order"
        );
        orders.push(order);
    }
    assert!(
        orders.iter().any(|o| *o != plain),
        "some seed changed the order: {orders:?}"
    );
    orders.dedup();
    assert!(orders.len() > 1, "different seeds give different orders");
}

#[test]
fn closing_a_nursery_is_a_schedule_point_but_not_a_cancel_point() {
    autojump(|| async {
        let scope = CancelScope::new();
        scope.handle().cancel();
        let r = scope
            .run(async {
                let (r, steps) = CancelScope::new()
                    .with_shield(true)
                    .run(sibling_steps_during(|| async {
                        // Cancelled around the nursery, but closing it does not raise.
                        let inner = CancelScope::new();
                        inner.handle().cancel();
                        inner.run(open_nursery(|_n| async { Ok(5) })).await
                    }))
                    .await?
                    .expect("shielded");
                assert_eq!(r?, Some(Some(5)));
                assert_eq!(steps, 1, "closing the nursery yielded once");
                Ok(())
            })
            .await?;
        assert_eq!(r, Some(()));
        Ok(())
    })
    .unwrap();
}

#[test]
fn every_blocking_operation_raises_cancelled_in_a_cancelled_scope_and_still_yields() {
    use std::os::fd::AsRawFd;
    use trio_core::lowlevel::{
        wait_all_tasks_blocked, wait_task_rescheduled, wait_writable, Abort, ParkingLot,
    };

    async fn check<Fut, T>(what: &str, op: impl FnOnce() -> Fut) -> Result<()>
    where
        Fut: std::future::Future<Output = Result<T>>,
        T: 'static,
    {
        let (r, steps) = sibling_steps_during(|| async {
            let scope = CancelScope::new();
            let h = scope.handle();
            h.cancel();
            let fut = op();
            let inner = scope
                .run(async {
                    let r = fut.await;
                    let cancelled = r.as_ref().is_err_and(Error::is_cancelled);
                    Ok(cancelled)
                })
                .await;
            inner
        })
        .await?;
        assert_eq!(r?, Some(true), "{what} raised Cancelled");
        assert!(steps >= 1, "{what} yielded");
        Ok(())
    }

    autojump(|| async {
        sleep(secs(2)).await?;
        let (a, _b) = std::os::unix::net::UnixStream::pair()?;
        let lot = ParkingLot::new();
        check("checkpoint", checkpoint).await?;
        check("sleep(0)", || sleep(secs(0))).await?;
        check("sleep(1s)", || sleep(secs(1))).await?;
        check("sleep_until(past)", || sleep_until(at(1))).await?;
        check("sleep_forever", sleep_forever).await?;
        check("wait_writable(ready fd)", || wait_writable(a.as_raw_fd())).await?;
        check("ParkingLot::park", || lot.park()).await?;
        check("wait_all_tasks_blocked", || wait_all_tasks_blocked(secs(0))).await?;
        check("wait_task_rescheduled", || {
            wait_task_rescheduled(|| Abort::Succeeded)
        })
        .await?;
        assert_eq!(current_time(), at(2));
        assert!(lot.is_empty());
        Ok(())
    })
    .unwrap();
}

#[test]
fn io_readiness_is_polled_between_batches_even_while_a_task_spins() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    autojump(|| async {
        let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
        a.set_nonblocking(true)?;
        let woke = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0));
        let (w, s) = (woke.clone(), spins.clone());
        open_nursery(|n| async move {
            let w2 = w.clone();
            n.start_soon(async move {
                trio_core::lowlevel::wait_readable(a.as_raw_fd()).await?;
                w2.set(true);
                Ok(())
            });
            n.start_soon(async move {
                checkpoint().await?; // the reader is blocked now
                b.write_all(b"x")?;
                while !w.get() && s.get() < 10_000 {
                    s.set(s.get() + 1);
                    checkpoint().await?;
                }
                Ok(())
            });
            Ok(())
        })
        .await?;
        assert!(woke.get());
        assert!(spins.get() <= 3, "spun {} times", spins.get());
        Ok(())
    })
    .unwrap();
}

#[test]
fn foreign_callbacks_run_between_batches_even_while_a_task_spins() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    autojump(|| async {
        let sent = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicBool::new(false));
        let token = trio_core::lowlevel::current_trio_token();
        let (s, r) = (sent.clone(), ran.clone());
        let thread = std::thread::spawn(move || {
            token
                .run_sync_soon(move || r.store(true, Ordering::SeqCst))
                .unwrap();
            s.store(true, Ordering::SeqCst);
        });
        // Spin (always runnable) until the callback was sent ...
        while !sent.load(Ordering::SeqCst) {
            checkpoint().await?;
        }
        // ... then it must run within a batch or two.
        let mut spins = 0;
        while !ran.load(Ordering::SeqCst) && spins < 10_000 {
            spins += 1;
            checkpoint().await?;
        }
        thread.join().unwrap();
        assert!(ran.load(Ordering::SeqCst));
        assert!(spins <= 2, "spun {spins} times");
        Ok(())
    })
    .unwrap();
}
