//! Bulk TLS throughput over loopback TCP: one task sends 256 MiB through a `TlsStream`,
//! another receives it. Prints MB/s.
//!
//! ```sh
//! cargo run --release -p trio-tls --example tls_throughput
//! ```

use std::rc::Rc;
use std::time::Instant;

use trio_core::{open_nursery, AsyncResource, ReceiveStream, Result, SendStream};
use trio_net::{open_tcp_listeners, open_tcp_stream};
use trio_testing::TestCa;
use trio_tls::{ServerName, TlsStream};

const TOTAL: usize = 256 << 20;

fn main() -> Result<()> {
    trio_core::run(|| async {
        let ca = TestCa::new();
        let listener = open_tcp_listeners(0, Some("127.0.0.1")).await?.remove(0);
        let port = listener.local_addr()?.port();
        let tcp_client = open_tcp_stream("127.0.0.1", port).await?;
        let tcp_server = trio_core::Listener::accept(&listener).await?;
        let name = ServerName::try_from("127.0.0.1")?.to_owned();
        let client = TlsStream::client(tcp_client, ca.client_config(), name)?;
        let server = Rc::new(TlsStream::server(
            tcp_server,
            ca.issue_cert(&["127.0.0.1"]),
        )?);
        let started = Instant::now();
        let receiver = server.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = 0;
                while got < TOTAL {
                    let n = receiver.receive_some(&mut buf).await?;
                    assert!(n > 0, "early end of stream");
                    got += n;
                }
                Ok(())
            });
            let chunk = vec![7u8; 64 * 1024];
            let mut sent = 0;
            while sent < TOTAL {
                client.send_all(&chunk).await?;
                sent += chunk.len();
            }
            client.aclose().await
        })
        .await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "trio-tls: {} MiB in {secs:.3} s = {:.0} MB/s",
            TOTAL >> 20,
            TOTAL as f64 / secs / 1e6
        );
        Ok(())
    })
}
