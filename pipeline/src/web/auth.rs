//! Who may do what: every request that changes something (resume, cancel, signal) must carry the
//! server's token and come from the viewer's own pages (a browser's `Origin` must be this
//! server); when the server listens beyond this machine, reading needs the token too.
//!
//! Listening on loopback, the server answers only requests for a loopback host name
//! (`127.0.0.1`, `localhost`, `[::1]`): a page of another site whose name an attacker points at
//! 127.0.0.1 (DNS rebinding) reaches the port, but not the runs.
//!
//! A browser gets the token once, from the URL `serve` prints (`/?token=...`): the server puts
//! it in an `HttpOnly`, `SameSite=Strict` cookie and redirects to the same page without it.
//! Other clients send `Authorization: Bearer <token>`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::ApiError;
use super::state::AppState;

const COOKIE: &str = "pipeline_token";

/// Equal, compared in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The token the request carries: a bearer token, or the viewer's cookie.
fn carried(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = || {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    };
    bearer.or_else(cookie)
}

/// Whether a browser's request comes from a page of this server: its `Origin`, when it sends
/// one, names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Browsers send Origin with every POST; a request without one is not from a page.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

/// Whether the request names a loopback host (or none, as a request made in process).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}

/// The `token` query parameter of `uri`, if any, and the URI's path and query without it.
fn token_in_query(request: &Request) -> Option<(String, String)> {
    let query = request.uri().query()?;
    let mut token = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("token=") {
            Some(value) => {
                token = Some(value.to_owned());
                false
            }
            None => true,
        })
        .collect();
    // One leading `/`, never more (or a `\`): `//evil.example/` is another site to a browser.
    let path = format!("/{}", request.uri().path().trim_start_matches(['/', '\\']));
    let location = match rest.is_empty() {
        true => path,
        false => format!("{path}?{}", rest.join("&")),
    };
    Some((token?, location))
}

pub(super) async fn guard(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if !state.private && !loopback_host(request.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this viewer listens on loopback and answers only to 127.0.0.1, localhost or [::1] \
             (another host name can be a DNS rebinding attack); serve with --listen to be reached \
             by another name",
        )
        .into_response();
    }
    if request.method() == Method::GET
        && let Some((token, location)) = token_in_query(&request)
    {
        if !same(&token, &state.token) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the token in the URL is not this server's",
            )
            .into_response();
        }
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
        return (
            StatusCode::SEE_OTHER,
            [(header::SET_COOKIE, cookie), (header::LOCATION, location)],
        )
            .into_response();
    }
    let headers = request.headers();
    let has_token = carried(headers).is_some_and(|t| same(t, &state.token));
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    let asset = request.uri().path().starts_with("/assets/");
    if reads {
        if !has_token && state.private && !asset {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this viewer needs its token: open the URL `serve` printed (it ends in ?token=...)",
            )
            .into_response();
        }
    } else if !has_token {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "actions need the viewer's token: open the URL `serve` printed (it ends in \
             ?token=...), or send `Authorization: Bearer <token>`",
        )
        .into_response();
    } else if !same_origin(headers) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "actions are refused from other origins",
        )
        .into_response();
    }
    next.run(request).await
}
