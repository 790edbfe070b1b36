//! C11 observability, tokio-console's side: built with
//! `RUSTFLAGS="--cfg tokio_unstable"`, a named child's tokio task carries
//! its name, the field tokio-console shows. tokio reports it as the
//! `task.name` field of its `runtime.spawn` span. Without the flag this file
//! is empty; CI runs it with the flag.
#![cfg(all(tokio_unstable, feature = "tracing"))]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use scope_core::Nursery;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records the `task.name` of every `runtime.spawn` span tokio opens.
#[derive(Clone, Default)]
struct TaskNames {
    names: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicU64>,
}

struct TaskName<'a>(&'a mut Option<String>);

impl Visit for TaskName<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "task.name" {
            *self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "task.name" {
            *self.0 = Some(value.to_owned());
        }
    }
}

impl Subscriber for TaskNames {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        if attrs.metadata().name() == "runtime.spawn" {
            let mut name = None;
            attrs.record(&mut TaskName(&mut name));
            if let Some(name) = name {
                self.names.lock().push(name);
            }
        }
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_named_childs_task_carries_its_name_for_tokio_console() {
    let capture = TaskNames::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
        nursery.spawn_named("flush-wal", async {}).unwrap();
        // Behind the limit: a child waiting for a slot is named too.
        nursery.spawn_named("compact", async {}).unwrap();
        nursery.spawn(async {}).unwrap();
        nursery.close().await;
    });
    let names = capture.names.lock().clone();
    for name in ["flush-wal", "compact"] {
        assert!(
            names.iter().any(|n| n == name),
            "no task named {name:?} among {names:?}"
        );
    }
}
