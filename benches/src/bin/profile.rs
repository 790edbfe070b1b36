//! Runs one contender of one scenario, for a profiler: small, single-purpose,
//! and with the same scenario code as the report.
//!
//! ```text
//! cargo build --profile bench -p scope-benches --bin profile
//! valgrind --tool=callgrind target/release/profile spawn_finish/current_thread Nursery 20000
//! perf stat -e instructions target/release/profile spawn_finish/multi_thread Nursery 100000 20
//! ```
//!
//! Arguments: a group id (as in criterion's output, e.g.
//! `spawn_finish/current_thread`, `drain`, `cancel/token`, `fixed_cost/time`,
//! `connections`),
//! a contender (its label, or a unique case-insensitive part of it), the
//! number of children (or owners), and how many runs (default 1). Running
//! twice with two sizes and subtracting gives the cost per child without the
//! runtime's start-up.

#[cfg(feature = "conn")]
use scope_benches::scenarios::connections;
use scope_benches::scenarios::{cancel, contention, drain, fixed_cost, spawn_finish};
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [id, who, n, rest @ ..] = args.as_slice() else {
        eprintln!("usage: profile GROUP_ID CONTENDER N [RUNS]");
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
