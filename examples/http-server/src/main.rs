//! `cargo run -p scope-example-http -- [ADDR] [GRACE_MS]`: serves until
//! Ctrl-C, then shuts down gracefully and prints how every job ended.

use std::time::Duration;

use scope_example_http::HttpServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let grace = Duration::from_millis(args.next().map_or(Ok(5_000), |ms| ms.parse())?);
    let server = HttpServer::bind(&addr).await?;
    let url = format!("http://{}", server.local_addr());
    // Tests and scripts wait for this line: the listener is bound.
    println!("listening on {url}");
    println!("try: curl -i '{url}/work?ms=3000'   then Ctrl-C: the shutdown waits for it");
    tokio::signal::ctrl_c().await?;
    println!("shutting down: up to {grace:?} per phase");
    let report = server.shutdown(grace).await;
    print!("{report}");
    Ok(())
}
