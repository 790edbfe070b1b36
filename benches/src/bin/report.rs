//! Runs every scenario in one process and prints a markdown table: median,
//! min and max of each contender, and its ratio to the group's baseline
//! measured in the same run.
//!
//! ```text
//! cargo run --release -p scope-benches --bin report [-- --quick] [-- --reps N] [-- --only TEXT[,TEXT...]]
//! ```
//!
//! Repetitions are interleaved (every contender once, then again), after one
//! unrecorded warm-up run each, so that drift on a shared machine (frequency,
//! a neighbour's build) spreads over all contenders instead of hitting one.
//!
//! Beside each time, the median count of minor page faults the process took
//! during one run (Linux only): the kernel mapping memory the heap did not
//! hold. Which contender pays them depends on the heap the one before it
//! left: glibc gives the top of its heap back to the kernel when more of it
//! is free than its trim threshold (128 KiB by default, raised to twice the
//! largest mapped block freed so far), so a contender whose tasks need more
//! memory than that pays for fresh pages in every run. To measure on a heap
//! that keeps what it grew to, raise glibc's trim threshold:
//!
//! ```text
//! GLIBC_TUNABLES=glibc.malloc.trim_threshold=4000000000 target/release/report
//! ```

use std::io::Write;
use std::time::Instant;

use scope_benches::scenarios::memory;
use scope_benches::{Group, Sample, Sizes, all_groups};

const DEFAULT_REPS: usize = 15;
const QUICK_REPS: usize = 5;

struct Args {
    reps: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        reps: DEFAULT_REPS,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => args.reps = QUICK_REPS,
            "--reps" => args.reps = it.next().and_then(|n| n.parse().ok()).expect("--reps N"),
            "--only" => args.only = Some(it.next().expect("--only TEXT")),
            "-h" | "--help" => {
                println!("usage: report [--quick | --reps N] [--only TEXT[,TEXT...]]");
                println!("  --quick      {QUICK_REPS} repetitions instead of {DEFAULT_REPS}");
                println!("  --reps N     N repetitions (at least 5 for a table worth quoting)");
                println!("  --only TEXT  groups whose id contains TEXT; A,B: either");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    assert!(args.reps > 0, "--reps must be positive");
    args
}

struct Row {
    group: String,
    contender: &'static str,
    baseline: bool,
    sorted: Vec<f64>,
    unit_bytes: bool,
    items: u64,
    /// Median minor page faults per run: timed rows only, where the system
    /// counts them.
    faults: Option<f64>,
}

impl Row {
    fn median(&self) -> f64 {
        median(&self.sorted)
    }
}

/// The median of sorted values.
fn median(s: &[f64]) -> f64 {
    let mid = s.len() / 2;
    if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    }
}

/// Minor page faults this process has taken so far (field 10 of Linux's
/// `/proc/self/stat`), or `None` where there is no such file.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, field 2, is in parentheses and may hold spaces:
    // count from after it, where field 3 is the first.
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(7)?.parse().ok()
}

fn measure(group: &mut Group, reps: usize) -> Vec<Row> {
    let baseline = group.baseline();
    let name = group.name().to_owned();
    let cases = group.cases_mut();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(reps); cases.len()];
    let mut faults: Vec<Vec<f64>> = vec![Vec::with_capacity(reps); cases.len()];
    for case in cases.iter_mut() {
        case.run(); // warm-up, unrecorded
    }
    for _ in 0..reps {
        for ((case, out), faulted) in cases.iter_mut().zip(&mut samples).zip(&mut faults) {
            let before = minor_faults();
            out.push(case.run());
            if let (Some(before), Some(after)) = (before, minor_faults()) {
                faulted.push((after - before) as f64);
            }
        }
    }
    cases
        .iter()
        .zip(samples)
        .zip(faults)
        .map(|((case, samples), mut faults)| {
            let unit_bytes = matches!(samples[0], Sample::Bytes(_));
            let mut sorted: Vec<f64> = samples.iter().map(|s| s.value()).collect();
            sorted.sort_by(f64::total_cmp);
            faults.sort_by(f64::total_cmp);
            Row {
                group: name.clone(),
                contender: case.contender(),
                baseline: case.contender() == baseline,
                sorted,
                unit_bytes,
                items: case.items(),
                faults: (!unit_bytes && faults.len() == samples.len()).then(|| median(&faults)),
            }
        })
        .collect()
}

fn fmt_value(v: f64, bytes: bool) -> String {
    if bytes {
        if v.fract() == 0.0 {
            format!("{v:.0} B")
        } else {
            format!("{v:.2} B")
        }
    } else if v >= 1.0 {
        format!("{v:.3} s")
    } else if v >= 1e-3 {
        format!("{:.2} ms", v * 1e3)
    } else {
        format!("{:.1} µs", v * 1e6)
    }
}

fn main() {
    let args = args();
    let started = Instant::now();
    let sizes = Sizes::default();
    let mut groups = all_groups(&sizes);
    groups.retain(|g| {
        args.only
            .as_deref()
            .is_none_or(|only| only.split(',').any(|part| g.id().contains(part)))
    });

    let mut table = Vec::new();
    for group in &mut groups {
        eprint!("{} ...", group.name());
        let _ = std::io::stderr().flush();
        let t = Instant::now();
        let rows = measure(group, args.reps);
        eprintln!(" {:.1} s", t.elapsed().as_secs_f64());
        table.push(rows);
    }

    println!(
        "{} repetitions per contender (interleaved, after one warm-up run), {} CPUs, release build; \
         total {:.0} s.\n",
        args.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        started.elapsed().as_secs_f64()
    );
    println!(
        "| scenario | contender | median | min | max | ratio | per item (median) | page faults per run (median) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for rows in &table {
        let base = rows
            .iter()
            .find(|r| r.baseline)
            .expect("every group has its baseline")
            .median();
        for r in rows {
            let median = r.median();
            let ratio = if base > 0.0 {
                format!("{:.2}x", median / base)
            } else if median == 0.0 {
                "1.00x".to_owned()
            } else {
                "—".to_owned()
            };
            let ratio = if r.baseline {
                format!("**{ratio}** (baseline)")
            } else {
                ratio
            };
            let per_item = if r.unit_bytes {
                format!("{} total", fmt_value(median * r.items as f64, true))
            } else {
                format!("{:.0} ns", median * 1e9 / r.items as f64)
            };
            let faults = r
                .faults
                .map_or_else(|| "—".to_owned(), |f| format!("{f:.0}"));
            println!(
                "| {} | `{}` | {} | {} | {} | {} | {} | {} |",
                r.group,
                r.contender,
                fmt_value(median, r.unit_bytes),
                fmt_value(r.sorted[0], r.unit_bytes),
                fmt_value(r.sorted[r.sorted.len() - 1], r.unit_bytes),
                ratio,
                per_item,
                faults
            );
        }
    }
    println!();
    for (what, size) in memory::child_future_sizes() {
        println!("- {what}: the future itself is {size} B.");
    }
}
