//! channels: ping-pong of a `u64` over two channels of capacity `cap`, and one producer
//! → one consumer through a buffer (ns per round trip / per item).
//!
//! trio-rs: `open_memory_channel`. tokio: `tokio::sync::mpsc::channel`. smol:
//! `async_channel::bounded`. Neither peer has a capacity-0 (rendezvous) bounded channel,
//! so the size-0 ping-pong row is trio-rs only. Values are checked as they come back.

use std::time::Instant;

use trio_core::ErrorKind;

use crate::harness::Rt;
use crate::rt::{self, check, ns_per};

/// One ping-pong run on `rt`: ns per round trip. `None` where `cap == 0` has no peer
/// equivalent.
pub fn ping_pong(rt: Rt, cap: usize, n: usize) -> Option<f64> {
    match rt {
        Rt::Trio => Some(trio_ping_pong(cap, n)),
        Rt::Tokio if cap > 0 => Some(tokio_ping_pong(cap, n)),
        Rt::Smol if cap > 0 => Some(smol_ping_pong(cap, n)),
        _ => None,
    }
}

/// One producer/consumer run on `rt`: ns per item.
///
/// With `yield_per_op`, tokio's and smol's producer and consumer yield after every send
/// and every receive, which is the schedule point trio-rs's channel makes in each of them
/// (Trio's rule); trio-rs runs the same code either way. The pair of rows separates what
/// the rule costs from what the channel and the scheduler cost.
pub fn throughput(rt: Rt, cap: usize, n: usize, yield_per_op: bool) -> Option<f64> {
    Some(match rt {
        Rt::Trio => trio_throughput(cap, n),
        Rt::Tokio => tokio_throughput(cap, n, yield_per_op),
        Rt::Smol => smol_throughput(cap, n, yield_per_op),
    })
}

fn expected_sum(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

fn trio_ping_pong(cap: usize, n: usize) -> f64 {
    rt::trio(move || async move {
        let (ping_tx, ping_rx) = trio_sync::open_memory_channel::<u64>(cap);
        let (pong_tx, pong_rx) = trio_sync::open_memory_channel::<u64>(cap);
        let t0 = Instant::now();
        trio_core::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                loop {
                    match ping_rx.receive().await {
                        Ok(v) => pong_tx.send(v + 1).await?,
                        Err(e) if e.kind() == ErrorKind::EndOfChannel => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
            });
            for i in 0..n as u64 {
                ping_tx.send(i).await?;
                check("trio-rs ping-pong", pong_rx.receive().await?, i + 1);
            }
            drop(ping_tx);
            Ok(())
        })
        .await?;
        Ok(ns_per(t0.elapsed(), n))
    })
}

fn tokio_ping_pong(cap: usize, n: usize) -> f64 {
    rt::tokio(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(cap);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(cap);
        let t0 = Instant::now();
        let echo = tokio::task::spawn_local(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v + 1).await.expect("pong receiver alive");
            }
        });
        for i in 0..n as u64 {
            ping_tx.send(i).await.expect("ping receiver alive");
            check("tokio ping-pong", pong_rx.recv().await, Some(i + 1));
        }
        drop(ping_tx);
        echo.await.expect("tokio echo task");
        ns_per(t0.elapsed(), n)
    })
}

fn smol_ping_pong(cap: usize, n: usize) -> f64 {
    rt::smol(|ex| async move {
        let (ping_tx, ping_rx) = async_channel::bounded::<u64>(cap);
        let (pong_tx, pong_rx) = async_channel::bounded::<u64>(cap);
        let t0 = Instant::now();
        let echo = ex.spawn(async move {
            while let Ok(v) = ping_rx.recv().await {
                pong_tx.send(v + 1).await.expect("pong receiver alive");
            }
        });
        for i in 0..n as u64 {
            ping_tx.send(i).await.expect("ping receiver alive");
            check("smol ping-pong", pong_rx.recv().await, Ok(i + 1));
        }
        drop(ping_tx);
        echo.await;
        ns_per(t0.elapsed(), n)
    })
}

fn trio_throughput(cap: usize, n: usize) -> f64 {
    rt::trio(move || async move {
        let (tx, rx) = trio_sync::open_memory_channel::<u64>(cap);
        let t0 = Instant::now();
        let mut sum = 0u64;
        let total = &mut sum;
        trio_core::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                for i in 0..n as u64 {
                    tx.send(i).await?;
                }
                Ok(())
            });
            loop {
                match rx.receive().await {
                    Ok(v) => *total += v,
                    Err(e) if e.kind() == ErrorKind::EndOfChannel => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        })
        .await?;
        let elapsed = t0.elapsed();
        check("trio-rs channel sum", sum, expected_sum(n));
        Ok(ns_per(elapsed, n))
    })
}

fn tokio_throughput(cap: usize, n: usize, yield_per_op: bool) -> f64 {
    rt::tokio(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(cap);
        let t0 = Instant::now();
        let producer = tokio::task::spawn_local(async move {
            for i in 0..n as u64 {
                tx.send(i).await.expect("receiver alive");
                if yield_per_op {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut sum = 0u64;
        while let Some(v) = rx.recv().await {
            sum += v;
            if yield_per_op {
                tokio::task::yield_now().await;
            }
        }
        producer.await.expect("tokio producer");
        let elapsed = t0.elapsed();
        check("tokio channel sum", sum, expected_sum(n));
        ns_per(elapsed, n)
    })
}

fn smol_throughput(cap: usize, n: usize, yield_per_op: bool) -> f64 {
    rt::smol(|ex| async move {
        let (tx, rx) = async_channel::bounded::<u64>(cap);
        let t0 = Instant::now();
        let producer = ex.spawn(async move {
            for i in 0..n as u64 {
                tx.send(i).await.expect("receiver alive");
                if yield_per_op {
                    futures_lite::future::yield_now().await;
                }
            }
        });
        let mut sum = 0u64;
        while let Ok(v) = rx.recv().await {
            sum += v;
            if yield_per_op {
                futures_lite::future::yield_now().await;
            }
        }
        producer.await;
        let elapsed = t0.elapsed();
        check("smol channel sum", sum, expected_sum(n));
        ns_per(elapsed, n)
    })
}
