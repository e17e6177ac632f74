//! The stream traits every byte stream of trio-rs implements (sockets, TLS, pipes, memory
//! streams), and `StapledStream`, which joins a send half and a receive half.
//!
//! All methods take `&self`, so one task may send while another receives on the same
//! stream; two tasks using the same direction at once get `BusyResource`. Every method is
//! a checkpoint. `receive_some` fills the caller's buffer and returns 0 only at end of
//! stream; `send_all` returns once all bytes were handed to the transport. Dropping a
//! stream closes it abruptly; `aclose` is the graceful, idempotent close.

#![allow(async_fn_in_trait)] // trio-rs tasks need not be Send; no Send bound is wanted.

use crate::Result;

/// A resource with a graceful, asynchronous close.
pub trait AsyncResource {
    /// Closes the resource. Idempotent. Even if cancelled, the resource ends up closed
    /// (possibly abruptly); tasks blocked on it wake with `ClosedResource`.
    async fn aclose(&self) -> Result<()>;
}

/// The sending half of a byte stream.
pub trait SendStream: AsyncResource {
    /// Sends all of `data`. If cancelled, some of it may have been sent and the stream is
    /// then in an unknown state (it should be closed).
    async fn send_all(&self, data: &[u8]) -> Result<()>;

    /// Blocks until a `send_all` would probably not block (a hint for protocols that want
    /// to produce data as late as possible).
    async fn wait_send_all_might_not_block(&self) -> Result<()>;
}

/// The receiving half of a byte stream.
pub trait ReceiveStream: AsyncResource {
    /// Receives at least one byte into `buf` (which must not be empty), or returns 0 at
    /// end of stream.
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize>;
}

/// A bidirectional byte stream: implemented for every type that is both halves.
pub trait Stream: SendStream + ReceiveStream {}

impl<T: SendStream + ReceiveStream> Stream for T {}

/// A stream whose sending direction can be closed on its own (TCP's shutdown).
pub trait HalfCloseableStream: Stream {
    /// Closes the sending direction; the peer reads end of stream. Receiving still works.
    async fn send_eof(&self) -> Result<()>;
}

/// Something that accepts incoming connections.
pub trait Listener: AsyncResource {
    /// What an accepted connection is.
    type Stream;

    /// Waits for and returns the next connection.
    async fn accept(&self) -> Result<Self::Stream>;
}

/// A stream made of a separate send half and receive half.
///
/// `aclose` closes both (the send half first), even if closing the first fails.
#[derive(Debug)]
pub struct StapledStream<S, R> {
    send: S,
    receive: R,
}

impl<S: SendStream, R: ReceiveStream> StapledStream<S, R> {
    /// Joins `send` and `receive` into one stream.
    pub fn new(send: S, receive: R) -> Self {
        StapledStream { send, receive }
    }

    /// The send half.
    pub fn send_stream(&self) -> &S {
        &self.send
    }

    /// The receive half.
    pub fn receive_stream(&self) -> &R {
        &self.receive
    }

    /// Splits back into the halves.
    pub fn into_inner(self) -> (S, R) {
        (self.send, self.receive)
    }
}

impl<S: SendStream, R: ReceiveStream> AsyncResource for StapledStream<S, R> {
    async fn aclose(&self) -> Result<()> {
        let a = self.send.aclose().await;
        let b = self.receive.aclose().await;
        a.and(b)
    }
}

impl<S: SendStream, R: ReceiveStream> SendStream for StapledStream<S, R> {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        self.send.send_all(data).await
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        self.send.wait_send_all_might_not_block().await
    }
}

impl<S: SendStream, R: ReceiveStream> ReceiveStream for StapledStream<S, R> {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        self.receive.receive_some(buf).await
    }
}

/// `send_eof` closes the send half (Trio's behaviour for a send stream without its own
/// `send_eof`); the receive half stays open.
impl<S: SendStream, R: ReceiveStream> HalfCloseableStream for StapledStream<S, R> {
    async fn send_eof(&self) -> Result<()> {
        self.send.aclose().await
    }
}
