//! [`Flavor`] and [`drive`]: the runtimes scenarios run on.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};

/// A tokio runtime flavour, as the scenarios build it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `new_current_thread`.
    CurrentThread,
    /// `new_multi_thread` with 2 workers (this is a 2-core machine).
    MultiThread,
}

impl Flavor {
    /// A short label for tables.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current-thread",
            Flavor::MultiThread => "multi-thread (2 workers)",
        }
    }

    /// Builds the runtime. No time or IO driver: no scenario needs one, and
    /// leaving them out keeps their bookkeeping out of the measurements.
    ///
    /// # Panics
    ///
    /// If tokio cannot build the runtime.
    #[must_use]
    pub fn runtime(self) -> Runtime {
        match self {
            Flavor::CurrentThread => Builder::new_current_thread().build(),
            Flavor::MultiThread => Builder::new_multi_thread().worker_threads(2).build(),
        }
        .expect("build the runtime")
    }
}

/// Runs `fut` as a task on `rt` and waits for it.
///
/// A task rather than `block_on`'s own future: on the multi-thread runtime the
/// owner then spawns from a worker, as a server's owner does, and children go
/// to the worker's local queue instead of the injection queue.
///
/// # Panics
///
/// If `fut` panics (a failed check).
///
/// # Examples
///
/// ```
/// use scope_benches::{Flavor, drive};
/// let rt = Flavor::MultiThread.runtime();
/// assert_eq!(drive(&rt, async { 1 + 1 }), 2);
/// ```
pub fn drive<F>(rt: &Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match rt.block_on(rt.spawn(fut)) {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
