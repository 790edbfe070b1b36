//! Scenario 4: 100k parked children ended by a token, and by abort.
//!
//! `cargo bench -p scope-benches --bench cancel`; the scenario code is
//! `scope_benches::scenarios::cancel`, shared with the report binary.

use criterion::Criterion;
use scope_benches::Sizes;
use scope_benches::scenarios::cancel;

mod common;

// `main` by hand rather than `criterion_main!`: the macros generate an
// undocumented `pub fn`, which the workspace's `missing_docs` rejects.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    common::run(&mut c, cancel::groups(&Sizes::default()));
    c.final_summary();
}
