//! Dictation through the browser's own speech recognition
//! (`SpeechRecognition`, `webkitSpeechRecognition` in Chromium), where the
//! browser has it.
//!
//! Not private: Chromium-based browsers send the audio to their maker's
//! speech service (Google for Chrome) to turn it into text, and other
//! browsers may use a service too. Malten never receives the audio; the
//! words only fill the message box, and nothing is sent before the user
//! presses Send. So the user is told before the first use ever (and the
//! answer is remembered on this device), and in an end-to-end encrypted
//! stream asked before every use, since dictated words leave the encryption
//! on their way to that service.
//!
//! web-sys has no stable bindings for the API, so it is reached through a
//! thin `extern` block, typed only as far as it is used.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Shown before the first use on this device.
pub const FIRST_USE: &str = "Dictation uses your browser's speech recognition. In Chrome, Edge \
and other Chromium-based browsers the audio from your microphone is sent to the browser maker's \
speech service (Google for Chrome) to be turned into text; other browsers may do the same. Malten \
never receives the audio. The words only fill the message box: nothing is sent until you press \
Send. Use dictation?";

/// Shown before every use in an end-to-end encrypted stream.
pub const LEAVES_ENCRYPTION: &str = "This stream is end-to-end encrypted, but dictation is not: \
your browser sends the audio from your microphone to its speech service (Google for Chrome and \
other Chromium-based browsers), which hears everything you say. Malten never receives the audio, \
and the words only fill the message box: nothing is sent until you press Send. Dictate anyway?";

#[wasm_bindgen]
extern "C" {
    /// A `SpeechRecognition` object.
    pub type Recognition;

    #[wasm_bindgen(method, setter = continuous)]
    fn set_continuous(this: &Recognition, value: bool);
    #[wasm_bindgen(method, setter = interimResults)]
    fn set_interim_results(this: &Recognition, value: bool);
    #[wasm_bindgen(method, setter = lang)]
    fn set_lang(this: &Recognition, value: &str);
    #[wasm_bindgen(method, setter = onresult)]
    fn set_onresult(this: &Recognition, handler: Option<&js_sys::Function>);
    #[wasm_bindgen(method, setter = onerror)]
    fn set_onerror(this: &Recognition, handler: Option<&js_sys::Function>);
    #[wasm_bindgen(method, setter = onend)]
    fn set_onend(this: &Recognition, handler: Option<&js_sys::Function>);
    #[wasm_bindgen(method, catch)]
    fn start(this: &Recognition) -> Result<(), JsValue>;
    #[wasm_bindgen(method)]
    fn stop(this: &Recognition);
    #[wasm_bindgen(method)]
    fn abort(this: &Recognition);
}

/// The browser's recognition constructor, if it has one.
fn constructor() -> Option<js_sys::Function> {
    let window = web_sys::window()?;
    ["SpeechRecognition", "webkitSpeechRecognition"]
        .into_iter()
        .filter_map(|name| js_sys::Reflect::get(&window, &JsValue::from_str(name)).ok())
        .find_map(|value| value.dyn_into::<js_sys::Function>().ok())
}

/// Whether this browser can dictate at all (the button is hidden otherwise).
pub fn available() -> bool {
    constructor().is_some()
}

/// One dictation, listening until [`Dictation::stop`], until the browser
/// ends it, or until dropped.
pub struct Dictation {
    recognition: Recognition,
    running: Rc<Cell<bool>>,
    _on_result: Closure<dyn FnMut(JsValue)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
    _on_end: Closure<dyn FnMut(JsValue)>,
}

impl Dictation {
    /// Starts listening. `on_heard` gets everything heard so far (interim
    /// words included) each time it changes; `on_end` is called once when
    /// listening ends, with the browser's error code if it failed.
    pub fn start(
        mut on_heard: impl FnMut(String) + 'static,
        on_end: impl FnOnce(Option<String>) + 'static,
    ) -> Result<Self, String> {
        let constructor = constructor().ok_or("This browser cannot dictate.")?;
        let recognition: Recognition =
            js_sys::Reflect::construct(&constructor, &js_sys::Array::new())
                .map_err(|_| "This browser cannot dictate.".to_owned())?
                .unchecked_into();
        recognition.set_continuous(true);
        recognition.set_interim_results(true);
        if let Some(lang) = web_sys::window().and_then(|w| w.navigator().language()) {
            recognition.set_lang(&lang);
        }
        let running = Rc::new(Cell::new(true));
        let failure = Rc::new(Cell::new(None::<String>));
        let on_result = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            on_heard(transcript(&event));
        });
        let failed = Rc::clone(&failure);
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let code = js_sys::Reflect::get(&event, &JsValue::from_str("error"))
                .ok()
                .and_then(|code| code.as_string())
                .unwrap_or_else(|| "unknown".into());
            failed.set(Some(code));
        });
        let ended = Rc::clone(&running);
        let mut on_end = Some(on_end);
        let on_end = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            ended.set(false);
            if let Some(on_end) = on_end.take() {
                on_end(failure.take());
            }
        });
        recognition.set_onresult(Some(on_result.as_ref().unchecked_ref()));
        recognition.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        recognition.set_onend(Some(on_end.as_ref().unchecked_ref()));
        recognition
            .start()
            .map_err(|_| "Dictation could not start.".to_owned())?;
        Ok(Self {
            recognition,
            running,
            _on_result: on_result,
            _on_error: on_error,
            _on_end: on_end,
        })
    }

    /// Stops listening; what was heard so far still arrives, then the end.
    pub fn stop(&self) {
        if self.running.get() {
            self.recognition.stop();
        }
    }
}

impl Drop for Dictation {
    fn drop(&mut self) {
        // The handlers go with `self`: the browser must not call them after.
        self.recognition.set_onresult(None);
        self.recognition.set_onerror(None);
        self.recognition.set_onend(None);
        if self.running.get() {
            self.recognition.abort();
        }
    }
}

/// Everything heard so far in a `SpeechRecognitionEvent`: the best
/// alternative of each result, in order.
fn transcript(event: &JsValue) -> String {
    let get = |target: &JsValue, key: &JsValue| js_sys::Reflect::get(target, key).ok();
    let Some(results) = get(event, &"results".into()) else {
        return String::new();
    };
    let count = get(&results, &"length".into())
        .and_then(|length| length.as_f64())
        .unwrap_or(0.0) as u32;
    let pieces: Vec<String> = (0..count)
        .filter_map(|index| get(&results, &index.into()))
        .filter_map(|result| get(&result, &0.into()))
        .filter_map(|best| get(&best, &"transcript".into())?.as_string())
        .collect();
    join_words(pieces.iter().map(String::as_str))
}

/// Pieces of text joined by single spaces, ignoring empty ones.
fn join_words<'a>(pieces: impl IntoIterator<Item = &'a str>) -> String {
    pieces
        .into_iter()
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The message box's text: what was typed before dictating, then what was
/// heard.
pub fn dictated(typed: &str, heard: &str) -> String {
    let typed = typed.trim_end();
    if typed.is_empty() || heard.trim().is_empty() {
        return format!("{typed}{}", heard.trim());
    }
    format!("{typed} {}", heard.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictated_words_follow_what_was_typed() {
        assert_eq!(dictated("", "hello there"), "hello there");
        assert_eq!(dictated("Typed.", "hello"), "Typed. hello");
        assert_eq!(dictated("Typed. \n", " hello "), "Typed. hello");
        assert_eq!(dictated("Typed.", ""), "Typed.");
    }

    #[test]
    fn results_are_joined_by_single_spaces() {
        assert_eq!(join_words(["hello", " world", ""]), "hello world");
        assert_eq!(join_words([]), "");
    }
}
