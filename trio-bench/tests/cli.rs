//! The benchmark binary's command line: bad input is a clear error (never a panic), the
//! filters pick what runs, and partial runs never touch `BENCHMARKS.md`.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trio-bench"))
        .args(args)
        .output()
        .expect("running trio-bench")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The table row of `workload` in `table`, split into its cells.
fn row<'a>(table: &'a str, workload: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {workload} |")))
        .unwrap_or_else(|| panic!("no row for {workload} in:\n{table}"));
    line.trim_matches('|').split('|').map(str::trim).collect()
}

#[test]
fn an_unknown_argument_is_a_usage_error_naming_it() {
    let o = bench(&["--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown argument \"--bogus\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unknown_runtime_is_a_usage_error_naming_it() {
    let o = bench(&["--quick", "--runtime", "async-std"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown runtime \"async-std\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_filter_matching_no_workload_is_an_error_not_an_empty_table() {
    let o = bench(&["--quick", "--only", "no such workload"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no workload matches"), "{}", stderr(&o));
}

#[test]
fn a_quick_run_measures_all_three_runtimes_and_gives_the_ratio() {
    let o = bench(&["--quick", "--only", "spawn+join"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let cells = row(&out, "spawn+join");
    // workload | unit | trio-rs | tokio | smol | ratio | ...
    for (i, name) in [(2, "trio-rs"), (3, "tokio"), (4, "smol"), (5, "ratio")] {
        assert!(
            cells[i].parse::<f64>().is_ok_and(|v| v > 0.0),
            "{name} cell is {:?}",
            cells[i]
        );
    }
}

#[test]
fn one_runtime_leaves_the_others_columns_empty() {
    let o = bench(&["--quick", "--only", "spawn+join", "--runtime", "tokio"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let cells = row(&out, "spawn+join");
    assert_eq!(cells[2], "–", "trio-rs column");
    assert!(
        cells[3].parse::<f64>().is_ok(),
        "tokio column {:?}",
        cells[3]
    );
    assert_eq!(cells[4], "–", "smol column");
    assert_eq!(cells[5], "–", "no ratio without both sides");
}

#[test]
fn a_quick_run_leaves_benchmarks_md_and_the_chart_alone() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |p: &str| std::fs::read(root.join(p)).ok();
    let before = (read("BENCHMARKS.md"), read("docs/bench-ratios.svg"));
    let o = bench(&["--quick", "--only", "checkpoint"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("left as they are"), "{}", stderr(&o));
    let after = (read("BENCHMARKS.md"), read("docs/bench-ratios.svg"));
    assert!(before == after, "a quick run rewrote the report");
}

#[test]
fn the_cancel_scope_row_reports_steady_state_allocations() {
    let o = bench(&["--quick", "--only", "cancel scope", "--runtime", "trio-rs"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let cells = row(&out, "cancel scope enter/exit");
    assert!(
        cells[8].starts_with("trio-rs alloc/op (steady state): "),
        "notes {:?}",
        cells[8]
    );
}
