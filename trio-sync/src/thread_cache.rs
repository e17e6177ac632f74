//! The worker-thread cache behind `to_thread`: threads are reused across calls, idle
//! ones wait for work, and each exits after `IDLE_TIMEOUT` without any.
//!
//! Process-wide (as in Trio): one cache serves every run on every thread. Invariant: a
//! worker is in `IDLE` exactly while it waits for a job and nobody has claimed it; a
//! dispatcher that pops it owes it a job, and a worker whose wait times out leaves only
//! if it can still remove itself from `IDLE` (otherwise a job is on its way).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::Duration;

/// A unit of work for a worker; it catches its own panics and returns how to deliver
/// its result. The worker marks itself idle *before* delivering (as Trio's thread cache
/// does), so a caller that starts another job right after getting a result finds this
/// worker idle and reuses it.
pub(crate) type Job = Box<dyn FnOnce() -> Deliver + Send + 'static>;

/// Hands a job's result back to whoever waits for it.
pub(crate) type Deliver = Box<dyn FnOnce() + Send + 'static>;

/// How long a worker waits for another job before its thread exits.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

struct IdleWorker {
    id: u64,
    jobs: Sender<Job>,
}

static IDLE: Mutex<Vec<IdleWorker>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<u64> = Mutex::new(0);

fn idle() -> std::sync::MutexGuard<'static, Vec<IdleWorker>> {
    // Jobs never run under this lock, so poisoning can only come from a bug in this
    // file; the list is still consistent, so keep going.
    IDLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `job` on an idle worker, or on a new thread if none is idle.
///
/// # Errors
/// If the OS refuses to start a thread.
pub(crate) fn start_thread_soon(mut job: Job) -> std::io::Result<()> {
    loop {
        let worker = idle().pop();
        match worker {
            Some(w) => match w.jobs.send(job) {
                Ok(()) => return Ok(()),
                // That worker is gone (cannot happen while it is listed, but be safe).
                Err(mpsc::SendError(j)) => job = j,
            },
            None => return spawn_worker(job),
        }
    }
}

fn spawn_worker(first: Job) -> std::io::Result<()> {
    let id = {
        let mut n = NEXT_ID.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n
    };
    std::thread::Builder::new()
        .name(format!("trio-worker-{id}"))
        .spawn(move || worker_loop(id, first))
        .map(drop)
}

fn worker_loop(id: u64, first: Job) {
    let (tx, rx) = mpsc::channel::<Job>();
    let mut job = first;
    loop {
        let deliver = job();
        idle().push(IdleWorker {
            id,
            jobs: tx.clone(),
        });
        deliver();
        job = match rx.recv_timeout(IDLE_TIMEOUT) {
            Ok(j) => j,
            Err(RecvTimeoutError::Timeout) => {
                let mut list = idle();
                if let Some(pos) = list.iter().position(|w| w.id == id) {
                    list.remove(pos);
                    return;
                }
                drop(list);
                // A dispatcher claimed us just now: its job is on the way.
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
    }
}
