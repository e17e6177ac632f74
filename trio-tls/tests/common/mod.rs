//! Helpers shared by the trio-tls tests: TLS pairs over memory streams.

#![allow(dead_code, async_fn_in_trait)] // each test file uses a different subset

use std::sync::Arc;

use trio_core::{open_nursery, Result, Stream};
use trio_testing::{memory_stream_pair, MemoryStream, TestCa};
use trio_tls::rustls::{ClientConfig, ServerConfig};
use trio_tls::{ServerName, TlsStream};

pub const NAME: &str = "trio-test.example";

pub fn name(n: &str) -> ServerName<'static> {
    ServerName::try_from(n.to_owned()).expect("valid server name")
}

/// A client and server config from one fresh CA.
pub fn configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let ca = TestCa::new();
    (ca.client_config(), ca.issue_cert(&[NAME]))
}

/// A client/server TLS pair over `transports`, no handshake yet.
pub fn tls_pair<S: Stream>(
    (a, b): (S, S),
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
) -> (TlsStream<S>, TlsStream<S>) {
    (
        TlsStream::client(a, client, name(NAME)).expect("client"),
        TlsStream::server(b, server).expect("server"),
    )
}

/// A TLS pair over memory streams, no handshake yet.
pub fn memory_pair() -> (TlsStream<MemoryStream>, TlsStream<MemoryStream>) {
    let (c, s) = configs();
    tls_pair(memory_stream_pair(), c, s)
}

/// Runs both handshakes concurrently.
pub async fn handshake_both<S: Stream + 'static>(
    client: TlsStream<S>,
    server: TlsStream<S>,
) -> Result<(TlsStream<S>, TlsStream<S>)> {
    let client = std::rc::Rc::new(client);
    let server = std::rc::Rc::new(server);
    let (c2, s2) = (client.clone(), server.clone());
    open_nursery(|nursery| async move {
        nursery.start_soon(async move { c2.do_handshake().await });
        nursery.start_soon(async move { s2.do_handshake().await });
        Ok(())
    })
    .await?;
    let unwrap = |rc: std::rc::Rc<TlsStream<S>>| {
        std::rc::Rc::try_unwrap(rc).unwrap_or_else(|_| panic!("handshake tasks are done"))
    };
    Ok((unwrap(client), unwrap(server)))
}

/// A memory stream or a lockstep stream, so one suite run can use both kinds.
pub enum EitherStream {
    Memory(MemoryStream),
    Lockstep(trio_testing::LockstepStream),
}

impl EitherStream {
    pub fn memory_pair() -> (Self, Self) {
        let (a, b) = memory_stream_pair();
        (Self::Memory(a), Self::Memory(b))
    }

    pub fn lockstep_pair() -> (Self, Self) {
        let (a, b) = trio_testing::lockstep_stream_pair();
        (Self::Lockstep(a), Self::Lockstep(b))
    }
}

impl trio_core::AsyncResource for EitherStream {
    async fn aclose(&self) -> Result<()> {
        match self {
            Self::Memory(s) => s.aclose().await,
            Self::Lockstep(s) => s.aclose().await,
        }
    }
}

impl trio_core::SendStream for EitherStream {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        match self {
            Self::Memory(s) => s.send_all(data).await,
            Self::Lockstep(s) => s.send_all(data).await,
        }
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        match self {
            Self::Memory(s) => s.wait_send_all_might_not_block().await,
            Self::Lockstep(s) => s.wait_send_all_might_not_block().await,
        }
    }
}

impl trio_core::ReceiveStream for EitherStream {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            Self::Memory(s) => s.receive_some(buf).await,
            Self::Lockstep(s) => s.receive_some(buf).await,
        }
    }
}
