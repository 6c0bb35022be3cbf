//! Chromium's DevTools protocol through ChromeDriver, for what WebDriver
//! cannot do: a script that runs before the page's own (to take an API away
//! from the app, or to stand in for one), and the list of every request the
//! page made (ChromeDriver's `performance` log, which carries the DevTools
//! `Network` events).

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{json, Value};

use crate::webdriver::Browser;

/// A ChromeDriver command that fantoccini does not wrap: a POST of `body`
/// to `session/<id>/<path>` (`goog/cdp/execute` for DevTools, `se/log` for
/// the browser's and the performance logs).
#[derive(Debug)]
pub struct ChromeDriverCommand {
    pub path: &'static str,
    pub body: Value,
}

impl WebDriverCompatibleCommand for ChromeDriverCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// One of ChromeDriver's logs (`browser`, `performance`), as it has it now.
pub fn log(kind: &str) -> ChromeDriverCommand {
    ChromeDriverCommand {
        path: "se/log",
        body: json!({ "type": kind }),
    }
}

impl Browser {
    /// Runs a DevTools command and returns its result.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(ChromeDriverCommand {
                path: "goog/cdp/execute",
                body: json!({"cmd": cmd, "params": params}),
            })
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

    /// The URL of every request the page started since the last call (the
    /// browser must have been started with [`Browser::start_logging_network`]).
    pub async fn requested_urls(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(log("performance"))
            .await
            .expect("the performance log");
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| serde_json::from_str::<Value>(entry["message"].as_str()?).ok())
            .filter(|message| message["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|message| {
                Some(
                    message["message"]["params"]["request"]["url"]
                        .as_str()?
                        .to_owned(),
                )
            })
            .collect()
    }
}
