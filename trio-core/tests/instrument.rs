//! `Instrument` hooks: the run calls each hook at its moment (run start/end, task
//! spawned/scheduled/step/exited, before/after waiting for I/O), in a consistent order.

mod common;

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use common::*;
use trio_core::lowlevel::{
    reschedule, wait_readable, wait_task_rescheduled, Abort, Instrument, Task,
};
use trio_core::{checkpoint, open_nursery, sleep, Runner};
use trio_testing::MockClock;

#[derive(Clone, Default)]
struct Recorder(Rc<RefCell<Vec<String>>>);

impl Recorder {
    fn push(&self, s: String) {
        self.0.borrow_mut().push(s);
    }
    fn events(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

impl Instrument for Recorder {
    fn before_run(&self) {
        self.push("before_run".into());
    }
    fn after_run(&self) {
        self.push("after_run".into());
    }
    fn task_spawned(&self, task: &Task) {
        self.push(format!("spawned {}", task.name()));
    }
    fn task_scheduled(&self, task: &Task) {
        self.push(format!("scheduled {}", task.name()));
    }
    fn before_task_step(&self, task: &Task) {
        self.push(format!("step {}", task.name()));
    }
    fn after_task_step(&self, task: &Task) {
        self.push(format!("stepped {}", task.name()));
    }
    fn task_exited(&self, task: &Task) {
        self.push(format!("exited {}", task.name()));
    }
    fn before_io_wait(&self, _timeout: Option<Duration>) {
        self.push("before_io_wait".into());
    }
    fn after_io_wait(&self, _timeout: Option<Duration>) {
        self.push("after_io_wait".into());
    }
}

/// A runner on an autojumping mock clock with `rec` as its instrument.
fn recorded(rec: &Recorder) -> Runner {
    Runner::new()
        .clock(MockClock::new().with_autojump_threshold(secs(0)))
        .instrument(rec.clone())
}

/// A connected pair of non-blocking Unix sockets.
fn nonblocking_pair() -> std::io::Result<(UnixStream, UnixStream)> {
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    Ok((a, b))
}

fn position(events: &[String], e: &str) -> usize {
    events
        .iter()
        .position(|x| x == e)
        .unwrap_or_else(|| panic!("no {e:?} in {events:#?}"))
}

#[test]
fn every_hook_is_called_at_its_moment() {
    let rec = Recorder::default();
    recorded(&rec)
        .run(|| async {
            let (a, b) = nonblocking_pair()?;
            open_nursery(|n| async move {
                n.start_soon_named("parker", async move {
                    wait_task_rescheduled(|| Abort::Succeeded).await
                });
                n.start_soon_named("writer", async move {
                    sleep(secs(1)).await?;
                    (&b).write_all(b"x")?;
                    Ok(())
                });
                checkpoint().await?;
                let parker = n
                    .child_tasks()
                    .into_iter()
                    .find(|t| t.name() == "parker")
                    .expect("parker");
                reschedule(&parker, Ok(()));
                wait_readable(a.as_raw_fd()).await?;
                Ok(())
            })
            .await?;
            Ok(())
        })
        .unwrap();
    let ev = rec.events();
    assert_eq!(ev.first().map(String::as_str), Some("before_run"));
    assert_eq!(ev.last().map(String::as_str), Some("after_run"));
    for name in ["<main>", "parker", "writer"] {
        let spawned = position(&ev, &format!("spawned {name}"));
        let step = position(&ev, &format!("step {name}"));
        let stepped = position(&ev, &format!("stepped {name}"));
        let exited = position(&ev, &format!("exited {name}"));
        assert!(
            spawned < step && step < stepped && stepped < exited,
            "{name}: {ev:#?}"
        );
    }
    let scheduled = position(&ev, "scheduled parker");
    assert!(scheduled < position(&ev, "exited parker"));
    let io = position(&ev, "before_io_wait");
    assert_eq!(ev[io + 1], "after_io_wait", "{ev:#?}");
    // Steps never nest: each step is closed before the next opens.
    let mut open: Option<&str> = None;
    for e in &ev {
        if let Some(name) = e.strip_prefix("step ") {
            assert!(open.is_none(), "nested step: {ev:#?}");
            open = Some(name);
        } else if let Some(name) = e.strip_prefix("stepped ") {
            assert_eq!(open.take(), Some(name));
        }
    }
}

#[test]
fn several_instruments_all_hear_every_event() {
    let (r1, r2) = (Recorder::default(), Recorder::default());
    recorded(&r1)
        .instrument(r2.clone())
        .run(|| async { checkpoint().await })
        .unwrap();
    assert!(!r1.events().is_empty());
    assert_eq!(r1.events(), r2.events());
}

/// As in Trio, a task is reported scheduled once for every step it takes, before that
/// step, however it was woken: spawned, after a checkpoint's yield, by `reschedule`
/// (a sleep, the reactor), or through a plain `Waker`.
#[test]
fn every_step_follows_exactly_one_scheduled_report() {
    let rec = Recorder::default();
    recorded(&rec)
        .run(|| async {
            let (a, b) = nonblocking_pair()?;
            let parked_waker: Rc<RefCell<Option<Waker>>> = Rc::default();
            let slot = parked_waker.clone();
            open_nursery(|n| async move {
                n.start_soon_named("yielder", async {
                    for _ in 0..3 {
                        checkpoint().await?;
                    }
                    Ok(())
                });
                n.start_soon_named("sleeper", async { sleep(secs(1)).await });
                n.start_soon_named("reader", async move { wait_readable(a.as_raw_fd()).await });
                n.start_soon_named("waker-parked", async move {
                    let mut first = true;
                    poll_fn(|cx| {
                        if std::mem::take(&mut first) {
                            *slot.borrow_mut() = Some(cx.waker().clone());
                            Poll::Pending
                        } else {
                            Poll::Ready(())
                        }
                    })
                    .await;
                    Ok(())
                });
                n.start_soon_named("poker", async move {
                    sleep(secs(2)).await?;
                    (&b).write_all(b"x")?;
                    parked_waker.borrow_mut().take().expect("parked").wake();
                    Ok(())
                });
                Ok(())
            })
            .await?;
            Ok(())
        })
        .unwrap();
    let ev = rec.events();
    for (name, min_steps) in [
        ("yielder", 4),
        ("sleeper", 2),
        ("reader", 2),
        ("waker-parked", 2),
        ("poker", 2),
    ] {
        let (scheduled, step) = (format!("scheduled {name}"), format!("step {name}"));
        let mine: Vec<&String> = ev
            .iter()
            .filter(|e| **e == scheduled || **e == step)
            .collect();
        let steps = mine.iter().filter(|e| ***e == step).count();
        assert!(steps >= min_steps, "{name} took {steps} steps: {ev:#?}");
        for pair in mine.chunks(2) {
            assert_eq!(
                pair,
                [&scheduled, &step],
                "{name}: each step must follow one scheduled report: {ev:#?}"
            );
        }
    }
}
