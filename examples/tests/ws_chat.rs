//! The websocket chat server against foreign clients: tungstenite's own blocking client
//! (on worker threads) and Python's `websockets`.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{python, python_has, run_checked, serial, ChildGuard};
use trio_core::{open_nursery, CancelScope, Result};
use trio_examples::ws_chat::{serve_chat, ChatConfig, Rooms};
use trio_sync::to_thread::run_sync;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

fn connect_with(stream: TcpStream, port: u16, room: &str, nick: &str) -> Ws {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://127.0.0.1:{port}/{room}?nick={nick}");
    let (ws, _resp) = tungstenite::client(url.as_str(), stream).expect("websocket handshake");
    ws
}

fn connect(port: u16, room: &str, nick: &str) -> Ws {
    connect_with(
        TcpStream::connect(("127.0.0.1", port)).unwrap(),
        port,
        room,
        nick,
    )
}

/// The next text message (pings are answered by tungstenite itself).
fn recv_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("read a chat message") {
            Message::Text(t) => return t.as_str().to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Reads until the server closes; returns the close code, if a close frame came.
fn recv_close(ws: &mut Ws) -> Option<CloseCode> {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return frame.map(|f| f.code),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the server never closed the connection")
            }
            Err(_) => return None,
        }
    }
}

/// Runs the chat server with `config` in `body`'s nursery; `body` gets the port. The
/// server is cancelled when `body` returns.
async fn with_chat_server<F, Fut, T>(config: ChatConfig, rooms: Rooms, body: F) -> Result<T>
where
    F: FnOnce(u16) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let out = open_nursery(|nursery| async move {
        let server = CancelScope::new();
        let stop = server.handle();
        let listeners = nursery
            .start(|status| async move {
                server
                    .run(serve_chat(config, rooms, 0, Some("127.0.0.1"), status))
                    .await
                    .map(|_| ())
            })
            .await?;
        let port = listeners[0].local_addr()?.port();
        let out = body(port).await;
        stop.cancel();
        out
    })
    .await?;
    Ok(out.expect("the nursery is not cancelled from outside"))
}

#[test]
fn messages_reach_every_member_of_the_room_and_nobody_else() {
    let _serial = serial();
    let rooms = Rooms::default();
    let (codes, members) = run_checked(move || async move {
        let rooms2 = rooms.clone();
        let (alice, carol, members) =
            with_chat_server(ChatConfig::default(), rooms, |port| async move {
                let (alice, carol) = run_sync(move || {
                    let mut alice = connect(port, "lobby", "alice");
                    assert_eq!(recv_text(&mut alice), "* alice joined #lobby");
                    let mut bob = connect(port, "lobby", "bob");
                    assert_eq!(recv_text(&mut bob), "* bob joined #lobby");
                    assert_eq!(recv_text(&mut alice), "* bob joined #lobby");
                    let mut carol = connect(port, "kitchen", "carol");
                    assert_eq!(recv_text(&mut carol), "* carol joined #kitchen");

                    alice.send(Message::text("hi bob")).unwrap();
                    assert_eq!(recv_text(&mut alice), "alice: hi bob");
                    assert_eq!(recv_text(&mut bob), "alice: hi bob");
                    bob.send(Message::text("hi alice")).unwrap();
                    assert_eq!(recv_text(&mut bob), "bob: hi alice");
                    assert_eq!(recv_text(&mut alice), "bob: hi alice");
                    // Carol is in another room: the next thing she hears is her own message.
                    carol.send(Message::text("anyone?")).unwrap();
                    assert_eq!(recv_text(&mut carol), "carol: anyone?");
                    // Bob leaves with a proper close handshake; alice hears it.
                    bob.close(None).unwrap();
                    assert_eq!(recv_text(&mut alice), "* bob left #lobby");
                    while bob.read().is_ok() {}
                    (alice, carol)
                })
                .await?;
                Ok((alice, carol, rooms2.members("lobby")))
            })
            .await?;
        // The server was cancelled when the body returned: every client got "going away".
        let codes = run_sync(move || {
            let (mut alice, mut carol) = (alice, carol);
            (recv_close(&mut alice), recv_close(&mut carol))
        })
        .await?;
        Ok((codes, members))
    });
    assert_eq!(members, vec!["alice".to_string()]);
    assert_eq!(codes, (Some(CloseCode::Away), Some(CloseCode::Away)));
}

#[test]
fn a_slow_client_is_disconnected_without_stalling_the_room() {
    let _serial = serial();
    let config = ChatConfig {
        queue_size: 4,
        goodbye: Duration::from_millis(300),
        ..ChatConfig::default()
    };
    let (sent, sloth_end) = run_checked(move || async move {
        with_chat_server(config, Rooms::default(), |port| async move {
            run_sync(move || {
                // The sloth reads nothing after joining, through a tiny receive buffer.
                let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                sock.set_recv_buffer_size(4096).unwrap();
                sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
                    .unwrap();
                let mut sloth = connect_with(sock.into(), port, "race", "sloth");
                assert_eq!(recv_text(&mut sloth), "* sloth joined #race");
                let mut fast = connect(port, "race", "fast");
                assert_eq!(recv_text(&mut fast), "* fast joined #race");
                // The fast client talks in lock step; it must never wait on the sloth.
                let payload = "x".repeat(16 * 1024);
                let mut dropped = false;
                let mut sent = 0;
                while !dropped {
                    assert!(sent < 2000, "the slow client was never disconnected");
                    fast.send(Message::text(format!("{sent} {payload}")))
                        .unwrap();
                    let want = format!("fast: {sent} {payload}");
                    loop {
                        let m = recv_text(&mut fast);
                        if m == "* sloth dropped: too slow" {
                            dropped = true;
                        } else {
                            assert_eq!(m, want, "messages out of order");
                            break;
                        }
                    }
                    sent += 1;
                }
                // After the drop the room goes on.
                fast.send(Message::text("still here")).unwrap();
                assert_eq!(recv_text(&mut fast), "fast: still here");
                // The sloth's connection ends: what was queued, then close or EOF.
                let end = recv_close(&mut sloth);
                (sent, end)
            })
            .await
        })
        .await
    });
    println!("the slow client was dropped after {sent} messages; it saw {sloth_end:?}");
    assert!(sent >= 4, "dropped after only {sent} messages");
    // The close frame gets through only if the socket drained within the goodbye budget.
    assert!(
        matches!(sloth_end, None | Some(CloseCode::Policy)),
        "{sloth_end:?}"
    );
}

const PY_CLIENT: &str = r#"
import asyncio, sys
import websockets

async def main(url):
    async with websockets.connect(url) as ws:
        got = [await ws.recv()]
        await ws.send("hello from python")
        while True:
            m = await ws.recv()
            got.append(m)
            if m.startswith("rs: "):
                break
    for g in got:
        print(g, flush=True)

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 20))
"#;

#[test]
fn python_websockets_client_chats_with_a_tungstenite_client() {
    let _serial = serial();
    if !python_has("websockets") {
        println!(
            "SKIPPED: the Python `websockets` package is not installed for {} \
             (`.ci/run` installs .ci/requirements.txt into .venv)",
            python().display()
        );
        return;
    }
    let (py_out, rs_heard) = run_checked(|| async {
        with_chat_server(ChatConfig::default(), Rooms::default(), |port| async move {
            run_sync(move || {
                let mut rs = connect(port, "mixed", "rs");
                assert_eq!(recv_text(&mut rs), "* rs joined #mixed");
                let child = Command::new(python())
                    .args([
                        "-c",
                        PY_CLIENT,
                        &format!("ws://127.0.0.1:{port}/mixed?nick=py"),
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start the Python client");
                let mut py = ChildGuard {
                    child,
                    stdout: None,
                };
                let mut heard = vec![recv_text(&mut rs), recv_text(&mut rs)];
                rs.send(Message::text("hello from rust")).unwrap();
                heard.push(recv_text(&mut rs));
                heard.push(recv_text(&mut rs)); // python leaves
                let mut out = String::new();
                py.child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                let status = py.child.wait().unwrap();
                assert!(status.success(), "python client failed: {status:?}");
                rs.close(None).unwrap();
                while rs.read().is_ok() {}
                Ok::<_, trio_core::Error>((out, heard))
            })
            .await?
        })
        .await
    });
    assert_eq!(
        py_out.lines().collect::<Vec<_>>(),
        [
            "* py joined #mixed",
            "py: hello from python",
            "rs: hello from rust"
        ]
    );
    assert_eq!(
        rs_heard,
        [
            "* py joined #mixed",
            "py: hello from python",
            "rs: hello from rust",
            "* py left #mixed"
        ]
    );
}
