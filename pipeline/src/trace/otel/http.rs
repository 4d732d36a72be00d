//! The exporter's HTTP client: one `POST` per batch over a plain TCP connection (HTTP/1.1,
//! `Connection: close`), made on the batch span processor's own thread, so it blocks nobody's
//! runtime. `https` endpoints need a TLS client: [`super::Otel::http_client`] takes one.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// The most of a response that is read: an OTLP response is a few bytes of protobuf.
const MOST: u64 = 4 << 20;

#[derive(Debug)]
pub(super) struct Plain {
    pub timeout: Duration,
}

#[async_trait]
impl HttpClient for Plain {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = request.uri();
        if uri.scheme_str() != Some("http") {
            return Err(format!("`{uri}`: this client speaks plain http only").into());
        }
        let host = uri.host().ok_or_else(|| format!("`{uri}` names no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let mut stream = connect(host, port, self.timeout)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
            request.method(),
            request.body().len()
        );
        for (name, value) in request.headers() {
            let value = value
                .to_str()
                .map_err(|_| format!("header `{name}` is not text"))?;
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(request.body())?;
        let mut raw = Vec::new();
        stream.take(MOST).read_to_end(&mut raw)?;
        parse(&raw)
    }
}

fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => format!("cannot connect to {host}:{port}: {e}").into(),
        None => format!("{host} has no address").into(),
    })
}

/// A whole response (read to the connection's end): its status and body.
fn parse(raw: &[u8]) -> Result<Response<Bytes>, HttpError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the response has no complete head")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the response head is not text")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or("the response has no status line")?;
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = &raw[end + 4..];
    let body = match chunked {
        true => dechunk(body)?,
        false => body.to_vec(),
    };
    Ok(Response::builder().status(status).body(Bytes::from(body))?)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    loop {
        let line = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk's size line is cut short")?;
        let size = std::str::from_utf8(&body[..line])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .ok_or("a chunk's size is not hex")?;
        body = &body[line + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("a chunk is cut short")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("a chunk is cut short")?;
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_response_is_read_plain_or_chunked_and_a_broken_one_is_an_error() {
        let plain = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab").unwrap();
        assert_eq!(
            (plain.status().as_u16(), &plain.body()[..]),
            (200, &b"ab"[..])
        );
        let chunked = b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n";
        let chunked = parse(chunked).unwrap();
        assert_eq!(
            (chunked.status().as_u16(), &chunked.body()[..]),
            (400, &b"abcd"[..])
        );
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse(b"nonsense\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }
}
