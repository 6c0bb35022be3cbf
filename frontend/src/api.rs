//! Every HTTP call the app makes goes through here, to the server that
//! served the app and nowhere else.

use gloo_net::http::Request;
use malten_shared::wire::{ErrorBody, StreamInfo};

/// A failed call, with a sentence that can be shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure(pub String);

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `GET /streams`: the public streams.
pub async fn list_streams() -> Result<Vec<StreamInfo>, ApiFailure> {
    let response = Request::get("/streams")
        .send()
        .await
        .map_err(|err| ApiFailure(format!("cannot reach the server: {err}")))?;
    if !response.ok() {
        let error = response
            .json::<ErrorBody>()
            .await
            .map(|body| body.error)
            .unwrap_or_else(|_| format!("the server answered {}", response.status()));
        return Err(ApiFailure(error));
    }
    response
        .json()
        .await
        .map_err(|err| ApiFailure(format!("unexpected answer from the server: {err}")))
}
