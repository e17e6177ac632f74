//! wait_all_tasks_blocked: returns only when nothing can run, is defeated by I/O, wakes
//! waiters in cushion order, and takes priority over autojump.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use trio_core::lowlevel::{wait_readable, Instrument, ParkingLot, RealTime};
use trio_core::{
    checkpoint, current_time, open_nursery, sleep, sleep_forever, Instant, Result, Runner,
};
use trio_testing::{
    run_autojump, run_with_mock_clock, wait_all_tasks_blocked, wait_all_tasks_blocked_with_cushion,
    MockClock,
};

#[test]
fn returns_only_after_busy_tasks_have_finished_their_work() -> Result<()> {
    run_autojump(|| async {
        let counts = Rc::new(RefCell::new(vec![0u32; 3]));
        let c = counts.clone();
        open_nursery(|n| async move {
            for i in 0..3 {
                let c = c.clone();
                n.start_soon(async move {
                    for _ in 0..100 * (i + 1) {
                        checkpoint().await?;
                        c.borrow_mut()[i] += 1;
                    }
                    sleep_forever().await?;
                    Ok(())
                });
            }
            wait_all_tasks_blocked().await?;
            assert_eq!(*c.borrow(), vec![100, 200, 300]);
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn a_chain_of_wakeups_between_tasks_keeps_the_run_busy() -> Result<()> {
    // Two tasks hand a token back and forth through parking lots: at every moment one of
    // them is runnable, so quiescence only comes when the exchange ends.
    run_autojump(|| async {
        let lots = Rc::new([ParkingLot::new(), ParkingLot::new()]);
        let passes = Rc::new(Cell::new(0u32));
        let (l, p) = (lots.clone(), passes.clone());
        open_nursery(|n| async move {
            for me in 0..2usize {
                let (l, p) = (l.clone(), p.clone());
                n.start_soon(async move {
                    if me == 1 {
                        l[1].park().await?;
                    }
                    loop {
                        if p.get() >= 500 {
                            l[1 - me].unpark_all();
                            return Ok(());
                        }
                        p.set(p.get() + 1);
                        // Wake the other only after it parked (it parks before we run).
                        while l[1 - me].unpark_one().is_none() {
                            checkpoint().await?;
                        }
                        l[me].park().await?;
                    }
                });
            }
            wait_all_tasks_blocked().await?;
            assert!(
                p.get() >= 500,
                "returned mid-exchange after {} passes",
                p.get()
            );
            Ok(())
        })
        .await?;
        assert!(passes.get() >= 500);
        Ok(())
    })
}

#[test]
fn waiters_wake_in_cushion_order_with_ties_together() -> Result<()> {
    run_with_mock_clock(|_clock| async {
        let record = Rc::new(RefCell::new(Vec::new()));
        let r = record.clone();
        open_nursery(|n| async move {
            // Started biggest first, so order of arrival does not explain the result.
            for (name, cushion_ms) in [("c20", 20u64), ("b5", 5), ("b5'", 5), ("a0", 0)] {
                let r = r.clone();
                n.start_soon(async move {
                    wait_all_tasks_blocked_with_cushion(Duration::from_millis(cushion_ms)).await?;
                    r.borrow_mut().push(name);
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let rec = record.borrow();
        assert_eq!(rec[0], "a0");
        let mut middle = rec[1..3].to_vec();
        middle.sort();
        assert_eq!(middle, ["b5", "b5'"]);
        assert_eq!(rec[3], "c20");
        Ok(())
    })
}

#[test]
fn the_cushion_is_real_time_spent_blocked() -> Result<()> {
    run_with_mock_clock(|_clock| async {
        let started = RealTime::now();
        wait_all_tasks_blocked_with_cushion(Duration::from_millis(30)).await?;
        assert!(started.elapsed() >= Duration::from_millis(30));
        Ok(())
    })
}

#[test]
fn quiescence_comes_before_an_autojump() -> Result<()> {
    // As in Trio: while anyone waits for quiescence, the clock does not jump, whatever
    // the cushion.
    run_autojump(|| async {
        let record = Rc::new(RefCell::new(Vec::new()));
        let r = record.clone();
        open_nursery(|n| async move {
            let r1 = r.clone();
            n.start_soon(async move {
                sleep(Duration::from_secs(10)).await?;
                r1.borrow_mut().push(("sleeper", current_time()));
                Ok(())
            });
            for (name, cushion) in [("waiter 0", 0), ("waiter 5ms", 5)] {
                let r = r.clone();
                n.start_soon(async move {
                    wait_all_tasks_blocked_with_cushion(Duration::from_millis(cushion)).await?;
                    r.borrow_mut().push((name, current_time()));
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let ten = Instant::ZERO + Duration::from_secs(10);
        assert_eq!(
            *record.borrow(),
            [
                ("waiter 0", Instant::ZERO),
                ("waiter 5ms", Instant::ZERO),
                ("sleeper", ten)
            ]
        );
        Ok(())
    })
}

#[test]
fn readable_io_is_noticed_before_declaring_quiescence() -> Result<()> {
    run_autojump(|| async {
        let (a, mut b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        let got = Rc::new(Cell::new(false));
        let g = got.clone();
        open_nursery(|n| async move {
            let g2 = g.clone();
            n.start_soon(async move {
                let mut a = a;
                wait_readable(a.as_raw_fd()).await?;
                let mut byte = [0];
                assert_eq!(a.read(&mut byte)?, 1);
                g2.set(true);
                Ok(())
            });
            wait_all_tasks_blocked().await?; // the reader is now blocked on I/O
            assert!(!g.get());
            b.write_all(b"!")?; // readable now, but no task has run yet
            wait_all_tasks_blocked().await?;
            assert!(g.get(), "quiescence declared while a task had readable I/O");
            Ok(())
        })
        .await?;
        Ok(())
    })
}

/// Once armed, at the run loop's next blocking wait for I/O: spends `IDLE_BEFORE_IO` of
/// real time, then writes one byte to its socket. It acts on the run's own thread, between
/// the idle check and the poll, so the I/O arrives inside the cushion however loaded the
/// machine is: no second thread races against the cushion.
struct WriteWhenIdle {
    armed: Rc<Cell<bool>>,
    writer: UnixStream,
}

const IDLE_BEFORE_IO: Duration = Duration::from_millis(20);

impl Instrument for WriteWhenIdle {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        // A zero timeout is a poll between runnable batches, not an idle wait.
        if timeout == Some(Duration::ZERO) || !self.armed.replace(false) {
            return;
        }
        // The loop is idle from here on: spend some real time inside the cushion (on the
        // loop's thread, so the cushion cannot end first; tests never sleep), then let
        // the I/O arrive. A cushion counted from the first idle moment would now have
        // only CUSHION - IDLE_BEFORE_IO left, which the assertion below detects.
        let t = RealTime::now();
        while t.elapsed() < IDLE_BEFORE_IO {
            std::hint::spin_loop();
        }
        (&self.writer)
            .write_all(b"!")
            .expect("write to the socket pair");
    }
}

#[test]
fn io_arriving_during_the_cushion_restarts_it() -> Result<()> {
    const CUSHION: Duration = Duration::from_millis(200);
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    let armed = Rc::new(Cell::new(false));
    let instrument = WriteWhenIdle {
        armed: armed.clone(),
        writer: b,
    };
    Runner::new()
        .clock(MockClock::new())
        .instrument(instrument)
        .run(move || async move {
            let read_at = Rc::new(Cell::new(None));
            let r = read_at.clone();
            open_nursery(|n| async move {
                let r2 = r.clone();
                n.start_soon(async move {
                    let mut a = a;
                    wait_readable(a.as_raw_fd()).await?;
                    let mut byte = [0];
                    assert_eq!(a.read(&mut byte)?, 1);
                    r2.set(Some(RealTime::now()));
                    Ok(())
                });
                wait_all_tasks_blocked().await?; // the reader is now blocked on I/O
                let first_idle = RealTime::now();
                armed.set(true); // the next idle wait, inside the cushion, brings the I/O
                wait_all_tasks_blocked_with_cushion(CUSHION).await?;
                let returned = RealTime::now();
                let read = r.get().expect("the I/O woke the reader before quiescence");
                assert!(
                    read >= first_idle.after(IDLE_BEFORE_IO),
                    "the byte arrived only after the loop idled inside the cushion"
                );
                assert!(
                    returned >= read.after(CUSHION),
                    "the cushion must count from the last wake-up, not from the first idle moment"
                );
                Ok(())
            })
            .await?;
            Ok(())
        })
}

#[test]
fn a_cancelled_waiter_no_longer_holds_off_autojump() -> Result<()> {
    run_autojump(|| async {
        open_nursery(|n| async move {
            let patient = trio_core::CancelScope::new();
            let handle = patient.handle();
            n.start_soon(async move {
                // An hour of real-time cushion: while this waiter exists the clock never
                // autojumps, so if cancelling it left it registered, the sleep below
                // would hang for an hour instead of finishing at once.
                let r = patient
                    .run(wait_all_tasks_blocked_with_cushion(Duration::from_secs(
                        3600,
                    )))
                    .await?;
                assert!(r.is_none(), "the patient waiter was cancelled");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            handle.cancel();
            sleep(Duration::from_secs(1)).await?;
            assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(1));
            Ok(())
        })
        .await?;
        Ok(())
    })
}
