//! The atomics and the `Notify` the lifecycle word (and the parts made on
//! first use beside it) uses, swapped for loom's under `--cfg scope_loom` so
//! the models in `nursery/state/loom.rs` can explore every interleaving,
//! wake-ups included. (Not `cfg(loom)`: that flag would also switch tokio to
//! its own loom shims, which it only builds in its own test suite.) And
//! [`Interior`], which keeps the lifecycle word's memory all interior
//! mutable.

#[cfg(scope_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64};
#[cfg(not(scope_loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64};

#[cfg(scope_loom)]
pub(crate) use model::Notify;
#[cfg(not(scope_loom))]
pub(crate) use tokio::sync::Notify;

/// tokio's `Notify`, as far as the lifecycle word uses it, built on loom's
/// primitives: tokio's own is built on `std`'s, whose synchronisation loom
/// cannot see.
///
/// What it keeps of tokio's contract (`tokio::sync::Notify::notify_waiters`):
/// a `Notified` made before a `notify_waiters` call is notified by it,
/// whether it was enabled, polled, or neither, and one made after it is not.
/// As in tokio (1.54), a `Notified` reads the call count when it is made
/// (`Acquire`), a call bumps the count (`AcqRel`) under the lock that
/// registered wakers wait behind, and a `Notified` that has not seen the
/// bump looks again under that lock before it waits. No ordering here is
/// stronger than tokio's, so loom may show the models every value tokio
/// allows. `notify_one` and its permit are left out: the lifecycle word
/// never uses them; so is a dropped `Notified`'s unregistering (a waker it
/// left behind is only woken spuriously).
#[cfg(scope_loom)]
mod model {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use loom::sync::Mutex;
    use loom::sync::atomic::{
        AtomicUsize,
        Ordering::{AcqRel, Acquire},
    };

    #[derive(Debug, Default)]
    pub(crate) struct Notify {
        calls: AtomicUsize,
        wakers: Mutex<Vec<Waker>>,
    }

    impl Notify {
        pub(crate) fn new() -> Self {
            Notify::default()
        }

        pub(crate) fn notify_waiters(&self) {
            let woken = {
                let mut wakers = self.wakers.lock().unwrap();
                self.calls.fetch_add(1, AcqRel);
                std::mem::take(&mut *wakers)
            };
            woken.into_iter().for_each(Waker::wake);
        }

        pub(crate) fn notified(&self) -> Notified<'_> {
            Notified {
                notify: self,
                seen: self.calls.load(Acquire),
            }
        }
    }

    pub(crate) struct Notified<'a> {
        notify: &'a Notify,
        seen: usize,
    }

    impl Notified<'_> {
        /// tokio's `enable` registers the waiter so that a later call
        /// notifies it; here every `Notified` counts from when it was made,
        /// which is the same contract. Returns whether it is notified.
        pub(crate) fn enable(self: Pin<&mut Self>) -> bool {
            let _wakers = self.notify.wakers.lock().unwrap();
            self.notify.calls.load(Acquire) != self.seen
        }
    }

    impl Future for Notified<'_> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut wakers = self.notify.wakers.lock().unwrap();
            if self.notify.calls.load(Acquire) != self.seen {
                return Poll::Ready(());
            }
            wakers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// A `Sync` value whose every byte, padding included, lies inside an
/// `UnsafeCell`, as an atomic's does.
///
/// A child's end may hold a reference to the lifecycle word (`Core`)
/// across its decrement, after which another end may free the nursery
/// (`shared.rs`, invariant 6). A reference argument is protected for the
/// whole call: the memory it covers must stay allocated, except where it is
/// interior mutable, which the reference does not freeze (as `Arc::drop`'s
/// reference to its counter). A lock's padding is not interior mutable
/// (`std`'s `Mutex` has three bytes of it after its poison flag, in tokio's
/// `Notify`); inside this wrapper it is.
pub(crate) struct Interior<T>(std::cell::UnsafeCell<T>);

// SAFETY: only shared references to the value are ever made (`get`): no
// `&mut T`, and no move out while it is shared. Sharing an `Interior<T>` so
// shares `&T`, which `T: Sync` allows.
#[allow(unsafe_code)]
unsafe impl<T: Sync> Sync for Interior<T> {}

impl<T> Interior<T> {
    pub(crate) fn new(value: T) -> Self {
        Interior(std::cell::UnsafeCell::new(value))
    }

    pub(crate) fn get(&self) -> &T {
        // SAFETY: nothing makes a `&mut T` or moves the value while `self` is
        // shared (see the `Sync` impl), so a shared reference is valid for
        // as long as `self` is borrowed.
        #[allow(unsafe_code)]
        unsafe {
            &*self.0.get()
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Interior<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}
