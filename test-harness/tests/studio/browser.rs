//! Headless Chromium driven through chromedriver (WebDriver, with fantoccini), one browser at a
//! time in this test binary. The browser is required: a missing Chromium or chromedriver is a
//! failure that says how to install them (`scripts/test.sh` does), never a skip.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

/// One browser at a time: the machine has two cores, shared with the studio, its plugin and moto.
static ONE_BROWSER: Semaphore = Semaphore::const_new(1);

/// How long a wait for the page may take.
const WAIT: Duration = Duration::from_secs(30);

fn program(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} is missing: the studio's browser tests need Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver, as scripts/test.sh does), or {env} set to \
         the program",
        path.display()
    );
    path
}

/// A headless Chromium session (and the chromedriver serving it), closed when dropped.
pub(crate) struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    /// The process group of chromedriver and the Chromium it starts, ended on drop when the
    /// session was not closed (a failed test).
    group: Option<u32>,
    _profile: tempfile::TempDir,
    _permit: SemaphorePermit<'static>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile, `width` pixels wide.
    pub(crate) async fn start(width: u32, height: u32) -> Browser {
        let permit = ONE_BROWSER.acquire().await.expect("the browser semaphore");
        let chromium = program("STUDIO_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = program("STUDIO_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let group = driver.id();
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("a browser profile folder");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a headless Chromium session");
        Browser {
            client,
            driver,
            group,
            _profile: profile,
            _permit: permit,
        }
    }

    /// Opens the studio and waits until its forms are made.
    pub(crate) async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .expect("the studio's page opens");
        self.wait_for(
            "the page to be ready",
            "document.body.dataset.ready === 'true'",
        )
        .await;
    }

    /// The element with this id.
    pub(crate) async fn id(&self, id: &str) -> Element {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no element #{id}: {e}"))
    }

    /// Clears the input `id` and types `text` into it.
    pub(crate) async fn type_into(&self, id: &str, text: &str) {
        let element = self.id(id).await;
        element.clear().await.unwrap();
        if !text.is_empty() {
            element.send_keys(text).await.unwrap();
        }
    }

    /// Sets a long text (a PEM, JSON Lines) in a text area as pasting does, with an input event.
    pub(crate) async fn paste(&self, id: &str, text: &str) {
        self.script(
            "const e = document.getElementById(arguments[0]); e.value = arguments[1]; \
             e.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![json!(id), json!(text)],
        )
        .await;
    }

    /// Chooses a file in the file input `id`, as a person picking it does.
    pub(crate) async fn choose_file(&self, id: &str, path: &Path) {
        let path = path.canonicalize().expect("the file to choose");
        self.id(id)
            .await
            .send_keys(&path.display().to_string())
            .await
            .unwrap();
    }

    /// Selects the option with `value` in the select `id`.
    pub(crate) async fn select(&self, id: &str, value: &str) {
        self.id(id).await.select_by_value(value).await.unwrap();
    }

    /// Clicks the element `id`.
    pub(crate) async fn click(&self, id: &str) {
        self.id(id).await.click().await.unwrap();
    }

    /// The visible text of the element `id`.
    pub(crate) async fn text(&self, id: &str) -> String {
        self.id(id).await.text().await.unwrap()
    }

    /// An element's property (`value`, `checked`) as text.
    pub(crate) async fn prop(&self, id: &str, name: &str) -> Option<String> {
        self.id(id).await.prop(name).await.unwrap()
    }

    /// An element's attribute.
    pub(crate) async fn attr(&self, id: &str, name: &str) -> Option<String> {
        self.id(id).await.attr(name).await.unwrap()
    }

    /// Whether the element `id` is shown.
    pub(crate) async fn shown(&self, id: &str) -> bool {
        self.id(id).await.is_displayed().await.unwrap()
    }

    /// Runs a script in the page; its result.
    pub(crate) async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Waits until a JavaScript expression is true; panics after 30 s with the page's status
    /// lines.
    pub(crate) async fn wait_for(&self, what: &str, expression: &str) {
        let deadline = Instant::now() + WAIT;
        let script = format!("return !!({expression});");
        loop {
            if self.script(&script, vec![]).await == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let status = self
                    .script(
                        "return Array.from(document.querySelectorAll('.status, [role=status]')).map(e => e.id + ': ' + e.textContent).join('\\n');",
                        vec![],
                    )
                    .await;
                panic!(
                    "waited 30 s for {what} ({expression}); the page says:\n{}",
                    status.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's HTML as it is now.
    pub(crate) async fn html(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// With `STUDIO_SCREENSHOTS=1`, writes a screenshot of the page to `docs/studio/NAME.png`,
    /// scrolled so that the element `top` is at the top of the window.
    pub(crate) async fn screenshot(&self, name: &str, top: &str) {
        if std::env::var("STUDIO_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        self.script(
            "document.getElementById(arguments[0]).scrollIntoView({block: 'start'}); \
             document.activeElement && document.activeElement.blur();",
            vec![json!(top)],
        )
        .await;
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/studio");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Closes the session and stops chromedriver.
    pub(crate) async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        self.group = None;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            // The group this test started (chromedriver's own id): its Chromium goes with it.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
        }
    }
}
