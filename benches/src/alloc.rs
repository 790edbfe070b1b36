//! [`Window`]: exact byte counts from a counting global allocator.
//!
//! The allocator forwards to `System` and, only while a window is open, adds
//! each request's size to one of two global counters. Closed, it costs one
//! relaxed load of a flag that is never written, so the timed scenarios are
//! not skewed by counting they do not use.
//!
//! Bytes are the sizes requested (`Layout::size`), not what `malloc` rounds
//! them up to: that is the number a type's layout determines, and it is the
//! same on every platform.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

fn count(counter: &AtomicU64, bytes: usize) {
    // Relaxed: a window reads the counters on the thread that did the work
    // being measured (scenarios measure on a current-thread runtime), so
    // program order is all the ordering needed.
    if COUNTING.load(Ordering::Relaxed) {
        counter.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, so the
// `GlobalAlloc` contract we promise is `System`'s; the counting only touches
// atomics and never allocates (no re-entry).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size),
        // which is all `System.alloc` requires.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(&ALLOCATED, layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(&ALLOCATED, layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence
        // from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(&FREED, layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator with
        // `layout`, and `new_size` is non-zero and does not overflow when
        // rounded to `layout.align()`: exactly `System.realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(&FREED, layout.size());
            count(&ALLOCATED, new_size);
        }
        new
    }
}

/// An open byte-counting window: [`net`](Self::net) is the change in live
/// heap bytes since [`open`](Self::open), counting every thread.
///
/// Counting stops when the window is dropped. Open one window at a time.
///
/// # Examples
///
/// ```
/// let window = scope_benches::Window::open();
/// let v: Vec<u64> = Vec::with_capacity(4);
/// assert_eq!(window.net(), 32);
/// drop(v);
/// assert_eq!(window.net(), 0);
/// ```
#[derive(Debug)]
pub struct Window {
    allocated: u64,
    freed: u64,
}

impl Window {
    /// Starts counting.
    #[must_use]
    pub fn open() -> Window {
        COUNTING.store(true, Ordering::SeqCst);
        Window {
            allocated: ALLOCATED.load(Ordering::SeqCst),
            freed: FREED.load(Ordering::SeqCst),
        }
    }

    /// Bytes allocated minus bytes freed since the window opened (negative
    /// when older memory was freed meanwhile).
    #[must_use]
    pub fn net(&self) -> i64 {
        let allocated = ALLOCATED.load(Ordering::SeqCst) - self.allocated;
        let freed = FREED.load(Ordering::SeqCst) - self.freed;
        allocated as i64 - freed as i64
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        COUNTING.store(false, Ordering::SeqCst);
    }
}
