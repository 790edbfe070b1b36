//! What the server prints about its connections: one line per connection
//! from its [`ConnReport`], and the table from the [`ServerReport`].

use std::fmt;
use std::time::Duration;

use scope_conn::{CloseReason, ConnReport, ServerReport};
use scope_core::{BoxError, Stats};

use crate::counters::Counters;

/// The `on_closed` hook: one line per connection, once its close has run to
/// its end (for one whose close the shutdown's grace cut short, as the
/// shutdown returns, with its aborted commands).
pub(crate) fn print_closed(report: &ConnReport<BoxError>) {
    let peer = report
        .peer()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    let failure = report
        .tasks()
        .failure()
        .and_then(|f| f.inspect(|e| format!("; first failure: {e}")))
        .unwrap_or_default();
    println!(
        "conn {} ({peer}) closed: {}; commands {} = {}{failure}",
        report.id(),
        reason(report.reason()),
        report.tasks().stats().spawned,
        Commands(report.tasks().stats()),
    );
}

fn reason(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::SessionEnded => "the client left",
        CloseReason::Shutdown => "server shutdown",
        CloseReason::IdleTimeout => "idle timeout",
        CloseReason::SendTimeout => "send timeout (the client took no data)",
        CloseReason::Transport => "the transport failed",
        CloseReason::Failed => "a command failed",
        CloseReason::Cancelled => "cancelled",
        CloseReason::Requested => "closed by the server",
        CloseReason::SessionPanicked => "the session panicked",
        _ => "closed",
    }
}

/// Where a nursery's commands ended, every one in exactly one column.
struct Commands(Stats);

impl fmt::Display for Commands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(
            f,
            "{} completed + {} cancelled + {} aborted + {} failed + {} running",
            s.completed, s.cancelled, s.aborted, s.failed, s.live
        )?;
        if s.refused > 0 {
            write!(f, "; {} refused", s.refused)?;
        }
        Ok(())
    }
}

/// Seconds, as a user types them (`5s`, `2.5s`).
pub(crate) fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The table printed after a shutdown. Every task row is the server's
/// totals of its connections' nurseries; the two counters count events
/// that are not tasks.
pub(crate) struct Table<'a> {
    pub(crate) report: &'a ServerReport<BoxError>,
    pub(crate) counters: &'a Counters,
    pub(crate) grace: Duration,
}

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        let t = r.tasks();
        // Zero by construction: every command is a task of a connection's
        // nursery, and a nursery counts each task it accepted in exactly one
        // column. A command started any other way would show here.
        let accounted = t.completed + t.cancelled + t.aborted + t.failed + t.live;
        let lost = i128::from(t.spawned) - i128::from(accounted);
        writeln!(
            f,
            "shutdown report (grace {}{})",
            secs(self.grace),
            if r.is_final() {
                ""
            } else {
                "; some blocking work is still running"
            }
        )?;
        writeln!(
            f,
            "  connections            {:>6} served, {} turned away",
            r.connections(),
            r.refused_connections()
        )?;
        writeln!(
            f,
            "  commands               {:>6} = {}",
            t.spawned,
            Commands(t)
        )?;
        writeln!(
            f,
            "  lost                   {lost:>6} started and never accounted for"
        )?;
        writeln!(
            f,
            "  commands refused       {:>6} asked for while the connection was closing (or full)",
            t.refused
        )?;
        writeln!(
            f,
            "  channel opens refused  {:>6} asked for while the connection was closing",
            self.counters.channel_opens_refused()
        )?;
        writeln!(
            f,
            "  output undelivered     {:>6} commands whose client had left",
            self.counters.outputs_undelivered()
        )
    }
}
