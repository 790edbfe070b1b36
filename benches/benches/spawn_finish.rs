//! Scenario 1: spawn and finish 100k trivial children, on both runtime flavours,
//! and the `JoinSet` against the nursery with 16- and 40-byte children.
//!
//! `cargo bench -p scope-benches --bench spawn_finish`; the scenario code is
//! `scope_benches::scenarios::spawn_finish`, shared with the report binary.

use criterion::Criterion;
use scope_benches::Sizes;
use scope_benches::scenarios::spawn_finish;

mod common;

// `main` by hand rather than `criterion_main!`: the macros generate an
// undocumented `pub fn`, which the workspace's `missing_docs` rejects.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    let sizes = Sizes::default();
    let mut groups = spawn_finish::groups(&sizes);
    groups.extend(spawn_finish::sized_groups(&sizes));
    common::run(&mut c, groups);
    c.final_summary();
}
