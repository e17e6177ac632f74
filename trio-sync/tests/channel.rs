//! Memory channels: rendezvous and buffered semantics, FIFO service, per-handle close,
//! EndOfChannel vs BrokenResource vs ClosedResource, clones, try_* and statistics.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{move_on_after, open_nursery, CancelScope, Error, ErrorKind, Result};
use trio_sync::{open_memory_channel, open_unbounded_memory_channel, SendError};
use trio_testing::{assert_checkpoints, run_autojump, wait_all_tasks_blocked};

fn kind<T>(r: Result<T>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

#[test]
fn rendezvous_send_completes_only_when_a_receiver_takes_the_item() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let sent = Rc::new(RefCell::new(false));
        open_nursery(|n| {
            let sent = sent.clone();
            async move {
                let s = sent.clone();
                n.start_soon(async move {
                    tx.send(1).await?;
                    *s.borrow_mut() = true;
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                assert!(!*sent.borrow(), "no receiver yet: the send waits");
                assert_eq!(rx.statistics().tasks_waiting_send, 1);
                assert_eq!(rx.statistics().current_buffer_used, 0);
                assert_eq!(rx.receive().await?, 1);
                Ok(())
            }
        })
        .await?;
        assert!(*sent.borrow());
        Ok(())
    })
    .unwrap();
}

#[test]
fn try_send_on_rendezvous_needs_a_waiting_receiver() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        assert_eq!(tx.try_send(1).unwrap_err().kind(), ErrorKind::WouldBlock);
        let rx = Rc::new(rx);
        open_nursery(|n| {
            let rx = rx.clone();
            async move {
                n.start_soon(async move {
                    assert_eq!(rx.receive().await?, 2);
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                tx.try_send(2).map_err(Error::from)?; // hands straight to the receiver
                Ok(())
            }
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn buffered_send_waits_only_when_full_and_items_stay_in_order() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(2);
        tx.send(1).await?;
        tx.send(2).await?;
        assert_eq!(tx.try_send(3).unwrap_err().kind(), ErrorKind::WouldBlock);
        let r = move_on_after(Duration::from_secs(1), async {
            tx.send(3).await.map_err(Error::from)
        })
        .await?;
        assert!(r.is_none(), "a full buffer blocks send");
        assert_eq!(rx.receive().await?, 1);
        tx.send(3).await?;
        assert_eq!(rx.receive().await?, 2);
        assert_eq!(rx.receive().await?, 3);
        Ok(())
    })
    .unwrap();
}

#[test]
fn receiving_from_a_full_buffer_admits_the_longest_waiting_sender() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(1);
        tx.send(0).await?;
        open_nursery(|n| async move {
            for i in 1..=3 {
                let tx = tx.clone();
                n.start_soon(async move {
                    tx.send(i).await?;
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
            }
            assert_eq!(rx.statistics().tasks_waiting_send, 3);
            let mut got = vec![];
            for _ in 0..4 {
                got.push(rx.receive().await?);
            }
            assert_eq!(got, [0, 1, 2, 3], "senders are served in arrival order");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn waiting_receivers_are_served_in_arrival_order() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let got = Rc::new(RefCell::new(vec![]));
        open_nursery(|n| {
            let got = got.clone();
            async move {
                for i in 0..3u32 {
                    let (rx, got) = (rx.clone(), got.clone());
                    n.start_soon(async move {
                        let v = rx.receive().await?;
                        got.borrow_mut().push((i, v));
                        Ok(())
                    });
                    wait_all_tasks_blocked().await?;
                }
                for v in [10, 11, 12] {
                    tx.send(v).await?;
                }
                Ok(())
            }
        })
        .await?;
        let mut got = got.borrow().clone();
        got.sort();
        assert_eq!(got, [(0, 10), (1, 11), (2, 12)]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn receivers_drain_the_buffer_then_get_end_of_channel() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(4);
        tx.send(1).await?;
        tx.send(2).await?;
        drop(tx);
        assert_eq!(rx.receive().await?, 1);
        assert_eq!(rx.receive().await?, 2);
        assert_eq!(kind(rx.receive().await), ErrorKind::EndOfChannel);
        assert_eq!(kind(rx.try_receive()), ErrorKind::EndOfChannel);
        Ok(())
    })
    .unwrap();
}

#[test]
fn closing_the_last_sender_wakes_blocked_receivers_with_end_of_channel() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let tx2 = tx.clone();
        open_nursery(|n| async move {
            for _ in 0..2 {
                let rx = rx.clone();
                n.start_soon(async move {
                    assert_eq!(kind(rx.receive().await), ErrorKind::EndOfChannel);
                    Ok(())
                });
            }
            wait_all_tasks_blocked().await?;
            tx.close();
            wait_all_tasks_blocked().await?;
            assert_eq!(
                rx.statistics().tasks_waiting_receive,
                2,
                "one sender is still open"
            );
            tx2.close();
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn closing_every_receiver_breaks_senders_and_drops_the_buffer() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<Rc<()>>(1);
        let witness = Rc::new(());
        tx.send(witness.clone()).await?;
        let back = Rc::new(RefCell::new(None));
        open_nursery(|n| {
            let back = back.clone();
            let witness = witness.clone();
            async move {
                let tx2 = tx.clone();
                n.start_soon(async move {
                    let e = tx2.send(Rc::new(())).await.unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::BrokenResource);
                    *back.borrow_mut() = Some(e.into_inner());
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                drop(rx);
                assert_eq!(
                    Rc::strong_count(&witness),
                    2,
                    "the buffered item was dropped"
                );
                assert_eq!(
                    tx.try_send(Rc::new(())).unwrap_err().kind(),
                    ErrorKind::BrokenResource
                );
                Ok(())
            }
        })
        .await?;
        assert!(
            back.borrow().is_some(),
            "the blocked sender got its item back"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn closing_a_handle_wakes_only_tasks_blocked_on_that_handle() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let rx_a = Rc::new(rx.clone());
        let rx_b = Rc::new(rx);
        open_nursery(|n| {
            let (rx_a, rx_b) = (rx_a.clone(), rx_b.clone());
            async move {
                let a = rx_a.clone();
                n.start_soon(async move {
                    assert_eq!(kind(a.receive().await), ErrorKind::ClosedResource);
                    Ok(())
                });
                let b = rx_b.clone();
                n.start_soon(async move {
                    assert_eq!(b.receive().await?, 9);
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                rx_a.close();
                wait_all_tasks_blocked().await?;
                assert_eq!(rx_b.statistics().tasks_waiting_receive, 1);
                assert_eq!(kind(rx_a.receive().await), ErrorKind::ClosedResource);
                tx.send(9).await?;
                Ok(())
            }
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn closing_a_send_handle_wakes_its_blocked_senders_with_their_items() {
    run_autojump(|| async {
        let (tx, _rx) = open_memory_channel::<String>(0);
        let tx = Rc::new(tx);
        open_nursery(|n| {
            let tx = tx.clone();
            async move {
                let t = tx.clone();
                n.start_soon(async move {
                    let e = t.send("mine".to_string()).await.unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::ClosedResource);
                    assert_eq!(e.into_inner(), "mine");
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                tx.close();
                Ok(())
            }
        })
        .await?;
        assert_eq!(
            tx.try_send("x".into()).unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn clones_are_counted_separately_and_close_is_idempotent() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(1);
        let tx2 = tx.clone();
        let rx2 = rx.clone();
        let s = tx.statistics();
        assert_eq!((s.open_send_channels, s.open_receive_channels), (2, 2));
        tx.close();
        tx.close();
        assert_eq!(rx.statistics().open_send_channels, 1);
        let closed_clone = tx.clone();
        assert!(closed_clone.is_closed());
        assert_eq!(
            rx.statistics().open_send_channels,
            1,
            "a clone of a closed handle is closed"
        );
        tx2.send(5).await?;
        assert_eq!(rx2.receive().await?, 5);
        rx.close();
        tx2.send(6).await?; // rx2 still open
        Ok(())
    })
    .unwrap();
}

#[test]
fn receive_clones_compete_for_items() {
    run_autojump(|| async {
        let (tx, rx) = open_unbounded_memory_channel::<u32>();
        let counts = Rc::new(RefCell::new([0u32; 3]));
        let total = Rc::new(RefCell::new(0u32));
        open_nursery(|n| {
            let (counts, total) = (counts.clone(), total.clone());
            async move {
                for i in 0..3 {
                    let (rx, counts, total) = (rx.clone(), counts.clone(), total.clone());
                    n.start_soon(async move {
                        loop {
                            match rx.receive().await {
                                Ok(v) => {
                                    counts.borrow_mut()[i] += 1;
                                    *total.borrow_mut() += v;
                                }
                                Err(e) if e.kind() == ErrorKind::EndOfChannel => return Ok(()),
                                Err(e) => return Err(e),
                            }
                        }
                    });
                }
                drop(rx);
                for v in 1..=30 {
                    tx.send(v).await?;
                }
                Ok(())
            }
        })
        .await?;
        assert_eq!(
            *total.borrow(),
            (1..=30).sum::<u32>(),
            "each item received once"
        );
        assert_eq!(counts.borrow().iter().sum::<u32>(), 30);
        assert!(
            counts.borrow().iter().all(|&c| c > 0),
            "every clone got some: {:?}",
            counts.borrow()
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn try_operations_never_yield() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(1);
        trio_testing::assert_no_checkpoints(async {
            tx.try_send(1).unwrap();
            assert!(tx.try_send(2).is_err());
            assert_eq!(rx.try_receive().unwrap(), 1);
            assert!(rx.try_receive().is_err());
        })
        .await;
        Ok(())
    })
    .unwrap();
}

#[test]
fn send_and_receive_are_checkpoints_even_when_ready() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(1);
        assert_checkpoints(async { tx.send(1).await.map_err(Error::from) }).await?;
        assert_checkpoints(rx.receive()).await?;
        // In a cancelled scope a ready send does nothing and hands the item back.
        let scope = CancelScope::new();
        scope.handle().cancel();
        let back = scope
            .run(async {
                let e = tx.send(7).await.unwrap_err();
                assert!(e.is_cancelled());
                Ok(e.into_inner())
            })
            .await?;
        assert_eq!(back, Some(7));
        assert_eq!(rx.statistics().current_buffer_used, 0);
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelled_send_returns_the_item_and_delivers_nothing() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<String>(0);
        let mut back = None;
        move_on_after(Duration::from_secs(1), async {
            match tx.send("hello".into()).await {
                Ok(()) => panic!("nobody received"),
                Err(e) => {
                    assert!(e.is_cancelled());
                    back = Some(e.into_inner());
                    Err::<(), _>(Error::cancelled())
                }
            }
        })
        .await?;
        assert_eq!(back.as_deref(), Some("hello"));
        assert_eq!(rx.statistics().tasks_waiting_send, 0);
        assert_eq!(kind(rx.try_receive()), ErrorKind::WouldBlock);
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelled_receive_takes_nothing() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let r = move_on_after(Duration::from_secs(1), rx.receive()).await?;
        assert!(r.is_none());
        assert_eq!(rx.statistics().tasks_waiting_receive, 0);
        assert_eq!(tx.try_send(1).unwrap_err().kind(), ErrorKind::WouldBlock);
        Ok(())
    })
    .unwrap();
}

#[test]
fn handed_over_item_is_reported_received_even_if_cancelled_in_the_same_step() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let got = Rc::new(RefCell::new(None));
        let scope = CancelScope::new();
        let handle = scope.handle();
        open_nursery(|n| {
            let got = got.clone();
            async move {
                n.start_soon(async move {
                    scope
                        .run(async {
                            *got.borrow_mut() = Some(rx.receive().await);
                            Ok(())
                        })
                        .await?;
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                tx.try_send(5).map_err(Error::from)?; // handed over...
                handle.cancel(); // ...before the cancellation is seen
                Ok(())
            }
        })
        .await?;
        assert_eq!(got.borrow_mut().take().map(|r| r.unwrap()), Some(5));
        Ok(())
    })
    .unwrap();
}

#[test]
fn handed_over_send_is_reported_sent_even_if_cancelled_in_the_same_step() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let result = Rc::new(RefCell::new(None));
        let scope = CancelScope::new();
        let handle = scope.handle();
        open_nursery(|n| {
            let result = result.clone();
            async move {
                n.start_soon(async move {
                    scope
                        .run(async {
                            *result.borrow_mut() = Some(tx.send(8).await.is_ok());
                            Ok(())
                        })
                        .await?;
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                assert_eq!(rx.try_receive()?, 8);
                handle.cancel();
                Ok(())
            }
        })
        .await?;
        assert_eq!(*result.borrow(), Some(true));
        Ok(())
    })
    .unwrap();
}

#[test]
fn send_error_converts_into_error_keeping_its_kind() {
    let (tx, rx) = open_memory_channel::<u32>(0);
    let e: SendError<u32> = tx.try_send(1).unwrap_err();
    assert_eq!(Error::from(e).kind(), ErrorKind::WouldBlock);
    drop(rx);
    let e = Error::from(tx.try_send(1).unwrap_err());
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    fn propagate(tx: &trio_sync::MemorySendChannel<u32>) -> Result<()> {
        tx.try_send(1)?;
        Ok(())
    }
    assert_eq!(
        propagate(&tx).unwrap_err().kind(),
        ErrorKind::BrokenResource
    );
}

#[test]
fn statistics_follow_the_channel() {
    run_autojump(|| async {
        let (tx, rx) = open_memory_channel::<u32>(2);
        tx.send(1).await?;
        let s = rx.statistics();
        assert_eq!(s.current_buffer_used, 1);
        assert_eq!(s.max_buffer_size, Some(2));
        assert_eq!(s.tasks_waiting_send, 0);
        assert_eq!(s.tasks_waiting_receive, 0);
        let (_tx, rx) = open_unbounded_memory_channel::<u32>();
        assert_eq!(rx.statistics().max_buffer_size, None);
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_item_holding_a_handle_of_its_own_channel_can_be_dropped_with_the_buffer() {
    // Dropping the buffer drops a sender, whose drop closes the channel re-entrantly.
    struct Holder(#[allow(dead_code)] trio_sync::MemorySendChannel<Holder>);
    let (tx, rx) = open_unbounded_memory_channel::<Holder>();
    let tx2 = tx.clone();
    tx.try_send(Holder(tx2)).unwrap();
    drop(rx);
    assert_eq!(tx.statistics().open_send_channels, 1);
}

#[test]
fn receive_side_is_a_stream_that_ends_at_end_of_channel() {
    run_autojump(|| async {
        use std::future::poll_fn;
        use std::pin::Pin;
        let (tx, mut rx) = open_memory_channel::<u32>(0);
        let mut got = vec![];
        open_nursery(|n| {
            let got = &mut got;
            async move {
                n.start_soon(async move {
                    for i in 0..3 {
                        tx.send(i).await?;
                    }
                    Ok(())
                });
                while let Some(v) =
                    poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut rx), cx)).await
                {
                    got.push(v);
                }
                Ok(())
            }
        })
        .await?;
        assert_eq!(got, [0, 1, 2]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_item_handed_to_a_pending_stream_poll_is_not_lost_when_that_handle_closes() {
    run_autojump(|| async {
        use std::future::poll_fn;
        use std::pin::Pin;
        use std::task::Poll;
        let (tx, rx_a) = open_memory_channel::<u32>(0);
        let rx_b = rx_a.clone();
        let mut rx_a = rx_a;
        poll_fn(|cx| {
            let p = futures_core::Stream::poll_next(Pin::new(&mut rx_a), cx);
            assert!(p.is_pending(), "nothing to receive yet");
            Poll::Ready(())
        })
        .await;
        assert_eq!(tx.statistics().tasks_waiting_receive, 1);
        tx.try_send(5).map_err(Error::from)?; // handed to rx_a's pending poll
        rx_a.close(); // rx_a will never poll again: the item goes back to the channel
        assert_eq!(rx_b.try_receive()?, 5);
        Ok(())
    })
    .unwrap();
}

#[test]
fn aclose_closes_even_when_the_checkpoint_is_cancelled() {
    run_autojump(|| async {
        use trio_core::AsyncResource;
        let (tx, rx) = open_memory_channel::<u32>(1);
        let scope = CancelScope::new();
        scope.handle().cancel();
        let r = scope.run(tx.aclose()).await?;
        assert!(r.is_none(), "the checkpoint raised Cancelled");
        assert!(tx.is_closed());
        assert_eq!(kind(rx.try_receive()), ErrorKind::EndOfChannel);
        rx.aclose().await?;
        assert!(rx.is_closed());
        Ok(())
    })
    .unwrap();
}
