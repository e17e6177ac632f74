//! The websocket chat server: rooms, broadcast to every member, and slow clients that
//! cannot stall anyone else. async-tungstenite over the `futures-io` adapter
//! (trio-net's [`Compat`], pumps in a nursery per connection), on trio-net's `serve_tcp`.
//!
//! # Protocol
//! Connect to `ws://HOST:PORT/ROOM?nick=NAME` (room defaults to `lobby`, nick to
//! `guestN`). Every text message you send is broadcast to every member of the room, you
//! included, as `NAME: text`. Joins and departures are announced as `* NAME joined #ROOM`
//! and `* NAME left #ROOM`.
//!
//! # Slow clients: the disconnect policy
//! Each client has a bounded outgoing queue (a memory channel of
//! [`ChatConfig::queue_size`] messages) drained by its own writer task. Broadcasting never
//! waits: it `try_send`s into each member's queue. A member whose queue is full has fallen
//! that far behind; it is **disconnected**, not skipped, so that nobody silently misses
//! messages: it leaves the room at once (the room hears `* NAME dropped: too slow`), and
//! its connection gets a close frame with code 1008 (policy violation, reason
//! `too slow`), sent within [`ChatConfig::goodbye`] if its socket ever drains, after which
//! the connection is closed regardless.
//!
//! # Shutdown
//! Cancelling the server's scope gives each connection [`ChatConfig::grace`] to say
//! goodbye: a close frame with code 1001 (going away, reason `server shutting down`), then
//! the TCP connection is closed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use trio_core::{
    fail_after, open_nursery, CancelHandle, CancelScope, Error, ErrorKind, Result, TaskStatus,
};
use trio_net::compat::Compat;
use trio_net::{SocketListener, SocketStream};
use trio_sync::{open_memory_channel, MemoryReceiveChannel, MemorySendChannel};

use crate::graceful::{cancellable, with_grace};

/// How the chat server behaves.
#[derive(Clone, Debug)]
pub struct ChatConfig {
    /// Messages a client may fall behind before it is disconnected.
    pub queue_size: usize,
    /// Time connections get to say goodbye when the server is cancelled.
    pub grace: Duration,
    /// Time a close frame gets to go out before the connection is simply closed.
    pub goodbye: Duration,
    /// Time a client gets to complete the websocket handshake.
    pub handshake_timeout: Duration,
}

impl Default for ChatConfig {
    /// 32 messages of queue, 2 s of grace, 1 s for a goodbye, 5 s for a handshake.
    fn default() -> Self {
        ChatConfig {
            queue_size: 32,
            grace: Duration::from_secs(2),
            goodbye: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a session ended; decides the close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    ClientLeft,
    TooSlow,
    ServerShutdown,
}

struct Member {
    nick: Rc<str>,
    queue: MemorySendChannel<Message>,
    kick: CancelHandle,
    ending: Rc<Cell<Option<Ending>>>,
}

/// Every room and its members; shared by all sessions (one thread, so `Rc<RefCell>`).
#[derive(Default, Clone)]
pub struct Rooms {
    rooms: Rc<RefCell<BTreeMap<String, BTreeMap<u64, Member>>>>,
    next_id: Rc<Cell<u64>>,
}

impl Rooms {
    /// The nicknames in `room`, in joining order.
    pub fn members(&self, room: &str) -> Vec<String> {
        self.rooms
            .borrow()
            .get(room)
            .map(|m| m.values().map(|m| m.nick.to_string()).collect())
            .unwrap_or_default()
    }

    fn join(&self, room: &str, member: Member) -> u64 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let nick = member.nick.clone();
        self.rooms
            .borrow_mut()
            .entry(room.to_string())
            .or_default()
            .insert(id, member);
        self.broadcast(room, &format!("* {nick} joined #{room}"));
        id
    }

    fn leave(&self, room: &str, id: u64) {
        let gone = {
            let mut rooms = self.rooms.borrow_mut();
            let gone = rooms.get_mut(room).and_then(|m| m.remove(&id));
            if rooms.get(room).is_some_and(BTreeMap::is_empty) {
                rooms.remove(room);
            }
            gone
        };
        if let Some(m) = gone {
            self.broadcast(room, &format!("* {} left #{room}", m.nick));
        }
    }

    /// Queues `text` for every member of `room`; never waits. Members whose queue is full
    /// are disconnected (see the module docs).
    fn broadcast(&self, room: &str, text: &str) {
        let msg = Message::text(text);
        let mut dropped = Vec::new();
        {
            let mut rooms = self.rooms.borrow_mut();
            let Some(members) = rooms.get_mut(room) else {
                return;
            };
            members.retain(|_, m| match m.queue.try_send(msg.clone()) {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if m.ending.get().is_none() {
                        m.ending.set(Some(Ending::TooSlow));
                    }
                    m.kick.cancel();
                    dropped.push(m.nick.clone());
                    false
                }
                // The session is ending; it removes itself.
                Err(_) => true,
            });
        }
        for nick in dropped {
            self.broadcast(room, &format!("* {nick} dropped: too slow"));
        }
    }
}

/// Serves the chat on `port` of `host` until cancelled; `task_status.started()` reports
/// the listeners. `rooms` lets the caller look inside (tests, an admin page).
pub async fn serve_chat(
    config: ChatConfig,
    rooms: Rooms,
    port: u16,
    host: Option<&str>,
    task_status: TaskStatus<Vec<Rc<SocketListener>>>,
) -> Result<()> {
    let config = Rc::new(config);
    trio_net::serve_tcp(
        move |stream| {
            let (config, rooms) = (config.clone(), rooms.clone());
            async move {
                match session(stream, &config, &rooms).await {
                    // Cancellation propagates; a client's failure is not the server's.
                    Err(e) if e.is_cancelled() => Err(e),
                    _ => Ok(()),
                }
            }
        },
        port,
        host,
        task_status,
    )
    .await
}

fn ws_error(e: async_tungstenite::tungstenite::Error) -> Error {
    Error::with_source(ErrorKind::BrokenResource, "websocket", e)
}

/// One client, from handshake to goodbye.
async fn session(stream: SocketStream, config: &ChatConfig, rooms: &Rooms) -> Result<()> {
    with_grace(config.grace, |shutdown| async move {
        open_nursery(|pumps| async move {
            let io = Compat::new(stream, &pumps);
            let target = Rc::new(RefCell::new(String::new()));
            let seen = target.clone();
            // tungstenite's own callback signature; its error type is what it is.
            #[allow(clippy::result_large_err)]
            let callback = move |req: &Request, resp: Response| {
                *seen.borrow_mut() = req.uri().to_string();
                Ok(resp)
            };
            let handshake = async_tungstenite::accept_hdr_async(io, callback);
            let ws = fail_after(config.handshake_timeout, cancellable(handshake))
                .await?
                .map_err(ws_error)?;
            let (room, nick) = parse_target(&target.borrow(), rooms);
            let (mut sink, mut read) = ws.split();

            let (queue, outbox) = open_memory_channel::<Message>(config.queue_size);
            let session_scope = CancelScope::new();
            let kick = session_scope.handle();
            let ending: Rc<Cell<Option<Ending>>> = Rc::new(Cell::new(None));
            shutdown.cancel_on_trigger(kick.clone());
            let id = rooms.join(
                &room,
                Member {
                    nick: nick.clone(),
                    queue,
                    kick: kick.clone(),
                    ending: ending.clone(),
                },
            );

            let sink_ref = &mut sink;
            let (r_room, r_nick, r_rooms, r_ending) =
                (room.clone(), nick.clone(), rooms.clone(), ending.clone());
            let _ = session_scope
                .run(open_nursery(|nursery| async move {
                    // Reader: everything the client says goes to the room.
                    nursery.start_soon(async move {
                        cancellable(async {
                            while let Some(Ok(msg)) = read.next().await {
                                match msg {
                                    Message::Text(t) => r_rooms
                                        .broadcast(&r_room, &format!("{r_nick}: {}", t.as_str())),
                                    Message::Close(_) => break,
                                    _ => {}
                                }
                            }
                        })
                        .await?;
                        if r_ending.get().is_none() {
                            r_ending.set(Some(Ending::ClientLeft));
                        }
                        kick.cancel();
                        Ok(())
                    });
                    // Writer: drains this client's queue into the socket.
                    cancellable(drain_queue(&outbox, sink_ref)).await?
                }))
                .await;
            rooms.leave(&room, id);
            if ending.get().is_none() && shutdown.is_triggered() {
                ending.set(Some(Ending::ServerShutdown));
            }
            let frame = match ending.get() {
                Some(Ending::TooSlow) => Some(CloseFrame {
                    code: CloseCode::Policy,
                    reason: "too slow".into(),
                }),
                Some(Ending::ServerShutdown) => Some(CloseFrame {
                    code: CloseCode::Away,
                    reason: "server shutting down".into(),
                }),
                _ => None,
            };
            // Goodbye, on a budget of its own: a slow client may never drain its socket.
            let _ = CancelScope::new()
                .with_shield(true)
                .with_timeout(config.goodbye)
                .run(cancellable(sink.close(frame)))
                .await;
            Ok(())
        })
        .await
    })
    .await
    .map(|_| ())
}

type Sender = async_tungstenite::WebSocketSender<Compat<SocketStream>>;

/// The writer: sends this client's queued messages, in order, until cancelled.
async fn drain_queue(outbox: &MemoryReceiveChannel<Message>, sink: &mut Sender) -> Result<()> {
    loop {
        let msg = outbox.receive().await?;
        sink.send(msg).await.map_err(ws_error)?;
    }
}

/// Room and nick from the request target `/ROOM?nick=NAME`.
fn parse_target(target: &str, rooms: &Rooms) -> (String, Rc<str>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let room = path.trim_matches('/');
    let room = if room.is_empty() { "lobby" } else { room };
    let nick = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("nick="))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("guest{}", rooms.next_id.get() + 1));
    (room.to_string(), nick.into())
}
