//! Per-client limits: the client's IP, a post/creation rate limit and a cap
//! on concurrent real-time connections. The LLM reuses both mechanisms
//! ([`RateLimits::per_minute`], [`Slots`]) for its own, stricter limits.
//!
//! The rate limiter is `governor`'s keyed GCRA (a token bucket without a
//! timer per key); its state is pruned every minute (`lib.rs`) so idle
//! clients cost nothing. The write rate limit is applied to its routes as a
//! tower layer (`http/rate_limit.rs`); `/ws` spends it per session created.
//!
//! Refusals are [`LimitError`], with no HTTP in it: `error.rs` makes them
//! `429` with `Retry-After`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::AppState;

/// Why a limit refused a client. The HTTP edge (`error.rs`) turns it into
/// a 429 with `Retry-After`; the `/ws` transport shows its sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("too many requests from your address; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("too many open real-time connections from your address (at most {limit})")]
    TooManyConnections { limit: usize },
}

impl LimitError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyConnections { .. } => "too_many_connections",
        }
    }

    /// Seconds the client should wait before trying again.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::RateLimited { retry_after_secs } => *retry_after_secs,
            Self::TooManyConnections { .. } => 1,
        }
    }
}

/// The address a request is attributed to for limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state.config.trust_forwarded_for)))
    }
}

/// The address a request is attributed to: the last `X-Forwarded-For`
/// entry when `trust_forwarded_for` (`--trust-forwarded-for`), else the
/// peer. Shared by the stream API and the chat API.
pub fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for {
        if let Some(ip) = forwarded_for(parts) {
            return ip;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
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

/// The time the rate limits go by: the system's monotonic clock, or a
/// frozen one that moves only when told ([`RateClock::advance`]).
///
/// Why: a test of "the fourth post in a burst of three is refused" means
/// something only if no refill happened between the posts, and on a busy
/// machine a second can pass between two requests. With a frozen clock the
/// test says exactly when time passes, and needs no retries. The clock is
/// not a flag (`Config::rate_clock`); the server always runs on the system's.
#[derive(Debug, Clone, Default)]
pub struct RateClock {
    frozen: Option<FakeRelativeClock>,
}

impl RateClock {
    /// A clock that stands still until [`RateClock::advance`]d. Clones share it.
    pub fn frozen() -> Self {
        Self {
            frozen: Some(FakeRelativeClock::default()),
        }
    }

    /// Moves a frozen clock (and every rate limit on it) forward by `by`.
    ///
    /// # Panics
    /// On the system's clock, which nothing moves but time.
    pub fn advance(&self, by: Duration) {
        self.frozen
            .as_ref()
            .expect("only a frozen RateClock can be advanced")
            .advance(by);
    }
}

/// Monotonic time since the process first asked, in governor's unit.
fn system_now() -> Nanos {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    Nanos::from(ORIGIN.get_or_init(Instant::now).elapsed())
}

impl Clock for RateClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match &self.frozen {
            Some(frozen) => frozen.now(),
            None => system_now(),
        }
    }
}

/// Posts and stream creations per client IP.
#[derive(Debug)]
pub struct RateLimits {
    limiter: RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, RateClock, NoOpMiddleware<Nanos>>,
    clock: RateClock,
}

impl RateLimits {
    pub fn new(per_second: u64, burst: u32, clock: RateClock) -> Self {
        let per_second = NonZeroU32::new(u32::try_from(per_second).unwrap_or(u32::MAX).max(1))
            .expect("clamped to at least 1");
        Self::with_quota(Quota::per_second(per_second), burst, clock)
    }

    /// A slower limit, for expensive operations such as LLM prompts.
    pub fn per_minute(per_minute: u32, burst: u32, clock: RateClock) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("clamped to at least 1");
        Self::with_quota(Quota::per_minute(per_minute), burst, clock)
    }

    fn with_quota(quota: Quota, burst: u32, clock: RateClock) -> Self {
        let burst = NonZeroU32::new(burst.max(1)).expect("clamped to at least 1");
        Self {
            limiter: RateLimiter::new(
                quota.allow_burst(burst),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            clock,
        }
    }

    /// Spends one unit for `ip`, or says how many whole seconds to wait
    /// (rounded up: retrying after them succeeds).
    pub fn try_spend(&self, ip: ClientIp) -> Result<(), u64> {
        self.limiter.check_key(&ip.0).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Spends one unit for `ip`, or says how long to wait.
    pub fn check(&self, ip: ClientIp) -> Result<(), LimitError> {
        self.try_spend(ip)
            .map_err(|retry_after_secs| LimitError::RateLimited { retry_after_secs })
    }

    /// Forgets clients whose buckets are full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many clients the limiter holds state for.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// At most `per_key` holders at once per key: the shared mechanism behind
/// the real-time connection cap and the LLM's concurrency caps.
#[derive(Debug)]
pub struct Slots<K: Hash + Eq> {
    per_key: usize,
    open: Mutex<HashMap<K, usize>>,
}

/// Holds one slot; dropping it frees the slot.
#[derive(Debug)]
pub struct SlotPermit<K: Hash + Eq + Clone> {
    slots: Arc<Slots<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Slots<K> {
    pub fn new(per_key: usize) -> Self {
        Self {
            per_key,
            open: Mutex::default(),
        }
    }

    pub fn per_key(&self) -> usize {
        self.per_key
    }

    /// Takes a slot for `key`, or `None` when all of its slots are held.
    pub fn try_acquire(self: &Arc<Self>, key: &K) -> Option<SlotPermit<K>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key.clone()).or_default();
        if *count >= self.per_key {
            if *count == 0 {
                open.remove(key);
            }
            return None;
        }
        *count += 1;
        Some(SlotPermit {
            slots: Arc::clone(self),
            key: key.clone(),
        })
    }
}

impl<K: Hash + Eq + Clone> Drop for SlotPermit<K> {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Concurrent SSE and WebSocket connections per client IP.
#[derive(Debug)]
pub struct ConnectionLimits(Arc<Slots<IpAddr>>);

/// Holds one connection slot; dropping it frees the slot.
pub type ConnectionPermit = SlotPermit<IpAddr>;

impl ConnectionLimits {
    pub fn new(per_ip: usize) -> Self {
        Self(Arc::new(Slots::new(per_ip)))
    }

    pub fn acquire(&self, ip: ClientIp) -> Result<ConnectionPermit, LimitError> {
        self.0
            .try_acquire(&ip.0)
            .ok_or(LimitError::TooManyConnections {
                limit: self.0.per_key(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_is_per_ip_and_freed_on_drop() {
        let limits = ConnectionLimits::new(2);
        let a = ClientIp(IpAddr::from([10, 0, 0, 1]));
        let b = ClientIp(IpAddr::from([10, 0, 0, 2]));
        let first = limits.acquire(a).unwrap();
        let _second = limits.acquire(a).unwrap();
        for _ in 0..2 {
            assert_eq!(
                limits.acquire(a).err(),
                Some(LimitError::TooManyConnections { limit: 2 }),
                "refused, and refusing does not reset the count"
            );
        }
        assert!(limits.acquire(b).is_ok(), "another address has its own cap");
        drop(first);
        assert!(limits.acquire(a).is_ok());
    }

    const A: ClientIp = ClientIp(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: ClientIp = ClientIp(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    fn retry_after(result: Result<(), LimitError>) -> u64 {
        match result {
            Err(LimitError::RateLimited { retry_after_secs }) => retry_after_secs,
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }

    #[test]
    fn the_rate_limit_allows_the_burst_then_asks_to_wait_until_the_refill() {
        let clock = RateClock::frozen();
        let limits = RateLimits::new(1, 3, clock.clone());
        for _ in 0..3 {
            limits.check(A).unwrap();
        }
        assert_eq!(retry_after(limits.check(A)), 1);
        assert!(
            limits.check(B).is_ok(),
            "another address has its own bucket"
        );

        clock.advance(Duration::from_millis(999));
        assert_eq!(
            retry_after(limits.check(A)),
            1,
            "a part of a second rounds up"
        );
        clock.advance(Duration::from_millis(1));
        limits.check(A).expect("one unit refilled after a second");
        assert_eq!(retry_after(limits.check(A)), 1, "and only one");

        clock.advance(Duration::from_secs(3));
        for _ in 0..3 {
            limits.check(A).unwrap();
        }
        assert_eq!(
            retry_after(limits.check(A)),
            1,
            "the burst refills, no more"
        );
    }

    #[test]
    fn a_per_minute_limit_asks_for_the_rest_of_its_minute() {
        let clock = RateClock::frozen();
        let limits = RateLimits::per_minute(2, 1, clock.clone());
        limits.check(A).unwrap();
        assert_eq!(retry_after(limits.check(A)), 30);
        clock.advance(Duration::from_secs(20));
        assert_eq!(retry_after(limits.check(A)), 10);
        clock.advance(Duration::from_secs(10));
        limits.check(A).unwrap();
    }

    #[test]
    fn the_system_clock_limits_too_and_cannot_be_advanced() {
        let limits = RateLimits::new(1, 1, RateClock::default());
        limits.check(A).unwrap();
        assert_eq!(retry_after(limits.check(A)), 1);
        let advanced = std::panic::catch_unwind(|| RateClock::default().advance(Duration::ZERO));
        assert!(advanced.is_err());
    }

    #[test]
    fn the_system_clock_moves() {
        let clock = RateClock::default();
        let before = clock.now();
        let deadline = Instant::now() + Duration::from_secs(1);
        while clock.now() == before {
            assert!(
                Instant::now() < deadline,
                "the system RateClock stood still"
            );
            std::hint::spin_loop();
        }
        assert!(clock.now() > before);
    }

    #[test]
    fn pruning_forgets_full_buckets_and_keeps_spent_ones() {
        let clock = RateClock::frozen();
        let limits = RateLimits::new(1, 3, clock.clone());
        limits.check(A).unwrap();
        clock.advance(Duration::from_secs(2));
        limits.check(B).unwrap();
        assert_eq!(limits.tracked(), 2);
        limits.prune();
        assert_eq!(
            limits.tracked(),
            1,
            "A refilled and is forgotten; B is not full yet"
        );
        clock.advance(Duration::from_secs(2));
        limits.prune();
        assert_eq!(limits.tracked(), 0, "B refilled too");
    }

    #[test]
    fn a_refusal_says_how_long_to_wait() {
        let rate = LimitError::RateLimited {
            retry_after_secs: 30,
        };
        assert_eq!(rate.retry_after_secs(), 30);
        assert_eq!(rate.code(), "rate_limited");
        let connections = LimitError::TooManyConnections { limit: 2 };
        assert_eq!(connections.retry_after_secs(), 1);
        assert_eq!(connections.code(), "too_many_connections");
    }
}
