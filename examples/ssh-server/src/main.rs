//! `cargo run -p scope-example-ssh -- ADDR HOST_KEY [GRACE_MS]`: serves until
//! Ctrl-C, then shuts down with a deadline and prints how every command
//! ended. Make a host key with `ssh-keygen -q -t ed25519 -N '' -f HOST_KEY`.

use std::time::Duration;

use scope_example_ssh::SshServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(key_path)) = (args.next(), args.next()) else {
        eprintln!("usage: scope-example-ssh ADDR HOST_KEY [GRACE_MS]");
        eprintln!("  make HOST_KEY with: ssh-keygen -q -t ed25519 -N '' -f HOST_KEY");
        std::process::exit(2);
    };
    let grace = Duration::from_millis(args.next().map_or(Ok(5_000), |ms| ms.parse())?);
    let host_key = russh::keys::load_secret_key(&key_path, None)?;
    let server = SshServer::bind(&addr, host_key).await?;
    let addr = server.local_addr();
    // Tests and scripts wait for this line: the listener is bound.
    println!("listening on {addr}");
    println!(
        "try: ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p {} demo@{} 'sleep 3000'",
        addr.port(),
        addr.ip()
    );
    tokio::signal::ctrl_c().await?;
    println!("shutting down: commands get {grace:?}, then are cancelled");
    let report = server.shutdown(grace).await;
    print!("{report}");
    Ok(())
}
