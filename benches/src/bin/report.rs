//! Runs every scenario in one process and prints a markdown table: median,
//! min and max of each contender, and its ratio to the group's baseline
//! measured in the same run.
//!
//! ```text
//! cargo run --release -p scope-benches --bin report [-- --quick] [-- --reps N] [-- --only TEXT]
//! ```
//!
//! Repetitions are interleaved (every contender once, then again), after one
//! unrecorded warm-up run each, so that drift on a shared machine (frequency,
//! a neighbour's build) spreads over all contenders instead of hitting one.

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
                println!("usage: report [--quick | --reps N] [--only TEXT]");
                println!("  --quick      {QUICK_REPS} repetitions instead of {DEFAULT_REPS}");
                println!("  --reps N     N repetitions (at least 5 for a table worth quoting)");
                println!("  --only TEXT  only groups whose id contains TEXT (e.g. spawn_finish)");
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
}

impl Row {
    fn median(&self) -> f64 {
        let s = &self.sorted;
        let mid = s.len() / 2;
        if s.len() % 2 == 1 {
            s[mid]
        } else {
            (s[mid - 1] + s[mid]) / 2.0
        }
    }
}

fn measure(group: &mut Group, reps: usize) -> Vec<Row> {
    let baseline = group.baseline();
    let name = group.name().to_owned();
    let cases = group.cases_mut();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(reps); cases.len()];
    for case in cases.iter_mut() {
        case.run(); // warm-up, unrecorded
    }
    for _ in 0..reps {
        for (case, out) in cases.iter_mut().zip(&mut samples) {
            out.push(case.run());
        }
    }
    cases
        .iter()
        .zip(samples)
        .map(|(case, samples)| {
            let unit_bytes = matches!(samples[0], Sample::Bytes(_));
            let mut sorted: Vec<f64> = samples.iter().map(|s| s.value()).collect();
            sorted.sort_by(f64::total_cmp);
            Row {
                group: name.clone(),
                contender: case.contender(),
                baseline: case.contender() == baseline,
                sorted,
                unit_bytes,
                items: case.items(),
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
            .is_none_or(|only| g.id().contains(only))
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
    println!("| scenario | contender | median | min | max | ratio | per item (median) |");
    println!("|---|---|---:|---:|---:|---:|---:|");
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
            println!(
                "| {} | `{}` | {} | {} | {} | {} | {} |",
                r.group,
                r.contender,
                fmt_value(median, r.unit_bytes),
                fmt_value(r.sorted[0], r.unit_bytes),
                fmt_value(r.sorted[r.sorted.len() - 1], r.unit_bytes),
                ratio,
                per_item
            );
        }
    }
    println!();
    for (what, size) in memory::child_future_sizes() {
        println!("- {what}: the future itself is {size} B.");
    }
}
