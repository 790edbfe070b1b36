//! Side-by-side benchmarks of `scope-core`'s [`Nursery`](scope_core::Nursery)
//! against the tools a tokio user would pick instead: a bare `tokio::spawn`
//! (keeping the `JoinHandle`s, or detached), `JoinSet`, tokio-util's
//! `TaskTracker`, a hand-rolled `Arc<parking_lot::Mutex<JoinSet>>`, and
//! `FuturesUnordered` as the reference that spawns nothing; and of
//! `scope-conn`'s `Server` against a server built on bare `tokio::spawn`
//! (with the default `conn` feature).
//!
//! Every scenario lives once, here, and is run by two front ends: the
//! criterion benches (`cargo bench -p scope-benches`) and the report binary
//! (`cargo run --release -p scope-benches --bin report`), which prints one
//! markdown table with ratios to a baseline measured in the same process.
//!
//! # Codemap
//!
//! - [`scenarios`]: one module per scenario; each builds [`Group`]s of
//!   [`Case`]s (one case per contender, one of them the baseline).
//! - [`Flavor`] and [`drive`]: the runtimes the scenarios run on.
//! - [`Window`]: exact byte counts from a counting global allocator that this
//!   crate installs (it counts only while a window is open).
//!
//! # Rules every scenario keeps
//!
//! 1. Each contender does the same work per child (the same future body),
//!    and every run checks it (sums, counters, report counts) with `assert!`,
//!    so nothing can be optimised away and a broken contender fails loudly.
//! 2. Setup (runtimes, owners, parked children) is outside the timed region;
//!    the timed region ends when the owner knows all its children ended.
//! 3. Children capture `&'static` counters (leaked, a few bytes per run,
//!    outside every timed region and byte window) so no contender pays a
//!    reference count per child that the others would not.

#![deny(unsafe_code)]

mod alloc;
mod case;
mod group;
mod runtime;
mod sample;
pub mod scenarios;
mod sizes;
mod support;

pub use alloc::Window;
pub use case::Case;
pub use group::Group;
pub use runtime::{Flavor, drive};
pub use sample::Sample;
pub use sizes::Sizes;

/// Every scenario's groups, in report order.
///
/// # Examples
///
/// ```no_run
/// let groups = scope_benches::all_groups(&scope_benches::Sizes::default());
/// assert!(groups.iter().all(|g| g.cases().iter().any(|c| c.contender() == g.baseline())));
/// ```
#[must_use]
pub fn all_groups(sizes: &Sizes) -> Vec<Group> {
    let mut groups = Vec::new();
    groups.extend(scenarios::spawn_finish::groups(sizes));
    groups.extend(scenarios::spawn_finish::sized_groups(sizes));
    groups.extend(scenarios::contention::groups(sizes));
    groups.extend(scenarios::drain::groups(sizes));
    groups.extend(scenarios::cancel::groups(sizes));
    groups.extend(scenarios::memory::groups(sizes));
    groups.extend(scenarios::fixed_cost::groups(sizes));
    #[cfg(feature = "conn")]
    groups.extend(scenarios::connections::groups(sizes));
    #[cfg(feature = "conn")]
    groups.extend(scenarios::http::groups(sizes));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, not one per group: the byte windows count every thread's
    /// allocations, so the scenarios must not run in parallel.
    #[test]
    fn every_case_runs_and_checks_its_work() {
        for mut group in all_groups(&Sizes::tiny()) {
            let baseline = group.baseline();
            assert!(
                group.cases().iter().any(|c| c.contender() == baseline),
                "{}",
                group.name()
            );
            for case in group.cases_mut() {
                case.run();
            }
        }
    }
}
