//! The node's TCP connections: every answer leaves at once, compressed or not.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::BorrowedFd;

use socket2::SockRef;

use crate::harness::spawn_node;

/// The socket of this process (the node runs in it) whose local and peer addresses are the given
/// ones, and whether it has `TCP_NODELAY` set.
fn nodelay_of_socket(local: SocketAddr, peer: SocketAddr) -> Option<bool> {
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is open (listed just now) and the server keeps the accepted
        // connection open while the test's client holds its end; it is only queried here.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&fd);
        let addresses = (
            socket.local_addr().ok().and_then(|a| a.as_socket()),
            socket.peer_addr().ok().and_then(|a| a.as_socket()),
        );
        if addresses == (Some(local), Some(peer)) {
            return socket.tcp_nodelay().ok();
        }
    }
    None
}

/// Reads one HTTP/1.1 answer with a chunked or sized body from `stream`, whole; returns its
/// head in lower case and its body.
fn read_answer(stream: &mut TcpStream) -> (String, String) {
    let mut answer = Vec::new();
    let mut buffer = [0; 16 * 1024];
    loop {
        let read = stream.read(&mut buffer).expect("read the answer");
        assert!(read > 0, "the node closed the connection mid-answer");
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let head = head.to_ascii_lowercase();
            let sized = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|length| length.trim().parse::<usize>().ok());
            let complete = match sized {
                Some(length) => body.len() >= length,
                None => answer.ends_with(b"0\r\n\r\n"),
            };
            if complete {
                return (head, body.to_owned());
            }
        }
    }
}

/// Nagle's algorithm on an accepted connection holds the last piece of a compressed (chunked)
/// answer until the client acknowledges the first, which clients delay by ~40 ms.
#[tokio::test]
async fn accepted_connections_disable_nagle_for_compressed_answers() {
    let node = spawn_node().await;
    let node_address: SocketAddr = format!("127.0.0.1:{}", node.port()).parse().unwrap();
    let (head, local, nodelay) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(node_address).expect("connect");
        let request = format!(
            "GET /api/v1/openapi.json HTTP/1.1\r\nHost: localhost:{}\r\n\
             Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
            node_address.port()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let (head, _) = read_answer(&mut stream);
        let local = stream.local_addr().expect("local address");
        (head, local, nodelay_of_socket(node_address, local))
    })
    .await
    .unwrap();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert_eq!(
        nodelay,
        Some(true),
        "the node's end of the connection from {local} should have TCP_NODELAY"
    );
}

/// A client that declares a body and stops sending it is answered 408 with the JSON error
/// shape once `http.body_timeout_secs` passes without a byte, instead of holding the request.
#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408_in_json() {
    let node = spawn_node().await;
    node.convergence("c", "public").await;
    let node_address: SocketAddr = format!("127.0.0.1:{}", node.port()).parse().unwrap();
    let token = node.admin_token.clone();
    let (head, body) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(node_address).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("read timeout");
        let request = format!(
            "POST /api/v1/convergences/c/artifacts HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"kind\": "
        );
        stream.write_all(request.as_bytes()).expect("send");
        read_answer(&mut stream)
    })
    .await
    .unwrap();
    assert!(head.starts_with("http/1.1 408"), "{head}");
    let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(error["error"]["code"], "body_timeout", "{body}");
    assert_eq!(node.count("artifacts").await, 0);
}
