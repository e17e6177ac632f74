//! No file descriptor is leaked: not by 10 000 connect/close cycles, not by a connect
//! that is cancelled while in progress (it closes its socket). Both tests count this
//! process's open descriptors, so they live alone in this binary and take turns.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Mutex;

use common::fd_count;
use trio_core::{open_nursery, AsyncResource, CancelScope, Listener, Result};
use trio_net::{open_tcp_listeners, open_tcp_listeners_with_backlog, open_tcp_stream};
use trio_testing::wait_all_tasks_blocked;

/// The tests count process-wide descriptors: run them one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn ten_thousand_connect_close_cycles_leak_no_file_descriptors() -> Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // The full 10 000 cycles take about a second on loopback, so no reduction is needed.
    const CYCLES: usize = 10_000;
    trio_core::run(|| async {
        let listeners = open_tcp_listeners(0, Some("127.0.0.1")).await?;
        let listener = &listeners[0];
        let port = listener.local_addr()?.port();
        // One warm-up cycle, so lazily created state (poller entries, the thread pool)
        // is counted in the baseline.
        let c = open_tcp_stream("127.0.0.1", port).await?;
        listener.accept().await?.aclose().await?;
        c.aclose().await?;
        let before = fd_count();
        for i in 0..CYCLES {
            let client = open_tcp_stream("127.0.0.1", port).await?;
            let server = listener.accept().await?;
            // Alternate which side closes first, and which is dropped rather than closed.
            if i % 2 == 0 {
                client.aclose().await?;
                drop(server);
            } else {
                server.aclose().await?;
                drop(client);
            }
        }
        assert_eq!(
            fd_count(),
            before,
            "descriptors leaked over {CYCLES} cycles"
        );
        Ok(())
    })
}

#[test]
fn a_cancelled_connect_closes_its_socket() -> Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    trio_core::run(|| async {
        // A listener that never accepts, with the smallest backlog: once its queue is
        // full the kernel drops further SYNs, so the next connect stays in progress.
        let listeners = open_tcp_listeners_with_backlog(0, Some("127.0.0.1"), 0).await?;
        let port = listeners[0].local_addr()?.port();
        let before_last_attempt = Rc::new(Cell::new(0));
        let connected = Rc::new(Cell::new(0));
        let scope = CancelScope::new();
        let handle = scope.handle();
        let (before2, connected2) = (before_last_attempt.clone(), connected.clone());
        let (before3, connected3) = (before_last_attempt.clone(), connected.clone());
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut streams = Vec::new();
                let r = scope
                    .run(async {
                        loop {
                            before2.set(fd_count());
                            streams.push(open_tcp_stream("127.0.0.1", port).await?);
                            connected2.set(connected2.get() + 1);
                        }
                    })
                    .await?;
                let _: Option<()> = r;
                drop(streams);
                Ok(())
            });
            // Blocked: in a connect that cannot complete.
            wait_all_tasks_blocked().await?;
            assert!(connected3.get() >= 1);
            assert_eq!(fd_count(), before3.get() + 1, "the connecting socket");
            handle.cancel();
            Ok(())
        })
        .await?;
        // The cancelled attempt's socket is gone (the finished ones were dropped too).
        assert_eq!(fd_count(), before_last_attempt.get() - connected.get());
        Ok(())
    })
}
