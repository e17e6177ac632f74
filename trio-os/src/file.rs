//! `AsyncFile` and `open_file`: a file whose every operation runs on a worker thread
//! (trio-sync's `to_thread`), because disk I/O has no readiness to wait for and would
//! otherwise block the whole loop.
//!
//! The `std::fs::File` lives in an `Arc` so each worker call can hold it; all methods
//! take `&self`, and concurrent calls behave as concurrent calls on one `std::fs::File`
//! (the OS orders them; a shared file position moves under both). An operation that was
//! handed to a thread always completes; cancellation takes effect before it starts or
//! when it returns (the result is then still delivered, never reported as cancelled).

use std::cell::RefCell;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trio_core::{checkpoint_if_cancelled, AsyncResource, CancelScope, Error, ErrorKind, Result};
use trio_sync::to_thread;

/// Opens `path` with `options` on a worker thread. A checkpoint.
///
/// Errors name the path, with the `io::Error` as source.
///
/// ```
/// use std::fs::OpenOptions;
/// use trio_os::open_file;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let path = std::env::temp_dir().join(format!("trio-os-doc-{}", std::process::id()));
///     let f = open_file(&path, OpenOptions::new().create(true).write(true).read(true).truncate(true)).await?;
///     f.write_all(b"hello").await?;
///     f.rewind().await?;
///     assert_eq!(f.read_to_end().await?, b"hello");
///     trio_os::fs::remove_file(&path).await?;
///     Ok(())
/// })
/// # }
/// ```
pub async fn open_file(path: impl AsRef<Path>, options: &OpenOptions) -> Result<AsyncFile> {
    let path = path.as_ref().to_path_buf();
    let options = options.clone();
    let p = path.clone();
    let file = to_thread::run_sync(move || options.open(&p))
        .await?
        .map_err(|e| path_error("open", &path, e))?;
    Ok(AsyncFile {
        file: RefCell::new(Some(Arc::new(file))),
        path: Some(path),
    })
}

/// Wraps an io::Error with the operation and path, keeping it as the source.
pub(crate) fn path_error(op: &str, path: &Path, e: io::Error) -> Error {
    Error::with_source(
        ErrorKind::Io,
        format!("could not {op} `{}`: {e}", path.display()),
        e,
    )
}

/// A file whose reads, writes, seeks and syncs run on worker threads. Create it with
/// [`open_file`] or [`AsyncFile::from_std`].
///
/// Dropping it closes the file at once (on the loop's thread); [`AsyncResource::aclose`]
/// closes it on a worker thread.
#[derive(Debug)]
pub struct AsyncFile {
    /// `None` once closed.
    file: RefCell<Option<Arc<File>>>,
    path: Option<PathBuf>,
}

impl AsyncFile {
    /// Wraps an open `std::fs::File`.
    pub fn from_std(file: File) -> Self {
        AsyncFile {
            file: RefCell::new(Some(Arc::new(file))),
            path: None,
        }
    }

    /// The path it was opened with, if it was opened by [`open_file`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn file(&self) -> Result<Arc<File>> {
        self.file
            .borrow()
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::ClosedResource, "this file was closed"))
    }

    /// Runs `op` on the file on a worker thread.
    async fn on_thread<T: Send + 'static>(
        &self,
        what: &'static str,
        op: impl FnOnce(&File) -> io::Result<T> + Send + 'static,
    ) -> Result<T> {
        let file = self.file()?;
        let r = to_thread::run_sync(move || op(&file)).await?;
        r.map_err(|e| match &self.path {
            Some(p) => path_error(what, p, e),
            None => Error::with_source(ErrorKind::Io, format!("could not {what} the file: {e}"), e),
        })
    }

    /// Reads up to `max` bytes from the current position; an empty result means end of
    /// file.
    pub async fn read(&self, max: usize) -> Result<Vec<u8>> {
        self.on_thread("read", move |mut f| {
            let mut buf = vec![0u8; max];
            let n = f.read(&mut buf)?;
            buf.truncate(n);
            Ok(buf)
        })
        .await
    }

    /// Reads from the current position to the end of the file.
    pub async fn read_to_end(&self) -> Result<Vec<u8>> {
        self.on_thread("read", |mut f| {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(buf)
        })
        .await
    }

    /// Reads from the current position to the end of the file, as UTF-8.
    pub async fn read_to_string(&self) -> Result<String> {
        self.on_thread("read", |mut f| {
            let mut s = String::new();
            f.read_to_string(&mut s)?;
            Ok(s)
        })
        .await
    }

    /// Writes all of `data` at the current position (or at the end, in append mode).
    pub async fn write_all(&self, data: impl Into<Vec<u8>>) -> Result<()> {
        let data = data.into();
        self.on_thread("write", move |mut f| f.write_all(&data))
            .await
    }

    /// Moves the position; returns the new position from the start.
    pub async fn seek(&self, pos: SeekFrom) -> Result<u64> {
        self.on_thread("seek in", move |mut f| f.seek(pos)).await
    }

    /// Moves the position back to the start.
    pub async fn rewind(&self) -> Result<()> {
        self.seek(SeekFrom::Start(0)).await.map(drop)
    }

    /// The current position (`seek(SeekFrom::Current(0))`).
    pub async fn stream_position(&self) -> Result<u64> {
        self.seek(SeekFrom::Current(0)).await
    }

    /// Flushes buffered writes (a `File` has none; kept for symmetry with `Write`).
    pub async fn flush(&self) -> Result<()> {
        self.on_thread("flush", |mut f| f.flush()).await
    }

    /// Waits until data and metadata reach the disk (`fsync`).
    pub async fn sync_all(&self) -> Result<()> {
        self.on_thread("sync", |f| f.sync_all()).await
    }

    /// Waits until data reaches the disk (`fdatasync`).
    pub async fn sync_data(&self) -> Result<()> {
        self.on_thread("sync", |f| f.sync_data()).await
    }

    /// Truncates or extends the file to `len` bytes.
    pub async fn set_len(&self, len: u64) -> Result<()> {
        self.on_thread("resize", move |f| f.set_len(len)).await
    }

    /// The file's metadata.
    pub async fn metadata(&self) -> Result<Metadata> {
        self.on_thread("stat", |f| f.metadata()).await
    }

    /// The wrapped `std::fs::File` (blocking: use it only on a worker thread), or
    /// `ClosedResource` once closed.
    pub fn wrapped(&self) -> Result<Arc<File>> {
        self.file()
    }
}

impl AsyncResource for AsyncFile {
    /// Closes the file on a worker thread (closing can block, e.g. on network file
    /// systems). Shielded: the file is closed even if the caller is cancelled, which is
    /// then reported after. Idempotent.
    async fn aclose(&self) -> Result<()> {
        let file = self.file.borrow_mut().take();
        if let Some(file) = file {
            CancelScope::new()
                .with_shield(true)
                .run(to_thread::run_sync(move || drop(file)))
                .await?;
        }
        checkpoint_if_cancelled().await
    }
}
