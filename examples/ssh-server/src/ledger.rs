//! [`Ledger`]: the commands the channels ran and how each ended.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use scope_conn::ConnReport;
use tokio::sync::Notify;

use crate::ledger_stats::LedgerStats;

/// The example's own counters, kept by the handlers and commands
/// themselves, independently of the nurseries: a command that vanished
/// shows here as started and never ended.
///
/// A command counts as *started* on its task's first poll and then ends in
/// exactly one of *completed*, *cancelled* (it saw its connection's token)
/// or *aborted* (dropped while running: a drop guard counts it). Every
/// change wakes [`wait_until`](Self::wait_until), so tests wait for states
/// instead of sleeping.
///
/// Counters use relaxed atomics: each is a tally read on its own, and exact
/// readings are taken after the server's shutdown joined every task.
#[derive(Default)]
pub struct Ledger {
    channels: AtomicU64,
    commands_accepted: AtomicU64,
    commands_refused: AtomicU64,
    commands_started: AtomicU64,
    commands_completed: AtomicU64,
    commands_cancelled: AtomicU64,
    commands_aborted: AtomicU64,
    outputs_undelivered: AtomicU64,
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
            channels: get(&self.channels),
            commands_accepted: get(&self.commands_accepted),
            commands_refused: get(&self.commands_refused),
            commands_started: get(&self.commands_started),
            commands_completed: get(&self.commands_completed),
            commands_cancelled: get(&self.commands_cancelled),
            commands_aborted: get(&self.commands_aborted),
            outputs_undelivered: get(&self.outputs_undelivered),
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

    pub(crate) fn channel_opened(&self) {
        self.bump(&self.channels);
    }

    pub(crate) fn command_accepted(&self) {
        self.bump(&self.commands_accepted);
    }

    pub(crate) fn command_refused(&self) {
        self.bump(&self.commands_refused);
    }

    pub(crate) fn output_undelivered(&self) {
        self.bump(&self.outputs_undelivered);
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

/// One running command's entry in the [`Ledger`]: made on the task's first
/// poll, it counts the command as aborted if dropped before it says how it
/// ended.
pub(crate) struct Entry<'a> {
    ledger: &'a Ledger,
    ended: bool,
}

impl<'a> Entry<'a> {
    pub(crate) fn begin(ledger: &'a Ledger) -> Self {
        ledger.bump(&ledger.commands_started);
        Entry {
            ledger,
            ended: false,
        }
    }

    pub(crate) fn completed(mut self) {
        self.ended = true;
        self.ledger.bump(&self.ledger.commands_completed);
    }

    pub(crate) fn cancelled(mut self) {
        self.ended = true;
        self.ledger.bump(&self.ledger.commands_cancelled);
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.ledger.bump(&self.ledger.commands_aborted);
        }
    }
}
