//! Headless Chromium through ChromeDriver (Debian's `chromium` and
//! `chromium-driver`), driven with fantoccini.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

pub const DEADLINE: Duration = Duration::from_secs(20);

/// A ChromeDriver process and one browser session, both ended on drop.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    pub async fn start() -> Browser {
        Self::start_with(false).await
    }

    /// A browser that also logs every request it makes, for
    /// [`Browser::requested_urls`].
    pub async fn start_logging_network() -> Browser {
        Self::start_with(true).await
    }

    async fn start_with(log_network: bool) -> Browser {
        let driver_path = which("chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let webdriver = format!("http://127.0.0.1:{port}");
        wait_until_ready(&webdriver).await;

        let profile = TempDir(std::env::temp_dir().join(format!("malten-chromium-{port}")));
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1024,768",
                    format!("--user-data-dir={}", profile.0.display()),
                ],
            }),
        );
        if log_network {
            capabilities["goog:chromeOptions"]["perfLoggingPrefs"] = json!({"enableNetwork": true});
            capabilities.insert(
                "goog:loggingPrefs".into(),
                json!({"browser": "ALL", "performance": "ALL"}),
            );
        } else {
            capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        }
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .expect("a Chromium session");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|err| panic!("cannot open {url}: {err}"));
    }

    /// Runs `script` in the page and returns its result.
    pub async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|err| panic!("script failed: {err}"))
    }

    pub async fn wait_for(&self, css: &str) {
        self.client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no element {css}: {err}"));
    }

    /// Sets an input's value the way typing does (an `input` event), which
    /// also works for characters ChromeDriver cannot type, such as emoji.
    pub async fn fill(&self, css: &str, text: &str) {
        self.wait_for(css).await;
        let script = "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                      el.dispatchEvent(new Event('input', {bubbles: true}));";
        self.client
            .execute(script, vec![json!(css), json!(text)])
            .await
            .unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Polls `script` (with `args`) until it returns true.
    pub async fn wait_until(&self, what: &str, script: &str, args: Vec<Value>) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if self.client.execute(script, args.clone()).await.ok() == Some(Value::Bool(true)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_for_text(&self, css: &str, text: &str) {
        self.wait_until(
            &format!("{css} to contain {text:?}"),
            "const el = document.querySelector(arguments[0]); return !!el && el.textContent.includes(arguments[1]);",
            vec![json!(css), json!(text)],
        )
        .await;
    }

    /// Waits until a message with exactly this text is shown.
    pub async fn wait_for_message(&self, text: &str) {
        self.wait_until(
            &format!("message {text:?}"),
            "return [...document.querySelectorAll('[data-testid=message-text]')].some(e => e.textContent === arguments[0]);",
            vec![json!(text)],
        )
        .await;
    }

    /// The texts of the shown messages, in order (notices excluded).
    pub async fn message_texts(&self) -> Vec<String> {
        let texts = self
            .script("return [...document.querySelectorAll('[data-testid=message]:not(.notice) [data-testid=message-text]')].map(e => e.textContent);")
            .await;
        serde_json::from_value(texts).unwrap()
    }

    /// Types into the composer, sends, and waits until the post succeeded
    /// (the composer empties).
    pub async fn send_message(&self, text: &str) {
        self.fill("[data-testid=composer-input]", text).await;
        self.click("[data-testid=send]").await;
        self.wait_until(
            "the composer to empty after sending",
            "return document.querySelector('[data-testid=composer-input]').value === '';",
            vec![],
        )
        .await;
        self.wait_for_message(text).await;
    }

    pub async fn count(&self, css: &str) -> u64 {
        self.client
            .execute(
                "return document.querySelectorAll(arguments[0]).length;",
                vec![json!(css)],
            )
            .await
            .unwrap()
            .as_u64()
            .unwrap()
    }

    pub async fn value_of(&self, css: &str) -> String {
        self.wait_for(css).await;
        self.client
            .execute(
                "return document.querySelector(arguments[0]).value;",
                vec![json!(css)],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn save_screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(path, png).unwrap();
    }

    pub async fn assert_no_console_errors(&self) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "console errors: {errors:#?}");
    }

    /// Waits for an element and returns its text.
    pub async fn text_of(&self, css: &str) -> String {
        let element = self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no element {css}: {err}"));
        element.text().await.unwrap()
    }

    /// Console messages at SEVERE level (errors and uncaught exceptions).
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(crate::devtools::log("browser"))
            .await
            .expect("browser log");
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn which(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| panic!("{program} not found: install Debian's chromium and chromium-driver (make test does)"))
}

async fn wait_until_ready(webdriver: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Ok(response) = reqwest::get(format!("{webdriver}/status")).await {
            if let Ok(status) = response.json::<Value>().await {
                if status["value"]["ready"] == true {
                    return;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
