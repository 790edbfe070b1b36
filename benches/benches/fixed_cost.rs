//! Scenario 6: an empty owner created and closed, in ns and bytes.
//!
//! `cargo bench -p scope-benches --bench fixed_cost`; the scenario code is
//! `scope_benches::scenarios::fixed_cost`, shared with the report binary.

use criterion::Criterion;
use scope_benches::Sizes;
use scope_benches::scenarios::fixed_cost;

mod common;

// `main` by hand rather than `criterion_main!`: the macros generate an
// undocumented `pub fn`, which the workspace's `missing_docs` rejects.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    common::run(&mut c, fixed_cost::groups(&Sizes::default()));
    c.final_summary();
}
