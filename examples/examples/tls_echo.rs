//! A TLS echo server and client in one program: the server runs `serve_tls` with a
//! certificate from a throwaway CA (`trio_testing::TestCa`), the client connects with a
//! config trusting that CA; one client task sends while another receives.
//!
//! ```sh
//! cargo run --example tls_echo
//! ```

use std::rc::Rc;

use trio_core::{open_nursery, AsyncResource, ReceiveStream, Result, SendStream};
use trio_net::SocketStream;
use trio_sync::Event;
use trio_testing::TestCa;
use trio_tls::{open_tls_over_tcp_stream, serve_tls, TlsStream};

/// Echoes until the client's close_notify, then says goodbye with its own.
async fn echo(stream: TlsStream<SocketStream>) -> Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            println!(
                "server: client closed the session ({:?})",
                stream.protocol_version()
            );
            return stream.aclose().await;
        }
        stream.send_all(&buf[..n]).await?;
    }
}

fn main() -> Result<()> {
    trio_core::run(|| async {
        let ca = TestCa::new();
        let server_config = ca.issue_cert(&["localhost", "127.0.0.1"]);
        let handler_done = Rc::new(Event::new());
        open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| {
                    let done = handler_done.clone();
                    let handler = move |stream| {
                        let done = done.clone();
                        async move {
                            let result = echo(stream).await;
                            done.set();
                            result
                        }
                    };
                    serve_tls(handler, 0, Some("127.0.0.1"), server_config, status)
                })
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            println!("server: listening on 127.0.0.1:{port}");

            let client = Rc::new(
                open_tls_over_tcp_stream("127.0.0.1", port, Some(ca.client_config())).await?,
            );
            let (sender, receiver) = (client.clone(), client.clone());
            open_nursery(|inner| async move {
                inner.start_soon(async move {
                    for i in 1..=3 {
                        let msg = format!("secret message {i}");
                        println!("client: sending {msg:?}");
                        sender.send_all(msg.as_bytes()).await?;
                    }
                    Ok(())
                });
                let mut received = Vec::new();
                let mut buf = [0u8; 1024];
                while received.len() < "secret message 1".len() * 3 {
                    let n = receiver.receive_some(&mut buf).await?;
                    received.extend_from_slice(&buf[..n]);
                    println!("client: received {:?}", String::from_utf8_lossy(&buf[..n]));
                }
                Ok(())
            })
            .await?;
            // close_notify to the server; it answers with its own and closes.
            client.aclose().await?;
            // Wait for the server's handler to finish, then shut the server down.
            handler_done.wait().await?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}
