//! C14: nesting depth is bounded by memory, never by the stack. A chain of
//! 100,000 nested nurseries, built and ended on a tokio worker thread (whose
//! stack is tokio's default, 2 MiB), ends by shutdown, by drop and by closing
//! every level: each walk over the chain is a loop, and ending it is linear
//! (a quadratic drop would take minutes at this depth).

use std::time::Duration;

use futures_util::FutureExt;
use scope_core::Nursery;
use tokio::sync::oneshot;

/// Under Miri, which checks the walks' memory accesses rather than their
/// depth, a hundred levels.
const DEPTH: usize = if cfg!(miri) { 100 } else { 100_000 };

/// The root and `DEPTH` nested levels, each built from the one above, with
/// one child in the innermost that waits for `release` (or forever).
fn chain(release: Option<oneshot::Receiver<()>>) -> Vec<Nursery> {
    let mut levels: Vec<Nursery> = Vec::with_capacity(DEPTH + 1);
    levels.push(Nursery::new());
    for _ in 0..DEPTH {
        let next = levels.last().unwrap().child_builder().build().unwrap();
        levels.push(next);
    }
    let innermost = levels.last().unwrap();
    let child = async move {
        match release {
            Some(rx) => drop(rx.await),
            None => std::future::pending().await,
        }
    };
    innermost.spawn(child).unwrap();
    levels
}

/// Runs `f` as a task on a worker thread of a multi-thread runtime.
fn on_a_worker<F>(f: impl FnOnce() -> F + Send + 'static)
where
    F: Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { tokio::spawn(async move { f().await }).await.unwrap() });
}

#[test]
fn a_chain_100_000_deep_shuts_down() {
    on_a_worker(|| async {
        let levels = chain(None);
        let report = levels[0].shutdown(Duration::ZERO).await;
        assert!(report.is_final());
        // The first level ended as one child of the root, in the cancel.
        assert_eq!(report.stats().spawned, 1);
        assert_eq!(report.stats().live, 0);
        let innermost = levels.last().unwrap();
        assert!(innermost.is_closed());
        assert_eq!(innermost.stats().aborted, 1);
        for level in &levels {
            assert!(level.is_closed());
        }
    });
}

#[test]
fn a_chain_100_000_deep_is_dropped() {
    on_a_worker(|| async {
        let levels = chain(None);
        let root = levels[0].spawner();
        let innermost = levels.last().unwrap().spawner();
        // Root first: its drop cancels and aborts the whole chain; every
        // later drop finds its level already ended.
        drop(levels);
        let report = root.closed().await;
        assert!(report.is_final());
        assert_eq!(report.stats().spawned, 1);
        assert_eq!(report.stats().live, 0);
        let innermost = innermost.closed().await;
        assert!(innermost.is_final());
        assert_eq!(innermost.stats().aborted, 1);
    });
}

#[test]
fn a_chain_100_000_deep_is_closed_level_by_level() {
    on_a_worker(|| async {
        let (release, rx) = oneshot::channel();
        let levels = chain(Some(rx));
        // Begin every level's close, innermost first; none can finish while
        // the innermost child runs.
        for level in levels.iter().rev() {
            assert!(level.close().now_or_never().is_none());
        }
        release.send(()).unwrap();
        // The innermost drains, then each level above it in turn.
        let report = levels[0].close().await;
        assert!(report.is_final());
        assert_eq!(report.stats().completed, 1);
        assert_eq!(levels.last().unwrap().stats().completed, 1);
        for level in &levels {
            assert!(level.is_closed());
        }
    });
}

#[test]
fn the_innermost_token_of_a_chain_100_000_deep_is_made_and_fires_from_the_root() {
    on_a_worker(|| async {
        let levels = chain(None);
        // Tokens are made on demand, each level's from the one above: the
        // innermost's makes 100,000 of them, in a loop.
        let token = levels.last().unwrap().token().clone();
        assert!(!token.is_cancelled());
        levels[0].cancel();
        assert!(token.is_cancelled());
        assert!(levels.last().unwrap().is_cancelled());
        let report = levels[0].shutdown(Duration::ZERO).await;
        assert_eq!(report.stats().live, 0);
    });
}
