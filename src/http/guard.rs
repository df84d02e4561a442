//! The request-head checks that come before anything else, the body above
//! all: one unambiguous `Host` naming the target (RFC 9112 §3.2), and the
//! DNS-rebinding checks of `Host` and `Origin`, which are rmcp's.
//!
//! rmcp reads `Host` with `HeaderMap::get`, which takes the first of several,
//! and parses it as a URI authority, which admits userinfo; hyper hands on an
//! absolute-form target (`POST http://other/mcp`) untouched, and RFC 9112
//! §3.2.2 says such a target, not `Host`, names the resource. Each is a way
//! to show rmcp's check one host and mean another, so each is refused here
//! before rmcp sees the request.

use http::header::HOST;
use http::{HeaderMap, Uri};

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
    if !is_host_and_port(host) {
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
