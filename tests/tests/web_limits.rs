//! The run viewer against hostile clients (issue 24, finding 7): 1,100 half-sent requests used
//! up every file descriptor and the server was still stuck 35 s later, with no header-read
//! timeout; responses carried no security headers; `GET //evil.example/?token=...` redirected
//! off-site. Now: a header-read timeout and a connection cap, `Content-Security-Policy` (with
//! `frame-ancestors`), `X-Content-Type-Options: nosniff`, and redirects that stay on this server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use pipeline::store::Stores;
use pipeline::web::Viewer;
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789abcdef";

async fn get(router: &axum::Router, uri: &str) -> axum::response::Response {
    let request = Request::get(uri)
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    router.clone().oneshot(request).await.unwrap()
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let router = Viewer::new(Stores::open(dir.path()).unwrap())
        .with_token(TOKEN)
        .router();
    for (uri, status) in [
        ("/", StatusCode::OK),
        ("/api/runs", StatusCode::OK),
        ("/assets/app.js", StatusCode::OK),
        ("/runs/nope", StatusCode::NOT_FOUND),
    ] {
        let response = get(&router, uri).await;
        assert_eq!(response.status(), status, "{uri}");
        let headers = response.headers();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
    }
}

#[tokio::test]
async fn a_token_redirect_never_leaves_this_server() {
    let dir = tempfile::tempdir().unwrap();
    let router = Viewer::new(Stores::open(dir.path()).unwrap())
        .with_token(TOKEN)
        .router();
    for uri in [
        format!("//evil.example/?token={TOKEN}"),
        format!("///evil.example/x?token={TOKEN}&a=1"),
        format!("/\\evil.example/?token={TOKEN}"),
    ] {
        let response = get(&router, &uri).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{uri}");
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains('\\'),
            "{uri} redirects to {location}"
        );
    }
}

/// Sends the start of a request and never its end.
fn half_sent(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_and_cannot_hold_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let viewer = Viewer::new(Stores::open(dir.path()).unwrap())
        .header_timeout(Duration::from_millis(300))
        .max_connections(16);
    let server = tokio::spawn(viewer.serve(listener));

    let slow: Vec<TcpStream> = (0..40).map(|_| half_sent(addr)).collect();
    let answered = tokio::task::spawn_blocking(move || {
        // The server closes each half-sent request: a read ends (EOF or reset) instead of
        // waiting forever. A read timeout stands for "forever".
        for mut stream in slow {
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut buffer = [0u8; 256];
            let closed = loop {
                match stream.read(&mut buffer) {
                    Ok(0) => break true,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break false,
                    Err(_) => break true,
                }
            };
            assert!(closed, "a half-sent request was held open for 20 s");
        }
        // And a whole request is then answered.
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
            .write_all(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        (reply, started.elapsed())
    })
    .await
    .unwrap();
    let (reply, _) = answered;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    server.abort();
}
