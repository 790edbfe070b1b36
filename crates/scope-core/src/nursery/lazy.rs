//! [`OnceBox`] and [`OnceArc`]: a part of a nursery made on first use, held
//! by one pointer. Most nurseries never list a child, nest one, fail, wait
//! past a shutdown's abort or hand out their token; each of those parts
//! costs them 8 bytes instead of its size (an `OnceLock` would cost 16).
//!
//! # Invariants
//!
//! 1. The pointer is null, or owns one value, made by `Box::into_raw` (or
//!    `Arc::into_raw`) and never replaced: it is set once, by a
//!    compare-and-swap from null, and freed only by the holder's `Drop`.
//! 2. Two threads may make a value at once: the one whose swap loses drops
//!    its own, which is ours (no user code) and was never shared.
//!
//! # Orderings
//!
//! The swap is `AcqRel` and every read `Acquire`: whoever sees the pointer
//! sees the value it points to initialised.

#![allow(unsafe_code)]

use std::fmt;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::sync::AtomicPtr;

/// A `Box<T>` made on first use.
pub(crate) struct OnceBox<T> {
    ptr: AtomicPtr<T>,
}

impl<T> OnceBox<T> {
    pub(crate) fn new() -> Self {
        OnceBox {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The value, if it was made.
    pub(crate) fn get(&self) -> Option<&T> {
        // SAFETY: a non-null pointer owns a live value until `self` drops
        // (invariant 1), and `&self` outlives the returned reference.
        unsafe { self.ptr.load(Ordering::Acquire).as_ref() }
    }

    /// The value, made now by `make` if it was not made yet.
    pub(crate) fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let new = Box::into_raw(Box::new(make()));
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `new` is now owned by `self` (invariant 1).
            Ok(_) => unsafe { &*new },
            Err(made) => {
                // SAFETY: the swap failed, so `new` was never shared: this
                // is its one owner (invariant 2).
                drop(unsafe { Box::from_raw(new) });
                // SAFETY: as in `get`.
                unsafe { &*made }
            }
        }
    }
}

impl<T> Drop for OnceBox<T> {
    fn drop(&mut self) {
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: `p` owns its value (invariant 1), and nothing else can
            // reach it once `self` is being dropped.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

// SAFETY: a `OnceBox<T>` owns a `T` and hands out `&T`, as a `Box<T>` behind
// a lock would: it is `Send` and `Sync` exactly when `T` is both.
unsafe impl<T: Send + Sync> Send for OnceBox<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for OnceBox<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// An `Arc<T>` set once.
pub(crate) struct OnceArc<T> {
    ptr: AtomicPtr<T>,
}

impl<T> OnceArc<T> {
    pub(crate) fn new() -> Self {
        OnceArc {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The value, if it was set.
    pub(crate) fn get(&self) -> Option<&T> {
        // SAFETY: as `OnceBox::get`: `self` holds one reference count.
        unsafe { self.ptr.load(Ordering::Acquire).as_ref() }
    }

    /// A new reference to the value, if it was set.
    pub(crate) fn cloned(&self) -> Option<Arc<T>> {
        let p = self.ptr.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `Arc::into_raw` and `self` holds a count
        // for it until it drops, so the value is live while we add ours.
        unsafe {
            Arc::increment_strong_count(p);
            Some(Arc::from_raw(p))
        }
    }

    /// Sets the value if none was set; `true` if this call set it. The
    /// `value` of a losing call is dropped here.
    pub(crate) fn set(&self, value: Arc<T>) -> bool {
        let new = Arc::into_raw(value).cast_mut();
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // SAFETY: the swap failed: `new` is still only ours.
                drop(unsafe { Arc::from_raw(new) });
                false
            }
        }
    }
}

impl<T> Drop for OnceArc<T> {
    fn drop(&mut self) {
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: `p` came from `Arc::into_raw` and carries this holder's
            // count (invariant 1).
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}

// SAFETY: a `OnceArc<T>` holds an `Arc<T>`, which is `Send` and `Sync` when
// `T` is both.
unsafe impl<T: Send + Sync> Send for OnceArc<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for OnceArc<T> {}
