//! Async files and path helpers: every operation on a worker thread, errors naming paths.

use std::fs::OpenOptions;
use std::io::SeekFrom;
use std::path::PathBuf;

use trio_core::{AsyncResource, ErrorKind, Result};
use trio_os::{fs, open_file, AsyncFile};

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("trio-os-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_file_written_reads_back_the_same() -> Result<()> {
    let dir = TempDir::new("roundtrip");
    let path = dir.0.join("data.bin");
    trio_core::run(|| async move {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
        let f = open_file(
            &path,
            OpenOptions::new().write(true).create(true).truncate(true),
        )
        .await?;
        f.write_all(data.clone()).await?;
        f.sync_all().await?;
        f.aclose().await?;
        let f = open_file(&path, OpenOptions::new().read(true)).await?;
        assert_eq!(f.read(10).await?, data[..10]);
        assert_eq!(f.stream_position().await?, 10);
        assert!(f.read_to_end().await? == data[10..]);
        assert!(f.read(10).await?.is_empty(), "end of file");
        assert_eq!(f.seek(SeekFrom::End(-5)).await?, data.len() as u64 - 5);
        assert_eq!(f.read_to_end().await?, data[data.len() - 5..]);
        assert_eq!(f.metadata().await?.len(), data.len() as u64);
        Ok(())
    })
}

#[test]
fn append_mode_and_set_len() -> Result<()> {
    let dir = TempDir::new("append");
    let path = dir.0.join("log.txt");
    trio_core::run(|| async move {
        fs::write(&path, "one\n").await?;
        let f = open_file(&path, OpenOptions::new().append(true)).await?;
        f.write_all("two\n").await?;
        f.flush().await?;
        assert_eq!(fs::read_to_string(&path).await?, "one\ntwo\n");
        f.set_len(3).await?;
        f.sync_data().await?;
        assert_eq!(fs::read(&path).await?, b"one");
        Ok(())
    })
}

#[test]
fn path_helpers_work_and_name_the_path_on_error() -> Result<()> {
    let dir = TempDir::new("helpers");
    let nested = dir.0.join("a/b/c");
    trio_core::run(|| async move {
        fs::create_dir_all(&nested).await?;
        assert!(fs::metadata(&nested).await?.is_dir());
        let file = nested.join("f.txt");
        fs::write(&file, "x").await?;
        fs::remove_file(&file).await?;
        let err = fs::read(&file).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(
            err.io_error().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
        assert!(err.to_string().contains("f.txt"), "{err}");
        let err = open_file(&file, OpenOptions::new().read(true))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("f.txt"), "{err}");
        fs::remove_dir_all(nested.parent().expect("has parent")).await?;
        assert!(fs::metadata(&nested).await.is_err());
        Ok(())
    })
}

#[test]
fn a_closed_file_reports_closed_resource() -> Result<()> {
    let dir = TempDir::new("closed");
    let path = dir.0.join("x");
    std::fs::write(&path, "x")?;
    trio_core::run(|| async move {
        let f = AsyncFile::from_std(std::fs::File::open(&path)?);
        f.aclose().await?;
        f.aclose().await?; // idempotent
        assert_eq!(
            f.read(1).await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        Ok(())
    })
}

#[test]
fn file_operations_are_checkpoints() -> Result<()> {
    let dir = TempDir::new("checkpoints");
    let path = dir.0.join("x");
    trio_core::run(|| async move {
        trio_testing::assert_checkpoints(fs::write(&path, "abc")).await?;
        let f = trio_testing::assert_checkpoints(open_file(&path, OpenOptions::new().read(true)))
            .await?;
        trio_testing::assert_checkpoints(f.read(1)).await?;
        // Cancelled before it starts: no effect.
        let scope = trio_core::CancelScope::new();
        scope.handle().cancel();
        assert!(scope.run(f.read(1)).await?.is_none());
        assert_eq!(f.read(2).await?, b"bc");
        Ok(())
    })
}
