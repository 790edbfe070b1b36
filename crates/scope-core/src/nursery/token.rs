//! The watch on a nursery's token: a registration that is woken inside any
//! `cancel()` that reaches the token, so the nursery follows its token
//! whoever fires it (see `shared.rs`, invariant 5).
//!
//! The watch is polled only when it is made and when it is woken, never by a
//! task; it holds the nursery weakly (through the waker), so it does not keep
//! the nursery alive until the token fires.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Wake, Waker};

use parking_lot::Mutex;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// The registration; `None` once the token has fired.
pub(crate) struct TokenWatch {
    fut: Mutex<Option<Pin<Box<WaitForCancellationFutureOwned>>>>,
}

/// What the watch tells when the token fires.
pub(crate) trait Fired: Send + Sync + 'static {
    fn watch(&self) -> &TokenWatch;
    fn token_fired(&self);
}

impl TokenWatch {
    pub(crate) fn new() -> Self {
        TokenWatch {
            fut: Mutex::new(None),
        }
    }

    /// Registers on `token`; a token that has already fired tells `owner`
    /// at once.
    pub(crate) fn start<N: Fired>(owner: &Arc<N>, token: &CancellationToken) {
        *owner.watch().fut.lock() = Some(Box::pin(token.clone().cancelled_owned()));
        let waker = Waker::from(Arc::new(WatchWaker {
            owner: Arc::downgrade(owner),
        }));
        poll(&**owner, &waker);
    }
}

/// Polls the watch; tells `owner` if the token has fired.
fn poll<N: Fired>(owner: &N, waker: &Waker) {
    let fired = {
        let mut slot = owner.watch().fut.lock();
        let Some(fut) = slot.as_mut() else {
            return; // fired already
        };
        if fut
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending()
        {
            // Registered (again, if this was a spurious wake-up).
            return;
        }
        slot.take()
    };
    // Unregistering touches the token's locks: not under ours.
    drop(fired);
    owner.token_fired();
}

/// Wakes the watch. Holds the nursery weakly: the watch the nursery owns
/// holds this waker.
struct WatchWaker<N> {
    owner: Weak<N>,
}

impl<N: Fired> Wake for WatchWaker<N> {
    fn wake(self: Arc<Self>) {
        if let Some(owner) = self.owner.upgrade() {
            poll(&*owner, &Waker::from(self));
        }
    }
}
