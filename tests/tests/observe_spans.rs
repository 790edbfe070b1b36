//! What an operator sees under the usual `info` filter: every connection
//! runs in a `conn` span carrying its id and its peer, and an `info` event
//! inside one of its tasks carries the task's nursery (the `child` span) and
//! the connection, without anything else in the code naming them.
//!
//! The subscriber here stands in for `tracing-subscriber` with an `info`
//! filter: it enables spans and events at `info` and above, records the
//! fields of each span, and for each event the spans it was in.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use scope_conn::{ConnBuilder, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// A span as recorded: its name and fields, and its parent.
#[derive(Debug, Clone)]
struct SpanSeen {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
}

/// An event as recorded: its fields and the spans it was in, innermost
/// first.
#[derive(Debug, Clone)]
struct EventSeen {
    fields: HashMap<String, String>,
    spans: Vec<SpanSeen>,
}

#[derive(Default)]
struct Seen {
    spans: HashMap<u64, SpanSeen>,
    events: Vec<EventSeen>,
}

/// The `info` filter's subscriber. The current span is a per-thread stack:
/// the test runs on a current-thread runtime.
#[derive(Clone, Default)]
struct Capture {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

thread_local! {
    static STACK: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::INFO
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = if attrs.is_contextual() {
            STACK.with(|s| s.borrow().last().copied())
        } else {
            attrs.parent().map(Id::into_u64)
        };
        self.seen.lock().spans.insert(
            id,
            SpanSeen {
                name: attrs.metadata().name(),
                fields,
                parent,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(seen) = self.seen.lock().spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let mut seen = self.seen.lock();
        let mut spans = Vec::new();
        let mut at = STACK.with(|s| s.borrow().last().copied());
        while let Some(id) = at {
            let span = seen.spans[&id].clone();
            at = span.parent;
            spans.push(span);
        }
        seen.events.push(EventSeen { fields, spans });
    }

    fn enter(&self, span: &Id) {
        STACK.with(|s| s.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, _span: &Id) {
        STACK.with(|s| {
            s.borrow_mut().pop();
        });
    }
}

/// Runs `body` on a current-thread runtime of its own with a fresh
/// [`Capture`] as this thread's subscriber (until the runtime is gone);
/// returns the capture and what `body` returned.
fn captured<F: Future>(body: F) -> (Capture, F::Output) {
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = runtime.block_on(body);
    drop(runtime);
    (capture, out)
}

#[test]
fn an_info_event_in_a_connections_task_carries_its_nursery_and_its_connection() {
    let (capture, (client_addr, conn_id)) = captured(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ids = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let server = {
            let ids = ids.clone();
            Server::builder()
                .conn(ConnBuilder::new().nursery(|b| b.name("orders")))
                .serve(listener, move |conn, _io| {
                    ids.lock().push(conn.id());
                    let done_tx = done_tx.clone();
                    async move {
                        conn.spawner()
                            .spawn(async move {
                                tracing::info!(job = "invoice", "job done");
                                done_tx.send(()).unwrap();
                            })
                            .unwrap();
                    }
                })
                .unwrap()
        };
        let mut client = TcpStream::connect(addr).await.unwrap();
        done.recv().await.unwrap();
        client.shutdown().await.unwrap();
        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_eq!(report.tasks().completed, 1);
        let id = ids.lock()[0];
        (client.local_addr().unwrap(), id)
    });

    let seen = capture.seen.lock();
    let event = seen
        .events
        .iter()
        .find(|e| e.fields.get("job").map(String::as_str) == Some("invoice"))
        .expect("the task's event reached the subscriber");
    let child = event
        .spans
        .iter()
        .find(|s| s.name == "child")
        .unwrap_or_else(|| panic!("no child span around the event: {event:?}"));
    assert_eq!(child.fields["nursery"], "orders");
    let conn = event
        .spans
        .iter()
        .find(|s| s.name == "conn")
        .unwrap_or_else(|| panic!("no conn span around the event: {event:?}"));
    assert_eq!(conn.fields["id"], conn_id.to_string());
    assert_eq!(conn.fields["peer"], client_addr.to_string());
}

#[test]
fn the_warning_for_a_nursery_dropped_with_live_children_names_a_few_of_them() {
    let (capture, ()) = captured(async {
        let nursery: scope_core::Nursery = scope_core::Nursery::builder()
            .name("uploads")
            .build()
            .unwrap();
        for name in ["mailer", "resizer", "indexer", "thumbnailer"] {
            nursery
                .spawn_named(name, std::future::pending::<()>())
                .unwrap();
        }
        nursery.spawn(std::future::pending::<()>()).unwrap();
        drop(nursery);
    });

    let seen = capture.seen.lock();
    let warning = seen
        .events
        .iter()
        .find(|e| e.fields.contains_key("children"))
        .expect("dropping a nursery with live children warns");
    assert_eq!(warning.fields["nursery"], "uploads");
    assert_eq!(warning.fields["live"], "5");
    // Three names in spawn order, the other two by count.
    assert_eq!(
        warning.fields["children"],
        "mailer, resizer, indexer and 2 more"
    );
}
