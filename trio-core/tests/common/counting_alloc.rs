//! A counting global allocator for the allocation tests (`alloc.rs`, `error_alloc.rs`):
//! it counts the allocations made on the current thread while counting is on. Each test
//! binary that includes this module installs it as its `#[global_allocator]`.

#![allow(dead_code, unsafe_code)] // binaries use different subsets; the allocator impl is unsafe

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use trio_core::{Result, Runner};
use trio_testing::MockClock;

thread_local! {
    pub static COUNTING: Cell<bool> = const { Cell::new(false) };
    pub static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
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
pub async fn count_allocations<F, Fut>(f: F) -> Result<u64>
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

pub const N: usize = 1_000;
pub const WARM_UP: usize = 200;

pub fn run_mock<Fut>(main: impl FnOnce() -> Fut) -> u64
where
    Fut: std::future::Future<Output = Result<u64>> + 'static,
{
    Runner::new()
        .clock(MockClock::new().with_autojump_threshold(Duration::ZERO))
        .run(main)
        .unwrap()
}
