//! [`LedgerStats`]: a reading of the [`Ledger`](crate::Ledger).

use std::fmt;

/// A reading of the [`Ledger`](crate::Ledger)'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerStats {
    /// Session channels opened.
    pub channels: u64,
    /// `exec` and shell requests the connection's nursery accepted as tasks
    /// (the ledger calls both commands).
    pub commands_accepted: u64,
    /// `exec` and shell requests refused (the connection was closing, or at its task
    /// limit): the client was told the request failed.
    pub commands_refused: u64,
    /// Commands that began running.
    pub commands_started: u64,
    /// Commands that ran to their end.
    pub commands_completed: u64,
    /// Commands that stopped early because their connection's token fired.
    pub commands_cancelled: u64,
    /// Commands dropped while running (a shutdown's last phase).
    pub commands_aborted: u64,
    /// Commands that ended with nobody left to tell: the client was gone.
    pub outputs_undelivered: u64,
    /// Connections whose close has ended.
    pub conns_closed: u64,
    /// Of those, the ones whose every task ended on its own.
    pub conns_drained: u64,
}

impl LedgerStats {
    /// Commands started and not ended: running now, or, after a shutdown,
    /// lost.
    #[must_use]
    pub fn commands_unaccounted(&self) -> u64 {
        // Saturating: a reading taken while commands run is not one instant.
        self.commands_started.saturating_sub(
            self.commands_completed + self.commands_cancelled + self.commands_aborted,
        )
    }
}

impl fmt::Display for LedgerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "channels           {:>8}", self.channels)?;
        writeln!(f, "commands started   {:>8}", self.commands_started)?;
        writeln!(f, "  completed        {:>8}", self.commands_completed)?;
        writeln!(f, "  cancelled        {:>8}", self.commands_cancelled)?;
        writeln!(f, "  aborted          {:>8}", self.commands_aborted)?;
        writeln!(f, "  lost             {:>8}", self.commands_unaccounted())?;
        writeln!(f, "commands refused   {:>8}", self.commands_refused)?;
        writeln!(f, "output undelivered {:>8}", self.outputs_undelivered)?;
        writeln!(
            f,
            "connections closed {:>8} ({} drained)",
            self.conns_closed, self.conns_drained
        )
    }
}
