//! [`Stall`]: the send timeout's clock.
//!
//! The clock starts when a write (or flush, or shutdown) first returns
//! `Pending` after the transport last made progress, and any progress stops
//! it. It fires when the transport has taken nothing for the whole timeout,
//! however often the protocol retried in between: nginx's `send_timeout`.
//! The timer is allocated the first time the transport blocks, so a
//! connection whose writes never block pays one `Option` for it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

#[derive(Debug)]
pub(crate) struct Stall {
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// The timer runs for the current stall (it may be left over from an
    /// earlier one otherwise).
    armed: bool,
}

impl Stall {
    pub(crate) fn new(timeout: Duration) -> Self {
        Stall {
            timeout,
            timer: None,
            armed: false,
        }
    }

    /// The transport took bytes (or finished a flush): the next stall gets a
    /// fresh clock.
    pub(crate) fn progress(&mut self) {
        self.armed = false;
    }

    /// The transport would block. `Ready` once it has been blocked for the
    /// whole timeout; otherwise the task is woken when that happens.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed {
            let at = Instant::now() + self.timeout;
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(at),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.armed = true;
        }
        match &mut self.timer {
            Some(timer) => timer.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}
