//! Scenario 5: exact heap bytes per live child and per finished child nobody joined.
//! Byte counts are printed, not timed (see `common::run`).
//!
//! `cargo bench -p scope-benches --bench memory`; the scenario code is
//! `scope_benches::scenarios::memory`, shared with the report binary.

use criterion::Criterion;
use scope_benches::Sizes;
use scope_benches::scenarios::memory;

mod common;

// `main` by hand rather than `criterion_main!`: the macros generate an
// undocumented `pub fn`, which the workspace's `missing_docs` rejects.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    common::run(&mut c, memory::groups(&Sizes::default()));
    c.final_summary();
}
