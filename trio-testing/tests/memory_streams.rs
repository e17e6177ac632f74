//! Memory and lockstep streams: data flow, hooks, pump, close semantics, busy detection,
//! cancellation.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    move_on_after, open_nursery, AsyncResource, CancelScope, ErrorKind, HalfCloseableStream,
    ReceiveStream, Result, SendStream,
};
use trio_testing::{
    lockstep_stream_one_way_pair, memory_stream_one_way_pair, memory_stream_pair,
    memory_stream_pump, wait_all_tasks_blocked, MemoryReceiveStream, MemorySendStream,
};

async fn read_all<R: ReceiveStream>(r: &R) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0; 7];
    loop {
        let n = r.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[trio_testing::test(autojump)]
async fn send_stream_buffers_until_fetched() -> Result<()> {
    let s = MemorySendStream::new();
    s.send_all(b"abc").await?;
    s.send_all(b"def").await?;
    assert_eq!(s.buffered(), 6);
    assert_eq!(s.get_data_nowait(Some(2))?, b"ab");
    assert_eq!(s.get_data(None).await?, b"cdef");
    assert_eq!(
        s.get_data_nowait(None).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    s.close();
    assert_eq!(
        s.get_data(None).await?,
        b"",
        "closed and drained: end of stream"
    );
    Ok(())
}

#[trio_testing::test(autojump)]
async fn get_data_waits_for_a_send() -> Result<()> {
    let s = Rc::new(MemorySendStream::new());
    let s2 = s.clone();
    open_nursery(|n| async move {
        n.start_soon(async move {
            assert_eq!(s2.get_data(None).await?, b"late");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        s.send_all(b"late").await
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn hooks_run_at_their_points() -> Result<()> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let s = MemorySendStream::new();
    let r = MemoryReceiveStream::new();
    let l = log.clone();
    s.set_send_all_hook(move || {
        let l = l.clone();
        async move {
            l.borrow_mut().push("send_all");
            Ok(())
        }
    });
    let l = log.clone();
    s.set_wait_send_all_might_not_block_hook(move || {
        let l = l.clone();
        async move {
            l.borrow_mut().push("wait_send");
            Ok(())
        }
    });
    let l = log.clone();
    s.set_close_hook(move || l.borrow_mut().push("send close"));
    let l = log.clone();
    r.set_receive_some_hook(move || {
        let l = l.clone();
        async move {
            l.borrow_mut().push("receive_some");
            Ok(())
        }
    });
    let l = log.clone();
    r.set_close_hook(move || l.borrow_mut().push("receive close"));

    s.send_all(b"x").await?;
    s.wait_send_all_might_not_block().await?;
    r.put_data(b"y")?;
    r.receive_some(&mut [0; 4]).await?;
    s.aclose().await?;
    r.aclose().await?;
    assert_eq!(
        *log.borrow(),
        [
            "send_all",
            "wait_send",
            "receive_some",
            "send close",
            "receive close"
        ]
    );
    s.clear_hooks();
    r.clear_hooks();
    drop((s, r));
    assert_eq!(log.borrow().len(), 5, "cleared hooks do not run on drop");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn a_failing_send_all_hook_fails_send_all() -> Result<()> {
    let s = MemorySendStream::new();
    s.set_send_all_hook(|| async { Err(trio_core::Error::msg("hook says no")) });
    let e = s.send_all(b"x").await.unwrap_err();
    assert!(e.to_string().contains("hook says no"));
    Ok(())
}

#[trio_testing::test(autojump)]
async fn pump_moves_bytes_and_eof() -> Result<()> {
    let s = MemorySendStream::new();
    let r = MemoryReceiveStream::new();
    assert!(!memory_stream_pump(&s, &r, None)?, "nothing to move");
    s.send_all(b"hello").await?;
    assert!(memory_stream_pump(&s, &r, Some(3))?);
    assert_eq!(r.buffered(), 3);
    assert!(memory_stream_pump(&s, &r, None)?);
    s.close();
    assert!(
        memory_stream_pump(&s, &r, None)?,
        "the close is moved as end of stream"
    );
    assert_eq!(read_all(&r).await?, b"hello");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn pump_into_a_closed_receiver_is_broken_resource() -> Result<()> {
    let s = MemorySendStream::new();
    let r = MemoryReceiveStream::new();
    s.send_all(b"x").await?;
    r.close();
    let e = memory_stream_pump(&s, &r, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn one_way_pair_delivers_in_order_then_eof() -> Result<()> {
    let (s, r) = memory_stream_one_way_pair();
    for chunk in [&b"one "[..], b"two ", b"three"] {
        s.send_all(chunk).await?;
    }
    s.aclose().await?;
    assert_eq!(read_all(&r).await?, b"one two three");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn dropping_the_receiver_breaks_the_sender() -> Result<()> {
    let (s, r) = memory_stream_one_way_pair();
    drop(r);
    let e = s.send_all(b"x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn dropping_the_sender_is_end_of_stream() -> Result<()> {
    let (s, r) = memory_stream_one_way_pair();
    s.send_all(b"last words").await?;
    drop(s);
    assert_eq!(read_all(&r).await?, b"last words");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn concurrent_sends_raise_busy_resource() -> Result<()> {
    let s = Rc::new(MemorySendStream::new());
    let kinds = Rc::new(RefCell::new(Vec::new()));
    let (s2, k) = (s.clone(), kinds.clone());
    open_nursery(|n| async move {
        for _ in 0..2 {
            let (s, k) = (s2.clone(), k.clone());
            n.start_soon(async move {
                let r = s.send_all(b"x").await;
                k.borrow_mut().push(r.err().map(|e| e.kind()));
                Ok(())
            });
        }
        Ok(())
    })
    .await?;
    let mut kinds = kinds.borrow().clone();
    kinds.sort();
    assert_eq!(kinds, [None, Some(ErrorKind::BusyResource)]);
    assert_eq!(
        s.get_data_nowait(None)?,
        b"x",
        "only the first send happened"
    );
    Ok(())
}

#[trio_testing::test(autojump)]
async fn a_cancelled_send_all_sends_nothing() -> Result<()> {
    let (s, r) = memory_stream_one_way_pair();
    let scope = CancelScope::new();
    scope.handle().cancel();
    let e = scope.run(s.send_all(b"never")).await;
    assert_eq!(e?, None, "cancelled");
    s.send_all(b"ok").await?;
    s.aclose().await?;
    assert_eq!(read_all(&r).await?, b"ok");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn a_cancelled_receive_takes_nothing() -> Result<()> {
    let (s, r) = memory_stream_one_way_pair();
    let r = Rc::new(r);
    let got = move_on_after(Duration::from_secs(1), {
        let r = r.clone();
        async move { r.receive_some(&mut [0; 4]).await }
    })
    .await?;
    assert_eq!(got, None, "timed out while blocked");
    s.send_all(b"data").await?;
    let mut buf = [0; 4];
    assert_eq!(r.receive_some(&mut buf).await?, 4);
    assert_eq!(&buf, b"data");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn closing_wakes_a_blocked_receiver_with_closed_resource() -> Result<()> {
    let (_s, r) = memory_stream_one_way_pair();
    let r = Rc::new(r);
    let r2 = r.clone();
    open_nursery(|n| async move {
        n.start_soon(async move {
            let e = r2.receive_some(&mut [0; 4]).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource);
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        r.aclose().await
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn pair_send_eof_half_closes() -> Result<()> {
    let (a, b) = memory_stream_pair();
    a.send_all(b"ping").await?;
    a.send_eof().await?;
    assert_eq!(read_all(&b).await?, b"ping");
    assert_eq!(
        a.send_all(b"more").await.unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    b.send_all(b"pong").await?;
    b.send_eof().await?;
    assert_eq!(read_all(&a).await?, b"pong");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn lockstep_send_returns_only_after_everything_was_received() -> Result<()> {
    let (s, r) = lockstep_stream_one_way_pair();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    open_nursery(|n| async move {
        n.start_soon(async move {
            s.send_all(b"abcd").await?;
            d.set(true);
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        assert!(!done.get(), "no buffer: the send waits for a receiver");
        let mut buf = [0; 3];
        assert_eq!(r.receive_some(&mut buf).await?, 3);
        wait_all_tasks_blocked().await?;
        assert!(!done.get(), "one byte is still pending");
        assert_eq!(r.receive_some(&mut buf).await?, 1);
        wait_all_tasks_blocked().await?;
        assert!(done.get());
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn lockstep_receiver_close_breaks_a_blocked_send() -> Result<()> {
    let (s, r) = lockstep_stream_one_way_pair();
    open_nursery(|n| async move {
        n.start_soon(async move {
            let e = s.send_all(b"x").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource);
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        r.aclose().await
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn receive_into_an_empty_buffer_is_an_error() -> Result<()> {
    let (_s, r) = memory_stream_one_way_pair();
    let e = r.receive_some(&mut []).await.unwrap_err();
    assert!(e.to_string().contains("non-empty buffer"), "{e}");
    let (_s, r) = lockstep_stream_one_way_pair();
    assert!(r.receive_some(&mut []).await.is_err());
    Ok(())
}
