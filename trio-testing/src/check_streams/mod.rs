//! The stream conformance suites: `check_one_way_stream`, `check_two_way_stream`,
//! `check_half_closeable_stream` (and `_clogged` variants), checking what Trio's
//! `trio.testing.check_*_stream` check.
//!
//! Each suite takes a *maker* (an `FnMut` returning a future of a fresh connected pair)
//! and runs independent sections on fresh pairs. A violated property panics with the
//! suite, the section and what went wrong; an error from the maker is returned. Every
//! section runs under a watchdog deadline (so on an autojumping `MockClock` a stream
//! that hangs fails at once instead of freezing the test), and the checks that two
//! concurrent calls raise `BusyResource` give up once every task is blocked, so a stream
//! that never raises it fails instead of deadlocking.
//!
//! Layout: this file holds the shared helpers and the two-way and half-closeable
//! suites; `one_way.rs` the one-way sections, `clogged.rs` the sections that need a
//! clogged pair.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    current_time, fail_after, open_nursery, AsyncResource, CancelScope, Error, ErrorKind,
    HalfCloseableStream, Instant, ReceiveStream, Result, SendStream, Stream,
};

use crate::{assert_checkpoints, wait_all_tasks_blocked};

mod clogged;
mod one_way;

/// How much run-clock time a section may take before it counts as hung.
const WATCHDOG: Duration = Duration::from_secs(120);

thread_local! {
    /// The run-clock time at which the running section's watchdog fires.
    static WATCHDOG_AT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs one section under the watchdog.
async fn section<T>(suite: &str, name: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
    WATCHDOG_AT.with(|w| w.set(Some(current_time() + WATCHDOG)));
    let r = fail_after(WATCHDOG, fut).await;
    WATCHDOG_AT.with(|w| w.set(None));
    match r {
        Err(e) if e.kind() == ErrorKind::TooSlow => panic!(
            "{suite}: {name}: did not finish within {WATCHDOG:?} of run time: the stream \
             hangs (an operation blocked that should have completed)"
        ),
        other => other,
    }
}

/// Decides what an unexpected `Cancelled` means. If the watchdog fired, the operation
/// hung: panic saying so. Otherwise the cancellation comes from a sibling's failure (a
/// panic elsewhere in the section): return true so the caller propagates it and the
/// sibling's panic message is the one reported.
fn propagate_cancel(e: &Error, what: &str) -> bool {
    if !e.is_cancelled() {
        return false;
    }
    let fired = WATCHDOG_AT
        .with(Cell::get)
        .is_some_and(|at| current_time() >= at);
    if fired {
        panic!(
            "{what}: the stream hangs: the operation was still blocked when the suite's \
             watchdog ({WATCHDOG:?} of run time) expired"
        );
    }
    true
}

fn expect_ok<T>(r: Result<T>, what: &str) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e) if propagate_cancel(&e, what) => Err(e),
        Err(e) => panic!("{what} failed unexpectedly: {e:?}"),
    }
}

fn expect_kind<T: std::fmt::Debug>(r: Result<T>, kinds: &[ErrorKind], what: &str) -> Result<()> {
    match r {
        Err(e) if kinds.contains(&e.kind()) => Ok(()),
        Err(e) if propagate_cancel(&e, what) => Err(e),
        Err(e) => panic!("{what}: expected an error of kind {kinds:?}, got {e:?}"),
        Ok(v) => panic!("{what}: expected an error of kind {kinds:?}, got Ok({v:?})"),
    }
}

async fn checked_send<S: SendStream>(s: &S, data: &[u8], what: &str) -> Result<()> {
    expect_ok(assert_checkpoints(s.send_all(data)).await, what)
}

async fn checked_receive<R: ReceiveStream>(r: &R, max: usize, what: &str) -> Result<Vec<u8>> {
    let mut buf = vec![0; max];
    let n = expect_ok(assert_checkpoints(r.receive_some(&mut buf)).await, what)?;
    assert!(
        n <= max,
        "{what}: receive_some claimed {n} bytes into a {max}-byte buffer"
    );
    buf.truncate(n);
    Ok(buf)
}

async fn checked_aclose<T: AsyncResource>(t: &T, what: &str) -> Result<()> {
    expect_ok(assert_checkpoints(t.aclose()).await, what)
}

/// `aclose` inside an already-cancelled scope (Trio's `aclose_forcefully`): must close
/// the resource anyway.
async fn aclose_forcefully<T: AsyncResource>(t: &T) {
    let scope = CancelScope::new();
    scope.handle().cancel();
    let _ = scope.run(t.aclose()).await;
}

/// Runs two blocking operations concurrently and checks that one of them fails with
/// `BusyResource`. Both may block forever on a stream that never raises it, so the
/// check ends once every task is blocked, then cancels what is left.
async fn expect_busy<A, B>(what: &str, first: A, second: B, settle_first: bool) -> Result<()>
where
    A: Future<Output = Result<()>> + 'static,
    B: Future<Output = Result<()>> + 'static,
{
    let kinds: Rc<RefCell<Vec<Option<ErrorKind>>>> = Rc::default();
    let (k1, k2) = (kinds.clone(), kinds.clone());
    open_nursery(|n| async move {
        n.start_soon(async move {
            let r = first.await;
            k1.borrow_mut().push(r.err().map(|e| e.kind()));
            Ok(())
        });
        if settle_first {
            wait_all_tasks_blocked().await?;
        }
        n.start_soon(async move {
            let r = second.await;
            k2.borrow_mut().push(r.err().map(|e| e.kind()));
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    let kinds = kinds.borrow();
    assert!(
        kinds.contains(&Some(ErrorKind::BusyResource)),
        "{what}: two concurrent calls should make one fail with BusyResource; \
         they ended with {kinds:?} (None = Ok; Cancelled = still blocked)"
    );
    Ok(())
}

/// Checks a one-way stream implementation: a maker returns a fresh connected
/// `(send, receive)` pair on each call.
///
/// Checks, on fresh pairs: data arrives in order and every operation is a checkpoint;
/// an empty `send_all` means nothing; an empty receive buffer is an error;
/// concurrent `receive_some` calls raise `BusyResource`; `wait_send_all_might_not_block`
/// returns while a receiver waits; closing the receiver makes sends fail with
/// `BrokenResource` (for good) and its own receives with `ClosedResource`; closing is
/// idempotent; after a graceful close the receiver gets the data then end of stream;
/// a cancelled `aclose` still closes; operations in a cancelled scope are cancelled and
/// leave the stream closable; closing wakes a blocked `receive_some`.
///
/// Returns the maker's error, if any; panics naming the property a stream violates.
/// Run it on an autojumping clock (`#[trio_testing::test(autojump)]`) so a hang fails
/// fast.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     trio_testing::check_one_way_stream(|| async { Ok(trio_testing::memory_stream_one_way_pair()) })
///         .await
/// })
/// # }
/// ```
pub async fn check_one_way_stream<S, R, M, Fut>(mut maker: M) -> Result<()>
where
    S: SendStream + 'static,
    R: ReceiveStream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(S, R)>>,
{
    one_way::check("check_one_way_stream", &mut maker, None::<&mut M>).await
}

/// [`check_one_way_stream`], plus the checks that need a *clogged* pair:
/// `clogged_maker` returns a pair whose `send_all` and `wait_send_all_might_not_block`
/// block until the receiver calls `receive_some` (e.g. a stream with no buffer, or one
/// whose buffers were filled first).
///
/// The extra checks: `wait_send_all_might_not_block` blocks until a receiver shows up;
/// concurrent send-side calls raise `BusyResource`; closing the receiver releases a
/// blocked `wait_send_all_might_not_block`; closing the sender wakes its own blocked
/// `send_all` / `wait_send_all_might_not_block` with `ClosedResource`.
pub async fn check_one_way_stream_clogged<S, R, M, Fut, C, CFut>(
    mut maker: M,
    mut clogged_maker: C,
) -> Result<()>
where
    S: SendStream + 'static,
    R: ReceiveStream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(S, R)>>,
    C: FnMut() -> CFut,
    CFut: Future<Output = Result<(S, R)>>,
{
    one_way::check("check_one_way_stream", &mut maker, Some(&mut clogged_maker)).await
}

/// Checks a bidirectional stream: [`check_one_way_stream`] in both directions, a
/// full-duplex transfer of 1 MiB each way in random-sized chunks, and that closing one
/// end makes the other read end of stream.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     trio_testing::check_two_way_stream(|| async { Ok(trio_testing::memory_stream_pair()) })
///         .await
/// })
/// # }
/// ```
pub async fn check_two_way_stream<A, M, Fut>(mut maker: M) -> Result<()>
where
    A: Stream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(A, A)>>,
{
    two_way("check_two_way_stream", &mut maker, None::<&mut M>).await
}

/// [`check_two_way_stream`] with the clogged checks of
/// [`check_one_way_stream_clogged`], in both directions.
pub async fn check_two_way_stream_clogged<A, M, Fut, C, CFut>(
    mut maker: M,
    mut clogged_maker: C,
) -> Result<()>
where
    A: Stream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(A, A)>>,
    C: FnMut() -> CFut,
    CFut: Future<Output = Result<(A, A)>>,
{
    two_way("check_two_way_stream", &mut maker, Some(&mut clogged_maker)).await
}

/// Checks a half-closeable stream: [`check_two_way_stream`], plus `send_eof` (the peer
/// reads the data then end of stream; later sends fail with `ClosedResource`; a second
/// `send_eof` is fine; the other direction keeps working; every call checkpoints).
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     trio_testing::check_half_closeable_stream(|| async {
///         Ok(trio_testing::memory_stream_pair())
///     })
///     .await
/// })
/// # }
/// ```
pub async fn check_half_closeable_stream<A, M, Fut>(mut maker: M) -> Result<()>
where
    A: HalfCloseableStream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(A, A)>>,
{
    half_closeable(&mut maker, None::<&mut M>).await
}

/// [`check_half_closeable_stream`] with the clogged checks, plus: `send_eof` while a
/// `send_all` or `wait_send_all_might_not_block` is blocked raises `BusyResource`.
pub async fn check_half_closeable_stream_clogged<A, M, Fut, C, CFut>(
    mut maker: M,
    mut clogged_maker: C,
) -> Result<()>
where
    A: HalfCloseableStream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(A, A)>>,
    C: FnMut() -> CFut,
    CFut: Future<Output = Result<(A, A)>>,
{
    half_closeable(&mut maker, Some(&mut clogged_maker)).await
}

/// A small deterministic PRNG (xorshift64*), so the duplex check is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `1..=max`.
    fn chunk(&mut self, max: usize) -> usize {
        1 + (self.next() % max as u64) as usize
    }
}

const DUPLEX_SIZE: usize = 1 << 20;
const CHUNK_MAX: usize = 1 << 14;

async fn two_way<A, M, Fut, C, CFut>(
    suite: &'static str,
    maker: &mut M,
    clogged: Option<&mut C>,
) -> Result<()>
where
    A: Stream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(A, A)>>,
    C: FnMut() -> CFut,
    CFut: Future<Output = Result<(A, A)>>,
{
    let mut clogged = clogged;
    one_way::check(suite, maker, clogged.as_deref_mut()).await?;
    let mut flipped = || {
        let pair = maker();
        async move { pair.await.map(|(a, b)| (b, a)) }
    };
    let mut flipped_clogged = clogged.map(|c| {
        move || {
            let pair = c();
            async move { pair.await.map(|(a, b)| (b, a)) }
        }
    });
    one_way::check(suite, &mut flipped, flipped_clogged.as_mut()).await?;

    let (s1, s2) = maker().await?;
    let (s1, s2) = (Rc::new(s1), Rc::new(s2));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let data: Rc<Vec<u8>> = Rc::new((0..DUPLEX_SIZE).map(|_| rng.next() as u8).collect());
    let reversed: Rc<Vec<u8>> = Rc::new(data.iter().rev().copied().collect());
    let (a, b) = (s1.clone(), s2.clone());
    section(suite, "full-duplex transfer in random chunks", async {
        open_nursery(|n| async move {
            for (i, (from, to, payload)) in [
                (a.clone(), b.clone(), data.clone()),
                (b.clone(), a.clone(), reversed.clone()),
            ]
            .into_iter()
            .enumerate()
            {
                let seed = 2 * i as u64 + 1;
                let sent = payload.clone();
                n.start_soon(async move {
                    let mut rng = Rng(seed);
                    let mut rest = &sent[..];
                    while !rest.is_empty() {
                        let k = rng.chunk(CHUNK_MAX).min(rest.len());
                        expect_ok(from.send_all(&rest[..k]).await, "duplex send_all")?;
                        rest = &rest[k..];
                    }
                    Ok(())
                });
                n.start_soon(async move {
                    let mut rng = Rng(seed + 1);
                    let mut got = Vec::with_capacity(payload.len());
                    let mut buf = vec![0; CHUNK_MAX];
                    while got.len() < payload.len() {
                        let k = rng.chunk(CHUNK_MAX);
                        let n = expect_ok(to.receive_some(&mut buf[..k]).await, "duplex receive")?;
                        assert!(
                            n > 0,
                            "{suite}: duplex: end of stream after {} of {} bytes",
                            got.len(),
                            payload.len()
                        );
                        got.extend_from_slice(&buf[..n]);
                    }
                    assert!(
                        got == *payload,
                        "{suite}: duplex: the bytes received differ from the bytes sent"
                    );
                    Ok(())
                });
            }
            Ok(())
        })
        .await
    })
    .await?;

    section(
        suite,
        "closing one end gives the other end of stream",
        async {
            let (a, b) = (s1.clone(), s2.clone());
            open_nursery(|n| async move {
                n.start_soon(async move {
                    let mut buf = [0; 10];
                    let got =
                        expect_ok(b.receive_some(&mut buf).await, "receive after peer close")?;
                    assert_eq!(got, 0, "{suite}: the peer closed: expected end of stream");
                    expect_ok(b.aclose().await, "aclose")?;
                    Ok(())
                });
                expect_ok(a.aclose().await, "aclose")?;
                Ok(())
            })
            .await
        },
    )
    .await?;
    Ok(())
}

async fn half_closeable<A, M, Fut, C, CFut>(maker: &mut M, clogged: Option<&mut C>) -> Result<()>
where
    A: HalfCloseableStream + 'static,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<(A, A)>>,
    C: FnMut() -> CFut,
    CFut: Future<Output = Result<(A, A)>>,
{
    const SUITE: &str = "check_half_closeable_stream";
    let mut clogged = clogged;
    two_way(SUITE, maker, clogged.as_deref_mut()).await?;

    async fn send_x_then_eof<A: HalfCloseableStream>(s: Rc<A>) -> Result<()> {
        expect_ok(s.send_all(b"x").await, "send_all(b\"x\")")?;
        expect_ok(assert_checkpoints(s.send_eof()).await, "send_eof")?;
        Ok(())
    }
    async fn expect_x_then_eof<A: HalfCloseableStream>(r: Rc<A>) -> Result<()> {
        wait_all_tasks_blocked().await?;
        let mut buf = [0; 10];
        let n = expect_ok(r.receive_some(&mut buf).await, "receive_some")?;
        assert_eq!(
            &buf[..n],
            b"x",
            "{SUITE}: expected the data sent before send_eof"
        );
        let n = expect_ok(
            r.receive_some(&mut buf).await,
            "receive_some after send_eof",
        )?;
        assert_eq!(
            n, 0,
            "{SUITE}: after the data, send_eof must read as end of stream"
        );
        Ok(())
    }

    let (s1, s2) = maker().await?;
    let (s1, s2) = (Rc::new(s1), Rc::new(s2));
    section(SUITE, "send_eof", async {
        let (a, b) = (s1.clone(), s2.clone());
        open_nursery(|n| async move {
            n.start_soon(send_x_then_eof(a));
            n.start_soon(expect_x_then_eof(b));
            Ok(())
        })
        .await?;
        expect_kind(
            s1.send_all(b"y").await,
            &[ErrorKind::ClosedResource],
            "send_all after send_eof",
        )?;
        expect_ok(assert_checkpoints(s1.send_eof()).await, "a second send_eof")?;
        let (a, b) = (s1.clone(), s2.clone());
        open_nursery(|n| async move {
            n.start_soon(send_x_then_eof(b));
            n.start_soon(expect_x_then_eof(a));
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await?;
    aclose_forcefully(&*s1).await;
    aclose_forcefully(&*s2).await;

    if let Some(clogged) = clogged {
        let (s1, s2) = clogged().await?;
        let s1 = Rc::new(s1);
        section(SUITE, "send_eof during a blocked send_all", async {
            let (a, b) = (s1.clone(), s1.clone());
            expect_busy(
                "send_all and send_eof at once",
                async move { a.send_all(b"x").await },
                async move { b.send_eof().await },
                true,
            )
            .await
        })
        .await?;
        aclose_forcefully(&*s1).await;
        aclose_forcefully(&s2).await;

        let (s1, s2) = clogged().await?;
        let s1 = Rc::new(s1);
        section(
            SUITE,
            "send_eof during a blocked wait_send_all_might_not_block",
            async {
                let (a, b) = (s1.clone(), s1.clone());
                expect_busy(
                    "wait_send_all_might_not_block and send_eof at once",
                    async move { a.wait_send_all_might_not_block().await },
                    async move { b.send_eof().await },
                    true,
                )
                .await
            },
        )
        .await?;
        aclose_forcefully(&*s1).await;
        aclose_forcefully(&s2).await;
    }
    Ok(())
}
