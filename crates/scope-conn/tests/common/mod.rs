//! Helpers shared by the connection tests.

#![allow(dead_code, unreachable_pub)]

use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A connected pair over real loopback TCP: (server side, client side).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap());
    let (client, accepted) = tokio::join!(client, listener.accept());
    (accepted.unwrap().0, client.unwrap())
}

/// A listener whose accepted sockets have a small send buffer, so a peer
/// that stops reading blocks the server's writes after a few KiB instead
/// of several MiB.
pub fn small_buffer_listener() -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(1024).unwrap()
}

/// A client with a small receive buffer, from `source` (an address on the
/// loopback network: 127.0.0.x).
pub async fn small_buffer_client(to: std::net::SocketAddr, source: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits, yielding, until `cond` holds.
pub async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::task::yield_now().await;
    }
}
