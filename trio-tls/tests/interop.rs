//! Interoperability with TLS stacks that are not trio-rs: the trio-rs server answers
//! `openssl s_client` and `curl --cacert`; the trio-rs client talks to `openssl
//! s_server`. The foreign processes run on worker threads under `timeout`, so a hang
//! fails the test instead of freezing it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use trio_core::{fail_after, open_nursery, AsyncResource, ReceiveStream, Result, SendStream};
use trio_net::SocketStream;
use trio_sync::to_thread;
use trio_testing::TestCa;
use trio_tls::{open_tls_over_tcp_stream, serve_tls, TlsStream};

const LIMIT: Duration = Duration::from_secs(30);

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl AsRef<std::ffi::OsStr> for TempFile {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `contents` to a fresh file in the temp directory.
fn temp_file(tag: &str, contents: &str) -> TempFile {
    let path = std::env::temp_dir().join(format!(
        "trio-tls-{}-{tag}-{:?}.pem",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, contents).expect("write temp file");
    TempFile(path)
}

async fn run_foreign(mut cmd: Command, stdin: &'static [u8]) -> Result<Output> {
    to_thread::run_sync(move || {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("piped").write_all(stdin)?;
        child.wait_with_output()
    })
    .await?
    .map_err(Into::into)
}

/// Reads one request chunk and answers it as an HTTP/1.1 server, then closes gracefully.
async fn http_hello(stream: TlsStream<SocketStream>) -> Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    stream
        .send_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello, curl!\n",
        )
        .await?;
    stream.aclose().await
}

/// Echoes one line back with a prefix, then closes gracefully.
async fn line_echo(stream: TlsStream<SocketStream>) -> Result<()> {
    let mut line = Vec::new();
    let mut buf = [0u8; 1024];
    while !line.contains(&b'\n') {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            break;
        }
        line.extend_from_slice(&buf[..n]);
    }
    let mut reply = b"trio says: ".to_vec();
    reply.extend_from_slice(&line);
    stream.send_all(&reply).await?;
    stream.aclose().await
}

#[trio_testing::test]
async fn trio_server_answers_openssl_s_client() -> Result<()> {
    let ca = TestCa::new();
    let ca_file = temp_file("ca-s-client", &ca.cert_pem());
    let server_config = ca.issue_cert(&["localhost", "127.0.0.1"]);
    fail_after(
        LIMIT,
        open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| serve_tls(line_echo, 0, Some("127.0.0.1"), server_config, status))
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let mut cmd = Command::new("timeout");
            cmd.args([
                "20",
                "openssl",
                "s_client",
                "-quiet",
                "-verify_return_error",
            ])
            .args(["-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost", "-verify_hostname", "localhost"])
            .arg("-CAfile")
            .arg(&ca_file);
            let out = run_foreign(cmd, b"hello from openssl\n").await?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains("trio says: hello from openssl"),
                "s_client got {stdout:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            nursery.cancel_scope().cancel();
            Ok(())
        }),
    )
    .await?;
    Ok(())
}

#[trio_testing::test]
async fn trio_server_answers_curl_with_the_test_ca() -> Result<()> {
    let ca = TestCa::new();
    let ca_file = temp_file("ca-curl", &ca.cert_pem());
    let server_config = ca.issue_cert(&["127.0.0.1"]);
    fail_after(
        LIMIT,
        open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| serve_tls(http_hello, 0, Some("127.0.0.1"), server_config, status))
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let mut cmd = Command::new("curl");
            cmd.args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
                .arg(&ca_file)
                .arg(format!("https://127.0.0.1:{port}/"));
            let out = run_foreign(cmd, b"").await?;
            assert!(
                out.status.success(),
                "curl failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), "hello, curl!\n");
            nursery.cancel_scope().cancel();
            Ok(())
        }),
    )
    .await?;
    Ok(())
}

#[trio_testing::test]
async fn curl_without_the_test_ca_is_refused() -> Result<()> {
    let ca = TestCa::new();
    let server_config = ca.issue_cert(&["127.0.0.1"]);
    fail_after(
        LIMIT,
        open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| {
                    serve_tls(
                        |s: TlsStream<SocketStream>| async move {
                            // The handshake fails on this side too; that is expected.
                            let _ = http_hello(s).await;
                            Ok(())
                        },
                        0,
                        Some("127.0.0.1"),
                        server_config,
                        status,
                    )
                })
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let mut cmd = Command::new("curl");
            cmd.args(["--silent", "--max-time", "20"])
                .arg(format!("https://127.0.0.1:{port}/"));
            let out = run_foreign(cmd, b"").await?;
            assert!(!out.status.success(), "curl must reject an unknown CA");
            nursery.cancel_scope().cancel();
            Ok(())
        }),
    )
    .await?;
    Ok(())
}

#[trio_testing::test]
async fn trio_client_talks_to_openssl_s_server() -> Result<()> {
    let ca = TestCa::new();
    let (cert_pem, key_pem) = ca.issue_leaf(&["localhost"]);
    let cert_file = temp_file("leaf-cert", &cert_pem);
    let key_file = temp_file("leaf-key", &key_pem);
    // s_server prints "ACCEPT 127.0.0.1:<port>" once it listens; -www answers one GET
    // with a status page; -naccept 1 makes it exit after that connection.
    let (mut child, port) = to_thread::run_sync(move || {
        let mut child = Command::new("timeout")
            .args([
                "20",
                "openssl",
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-naccept",
                "1",
            ])
            .args(["-www", "-cert"])
            .arg(&cert_file)
            .arg("-key")
            .arg(&key_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let port = loop {
            let line = lines
                .next()
                .ok_or_else(|| std::io::Error::other("s_server exited before listening"))??;
            if let Some(addr) = line.strip_prefix("ACCEPT ") {
                break addr
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .parse::<u16>()
                    .map_err(std::io::Error::other)?;
            }
        };
        Ok::<_, std::io::Error>((child, port))
    })
    .await??;
    let result = fail_after(LIMIT, async {
        let stream = open_tls_over_tcp_stream("localhost", port, Some(ca.client_config())).await;
        // "localhost" may resolve to ::1 first; s_server listens on 127.0.0.1 only, and
        // happy eyeballs falls back.
        let stream = match stream {
            Ok(s) => s,
            Err(_) => {
                let tcp = trio_net::open_tcp_stream("127.0.0.1", port).await?;
                TlsStream::client(
                    tcp,
                    ca.client_config(),
                    trio_tls::ServerName::try_from("localhost")?.to_owned(),
                )?
            }
        };
        stream.send_all(b"GET / HTTP/1.0\r\n\r\n").await?;
        let mut page = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.receive_some(&mut buf).await?;
            if n == 0 {
                break;
            }
            page.extend_from_slice(&buf[..n]);
        }
        assert!(stream.protocol_version().is_some());
        stream.aclose().await?;
        Ok(String::from_utf8_lossy(&page).into_owned())
    })
    .await;
    let _ = to_thread::run_sync(move || child.wait()).await;
    let page = result?;
    assert!(
        page.starts_with("HTTP/1.0 200 ok"),
        "s_server sent {page:?}"
    );
    assert!(
        page.contains("TLSv1.3"),
        "the page reports the session: {page:?}"
    );
    Ok(())
}
