//! The listing of live children that have a name (or, with
//! `track_children`, of all started children): what `snapshot` and the
//! "close is still waiting for" warning show.
//!
//! # Invariants
//!
//! 1. `listed` counts the entries in `map`, and is raised before an entry
//!    can be looked for: a spawn raises it before handing the child to tokio
//!    (under the map's lock, so the child cannot end and look before its
//!    entry is there). An ending child looks in the map only when `listed` is
//!    non-zero, so an unlisted nursery's children never take the lock.
//! 2. The map is made on first use: unnamed, untracked children never need
//!    it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::snapshot::ChildInfo;

/// A listed child: a task, by its tokio id, or a nested nursery, by its
/// listed number.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Task(tokio::task::Id),
    Nested(u64),
}

/// Hashes a [`Key`]: tokio's task ids and the registry's own numbers, which
/// no peer chooses, so a multiplicative hash (rustc's `FxHasher`'s step)
/// serves where the default SipHash cost each listed child's start and end
/// about a hundred instructions apiece.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
}

type Map = HashMap<Key, Listed, BuildHasherDefault<KeyHasher>>;

struct Listed {
    seq: u64,
    name: Option<Arc<str>>,
    since: Instant,
}

impl Listed {
    fn new(seq: u64, name: Option<Arc<str>>) -> Self {
        Listed {
            seq,
            name,
            since: Instant::now(),
        }
    }
}

pub(crate) struct Registry {
    // Boxed: a pointer in every nursery instead of an empty map's 48 bytes.
    #[allow(clippy::box_collection)]
    map: Mutex<Option<Box<Map>>>,
    /// Entries in `map` (invariant 1).
    listed: AtomicUsize,
    /// The last listed number handed out.
    seq: AtomicU64,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            map: Mutex::new(None),
            listed: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
        }
    }

    /// Is anything listed? For an ending child, before it looks.
    pub(crate) fn is_empty(&self) -> bool {
        // `Acquire` pairs with the `AcqRel` raise in `list_task`: a child
        // that ends after its listing sees the count raised.
        self.listed.load(Ordering::Acquire) == 0
    }

    fn next_seq(&self) -> u64 {
        // Relaxed: the numbers only need to be distinct and increasing.
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Runs `start` (which hands a task to tokio) with the map locked, and
    /// lists the task under `name` if it started.
    pub(crate) fn list_task<R>(
        &self,
        name: Option<Arc<str>>,
        start: impl FnOnce() -> Result<AbortHandle, R>,
    ) -> Result<AbortHandle, R> {
        let mut map = self.map.lock();
        // Counted before the spawn: a child that ends at once must look.
        self.listed.fetch_add(1, Ordering::AcqRel);
        match start() {
            Ok(handle) => {
                let seq = self.next_seq();
                map.get_or_insert_default()
                    .insert(Key::Task(handle.id()), Listed::new(seq, name));
                Ok(handle)
            }
            Err(r) => {
                self.listed.fetch_sub(1, Ordering::AcqRel);
                Err(r)
            }
        }
    }

    /// Lists `key` under `name`, from the task it names (so that task cannot
    /// end before it is listed); returns its number.
    pub(crate) fn list(&self, key: Key, name: Option<Arc<str>>) -> u64 {
        let seq = self.next_seq();
        self.listed.fetch_add(1, Ordering::AcqRel);
        self.map
            .lock()
            .get_or_insert_default()
            .insert(key, Listed::new(seq, name));
        seq
    }

    /// Lists a nested nursery; returns its number.
    pub(crate) fn list_nested(&self, name: Option<&Arc<str>>) -> u64 {
        let seq = self.next_seq();
        self.listed.fetch_add(1, Ordering::AcqRel);
        self.map
            .lock()
            .get_or_insert_default()
            .insert(Key::Nested(seq), Listed::new(seq, name.cloned()));
        seq
    }

    /// Removes a listing; returns the name it had.
    pub(crate) fn unlist(&self, key: Key) -> Option<Arc<str>> {
        let removed = self.map.lock().as_mut()?.remove(&key)?;
        self.listed.fetch_sub(1, Ordering::AcqRel);
        removed.name
    }

    /// The listed children, oldest first, with their ages at `now`.
    pub(crate) fn children(&self, now: Instant) -> Vec<ChildInfo> {
        let mut children: Vec<ChildInfo> = self
            .map
            .lock()
            .iter()
            .flat_map(|m| m.values())
            .map(|l| ChildInfo {
                id: l.seq,
                name: l.name.clone(),
                age: now - l.since,
            })
            .collect();
        children.sort_by_key(ChildInfo::id);
        children
    }
}
