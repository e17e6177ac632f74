//! The `futures-io` adapters: ecosystem-style readers and writers over trio streams,
//! buffering of partial reads, and cancellation surfacing as a recoverable error.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use trio_core::{open_nursery, CancelScope, Result, SendStream};
use trio_net::compat::{into_trio_error, Compat};
use trio_net::SocketStream;
use trio_testing::wait_all_tasks_blocked;

#[test]
fn ecosystem_reads_and_writes_run_over_a_socket_stream() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        let mut writer = Compat::new_half_closeable(a);
        let mut reader = Compat::new(b);
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                writer.write_all(&payload).await.map_err(into_trio_error)?;
                writer.close().await.map_err(into_trio_error)?; // send_eof
                Ok(())
            });
            let mut got = Vec::new();
            reader
                .read_to_end(&mut got)
                .await
                .map_err(into_trio_error)?;
            assert_eq!(got, expected);
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn bytes_beyond_a_small_read_stay_buffered_for_the_next_one() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        a.send_all(b"0123456789").await?;
        let mut reader = Compat::new(b);
        let mut small = [0u8; 4];
        // One receive_some takes all ten bytes; the reads hand them out four at a time.
        assert_eq!(reader.read(&mut small).await.map_err(into_trio_error)?, 4);
        assert_eq!(&small, b"0123");
        assert_eq!(reader.read(&mut small).await.map_err(into_trio_error)?, 4);
        assert_eq!(&small, b"4567");
        assert_eq!(reader.read(&mut small).await.map_err(into_trio_error)?, 2);
        assert_eq!(&small[..2], b"89");
        assert!(format!("{reader:?}").contains("buffered: 0"));
        Ok(())
    })
}

#[test]
fn a_cancelled_adapter_read_reports_cancelled_and_loses_nothing() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        let scope = CancelScope::new();
        let handle = scope.handle();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut reader = Compat::new(b);
                let mut buf = [0u8; 8];
                let r = scope
                    .run(async {
                        let err = reader.read(&mut buf).await.unwrap_err();
                        // Not `Interrupted`: readers that retry on it would spin.
                        assert_ne!(err.kind(), std::io::ErrorKind::Interrupted);
                        let err = into_trio_error(err);
                        assert!(err.is_cancelled());
                        Err::<(), _>(err)
                    })
                    .await?;
                assert!(r.is_none(), "the scope absorbed the cancellation");
                a.send_all(b"after").await?;
                let n = reader.read(&mut buf).await.map_err(into_trio_error)?;
                assert_eq!(&buf[..n], b"after");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            handle.cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}
