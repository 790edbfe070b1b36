//! C11 observability: counters, names, snapshots, the close-waiting log.

use std::time::Duration;

use scope_core::Nursery;

#[tokio::test(start_paused = true)]
async fn snapshot_lists_live_children_with_name_and_age() {
    let nursery: Nursery = Nursery::new();
    nursery
        .spawn_named("flush-wal", tokio::time::sleep(Duration::from_secs(10)))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    nursery
        .spawn_named("compact", tokio::time::sleep(Duration::from_secs(10)))
        .unwrap();
    nursery
        .spawn(tokio::time::sleep(Duration::from_secs(10)))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let snap = nursery.snapshot();
    assert_eq!(snap.live(), 3);
    assert_eq!(
        snap.unlisted(),
        1,
        "unnamed children are counted, not listed"
    );
    let listed: Vec<_> = snap
        .children()
        .iter()
        .map(|c| (c.name().unwrap().to_string(), c.age()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("flush-wal".to_string(), Duration::from_secs(3)),
            ("compact".to_string(), Duration::from_secs(1))
        ]
    );
    nursery.close().await;
    assert!(
        nursery.snapshot().children().is_empty(),
        "ended children leave the snapshot"
    );
}

#[tokio::test]
async fn track_children_lists_unnamed_children_too() {
    let nursery: Nursery = Nursery::builder().track_children(true).build().unwrap();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let snap = nursery.snapshot();
    assert_eq!(snap.children().len(), 1);
    assert_eq!(snap.children()[0].id(), 1);
    assert_eq!(snap.children()[0].name(), None);
    nursery.abort_all();
    nursery.close().await;
}

#[tokio::test]
async fn counters_add_up() {
    let nursery: Nursery<(), &'static str> = Nursery::builder()
        .policy(scope_core::Policy::Supervise)
        .build()
        .unwrap();
    nursery.spawn(async { Ok(()) }).unwrap();
    nursery.spawn(async { Err("x") }).unwrap();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    // Current-thread runtime: one yield lets all three run to their end or park.
    tokio::task::yield_now().await;
    nursery.abort_all();
    let report = nursery.close().await;
    let s = report.stats();
    assert!(nursery.spawn(async { Ok(()) }).is_err());
    let s2 = nursery.stats();
    assert_eq!(
        (s.spawned, s.completed, s.failed, s.aborted, s.live),
        (3, 1, 1, 1, 0)
    );
    assert_eq!(
        s.spawned,
        s.completed + s.failed + s.cancelled + s.aborted + s.live
    );
    assert_eq!(s2.refused, 1);
}

/// A minimal subscriber that records formatted warning messages.
#[cfg(feature = "tracing")]
mod capture {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::{Event, Metadata, Subscriber, span};

    #[derive(Clone, Default)]
    pub(crate) struct Capture(pub(crate) Arc<Mutex<Vec<String>>>);

    struct Msg(String);
    impl Visit for Msg {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, m: &Metadata<'_>) -> bool {
            *m.level() <= tracing::Level::WARN
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, e: &Event<'_>) {
            let mut m = Msg(String::new());
            e.record(&mut m);
            self.0.lock().unwrap().push(m.0);
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }
}

#[cfg(feature = "tracing")]
#[tokio::test(start_paused = true)]
async fn a_close_still_waiting_logs_the_children_it_waits_for() {
    let capture = capture::Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let nursery: Nursery = Nursery::builder()
        .name("db")
        .close_warn_after(Duration::from_secs(5))
        .build()
        .unwrap();
    nursery
        .spawn_named("checkpoint", tokio::time::sleep(Duration::from_secs(12)))
        .unwrap();
    nursery.close().await;
    let logs = capture.0.lock().unwrap().clone();
    assert_eq!(logs.len(), 2, "one warning per 5 s waited: {logs:?}");
    assert!(
        logs[0].contains("close is still waiting for: checkpoint"),
        "{logs:?}"
    );
}

#[cfg(feature = "tracing")]
#[tokio::test]
async fn dropping_with_live_children_warns_with_the_count() {
    let capture = capture::Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let nursery: Nursery = Nursery::new();
    for _ in 0..3 {
        nursery.spawn(std::future::pending::<()>()).unwrap();
    }
    drop(nursery);
    let logs = capture.0.lock().unwrap().clone();
    assert_eq!(logs.len(), 1);
    assert!(logs[0].contains("dropped without close"), "{logs:?}");
}
