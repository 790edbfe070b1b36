//! Thread-local context: which nursery's child is being polled on this thread,
//! and the slot that hands a future back when the runtime refuses it.
//!
//! # Invariants
//!
//! 1. `CURRENT` is non-null only while a child of the nursery it points to is
//!    being polled (or its blocking closure runs) on this thread, and the child
//!    wrapper holds an `Arc` of that nursery for the whole time. [`Enter`]
//!    restores the previous value on drop, so nesting and unwinding keep the
//!    stack discipline.
//! 2. `RESCUE` is armed only for the duration of one `spawn_on` call by this
//!    thread; a child wrapper dropped unpolled while it is armed (tokio drops a
//!    task synchronously when its runtime has shut down) parks its future in
//!    the slot instead of dropping it, and the spawner hands it back.

#![allow(unsafe_code)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ptr;

use crate::nursery::state::Core;

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static RESCUED: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

/// Marks this thread as running a child of `core` until dropped. Borrows the
/// core, so the borrow checker keeps it alive for as long as `CURRENT` may
/// point to it.
pub(crate) struct Enter<'a> {
    prev: *const Core,
    _core: std::marker::PhantomData<&'a Core>,
}

pub(crate) fn enter(core: &Core) -> Enter<'_> {
    let prev = CURRENT.with(|c| c.replace(core));
    Enter {
        prev,
        _core: std::marker::PhantomData,
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Is this thread running a child of `core` or of one of its descendants?
pub(crate) fn is_inside(core: &Core) -> bool {
    let target = ptr::from_ref(core);
    CURRENT.with(|c| {
        let cur = c.get();
        if cur.is_null() {
            return false;
        }
        if ptr::eq(cur, target) {
            return true;
        }
        // SAFETY: by invariant 1, a non-null `CURRENT` points to the core of a
        // nursery whose child is on this thread's stack right now, and that
        // child holds an `Arc` keeping the core alive (and the core holds its
        // parent's, and so on up).
        let cur = unsafe { &*cur };
        cur.lineage().any(|c| ptr::eq(c, target))
    })
}

/// Arms the rescue slot for one `spawn_on`; disarms on drop.
pub(crate) struct Armed(());

pub(crate) fn arm() -> Armed {
    ARMED.with(|a| a.set(true));
    Armed(())
}

impl Armed {
    /// Disarms; `true` if nothing was parked (the common case costs this one
    /// thread-local access, no look at the slot).
    pub(crate) fn disarm(self) -> bool {
        std::mem::forget(self);
        ARMED.with(|a| a.replace(false))
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.with(|a| a.set(false));
    }
}

/// Is a spawn on this thread waiting to hear whether tokio refused its task?
pub(crate) fn rescue_armed() -> bool {
    ARMED.with(Cell::get)
}

/// Called by a child wrapper dropped before its first poll. Takes the value if
/// a spawn on this thread is armed (and disarms it, which tells the spawner to
/// look); otherwise hands it back to be dropped.
pub(crate) fn try_rescue<V: Any + Send>(value: V) -> Result<(), V> {
    if ARMED.with(|a| a.replace(false)) {
        RESCUED.with(|r| *r.borrow_mut() = Some(Box::new(value)));
        Ok(())
    } else {
        Err(value)
    }
}

/// Takes what the armed spawn's child parked, if anything.
pub(crate) fn take_rescued<V: Any + Send>() -> Option<V> {
    RESCUED.with(|r| r.borrow_mut().take()).map(|b| {
        *b.downcast::<V>()
            .expect("rescue slot holds the spawned type")
    })
}
