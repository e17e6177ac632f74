//! The one-way sections of the conformance suites (Trio's `check_one_way_stream`), run
//! on fresh pairs from the maker; the clogged sections are in `clogged.rs`.

use std::future::Future;
use std::rc::Rc;

use trio_core::{open_nursery, CancelScope, ErrorKind, ReceiveStream, Result, SendStream};

use super::{
    aclose_forcefully, checked_aclose, checked_receive, checked_send, expect_busy, expect_kind,
    expect_ok, propagate_cancel, section,
};
use crate::wait_all_tasks_blocked;

/// After the receiver closes, how many 100-byte sends may still succeed before the
/// stream must report `BrokenResource` (buffers in between may absorb some).
const MAX_SENDS_BEFORE_BROKEN: usize = 100_000;

async fn send_until_broken<S: SendStream>(s: &S, what: &str) -> Result<()> {
    for _ in 0..MAX_SENDS_BEFORE_BROKEN {
        match checked_send_result(s).await {
            Ok(()) => continue,
            Err(e) if e.kind() == ErrorKind::BrokenResource => return Ok(()),
            Err(e) if propagate_cancel(&e, what) => return Err(e),
            Err(e) => panic!("{what}: expected BrokenResource, got {e:?}"),
        }
    }
    panic!(
        "{what}: {MAX_SENDS_BEFORE_BROKEN} sends of 100 bytes succeeded after the receiver \
         was closed; expected BrokenResource"
    );
}

async fn checked_send_result<S: SendStream>(s: &S) -> Result<()> {
    crate::assert_checkpoints(s.send_all(&[b'x'; 100])).await
}

/// Sends `data` and receives it in one-byte reads, concurrently.
async fn exchange<S, R>(s: &Rc<S>, r: &Rc<R>, data: &'static [u8], what: &'static str) -> Result<()>
where
    S: SendStream + 'static,
    R: ReceiveStream + 'static,
{
    let (s, r) = (s.clone(), r.clone());
    open_nursery(|n| async move {
        n.start_soon(async move {
            for chunk in [&data[..0], data] {
                checked_send(&*s, chunk, what).await?;
            }
            Ok(())
        });
        let mut got = Vec::new();
        while got.len() < data.len() {
            let chunk = checked_receive(&*r, 1, what).await?;
            assert!(!chunk.is_empty(), "{what}: end of stream after {got:?}");
            got.extend(chunk);
        }
        assert_eq!(
            got, data,
            "{what}: received bytes differ from the bytes sent"
        );
        Ok(())
    })
    .await?;
    Ok(())
}

pub(super) async fn check<S, R, M, Fut, C, CFut>(
    suite: &'static str,
    maker: &mut M,
    clogged: Option<&mut C>,
) -> Result<()>
where
    S: SendStream + 'static,
    R: ReceiveStream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(S, R)>>,
    C: FnMut() -> CFut,
    CFut: Future<Output = Result<(S, R)>>,
{
    let (s, r) = maker().await?;
    let (s, r) = (Rc::new(s), Rc::new(r));
    section(suite, "simple send and receive", async {
        exchange(&s, &r, b"x", "send_all(b\"x\") / receive_some").await?;
        // An empty send is allowed and means nothing.
        exchange(&s, &r, b"y", "send_all(b\"\") then send_all(b\"y\")").await?;
        // A large buffer receives what is there (not waiting to fill it).
        let (s2, r2) = (s.clone(), r.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                checked_send(&*s2, b"x", "send_all").await?;
                Ok(())
            });
            let got = checked_receive(&*r2, 4096, "receive_some with a large buffer").await?;
            assert_eq!(got, b"x", "{suite}: a large receive buffer");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await?;

    section(suite, "receive_some with an empty buffer", async {
        // 0 would mean end of stream, so an empty buffer must be refused (any error).
        let what = "receive_some(&mut [])";
        match r.receive_some(&mut []).await {
            Err(e) if propagate_cancel(&e, what) => return Err(e),
            Err(_) => {}
            Ok(n) => panic!("{suite}: {what} must be refused with an error, got Ok({n})"),
        }
        Ok(())
    })
    .await?;

    section(suite, "concurrent receive_some", async {
        let (a, b) = (r.clone(), r.clone());
        expect_busy(
            "two receive_some calls at once",
            async move { a.receive_some(&mut [0; 1]).await.map(drop) },
            async move { b.receive_some(&mut [0; 1]).await.map(drop) },
            false,
        )
        .await
    })
    .await?;

    section(
        suite,
        "wait_send_all_might_not_block with a receiver waiting",
        async {
            let (s2, r2) = (s.clone(), r.clone());
            open_nursery(|n| async move {
                n.start_soon(async move {
                    let _ = r2.receive_some(&mut [0; 1]).await;
                    Ok(())
                });
                expect_ok(
                    crate::assert_checkpoints(s2.wait_send_all_might_not_block()).await,
                    "wait_send_all_might_not_block while a receiver waits",
                )?;
                n.cancel_scope().cancel();
                Ok(())
            })
            .await?;
            Ok(())
        },
    )
    .await?;

    section(suite, "closing the receiver breaks the sender", async {
        let (s2, r2) = (s.clone(), r.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                send_until_broken(&*s2, "send_all while the receiver closes").await?;
                Ok(())
            });
            checked_aclose(&*r2, "receiver aclose").await?;
            Ok(())
        })
        .await?;
        expect_kind(
            checked_send_result(&*s).await,
            &[ErrorKind::BrokenResource],
            "once broken, the stream stays broken: send_all",
        )?;
        expect_kind(
            r.receive_some(&mut [0; 4096]).await,
            &[ErrorKind::ClosedResource],
            "receive_some on a closed receive stream",
        )?;
        checked_aclose(&*r, "a second aclose of the receiver").await?;
        checked_aclose(&*r, "a third aclose of the receiver").await?;
        checked_aclose(&*s, "sender aclose").await?;
        expect_kind(
            s.send_all(&[b'x'; 100]).await,
            &[ErrorKind::ClosedResource],
            "send_all on a closed send stream",
        )?;
        expect_kind(
            s.send_all(b"").await,
            &[ErrorKind::ClosedResource],
            "an empty send_all on a closed send stream",
        )?;
        expect_kind(
            crate::assert_checkpoints(s.wait_send_all_might_not_block()).await,
            &[ErrorKind::ClosedResource],
            "wait_send_all_might_not_block on a closed send stream",
        )?;
        checked_aclose(&*s, "a second aclose of the sender").await?;
        checked_aclose(&*s, "a third aclose of the sender").await?;
        Ok(())
    })
    .await?;
    drop((s, r));

    let (s, r) = maker().await?;
    let (s, r) = (Rc::new(s), Rc::new(r));
    section(
        suite,
        "send, then graceful close: data, then end of stream",
        async {
            let (s2, r2) = (s.clone(), r.clone());
            open_nursery(|n| async move {
                n.start_soon(async move {
                    checked_send(&*s2, b"y", "send_all").await?;
                    checked_aclose(&*s2, "sender aclose").await?;
                    Ok(())
                });
                // Let the sender get as far as it can before reading.
                wait_all_tasks_blocked().await?;
                let got = checked_receive(&*r2, 1, "receive_some").await?;
                assert_eq!(
                    got, b"y",
                    "{suite}: data sent before a graceful close is lost"
                );
                let got = checked_receive(&*r2, 1, "receive_some after the sender closed").await?;
                assert!(
                    got.is_empty(),
                    "{suite}: after the data, expected end of stream, got {got:?}"
                );
                checked_aclose(&*r2, "receiver aclose").await?;
                Ok(())
            })
            .await?;
            Ok(())
        },
    )
    .await?;
    drop((s, r));

    let (s, r) = maker().await?;
    section(suite, "forceful close of the receiver", async {
        aclose_forcefully(&r).await;
        send_until_broken(&s, "send_all after the receiver was closed").await?;
        expect_kind(
            r.receive_some(&mut [0; 4096]).await,
            &[ErrorKind::ClosedResource],
            "receive_some after a forceful close",
        )?;
        Ok(())
    })
    .await?;
    drop((s, r));

    let (s, r) = maker().await?;
    section(suite, "forceful close of the sender", async {
        aclose_forcefully(&s).await;
        expect_kind(
            s.send_all(b"123").await,
            &[ErrorKind::ClosedResource],
            "send_all after a forceful close",
        )?;
        // The receiver may see a clean end of stream or BrokenResource; not data, and
        // not a hang.
        let mut buf = [0; 1];
        match crate::assert_checkpoints(r.receive_some(&mut buf)).await {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::BrokenResource => {}
            Err(e) if propagate_cancel(&e, "receive_some after the sender closed") => {
                return Err(e)
            }
            other => panic!(
                "{suite}: after the sender closed forcefully, receive_some should give end \
                 of stream or BrokenResource, got {other:?}"
            ),
        }
        Ok(())
    })
    .await?;
    drop((s, r));

    let (s, r) = maker().await?;
    section(suite, "a cancelled aclose still closes", async {
        aclose_forcefully(&r).await;
        aclose_forcefully(&s).await;
        expect_kind(
            checked_send_result(&s).await,
            &[ErrorKind::ClosedResource],
            "send_all after a cancelled aclose",
        )?;
        expect_kind(
            r.receive_some(&mut [0; 4096]).await,
            &[ErrorKind::ClosedResource],
            "receive_some after a cancelled aclose",
        )?;
        Ok(())
    })
    .await?;
    drop((s, r));

    let (s, r) = maker().await?;
    let (s, r) = (Rc::new(s), Rc::new(r));
    section(suite, "operations in a cancelled scope", async {
        let scope = CancelScope::new();
        scope.handle().cancel();
        let (s2, r2) = (s.clone(), r.clone());
        scope
            .run(open_nursery(|n| async move {
                n.start_soon(async move {
                    let res = s2.send_all(b"x").await;
                    assert!(
                        res.as_ref().is_err_and(|e| e.is_cancelled()),
                        "{suite}: send_all in a cancelled scope must be cancelled, got {res:?}"
                    );
                    Ok(())
                });
                n.start_soon(async move {
                    let res = r2.receive_some(&mut [0; 1]).await;
                    assert!(
                        res.as_ref().is_err_and(|e| e.is_cancelled()),
                        "{suite}: receive_some in a cancelled scope must be cancelled, got {res:?}"
                    );
                    Ok(())
                });
                Ok(())
            }))
            .await?;
        // The stream can still be closed gracefully afterwards.
        let (s2, r2) = (s.clone(), r.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                checked_aclose(&*s2, "sender aclose after cancelled operations").await?;
                Ok(())
            });
            checked_aclose(&*r2, "receiver aclose after cancelled operations").await?;
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await?;
    drop((s, r));

    let (s, r) = maker().await?;
    let r = Rc::new(r);
    let r1 = r.clone();
    section(suite, "closing wakes a blocked receive_some", async {
        let (r, r2) = (r1.clone(), r1);
        open_nursery(|n| async move {
            n.start_soon(async move {
                expect_kind(
                    r2.receive_some(&mut [0; 10]).await,
                    &[ErrorKind::ClosedResource],
                    "a receive_some blocked when its stream is closed",
                )?;
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            aclose_forcefully(&*r).await;
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await?;
    drop((s, r));

    if let Some(clogged) = clogged {
        super::clogged::check(suite, clogged).await?;
    }
    Ok(())
}
