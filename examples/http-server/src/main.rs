//! `cargo run -p scope-example-http -- [ADDR] [GRACE_MS]`: serves HTTP/1.1
//! and HTTP/2 (h2c) until SIGINT or SIGTERM, then shuts down within the grace
//! and prints how every task ended; a second signal aborts what is left.

use std::time::{Duration, Instant};

use scope_conn::Signals;
use scope_example_http::HttpServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let grace = Duration::from_millis(args.next().map_or(Ok(5_000), |ms| ms.parse())?);
    let mut signals = Signals::new()?;
    let server = HttpServer::bind(&addr).await?;
    let url = format!("http://{}", server.local_addr());
    // Tests and scripts wait for this line: the listener is bound.
    println!("listening on {url}");
    println!("try: curl -i '{url}/work?ms=3000'   (or --http2-prior-knowledge)");
    println!(
        "Ctrl-C or SIGTERM: graceful shutdown, {grace:?} in all; a second signal aborts at once"
    );
    let first = signals.recv().await;
    let began = Instant::now();
    println!("{first}: shutting down within {grace:?}");
    let report = tokio::select! {
        report = server.shutdown(grace) => report,
        second = signals.recv() => {
            println!("{second}: aborting what is left");
            server.shutdown(Duration::ZERO).await
        }
    };
    print!("{report}");
    println!("shutdown took {:.2?}", began.elapsed());
    Ok(())
}
