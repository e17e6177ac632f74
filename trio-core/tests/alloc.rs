//! "Cancel scope enter/exit and a checkpoint allocate nothing in the steady state"
//! (issue 2): a counting global allocator counts the allocations made on the loop's
//! thread while a task runs N iterations, after a warm-up that fills the run's pools.

#![allow(unsafe_code)] // a global allocator is an `unsafe impl`; it only forwards to System

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use trio_core::{
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, move_on_after, open_nursery,
    CancelScope, Result, Runner,
};
use trio_testing::MockClock;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counting touches only const-initialised thread-locals,
// which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is (see the impl's comment).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made on this thread while `f` runs (synchronously, between awaits).
async fn count_allocations<F, Fut>(f: F) -> Result<u64>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f().await;
    COUNTING.with(|c| c.set(false));
    r?;
    Ok(ALLOCATIONS.with(Cell::get))
}

const N: usize = 1_000;
const WARM_UP: usize = 200;

fn run_mock<Fut>(main: impl FnOnce() -> Fut) -> u64
where
    Fut: std::future::Future<Output = Result<u64>> + 'static,
{
    Runner::new()
        .clock(MockClock::new().with_autojump_threshold(Duration::ZERO))
        .run(main)
        .unwrap()
}

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
