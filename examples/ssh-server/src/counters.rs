//! [`Counters`]: the two counts the nurseries do not keep.

use std::sync::atomic::{AtomicU64, Ordering};

/// Events that are not tasks, so no nursery counts them. Everything else in
/// the table comes from the nurseries' reports; neither of these is a
/// second count of something they already count.
///
/// Relaxed: each is a tally read on its own, and the table reads them after
/// the shutdown has joined every command.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    channel_opens_refused: AtomicU64,
    output_undelivered: AtomicU64,
}

impl Counters {
    /// A client asked for a new channel on a connection that was closing.
    pub(crate) fn channel_open_refused(&self) {
        self.channel_opens_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A command ended (completed or cancelled) and its client was gone:
    /// the session took none of its output, exit status or close.
    pub(crate) fn output_undelivered(&self) {
        self.output_undelivered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn channel_opens_refused(&self) -> u64 {
        self.channel_opens_refused.load(Ordering::Relaxed)
    }

    pub(crate) fn outputs_undelivered(&self) -> u64 {
        self.output_undelivered.load(Ordering::Relaxed)
    }
}
