//! The gate every request to either listener passes before anything else,
//! its body above all: `Gate::check`, the one function that `/mcp` and the
//! control endpoint both call.
//!
//! It checks two things. First the head itself ([`check_head`]): one
//! unambiguous `Host` naming the target (RFC 9112 §3.2). rmcp reads `Host`
//! with `HeaderMap::get`, which takes the first of several, and parses it as
//! a URI authority, which admits userinfo; hyper hands on an absolute-form
//! target (`POST http://other/mcp`) untouched, and RFC 9112 §3.2.2 says such
//! a target, not `Host`, names the resource. Each is a way to show a
//! `Host` check one host and mean another, so each is refused with 400.
//! Then the DNS-rebinding check: `Host` must be one of the allowed hosts and
//! a present `Origin` one of the allowed origins ([`allowed_hosts`],
//! [`allowed_origins`]), refused with 403. That check is rmcp's, which rmcp
//! keeps private and runs first in `StreamableHttpService::handle`, before
//! looking at the method: the gate holds an rmcp service that serves nothing
//! and asks it about the head with a method rmcp serves nowhere, so a 405 is
//! a pass and any other answer is the check's refusal.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::HOST;
use http::uri::Authority;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

/// Who may talk to one listener, and the check of each request against it.
pub(crate) struct Gate {
    /// rmcp's DNS-rebinding check, configured as the MCP service is.
    rebinding: StreamableHttpService<Unserved, NeverSessionManager>,
}

/// The handler of the gate's rmcp service, which never gets a request past
/// the check: rmcp asks for a handler only for a method it serves.
struct Unserved;

impl ServerHandler for Unserved {}

/// A request the gate refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// 400 for a head that names no single host, 403 for one not allowed.
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Gate {
    /// The gate of a listener bound to `bound`, with the user's `--allow-host`
    /// and `--allow-origin` values.
    pub(crate) fn new(bound: SocketAddr, hosts: &[String], origins: &[String]) -> Self {
        let config = rebinding_config(bound, hosts, origins);
        let rebinding = StreamableHttpService::new(
            || Ok(Unserved),
            std::sync::Arc::new(NeverSessionManager::default()),
            config,
        );
        Self { rebinding }
    }

    /// Let a request with this target and these headers in, or say why not.
    pub(crate) async fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        check_head(uri, headers).map_err(|error| Refusal {
            status: StatusCode::BAD_REQUEST,
            message: error.to_string(),
        })?;
        let mut probe = Request::new(Full::new(Bytes::new()));
        *probe.method_mut() = Method::OPTIONS;
        *probe.uri_mut() = uri.clone();
        *probe.headers_mut() = headers.clone();
        let response = self.rebinding.handle(probe).await;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        let status = response.status();
        // rmcp's refusal is a short text held in memory: nothing to wait for.
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        Err(Refusal {
            status,
            message: String::from_utf8_lossy(&body.unwrap_or_default()).into_owned(),
        })
    }
}

/// rmcp's DNS-rebinding configuration for a listener bound to `bound`: what
/// the gate checks, and what the MCP service checks again.
pub(crate) fn rebinding_config(
    bound: SocketAddr,
    hosts: &[String],
    origins: &[String],
) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(bound, hosts))
        .with_allowed_origins(allowed_origins(bound, origins))
        .enforce_origin_validation()
}

/// The `Host` values a request may carry: the loopback names with the bound
/// port, the bound address itself, and whatever the user added.
pub fn allowed_hosts(bound: SocketAddr, extra: &[String]) -> Vec<String> {
    let port = bound.port();
    let mut hosts = vec![
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ];
    if !bound.ip().is_loopback() && !bound.ip().is_unspecified() {
        hosts.push(bound.to_string());
    }
    hosts.extend(extra.iter().cloned());
    hosts
}

/// The `Origin` values a request may carry: the HTTP origins of the allowed
/// loopback hosts and bound address, and whatever the user added.
pub fn allowed_origins(bound: SocketAddr, extra: &[String]) -> Vec<String> {
    allowed_hosts(bound, &[])
        .into_iter()
        .map(|host| format!("http://{host}"))
        .chain(extra.iter().map(|origin| with_default_port(origin)))
        .collect()
}

/// `origin` with the default port of its scheme made explicit when it names
/// none: `http://app.example` is the origin `http://app.example:80` (RFC 6454
/// §4), while rmcp would read an entry without a port as any port. Entries
/// with a port, `:*` (any port), `null` and other schemes stay as given.
pub(crate) fn with_default_port(origin: &str) -> String {
    let default_port = match origin.parse::<http::Uri>() {
        Ok(uri) if uri.port().is_none() && uri.path_and_query().is_none_or(|p| p == "/") => {
            match uri.scheme_str() {
                Some("http") => Some(80),
                Some("https") => Some(443),
                _ => None,
            }
        }
        _ => None,
    };
    match default_port {
        Some(port) => format!("{}:{port}", origin.trim_end_matches('/')),
        None => origin.to_owned(),
    }
}

/// Why a request head is refused with 400 Bad Request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("Bad Request: more than one Host header (RFC 9112 section 3.2)")]
    ManyHosts,
    #[error("Bad Request: a Host header is required (RFC 9112 section 3.2)")]
    NoHost,
    #[error("Bad Request: Host must be host[:port] (RFC 9110 section 7.2)")]
    BadHost,
    #[error("Bad Request: the request target names another host than Host")]
    TargetElsewhere,
}

/// Check that `headers` carry exactly one well-formed `Host`, without
/// userinfo, and that an absolute-form `uri` names that same authority.
pub fn check_head(uri: &Uri, headers: &HeaderMap) -> Result<(), HeadError> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next().ok_or(HeadError::NoHost)?;
    if hosts.next().is_some() {
        return Err(HeadError::ManyHosts);
    }
    let host = host.to_str().map_err(|_| HeadError::BadHost)?;
    // RFC 9110's grammar, and then what `http` parses as an authority: rmcp
    // checks the Host it parses, so a value it cannot parse (a
    // percent-encoded name, which the grammar allows) must not pass here as
    // some other host (found by the fuzz property below: `%0a`).
    if !is_host_and_port(host) || Authority::try_from(host).is_err() {
        return Err(HeadError::BadHost);
    }
    if let Some(target) = uri.authority()
        && !target.as_str().eq_ignore_ascii_case(host)
    {
        return Err(HeadError::TargetElsewhere);
    }
    Ok(())
}

/// RFC 9110 §7.2: `Host = uri-host [ ":" port ]`, where uri-host is an
/// IP-literal in brackets, or a reg-name (which covers IPv4 addresses) of
/// unreserved characters, percent-encodings and sub-delims; no `@`.
fn is_host_and_port(value: &str) -> bool {
    let (host, port, literal) = if let Some(rest) = value.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else {
            return false;
        };
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match after {
            "" => ("", None, true),
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port), true),
                None => return false,
            },
        }
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (value, None, false),
        }
    };
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b))
        && is_percent_encoded(host);
    // An empty port means none (RFC 3986 §3.2.3); one past 65535 is no port
    // at all, and rmcp would read it as none (found by the fuzzer).
    let port_ok = port.is_none_or(|p| {
        p.bytes().all(|b| b.is_ascii_digit()) && (p.is_empty() || p.parse::<u16>().is_ok())
    });
    (literal || !host.is_empty()) && host_ok && port_ok
}

/// Every `%` starts a percent-encoding (RFC 3986 §2.1): `%` and two hex
/// digits (a lone `%` found by the fuzzer).
fn is_percent_encoded(host: &str) -> bool {
    let bytes = host.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(target: &str, hosts: &[&str]) -> Result<(), HeadError> {
        let uri: Uri = target.parse().unwrap();
        let mut headers = HeaderMap::new();
        for host in hosts {
            headers.append(HOST, host.parse().unwrap());
        }
        check_head(&uri, &headers)
    }

    #[test]
    fn hosts_and_origins_follow_the_bound_address() {
        let loopback: SocketAddr = "127.0.0.1:8765".parse().unwrap();
        assert_eq!(
            allowed_hosts(loopback, &[]),
            ["localhost:8765", "127.0.0.1:8765", "[::1]:8765"]
        );
        let lan: SocketAddr = "192.0.2.7:80".parse().unwrap();
        assert_eq!(
            allowed_hosts(lan, &["mcp.example".into()]),
            [
                "localhost:80",
                "127.0.0.1:80",
                "[::1]:80",
                "192.0.2.7:80",
                "mcp.example"
            ]
        );
        assert_eq!(
            allowed_origins(loopback, &["https://app.example:443".into()]),
            [
                "http://localhost:8765",
                "http://127.0.0.1:8765",
                "http://[::1]:8765",
                "https://app.example:443"
            ]
        );
    }

    #[test]
    fn one_plain_host_passes() {
        assert_eq!(head("/mcp", &["localhost:8765"]), Ok(()));
        assert_eq!(head("/mcp", &["127.0.0.1:1"]), Ok(()));
        assert_eq!(head("/mcp", &["[::1]:8765"]), Ok(()));
        assert_eq!(head("/mcp", &["mcp.example"]), Ok(()));
        assert_eq!(head("http://LOCALHOST:1/mcp", &["localhost:1"]), Ok(()));
    }

    #[test]
    fn ambiguous_hosts_are_refused() {
        assert_eq!(head("/mcp", &[]), Err(HeadError::NoHost));
        assert_eq!(head("/mcp", &["a:1", "a:1"]), Err(HeadError::ManyHosts));
        assert_eq!(head("/mcp", &["evil@localhost:1"]), Err(HeadError::BadHost));
        assert_eq!(head("/mcp", &["localhost:1/x"]), Err(HeadError::BadHost));
        assert_eq!(head("/mcp", &["[::1"]), Err(HeadError::BadHost));
        assert_eq!(head("/mcp", &["a:b"]), Err(HeadError::BadHost));
        assert_eq!(head("/mcp", &[":80"]), Err(HeadError::BadHost));
        assert_eq!(head("/mcp", &["localhost:70000"]), Err(HeadError::BadHost));
        assert_eq!(head("/mcp", &["%"]), Err(HeadError::BadHost));
        assert_eq!(head("/mcp", &["a%4"]), Err(HeadError::BadHost));
        assert_eq!(
            head("http://evil.example/mcp", &["localhost:1"]),
            Err(HeadError::TargetElsewhere)
        );
        assert_eq!(
            head("http://u@localhost:1/mcp", &["localhost:1"]),
            Err(HeadError::TargetElsewhere)
        );
    }
}
