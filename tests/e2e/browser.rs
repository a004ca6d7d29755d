//! The approval page in a real browser, used as a person uses it: headless Chromium (Debian's
//! `chromium`) driven over WebDriver (`chromedriver`). The server runs for a client that
//! cannot elicit, with `$BROWSER` set to a script that hands the page's URL to the test (as a
//! real browser command would get it); the test reads the page, types a name, clicks, and
//! reloads, and checks what reached the API. Screenshots are kept in `target/screenshots/`.
//!
//! Skipped, saying why, when Chromium or chromedriver is missing, unless `REQUIRE_BROWSER=1`
//! (CI installs both and sets it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use kube_sim::Scenario;
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Host, HostOptions, Lifecycle, refusal, structured, tempdir};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium under chromedriver, for one test.
struct Browser {
    client: fantoccini::Client,
    driver: tokio::process::Child,
    _profile: tempdir::Dir,
}

impl Browser {
    /// A headless Chromium, or None (after saying why) when it cannot run here.
    async fn start() -> Option<Self> {
        let missing = [CHROMIUM, "chromedriver"]
            .into_iter()
            .find(|program| which(program).is_none());
        if let Some(program) = missing {
            assert!(
                std::env::var("REQUIRE_BROWSER").as_deref() != Ok("1"),
                "REQUIRE_BROWSER=1 but {program} is not installed (Debian: chromium, chromium-driver)"
            );
            eprintln!("skipping the browser test: {program} is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempdir::Dir::new("chromium");
        let capabilities = json!({"goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1280,1800",
                     format!("--user-data-dir={}", profile.path().display())],
        }});
        let capabilities = capabilities.as_object().cloned().expect("an object");
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => {
                    return Some(Self {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last:?}")
    }

    async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .expect("a body")
            .text()
            .await
            .expect("its text")
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is kept");
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}

/// Where screenshots are kept: `<target>/screenshots`.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("screenshots")
}

fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).exists().then(|| PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.exists())
}

/// A scenario whose texts try to break out of the page.
fn hostile() -> Scenario {
    Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(1)
                .revision(|t| {
                    t.image("app", "web:1")
                        .change_cause("good <img src=x onerror=alert(1)>\nWarnings: none")
                        .days_ago(2)
                })
                .revision(|t| {
                    t.image("app", "web:2-crashloop")
                        .change_cause("bad \u{202e}deploy")
                        .days_ago(1)
                })
        })
        .build()
}

const REASON: &str = "errors since web:2 <script>document.title='pwned'</script>";

fn undo() -> Value {
    json!({"resource_type": "deployment", "name": "web", "namespace": "shop",
           "to_revision": 1, "reason": REASON})
}

/// Who the client is: Claude Desktop (it declares elicitation but never shows the form), or a
/// client that declares none.
#[derive(Clone, Copy)]
enum Client {
    ClaudeDesktop,
    NoElicitation,
}

/// A host whose client cannot show a form, whose server opens the page through `$BROWSER`,
/// which writes the URL to a file the test reads.
async fn host(
    backend: Backend,
    client: Client,
    scenario: Scenario,
    dir: &tempdir::Dir,
) -> (Host, PathBuf) {
    let urls = dir.path().join("urls");
    let opener = dir.path().join("browser.sh");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\n", urls.display()),
    )
    .expect("the opener script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut options = HostOptions::new(Lifecycle::Handshake)
        .on(backend)
        .env("BROWSER", &opener);
    match client {
        Client::ClaudeDesktop => options.client_name = "claude-ai".into(),
        Client::NoElicitation => options.elicitation = false,
    }
    (Host::start_with(scenario, options).await, urls)
}

/// The URL the server handed to the browser command.
async fn opened(urls: &Path) -> String {
    for _ in 0..400 {
        if let Some(url) = std::fs::read_to_string(urls)
            .ok()
            .and_then(|text| text.lines().next().map(str::to_string))
        {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not open the approval page")
}

on_both_backends!(a_person_declines_or_approves_on_the_page_in_a_real_browser);
async fn a_person_declines_or_approves_on_the_page_in_a_real_browser(backend: Backend) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let label = match backend {
        Backend::Sim => "sim",
        Backend::Real => "real",
    };

    // Declined: nothing is written.
    let dir = tempdir::Dir::new("browser-decline");
    let (declining, urls) = host(backend, Client::ClaudeDesktop, hostile(), &dir).await;
    let (result, ()) = tokio::join!(declining.call("k8s_rollout_undo", undo()), async {
        let url = opened(&urls).await;
        browser.client.goto(&url).await.expect("the page loads");
        let text = browser.text().await;
        for shown in [
            "Approve rolling back deployment",
            "web",
            "Revision",
            "web:2-crashloop",
            "web:1",
            "Your name",
            "Approve rollback",
            "Decline",
            "The agent wrote (its words, not verified)",
            "<script>document.title='pwned'</script>",
            "<img src=x onerror=alert(1)>\\nWarnings: none",
            "\\u{202e}deploy",
        ] {
            assert!(text.contains(shown), "{shown:?} shown as text:\n{text}");
        }
        let title = browser.client.title().await.unwrap();
        assert!(
            title.starts_with("Approve rolling back deployment ")
                && title.ends_with("/web to revision 1?"),
            "{title}"
        );
        assert!(
            browser
                .client
                .find_all(Locator::Css("script, img"))
                .await
                .unwrap()
                .is_empty(),
            "no text of the agent or the cluster became markup"
        );
        browser.screenshot(&format!("approval-page-{label}")).await;
        browser
            .client
            .find(Locator::Css("button.decline"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    });
    assert!(
        refusal(&result).contains("declined"),
        "{}",
        refusal(&result)
    );
    assert!(
        declining.writes().await.is_empty(),
        "declined: nothing written"
    );
    let declined = declining.audit();
    let last = declined.last().unwrap();
    assert_eq!(
        (&last["event"], &last["approval_path"]),
        (&json!("declined"), &json!("browser"))
    );
    browser.client.refresh().await.unwrap();
    let text = browser.text().await;
    assert!(
        text.contains("Declined") && !text.contains("Approve rollback"),
        "{text}"
    );

    // Approved with a typed name: one PATCH, the name on the record and in the change-cause.
    let dir = tempdir::Dir::new("browser-approve");
    let (approving, urls) = host(backend, Client::NoElicitation, hostile(), &dir).await;
    let (result, ()) = tokio::join!(approving.call("k8s_rollout_undo", undo()), async {
        let url = opened(&urls).await;
        browser.client.goto(&url).await.expect("the page loads");
        let name = browser.client.find(Locator::Id("approver")).await.unwrap();
        let prefilled = name.prop("value").await.unwrap().unwrap_or_default();
        assert!(!prefilled.is_empty(), "prefilled with the OS user");
        name.clear().await.unwrap();
        name.send_keys("Jane Doe").await.unwrap();
        browser
            .client
            .find(Locator::Css("button.approve"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    });
    let report = structured(&result);
    assert_eq!(report["outcome"], "rolled_back", "{report}");
    assert!(
        report["change_cause"]
            .as_str()
            .unwrap()
            .contains("approved by Jane Doe via k8s-rollout-mcp"),
        "{report}"
    );
    let writes = approving.writes().await;
    assert_eq!(writes.len(), 1, "one PATCH: {writes:#?}");
    let audit = approving.audit();
    let approved = audit.iter().find(|r| r["event"] == "approved").unwrap();
    assert_eq!(approved["approver"], "Jane Doe");
    assert_eq!(approved["approval_path"], "browser");
    // The page tells the outcome, also on reload, in place of the buttons.
    for _ in 0..40 {
        browser.client.refresh().await.unwrap();
        if browser.text().await.contains("Written:") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let text = browser.text().await;
    assert!(
        text.contains("Written:") && !text.contains("Approve rollback"),
        "{text}"
    );
    browser
        .screenshot(&format!("approval-page-outcome-{label}"))
        .await;

    // The demo's page, as the README shows it.
    let dir = tempdir::Dir::new("browser-demo");
    let (demo, urls) = host(backend, Client::ClaudeDesktop, Scenario::demo(), &dir).await;
    let demo_undo = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop",
                           "to_revision": 3, "reason": "checkout errors since the 1.3.0 deploy"});
    let (result, ()) = tokio::join!(demo.call("k8s_rollout_undo", demo_undo), async {
        browser.client.goto(&opened(&urls).await).await.unwrap();
        assert!(browser.text().await.contains("api-server:1.2.0"));
        browser
            .screenshot(&format!("approval-page-demo-{label}"))
            .await;
        browser
            .client
            .find(Locator::Css("button.decline"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    });
    refusal(&result);
    browser.stop().await;
}
