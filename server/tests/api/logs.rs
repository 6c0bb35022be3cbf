use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::spawn_app;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// On a current-thread runtime every server task runs on this thread, so a
/// thread-local subscriber at the most verbose level sees every log line.
#[tokio::test(flavor = "current_thread")]
async fn logs_at_every_level_never_contain_message_text() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let secret = "correct-horse-battery-staple";
    let app = spawn_app().await;
    app.create_stream(&[("stream", "diary"), ("private", "false")])
        .await;
    let mut events = app.sse("stream=diary", None).await;
    app.post_ok("diary", secret).await;
    assert_eq!(events.texts(1).await, [secret]);
    app.messages("stream=diary").await;
    let _ = app
        .post_message("diary", &format!("{secret}{}", "!".repeat(1024)))
        .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("stream created"),
        "the capture works:\n{logs}"
    );
    assert!(
        !logs.contains(secret),
        "message text leaked into the logs:\n{logs}"
    );
}
