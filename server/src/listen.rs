//! Accepting connections with bounded resources: the serve loop behind [`crate::spawn`].
//!
//! `axum::serve` sets no header read timeout and no connection limit; on loopback 60 clients sending
//! one byte a second were never closed and about 1,100 half-open requests made the server unreachable.
//! Here every connection is HTTP/1.1 through hyper with:
//!
//! - a **header read timeout** (also bounds an idle keep-alive connection waiting for its next request);
//! - a **request deadline** for the whole request, body included (a slow body gets 408), in [`crate::http`];
//! - a **cap per source address**: connections over it are closed at once, so one address (or one
//!   attacker) cannot take the slots of everybody else;
//! - a **global cap**: over it the server stops accepting until a connection ends (back-pressure into
//!   the kernel's backlog rather than file-descriptor exhaustion).
//!
//! The peer address is put into each request's extensions as [`ConnectInfo`] for the registration
//! throttle.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// Connection limits and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most (all sources).
    pub max_connections: usize,
    /// Open connections at most from one source address.
    pub max_connections_per_source: usize,
    /// Longest time to receive a request's headers (and longest idle time between keep-alive requests).
    pub header_timeout: Duration,
    /// Longest time for a whole request, body included.
    pub request_timeout: Duration,
    /// Longest wait for open connections to finish after shutdown was asked.
    pub shutdown_grace: Duration,
}

/// The soft limit on open files of this process, where the platform says (Linux: `/proc/self/limits`).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

impl Default for Limits {
    fn default() -> Self {
        // Never more connections than file descriptors: at the limit `accept` fails for everyone (an
        // old server with 1,024 descriptors was unreachable after ~1,100 half-open requests). Keep 128
        // for the database, blob files and logs.
        let max_connections =
            open_files_limit().map_or(4096, |n| n.saturating_sub(128).clamp(16, 4096));
        Limits {
            max_connections,
            // One address (one attacker, or one NAT) gets at most a quarter of the slots.
            max_connections_per_source: (max_connections / 4).clamp(8, 256),
            // hyper's default; nginx waits 60 s. A loaded 2-core server (or a phone on 2G) needs slack.
            header_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_mins(2),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Counts open connections per source address.
#[derive(Debug, Default)]
struct PerSource(Mutex<HashMap<IpAddr, usize>>);

impl PerSource {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<SourceGuard> {
        let mut m = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SourceGuard {
            map: self.clone(),
            ip,
        })
    }
}

struct SourceGuard {
    map: Arc<PerSource>,
    ip: IpAddr,
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let mut m = self
            .map
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish (bounded by
/// [`Limits::shutdown_grace`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_source = Arc::new(PerSource::default());
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_buf_size(64 * 1024);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => if let Ok(a) = a { a } else {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            },
            () = &mut shutdown => break,
        };
        let Some(guard) = per_source.enter(peer.ip(), limits.max_connections_per_source) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Timeouts and resets end connections routinely; structured logs are issue 15's.
            let _ = conn.await;
            drop(guard);
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await;
}

/// The peer address of a request served by [`serve`] (`None` when the router is driven otherwise).
pub fn peer(ext: &axum::http::Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}
