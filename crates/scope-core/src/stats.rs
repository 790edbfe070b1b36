//! [`Stats`]: the nursery's counters, read cheaply.

/// A reading of a nursery's counters ([`Spawner::stats`](crate::Spawner::stats), on a nursery or any of its spawners).
///
/// Each counter is read with one relaxed load; a reading taken while children
/// run is an estimate (a child ending during the read may show in two places,
/// so `spawned`, which is derived as `live` plus the ended counts, can be off
/// by the children ending at that moment), and a reading taken after `close`
/// returned is exact.
///
/// A nested nursery counts once in its parent, when it has drained: as
/// failed if a child of it failed (its first failure is one of the
/// parent's), else as cancelled if its own token had fired (the parent's
/// cancel reaches it, but so do its own `cancel`, its shutdown's deadline
/// and its owner's drop), else as completed. The parent's `cancelled` can
/// so count a nested nursery while the parent itself was never cancelled.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::Nursery;
///
/// let nursery: Nursery = Nursery::new();
/// nursery.spawn(async {}).unwrap();
/// let report = nursery.close().await;
/// assert_eq!(report.stats().spawned, 1);
/// assert_eq!(report.stats().completed, 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Children accepted and not yet ended (queued ones included).
    pub live: u64,
    /// Children accepted, ever: the sum of the ended counts and `live`.
    pub spawned: u64,
    /// Children that returned (`()` or `Ok`) before the nursery's token was
    /// cancelled, and nested nurseries that drained without a failure or a
    /// cancel of their own token.
    pub completed: u64,
    /// Children that returned `Err` or panicked, whenever it happened.
    pub failed: u64,
    /// Children that returned after the nursery's token was cancelled
    /// (whoever cancelled it), queued children dropped unstarted by the
    /// cancellation, and nested nurseries whose own token was cancelled.
    pub cancelled: u64,
    /// Children ended by abort (`abort_all`, a child's own `AbortHandle`,
    /// `shutdown`'s last phase, the owner's drop, or the runtime shutting
    /// down), queued children dropped unstarted by an abort included.
    pub aborted: u64,
    /// Spawns refused (each handed its future back), and nested nurseries
    /// whose [`build`](crate::Builder::build) this nursery refused.
    pub refused: u64,
}

/// Adds two nurseries' counts field by field: the totals of a server's
/// connections, say. The sums add up as each side's do (`spawned` is the sum
/// of the ended counts and `live`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::{Nursery, Stats};
///
/// let mut total = Stats::default();
/// for n in 1..=3 {
///     let nursery: Nursery = Nursery::new();
///     for _ in 0..n {
///         nursery.spawn(async {}).unwrap();
///     }
///     total += nursery.close().await.stats();
/// }
/// assert_eq!(total.completed, 6);
/// assert_eq!(total.spawned, total.completed);
/// # }
/// ```
impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.live += other.live;
        self.spawned += other.spawned;
        self.completed += other.completed;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.aborted += other.aborted;
        self.refused += other.refused;
    }
}

/// See the `AddAssign` impl.
impl std::ops::Add for Stats {
    type Output = Stats;

    fn add(mut self, other: Stats) -> Stats {
        self += other;
        self
    }
}
