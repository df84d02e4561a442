//! One shutdown path, whatever starts it: exit 0 and no pidfile (case 12).

mod common;

use common::ServerProcess;

async fn stops_cleanly(mut server: ServerProcess) {
    let status = server.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{status}: {}", server.stderr());
    assert!(!server.pidfile_exists(), "the pidfile is removed");
}

#[tokio::test]
async fn stdin_eof_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    let client = server.connect().await;
    assert_eq!(client.tool_names().await, ["echo"]);
    client.close().await;
    stops_cleanly(server).await;
}

#[tokio::test]
async fn stdin_eof_before_initialize_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    server.raw().close_stdin();
    stops_cleanly(server).await;
}

#[tokio::test]
async fn sigterm_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    let client = server.connect().await;
    assert_eq!(client.tool_names().await, ["echo"]);
    server.signal(libc::SIGTERM);
    stops_cleanly(server).await;
}

#[tokio::test]
async fn sigint_stops_the_server() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let _client = server.connect().await;
    server.signal(libc::SIGINT);
    stops_cleanly(server).await;
}

#[tokio::test]
async fn sigterm_before_initialize_stops_the_server() {
    let server = ServerProcess::start(&[]).await;
    server.signal(libc::SIGTERM);
    stops_cleanly(server).await;
}
