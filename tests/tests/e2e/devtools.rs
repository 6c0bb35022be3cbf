//! Chromium's DevTools protocol through ChromeDriver, for what WebDriver
//! cannot do: a script that runs before the page's own (to take an API away
//! from the app, or to stand in for one).

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{json, Value};

use crate::webdriver::Browser;

/// ChromeDriver's `goog/cdp/execute`: one DevTools command.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

impl Browser {
    /// Runs a DevTools command and returns its result.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|err| panic!("DevTools {cmd} failed: {err}"))
    }

    /// Runs `source` in every document this tab opens from now on, before
    /// any script of the page.
    pub async fn before_every_page(&self, source: &str) {
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": source }),
        )
        .await;
    }
}
