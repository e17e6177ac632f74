//! `TlsStream`: a TLS session (rustls) over any trio `Stream`, with Trio's `SSLStream`
//! semantics.
//!
//! # How it works
//!
//! rustls is a pure state machine: ciphertext goes in with `read_tls`, plaintext comes
//! out of `reader()`, plaintext goes in through `writer()` and ciphertext comes out of
//! `write_tls`. This file moves bytes between that machine and the transport.
//!
//! Three locks and two conflict detectors, as in Trio's `SSLStream`:
//!
//! 1. `outer_send` / `outer_recv` reject a second task sending (or receiving) at once
//!    with `BusyResource`. One sender and one receiver may run together.
//! 2. `send_lock` serializes writes to the transport. Whoever holds it drains *everything*
//!    rustls has queued, so records leave in the order rustls produced them, and a
//!    cancellation while waiting for it loses nothing (no bytes were taken yet).
//! 3. `recv_lock` serializes reads from the transport. A task that needs bytes notes
//!    `recv_count` before queueing; if another task received while it waited, it first
//!    looks at those bytes instead of reading again (the handshake and `receive_some`
//!    may both be waiting for the same flight).
//! 4. `handshake_lock` makes `do_handshake` run once however many tasks trigger it; a
//!    task that waited on it finds the handshake done, or continues it.
//!
//! # Rules
//!
//! * Ciphertext is fed to rustls one whole record at a time (a header rustls will reject
//!   is fed at once, so garbage fails promptly). Hence rustls never holds bytes that
//!   follow a `close_notify`, and `unwrap` can return them; and application data that
//!   follows the handshake stays in our buffer until someone asks for it.
//! * A cancelled transport receive loses nothing (the transport is cancel-safe), so a
//!   cancelled `receive_some` or handshake can be retried. A transport send that fails or
//!   is cancelled has taken bytes out of rustls: the stream is then broken.
//! * A TLS 1.3 server does not flush its session tickets when the handshake completes;
//!   they leave with its next write (Trio and OpenSSL do the same, to avoid a deadlock
//!   when the client is sending and not receiving). The receive path never writes.
//! * Every failure of the peer (bad certificate, garbage, truncation) marks the stream
//!   broken and is `BrokenResource` with the rustls error as its source.
//! * `aclose` marks the stream closing at once, so tasks still using it end with
//!   `ClosedResource`; it sends `close_notify` only when that needs no other task's
//!   I/O to finish first (else it closes the transport abruptly), so it never hangs on
//!   someone else's blocked send or handshake.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ServerConnection;
use rustls::{
    ClientConfig, ClientConnection, Connection, HandshakeKind, ProtocolVersion, ServerConfig,
};
use trio_core::{
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, AsyncResource, Error,
    ErrorKind, ReceiveStream, Result, SendStream, StdErrorAdapter, Stream,
};

use crate::lock::{ConflictDetector, TaskLock};
use crate::records::{record_extent, Incoming};

/// How many bytes one transport read asks for.
const RECEIVE_CHUNK: usize = 32 * 1024;

const BUSY_SEND: &str = "another task is already sending on this TlsStream \
     (send_all / wait_send_all_might_not_block): use one sender at a time";
const BUSY_RECEIVE: &str = "another task is already receiving on this TlsStream \
     (receive_some): use one receiver at a time";
const CLOSED: &str = "this TlsStream was closed (aclose/unwrap) and cannot be used any more";
const EMPTY_BUFFER: &str =
    "receive_some needs a non-empty buffer (it returns 0 only at end of stream)";

/// A TLS session over the transport stream `S` (a socket, a memory stream, another
/// `TlsStream`), implementing the trio stream traits.
///
/// Build it with [`client`](Self::client) or [`server`](Self::server); no I/O happens
/// until the first operation (or an explicit [`do_handshake`](Self::do_handshake)).
/// One task may send while another receives. `aclose` sends `close_notify` (unless
/// [`https_compatible`](Self::https_compatible)) and closes the transport.
///
/// ```
/// use trio_core::{open_nursery, ReceiveStream, SendStream};
/// use trio_testing::{memory_stream_pair, TestCa};
/// use trio_tls::{ServerName, TlsStream};
///
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let ca = TestCa::new();
///     let (a, b) = memory_stream_pair();
///     let name = ServerName::try_from("example.test")?.to_owned();
///     let client = TlsStream::client(a, ca.client_config(), name)?;
///     let server = TlsStream::server(b, ca.issue_cert(&["example.test"]))?;
///     open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             let mut buf = [0u8; 5];
///             let n = server.receive_some(&mut buf).await?;
///             server.send_all(&buf[..n]).await
///         });
///         client.send_all(b"hello").await?;
///         let mut buf = [0u8; 5];
///         let n = client.receive_some(&mut buf).await?;
///         assert_eq!(&buf[..n], b"hello");
///         Ok(())
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
pub struct TlsStream<S> {
    transport: S,
    /// Boxed: the rustls state is over 1 KiB, and futures that hold a `TlsStream` by
    /// value (`unwrap`, tasks owning one) stay small.
    conn: Box<RefCell<Connection>>,
    https_compatible: bool,
    /// # Invariant
    /// Moves only forward: Open -> (Broken) -> Closing -> Closed.
    state: Cell<State>,
    /// Why the stream broke, repeated in later errors.
    broken_reason: RefCell<String>,
    /// True once any operation began: `https_compatible` must be chosen before.
    started: Cell<bool>,
    handshake_done: Cell<bool>,
    /// The peer's close_notify was processed: rustls takes no more bytes.
    peer_closed: Cell<bool>,
    /// The transport reported end of stream.
    transport_eof: Cell<bool>,
    handshake_lock: TaskLock,
    send_lock: TaskLock,
    recv_lock: TaskLock,
    outer_send: ConflictDetector,
    outer_recv: ConflictDetector,
    /// Bumped after every transport read, so a task that waited for `recv_lock` can tell
    /// whether someone else brought bytes meanwhile.
    recv_count: Cell<u64>,
    /// Ciphertext received but not yet fed to rustls (see the module doc).
    incoming: RefCell<Incoming>,
    /// Reused buffers: the transport read buffer (used under `recv_lock`) and the
    /// ciphertext write buffer (used under `send_lock`).
    scratch: RefCell<Vec<u8>>,
    outgoing: RefCell<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Broken,
    /// `aclose` is running: only its own operations may proceed.
    Closing,
    Closed,
}

/// Whether an internal operation runs on behalf of `aclose` (allowed while closing).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    User,
    Closer,
}

impl<S: Stream> TlsStream<S> {
    /// A client session over `transport`, verifying the server as `server_name`.
    ///
    /// Fails only when rustls rejects `config` (e.g. it enables no protocol version).
    pub fn client(
        transport: S,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<Self> {
        let conn = ClientConnection::new(config, server_name).map_err(|e| {
            Error::with_source(
                ErrorKind::Other,
                format!("invalid TLS client setup: {e}"),
                e,
            )
        })?;
        Ok(Self::with_connection(transport, conn.into()))
    }

    /// A server session over `transport`.
    ///
    /// Fails only when rustls rejects `config`.
    pub fn server(transport: S, config: Arc<ServerConfig>) -> Result<Self> {
        let conn = ServerConnection::new(config).map_err(|e| {
            Error::with_source(
                ErrorKind::Other,
                format!("invalid TLS server setup: {e}"),
                e,
            )
        })?;
        Ok(Self::with_connection(transport, conn.into()))
    }

    fn with_connection(transport: S, conn: Connection) -> Self {
        TlsStream {
            transport,
            conn: Box::new(RefCell::new(conn)),
            https_compatible: false,
            state: Cell::new(State::Open),
            broken_reason: RefCell::new(String::new()),
            started: Cell::new(false),
            handshake_done: Cell::new(false),
            peer_closed: Cell::new(false),
            transport_eof: Cell::new(false),
            handshake_lock: TaskLock::default(),
            send_lock: TaskLock::default(),
            recv_lock: TaskLock::default(),
            outer_send: ConflictDetector::new(BUSY_SEND),
            outer_recv: ConflictDetector::new(BUSY_RECEIVE),
            recv_count: Cell::new(0),
            incoming: RefCell::new(Incoming::default()),
            scratch: RefCell::new(Vec::new()),
            outgoing: RefCell::new(Vec::new()),
        }
    }

    /// HTTPS-compatible mode (off by default): never send `close_notify`, and treat a peer
    /// that closes the transport without one as a clean end of stream (`receive_some`
    /// returns 0) instead of a truncation error. Most HTTPS servers and clients behave so.
    ///
    /// # Panics
    /// If the stream has already done I/O.
    pub fn https_compatible(mut self, on: bool) -> Self {
        assert!(
            !self.started.get(),
            "TlsStream::https_compatible must be chosen before the stream's first operation"
        );
        self.https_compatible = on;
        self
    }

    /// Performs the TLS handshake now, if no task did it already. Idempotent; safe when
    /// several tasks call it (or trigger it through `send_all`/`receive_some`) at once:
    /// one drives it, the others wait for it. A checkpoint.
    ///
    /// Errors: `BrokenResource` when the handshake fails (bad certificate, wrong name,
    /// garbage, the peer went away), with the rustls error as source; `ClosedResource`
    /// after `aclose`.
    pub async fn do_handshake(&self) -> Result<()> {
        checkpoint_if_cancelled().await?;
        self.check_state(Caller::User)?;
        let yielded = Cell::new(false);
        self.ensure_handshake(Caller::User, &yielded).await?;
        finish_checkpoint(&yielded).await;
        Ok(())
    }

    /// The protocol chosen by ALPN, once the handshake has run.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.conn.borrow().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The negotiated TLS version, once the handshake has run.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.conn.borrow().protocol_version()
    }

    /// Whether the handshake was full or resumed a previous session, once it has run.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.conn.borrow().handshake_kind()
    }

    /// The certificate chain the peer presented (its own certificate first), once the
    /// handshake has run; `None` before, or when the peer sent none (a client without
    /// client authentication).
    pub fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.conn.borrow().peer_certificates().map(<[_]>::to_vec)
    }

    /// True once the handshake has completed.
    pub fn is_handshake_done(&self) -> bool {
        self.handshake_done.get()
    }

    /// The transport stream underneath. Reading or writing it directly corrupts the
    /// session; it is here for addresses and socket options.
    pub fn transport(&self) -> &S {
        &self.transport
    }

    /// Ends the TLS session but keeps the transport: sends `close_notify`, waits for the
    /// peer's, and returns the transport with the bytes already received past the peer's
    /// `close_notify` (the start of whatever the peer sends in plaintext next).
    ///
    /// Application data the peer sends before its `close_notify` is discarded (as
    /// OpenSSL's `SSL_shutdown` does). A peer that closes the transport first gives
    /// `BrokenResource`.
    pub async fn unwrap(self) -> Result<(S, Vec<u8>)> {
        checkpoint_if_cancelled().await?;
        self.check_state(Caller::User)?;
        let yielded = Cell::new(false);
        self.ensure_handshake(Caller::User, &yielded).await?;
        self.conn.borrow_mut().send_close_notify();
        self.flush(Caller::User, &yielded).await?;
        let mut sink = vec![0u8; 4096];
        while !self.peer_closed.get() {
            self.check_state(Caller::User)?;
            // Drain plaintext so rustls accepts the next record.
            while matches!(self.conn.borrow_mut().reader().read(&mut sink), Ok(n) if n > 0) {}
            if self.feed_record()? {
                continue;
            }
            if self.transport_eof.get() {
                return Err(self.truncated());
            }
            self.fill(Caller::User, &yielded).await?;
        }
        finish_checkpoint(&yielded).await;
        self.state.set(State::Closed);
        let rest = self.incoming.borrow_mut().take_rest();
        Ok((self.transport, rest))
    }

    // ---- the engine --------------------------------------------------------------

    fn check_state(&self, caller: Caller) -> Result<()> {
        match self.state.get() {
            State::Open => Ok(()),
            State::Closing if caller == Caller::Closer => Ok(()),
            State::Broken => Err(Error::new(
                ErrorKind::BrokenResource,
                format!(
                    "this TlsStream is broken by an earlier failure: {}",
                    self.broken_reason.borrow()
                ),
            )),
            State::Closing | State::Closed => Err(Error::new(ErrorKind::ClosedResource, CLOSED)),
        }
    }

    /// Records that the stream is unusable (an earlier close wins).
    fn mark_broken(&self, reason: &str) {
        if self.state.get() == State::Open {
            self.state.set(State::Broken);
            *self.broken_reason.borrow_mut() = reason.to_owned();
        }
    }

    /// A rustls failure: the stream breaks, the rustls error is the source.
    fn tls_failed(&self, e: rustls::Error) -> Error {
        let what = if self.handshake_done.get() {
            "TLS protocol error"
        } else {
            "TLS handshake failed"
        };
        let msg = format!("{what}: {e}");
        self.mark_broken(&msg);
        Error::with_source(ErrorKind::BrokenResource, msg, e)
    }

    /// The transport ended without the peer's close_notify. The source is the error
    /// rustls gives for an unclean end.
    fn truncated(&self) -> Error {
        let mut conn = self.conn.borrow_mut();
        // Tell rustls about the end of stream; it then reports it in its own words.
        let _ = conn.read_tls(&mut io::empty());
        let source = match conn.reader().read(&mut [0u8; 1]) {
            Err(e) => e,
            Ok(_) => io::Error::new(io::ErrorKind::UnexpectedEof, "transport closed"),
        };
        drop(conn);
        let msg = if self.handshake_done.get() {
            "the peer closed the transport without a TLS close_notify (truncated stream)"
        } else {
            "the peer closed the transport during the TLS handshake"
        };
        self.mark_broken(msg);
        Error::with_source(ErrorKind::BrokenResource, msg, source)
    }

    /// A transport operation failed. After `aclose` began, users see `ClosedResource`.
    /// `lost_data`: bytes were taken out of rustls, so even a cancellation breaks the
    /// session.
    fn transport_failed(&self, e: Error, caller: Caller, lost_data: bool) -> Error {
        if caller == Caller::User && matches!(self.state.get(), State::Closing | State::Closed) {
            return Error::new(ErrorKind::ClosedResource, CLOSED);
        }
        if e.is_cancelled() {
            if lost_data {
                self.mark_broken("a send to the transport was cancelled midway");
            }
            return e;
        }
        let msg = format!("the transport under the TLS stream failed: {e}");
        self.mark_broken(&msg);
        match e.kind() {
            ErrorKind::BrokenResource => e,
            _ => Error::with_source(ErrorKind::BrokenResource, msg, StdErrorAdapter(e)),
        }
    }

    /// Feeds the next whole record from `incoming` to rustls and processes it.
    /// Returns false when no whole record is buffered (more bytes are needed).
    fn feed_record(&self) -> Result<bool> {
        if self.peer_closed.get() {
            return Ok(false);
        }
        let mut incoming = self.incoming.borrow_mut();
        let data = incoming.data();
        let take = match record_extent(data) {
            Some(n) => n,
            None => return Ok(false),
        };
        let mut slice = &data[..take];
        let mut conn = self.conn.borrow_mut();
        while !slice.is_empty() {
            match conn.read_tls(&mut slice) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    drop(conn);
                    drop(incoming);
                    let msg = format!("TLS receive failed: {e}");
                    self.mark_broken(&msg);
                    return Err(Error::with_source(ErrorKind::BrokenResource, msg, e));
                }
            }
        }
        let consumed = take - slice.len();
        incoming.consume(consumed);
        drop(incoming);
        let processed = conn.process_new_packets();
        drop(conn);
        match processed {
            Ok(io_state) => {
                if io_state.peer_has_closed() {
                    self.peer_closed.set(true);
                }
                Ok(true)
            }
            Err(e) => Err(self.tls_failed(e)),
        }
    }

    /// Reads once from the transport into `incoming`, unless another task did while
    /// this one waited for the receive lock.
    async fn fill(&self, caller: Caller, yielded: &Cell<bool>) -> Result<()> {
        let count = self.recv_count.get();
        let _guard = self.recv_lock.acquire().await?;
        if count != self.recv_count.get() {
            yielded.set(true);
            return Ok(());
        }
        yielded.set(true);
        let mut buf = std::mem::take(&mut *self.scratch.borrow_mut());
        buf.resize(RECEIVE_CHUNK, 0);
        let result = self.transport.receive_some(&mut buf).await;
        let out = match result {
            Ok(0) => {
                self.transport_eof.set(true);
                Ok(())
            }
            Ok(n) => {
                self.incoming.borrow_mut().push(&buf[..n]);
                Ok(())
            }
            Err(e) => Err(self.transport_failed(e, caller, false)),
        };
        if out.is_ok() {
            self.recv_count.set(count + 1);
        }
        *self.scratch.borrow_mut() = buf;
        out
    }

    /// Sends everything rustls has queued, under the send lock.
    async fn flush(&self, caller: Caller, yielded: &Cell<bool>) -> Result<()> {
        let _guard = self.send_lock.acquire().await?;
        self.flush_locked(caller, yielded).await
    }

    /// Sends everything rustls has queued; the caller holds the send lock.
    async fn flush_locked(&self, caller: Caller, yielded: &Cell<bool>) -> Result<()> {
        let mut out = std::mem::take(&mut *self.outgoing.borrow_mut());
        out.clear();
        {
            let mut conn = self.conn.borrow_mut();
            while conn.wants_write() {
                conn.write_tls(&mut out)
                    .expect("writing TLS records into a Vec cannot fail");
            }
        }
        let result = if out.is_empty() {
            Ok(())
        } else {
            yielded.set(true);
            self.transport.send_all(&out).await
        };
        *self.outgoing.borrow_mut() = out;
        result.map_err(|e| self.transport_failed(e, caller, true))
    }

    async fn ensure_handshake(&self, caller: Caller, yielded: &Cell<bool>) -> Result<()> {
        self.started.set(true);
        if self.handshake_done.get() {
            return Ok(());
        }
        let _guard = self.handshake_lock.acquire().await?;
        if self.handshake_done.get() {
            return Ok(());
        }
        self.drive_handshake(caller, yielded).await?;
        self.handshake_done.set(true);
        Ok(())
    }

    async fn drive_handshake(&self, caller: Caller, yielded: &Cell<bool>) -> Result<()> {
        loop {
            self.check_state(caller)?;
            let (handshaking, wants_write) = {
                let conn = self.conn.borrow();
                (conn.is_handshaking(), conn.wants_write())
            };
            if !handshaking {
                if wants_write && !self.defers_tickets() {
                    self.flush(caller, yielded).await?;
                }
                return Ok(());
            }
            if wants_write {
                self.flush(caller, yielded).await?;
                continue;
            }
            if self.peer_closed.get() {
                let msg = "the peer sent close_notify during the TLS handshake";
                self.mark_broken(msg);
                return Err(Error::with_source(
                    ErrorKind::BrokenResource,
                    msg,
                    io::Error::new(io::ErrorKind::UnexpectedEof, msg),
                ));
            }
            if self.feed_record()? {
                continue;
            }
            if self.transport_eof.get() {
                return Err(self.truncated());
            }
            self.fill(caller, yielded).await?;
        }
    }

    /// A TLS 1.3 server leaves its session tickets queued after the handshake.
    fn defers_tickets(&self) -> bool {
        let conn = self.conn.borrow();
        matches!(*conn, Connection::Server(_))
            && conn.protocol_version() == Some(ProtocolVersion::TLSv1_3)
    }

    async fn receive_inner(&self, buf: &mut [u8], yielded: &Cell<bool>) -> Result<usize> {
        if let Err(e) = self.ensure_handshake(Caller::User, yielded).await {
            // An HTTPS peer may hang up even before the handshake finished.
            if self.https_compatible && self.transport_eof.get() && !e.is_cancelled() {
                return Ok(0);
            }
            return Err(e);
        }
        loop {
            self.check_state(Caller::User)?;
            let read = self.conn.borrow_mut().reader().read(buf);
            match read {
                Ok(n) => return Ok(n), // 0: the peer's close_notify, a clean end
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    let msg = format!("TLS receive failed: {e}");
                    self.mark_broken(&msg);
                    return Err(Error::with_source(ErrorKind::BrokenResource, msg, e));
                }
            }
            if self.feed_record()? {
                continue;
            }
            if self.transport_eof.get() {
                if self.https_compatible {
                    return Ok(0);
                }
                return Err(self.truncated());
            }
            self.fill(Caller::User, yielded).await?;
        }
    }

    async fn send_inner(&self, data: &[u8], yielded: &Cell<bool>) -> Result<()> {
        self.ensure_handshake(Caller::User, yielded).await?;
        // Taking the lock before handing rustls any plaintext: a cancellation while
        // waiting for it has no effect at all.
        let _guard = self.send_lock.acquire().await?;
        let mut sent = 0;
        loop {
            self.check_state(Caller::User)?;
            {
                let mut conn = self.conn.borrow_mut();
                while sent < data.len() {
                    // rustls takes what fits in its buffer (64 KiB); the rest after a flush.
                    match conn.writer().write(&data[sent..]) {
                        Ok(0) => break,
                        Ok(n) => sent += n,
                        Err(e) => {
                            drop(conn);
                            let msg = format!("TLS send failed: {e}");
                            self.mark_broken(&msg);
                            return Err(Error::with_source(ErrorKind::BrokenResource, msg, e));
                        }
                    }
                }
            }
            self.flush_locked(Caller::User, yielded).await?;
            if sent == data.len() {
                return Ok(());
            }
        }
    }

    async fn close_notify(&self) -> Result<()> {
        let yielded = Cell::new(false);
        self.ensure_handshake(Caller::Closer, &yielded).await?;
        self.conn.borrow_mut().send_close_notify();
        self.flush(Caller::Closer, &yielded).await
    }
}

/// A checkpoint's schedule point, for operations that completed without blocking: they
/// already passed their cancel point at the start, and must not report a completed
/// operation as cancelled.
async fn finish_checkpoint(yielded: &Cell<bool>) {
    if !yielded.get() {
        cancel_shielded_checkpoint().await;
    }
}

impl<S: Stream> AsyncResource for TlsStream<S> {
    /// Closes the session and the transport. Completes a handshake that never ran, then
    /// sends `close_notify` without waiting for the peer's reply (none in
    /// https-compatible mode or on a broken stream). A peer that is already gone is not
    /// an error. Tasks still using the stream get `ClosedResource`. Even when cancelled,
    /// the stream ends closed (the transport is closed abruptly). Idempotent.
    ///
    /// If another task is writing to the transport (a `send_all` blocked on a slow peer)
    /// or is in the middle of the handshake, the goodbye would have to wait for it, so
    /// the transport is closed abruptly instead: that task wakes with `ClosedResource`
    /// and `aclose` never waits on someone else's I/O.
    async fn aclose(&self) -> Result<()> {
        if matches!(self.state.get(), State::Closing | State::Closed) {
            return checkpoint().await;
        }
        let busy = self.send_lock.is_held()
            || (!self.handshake_done.get() && self.handshake_lock.is_held());
        let graceful = self.state.get() == State::Open && !self.https_compatible && !busy;
        self.started.set(true);
        self.state.set(State::Closing);
        let goodbye = if graceful {
            match self.close_notify().await {
                // Only a cancellation is worth reporting: any other failure means the
                // goodbye could not be delivered (peer gone, broken session), and the
                // stream is closed all the same.
                Err(e) if e.is_cancelled() => Err(e),
                _ => Ok(()),
            }
        } else {
            Ok(())
        };
        // The transport closes even when this is cancelled (AsyncResource's contract),
        // which wakes tasks blocked in it.
        let closed = self.transport.aclose().await;
        self.state.set(State::Closed);
        goodbye.and(closed)
    }
}

impl<S: Stream> SendStream for TlsStream<S> {
    /// Encrypts and sends all of `data`, doing the handshake first if needed. If it
    /// fails or is cancelled midway, the stream is broken.
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.outer_send.enter()?;
        checkpoint_if_cancelled().await?;
        self.check_state(Caller::User)?;
        let yielded = Cell::new(false);
        if !data.is_empty() {
            self.send_inner(data, &yielded).await?;
        }
        finish_checkpoint(&yielded).await;
        Ok(())
    }

    /// Waits until the transport could take more bytes. Does not do the handshake.
    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.outer_send.enter()?;
        checkpoint_if_cancelled().await?;
        self.check_state(Caller::User)?;
        // The send lock keeps us from using the transport's send side at the same time
        // as a flush by the handshake or aclose.
        let _guard = self.send_lock.acquire().await?;
        self.transport
            .wait_send_all_might_not_block()
            .await
            .map_err(|e| self.transport_failed(e, Caller::User, false))
    }
}

impl<S: Stream> ReceiveStream for TlsStream<S> {
    /// Receives decrypted bytes, doing the handshake first if needed. Returns 0 once the
    /// peer sent `close_notify` (or, in https-compatible mode, closed the transport).
    /// Cancelled: nothing is lost; the bytes stay for the next call.
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        let _busy = self.outer_recv.enter()?;
        checkpoint_if_cancelled().await?;
        self.check_state(Caller::User)?;
        if buf.is_empty() {
            return Err(Error::new(ErrorKind::Other, EMPTY_BUFFER));
        }
        let yielded = Cell::new(false);
        let n = self.receive_inner(buf, &yielded).await?;
        finish_checkpoint(&yielded).await;
        Ok(n)
    }
}

impl<S: fmt::Debug> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("transport", &self.transport)
            .field("state", &self.state.get())
            .field("handshake_done", &self.handshake_done.get())
            .field("https_compatible", &self.https_compatible)
            .finish_non_exhaustive()
    }
}
