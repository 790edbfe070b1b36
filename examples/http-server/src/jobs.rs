//! [`Jobs`]: how the background jobs ended, counted the way the nursery
//! counts its tasks.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

/// The background jobs the requests started: each is also a task of its
/// connection's nursery, and ends here the way the nursery counts it:
/// completed (returned before the connection's token fired), cancelled
/// (returned after), or aborted (dropped unfinished). `running` is what has
/// not ended yet; nothing else exists, so the counts add up by construction.
#[derive(Default)]
pub struct Jobs {
    started: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
    aborted: AtomicU64,
}

/// A reading of [`Jobs`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Jobs their connection's nursery accepted.
    pub started: u64,
    /// Ran to their end before their connection's token fired.
    pub completed: u64,
    /// Ended after the token fired (they listen to it; a stubborn job that
    /// finishes its work after it is counted here too, as the nursery does).
    pub cancelled: u64,
    /// Dropped unfinished: the shutdown's last phase.
    pub aborted: u64,
}

impl JobCounts {
    /// Started and not ended yet.
    #[must_use]
    pub fn running(&self) -> u64 {
        self.started - self.completed - self.cancelled - self.aborted
    }
}

impl Jobs {
    /// The counts now.
    #[must_use]
    pub fn counts(&self) -> JobCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // `started` last: a job counted ended was counted started before.
        let (completed, cancelled, aborted) = (
            get(&self.completed),
            get(&self.cancelled),
            get(&self.aborted),
        );
        JobCounts {
            started: get(&self.started),
            completed,
            cancelled,
            aborted,
        }
    }

    /// A job its nursery accepted: counts its end when it ends.
    pub(crate) fn started(&self) -> Job<'_> {
        self.started.fetch_add(1, Ordering::Relaxed);
        Job { jobs: Some(self) }
    }
}

impl fmt::Debug for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.counts().fmt(f)
    }
}

/// One running job; dropped unfinished, it counts as aborted.
pub(crate) struct Job<'a> {
    jobs: Option<&'a Jobs>,
}

impl Job<'_> {
    /// The job returns: cancelled if its connection's token has fired.
    pub(crate) fn ended(mut self, token: &CancellationToken) {
        if let Some(jobs) = self.jobs.take() {
            let counter = if token.is_cancelled() {
                &jobs.cancelled
            } else {
                &jobs.completed
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        if let Some(jobs) = self.jobs.take() {
            jobs.aborted.fetch_add(1, Ordering::Relaxed);
        }
    }
}
