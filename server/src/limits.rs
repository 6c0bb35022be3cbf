//! Per-client limits: the client's IP, a post/creation rate limit and a cap
//! on concurrent real-time connections.
//!
//! The rate limiter is `governor`'s keyed GCRA (a token bucket without a
//! timer per key); its state is pruned by the sweeper so idle clients cost
//! nothing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::AppState;

/// The address a request is attributed to for limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_forwarded_for {
            if let Some(ip) = forwarded_for(parts) {
                return Ok(ClientIp(ip));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(peer))
    }
}

/// The last `X-Forwarded-For` entry: the address the nearest proxy saw.
fn forwarded_for(parts: &Parts) -> Option<IpAddr> {
    let header = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?;
    header
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Posts and stream creations per client IP.
#[derive(Debug)]
pub struct RateLimits {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    pub fn new(per_second: u64, burst: u32) -> Self {
        let per_second = NonZeroU32::new(u32::try_from(per_second).unwrap_or(u32::MAX).max(1))
            .expect("clamped to at least 1");
        let burst = NonZeroU32::new(burst.max(1)).expect("clamped to at least 1");
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// Spends one unit for `ip`, or says how long to wait.
    pub fn check(&self, ip: ClientIp) -> Result<(), ApiError> {
        self.limiter.check_key(&ip.0).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Forgets clients whose buckets are full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Concurrent SSE and WebSocket connections per client IP.
#[derive(Debug)]
pub struct ConnectionLimits {
    per_ip: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one connection slot; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    pub fn new(per_ip: usize) -> Self {
        Self {
            per_ip,
            open: Mutex::default(),
        }
    }

    pub fn acquire(self: &Arc<Self>, ip: ClientIp) -> Result<ConnectionPermit, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip.0).or_default();
        if *count >= self.per_ip {
            return Err(ApiError::TooManyConnections { limit: self.per_ip });
        }
        *count += 1;
        Ok(ConnectionPermit {
            limits: Arc::clone(self),
            ip: ip.0,
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_is_per_ip_and_freed_on_drop() {
        let limits = Arc::new(ConnectionLimits::new(2));
        let a = ClientIp(IpAddr::from([10, 0, 0, 1]));
        let b = ClientIp(IpAddr::from([10, 0, 0, 2]));
        let first = limits.acquire(a).unwrap();
        let _second = limits.acquire(a).unwrap();
        assert!(limits.acquire(a).is_err());
        assert!(limits.acquire(b).is_ok(), "another address has its own cap");
        drop(first);
        assert!(limits.acquire(a).is_ok());
    }

    #[test]
    fn the_rate_limit_allows_the_burst_then_asks_to_wait() {
        let limits = RateLimits::new(1, 3);
        let ip = ClientIp(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..3 {
            limits.check(ip).unwrap();
        }
        match limits.check(ip) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }
}
