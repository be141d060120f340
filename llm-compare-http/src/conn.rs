//! Accepting connections, bounded: at most `max_connections` open at once, at most
//! `max_connections_per_client` from one client address, and a client that does not send a
//! request's headers within `header_read_timeout` is cut off (a slow-headers client holds a
//! socket and a task for nothing). A connection over a cap gets a typed 503 or 429 naming
//! the limit and is closed. Graceful shutdown as `axum::serve`'s: stop accepting, let open
//! connections finish. [`Slots`] is the plain counting, unit-tested.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tower::ServiceExt as _;

/// The caps on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections at once.
    pub max_connections: usize,
    /// Open connections at once from one client address.
    pub max_per_client: usize,
    /// Time to send a request's headers.
    pub header_read_timeout: Duration,
}

/// Open connections, in all and by client address.
#[derive(Debug, Default)]
pub struct Slots {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The server has `max_connections` open.
    Server(usize),
    /// This client has `max_connections_per_client` open.
    Client(usize),
}

impl Slots {
    /// Takes a slot for a connection from `ip`, or says which cap is full.
    pub fn take(&mut self, ip: IpAddr, limits: &ConnLimits) -> Result<(), Full> {
        if self.total >= limits.max_connections {
            return Err(Full::Server(limits.max_connections));
        }
        let n = self.by_client.entry(ip).or_default();
        if *n >= limits.max_per_client {
            return Err(Full::Client(limits.max_per_client));
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// Gives back the slot of a connection from `ip`.
    pub fn release(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_client.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.by_client.remove(&ip);
            }
        }
    }

    /// Open connections.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// A taken slot, given back when the connection ends.
struct Slot {
    slots: Arc<Mutex<Slots>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().release(self.ip);
    }
}

impl Full {
    /// The whole HTTP/1.1 answer to a connection refused for this cap.
    fn response(self) -> String {
        let (status, code, message, setting) = match self {
            Full::Server(n) => (
                "503 Service Unavailable",
                "unavailable",
                format!("the server has {n} connections open, as many as it takes"),
                "max_connections",
            ),
            Full::Client(n) => (
                "429 Too Many Requests",
                "rate_limited",
                format!("your address has {n} connections open, as many as one client may"),
                "max_connections_per_client",
            ),
        };
        let body = serde_json::json!({"error": {
            "code": code,
            "message": format!("{message}: close one, or raise `{setting}` in [server] of the configuration file"),
            "limit": {"name": setting, "value": match self { Full::Server(n) | Full::Client(n) => n },
                      "setting": format!("`{setting}` in [server] of the configuration file")},
        }})
        .to_string();
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

/// Serves `app` on `listener` until `stop` resolves, then waits for open connections to end.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Mutex::new(Slots::default()));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // CONNECT for WebSockets over HTTP/2, as axum::serve enables it.
    builder.http2().enable_connect_protocol();
    let builder = Arc::new(builder);
    tokio::pin!(stop);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, mostly: wait rather than spin.
                    tracing::warn!(target: "llm_compare::http", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let taken = slots.lock().take(addr.ip(), &limits);
        if let Err(full) = taken {
            crate::api::metrics::connection_refused(match full {
                Full::Server(_) => "max_connections",
                Full::Client(_) => "max_connections_per_client",
            });
            // One non-blocking write of the refusal; the socket is then closed.
            let _ = tcp.try_write(full.response().as_bytes());
            continue;
        }
        let slot = Slot {
            slots: slots.clone(),
            ip: addr.ip(),
        };
        // No Nagle: a streamed token is a small write that must leave now, not after the
        // client's delayed ACK (up to 40 ms per chunk on Linux, seen by the load harness).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(target: "llm_compare::http", error = %e, "TCP_NODELAY not set");
        }
        let service = app
            .clone()
            .map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                req
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(target: "llm_compare::http", error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_the_server_and_each_client_and_come_back() {
        let limits = ConnLimits {
            max_connections: 3,
            max_per_client: 2,
            header_read_timeout: Duration::from_secs(1),
        };
        let (a, b, c) = (
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from([127, 0, 0, 2]),
            IpAddr::from([127, 0, 0, 3]),
        );
        let mut s = Slots::default();
        assert_eq!(s.take(a, &limits), Ok(()));
        assert_eq!(s.take(a, &limits), Ok(()));
        assert_eq!(s.take(a, &limits), Err(Full::Client(2)));
        assert_eq!(s.take(b, &limits), Ok(()));
        assert_eq!(s.take(c, &limits), Err(Full::Server(3)));
        s.release(a);
        assert_eq!(s.total(), 2);
        assert_eq!(s.take(c, &limits), Ok(()));
        for ip in [a, b, c] {
            s.release(ip);
        }
        assert_eq!(s.total(), 0);
        assert!(s.by_client.is_empty());
        let text = Full::Client(2).response();
        assert!(text.starts_with("HTTP/1.1 429"), "{text}");
        assert!(text.contains("max_connections_per_client"), "{text}");
    }
}
