//! Scenario 6: 10k loopback connections, each a one-line exchange whose handler
//! spawns 2 tasks, then close; bare-spawn server vs `scope_conn::Server`.
//!
//! `cargo bench -p scope-benches --bench connections`; the scenario code is
//! `scope_benches::scenarios::connections`, shared with the report binary.

use criterion::Criterion;
use scope_benches::Sizes;
use scope_benches::scenarios::connections;

mod common;

// `main` by hand rather than `criterion_main!`: the macros generate an
// undocumented `pub fn`, which the workspace's `missing_docs` rejects.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    common::run(&mut c, connections::groups(&Sizes::default()));
    c.final_summary();
}
