//! Side-by-side benchmarks of trio-rs, tokio (current-thread runtime) and smol
//! (`LocalExecutor` + async-io), run by `cargo xtask bench [--quick]`.
//!
//! Every workload runs on the three runtimes in turn, in the same process, after a
//! warm-up; the table gives the median of each and trio-rs's ratio to the faster peer.
//! A full run rewrites the table section of `BENCHMARKS.md` and `docs/bench-ratios.svg`;
//! `--quick` runs tiny sizes and writes nothing (CI uses it so the benchmark never rots;
//! nothing asserts on time).
//!
//! Usage: `trio-bench [--quick] [--only SUBSTRING]... [--runtime trio-rs|tokio|smol]`;
//! `--only` and `--runtime` (one runtime only, e.g. under a profiler) write nothing.

#![deny(unsafe_code)] // allowed only in alloc_count.rs (the counting global allocator)

#[allow(unsafe_code)]
mod alloc_count;
mod harness;
mod report;
mod rt;
mod workloads;

use std::path::PathBuf;

use harness::Rt;

#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::Counting;

struct Args {
    quick: bool,
    only: Vec<String>,
    runtime: Option<Rt>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut out = Args {
        quick: false,
        only: Vec::new(),
        runtime: None,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => out.quick = true,
            "--only" => out
                .only
                .push(args.next().ok_or("--only needs a workload name")?),
            "--runtime" => {
                let name = args
                    .next()
                    .ok_or("--runtime needs trio-rs, tokio or smol")?;
                out.runtime = Some(Rt::parse(&name).ok_or(format!("unknown runtime {name:?}"))?);
            }
            "--memory-child" => {
                let rt = args.next().and_then(|s| Rt::parse(&s));
                let n = args.next().and_then(|s| s.parse().ok());
                let (Some(rt), Some(n)) = (rt, n) else {
                    return Err("--memory-child needs RUNTIME N".into());
                };
                workloads::memory::child(rt, n);
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!("usage: trio-bench [--quick] [--only SUBSTRING]... [--runtime trio-rs|tokio|smol]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(out)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("trio-bench: {e}");
            std::process::exit(2);
        }
    };
    let mut all = workloads::all(workloads::Sizes::new(args.quick));
    if let Some(only_rt) = args.runtime {
        for w in &mut all {
            let run = std::mem::replace(&mut w.run, Box::new(|_| None));
            w.run = Box::new(move |rt| if rt == only_rt { run(rt) } else { None });
        }
    }
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|w| args.only.is_empty() || args.only.iter().any(|o| w.name.contains(o.as_str())))
        .collect();
    if chosen.is_empty() {
        eprintln!("trio-bench: no workload matches {:?}", args.only);
        std::process::exit(2);
    }
    let mut rows = Vec::new();
    for w in &chosen {
        eprintln!("running {} ...", w.name);
        rows.push(harness::measure(w));
    }
    let table = report::markdown(&rows);
    println!("\n{table}");
    if args.quick || !args.only.is_empty() || args.runtime.is_some() {
        eprintln!("(--quick/--only/--runtime: BENCHMARKS.md and the chart were left as they are)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("trio-bench lives in the workspace")
        .to_path_buf();
    let machine = machine_description();
    let header = format!(
        "Latest full run (`cargo xtask bench`), {machine}. Medians; ratio = trio-rs ÷ the \
         faster peer (for MB/s, ÷ the higher)."
    );
    let md = root.join("BENCHMARKS.md");
    let svg_path = root.join("docs").join("bench-ratios.svg");
    let written = report::write_markdown(&md, &rows, &header).and_then(|()| {
        std::fs::create_dir_all(svg_path.parent().expect("docs dir"))?;
        std::fs::write(&svg_path, report::svg(&rows, &machine))
    });
    match written {
        Ok(()) => eprintln!("wrote {} and {}", md.display(), svg_path.display()),
        Err(e) => {
            eprintln!("trio-bench: could not write the report: {e}");
            std::process::exit(1);
        }
    }
}

/// "N cores, CPU model" from /proc, for the report.
fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    format!("{cores} cores ({model})")
}
