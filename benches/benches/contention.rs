//! Scenario 2: 100k spawns from 8 tasks, and from 2 OS threads, into one owner.
//!
//! `cargo bench -p scope-benches --bench contention`; the scenario code is
//! `scope_benches::scenarios::contention`, shared with the report binary.

use criterion::Criterion;
use scope_benches::Sizes;
use scope_benches::scenarios::contention;

mod common;

// `main` by hand rather than `criterion_main!`: the macros generate an
// undocumented `pub fn`, which the workspace's `missing_docs` rejects.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    common::run(&mut c, contention::groups(&Sizes::default()));
    c.final_summary();
}
