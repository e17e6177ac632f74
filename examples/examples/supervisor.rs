//! A process supervisor on trio-rs: starts N workers, streams their output lines prefixed
//! by worker id, restarts a crashed worker with exponential back-off, and on SIGINT or
//! SIGTERM shuts every worker down cleanly within a deadline (SIGTERM, a grace period,
//! then SIGKILL; output drained; nothing left running).
//!
//! ```text
//! cargo run -p trio-examples --example supervisor            # 3 workers, until Ctrl-C
//! cargo run -p trio-examples --example supervisor -- 5       # 5 workers
//! cargo run -p trio-examples --example supervisor -- --demo  # sends itself SIGINT after 3 s
//! ```
//!
//! The shape is Trio's: one task per worker in a nursery; the workers' nursery runs in a
//! cancel scope that the signal task cancels; a cancelled worker ends its child with
//! `terminate_then_kill` (shielded, so it always finishes) and gives its output readers a
//! short, shielded drain. A second Ctrl-C during shutdown hits the restored default
//! disposition and ends the supervisor at once.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    current_time, open_nursery, sleep, CancelHandle, CancelScope, ReceiveStream, Result,
};
use trio_os::{open_process, open_signal_receiver, raise_signal, Command, PipeReceiveStream};
use trio_os::{SIGINT, SIGTERM};

/// How long a worker gets between SIGTERM and SIGKILL at shutdown.
const GRACE: Duration = Duration::from_secs(2);
/// How long output readers may keep draining once their worker is gone.
const DRAIN: Duration = Duration::from_millis(500);
/// First restart delay; doubles per consecutive crash up to `MAX_BACKOFF`.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// A worker that ran this long before crashing starts over at `INITIAL_BACKOFF`.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long `--demo` runs before it sends itself SIGINT.
const DEMO_RUN: Duration = Duration::from_secs(3);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let demo = args.iter().any(|a| a == "--demo");
    let workers = args
        .iter()
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(3);
    trio_core::run(move || supervise(workers, demo))
}

async fn supervise(workers: usize, demo: bool) -> Result<()> {
    // Installed before any worker starts, so an early Ctrl-C is not lost.
    let signals = open_signal_receiver(&[SIGINT, SIGTERM])?;
    let workers_scope = CancelScope::new();
    let stop = workers_scope.handle();
    let stopped_at = Rc::new(std::cell::Cell::new(None));
    let stopped = stopped_at.clone();
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let sig = signals.receive().await?;
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            println!("[supervisor] {name}: stopping all workers (grace {GRACE:?})");
            // Dropping the receiver restores the default: a second Ctrl-C kills us.
            drop(signals);
            stopped.set(Some(current_time()));
            stop.cancel();
            Ok(())
        });
        if demo {
            nursery.start_soon(async {
                sleep(DEMO_RUN).await?;
                println!("[supervisor] demo over: sending ourselves SIGINT");
                raise_signal(SIGINT)
            });
        }
        println!(
            "[supervisor] starting {workers} workers (pid {})",
            std::process::id()
        );
        workers_scope
            .run(open_nursery(|w| async move {
                for id in 1..=workers {
                    w.start_soon(supervise_worker(id));
                }
                Ok(())
            }))
            .await?;
        // All workers are done (stopped, or finished by themselves): stop the helpers.
        nursery.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    if let Some(at) = stopped_at.get() {
        let took = current_time() - at;
        println!(
            "[supervisor] all workers stopped in {took:.2?} (deadline {:?})",
            GRACE + DRAIN
        );
        assert!(
            took <= GRACE + DRAIN + Duration::from_secs(1),
            "shutdown missed its deadline"
        );
    }
    Ok(())
}

/// Runs worker `id` until it exits successfully, restarting it after crashes with
/// back-off. Cancelled: stops the current child (see `run_once`) and returns.
async fn supervise_worker(id: usize) -> Result<()> {
    let mut backoff = INITIAL_BACKOFF;
    for run in 1.. {
        let started = current_time();
        let status = run_once(id, run).await?;
        if status.success() {
            println!("[supervisor] worker {id} finished; not restarting");
            return Ok(());
        }
        if current_time() - started >= STABLE_AFTER {
            backoff = INITIAL_BACKOFF;
        }
        println!(
            "[supervisor] worker {id} crashed ({}); restart in {backoff:?}",
            describe(status)
        );
        sleep(backoff).await?;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Ok(())
}

/// One life of worker `id`: start it, stream its output, wait for it. If cancelled, end
/// it (SIGTERM, `GRACE`, SIGKILL), let its output drain for up to `DRAIN`, and propagate
/// the cancellation.
async fn run_once(id: usize, run: u32) -> Result<ExitStatus> {
    let mut child = open_process(
        worker_command(id, run)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .await?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let child = Rc::new(child);
    // The readers are shielded so they can print the worker's last words during shutdown;
    // their scope gets a deadline once the worker is gone, so they cannot hang on.
    let readers = CancelScope::new().with_shield(true);
    let drain = readers.handle();
    let status = open_nursery(|n| async move {
        n.start_soon(async move {
            readers
                .run(async {
                    open_nursery(|r| async move {
                        r.start_soon(stream_lines(format!("worker {id}"), stdout));
                        r.start_soon(stream_lines(format!("worker {id} stderr"), stderr));
                        Ok(())
                    })
                    .await
                })
                .await
                .map(drop)
        });
        match child.wait().await {
            Ok(status) => Ok(status),
            Err(e) => {
                let status = child.terminate_then_kill(GRACE).await?;
                println!("[supervisor] worker {id} stopped ({})", describe(status));
                start_drain(&drain);
                Err(e)
            }
        }
    })
    .await?;
    Ok(status.expect("not cancelled by its own scope"))
}

fn start_drain(readers: &CancelHandle) {
    readers.set_deadline(Some(current_time() + DRAIN));
}

/// Prints each line of `stream` with `prefix`, until end of stream.
async fn stream_lines(prefix: String, stream: PipeReceiveStream) -> Result<()> {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            if !pending.is_empty() {
                println!("[{prefix}] {}", String::from_utf8_lossy(&pending));
            }
            return Ok(());
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            println!("[{prefix}] {}", String::from_utf8_lossy(&line[..end]));
        }
    }
}

/// A worker: ticks a few times, then crashes (worker `id` after `id + 2` ticks), so the
/// restarts show. On SIGTERM it stops its `sleep` and says goodbye.
fn worker_command(id: usize, run: u32) -> Command {
    let script = format!(
        r#"trap 'kill $nap 2>/dev/null; echo "run {run}: got SIGTERM, bye"; exit 0' TERM
i=0
while :; do
  echo "run {run}: tick $i"
  i=$((i+1))
  if [ $i -gt {crash_after} ]; then echo "run {run}: simulated crash" >&2; exit 3; fi
  sleep 0.25 & nap=$!
  wait $nap
done"#,
        crash_after = id + 2,
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    cmd
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}
