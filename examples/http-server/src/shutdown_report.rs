//! [`ShutdownReport`]: how an [`HttpServer`](crate::HttpServer) shutdown went.

use std::fmt;
use std::time::Duration;

use scope_conn::ServerReport;

use crate::ledger_stats::LedgerStats;

/// What [`HttpServer::shutdown`](crate::HttpServer::shutdown) returns: the
/// server's totals (from the nurseries), the example's own counters (from
/// the jobs), whether hyper's phase ended within its grace, and how long it
/// all took. The two accounts agree: every task the nurseries count is the
/// hyper connection or a job, and every job the ledger saw start has ended.
pub struct ShutdownReport {
    pub(crate) server: ServerReport<scope_core::BoxError>,
    pub(crate) ledger: LedgerStats,
    pub(crate) http_drained: bool,
    pub(crate) elapsed: Duration,
}

impl ShutdownReport {
    /// The scope-conn server's report: connections, and every task of every
    /// connection (one hyper task per connection, plus the jobs).
    #[must_use]
    pub fn server(&self) -> &ServerReport<scope_core::BoxError> {
        &self.server
    }

    /// The example's counters, read after everything ended.
    #[must_use]
    pub fn ledger(&self) -> LedgerStats {
        self.ledger
    }

    /// Every hyper connection ended within the first grace period (also
    /// `true` from a second shutdown call, which skips that phase).
    #[must_use]
    pub fn http_drained(&self) -> bool {
        self.http_drained
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
        writeln!(
            f,
            "http drained       {:>8}",
            if self.http_drained { "in grace" } else { "cut" }
        )?;
        writeln!(f, "elapsed            {:>8.0?}", self.elapsed)
    }
}

impl fmt::Debug for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownReport")
            .field("server", &self.server)
            .field("ledger", &self.ledger)
            .field("http_drained", &self.http_drained)
            .field("elapsed", &self.elapsed)
            .finish()
    }
}
