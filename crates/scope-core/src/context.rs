//! Thread-local context: which nursery's child is being polled on this thread,
//! and the slot that hands a future back when the runtime refuses it.
//!
//! # Invariants
//!
//! 1. `CURRENT` is set only while a child (or the body) of the nursery it
//!    points to is being polled (or its blocking closure runs) on this
//!    thread, and the caller holds an `Arc` of that nursery for the whole
//!    time. [`Enter`] restores the previous value on drop, so nesting and
//!    unwinding keep the stack discipline.
//! 2. `RESCUE` is armed only for the duration of one `spawn_on` call by this
//!    thread; a child wrapper dropped unpolled while it is armed (tokio drops a
//!    task synchronously when its runtime has shut down) parks its future in
//!    the slot instead of dropping it, and the spawner hands it back.

#![allow(unsafe_code)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ptr::{self, NonNull};

use crate::nursery::state::Core;
use crate::nursery::tree::{Lineage, ancestry};

thread_local! {
    static CURRENT: Cell<Option<NonNull<dyn Lineage>>> = const { Cell::new(None) };
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static RESCUED: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Marks this thread as running a child of `nursery` until dropped. Borrows
/// the nursery, so the borrow checker keeps it alive for as long as `CURRENT`
/// may point to it.
pub(crate) struct Enter<'a> {
    prev: Option<NonNull<dyn Lineage>>,
    _nursery: std::marker::PhantomData<&'a dyn Lineage>,
}

#[inline]
pub(crate) fn enter(nursery: &dyn Lineage) -> Enter<'_> {
    let prev = CURRENT.with(|c| c.replace(Some(NonNull::from(nursery))));
    Enter {
        prev,
        _nursery: std::marker::PhantomData,
    }
}

impl Drop for Enter<'_> {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Is this thread running a child of the nursery whose core is `core`, or of
/// one of its descendants?
pub(crate) fn is_inside(core: &Core) -> bool {
    CURRENT.with(|c| {
        let Some(cur) = c.get() else {
            return false;
        };
        // SAFETY: by invariant 1, a set `CURRENT` points to a nursery whose
        // child is on this thread's stack right now, and whoever set it holds
        // an `Arc` keeping that nursery alive (and each nursery holds its
        // parent, and so on up).
        let cur = unsafe { cur.as_ref() };
        ancestry(cur).any(|n| ptr::eq(n.core(), core))
    })
}

/// Arms the rescue slot for one `spawn_on`; disarms on drop.
pub(crate) struct Armed(());

#[inline]
pub(crate) fn arm() -> Armed {
    ARMED.with(|a| a.set(true));
    Armed(())
}

impl Armed {
    /// Disarms; `true` if nothing was parked (the common case costs this one
    /// thread-local access, no look at the slot).
    #[inline]
    pub(crate) fn disarm(self) -> bool {
        std::mem::forget(self);
        ARMED.with(|a| a.replace(false))
    }
}

impl Drop for Armed {
    #[inline]
    fn drop(&mut self) {
        ARMED.with(|a| a.set(false));
    }
}

/// Is a spawn on this thread waiting to hear whether tokio refused its task?
#[inline]
pub(crate) fn rescue_armed() -> bool {
    ARMED.with(Cell::get)
}

/// Called by a child wrapper dropped before its first poll. Takes the value if
/// a spawn on this thread is armed (and disarms it, which tells the spawner to
/// look); otherwise hands it back to be dropped.
pub(crate) fn try_rescue<V: Any>(value: V) -> Result<(), V> {
    if ARMED.with(|a| a.replace(false)) {
        RESCUED.with(|r| *r.borrow_mut() = Some(Box::new(value)));
        Ok(())
    } else {
        Err(value)
    }
}

/// Takes what the armed spawn's child parked, if anything.
pub(crate) fn take_rescued<V: Any>() -> Option<V> {
    RESCUED.with(|r| r.borrow_mut().take()).map(|b| {
        *b.downcast::<V>()
            .expect("rescue slot holds the spawned type")
    })
}
