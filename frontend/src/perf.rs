//! Timings of the work users wait for, as User Timing entries
//! (`performance.measure`), so a browser test can read them and report
//! them (`make bench-web`) and anyone can see them in the devtools.
//!
//! Each name ends in `#<sequence>`, which keeps repeated spans apart.
//! - `malten:derive`: deriving a stream key (PBKDF2 in WebCrypto).
//! - `malten:show:<n>`: decrypting and rendering a batch of `n` messages,
//!   from the moment the batch arrived to the next frame after it was
//!   rendered;
//! - `malten:decrypt:<n>`: the decryption part of that.

use leptos::prelude::request_animation_frame;

fn performance() -> Option<web_sys::Performance> {
    web_sys::window()?.performance()
}

thread_local! {
    static SEQUENCE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A span being timed; `end` records it.
pub struct Span {
    name: String,
    start: String,
}

impl Span {
    pub fn start(name: impl Into<String>) -> Span {
        // A sequence number keeps marks of spans with the same name apart.
        let sequence = SEQUENCE.with(|sequence| {
            let next = sequence.get() + 1;
            sequence.set(next);
            next
        });
        let name = format!("{}#{sequence}", name.into());
        let start = format!("{name}:start");
        if let Some(performance) = performance() {
            let _ = performance.mark(&start);
        }
        Span { name, start }
    }

    /// Ends the span now.
    pub fn end(self) {
        if let Some(performance) = performance() {
            let end = format!("{}:end", self.name);
            let _ = performance.mark(&end);
            let _ = performance.measure_with_start_mark_and_end_mark(&self.name, &self.start, &end);
        }
    }

    /// Ends the span at the next frame, i.e. once what was just put in the
    /// DOM has been laid out.
    pub fn end_after_render(self) {
        request_animation_frame(move || self.end());
    }
}
