//! Registers the service worker (`frontend/sw.js`, served as `/sw.js`),
//! which keeps the app shell so that the app opens, and says it is offline,
//! when the server cannot be reached. It keeps the app's own files only,
//! never messages, API answers or passphrases (see the comment at its top).

use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

/// Registers `/sw.js` where the browser offers service workers (only in a
/// secure context: https, or http on 127.0.0.1 or localhost).
pub fn register() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let navigator = window.navigator();
    if !js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker")).unwrap_or(false) {
        return;
    }
    let registering = navigator.service_worker().register("/sw.js");
    spawn_local(async move {
        if let Err(err) = wasm_bindgen_futures::JsFuture::from(registering).await {
            leptos::logging::warn!("the offline shell is unavailable: {err:?}");
        }
    });
}
