//! Memory channels: `open_memory_channel`, `open_unbounded_memory_channel`, their send
//! and receive handles, `SendError` and `MemoryChannelStatistics`.
//!
//! The handles own the *per-handle* rules (each clone closes on its own and wakes only
//! the tasks blocked on it; a closed handle answers `ClosedResource`); the shared state
//! in `channel_state.rs` owns the buffer, the wait queues and cancel safety.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use trio_core::lowlevel::{current_task, wait_task_rescheduled};
use trio_core::{
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, AsyncResource, Error,
    ErrorKind, Result,
};

use crate::channel_state::{Side, Slot, State, Who};

/// Opens a channel whose buffer holds up to `max_buffer_size` items; returns its first
/// send and receive handles.
///
/// * `0` makes a *rendezvous* channel: a `send` completes only when a receiver takes the
///   item (they meet).
/// * `n > 0`: `send` completes at once while fewer than `n` items are buffered.
///
/// Items come out in the order they went in; blocked senders and receivers are served
/// first come, first served, with direct hand-off. The handles belong to one run (they
/// are not `Send`): values from other threads come in as results of
/// [`to_thread::run_sync`](crate::to_thread::run_sync) and are sent from a task. See
/// [`open_unbounded_memory_channel`] for a buffer without a limit.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (tx, rx) = trio_sync::open_memory_channel::<u32>(0);
///     trio_core::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             for i in 0..3 {
///                 tx.send(i).await?; // waits for the receiver each time
///             }
///             Ok(()) // dropping `tx` closes it: the receiver sees the end
///         });
///         let mut got = vec![];
///         loop {
///             match rx.receive().await {
///                 Ok(v) => got.push(v),
///                 Err(e) if e.kind() == trio_core::ErrorKind::EndOfChannel => break,
///                 Err(e) => return Err(e),
///             }
///         }
///         assert_eq!(got, [0, 1, 2]);
///         Ok(())
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
pub fn open_memory_channel<T>(
    max_buffer_size: usize,
) -> (MemorySendChannel<T>, MemoryReceiveChannel<T>) {
    open(max_buffer_size)
}

/// Opens a channel whose buffer never fills: `send` never waits for room (it still
/// checkpoints). Use it where a bound could deadlock (cycles between tasks); otherwise
/// prefer a bounded channel, which gives backpressure.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (tx, rx) = trio_sync::open_unbounded_memory_channel();
///     for i in 0..1000 {
///         tx.try_send(i)?; // never WouldBlock
///     }
///     assert_eq!(rx.statistics().current_buffer_used, 1000);
///     assert_eq!(rx.statistics().max_buffer_size, None);
///     Ok(())
/// })
/// # }
/// ```
pub fn open_unbounded_memory_channel<T>() -> (MemorySendChannel<T>, MemoryReceiveChannel<T>) {
    open(usize::MAX)
}

fn open<T>(max: usize) -> (MemorySendChannel<T>, MemoryReceiveChannel<T>) {
    let state = Rc::new(RefCell::new(State::new(max)));
    (
        MemorySendChannel {
            state: state.clone(),
            id: 1,
            closed: Cell::new(false),
        },
        MemoryReceiveChannel {
            state,
            id: 2,
            closed: Cell::new(false),
            stream_slot: Cell::new(None),
        },
    )
}

/// A send handle of a memory channel. `Clone` makes another handle on the same channel,
/// counted separately: receivers see `EndOfChannel` only after *every* send handle is
/// closed (by [`close`](MemorySendChannel::close), [`aclose`](AsyncResource::aclose) or
/// drop). Cloning a closed handle gives a closed handle.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (tx, rx) = trio_sync::open_memory_channel(4);
///     let tx2 = tx.clone();
///     tx.send("a").await?;
///     tx2.send("b").await?;
///     drop(tx);
///     drop(tx2); // the last sender: receivers drain the buffer, then see the end
///     assert_eq!(rx.receive().await?, "a");
///     assert_eq!(rx.receive().await?, "b");
///     assert_eq!(rx.receive().await.unwrap_err().kind(), trio_core::ErrorKind::EndOfChannel);
///     Ok(())
/// })
/// # }
/// ```
pub struct MemorySendChannel<T> {
    state: Rc<RefCell<State<T>>>,
    id: u64,
    closed: Cell<bool>,
}

/// A receive handle of a memory channel. `Clone` makes another handle on the same
/// channel; clones *compete* for items (each item goes to one receiver). When every
/// receive handle is closed the channel is broken: buffered items are dropped and
/// senders get `BrokenResource`.
///
/// It is also a [`futures_core::Stream`] of items that ends at `EndOfChannel` (or when
/// the handle is closed), for the futures ecosystem's combinators. Polling the stream is
/// *not* a trio checkpoint: a cancel scope does not interrupt a task waiting in it, so
/// inside trio code prefer [`receive`](MemoryReceiveChannel::receive).
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (tx, rx) = trio_sync::open_memory_channel::<i32>(1);
///     let rx2 = rx.clone();
///     tx.send(7).await?;
///     assert_eq!(rx2.receive().await?, 7); // either clone may get it
///     drop(rx);
///     drop(rx2);
///     assert_eq!(tx.send(8).await.unwrap_err().kind(), trio_core::ErrorKind::BrokenResource);
///     Ok(())
/// })
/// # }
/// ```
pub struct MemoryReceiveChannel<T> {
    state: Rc<RefCell<State<T>>>,
    id: u64,
    closed: Cell<bool>,
    /// The slot this handle's `Stream` waits in, between polls.
    stream_slot: Cell<Option<usize>>,
}

/// A snapshot of a memory channel, the same from any of its handles.
///
/// ```
/// let (tx, rx) = trio_sync::open_memory_channel::<()>(3);
/// let s = tx.statistics();
/// assert_eq!(s.max_buffer_size, Some(3));
/// assert_eq!((s.open_send_channels, s.open_receive_channels), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryChannelStatistics {
    /// Items in the buffer now.
    pub current_buffer_used: usize,
    /// The buffer's size; `None` for an unbounded channel.
    pub max_buffer_size: Option<usize>,
    /// Send handles not yet closed.
    pub open_send_channels: usize,
    /// Receive handles not yet closed.
    pub open_receive_channels: usize,
    /// Tasks blocked in `send`.
    pub tasks_waiting_send: usize,
    /// Tasks blocked in `receive` (and pending `Stream` polls).
    pub tasks_waiting_receive: usize,
}

fn statistics<T>(state: &RefCell<State<T>>) -> MemoryChannelStatistics {
    let s = state.borrow();
    MemoryChannelStatistics {
        current_buffer_used: s.buffer.len(),
        max_buffer_size: (s.max != usize::MAX).then_some(s.max),
        open_send_channels: s.open_send,
        open_receive_channels: s.open_recv,
        tasks_waiting_send: s.tasks_waiting(Side::Send),
        tasks_waiting_receive: s.tasks_waiting(Side::Recv),
    }
}

/// A failed send: why ([`kind`](SendError::kind)) and the item, given back
/// ([`into_inner`](SendError::into_inner)). Converts into [`trio_core::Error`] with `?`
/// (dropping the item).
///
/// | kind | meaning |
/// |---|---|
/// | `Cancelled` | the send was cancelled: nothing was delivered |
/// | `ClosedResource` | this send handle was closed |
/// | `BrokenResource` | every receive handle was closed |
/// | `WouldBlock` | (`try_send`) no room and no waiting receiver |
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (tx, _rx) = trio_sync::open_memory_channel(0);
///     let err = tx.try_send(String::from("hello")).unwrap_err();
///     assert_eq!(err.kind(), trio_core::ErrorKind::WouldBlock);
///     assert_eq!(err.into_inner(), "hello"); // nothing lost
///     Ok(())
/// })
/// # }
/// ```
pub struct SendError<T> {
    kind: ErrorKind,
    item: T,
}

impl<T> SendError<T> {
    /// Why the send failed.
    ///
    /// ```
    /// let (tx, rx) = trio_sync::open_memory_channel(1);
    /// drop(rx);
    /// assert_eq!(tx.try_send(1).unwrap_err().kind(), trio_core::ErrorKind::BrokenResource);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True when the send was cancelled.
    ///
    /// ```
    /// let (tx, _rx) = trio_sync::open_memory_channel(0);
    /// assert!(!tx.try_send(1).unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }

    /// The item that was not sent.
    ///
    /// ```
    /// let (tx, _rx) = trio_sync::open_memory_channel(0);
    /// assert_eq!(*tx.try_send(5).unwrap_err().item(), 5);
    /// ```
    pub fn item(&self) -> &T {
        &self.item
    }

    /// Takes the item back.
    ///
    /// ```
    /// let (tx, _rx) = trio_sync::open_memory_channel(0);
    /// assert_eq!(tx.try_send(vec![1, 2]).unwrap_err().into_inner(), vec![1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.item
    }

    fn message(&self) -> &'static str {
        match self.kind {
            ErrorKind::Cancelled => "send cancelled; the item was not delivered",
            ErrorKind::ClosedResource => "this send channel handle was closed",
            ErrorKind::BrokenResource => {
                "every receive handle of the channel was closed; nobody can receive"
            }
            ErrorKind::WouldBlock => {
                "the channel's buffer is full (or, for size 0, no receiver is waiting)"
            }
            _ => "send failed",
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

// `SendError` deliberately does not implement `std::error::Error`: trio_core's blanket
// `From<E: std::error::Error>` would then collide with this impl, which keeps the kind
// (a cancelled send must stay `Cancelled` when propagated with `?`).
impl<T> From<SendError<T>> for Error {
    fn from(e: SendError<T>) -> Error {
        match e.kind {
            ErrorKind::Cancelled => Error::cancelled(),
            kind => Error::new(kind, e.message()),
        }
    }
}

// Static errors: a failed `try_receive` in a polling loop should not allocate.
const CLOSED: Error =
    Error::from_static(ErrorKind::ClosedResource, &"this channel handle was closed");
const END: Error = Error::from_static(
    ErrorKind::EndOfChannel,
    &"every send handle of the channel was closed and the buffer is drained",
);
const EMPTY: Error = Error::from_static(
    ErrorKind::WouldBlock,
    &"nothing to receive (buffer empty and no sender waiting)",
);
const RECEIVE_FAILED: &&str = &"receive failed";

fn receive_error(kind: ErrorKind) -> Error {
    match kind {
        ErrorKind::Cancelled => Error::cancelled(),
        ErrorKind::ClosedResource => CLOSED,
        ErrorKind::EndOfChannel => END,
        ErrorKind::WouldBlock => EMPTY,
        kind => Error::from_static(kind, RECEIVE_FAILED),
    }
}

/// Frees a parked operation's slot when its future ends or is dropped, returning what
/// the slot held; anything left in it is dropped after the borrow ends.
struct SlotGuard<'a, T> {
    state: &'a RefCell<State<T>>,
    side: Side,
    idx: Option<usize>,
}

impl<T> SlotGuard<'_, T> {
    fn take(&mut self) -> Slot<T> {
        let idx = self.idx.take().expect("slot taken once");
        self.state.borrow_mut().release_slot(self.side, idx)
    }
}

impl<T> Drop for SlotGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(idx) = self.idx.take() {
            let leftover = self.state.borrow_mut().release_slot(self.side, idx);
            drop(leftover);
        }
    }
}

impl<T> MemorySendChannel<T> {
    /// Sends `item`: at once if a receiver waits or the buffer has room, otherwise after
    /// waiting (first come, first served) for one. A checkpoint.
    ///
    /// On failure the item comes back inside the [`SendError`]: a cancelled send
    /// delivered nothing; a send that delivered its item returns `Ok` even if
    /// cancellation arrived at the same moment.
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let (tx, _rx) = trio_sync::open_memory_channel(0);
    ///     // Nobody receives: the timeout cancels the send and hands the item back.
    ///     let mut back = None;
    ///     trio_core::move_on_after(Duration::from_millis(1), async {
    ///         if let Err(e) = tx.send(String::from("unsent")).await {
    ///             back = Some(e.into_inner());
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    ///     assert_eq!(back.as_deref(), Some("unsent"));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn send(&self, item: T) -> Result<(), SendError<T>> {
        if checkpoint_if_cancelled().await.is_err() {
            return Err(SendError {
                kind: ErrorKind::Cancelled,
                item,
            });
        }
        let item = match self.try_send_kind(item) {
            Ok(()) => {
                cancel_shielded_checkpoint().await;
                return Ok(());
            }
            Err((ErrorKind::WouldBlock, item)) => item,
            Err((kind, item)) => return Err(SendError { kind, item }),
        };
        let slot = Slot::WaitSend {
            who: Who::Task(current_task()),
            handle: self.id,
            item,
        };
        let idx = self.state.borrow_mut().enqueue(Side::Send, slot);
        let mut guard = SlotGuard {
            state: &self.state,
            side: Side::Send,
            idx: Some(idx),
        };
        // The outcome is in the slot either way (rescheduled or aborted).
        let _ = wait_task_rescheduled(|| self.state.borrow_mut().abort(Side::Send, idx)).await;
        match guard.take() {
            Slot::Sent => Ok(()),
            Slot::Failed(kind, Some(item)) => Err(SendError { kind, item }),
            _ => unreachable!("a finished send's slot is Sent or Failed with its item"),
        }
    }

    /// Sends `item` only if that needs no waiting (a receiver waits or the buffer has
    /// room); otherwise fails with `WouldBlock` and gives the item back. Never yields.
    ///
    /// ```
    /// let (tx, rx) = trio_sync::open_memory_channel(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2).unwrap_err().into_inner(), 2); // full
    /// assert_eq!(rx.try_receive().unwrap(), 1);
    /// ```
    pub fn try_send(&self, item: T) -> Result<(), SendError<T>> {
        self.try_send_kind(item)
            .map_err(|(kind, item)| SendError { kind, item })
    }

    fn try_send_kind(&self, item: T) -> Result<(), (ErrorKind, T)> {
        if self.closed.get() {
            return Err((ErrorKind::ClosedResource, item));
        }
        self.state.borrow_mut().try_send(item)
    }

    /// Closes this handle (idempotent; never blocks). Tasks blocked sending through
    /// *this* handle wake with `ClosedResource` and get their items back; later use of it
    /// gives `ClosedResource`. When it was the last open send handle, receivers drain the
    /// buffer and then get `EndOfChannel`.
    ///
    /// ```
    /// let (tx, rx) = trio_sync::open_memory_channel::<u8>(1);
    /// tx.close();
    /// assert_eq!(tx.try_send(1).unwrap_err().kind(), trio_core::ErrorKind::ClosedResource);
    /// assert_eq!(rx.try_receive().unwrap_err().kind(), trio_core::ErrorKind::EndOfChannel);
    /// ```
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        let mut s = self.state.borrow_mut();
        s.open_send -= 1;
        s.fail_all(Side::Send, Some(self.id), ErrorKind::ClosedResource);
        if s.open_send == 0 {
            // Receivers wait only on an empty buffer, so they have nothing left to drain.
            s.fail_all(Side::Recv, None, ErrorKind::EndOfChannel);
        }
    }

    /// Whether this handle was closed.
    ///
    /// ```
    /// let (tx, _rx) = trio_sync::open_memory_channel::<u8>(1);
    /// tx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The channel's counters.
    ///
    /// ```
    /// let (tx, _rx) = trio_sync::open_memory_channel(2);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(tx.statistics().current_buffer_used, 1);
    /// ```
    pub fn statistics(&self) -> MemoryChannelStatistics {
        statistics(&self.state)
    }
}

impl<T> Clone for MemorySendChannel<T> {
    fn clone(&self) -> Self {
        let mut s = self.state.borrow_mut();
        if !self.closed.get() {
            s.open_send += 1;
        }
        MemorySendChannel {
            state: self.state.clone(),
            id: s.new_handle_id(),
            closed: Cell::new(self.closed.get()),
        }
    }
}

impl<T> Drop for MemorySendChannel<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> AsyncResource for MemorySendChannel<T> {
    /// [`close`](MemorySendChannel::close), then a checkpoint. The handle is closed even
    /// if the checkpoint raises `Cancelled`.
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl<T> fmt::Debug for MemorySendChannel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySendChannel")
            .field("closed", &self.closed.get())
            .field("statistics", &self.statistics())
            .finish()
    }
}

impl<T> MemoryReceiveChannel<T> {
    /// Receives the next item, waiting (first come, first served among receivers) if
    /// there is none. A checkpoint. Cancelled while waiting, it takes nothing; if an
    /// item was already handed to it, it returns the item.
    ///
    /// Errors: `EndOfChannel` once every send handle is closed and the buffer is
    /// drained; `ClosedResource` if this handle is (or gets) closed.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let (tx, rx) = trio_sync::open_memory_channel(1);
    ///     tx.send('x').await?;
    ///     assert_eq!(rx.receive().await?, 'x');
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn receive(&self) -> Result<T> {
        checkpoint_if_cancelled().await?;
        match self.try_receive_kind() {
            Ok(item) => {
                cancel_shielded_checkpoint().await;
                return Ok(item);
            }
            Err(ErrorKind::WouldBlock) => {}
            Err(kind) => return Err(receive_error(kind)),
        }
        let slot = Slot::WaitRecv {
            who: Who::Task(current_task()),
            handle: self.id,
        };
        let idx = self.state.borrow_mut().enqueue(Side::Recv, slot);
        let mut guard = SlotGuard {
            state: &self.state,
            side: Side::Recv,
            idx: Some(idx),
        };
        let _ = wait_task_rescheduled(|| self.state.borrow_mut().abort(Side::Recv, idx)).await;
        match guard.take() {
            Slot::Received(item) => Ok(item),
            Slot::Failed(kind, _) => Err(receive_error(kind)),
            _ => unreachable!("a finished receive's slot is Received or Failed"),
        }
    }

    /// Receives an item only if one is ready (buffered, or a sender is waiting);
    /// otherwise fails with `WouldBlock` (or `EndOfChannel` / `ClosedResource`). Never
    /// yields.
    ///
    /// ```
    /// let (tx, rx) = trio_sync::open_memory_channel::<u8>(1);
    /// assert_eq!(rx.try_receive().unwrap_err().kind(), trio_core::ErrorKind::WouldBlock);
    /// tx.try_send(3).unwrap();
    /// assert_eq!(rx.try_receive().unwrap(), 3);
    /// ```
    pub fn try_receive(&self) -> Result<T> {
        self.try_receive_kind().map_err(receive_error)
    }

    fn try_receive_kind(&self) -> Result<T, ErrorKind> {
        if self.closed.get() {
            return Err(ErrorKind::ClosedResource);
        }
        self.state.borrow_mut().try_receive()
    }

    /// Closes this handle (idempotent; never blocks). Tasks blocked receiving through
    /// *this* handle wake with `ClosedResource`; later use gives `ClosedResource`. When
    /// it was the last open receive handle, the buffer is dropped and every sender gets
    /// `BrokenResource` (blocked ones get their items back).
    ///
    /// ```
    /// let (tx, rx) = trio_sync::open_memory_channel(1);
    /// tx.try_send(1).unwrap();
    /// rx.close();
    /// assert_eq!(rx.try_receive().unwrap_err().kind(), trio_core::ErrorKind::ClosedResource);
    /// assert_eq!(tx.statistics().current_buffer_used, 0); // dropped
    /// ```
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        let (dropped, undelivered) = {
            let mut s = self.state.borrow_mut();
            s.open_recv -= 1;
            // An item already handed to this handle's stream slot goes back to the
            // channel (or is dropped with the buffer below), never silently lost.
            let undelivered = self
                .stream_slot
                .take()
                .map(|idx| s.release_slot(Side::Recv, idx));
            s.fail_all(Side::Recv, Some(self.id), ErrorKind::ClosedResource);
            let mut undelivered = match undelivered {
                Some(Slot::Received(item)) if s.open_recv > 0 => {
                    s.requeue(item);
                    None
                }
                other => other,
            };
            let dropped = if s.open_recv == 0 {
                s.fail_all(Side::Send, None, ErrorKind::BrokenResource);
                undelivered.take();
                std::mem::take(&mut s.buffer)
            } else {
                Default::default()
            };
            (dropped, undelivered)
        };
        // Dropped outside the borrow: an item may own a handle of this very channel.
        drop(undelivered);
        drop(dropped);
    }

    /// Whether this handle was closed.
    ///
    /// ```
    /// let (_tx, rx) = trio_sync::open_memory_channel::<u8>(1);
    /// rx.close();
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The channel's counters.
    ///
    /// ```
    /// let (_tx, rx) = trio_sync::open_memory_channel::<u8>(0);
    /// assert_eq!(rx.statistics().max_buffer_size, Some(0));
    /// ```
    pub fn statistics(&self) -> MemoryChannelStatistics {
        statistics(&self.state)
    }
}

impl<T> Clone for MemoryReceiveChannel<T> {
    fn clone(&self) -> Self {
        let mut s = self.state.borrow_mut();
        if !self.closed.get() {
            s.open_recv += 1;
        }
        MemoryReceiveChannel {
            state: self.state.clone(),
            id: s.new_handle_id(),
            closed: Cell::new(self.closed.get()),
            stream_slot: Cell::new(None),
        }
    }
}

impl<T> Drop for MemoryReceiveChannel<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> AsyncResource for MemoryReceiveChannel<T> {
    /// [`close`](MemoryReceiveChannel::close), then a checkpoint. The handle is closed
    /// even if the checkpoint raises `Cancelled`.
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl<T> futures_core::Stream for MemoryReceiveChannel<T> {
    type Item = T;

    /// The next item; `None` once the channel ended (`EndOfChannel`) or this handle was
    /// closed. Waiting is first come, first served with the other receivers; an item
    /// handed to a pending poll stays reserved for this handle until polled again.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if let Some(idx) = this.stream_slot.get() {
            let mut s = this.state.borrow_mut();
            if s.is_waiting(idx) {
                s.set_waker(idx, cx.waker());
                return Poll::Pending;
            }
            this.stream_slot.set(None);
            let slot = s.release_slot(Side::Recv, idx);
            drop(s);
            return match slot {
                Slot::Received(item) => Poll::Ready(Some(item)),
                _ => Poll::Ready(None),
            };
        }
        match this.try_receive_kind() {
            Ok(item) => Poll::Ready(Some(item)),
            Err(ErrorKind::WouldBlock) => {
                let slot = Slot::WaitRecv {
                    who: Who::Waker(cx.waker().clone()),
                    handle: this.id,
                };
                let idx = this.state.borrow_mut().enqueue(Side::Recv, slot);
                this.stream_slot.set(Some(idx));
                Poll::Pending
            }
            Err(_) => Poll::Ready(None),
        }
    }
}

impl<T> fmt::Debug for MemoryReceiveChannel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReceiveChannel")
            .field("closed", &self.closed.get())
            .field("statistics", &self.statistics())
            .finish()
    }
}
