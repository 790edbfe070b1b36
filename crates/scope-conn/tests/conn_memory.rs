//! Write memory is bounded in bytes per connection: 400 peers that never
//! read, each connection streaming 16 KiB messages, hold at most the write
//! queue's bound (plus the message being written and the one waiting for
//! room) on the heap, measured with a counting allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use scope_conn::{ConnBuilder, Server, Writer};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator with the same
// arguments; the counter is only arithmetic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's obligations are passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const CONNS: usize = 400;
const CHUNK: usize = 16 * 1024;
const BOUND: usize = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_non_reading_peers_stay_under_the_byte_bound_per_connection() {
    let listener = common::small_buffer_listener();
    let addr = listener.local_addr().unwrap();
    let writers: Arc<Mutex<Vec<Writer>>> = Arc::new(Mutex::new(Vec::new()));
    let before = LIVE.load(Ordering::Relaxed);
    let server: Server = {
        let writers = writers.clone();
        Server::builder()
            .conn(ConnBuilder::new().write_queue(BOUND))
            .serve(listener, move |conn, io| {
                let writers = writers.clone();
                async move {
                    let (_reader, writer) = io.split();
                    writers.lock().push(writer.clone());
                    conn.spawner()
                        .spawn(async move {
                            let chunk = bytes::Bytes::from(vec![b'x'; CHUNK]);
                            // A fresh buffer per message, as a real producer would.
                            while writer
                                .send(bytes::Bytes::copy_from_slice(&chunk))
                                .await
                                .is_ok()
                            {}
                        })
                        .unwrap();
                    conn.closing().await;
                }
            })
            .unwrap()
    };
    let mut clients = Vec::new();
    for _ in 0..CONNS {
        clients.push(common::small_buffer_client(addr, "127.0.0.1").await);
    }
    // Wait until every queue is full: the next message waits for room.
    loop {
        let full = {
            let writers = writers.lock();
            writers.len() == CONNS && writers.iter().all(|w| w.queued() + CHUNK > BOUND)
        };
        if full {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    let per_conn = held as usize / CONNS;
    println!("heap per non-reading connection: {per_conn} bytes (bound {BOUND})");
    // The queue's bound, the message the pump is writing, the one waiting
    // for room, and the connection's own state.
    assert!(
        per_conn <= BOUND + 2 * CHUNK + 16 * 1024,
        "{per_conn} bytes per connection"
    );
    let report = server.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.tasks().live, 0);
    drop(clients);
}
