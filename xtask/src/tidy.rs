//! `cargo xtask tidy`: the project rules that no compiler or linter checks.
//!
//! 1. Every Rust source file under a crate's `src/` opens with a `//!` doc saying what it
//!    owns (style lesson 4).
//! 2. Layering: `trio-core`'s library depends on no other trio crate (its tests may).
//! 3. No test sleeps in real time: `thread::sleep` never appears under `tests/`.
//! 4. No stubs (`todo!`, `unimplemented!`) in library code.

use std::fs;
use std::path::{Path, PathBuf};

/// Stub macros, spelled so that this file does not contain them itself.
const STUB_MACROS: [&str; 2] = [concat!("todo", "!("), concat!("unimplemented", "!(")];

/// Runs every rule and reports all violations at once.
pub fn run(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for file in rust_files(root) {
        let rel = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
        let rel_s = rel.to_string_lossy().replace('\\', "/");
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let in_src = rel_s.contains("/src/");
        let in_tests = rel_s.contains("/tests/");
        if in_src && !starts_with_module_doc(&text) {
            problems.push(format!("{rel_s}: does not open with a `//!` module doc"));
        }
        if in_tests && text.contains("thread::sleep") {
            problems.push(format!(
                "{rel_s}: sleeps in real time; use the mock clock and wait_all_tasks_blocked"
            ));
        }
        if in_src && !rel_s.starts_with("xtask/") {
            for (n, line) in text.lines().enumerate() {
                if STUB_MACROS.iter().any(|m| line.contains(m)) {
                    problems.push(format!("{rel_s}:{}: stub left in library code", n + 1));
                }
            }
        }
    }
    // Only what trio-core's library links counts: dev-dependencies (tests using
    // trio-testing's MockClock) may point up the stack.
    let core_manifest = fs::read_to_string(root.join("trio-core/Cargo.toml")).unwrap_or_default();
    let mut section = String::new();
    for line in core_manifest.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            section = l.to_string();
        }
        let linked = section == "[dependencies]"
            || section == "[build-dependencies]"
            || section.starts_with("[dependencies.")
            || section.starts_with("[build-dependencies.");
        let names_trio = l.starts_with("trio-") || section.contains(".trio-");
        if linked && names_trio && !l.starts_with('#') {
            problems.push(format!(
                "trio-core/Cargo.toml: core must not depend on `{l}`"
            ));
        }
    }
    if problems.is_empty() {
        eprintln!("==> tidy: ok");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        Err(format!("{} tidy problem(s)", problems.len()))
    }
}

fn starts_with_module_doc(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with("#!["))
        .is_some_and(|l| l.starts_with("//!"))
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
