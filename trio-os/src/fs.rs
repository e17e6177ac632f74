//! Async versions of common `std::fs` path operations, each run on a worker thread.
//! Errors name the path, with the `io::Error` as source (`error.io_error()`).

use std::fs::Metadata;
use std::path::Path;

use trio_core::Result;
use trio_sync::to_thread;

use crate::file::path_error;

async fn on_thread<T: Send + 'static>(
    op: &'static str,
    path: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    let owned = path.to_path_buf();
    to_thread::run_sync(move || f(&owned))
        .await?
        .map_err(|e| path_error(op, path, e))
}

/// Reads a whole file. A checkpoint.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let path = std::env::temp_dir().join(format!("trio-os-fs-doc-{}", std::process::id()));
///     trio_os::fs::write(&path, "contents").await?;
///     assert_eq!(trio_os::fs::read(&path).await?, b"contents");
///     assert_eq!(trio_os::fs::read_to_string(&path).await?, "contents");
///     assert_eq!(trio_os::fs::metadata(&path).await?.len(), 8);
///     trio_os::fs::remove_file(&path).await?;
///     Ok(())
/// })
/// # }
/// ```
pub async fn read(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    on_thread("read", path.as_ref(), |p| std::fs::read(p)).await
}

/// Reads a whole file as UTF-8. A checkpoint.
pub async fn read_to_string(path: impl AsRef<Path>) -> Result<String> {
    on_thread("read", path.as_ref(), |p| std::fs::read_to_string(p)).await
}

/// Creates or truncates a file and writes `contents` to it. A checkpoint.
pub async fn write(path: impl AsRef<Path>, contents: impl Into<Vec<u8>>) -> Result<()> {
    let contents = contents.into();
    on_thread("write", path.as_ref(), move |p| {
        std::fs::write(p, &contents)
    })
    .await
}

/// Removes a file. A checkpoint.
pub async fn remove_file(path: impl AsRef<Path>) -> Result<()> {
    on_thread("remove", path.as_ref(), |p| std::fs::remove_file(p)).await
}

/// Creates a directory and any missing parents. A checkpoint.
pub async fn create_dir_all(path: impl AsRef<Path>) -> Result<()> {
    on_thread("create directory", path.as_ref(), |p| {
        std::fs::create_dir_all(p)
    })
    .await
}

/// Removes a directory and everything in it. A checkpoint.
pub async fn remove_dir_all(path: impl AsRef<Path>) -> Result<()> {
    on_thread("remove directory", path.as_ref(), |p| {
        std::fs::remove_dir_all(p)
    })
    .await
}

/// A path's metadata (following symlinks). A checkpoint.
pub async fn metadata(path: impl AsRef<Path>) -> Result<Metadata> {
    on_thread("stat", path.as_ref(), |p| std::fs::metadata(p)).await
}
