//! A short tour of the Nursery: spawn from the owner, a spawner, a child and a
//! plain thread; a failure under `Supervise`; a drain that waits for follow-up
//! work; then a shutdown with a deadline.
//!
//! Run with `cargo run -p scope-core --example nursery`.

use std::time::Duration;

use scope_core::{Nursery, Policy};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nursery: Nursery<(), String> = Nursery::builder()
        .name("tour")
        .policy(Policy::Supervise)
        .on_failure(|err| println!("  failure handled: {err}"))
        .max_running(4)
        .build()
        .expect("inside a runtime, limits above zero");

    println!("spawning 8 requests, each starting follow-up work ...");
    for i in 0..8u64 {
        let spawner = nursery.spawner();
        nursery
            .spawn_named(format!("request-{i}"), async move {
                tokio::time::sleep(Duration::from_millis(20 * i)).await;
                // Follow-up work, spawned while the owner may already be closing.
                spawner
                    .spawn(async move {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        if i == 5 {
                            Err(format!("request {i}: upstream refused"))
                        } else {
                            Ok(())
                        }
                    })
                    .map_err(|e| e.to_string())?;
                Ok(())
            })
            .expect("the nursery is open");
    }
    let spawner = nursery.spawner();
    std::thread::spawn(move || {
        spawner
            .spawn(async { Ok(()) })
            .expect("spawn from a plain thread")
    })
    .join()
    .expect("thread");

    println!(
        "live now: {:?}",
        nursery
            .snapshot()
            .children()
            .iter()
            .map(|c| c.name().unwrap_or("?").to_string())
            .collect::<Vec<_>>()
    );
    let report = nursery.close().await;
    println!(
        "close drained everything: {:?} -> {:?}",
        report.outcome(),
        report.stats()
    );

    let slow: Nursery = Nursery::new();
    let token = slow.token().clone();
    slow.spawn(async move { token.cancelled().await })
        .expect("open");
    slow.spawn(std::future::pending::<()>()).expect("open");
    let report = slow.shutdown(Duration::from_millis(50)).await;
    println!(
        "shutdown with a deadline: {} drained, {} ended after cancel, {} aborted",
        report.ended_in_drain(),
        report.ended_after_cancel(),
        report.stats().aborted
    );
}
