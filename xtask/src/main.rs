//! Project automation for trio-rs, run as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks, in the order that fails fastest: formatting, the tidy
//!   rules below, clippy with warnings denied, every example built (the example tests
//!   run them), every test (unit, integration, doc), rustdoc with broken links denied,
//!   and the benchmarks in `--quick` mode so they never rot.
//! - `bench [--quick]`: the side-by-side benchmarks against tokio and smol.
//! - `tidy`: project rules no compiler checks (see [`tidy`]).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{exit, Command};

mod tidy;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "ci" => ci(),
        "bench" => bench(rest),
        "tidy" => tidy::run(&root()),
        _ => {
            eprintln!("usage: cargo xtask <ci | bench [--quick] | tidy>");
            exit(2);
        }
    };
    if let Err(msg) = result {
        eprintln!("xtask {cmd}: {msg}");
        exit(1);
    }
}

/// The workspace root (the parent of this crate's manifest directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("\n==> cargo {}", args.join(" "));
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    let started = std::time::Instant::now();
    cargo(&["fmt", "--all", "--check"], &[])?;
    tidy::run(&root())?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    // Every example first: tests in examples/tests run the example binaries themselves.
    cargo(&["build", "--workspace", "--examples"], &[])?;
    // Unit and integration tests, then doctests (nextest does not run doctests).
    cargo(
        &["test", "--workspace", "--all-targets", "--no-fail-fast"],
        &[],
    )?;
    cargo(&["test", "--workspace", "--doc", "--no-fail-fast"], &[])?;
    cargo(
        &["doc", "--workspace", "--no-deps"],
        &[(
            "RUSTDOCFLAGS",
            "-D warnings -D rustdoc::broken_intra_doc_links",
        )],
    )?;
    bench(&["--quick".to_string()])?;
    eprintln!("\nxtask ci: all green in {:.0?}", started.elapsed());
    Ok(())
}

fn bench(rest: &[String]) -> Result<(), String> {
    let mut args = vec!["run", "--release", "--package", "trio-bench", "--"];
    args.extend(rest.iter().map(String::as_str));
    cargo(&args, &[])
}
