//! [`LedgerStats`]: a reading of the [`Ledger`](crate::Ledger).

use std::fmt;

/// A reading of the [`Ledger`](crate::Ledger)'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerStats {
    /// Requests whose handler ran.
    pub requests: u64,
    /// Jobs the connection's nursery accepted.
    pub jobs_accepted: u64,
    /// Jobs the nursery refused (the connection was closing, or at its
    /// limit); the request was answered `503`.
    pub jobs_refused: u64,
    /// Jobs that began running.
    pub jobs_started: u64,
    /// Jobs that finished their work.
    pub jobs_completed: u64,
    /// Jobs that stopped early because their connection's token fired.
    pub jobs_cancelled: u64,
    /// Jobs dropped while running (aborted by a shutdown's last phase).
    pub jobs_aborted: u64,
    /// Slow replies whose handler was dropped before answering: the client
    /// went away.
    pub replies_abandoned: u64,
    /// Connections hyper ended with an error (a client gone mid-request, a
    /// malformed request, a header timeout).
    pub http_errors: u64,
    /// Connections whose close has ended.
    pub conns_closed: u64,
    /// Of those, the ones whose every task ended on its own.
    pub conns_drained: u64,
}

impl LedgerStats {
    /// Jobs started and not ended: running now, or, after a shutdown, lost.
    #[must_use]
    pub fn jobs_unaccounted(&self) -> u64 {
        // Saturating: a reading taken while jobs run is not one instant.
        self.jobs_started
            .saturating_sub(self.jobs_completed + self.jobs_cancelled + self.jobs_aborted)
    }
}

impl fmt::Display for LedgerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "requests           {:>8}", self.requests)?;
        writeln!(f, "jobs started       {:>8}", self.jobs_started)?;
        writeln!(f, "  completed        {:>8}", self.jobs_completed)?;
        writeln!(f, "  cancelled        {:>8}", self.jobs_cancelled)?;
        writeln!(f, "  aborted          {:>8}", self.jobs_aborted)?;
        writeln!(f, "  lost             {:>8}", self.jobs_unaccounted())?;
        writeln!(f, "jobs refused       {:>8}", self.jobs_refused)?;
        writeln!(f, "replies abandoned  {:>8}", self.replies_abandoned)?;
        writeln!(
            f,
            "connections closed {:>8} ({} drained)",
            self.conns_closed, self.conns_drained
        )
    }
}
