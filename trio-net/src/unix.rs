//! Unix domain stream sockets: [`open_unix_socket`] (a client `SocketStream`) and
//! [`UnixListener`] (a server). They use the same `SocketStream` and accept machinery
//! as TCP, so everything said there (half-close, cancellation, errors) holds here.
//!
//! `UnixListener::bind` does not remove a stale socket file left by an earlier process
//! (that could delete a live server's socket): it fails with "address in use"; remove
//! the file first if you know it is stale.

use std::io;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Type};
use trio_core::{AsyncResource, Error, ErrorKind, Listener, Result};

use crate::connect::{connect_socket, new_socket};
use crate::{SocketListener, SocketStream};

/// Connects to the Unix domain stream socket at `path`. A checkpoint.
///
/// ```
/// use trio_core::{Listener, ReceiveStream, SendStream};
/// # fn main() -> trio_core::Result<()> {
/// let dir = std::env::temp_dir().join(format!("trio-net-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("sock");
/// # let _ = std::fs::remove_file(&path);
/// trio_core::run(move || async move {
///     let listener = trio_net::UnixListener::bind(&path)?;
///     let client = trio_net::open_unix_socket(&path).await?;
///     let server = listener.accept().await?;
///     client.send_all(b"hi").await?;
///     let mut buf = [0u8; 2];
///     server.receive_some(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     std::fs::remove_file(&path)?;
///     Ok(())
/// })
/// # }
/// ```
pub async fn open_unix_socket(path: impl AsRef<Path>) -> Result<SocketStream> {
    let path = path.as_ref();
    let addr = unix_addr(path)?;
    let sock = new_socket(Domain::UNIX, Type::STREAM, None)?;
    let sock = connect_socket(sock, &addr, &path.display().to_string()).await?;
    SocketStream::new(sock)
}

/// A listening Unix domain stream socket; `accept` gives [`SocketStream`]s.
#[derive(Debug)]
pub struct UnixListener {
    inner: SocketListener,
    path: PathBuf,
}

impl UnixListener {
    /// Binds and listens at `path` (which must not exist yet). Not async: binding a
    /// path never waits.
    pub fn bind(path: impl AsRef<Path>) -> Result<Self> {
        Self::bind_with_backlog(path, crate::DEFAULT_BACKLOG)
    }

    /// [`bind`](Self::bind) with an explicit listen backlog.
    pub fn bind_with_backlog(path: impl AsRef<Path>, backlog: u32) -> Result<Self> {
        let path = path.as_ref();
        let addr = unix_addr(path)?;
        let sock = new_socket(Domain::UNIX, Type::STREAM, None)?;
        let bound = sock
            .bind(&addr)
            .and_then(|()| sock.listen(i32::try_from(backlog).unwrap_or(i32::MAX)));
        if let Err(e) = bound {
            return Err(Error::with_source(
                ErrorKind::Io,
                format!("could not listen on Unix socket {}: {e}", path.display()),
                e,
            ));
        }
        Ok(UnixListener {
            inner: SocketListener::new(sock)?,
            path: path.to_owned(),
        })
    }

    /// The path it was bound to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener as a plain [`SocketListener`] (e.g. for `serve_listeners`).
    pub fn into_socket_listener(self) -> SocketListener {
        self.inner
    }
}

impl AsyncResource for UnixListener {
    /// Closes the socket (the path stays on disk; remove it yourself).
    async fn aclose(&self) -> Result<()> {
        self.inner.aclose().await
    }
}

impl Listener for UnixListener {
    type Stream = SocketStream;

    async fn accept(&self) -> Result<SocketStream> {
        self.inner.accept().await
    }
}

fn unix_addr(path: &Path) -> Result<SockAddr> {
    SockAddr::unix(path).map_err(|e: io::Error| {
        Error::with_source(
            ErrorKind::Other,
            format!("not a usable Unix socket path: {}: {e}", path.display()),
            e,
        )
    })
}
