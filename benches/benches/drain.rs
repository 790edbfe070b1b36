//! Scenario 3: 100k parked children released at once, until the owner's wait returns.
//!
//! `cargo bench -p scope-benches --bench drain`; the scenario code is
//! `scope_benches::scenarios::drain`, shared with the report binary.

use criterion::Criterion;
use scope_benches::Sizes;
use scope_benches::scenarios::drain;

mod common;

// `main` by hand rather than `criterion_main!`: the macros generate an
// undocumented `pub fn`, which the workspace's `missing_docs` rejects.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    common::run(&mut c, drain::groups(&Sizes::default()));
    c.final_summary();
}
