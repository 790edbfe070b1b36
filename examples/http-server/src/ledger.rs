//! [`Ledger`]: what the handlers started and how each piece ended.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use scope_conn::ConnReport;
use tokio::sync::Notify;

use crate::ledger_stats::LedgerStats;

/// The example's own counters, kept by the handlers and jobs themselves,
/// independently of the nurseries, so the two accounts can be compared: a
/// job that vanished (detached and cut off by the runtime's end) shows here
/// as started and never ended.
///
/// A job counts as *started* on its first poll and then ends in exactly one
/// of *completed*, *cancelled* (it saw its connection's token) or *aborted*
/// (dropped while running: a drop guard counts it). Every change wakes
/// [`wait_until`](Self::wait_until), so tests wait for states instead of
/// sleeping.
///
/// Counters use relaxed atomics: each is a tally read on its own, and the
/// readers that need exact values read after the server's shutdown has
/// joined every task (which orders the tasks' writes before the read).
#[derive(Default)]
pub struct Ledger {
    requests: AtomicU64,
    jobs_accepted: AtomicU64,
    jobs_refused: AtomicU64,
    jobs_started: AtomicU64,
    jobs_completed: AtomicU64,
    jobs_cancelled: AtomicU64,
    jobs_aborted: AtomicU64,
    replies_abandoned: AtomicU64,
    http_errors: AtomicU64,
    conns_closed: AtomicU64,
    conns_drained: AtomicU64,
    changed: Notify,
}

impl Ledger {
    /// A reading of every counter.
    #[must_use]
    pub fn stats(&self) -> LedgerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LedgerStats {
            requests: get(&self.requests),
            jobs_accepted: get(&self.jobs_accepted),
            jobs_refused: get(&self.jobs_refused),
            jobs_started: get(&self.jobs_started),
            jobs_completed: get(&self.jobs_completed),
            jobs_cancelled: get(&self.jobs_cancelled),
            jobs_aborted: get(&self.jobs_aborted),
            replies_abandoned: get(&self.replies_abandoned),
            http_errors: get(&self.http_errors),
            conns_closed: get(&self.conns_closed),
            conns_drained: get(&self.conns_drained),
        }
    }

    /// Waits until `done` holds for a reading of the counters, and returns
    /// that reading.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn wait_until(&self, mut done: impl FnMut(&LedgerStats) -> bool) -> LedgerStats {
        loop {
            // Registered before the reading, so no change slips between.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let stats = self.stats();
            if done(&stats) {
                return stats;
            }
            changed.await;
        }
    }

    fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    pub(crate) fn request(&self) {
        self.bump(&self.requests);
    }

    pub(crate) fn job_accepted(&self) {
        self.bump(&self.jobs_accepted);
    }

    pub(crate) fn job_refused(&self) {
        self.bump(&self.jobs_refused);
    }

    pub(crate) fn reply_abandoned(&self) {
        self.bump(&self.replies_abandoned);
    }

    pub(crate) fn http_error(&self) {
        self.bump(&self.http_errors);
    }

    /// A connection's close ended: *drained* when every task it had ended on
    /// its own (none cancelled, none aborted).
    pub(crate) fn conn_closed<E>(&self, report: &ConnReport<E>) {
        let s = report.stats();
        if report.is_final() && s.live == 0 && s.cancelled == 0 && s.aborted == 0 {
            self.conns_drained.fetch_add(1, Ordering::Relaxed);
        }
        self.bump(&self.conns_closed);
    }
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ledger").field(&self.stats()).finish()
    }
}

/// One running job's entry in the [`Ledger`]: made on the job's first poll,
/// it counts the job as aborted if dropped before it says how it ended.
pub(crate) struct Job<'a> {
    ledger: &'a Ledger,
    ended: bool,
}

impl<'a> Job<'a> {
    pub(crate) fn begin(ledger: &'a Ledger) -> Self {
        ledger.bump(&ledger.jobs_started);
        Job {
            ledger,
            ended: false,
        }
    }

    pub(crate) fn completed(mut self) {
        self.ended = true;
        self.ledger.bump(&self.ledger.jobs_completed);
    }

    pub(crate) fn cancelled(mut self) {
        self.ended = true;
        self.ledger.bump(&self.ledger.jobs_cancelled);
    }
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.ledger.bump(&self.ledger.jobs_aborted);
        }
    }
}

/// Counts a reply as abandoned if its handler is dropped before answering
/// (hyper drops it when the client goes away mid-request).
pub(crate) struct Reply<'a> {
    ledger: &'a Ledger,
    answered: bool,
}

impl<'a> Reply<'a> {
    pub(crate) fn begin(ledger: &'a Ledger) -> Self {
        Reply {
            ledger,
            answered: false,
        }
    }

    pub(crate) fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Reply<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.ledger.reply_abandoned();
        }
    }
}
