//! Following the token: how a nursery learns that its token fired when the
//! nursery did not fire it.
//!
//! A nursery's own cancels (`cancel`, fail-fast, a shutdown's deadline, the
//! owner's drop) set its `CANCELLED` flag, and every nested nursery's, before
//! they fire the token (`Shared::cancel`), so nobody can see the token fired
//! before the flags say so. Only a token someone else can cancel needs
//! watching: one handed out by `token()` (its holder may call `cancel()` on
//! it or on a child token of it), or parented under an application's token.
//! Such a nursery is *exposed*, and so is everything below it, since a
//! cancel of its token reaches their tokens too.
//!
//! An exposed nursery registers a [`Watch`] on its token: woken inside the
//! `cancel()` that fires it, it sets the flag there and then (before that
//! call returns, and before any task waiting on the token itself is woken:
//! tokio's `Notify` wakes in registration order and the watch registered
//! first). Tasks woken through tokens below it can run before the watch, so
//! an exposed nursery's ending children also ask the token while the flag is
//! not set (`Shared::ended_after_cancel`).
//!
//! # The token, made late
//!
//! A nursery makes its token on first demand: `token()`, a watch, or a
//! nested nursery's (made as a child of its parent's, so a parent's token
//! is made before any below it). Most nurseries never need one: their
//! cancels are the flags, and `poll_cancelled` waits on a waker slot. What
//! keeps a made token true to the flags: a nursery whose `cancel` runs sets
//! `CANCELLED` here and below (the walk), then `FIRE` here, then fires its
//! token if it is made (`Shared::cancel_wakes`); whoever makes a token then
//! fires it if `FIRE` is set (`Shared::token_now`). Each side puts a `SeqCst`
//! fence between its write and its read, so at least one sees the other's
//! write, and neither fires before the walk has set every flag below (the
//! rule above: nobody sees the token fired before the flags say so). A
//! nursery below the one cancelling is reached by the top token's firing,
//! since its token (if made) descends from it, and making it makes the
//! top's first.
//!
//! # Invariants
//!
//! 1. `EXPOSED` is set on a nursery before any code outside the nursery can
//!    hold its token or a token above it: `token()` returns only once the
//!    walk below (`expose`) has marked the whole subtree, and a nested
//!    nursery built under an exposed parent is exposed when built.
//! 2. A walk sets `EXPOSED` on a nursery before it reads its nested list
//!    (under the list's lock), and a nested nursery is reachable in that
//!    list, and has passed through its lock, before it reads its parent's
//!    flag (`tree.rs`, invariant 4): either the walk finds it, or it finds
//!    the flag.
//! 3. `WATCHED` is set once the nursery's watch is registered and every
//!    nursery below it is `WATCHED`: only then may `token()` skip the walk,
//!    and a walk skips a `WATCHED` subtree.
//! 4. A watch holds the nursery weakly; the cycle from the watch through the
//!    waker it registered back to itself is broken when the token fires or
//!    the nursery is dropped (`Watch::stop`).

#![allow(unsafe_code)]

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Wake, Waker};

use parking_lot::Mutex;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::state::{Core, EXPOSED, WATCHED};
use super::tree::Node;

/// What the watch tells when the token fires.
pub(crate) trait Fired: Send + Sync + 'static {
    fn token_fired(&self);
}

/// A registration on the token, and the waker it registers with. Made only
/// for an exposed nursery.
pub(crate) struct Watch<N> {
    owner: Weak<N>,
    /// `None` once the token fired or the nursery is gone. Pinned where it
    /// is: the `Arc` never moves it, and it is only ever dropped in place.
    fut: Mutex<Option<WaitForCancellationFutureOwned>>,
}

impl<N: Fired> Watch<N> {
    /// Registers a watch of `owner` on `token`; a token that has already
    /// fired tells `owner` at once.
    pub(crate) fn start(owner: &Arc<N>, token: &CancellationToken) -> Arc<Self> {
        let watch = Arc::new(Watch {
            owner: Arc::downgrade(owner),
            fut: Mutex::new(Some(token.clone().cancelled_owned())),
        });
        Arc::clone(&watch).poll(owner);
        watch
    }

    /// Polls the registration; tells `owner` if the token has fired.
    fn poll(self: Arc<Self>, owner: &N) {
        let waker = Waker::from(Arc::clone(&self));
        let fired = {
            let mut slot = self.fut.lock();
            let Some(fut) = slot.as_mut() else {
                return; // fired, or stopped
            };
            // SAFETY: the future lives in this `Arc`'s allocation, which
            // never moves, and is never moved out of its slot: it is only
            // dropped in place (`stop`, or the assignment below).
            let fut = unsafe { Pin::new_unchecked(fut) };
            if fut.poll(&mut Context::from_waker(&waker)).is_ready() {
                // Unregistering touches the token's locks, none of ours.
                *slot = None;
                true
            } else {
                false // registered (again, if this was a spurious wake-up)
            }
        };
        drop(waker);
        if fired {
            owner.token_fired();
        }
    }

    /// Unregisters (invariant 4).
    pub(crate) fn stop(&self) {
        // Dropped in place, by the assignment: a registered future must not
        // move (`take` would move it out first, leaving the token's list
        // pointing at the slot it left).
        *self.fut.lock() = None;
    }
}

impl<N: Fired> Wake for Watch<N> {
    fn wake(self: Arc<Self>) {
        if let Some(owner) = self.owner.upgrade() {
            self.poll(&owner);
        }
    }
}

/// Marks `top` and every nursery below it exposed, and has each register its
/// watch (`start_watch`), bottom up (invariants 1 to 3). A work list, however
/// deep the tree.
pub(crate) fn expose<E: 'static>(top: &Arc<dyn Node<E>>) {
    if top.core().has(WATCHED) {
        return;
    }
    // (nursery, its nested ones are on the list already)
    let mut work: Vec<(Arc<dyn Node<E>>, bool)> = vec![(Arc::clone(top), false)];
    while let Some((node, below_done)) = work.pop() {
        if below_done {
            Arc::clone(&node).start_watch();
            node.core().mark(WATCHED);
            continue;
        }
        let core: &Core = node.core();
        if core.has(WATCHED) {
            continue;
        }
        core.mark(EXPOSED);
        let nested = node.tree().live_nested();
        work.push((node, true));
        work.extend(nested.into_iter().map(|n| (n, false)));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::Nursery;
    use crate::pause::{self, Point};

    /// A cancel of the top sets the flags top down, then `FIRE`, then fires
    /// the top's token if it is made. A token first made while that walk is
    /// still on its way down must not fire before it: made fired (as when
    /// its making read the top's `CANCELLED` rather than `FIRE`), the
    /// bottom nursery's watch marked it cancelled at once, while the
    /// nursery between it and the top, which the walk had not reached, read
    /// as not cancelled: a cancel from above seen below before above.
    #[test]
    fn a_token_made_while_a_cancel_walks_down_fires_after_the_walk() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _in = rt.enter();
        let top: Nursery = Nursery::new();
        let middle: Nursery = top.child_builder().build().unwrap();
        let bottom: Nursery = middle.child_builder().build().unwrap();
        let at = Arc::as_ptr(&top.spawner.shared).cast();
        std::thread::scope(|s| {
            // Armed in here: a failing assert drops it, letting the cancel
            // go on, before the scope waits for that thread.
            let gate = pause::arm(Point::CancelWalks, at);
            let cancel = s.spawn(|| top.cancel());
            gate.wait_arrived();
            // The top's flag is set; the walk below has not begun.
            assert!(top.is_cancelled());
            let token = bottom.token().clone();
            assert!(!middle.is_cancelled());
            assert!(
                !bottom.is_cancelled(),
                "the bottom reads cancelled while the middle, above it, does not"
            );
            assert!(!token.is_cancelled(), "fired before the walk");

            gate.release();
            cancel.join().unwrap();
            assert!(middle.is_cancelled() && bottom.is_cancelled());
            assert!(token.is_cancelled(), "the cancel fired the token it found");
        });
    }
}
