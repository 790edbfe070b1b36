//! [`Stats`]: the nursery's counters, read cheaply.

/// A reading of a nursery's counters ([`Nursery::stats`](crate::Nursery::stats)).
///
/// Each counter is read with one relaxed load; a reading taken while children
/// run is an estimate (a child ending during the read may show in two places,
/// so `spawned`, which is derived as `live` plus the ended counts, can be off
/// by the children ending at that moment), and a reading taken after `close`
/// returned is exact.
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
    /// Children (and nested nurseries) that returned (`()` or `Ok`) before
    /// the nursery was cancelled.
    pub completed: u64,
    /// Children that returned `Err` or panicked, whenever it happened.
    pub failed: u64,
    /// Children that returned after the nursery was cancelled, and queued
    /// children dropped unstarted by the cancellation. "Cancelled" means
    /// through the nursery ([`Nursery::cancel`](crate::Nursery::cancel),
    /// fail-fast, shutdown, drop, a parent's cancel); a child that returns
    /// after someone called `cancel` on the bare token counts as completed.
    pub cancelled: u64,
    /// Children ended by abort (`abort_all`, `shutdown`'s last phase, drop),
    /// queued children dropped unstarted by an abort included.
    pub aborted: u64,
    /// Spawns refused (each handed its future back), and nested nurseries
    /// whose [`build`](crate::Builder::build) this nursery refused.
    pub refused: u64,
}
