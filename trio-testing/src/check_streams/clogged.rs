//! The sections that need a *clogged* pair (sends block until the receiver reads):
//! `wait_send_all_might_not_block` timing, `BusyResource` on the send side, and closing
//! while a send-side call is blocked.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use trio_core::{open_nursery, ErrorKind, ReceiveStream, Result, SendStream};

use super::{aclose_forcefully, expect_busy, expect_kind, propagate_cancel, section};
use crate::{assert_checkpoints, wait_all_tasks_blocked};

pub(super) async fn check<S, R, C, CFut>(suite: &'static str, clogged: &mut C) -> Result<()>
where
    S: SendStream + 'static,
    R: ReceiveStream + 'static,
    C: FnMut() -> CFut,
    CFut: Future<Output = Result<(S, R)>>,
{
    let (s, r) = clogged().await?;
    let (s, r) = (Rc::new(s), Rc::new(r));
    section(
        suite,
        "clogged: wait_send_all_might_not_block waits for a receiver",
        async {
            let record: Rc<RefCell<Vec<&str>>> = Rc::default();
            let (s2, r2, rec) = (s.clone(), r.clone(), record.clone());
            open_nursery(|n| async move {
                let cancel = n.cancel_scope();
                let rec2 = rec.clone();
                n.start_soon(async move {
                    rec2.borrow_mut().push("waiter sleeping");
                    let res = assert_checkpoints(s2.wait_send_all_might_not_block()).await;
                    if let Err(e) = res {
                        if propagate_cancel(&e, "wait_send_all_might_not_block") {
                            return Err(e);
                        }
                        panic!("{suite}: wait_send_all_might_not_block failed: {e:?}");
                    }
                    rec2.borrow_mut().push("waiter woke up");
                    cancel.cancel();
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                n.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    rec.borrow_mut().push("receiver starting");
                    let mut buf = vec![0; 16834];
                    loop {
                        r2.receive_some(&mut buf).await?;
                    }
                });
                Ok(())
            })
            .await?;
            assert_eq!(
                *record.borrow(),
                ["waiter sleeping", "receiver starting", "waiter woke up"],
                "{suite}: on a clogged stream, wait_send_all_might_not_block must block \
                 until a receiver calls receive_some"
            );
            Ok(())
        },
    )
    .await?;
    aclose_forcefully(&*s).await;
    aclose_forcefully(&*r).await;

    let (s, r) = clogged().await?;
    let s = Rc::new(s);
    section(suite, "clogged: concurrent send-side calls", async {
        let (a, b) = (s.clone(), s.clone());
        expect_busy(
            "two wait_send_all_might_not_block calls at once",
            async move { a.wait_send_all_might_not_block().await },
            async move { b.wait_send_all_might_not_block().await },
            false,
        )
        .await?;
        let (a, b) = (s.clone(), s.clone());
        expect_busy(
            "wait_send_all_might_not_block and send_all at once",
            async move { a.wait_send_all_might_not_block().await },
            async move { b.send_all(b"123").await },
            false,
        )
        .await
    })
    .await?;
    aclose_forcefully(&*s).await;
    aclose_forcefully(&r).await;

    let (s, r) = clogged().await?;
    let s = Rc::new(s);
    section(suite, "clogged: two concurrent send_all calls", async {
        let (a, b) = (s.clone(), s.clone());
        expect_busy(
            "two send_all calls at once",
            async move { a.send_all(b"123").await },
            async move { b.send_all(b"123").await },
            false,
        )
        .await
    })
    .await?;
    aclose_forcefully(&*s).await;
    aclose_forcefully(&r).await;

    let (s, r) = clogged().await?;
    let (s, r) = (Rc::new(s), Rc::new(r));
    section(
        suite,
        "clogged: closing the receiver releases wait_send_all_might_not_block",
        async {
            let (s2, r2) = (s.clone(), r.clone());
            open_nursery(|n| async move {
                n.start_soon(async move {
                    match assert_checkpoints(s2.wait_send_all_might_not_block()).await {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::BrokenResource => {}
                        Err(e) if propagate_cancel(&e, "wait_send_all_might_not_block") => {
                            return Err(e)
                        }
                        Err(e) => {
                            panic!(
                                "{suite}: wait_send_all_might_not_block when the receiver closes: \
                             expected Ok or BrokenResource, got {e:?}"
                            )
                        }
                    }
                    Ok(())
                });
                n.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    aclose_forcefully(&*r2).await;
                    Ok(())
                });
                Ok(())
            })
            .await?;
            Ok(())
        },
    )
    .await?;
    drop((s, r));

    let (s, r) = clogged().await?;
    section(
        suite,
        "clogged: wait_send_all_might_not_block after the receiver closed",
        async {
            aclose_forcefully(&r).await;
            match assert_checkpoints(s.wait_send_all_might_not_block()).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::BrokenResource => {}
                Err(e) => panic!(
                    "{suite}: wait_send_all_might_not_block after the receiver closed: \
                     expected Ok or BrokenResource, got {e:?}"
                ),
            }
            Ok(())
        },
    )
    .await?;
    drop((s, r));

    for op in ["send_all", "wait_send_all_might_not_block"] {
        let (s, r) = clogged().await?;
        let s = Rc::new(s);
        section(
            suite,
            "clogged: closing wakes a blocked send-side call",
            async {
                let s2 = s.clone();
                let res = open_nursery(|n| async move {
                    n.start_soon(async move {
                        wait_all_tasks_blocked().await?;
                        aclose_forcefully(&*s2).await;
                        Ok(())
                    });
                    Ok(match op {
                        "send_all" => s.send_all(b"xyzzy").await,
                        _ => s.wait_send_all_might_not_block().await,
                    })
                })
                .await?
                .expect("the nursery was not cancelled");
                expect_kind(
                    res,
                    &[ErrorKind::ClosedResource],
                    &format!("{suite}: a blocked {op} when its own stream is closed"),
                )?;
                Ok(())
            },
        )
        .await?;
        drop(r);
    }
    Ok(())
}
