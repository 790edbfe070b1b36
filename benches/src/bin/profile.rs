//! Runs one contender of one scenario, for a profiler: small, single-purpose,
//! and with the same scenario code as the report.
//!
//! ```text
//! cargo build --profile bench -p scope-benches --bin profile
//! valgrind --tool=callgrind target/release/profile spawn_finish/current_thread Nursery 20000
//! perf stat -e instructions target/release/profile spawn_finish/multi_thread Nursery 100000 20   # where perf has hardware counters
//! ```
//!
//! Arguments: a group id (as in criterion's output, e.g.
//! `spawn_finish/current_thread`, `drain`, `cancel/token`, `fixed_cost/time`,
//! `connections`),
//! a contender (its label, or a unique case-insensitive part of it), the
//! number of children (or owners), and how many runs (default 1). Running
//! twice with two sizes and subtracting gives the cost per child without the
//! runtime's start-up.
//!
//! `profile --instructions [TEXT]` does that subtraction for the targets'
//! rows that callgrind can count (spawn-and-finish at three child sizes on
//! the current-thread runtime, every peer at 24 bytes, the empty owner
//! alone and beside a crowd of siblings, connection churn; those whose
//! label contains `TEXT`, ignoring case, if given): it runs this program
//! under valgrind's callgrind at two sizes per contender and prints a
//! markdown table of instructions per item, with each contender's ratio to
//! the first of its comparison. Instruction
//! counts repeat to a few parts in ten thousand whatever else the machine is
//! doing, where the report's times move by tenths; they leave out what an
//! instruction costs (a cache miss, a contended atomic), which only the
//! times show.
//!
//! The table's last column counts the *locked* instructions per item (the
//! atomic read-modify-writes: `lock`-prefixed instructions and `xchg` with
//! memory), which cost far more than others: callgrind counts how often
//! each instruction of this program ran (`--dump-instr=yes`), and
//! `objdump -d` says which of them are locked. Only this program's own code
//! is counted (tokio's and the crates' included, glibc's not).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

#[cfg(feature = "conn")]
use scope_benches::scenarios::connections;
use scope_benches::scenarios::{self, cancel, contention, drain, fixed_cost, spawn_finish};
use scope_benches::{Flavor, Group, Sample, Sizes, all_groups};

fn group(id: &str, n: usize) -> Group {
    match id {
        "spawn_finish/current_thread" => spawn_finish::group(Flavor::CurrentThread, n),
        "spawn_finish/multi_thread" => spawn_finish::group(Flavor::MultiThread, n),
        "contention/tasks" => contention::from_tasks(n),
        "contention/threads" => contention::from_threads(n),
        "drain" => drain::group(n),
        "cancel/token" => cancel::by_token(n),
        "cancel/abort" => cancel::by_abort(n),
        "fixed_cost/time" => fixed_cost::time(n),
        "spawn_finish_16b/current_thread" => {
            spawn_finish::sized_group(Flavor::CurrentThread, n, 16)
        }
        "spawn_finish_40b/current_thread" => {
            spawn_finish::sized_group(Flavor::CurrentThread, n, 40)
        }
        "spawn_finish_16b/multi_thread" => spawn_finish::sized_group(Flavor::MultiThread, n, 16),
        "spawn_finish_40b/multi_thread" => spawn_finish::sized_group(Flavor::MultiThread, n, 40),
        #[cfg(feature = "conn")]
        "connections" => connections::group(n, Sizes::default().clients.min(n)),
        _ => {
            let sizes = Sizes {
                children: n,
                parked: n,
                memory_children: n,
                owners: n,
                owners_bytes: n,
                connections: n,
                clients: Sizes::default().clients.min(n),
                idle_connections: n,
                ..Sizes::default()
            };
            all_groups(&sizes)
                .into_iter()
                .find(|g| g.id() == id)
                .unwrap_or_else(|| panic!("no group {id:?}"))
        }
    }
}

/// One comparison `--instructions` makes: a label for its rows, the group,
/// the two sizes it runs at, and the contenders, the first the one the
/// others are divided by.
struct Counted {
    label: &'static str,
    group: &'static str,
    sizes: [usize; 2],
    contenders: &'static [&'static str],
}

impl Counted {
    /// `JoinSet + join_next` against the nursery, spawning and finishing
    /// children in `group`.
    const fn spawn_finish(label: &'static str, group: &'static str) -> Counted {
        Counted {
            label,
            group,
            sizes: [10_000, 30_000],
            contenders: &[scenarios::JOIN_SET, scenarios::NURSERY],
        }
    }
}

const COUNTED: &[Counted] = &[
    // Every peer once, for where the instructions go: what a `JoinSet`
    // itself costs over a detached task, and what the nursery adds to it.
    Counted {
        label: "spawn and finish, 24-byte child",
        group: "spawn_finish/current_thread",
        sizes: [10_000, 30_000],
        contenders: &[
            scenarios::JOIN_SET,
            scenarios::DETACHED,
            scenarios::TRACKER,
            scenarios::HANDLES,
            scenarios::OWN_LIST,
            scenarios::NURSERY,
        ],
    },
    Counted::spawn_finish(
        "spawn and finish, 16-byte child",
        "spawn_finish_16b/current_thread",
    ),
    Counted::spawn_finish(
        "spawn and finish, 40-byte child",
        "spawn_finish_40b/current_thread",
    ),
    Counted {
        label: "fixed cost",
        group: "fixed_cost/time",
        sizes: [10_000, 30_000],
        contenders: &[
            fixed_cost::JOIN_SET_CHILD_TOKEN,
            fixed_cost::NURSERY_ROOT,
            fixed_cost::NURSERY_NESTED,
        ],
    },
    Counted {
        label: "fixed cost beside a crowd",
        group: "fixed_cost/time",
        sizes: [10_000, 30_000],
        contenders: &[
            fixed_cost::JOIN_SET_CHILD_TOKEN_CROWD,
            fixed_cost::NURSERY_NESTED_CROWD,
        ],
    },
    #[cfg(feature = "conn")]
    Counted {
        label: "connection churn",
        group: "connections",
        sizes: [1_000, 3_000],
        contenders: &[connections::BARE, connections::SERVER],
    },
];

/// Prints the `--instructions` table.
fn instructions(only: Option<&str>) {
    let only = only.map(str::to_lowercase);
    let chosen: Vec<&Counted> = COUNTED
        .iter()
        .filter(|c| only.as_ref().is_none_or(|t| c.label.contains(t.as_str())))
        .collect();
    if chosen.is_empty() {
        let labels: Vec<&str> = COUNTED.iter().map(|c| c.label).collect();
        eprintln!("no comparison matches {only:?}; the labels are {labels:?}");
        std::process::exit(2);
    }
    let exe = std::env::current_exe().expect("this program's own path");
    let locked = locked_addresses(&exe);
    println!(
        "| comparison (group) | contender | instructions per item | ratio | locked instructions per item |"
    );
    println!("|---|---|---:|---:|---:|");
    for c in chosen {
        let [small, large] = c.sizes;
        let mut first = None;
        for &who in c.contenders {
            let (a, b) = (
                count(&exe, &locked, c.group, who, small),
                count(&exe, &locked, c.group, who, large),
            );
            assert!(
                b.instructions > a.instructions,
                "{} / {who}: {} instructions at {large}, not more than {} at {small}",
                c.group,
                b.instructions,
                a.instructions
            );
            let items = (large - small) as f64;
            let per = (b.instructions - a.instructions) as f64 / items;
            let locked_per = (b.locked as f64 - a.locked as f64) / items;
            let ratio = per / *first.get_or_insert(per);
            println!(
                "| {} (`{}`) | `{who}` | {per:.0} | {ratio:.2}x | {locked_per:.1} |",
                c.label, c.group
            );
        }
    }
}

/// What callgrind counted in one run.
struct Counts {
    /// Every instruction, as callgrind's summary gives it.
    instructions: u64,
    /// This program's locked instructions (see the module docs).
    locked: u64,
}

/// The addresses of the locked instructions in `exe`, from `objdump -d`.
fn locked_addresses(exe: &Path) -> HashSet<u64> {
    let out = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run objdump ({e}): --instructions needs binutils"));
    assert!(out.status.success(), "objdump failed on {}", exe.display());
    // An instruction line: `  14118e:\tlock cmpxchg %rcx,(%rdx)`.
    let locked: HashSet<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (addr, insn) = line.split_once(":\t")?;
            let is_locked =
                insn.starts_with("lock ") || (insn.starts_with("xchg") && insn.contains('('));
            is_locked
                .then(|| u64::from_str_radix(addr.trim(), 16).ok())
                .flatten()
        })
        .collect();
    assert!(
        !locked.is_empty(),
        "no locked instruction in {}",
        exe.display()
    );
    locked
}

/// What callgrind counts for one run of `who` in `id` at `n`.
fn count(exe: &Path, locked: &HashSet<u64>, id: &str, who: &str, n: usize) -> Counts {
    let dump = std::env::temp_dir().join(format!("scope-profile-{}.callgrind", std::process::id()));
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--dump-instr=yes",
            "--dump-line=no",
            "--compress-strings=no",
            "--compress-pos=no",
        ])
        .arg(format!("--callgrind-out-file={}", dump.display()))
        .arg(exe)
        .args([id, who, &n.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run valgrind ({e}): --instructions needs it on PATH"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{id} / {who} at {n} failed under valgrind:\n{stderr}"
    );
    // The summary line: `==PID== I   refs:      12,345,678`.
    let instructions = stderr
        .lines()
        .find_map(|line| line.split_once("I   refs:"))
        .and_then(|(_, count)| count.trim().replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no instruction count in callgrind's output:\n{stderr}"));
    let profile = std::fs::read_to_string(&dump)
        .unwrap_or_else(|e| panic!("cannot read callgrind's output {}: {e}", dump.display()));
    let _ = std::fs::remove_file(&dump);
    Counts {
        instructions,
        locked: locked_in(&profile, exe, locked),
    }
}

/// Sums the counts of `exe`'s locked instructions in callgrind's output
/// (uncompressed, one `0xADDRESS COUNT` line per instruction and function).
fn locked_in(profile: &str, exe: &Path, locked: &HashSet<u64>) -> u64 {
    let exe = exe.to_string_lossy();
    let (mut ours, mut after_call) = (false, false);
    let (mut total, mut seen, mut known) = (0, 0_u64, 0_u64);
    for line in profile.lines() {
        if let Some(object) = line.strip_prefix("ob=") {
            ours = object == exe;
        } else if line.starts_with("calls=") {
            // The next line is the call's inclusive cost, not an instruction's.
            after_call = true;
        } else if let Some(rest) = line.strip_prefix("0x") {
            if std::mem::take(&mut after_call) || !ours {
                continue;
            }
            let mut fields = rest.split_whitespace();
            let (Some(addr), Some(n)) = (fields.next(), fields.next()) else {
                continue;
            };
            let (Ok(addr), Ok(n)) = (u64::from_str_radix(addr, 16), n.parse::<u64>()) else {
                continue;
            };
            seen += 1;
            if locked.contains(&addr) {
                total += n;
                known += 1;
            }
        }
    }
    // Callgrind gives a position-independent program's addresses as
    // objdump does; if it did not, nothing would match.
    assert!(
        seen > 0 && known > 0,
        "none of {seen} counted instructions of {exe} is a locked one: do callgrind's addresses match objdump's?"
    );
    total
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, rest @ ..] = args.as_slice() {
        if flag == "--instructions" {
            if rest.len() > 1 {
                eprintln!("usage: profile --instructions [TEXT]");
                std::process::exit(2);
            }
            instructions(rest.first().map(String::as_str));
            return;
        }
    }
    let [id, who, n, rest @ ..] = args.as_slice() else {
        eprintln!("usage: profile GROUP_ID CONTENDER N [RUNS] | profile --instructions [TEXT]");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let runs: usize = rest
        .first()
        .map_or(1, |r| r.parse().expect("RUNS is a number"));
    let mut group = group(id, n);
    let wanted = who.to_lowercase();
    let labels: Vec<&str> = group.cases().iter().map(|c| c.contender()).collect();
    let index = labels
        .iter()
        .position(|l| l.eq_ignore_ascii_case(who))
        .or_else(|| {
            let hits: Vec<usize> = (0..labels.len())
                .filter(|&i| labels[i].to_lowercase().contains(&wanted))
                .collect();
            (hits.len() == 1).then(|| hits[0])
        })
        .unwrap_or_else(|| panic!("no unique contender {who:?} in {labels:?}"));
    let case = &mut group.cases_mut()[index];
    for _ in 0..runs {
        match case.run() {
            Sample::Time(d) => println!(
                "{}: {:?} ({:.0} ns per item)",
                case.contender(),
                d,
                d.as_nanos() as f64 / n as f64
            ),
            Sample::Bytes(b) => println!("{}: {b:.2} B per item", case.contender()),
        }
    }
}
