//! "Cancel scope enter/exit and a checkpoint allocate nothing in the steady state"
//! (issue 2): a counting global allocator counts the allocations made on the loop's
//! thread while a task runs N iterations, after a warm-up that fills the run's pools.

#![allow(unsafe_code)] // a global allocator is an `unsafe impl`; it only forwards to System

use std::time::Duration;

use trio_core::{
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, current_time, move_on_after,
    move_on_at, open_nursery, sleep, sleep_until, CancelScope, Result,
};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{count_allocations, run_mock, N, WARM_UP};

async fn timeout_around_checkpoint() -> Result<()> {
    let r = move_on_after(Duration::from_secs(3600), checkpoint()).await?;
    debug_assert!(r.is_some());
    Ok(())
}

#[test]
fn a_checkpoint_allocates_nothing_in_the_steady_state() {
    let n = run_mock(|| async {
        for _ in 0..WARM_UP {
            checkpoint().await?;
        }
        count_allocations(|| async {
            for _ in 0..N {
                checkpoint().await?;
                checkpoint_if_cancelled().await?;
                cancel_shielded_checkpoint().await;
            }
            Ok(())
        })
        .await
    });
    assert_eq!(n, 0, "allocations during {N} checkpoints");
}

#[test]
fn cancel_scope_enter_and_exit_allocate_nothing_in_the_steady_state() {
    let n = run_mock(|| async {
        for _ in 0..WARM_UP {
            CancelScope::new().run(checkpoint()).await?;
            timeout_around_checkpoint().await?;
        }
        count_allocations(|| async {
            for _ in 0..N {
                CancelScope::new().run(checkpoint()).await?;
                CancelScope::new()
                    .with_shield(true)
                    .run(checkpoint_if_cancelled())
                    .await?;
            }
            Ok(())
        })
        .await
    });
    assert_eq!(n, 0, "allocations during {N} scope enter/exit");
}

#[test]
fn a_timeout_around_a_checkpoint_allocates_nothing_in_the_steady_state() {
    let n = run_mock(|| async {
        for _ in 0..WARM_UP {
            timeout_around_checkpoint().await?;
        }
        count_allocations(|| async {
            for _ in 0..N {
                timeout_around_checkpoint().await?;
            }
            Ok(())
        })
        .await
    });
    assert_eq!(
        n, 0,
        "allocations during {N} move_on_after(.., checkpoint())"
    );
}

#[test]
fn checkpoints_with_siblings_running_allocate_nothing_in_the_steady_state() {
    // The scheduler itself (run queue, batches, wakers) must not allocate per step.
    let n = run_mock(|| async {
        let count = open_nursery(|nursery| async move {
            for _ in 0..4 {
                nursery.start_soon(async {
                    for _ in 0..(WARM_UP + N + 50) {
                        checkpoint().await?;
                    }
                    Ok(())
                });
            }
            for _ in 0..WARM_UP {
                timeout_around_checkpoint().await?;
            }
            count_allocations(|| async {
                for _ in 0..N {
                    timeout_around_checkpoint().await?;
                }
                Ok(())
            })
            .await
        })
        .await?;
        Ok(count.expect("the body finished"))
    });
    assert_eq!(n, 0, "allocations during {N} steps with siblings");
}

#[test]
fn deadline_scopes_left_at_once_and_sleeps_until_allocate_nothing_in_the_steady_state() {
    // The scope-less sleep (a park with a deadline-queue entry, removed on abort), and a
    // deadline scope whose body never yields (never linked into the tree or the queue).
    let n = run_mock(|| async {
        let round = || async {
            let far = current_time() + Duration::from_secs(3600);
            let r = move_on_at(far, async { Ok(7) }).await?;
            debug_assert_eq!(r, Some(7));
            sleep_until(current_time() + Duration::from_millis(2)).await?;
            let r = move_on_after(Duration::from_millis(1), sleep(Duration::from_secs(9))).await?;
            debug_assert!(r.is_none());
            Ok::<(), trio_core::Error>(())
        };
        for _ in 0..WARM_UP {
            round().await?;
        }
        count_allocations(|| async {
            for _ in 0..N {
                round().await?;
            }
            Ok(())
        })
        .await
    });
    assert_eq!(n, 0, "allocations during {N} rounds");
}

#[test]
fn the_counter_sees_allocations_on_the_loop_thread() {
    // Guards the tests above against a counter that never counts.
    let n = run_mock(|| async {
        count_allocations(|| async {
            for i in 0..10u64 {
                std::hint::black_box(Box::new(i));
            }
            Ok(())
        })
        .await
    });
    assert_eq!(n, 10);
}
