//! [`ShutdownReport`]: how an [`SshServer`](crate::SshServer) shutdown went.

use std::fmt;
use std::time::Duration;

use scope_conn::ServerReport;

use crate::ledger_stats::LedgerStats;

/// What [`SshServer::shutdown`](crate::SshServer::shutdown) returns: the
/// server's totals (from the nurseries), the example's own counters (from
/// the commands), and how long it took. Every task the nurseries count is a
/// command, and every command the ledger saw start has ended.
pub struct ShutdownReport {
    pub(crate) server: ServerReport<scope_core::BoxError>,
    pub(crate) ledger: LedgerStats,
    pub(crate) elapsed: Duration,
}

impl ShutdownReport {
    /// The scope-conn server's report: connections, and every command task
    /// of every connection.
    #[must_use]
    pub fn server(&self) -> &ServerReport<scope_core::BoxError> {
        &self.server
    }

    /// The example's counters, read after everything ended.
    #[must_use]
    pub fn ledger(&self) -> LedgerStats {
        self.ledger
    }

    /// From the call to the report.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.server.tasks();
        writeln!(f, "connections        {:>8}", self.server.connections())?;
        write!(f, "{}", self.ledger)?;
        writeln!(
            f,
            "nursery tasks      {:>8} = {} completed + {} failed + {} cancelled + {} aborted",
            t.spawned, t.completed, t.failed, t.cancelled, t.aborted
        )?;
        writeln!(f, "elapsed            {:>8.0?}", self.elapsed)
    }
}

impl fmt::Debug for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownReport")
            .field("server", &self.server)
            .field("ledger", &self.ledger)
            .field("elapsed", &self.elapsed)
            .finish()
    }
}
