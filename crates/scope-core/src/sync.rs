//! The atomics the lifecycle word (and the parts made on first use beside
//! it) uses, swapped for loom's under
//! `--cfg scope_loom` so the models in `nursery/state/loom.rs` can explore
//! every interleaving. (Not `cfg(loom)`: that flag would also switch tokio to
//! its own loom shims, which it only builds in its own test suite.)

#[cfg(scope_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64};
#[cfg(not(scope_loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64};
