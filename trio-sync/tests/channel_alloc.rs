//! A buffered memory channel allocates nothing per send/receive in the steady state
//! (buffer, wait queues and slot table keep their capacity). Checked with a counting
//! global allocator; it counts per thread, so other tests' threads do not interfere (a trio run is one thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;

use trio_core::open_nursery;
use trio_sync::open_memory_channel;

struct Counting;

thread_local! {
    /// `Some(n)`: counting, `n` allocations so far on this thread.
    static ALLOCS: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note_alloc() {
    // `try_with`: the allocator may run while this thread's locals are torn down.
    let _ = ALLOCS.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

fn start_counting() {
    ALLOCS.with(|c| c.set(Some(0)));
}

fn stop_counting() -> usize {
    ALLOCS.with(|c| c.take().unwrap_or(0))
}

// SAFETY: defers every operation to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    start_counting();
    let r = f();
    (r, stop_counting())
}

#[test]
fn the_counting_allocator_counts() {
    let (v, n) = counted(|| Vec::<u64>::with_capacity(8));
    assert!(n >= 1, "a Vec allocation was not counted");
    drop(v);
}

#[test]
fn buffered_send_and_receive_allocate_nothing_in_steady_state() {
    trio_core::run(|| async {
        // Ready path: one task sends and receives through a buffer with room.
        let (tx, rx) = open_memory_channel::<u64>(16);
        for i in 0..64 {
            tx.send(i).await?; // warm up: the buffer reaches its capacity
            rx.receive().await?;
        }
        start_counting();
        for i in 0..1000 {
            tx.send(i).await?;
            assert_eq!(rx.receive().await?, i);
        }
        assert_eq!(stop_counting(), 0, "allocations on the ready path");

        // Blocking path: a producer outruns a consumer through a small buffer, so sends
        // park and are completed by receives (slots are reused).
        let (tx, rx) = open_memory_channel::<u64>(4);
        let (tx, rx) = (Rc::new(tx), Rc::new(rx));
        for round in 0..2 {
            let (t, r) = (tx.clone(), rx.clone());
            let body = async move {
                open_nursery(|n| async move {
                    let t2 = t.clone();
                    n.start_soon(async move {
                        for i in 0..500 {
                            t2.send(i).await?;
                        }
                        Ok(())
                    });
                    for i in 0..500 {
                        assert_eq!(r.receive().await?, i);
                    }
                    Ok(())
                })
                .await
            };
            if round == 0 {
                body.await?; // warm-up round: queues and slots grow once
            } else {
                // Spawning the nursery and its task allocates a fixed amount; the 500
                // items must not add per-item allocations.
                start_counting();
                body.await?;
                let n = stop_counting();
                eprintln!("blocking round: {n} allocations");
                assert!(
                    n < 20,
                    "{n} allocations for 500 blocking sends: not per item"
                );
            }
        }
        Ok(())
    })
    .unwrap();
}
