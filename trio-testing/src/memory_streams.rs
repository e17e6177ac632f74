//! Memory streams: `MemorySendStream`, `MemoryReceiveStream`, `memory_stream_pump` and
//! the auto-pumping pairs built from them (Trio's `trio.testing._memory_streams`).
//!
//! Each half owns an unbounded [`ByteQueue`]. Nothing moves between a send half and a
//! receive half by itself: *hooks* (async callbacks run after `send_all`, sync ones run on
//! close) call [`memory_stream_pump`] to move bytes, which is how the pairs are wired and
//! how a test can stall, trickle or corrupt the flow. The pairs' hooks hold only weak
//! references, so dropping either half closes it (the peer sees end of stream or
//! `BrokenResource`) and no reference cycle keeps them alive.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use trio_core::{
    checkpoint, AsyncResource, Error, ErrorKind, ReceiveStream, Result, SendStream, StapledStream,
};

use crate::byte_queue::ByteQueue;
use crate::conflict::ConflictDetector;

type AsyncHook = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<()>>>>>;
type SyncHook = Rc<dyn Fn()>;

fn async_hook<F, Fut>(hook: F) -> AsyncHook
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    Rc::new(move || Box::pin(hook()))
}

async fn run_hook(hook: &RefCell<Option<AsyncHook>>) -> Result<()> {
    // Clone out of the cell: the hook may replace itself while it runs.
    let hook = hook.borrow().clone();
    match hook {
        Some(h) => h().await,
        None => Ok(()),
    }
}

fn run_sync_hook(hook: &RefCell<Option<SyncHook>>) {
    let hook = hook.borrow().clone();
    if let Some(h) = hook {
        h();
    }
}

const BUSY: &str = "another task is using this stream";

struct SendInner {
    outgoing: ByteQueue,
    conflict: ConflictDetector,
    send_all_hook: RefCell<Option<AsyncHook>>,
    wait_send_all_might_not_block_hook: RefCell<Option<AsyncHook>>,
    close_hook: RefCell<Option<SyncHook>>,
}

impl SendInner {
    fn close(&self) {
        // Trio's order: the queue is closed first, so a close hook that pumps sees EOF.
        self.outgoing.close();
        run_sync_hook(&self.close_hook);
    }
}

/// The sending half of an in-memory stream: `send_all` appends to an unbounded outgoing
/// buffer, which a test (or a hook) drains with [`get_data`](Self::get_data) or
/// [`memory_stream_pump`].
///
/// Hooks: `send_all_hook` runs after each `send_all` put its data in the buffer,
/// `wait_send_all_might_not_block_hook` after each `wait_send_all_might_not_block`,
/// `close_hook` after the stream closes (`close`, `aclose` or drop).
///
/// ```
/// use trio_core::SendStream;
/// use trio_testing::MemorySendStream;
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let s = MemorySendStream::new();
///     s.send_all(b"hello").await?;
///     assert_eq!(s.get_data(None).await?, b"hello");
///     Ok(())
/// })
/// # }
/// ```
pub struct MemorySendStream {
    inner: Rc<SendInner>,
}

impl MemorySendStream {
    /// A send stream with an empty buffer and no hooks.
    pub fn new() -> Self {
        MemorySendStream {
            inner: Rc::new(SendInner {
                outgoing: ByteQueue::new(),
                conflict: ConflictDetector::new(BUSY),
                send_all_hook: RefCell::new(None),
                wait_send_all_might_not_block_hook: RefCell::new(None),
                close_hook: RefCell::new(None),
            }),
        }
    }

    /// Sets (replacing any previous one) the hook run at the end of every `send_all`,
    /// after the data entered the buffer; its error becomes `send_all`'s error.
    pub fn set_send_all_hook<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<()>> + 'static,
    {
        *self.inner.send_all_hook.borrow_mut() = Some(async_hook(hook));
    }

    /// Sets the hook run at the end of every `wait_send_all_might_not_block`.
    pub fn set_wait_send_all_might_not_block_hook<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<()>> + 'static,
    {
        *self.inner.wait_send_all_might_not_block_hook.borrow_mut() = Some(async_hook(hook));
    }

    /// Sets the hook run (synchronously) each time the stream is closed.
    pub fn set_close_hook(&self, hook: impl Fn() + 'static) {
        *self.inner.close_hook.borrow_mut() = Some(Rc::new(hook));
    }

    /// Removes all three hooks.
    pub fn clear_hooks(&self) {
        self.inner.send_all_hook.borrow_mut().take();
        self.inner
            .wait_send_all_might_not_block_hook
            .borrow_mut()
            .take();
        self.inner.close_hook.borrow_mut().take();
    }

    /// Closes the stream at once (what `aclose` does, without the checkpoint): later
    /// sends fail with `ClosedResource`; readers of the buffer drain it, then get end of
    /// stream (an empty `Vec`).
    pub fn close(&self) {
        self.inner.close();
    }

    /// Waits for data sent on this stream and takes up to `max_bytes` of it (everything
    /// with `None`); an empty `Vec` means the stream was closed and drained. A
    /// checkpoint. `BusyResource` if another task is already fetching.
    pub async fn get_data(&self, max_bytes: Option<usize>) -> Result<Vec<u8>> {
        self.inner.outgoing.get(max_bytes).await
    }

    /// As [`get_data`](Self::get_data) without blocking: `WouldBlock` if nothing is
    /// buffered and the stream is open.
    pub fn get_data_nowait(&self, max_bytes: Option<usize>) -> Result<Vec<u8>> {
        self.inner.outgoing.get_nowait(max_bytes)
    }

    /// How many bytes are buffered.
    pub fn buffered(&self) -> usize {
        self.inner.outgoing.len()
    }

    fn downgrade(&self) -> Weak<SendInner> {
        Rc::downgrade(&self.inner)
    }
}

impl Default for MemorySendStream {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MemorySendStream {
    fn drop(&mut self) {
        self.inner.close();
    }
}

impl fmt::Debug for MemorySendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySendStream")
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

impl AsyncResource for MemorySendStream {
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl SendStream for MemorySendStream {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.inner.conflict.enter()?;
        checkpoint().await?;
        self.inner.outgoing.put(data)?;
        run_hook(&self.inner.send_all_hook).await
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.inner.conflict.enter()?;
        checkpoint().await?;
        // Putting nothing checks for ClosedResource and wakes a blocked `get_data`.
        self.inner.outgoing.put(&[])?;
        run_hook(&self.inner.wait_send_all_might_not_block_hook).await
    }
}

struct ReceiveInner {
    incoming: ByteQueue,
    conflict: ConflictDetector,
    closed: std::cell::Cell<bool>,
    receive_some_hook: RefCell<Option<AsyncHook>>,
    close_hook: RefCell<Option<SyncHook>>,
}

impl ReceiveInner {
    fn close(&self) {
        self.closed.set(true);
        self.incoming.close_and_wipe();
        run_sync_hook(&self.close_hook);
    }

    fn closed_error() -> Error {
        Error::new(ErrorKind::ClosedResource, "this stream was closed")
    }
}

/// The receiving half of an in-memory stream: `receive_some` takes from an unbounded
/// incoming buffer that a test (or a hook) fills with [`put_data`](Self::put_data) and
/// ends with [`put_eof`](Self::put_eof).
///
/// Hooks: `receive_some_hook` runs at the start of each `receive_some` (before it waits
/// for data; a pump goes here), `close_hook` after the stream closes.
///
/// ```
/// use trio_core::ReceiveStream;
/// use trio_testing::MemoryReceiveStream;
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let r = MemoryReceiveStream::new();
///     r.put_data(b"hi")?;
///     r.put_eof();
///     let mut buf = [0; 8];
///     assert_eq!(r.receive_some(&mut buf).await?, 2);
///     assert_eq!(r.receive_some(&mut buf).await?, 0); // end of stream
///     Ok(())
/// })
/// # }
/// ```
pub struct MemoryReceiveStream {
    inner: Rc<ReceiveInner>,
}

impl MemoryReceiveStream {
    /// A receive stream with an empty buffer and no hooks.
    pub fn new() -> Self {
        MemoryReceiveStream {
            inner: Rc::new(ReceiveInner {
                incoming: ByteQueue::new(),
                conflict: ConflictDetector::new(BUSY),
                closed: std::cell::Cell::new(false),
                receive_some_hook: RefCell::new(None),
                close_hook: RefCell::new(None),
            }),
        }
    }

    /// Sets the hook run at the start of every `receive_some`.
    pub fn set_receive_some_hook<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<()>> + 'static,
    {
        *self.inner.receive_some_hook.borrow_mut() = Some(async_hook(hook));
    }

    /// Sets the hook run (synchronously) each time the stream is closed.
    pub fn set_close_hook(&self, hook: impl Fn() + 'static) {
        *self.inner.close_hook.borrow_mut() = Some(Rc::new(hook));
    }

    /// Removes both hooks.
    pub fn clear_hooks(&self) {
        self.inner.receive_some_hook.borrow_mut().take();
        self.inner.close_hook.borrow_mut().take();
    }

    /// Appends `data` to the incoming buffer. `ClosedResource` after this stream was
    /// closed or after [`put_eof`](Self::put_eof).
    pub fn put_data(&self, data: &[u8]) -> Result<()> {
        self.inner.incoming.put(data)
    }

    /// Marks the end of the incoming data: once the buffer is drained, `receive_some`
    /// returns 0.
    pub fn put_eof(&self) {
        self.inner.incoming.close();
    }

    /// Closes the stream at once (what `aclose` does, without the checkpoint): buffered
    /// data is discarded, a blocked `receive_some` wakes with `ClosedResource`, and a
    /// pump into this stream fails with `BrokenResource`.
    pub fn close(&self) {
        self.inner.close();
    }

    /// How many bytes are buffered.
    pub fn buffered(&self) -> usize {
        self.inner.incoming.len()
    }

    fn downgrade(&self) -> Weak<ReceiveInner> {
        Rc::downgrade(&self.inner)
    }
}

impl Default for MemoryReceiveStream {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MemoryReceiveStream {
    fn drop(&mut self) {
        self.inner.close();
    }
}

impl fmt::Debug for MemoryReceiveStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReceiveStream")
            .field("buffered", &self.buffered())
            .field("closed", &self.inner.closed.get())
            .finish_non_exhaustive()
    }
}

impl AsyncResource for MemoryReceiveStream {
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl ReceiveStream for MemoryReceiveStream {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        let _busy = self.inner.conflict.enter()?;
        if buf.is_empty() {
            return Err(Error::new(
                ErrorKind::Other,
                "receive_some needs a non-empty buffer (it returns 0 only at end of stream)",
            ));
        }
        checkpoint().await?;
        if self.inner.closed.get() {
            return Err(ReceiveInner::closed_error());
        }
        run_hook(&self.inner.receive_some_hook).await?;
        let data = self.inner.incoming.get(Some(buf.len())).await?;
        if self.inner.closed.get() {
            return Err(ReceiveInner::closed_error());
        }
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }
}

/// Moves up to `max_bytes` (all with `None`) from `send`'s buffer to `receive`'s; a
/// closed and drained `send` becomes end of stream on `receive`. Returns whether anything
/// happened (`false`: nothing was waiting). Fails with `BrokenResource` if `receive` was
/// closed (the moved data is lost, like bytes sent to a vanished peer).
///
/// ```
/// use trio_core::{ReceiveStream, SendStream};
/// use trio_testing::{memory_stream_pump, MemoryReceiveStream, MemorySendStream};
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let (s, r) = (MemorySendStream::new(), MemoryReceiveStream::new());
///     s.send_all(b"abc").await?;
///     assert!(memory_stream_pump(&s, &r, Some(2))?); // trickle two bytes across
///     let mut buf = [0; 8];
///     assert_eq!(r.receive_some(&mut buf).await?, 2);
///     assert!(memory_stream_pump(&s, &r, None)?);
///     assert!(!memory_stream_pump(&s, &r, None)?); // nothing left
///     Ok(())
/// })
/// # }
/// ```
pub fn memory_stream_pump(
    send: &MemorySendStream,
    receive: &MemoryReceiveStream,
    max_bytes: Option<usize>,
) -> Result<bool> {
    pump(&send.inner, &receive.inner, max_bytes)
}

fn pump(send: &SendInner, receive: &ReceiveInner, max_bytes: Option<usize>) -> Result<bool> {
    let data = match send.outgoing.get_nowait(max_bytes) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
        Err(e) => return Err(e),
    };
    let put = if data.is_empty() {
        receive.incoming.close();
        Ok(())
    } else {
        receive.incoming.put(&data)
    };
    match put {
        Err(e) if e.kind() == ErrorKind::ClosedResource => Err(Error::new(
            ErrorKind::BrokenResource,
            "MemoryReceiveStream was closed",
        )),
        other => other.map(|()| true),
    }
}

/// A connected one-way pair whose hooks pump every `send_all` (and the close) across at
/// once: an unbounded, instantly delivering pipe.
///
/// Closing or dropping the receive half makes later sends fail with `BrokenResource`;
/// closing the send half makes the receiver read end of stream after the data.
///
/// ```
/// use trio_core::{AsyncResource, ReceiveStream, SendStream};
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let (s, r) = trio_testing::memory_stream_one_way_pair();
///     s.send_all(b"ping").await?;
///     s.aclose().await?;
///     let mut buf = [0; 16];
///     assert_eq!(r.receive_some(&mut buf).await?, 4);
///     assert_eq!(r.receive_some(&mut buf).await?, 0);
///     Ok(())
/// })
/// # }
/// ```
pub fn memory_stream_one_way_pair() -> (MemorySendStream, MemoryReceiveStream) {
    let send = MemorySendStream::new();
    let receive = MemoryReceiveStream::new();
    let pump_now = {
        let (s, r) = (send.downgrade(), receive.downgrade());
        move || -> Result<()> {
            match (s.upgrade(), r.upgrade()) {
                (Some(s), Some(r)) => pump(&s, &r, None).map(drop),
                (_, None) => Err(Error::new(
                    ErrorKind::BrokenResource,
                    "MemoryReceiveStream was dropped",
                )),
                (None, Some(_)) => Ok(()),
            }
        }
    };
    let pump_async = pump_now.clone();
    send.set_send_all_hook(move || std::future::ready(pump_async()));
    // A close with the receiver gone is not an error: there is no one to tell.
    send.set_close_hook(move || drop(pump_now()));
    (send, receive)
}

/// Two memory streams joined both ways: a pair of [`memory_stream_one_way_pair`]s
/// stapled crosswise.
pub type MemoryStream = StapledStream<MemorySendStream, MemoryReceiveStream>;

/// Two connected bidirectional in-memory streams with unbounded buffers (sends never
/// block). Each implements `HalfCloseableStream` (`send_eof` closes its send half).
///
/// ```
/// use trio_core::{ReceiveStream, SendStream};
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let (a, b) = trio_testing::memory_stream_pair();
///     a.send_all(b"x").await?;
///     let mut buf = [0; 4];
///     assert_eq!(b.receive_some(&mut buf).await?, 1);
///     Ok(())
/// })
/// # }
/// ```
pub fn memory_stream_pair() -> (MemoryStream, MemoryStream) {
    let (s1, r1) = memory_stream_one_way_pair();
    let (s2, r2) = memory_stream_one_way_pair();
    (StapledStream::new(s1, r2), StapledStream::new(s2, r1))
}
