//! Open mode safe from browsers. A page on any site can make a browser send requests to
//! `127.0.0.1:8080`: a form posts without a preflight, a WebSocket opens without CORS, and
//! DNS rebinding turns `evil.example` into the loopback address, making every read
//! same-origin for the attacker. So a request is served only for the `Host` names this
//! server answers to, and a state-changing one (any method but GET, HEAD and OPTIONS) or a
//! WebSocket upgrade only from the server's own origin or a configured one (checked by
//! `Origin`, else `Sec-Fetch-Site`). Clients that are not browsers send neither header and
//! are unaffected. The decision is [`BrowserGuard::check`], a plain function.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::server::AppState;

/// Which hosts and origins the server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserGuard {
    /// Host names (lower case, without the port; IPv6 in brackets), or `None` for any.
    hosts: Option<Vec<String>>,
    /// Other origins that may change state (`scheme://host[:port]`), or `None` for any.
    origins: Option<Vec<String>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `Host` names a host the server does not answer to.
    Host(String),
    /// A state-changing request or a WebSocket from another origin.
    Origin(String),
}

/// The names of the loopback interface, always accepted.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl BrowserGuard {
    /// The guard of a server bound to `bind`: `allowed_hosts` (`*` for any) beside the
    /// loopback names and the bound address; without a list, a server bound to every
    /// interface (`0.0.0.0`, `[::]`) accepts any host — it was exposed on purpose, and keys
    /// guard it. `origins` are the CORS origins (`*` for any).
    pub fn new(bind: IpAddr, allowed_hosts: Option<&[String]>, origins: &[String]) -> Self {
        let hosts = match allowed_hosts {
            Some(list) if list.iter().any(|h| h == "*") => None,
            None if bind.is_unspecified() => None,
            list => {
                let mut hosts: Vec<String> = LOOPBACK.iter().map(|s| (*s).to_string()).collect();
                if !bind.is_unspecified() {
                    hosts.push(match bind {
                        IpAddr::V4(ip) => ip.to_string(),
                        IpAddr::V6(ip) => format!("[{ip}]"),
                    });
                }
                hosts.extend(
                    list.unwrap_or_default()
                        .iter()
                        .map(|h| host_name(h).to_ascii_lowercase()),
                );
                Some(hosts)
            }
        };
        let origins = if origins.iter().any(|o| o == "*") {
            None
        } else {
            Some(
                origins
                    .iter()
                    .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                    .collect(),
            )
        };
        Self { hosts, origins }
    }

    /// Whether a request with `method` and `headers` is served.
    /// It runs on every request, so it allocates nothing unless it refuses.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if let (Some(hosts), Some(host)) = (&self.hosts, host) {
            let name = host_name(host);
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                return Err(Refusal::Host(name.to_ascii_lowercase()));
            }
        }
        let upgrade = headers
            .get(header::UPGRADE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if safe && !upgrade {
            return Ok(());
        }
        match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            Some(origin) => {
                let origin = origin.trim_end_matches('/');
                // Same origin: the authority the browser fetched is the one it sent as Host.
                let same = host.is_some_and(|h| {
                    origin
                        .split_once("://")
                        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(h.trim()))
                });
                let configured = self
                    .origins
                    .as_ref()
                    .is_none_or(|o| o.iter().any(|x| x.eq_ignore_ascii_case(origin)));
                if same || configured {
                    Ok(())
                } else {
                    Err(Refusal::Origin(origin.to_ascii_lowercase()))
                }
            }
            // No Origin: not a browser, or an old one that still says where it came from.
            None => match headers.get("sec-fetch-site").and_then(|s| s.to_str().ok()) {
                Some(site @ ("cross-site" | "same-site")) if self.origins.is_some() => {
                    Err(Refusal::Origin(format!("a {site} page")))
                }
                _ => Ok(()),
            },
        }
    }
}

/// `host[:port]` → `host` (IPv6 kept in brackets; a trailing dot dropped), as written.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    name.trim_end_matches('.')
}

impl Refusal {
    /// The answer: 403 naming the setting that would let it through.
    pub fn into_error(self) -> ApiError {
        let message = match self {
            Refusal::Host(h) => format!(
                "this server does not answer to the host `{h}` (a guard against DNS rebinding): \
                 add it to `allowed_hosts` in [server] of the configuration file"
            ),
            Refusal::Origin(o) => format!(
                "a request that changes state (or opens a WebSocket) from {o} is refused: \
                 only the server's own pages may send one; add the origin to `cors_origins` in \
                 [server] of the configuration file to allow it"
            ),
        };
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

/// The middleware: refuses what [`BrowserGuard::check`] refuses, before anything else runs.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.guard().check(req.method(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::info!(target: "llm_compare::http", refusal = ?refusal, method = %req.method(), path = %req.uri().path(), "refused a browser request");
            refusal.into_error().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn loopback() -> BrowserGuard {
        BrowserGuard::new(IpAddr::from([127, 0, 0, 1]), None, &[])
    }

    #[test]
    fn only_the_servers_own_host_names_are_served() {
        let g = loopback();
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:80",
            "localhost.",
        ] {
            assert_eq!(
                g.check(&Method::GET, &headers(&[("host", host)])),
                Ok(()),
                "{host}"
            );
        }
        assert_eq!(
            g.check(&Method::GET, &headers(&[("host", "evil.example:8080")])),
            Err(Refusal::Host("evil.example".into()))
        );
        // No Host at all: not a browser.
        assert_eq!(g.check(&Method::GET, &HeaderMap::new()), Ok(()));
        let listed = BrowserGuard::new(
            IpAddr::from([127, 0, 0, 1]),
            Some(&["compare.example.com".into()]),
            &[],
        );
        assert!(
            listed
                .check(&Method::GET, &headers(&[("host", "compare.example.com")]))
                .is_ok()
        );
        assert!(
            listed
                .check(&Method::GET, &headers(&[("host", "other.example")]))
                .is_err()
        );
        // Bound to every interface and no list: any host (the keys guard it).
        let any = BrowserGuard::new(IpAddr::from([0, 0, 0, 0]), None, &[]);
        assert!(
            any.check(&Method::GET, &headers(&[("host", "10.1.2.3:8080")]))
                .is_ok()
        );
        let star = BrowserGuard::new(IpAddr::from([127, 0, 0, 1]), Some(&["*".into()]), &[]);
        assert!(
            star.check(&Method::GET, &headers(&[("host", "x.example")]))
                .is_ok()
        );
        // A specific address it is bound to.
        let bound = BrowserGuard::new("192.0.2.7".parse().unwrap(), None, &[]);
        assert!(
            bound
                .check(&Method::GET, &headers(&[("host", "192.0.2.7:8080")]))
                .is_ok()
        );
    }

    #[test]
    fn state_changes_and_websockets_only_from_the_same_or_a_configured_origin() {
        let g = loopback();
        let host = ("host", "127.0.0.1:8080");
        let cross = headers(&[host, ("origin", "http://evil.example")]);
        assert_eq!(
            g.check(&Method::POST, &cross),
            Err(Refusal::Origin("http://evil.example".into()))
        );
        assert!(g.check(&Method::DELETE, &cross).is_err());
        assert!(g.check(&Method::PATCH, &cross).is_err());
        // Reads are CORS's business; a WebSocket is not.
        assert!(g.check(&Method::GET, &cross).is_ok());
        let ws = headers(&[
            host,
            ("origin", "http://evil.example"),
            ("upgrade", "websocket"),
        ]);
        assert!(g.check(&Method::GET, &ws).is_err());
        let own = headers(&[host, ("origin", "http://127.0.0.1:8080")]);
        assert!(g.check(&Method::POST, &own).is_ok());
        // Same host, another port: another origin.
        let port = headers(&[host, ("origin", "http://127.0.0.1:3000")]);
        assert!(g.check(&Method::POST, &port).is_err());
        assert!(
            g.check(&Method::POST, &headers(&[host, ("origin", "null")]))
                .is_err()
        );
        // Without Origin, Sec-Fetch-Site tells; without either, not a browser.
        let site = headers(&[host, ("sec-fetch-site", "cross-site")]);
        assert!(g.check(&Method::POST, &site).is_err());
        let same = headers(&[host, ("sec-fetch-site", "same-origin")]);
        assert!(g.check(&Method::POST, &same).is_ok());
        assert!(g.check(&Method::POST, &headers(&[host])).is_ok());
        // A configured origin, or any with `*`.
        let dev = BrowserGuard::new(
            IpAddr::from([127, 0, 0, 1]),
            None,
            &["http://localhost:3000/".into()],
        );
        let from_dev = headers(&[host, ("origin", "http://localhost:3000")]);
        assert!(dev.check(&Method::POST, &from_dev).is_ok());
        assert!(dev.check(&Method::POST, &cross).is_err());
        let any = BrowserGuard::new(IpAddr::from([127, 0, 0, 1]), None, &["*".into()]);
        assert!(any.check(&Method::POST, &cross).is_ok());
        assert!(any.check(&Method::POST, &site).is_ok());
    }
}
