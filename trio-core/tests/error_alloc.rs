//! "A cancelled sleep or timeout allocates nothing in the steady state": the `Cancelled`
//! error that ends every sleep is stored inline (no box), and the scope nodes, deadline
//! queue and wake-up reuse what the warm-up allocated. A counting global allocator counts
//! the allocations made on the loop's thread.

#![allow(unsafe_code)] // a global allocator is an `unsafe impl`; it only forwards to System

use std::time::Duration;

use trio_core::{
    fail_after, move_on_after, sleep, sleep_forever, Error, ErrorKind, Result, Runner,
};
use trio_testing::MockClock;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{count_allocations, run_mock, ALLOCATIONS, COUNTING, N, WARM_UP};
use std::cell::Cell;

#[test]
fn a_bare_cancelled_error_allocates_nothing() {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let e = std::hint::black_box(Error::cancelled());
    let collapsed = Error::from_errors(vec![Error::cancelled(), Error::cancelled()]);
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        ALLOCATIONS.with(Cell::get),
        1,
        "only the Vec given to from_errors"
    );
    // It behaves exactly as the boxed form did.
    for e in [&e, &collapsed] {
        assert!(e.is_cancelled());
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        assert!(e.contains(ErrorKind::Cancelled));
        assert!(e.group().is_none() && e.message().is_none() && e.source().is_none());
        assert_eq!(e.to_string(), "cancelled");
        assert_eq!(format!("{e:?}"), "Cancelled: cancelled");
    }
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::Interrupted);
}

#[test]
fn a_static_message_error_allocates_nothing_and_matches_error_new() {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let e = std::hint::black_box(Error::from_static(ErrorKind::ClosedResource, &"closed"));
    COUNTING.with(|c| c.set(false));
    assert_eq!(ALLOCATIONS.with(Cell::get), 0);
    let boxed = Error::new(ErrorKind::ClosedResource, "closed");
    for e in [&e, &boxed] {
        assert_eq!(e.kind(), ErrorKind::ClosedResource);
        assert!(!e.is_cancelled() && e.contains(ErrorKind::ClosedResource));
        assert_eq!(e.message(), Some("closed"));
        assert!(e.source().is_none() && e.group().is_none());
        assert!(e.downcast_ref::<std::io::Error>().is_none());
        assert_eq!(e.to_string(), "closed");
        assert_eq!(format!("{e:?}"), "ClosedResource: closed");
    }
    // Even the odd `Group` kind answers as `Error::new` would: a group with no members.
    for g in [
        Error::from_static(ErrorKind::Group, &"g"),
        Error::new(ErrorKind::Group, "g"),
    ] {
        assert_eq!(g.group().map(<[Error]>::len), Some(0));
        assert_eq!(g.to_string(), "g (0 errors:)");
    }
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotConnected);
    assert_eq!(io.to_string(), "closed");
}

#[test]
fn a_cancelled_error_with_a_static_message_is_still_absorbed_by_its_scope() {
    let r = Runner::new()
        .run(|| async {
            move_on_after(Duration::ZERO, async {
                Err::<(), _>(Error::from_static(ErrorKind::Cancelled, &"gone"))
            })
            .await
        })
        .unwrap();
    assert!(r.is_none());
}

#[test]
fn an_error_is_at_most_two_words() {
    assert!(std::mem::size_of::<Error>() <= 16);
    assert_eq!(
        std::mem::size_of::<Result<()>>(),
        std::mem::size_of::<Error>()
    );
}

#[test]
fn a_sleep_cancelled_by_move_on_after_allocates_nothing_in_the_steady_state() {
    let n = run_mock(|| async {
        let forever = || async {
            sleep_forever().await?;
            Ok(())
        };
        for _ in 0..WARM_UP {
            move_on_after(Duration::from_secs(1), forever()).await?;
        }
        count_allocations(|| async {
            for _ in 0..N {
                let r = move_on_after(Duration::from_secs(1), forever()).await?;
                assert!(r.is_none());
            }
            Ok(())
        })
        .await
    });
    assert_eq!(n, 0, "allocations during {N} timed-out sleeps");
}

#[test]
fn sleeps_allocate_nothing_in_the_steady_state() {
    let n = run_mock(|| async {
        for _ in 0..WARM_UP {
            sleep(Duration::from_millis(3)).await?;
        }
        count_allocations(|| async {
            for _ in 0..N {
                sleep(Duration::from_millis(3)).await?;
            }
            Ok(())
        })
        .await
    });
    assert_eq!(n, 0, "allocations during {N} sleeps");
}

#[test]
fn an_expired_fail_after_allocates_nothing_in_the_steady_state() {
    let n = run_mock(|| async {
        let expire = || async {
            let r = fail_after(Duration::from_secs(1), async {
                sleep_forever().await?;
                Ok(())
            })
            .await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::TooSlow);
        };
        for _ in 0..WARM_UP {
            expire().await;
        }
        count_allocations(|| async {
            for _ in 0..N {
                expire().await;
            }
            Ok(())
        })
        .await
    });
    assert_eq!(n, 0, "allocations during {N} expired fail_after");
}

#[test]
fn fail_after_still_reports_too_slow_with_its_message() {
    let e = Runner::new()
        .clock(MockClock::new().with_autojump_threshold(Duration::ZERO))
        .run(|| async { fail_after(Duration::from_secs(1), sleep(Duration::from_secs(2))).await })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooSlow);
    assert_eq!(e.message(), Some("deadline expired (fail_after/fail_at)"));
}
