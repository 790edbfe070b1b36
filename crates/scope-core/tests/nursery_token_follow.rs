//! The one rule for "cancelled", whichever way the token is reached: a token
//! handed out after nested nurseries were built, nested nurseries built
//! after it was handed out, children woken through child tokens of an
//! ancestor's token, and a tree handed out while it grows.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Waker};

use scope_core::{CancelReason, Nursery};

#[tokio::test]
async fn a_token_handed_out_after_the_tree_was_built_reaches_every_nursery_below_when_cancelled_directly()
 {
    let root: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let mut chain: Vec<Nursery> = vec![root.child_builder().max_running(1).build().unwrap()];
    for _ in 0..8 {
        let next = chain
            .last()
            .unwrap()
            .child_builder()
            .max_running(1)
            .build()
            .unwrap();
        chain.push(next);
    }
    let innermost = chain.last().unwrap();
    innermost.spawn(std::future::pending::<()>()).unwrap();
    innermost.spawn(async {}).unwrap(); // waits for the slot
    // Handed out only now, and cancelled directly by its holder.
    let token = root.token().clone();
    token.cancel();
    for nursery in &chain {
        assert!(nursery.is_cancelled());
        assert_eq!(nursery.cancel_reason(), Some(CancelReason::Parent));
        assert!(nursery.spawn(async {}).unwrap_err().is_cancelled());
    }
    assert_eq!(root.cancel_reason(), Some(CancelReason::Requested));
    innermost.abort_all();
    let innermost = chain.pop().unwrap().close().await;
    // The waiting child went with the cancel, before the abort could.
    assert_eq!(
        (innermost.stats().cancelled, innermost.stats().aborted),
        (1, 1)
    );
    while let Some(nested) = chain.pop() {
        nested.close().await;
    }
    assert_eq!(root.close().await.stats().cancelled, 1);
}

#[tokio::test]
async fn a_nested_nursery_built_under_a_handed_out_token_follows_it() {
    let parent: Nursery = Nursery::new();
    let token = parent.token().clone();
    let nested: Nursery = parent.child_builder().build().unwrap();
    let deeper: Nursery = nested.child_builder().build().unwrap();
    token.cancel();
    assert!(nested.is_cancelled() && deeper.is_cancelled());
    assert_eq!(deeper.cancel_reason(), Some(CancelReason::Parent));
    deeper.close().await;
    nested.close().await;
    parent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_woken_through_child_tokens_of_an_ancestors_token_count_as_cancelled() {
    // The nested nursery's own token is never handed out; its children wait
    // on child tokens of the parent's, which tokio-util wakes before any
    // watch on the tokens they descend from. Under Miri, two rounds.
    let rounds = if cfg!(miri) { 2 } else { 20 };
    for _ in 0..rounds {
        let parent: Nursery = Nursery::new();
        let nested: Nursery = parent.child_builder().build().unwrap();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(64);
        for _ in 0..50 {
            let token = parent.token().child_token();
            let ready = ready_tx.clone();
            nested
                .spawn(async move {
                    let mut cancelled = std::pin::pin!(token.cancelled());
                    // Registered as a waiter before telling the test.
                    let _ = cancelled
                        .as_mut()
                        .poll(&mut Context::from_waker(Waker::noop()));
                    ready.send(()).await.unwrap();
                    cancelled.await;
                })
                .unwrap();
        }
        for _ in 0..50 {
            ready_rx.recv().await.unwrap();
        }
        let token = parent.token().clone();
        std::thread::spawn(move || token.cancel()).join().unwrap();
        let report = nested.close().await;
        assert_eq!(report.stats().cancelled, 50);
        assert_eq!(report.stats().completed, 0);
        parent.close().await;
    }
}

#[test]
fn a_tree_handed_out_while_it_grows_leaves_no_nursery_behind() {
    // One thread builds nested nurseries while another hands the root's
    // token out and cancels it: every nursery built is either refused or
    // cancelled once the cancel returns. The cancel waits for the first
    // build, so it lands while the tree grows; the builder stops at
    // `MAX_BUILT` (under valgrind, which runs one thread at a time, it would
    // otherwise build hundreds of thousands before the cancel gets its turn).
    // Under Miri, where each round is one interleaving of its seed, 10.
    const MAX_BUILT: usize = 256;
    let rounds = if cfg!(miri) { 10 } else { 200 };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _rt = rt.enter();
    for _ in 0..rounds {
        let root = Arc::new(Nursery::<(), std::io::Error>::new());
        let (started, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (r, b, s) = (root.clone(), started.clone(), stop.clone());
        let builder = std::thread::spawn(move || {
            let mut built = Vec::new();
            while !s.load(Ordering::Acquire) && built.len() < MAX_BUILT {
                match r.child_builder::<()>().build() {
                    Ok(nested) => built.push(nested),
                    Err(e) => {
                        assert!(e.is_parent_closed());
                        break;
                    }
                }
                b.store(true, Ordering::Release);
            }
            built
        });
        while !started.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let token = root.token().clone();
        token.cancel();
        stop.store(true, Ordering::Release);
        let built = builder.join().unwrap();
        for nested in &built {
            assert!(nested.is_cancelled());
            assert!(nested.spawn(async { Ok(()) }).unwrap_err().is_cancelled());
        }
        drop(built);
    }
}
