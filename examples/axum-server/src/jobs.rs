//! [`Jobs`]: how the background jobs ended, counted the way a nursery
//! counts its tasks.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::job_owner::JobOwner;

/// The background jobs the requests started, whoever owns them. Each job
/// ends here exactly once, by the rule a nursery uses for its tasks:
/// completed (returned before its owner's token fired), cancelled
/// (returned after), or aborted (dropped unfinished). What has not ended
/// is `running`; nothing else exists, so the counts add up by construction.
///
/// Under a connection owner every job is also a task of its connection's
/// nursery, so these counts are a part of the server's task totals (the
/// rest are HTTP/2 streams).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use scope_example_axum::Jobs;
///
/// let jobs = Arc::new(Jobs::default());
/// let (io, _peer) = tokio::io::duplex(64);
/// let report = scope_conn::ConnBuilder::new()
///     .serve(io, |conn, _io| {
///         let jobs = Arc::clone(&jobs);
///         async move { assert!(jobs.start(&conn, Duration::from_millis(50))) }
///     })
///     .unwrap()
///     .await; // the connection's close drains the job
/// assert_eq!(report.tasks().stats().completed, 1);
/// assert_eq!(jobs.counts().completed, 1);
/// assert_eq!(jobs.counts().running(), 0);
/// # }
/// ```
#[derive(Default)]
pub struct Jobs {
    // A lock, not four atomics: a reading is one consistent snapshot
    // (`running` never goes negative), and jobs are few.
    counts: Mutex<JobCounts>,
}

/// A reading of [`Jobs`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Jobs their owner took.
    pub started: u64,
    /// Did all their work before their owner's token fired.
    pub completed: u64,
    /// Returned after the token fired (they stop early when it does).
    pub cancelled: u64,
    /// Dropped unfinished: the end of a shutdown's grace.
    pub aborted: u64,
}

impl JobCounts {
    /// Started and not ended yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = scope_example_axum::JobCounts { started: 3, completed: 1, cancelled: 1, aborted: 0 };
    /// assert_eq!(c.running(), 1);
    /// ```
    #[must_use]
    pub fn running(&self) -> u64 {
        self.started - self.completed - self.cancelled - self.aborted
    }
}

impl fmt::Display for JobCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} started = {} completed + {} cancelled + {} aborted + {} running",
            self.started,
            self.completed,
            self.cancelled,
            self.aborted,
            self.running()
        )
    }
}

impl Jobs {
    /// The counts now.
    ///
    /// # Examples
    ///
    /// See [`Jobs`].
    #[must_use]
    pub fn counts(&self) -> JobCounts {
        *self.lock()
    }

    /// Starts a job that works for `work` (stopping early if `owner`'s
    /// token fires) as `owner`'s background work. `false` if the owner
    /// refused it: the job never started and is not counted.
    ///
    /// # Examples
    ///
    /// See [`Jobs`].
    pub fn start<O: JobOwner>(self: &Arc<Self>, owner: &O, work: Duration) -> bool {
        let token = owner.token();
        let (hand_over, entry) = oneshot::channel::<Entry>();
        let job = async move {
            // The ledger entry comes once the owner took the job: a refused
            // job is never counted, and one taken is counted before it can
            // end.
            let Ok(entry) = entry.await else { return };
            tokio::select! {
                () = tokio::time::sleep(work) => {}
                () = token.cancelled() => {}
            }
            entry.ended(&token);
        };
        if owner.spawn(job).is_err() {
            return false;
        }
        // If the owner already dropped the job, the entry comes back and is
        // dropped here: counted aborted, as the nursery counts that task.
        drop(hand_over.send(self.entry()));
        true
    }

    fn entry(self: &Arc<Self>) -> Entry {
        self.lock().started += 1;
        Entry {
            jobs: Some(Arc::clone(self)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, JobCounts> {
        // Counting cannot panic half-way: a poisoned lock holds good counts.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.counts().fmt(f)
    }
}

/// One started job's line in the ledger; dropped before it ended, the job
/// counts as aborted.
struct Entry {
    jobs: Option<Arc<Jobs>>,
}

impl Entry {
    /// The job returned: cancelled if its owner's token has fired, the
    /// nursery's rule.
    fn ended(mut self, token: &CancellationToken) {
        if let Some(jobs) = self.jobs.take() {
            let mut counts = jobs.lock();
            if token.is_cancelled() {
                counts.cancelled += 1;
            } else {
                counts.completed += 1;
            }
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(jobs) = self.jobs.take() {
            jobs.lock().aborted += 1;
        }
    }
}
