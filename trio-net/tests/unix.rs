//! Unix domain stream sockets: `UnixListener` + `open_unix_socket`, errors, serving.

use std::path::PathBuf;

use trio_core::{
    open_nursery, AsyncResource, ErrorKind, HalfCloseableStream, Listener, ReceiveStream, Result,
    SendStream, TaskStatus,
};
use trio_net::{open_unix_socket, serve_listeners, SocketStream, UnixListener};

/// A fresh socket path, unique per test.
fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trio-net-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn a_unix_client_and_listener_exchange_data() -> Result<()> {
    let path = socket_path("exchange");
    trio_core::run(move || async move {
        let listener = UnixListener::bind(&path)?;
        assert_eq!(listener.path(), path.as_path());
        let client = open_unix_socket(&path).await?;
        let server = listener.accept().await?;
        client.send_all(b"over a path").await?;
        client.send_eof().await?;
        let mut buf = [0u8; 32];
        let n = server.receive_some(&mut buf).await?;
        assert_eq!(&buf[..n], b"over a path");
        assert_eq!(server.receive_some(&mut buf).await?, 0);
        listener.aclose().await?;
        std::fs::remove_file(&path)?;
        Ok(())
    })
}

#[test]
fn connecting_to_a_missing_path_is_a_clear_error() -> Result<()> {
    let path = socket_path("missing");
    trio_core::run(move || async move {
        let err = open_unix_socket(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        Ok(())
    })
}

#[test]
fn binding_a_path_in_use_is_a_clear_error() -> Result<()> {
    let path = socket_path("in-use");
    trio_core::run(move || async move {
        let _first = UnixListener::bind(&path)?;
        let err = UnixListener::bind(&path).unwrap_err();
        assert!(
            err.to_string().contains("could not listen on Unix socket"),
            "{err}"
        );
        std::fs::remove_file(&path)?;
        Ok(())
    })
}

#[test]
fn serve_listeners_serves_a_unix_listener() -> Result<()> {
    let path = socket_path("serve");
    trio_core::run(move || async move {
        let listener = UnixListener::bind(&path)?;
        open_nursery(|nursery| async move {
            let handler = |s: SocketStream| async move { s.send_all(b"hi from unix").await };
            nursery
                .start(|status: TaskStatus<_>| {
                    serve_listeners(handler, vec![listener], None, status)
                })
                .await?;
            let client = open_unix_socket(&path).await?;
            let mut buf = [0u8; 32];
            let n = client.receive_some(&mut buf).await?;
            assert_eq!(&buf[..n], b"hi from unix");
            std::fs::remove_file(&path)?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}
