//! Whether the app can reach its server, and getting back by itself.
//!
//! Offline is what the browser says (`navigator.onLine` and its `online` /
//! `offline` events) or what a request finds: a call that gets no answer
//! at all (not an error answer) marks the server unreachable. From then on
//! `/healthz` is asked, after pauses that grow up to a few seconds, until it
//! answers; then the notice goes, and a screen that could not load for want
//! of the server (as when the app opened offline, from the service worker's
//! copy) is opened again. A live connection that dropped reconnects by
//! itself (see `pages/stream/connection.rs`), so an open stream is left as
//! it is, draft included.

use std::cell::Cell;
use std::time::Duration;

use futures::channel::oneshot;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The app's view of its connectivity.
#[derive(Clone, Copy)]
pub struct Reachability {
    /// The browser says it has a network.
    pub browser_online: RwSignal<bool>,
    /// A request got no answer, and `/healthz` has not answered since.
    pub server_down: RwSignal<bool>,
    /// Counts the times the server answered again after a screen failed
    /// to load; the app opens the screen again each time it changes.
    pub reopened: RwSignal<u32>,
    /// A screen failed to load for want of the server.
    reopen_pending: StoredValue<bool>,
    /// `/healthz` is being asked.
    probing: StoredValue<bool>,
}

thread_local! {
    static CURRENT: Cell<Option<Reachability>> = const { Cell::new(None) };
}

impl Reachability {
    /// Whether to show the offline notice.
    pub fn offline(self) -> bool {
        !self.browser_online.get() || self.server_down.get()
    }
}

/// Starts watching connectivity; called once by the root component.
pub fn watch() -> Reachability {
    let online = web_sys::window().is_none_or(|window| window.navigator().on_line());
    let reachability = Reachability {
        browser_online: RwSignal::new(online),
        server_down: RwSignal::new(false),
        reopened: RwSignal::new(0),
        reopen_pending: StoredValue::new(false),
        probing: StoredValue::new(false),
    };
    CURRENT.with(|current| current.set(Some(reachability)));
    let on_offline = window_event_listener(leptos::ev::offline, move |_| {
        reachability.browser_online.set(false);
    });
    let on_online = window_event_listener(leptos::ev::online, move |_| {
        reachability.browser_online.set(true);
        server_unreachable();
    });
    on_cleanup(move || {
        on_offline.remove();
        on_online.remove();
    });
    reachability
}

/// A request to the server got no answer: say so, and ask `/healthz`
/// until it answers. (Also used to check at once when the browser says it
/// is online again.)
pub fn server_unreachable() {
    let Some(reachability) = CURRENT.with(Cell::get) else {
        return;
    };
    if reachability.probing.get_value() {
        return;
    }
    reachability.probing.set_value(true);
    spawn_local(async move {
        let mut attempt = 0;
        while !healthy().await {
            reachability.server_down.set(true);
            sleep(pause(attempt)).await;
            attempt += 1;
        }
        reachability.probing.set_value(false);
        reachability.server_down.set(false);
        if reachability.reopen_pending.get_value() {
            reachability.reopen_pending.set_value(false);
            reachability.reopened.update(|count| *count += 1);
        }
    });
}

/// The screen could not load because the server did not answer: open it
/// again once it does.
pub fn reopen_when_back() {
    if let Some(reachability) = CURRENT.with(Cell::get) {
        reachability.reopen_pending.set_value(true);
        server_unreachable();
    }
}

/// The pause before asking again after `attempt` unanswered asks.
fn pause(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(4)).min(5_000))
}

async fn healthy() -> bool {
    gloo_net::http::Request::get("/healthz")
        .send()
        .await
        .is_ok_and(|response| response.ok())
}

async fn sleep(duration: Duration) {
    let (done, wait) = oneshot::channel();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        duration,
    );
    let _ = wait.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_again_sooner_than_five_seconds_apart() {
        assert_eq!(pause(0), Duration::from_millis(500));
        assert_eq!(pause(1), Duration::from_secs(1));
        assert_eq!(pause(3), Duration::from_secs(4));
        assert_eq!(pause(4), Duration::from_secs(5));
        assert_eq!(pause(u32::MAX), Duration::from_secs(5));
    }
}
