//! The send timeout's clock.
//!
//! The clock starts when a write (or flush, or shutdown) first returns
//! `Pending` after the transport last made progress, and any progress stops
//! it. It fires when the transport has taken nothing for the whole timeout,
//! however often the protocol retried in between: nginx's `send_timeout`.
//! The timer is allocated the first time the transport blocks, so a
//! connection whose writes never block pays one `Option` for it.

use std::future::Future;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::Io;

// The clock's state is two fields of `Io` (`stall_timer`, `stall_armed`),
// beside its other flags rather than in a struct of its own, whose padding
// every connection would pay; the timeout itself is the connection's
// (`Link::send_timeout`).
impl<S> Io<S> {
    /// The transport took bytes (or finished a flush): the next stall gets a
    /// fresh clock.
    pub(super) fn stall_progress(&mut self) {
        self.stall_armed = false;
    }

    /// The transport would block. `Ready` once it has been blocked for the
    /// whole timeout; otherwise the task is woken when that happens.
    pub(super) fn stall_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.stall_armed {
            let at = Instant::now() + self.link.send_timeout();
            match &mut self.stall_timer {
                Some(timer) => timer.as_mut().reset(at),
                None => self.stall_timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.stall_armed = true;
        }
        match &mut self.stall_timer {
            Some(timer) => timer.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}
