//! The web explorer in a real browser: Debian's chromium, headless, driven through a
//! chromedriver that each test starts on a free port and kills at the end. Every page visited
//! is saved as a screenshot under `target/explorer-screenshots/` for people to look at.
//!
//! `KGNODE_CHROMIUM` and `KGNODE_CHROMEDRIVER` override `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` (`.ci/run` installs both).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::harness::{As, TestNode, eventually, spawn_node};

/// A headless chromium session and the chromedriver that runs it.
struct Browser {
    client: Client,
    /// Held only to be dropped: after `Drop` has ended the session, it kills chromedriver.
    _driver: Driver,
    /// chromedriver's port.
    port: u16,
    /// The WebDriver session, until it is ended.
    session: Option<String>,
    base: String,
}

/// The chromedriver child process, killed (by its own handle, so only it) when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (the listener is closed before chromedriver binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn program(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

impl Browser {
    /// Starts chromedriver and a 1400×900 headless chromium session for `node`.
    async fn open(node: &TestNode) -> Self {
        let port = free_port();
        let chromedriver = program("KGNODE_CHROMEDRIVER", "/usr/bin/chromedriver");
        let driver = Driver(
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {chromedriver}: {error}")),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let status = format!("{webdriver}/status");
        let http = reqwest::Client::new();
        eventually("chromedriver to listen", || async {
            let body: Value = http.get(&status).send().await.ok()?.json().await.ok()?;
            (body["value"]["ready"] == true).then_some(())
        })
        .await;
        let capabilities = json!({
            "browserName": "chrome",
            // An alert stays open (instead of being dismissed) so that a test can see it.
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {
                "binary": program("KGNODE_CHROMIUM", "/usr/bin/chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,900",
                         "--no-first-run", "--disable-extensions"],
            },
        });
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities.as_object().unwrap().clone());
        let client = builder
            .connect(&webdriver)
            .await
            .expect("a chromium session");
        let session = client.session_id().await.unwrap();
        Browser {
            client,
            _driver: driver,
            port,
            session,
            base: node.base.clone(),
        }
    }

    /// Opens an explorer route (`#/...`) and waits until its view has rendered.
    async fn visit(&self, route: &str) {
        self.client
            .goto(&format!("{}/{route}", self.base))
            .await
            .unwrap();
        self.until_ready().await;
    }

    /// Waits until the current view has rendered (`main[data-ready=true]`).
    async fn until_ready(&self) {
        self.until("the view to render", "const v = document.getElementById('view'); return v && v.dataset.ready === 'error' ? 'error: ' + document.getElementById('notice').textContent : (v && v.dataset.ready === 'true' ? 'ok' : null);")
            .await
            .as_str()
            .filter(|state| *state == "ok")
            .map(|_| ())
            .unwrap_or_else(|| panic!("the view failed to render"));
    }

    /// Runs `script` (a function body) until it returns something other than null or false;
    /// returns that.
    async fn until(&self, what: &str, script: &str) -> Value {
        eventually(what, || async {
            let value = self.client.execute(script, vec![]).await.ok()?;
            (!value.is_null() && value != Value::Bool(false)).then_some(value)
        })
        .await
    }

    /// Runs `script` (a function body) once.
    async fn run(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css}: {error}"))
    }

    /// Clicks the first element matching `css` (a link to another route) and waits for the
    /// view it leads to.
    async fn follow(&self, css: &str) {
        let before = self.run("return location.hash;").await;
        self.find(css).await.click().await.unwrap();
        self.until(
            "the address to change",
            &format!("return location.hash !== {before};"),
        )
        .await;
        self.until_ready().await;
    }

    /// Saves a screenshot as `target/explorer-screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Fails the test when the page has an open alert, broke its Content-Security-Policy,
    /// loaded anything from another origin, or is wider than the window.
    async fn assert_clean(&self) {
        if let Ok(text) = self.client.get_alert_text().await {
            panic!("an alert opened: {text}");
        }
        let state = self
            .run(
                "return {
                    violations: Number(document.documentElement.dataset.cspViolations || 0),
                    lastViolation: document.documentElement.dataset.cspLast || null,
                    foreign: performance.getEntriesByType('resource').map(e => e.name)
                        .filter(name => !name.startsWith(location.origin + '/')),
                    overflow: document.documentElement.scrollWidth - window.innerWidth,
                    handlers: document.querySelectorAll('[onerror], [onload], [onclick], script:not([src])').length,
                };",
            )
            .await;
        assert_eq!(state["violations"], 0, "CSP violations: {state}");
        assert_eq!(
            state["foreign"],
            json!([]),
            "requests left the origin: {state}"
        );
        assert!(
            state["overflow"].as_i64().unwrap() <= 0,
            "wider than the window: {state}"
        );
        assert_eq!(state["handlers"], 0, "inline handlers or scripts: {state}");
    }

    async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    /// Ends the session (chromium quits), then chromedriver.
    async fn close(mut self) {
        let client = self.client.clone();
        if client.close().await.is_ok() {
            self.session = None;
        }
        self.stop();
    }

    /// Ends the WebDriver session (chromedriver then quits the chromium it launched); the
    /// chromedriver child itself is killed when `driver` drops. Synchronous, so that it also
    /// runs when a failing test unwinds.
    fn stop(&mut self) {
        if let Some(session) = self.session.take() {
            use std::io::{Read, Write};
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    stream,
                    "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n",
                    self.port
                );
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `target/explorer-screenshots`, found from the test binary (`target/<profile>/deps/...`).
fn screenshot_dir() -> PathBuf {
    let binary = std::env::current_exe().unwrap();
    binary
        .ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<binary>")
        .join("explorer-screenshots")
}

/// A text of the current page's element `css` (textContent), or null.
fn text_of(css: &str) -> String {
    format!(
        "const e = document.querySelector({}); return e ? e.textContent : null;",
        json!(css)
    )
}

async fn relate(node: &TestNode, source: &str, target: &str, kind: &str) -> String {
    node.post(
        "/api/v1/relationships",
        json!({"source": source, "target": target, "kind": kind}),
    )
    .await
    .expect(201)
    .id()
}

fn artifact(kind: &str, title: &str, body: &str, dimensions: Value) -> Value {
    json!({"kind": kind, "title": title, "body": body, "dimensions": dimensions})
}

#[tokio::test]
async fn a_reader_goes_from_the_list_to_a_related_artifact() {
    let node = spawn_node().await;
    node.convergence("garden", "public").await;
    node.convergence("hidden", "private").await;
    let barrels = node
        .artifact(
            "garden",
            artifact(
                "proposal",
                "Rain barrels on every shed",
                "Collect **rain** from the roofs.\n\n- cheap\n- simple",
                json!({"water": 0.9, "sheds": 0.4}),
            ),
        )
        .await;
    let august = node
        .artifact(
            "garden",
            artifact(
                "question",
                "Who waters the gardens in August?",
                "Most of us travel; the rain barrels would help.",
                json!({"water": 0.7}),
            ),
        )
        .await;
    node.artifact(
        "garden",
        artifact(
            "idea",
            "A rain garden by the gate",
            "",
            json!({"water": 0.2}),
        ),
    )
    .await;
    relate(&node, &barrels, &august, "answers").await;
    node.settle().await;

    let browser = Browser::open(&node).await;
    browser.visit("").await;
    let links = browser
        .run("return [...document.querySelectorAll('[data-testid=convergence-link]')].map(a => a.textContent);")
        .await;
    assert_eq!(links, json!(["garden"]), "the private one needs a token");
    browser.screenshot("01-convergences").await;
    browser.assert_clean().await;

    browser.follow("[data-testid=convergence-link]").await;
    let bars = browser
        .until(
            "the dimension bars",
            "const bars = [...document.querySelectorAll('[data-testid=dimension-bar]')]; return bars.length ? bars.map(b => [b.dataset.dimension, Number(b.dataset.count)]) : null;",
        )
        .await;
    assert_eq!(bars, json!([["water", 3], ["sheds", 1]]));
    let newest = browser
        .run("return [...document.querySelectorAll('[data-testid=live-item] a')].map(a => a.textContent);")
        .await;
    assert_eq!(
        newest,
        json!([
            "A rain garden by the gate",
            "Who waters the gardens in August?",
            "Rain barrels on every shed"
        ])
    );
    browser.screenshot("02-convergence").await;
    browser.assert_clean().await;

    let input = browser.find("[data-testid=search-input]").await;
    input.send_keys("rain\n").await.unwrap();
    browser
        .until(
            "the search page",
            "return document.getElementById('view').dataset.view === 'search';",
        )
        .await;
    browser.until_ready().await;
    let hits = browser
        .until(
            "three results",
            "const r = document.querySelectorAll('[data-testid=search-result]'); return r.length === 3 ? r.length : null;",
        )
        .await;
    assert_eq!(hits, 3);
    let marked = browser
        .run("return [...document.querySelectorAll('[data-testid=search-result] mark')].map(m => m.textContent.toLowerCase());")
        .await;
    assert!(
        marked.as_array().unwrap().iter().all(|m| m == "rain"),
        "{marked}"
    );
    assert!(!marked.as_array().unwrap().is_empty());
    browser.screenshot("03-search").await;
    browser.assert_clean().await;

    // Facets narrow the results; the pressed one shows as pressed.
    browser
        .find("[data-testid=facet][data-facet=kind][data-value=proposal]")
        .await
        .click()
        .await
        .unwrap();
    let titles = browser
        .until(
            "only the proposal",
            "const r = [...document.querySelectorAll('[data-testid=search-result] .result-title')]; return r.length === 1 ? r.map(a => a.textContent) : null;",
        )
        .await;
    assert_eq!(titles, json!(["Rain barrels on every shed"]));
    let pressed = browser
        .run("return document.querySelector('[data-testid=facet][data-value=proposal]').getAttribute('aria-pressed');")
        .await;
    assert_eq!(pressed, "true");
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("kind=proposal"),
        "the search is kept in the address"
    );

    browser
        .follow("[data-testid=search-result] .result-title")
        .await;
    assert_eq!(
        browser.run(&text_of("[data-testid=artifact-title]")).await,
        "Rain barrels on every shed"
    );
    let body = browser
        .run("const b = document.querySelector('[data-testid=artifact-body]'); return [b.querySelector('strong')?.textContent, b.querySelectorAll('li').length];")
        .await;
    assert_eq!(body, json!(["rain", 2]), "the body is rendered Markdown");
    assert_eq!(
        browser
            .run(&text_of("[data-testid=artifact-version]"))
            .await,
        "version 1"
    );
    browser.screenshot("04-artifact").await;
    browser.assert_clean().await;

    browser.follow("[data-testid=relationship-link]").await;
    assert_eq!(
        browser.run(&text_of("[data-testid=artifact-title]")).await,
        "Who waters the gardens in August?"
    );
    // And back along the incoming edge.
    let incoming = browser
        .run("return [...document.querySelectorAll('[data-testid=relationship-link]')].map(a => [a.dataset.id, a.dataset.kind, a.textContent]);")
        .await;
    assert_eq!(
        incoming,
        json!([[barrels, "answers", "Rain barrels on every shed"]])
    );

    // The narrow layout: one column, nothing wider than the window.
    browser.resize(400, 900).await;
    browser.visit("#/c/garden").await;
    browser.screenshot("05-convergence-400px").await;
    browser.assert_clean().await;
    browser.visit(&format!("#/a/{barrels}")).await;
    browser.screenshot("06-artifact-400px").await;
    browser.assert_clean().await;
    browser.visit("#/search?q=rain&convergence=garden").await;
    browser.screenshot("06-search-400px").await;
    browser.assert_clean().await;
    browser.close().await;
}

#[tokio::test]
async fn the_graph_view_draws_what_the_api_answers() {
    let node = spawn_node().await;
    node.convergence("web", "public").await;
    let centre = node
        .artifact("web", artifact("idea", "Centre", "", json!({})))
        .await;
    let mut ring = Vec::new();
    for (i, kind) in ["question", "claim", "evidence", "proposal"]
        .iter()
        .enumerate()
    {
        let id = node
            .artifact("web", artifact(kind, &format!("Ring {i}"), "", json!({})))
            .await;
        if i % 2 == 0 {
            relate(&node, &centre, &id, "supports").await;
        } else {
            relate(&node, &id, &centre, "relates_to").await;
        }
        let leaf = node
            .artifact(
                "web",
                artifact("resource", &format!("Leaf {i}"), "", json!({})),
            )
            .await;
        relate(&node, &id, &leaf, "extends").await;
        ring.push(id);
    }
    relate(&node, &ring[0], &ring[1], "contradicts").await;
    node.settle().await;

    let browser = Browser::open(&node).await;
    for (depth, direction, limit) in [
        (1, "both", 200),
        (2, "out", 200),
        (2, "both", 200),
        (3, "both", 5),
    ] {
        let query = format!("depth={depth}&direction={direction}&limit={limit}");
        let api = node
            .get(&format!("/api/v1/graph/neighborhood/{centre}?{query}"))
            .await
            .expect(200)
            .body;
        browser.visit(&format!("#/graph/{centre}?{query}")).await;
        let drawn = browser
            .until(
                "the graph to be drawn",
                "const g = document.querySelector('[data-testid=graph-view][data-ready=true]'); return g ? [Number(g.dataset.nodeCount), Number(g.dataset.edgeCount), !document.querySelector('[data-testid=graph-truncated]').hidden] : null;",
            )
            .await;
        assert_eq!(
            drawn,
            json!([
                api["nodes"].as_array().unwrap().len(),
                api["edges"].as_array().unwrap().len(),
                api["truncated"]
            ]),
            "{query}"
        );
        // The canvas holds exactly those ids.
        let ids = browser
            .run("const g = document.querySelector('[data-testid=graph-view]'); return [...document.querySelectorAll('[data-testid=graph-node-link]')].map(a => a.getAttribute('href').split('/').pop()).sort();")
            .await;
        let mut expected: Vec<&str> = api["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        expected.sort();
        assert_eq!(ids, json!(expected), "{query}");
        browser
            .screenshot(&format!("07-graph-depth{depth}-{direction}-limit{limit}"))
            .await;
        browser.assert_clean().await;
    }
    assert_eq!(
        browser
            .run("return document.querySelector('[data-testid=graph-truncated]').hidden;")
            .await,
        false,
        "the cut answer says so"
    );

    // Expanding a leaf in place adds its neighbours that were not drawn yet.
    browser
        .visit(&format!("#/graph/{}?depth=1&direction=out", ring[0]))
        .await;
    let before = browser
        .until("the drawing", "const g = document.querySelector('[data-testid=graph-view][data-ready=true]'); return g ? Number(g.dataset.nodeCount) : null;")
        .await;
    assert_eq!(before, 3, "ring 0 → its leaf and ring 1");
    browser
        .run(&format!(
            "document.querySelector('li[data-id=\"{}\"] button').click(); return true;",
            ring[1]
        ))
        .await;
    let after = browser
        .until("the expanded drawing", "const n = Number(document.querySelector('[data-testid=graph-view]').dataset.nodeCount); return n > 3 ? n : null;")
        .await;
    assert_eq!(after, 5, "ring 1 adds the centre and its leaf");

    // Clicking a node's entry opens it.
    browser
        .run("document.querySelector('details').open = true; return true;")
        .await;
    browser
        .follow(&format!(
            "li[data-id=\"{}\"] [data-testid=graph-node-link]",
            ring[1]
        ))
        .await;
    assert_eq!(
        browser.run(&text_of("[data-testid=artifact-title]")).await,
        "Ring 1"
    );
    browser.close().await;
}

const TALK: &str = "How do we keep the gardens watered in August? We should build rain barrels \
                    on every shed. Rain barrels work because the shed roofs are large.";

#[tokio::test]
async fn writes_and_contributions_appear_live() {
    let node = spawn_node().await;
    node.convergence("live", "private").await;
    node.settle().await;

    let browser = Browser::open(&node).await;
    // Without a token the private convergence is not listed; the token pasted in Settings
    // shows it and lets the page write.
    browser.visit("").await;
    assert_eq!(
        browser
            .run("return document.querySelectorAll('[data-testid=convergence-link]').length;")
            .await,
        0
    );
    browser.visit("#/settings").await;
    browser
        .find("[data-testid=token-input]")
        .await
        .send_keys(&node.admin_token)
        .await
        .unwrap();
    browser
        .find("[data-testid=token-save]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the token to be accepted",
            "return document.querySelector('[data-testid=token-status]').dataset.state === 'saved';",
        )
        .await;
    browser.screenshot("08-settings").await;
    browser.visit("").await;
    browser.follow("[data-testid=convergence-link]").await;
    browser
        .until(
            "the stream to open",
            "return document.querySelector('[data-testid=stream-state]').dataset.state === 'open';",
        )
        .await;

    // An artifact written through the API shows up on the open page.
    let id = node
        .artifact(
            "live",
            artifact(
                "insight",
                "Written while you watch",
                "",
                json!({"live": 1.0}),
            ),
        )
        .await;
    let source = browser
        .until(
            "the new artifact on the page",
            &format!(
                "const e = document.querySelector('[data-testid=live-item][data-id=\"{id}\"]'); return e ? [e.dataset.source, e.querySelector('a').textContent] : null;"
            ),
        )
        .await;
    assert_eq!(source, json!(["stream", "Written while you watch"]));
    browser
        .until(
            "the counter to follow",
            "return document.querySelector('[data-testid=dimension-bar][data-dimension=live]')?.dataset.count === '1';",
        )
        .await;

    // A contribution: its status moves to complete and links to what it became.
    browser
        .find("[data-testid=contribute-input]")
        .await
        .send_keys(TALK)
        .await
        .unwrap();
    browser
        .find("[data-testid=contribute-submit]")
        .await
        .click()
        .await
        .unwrap();
    let status = browser
        .until(
            "the contribution to complete",
            "const s = document.querySelector('[data-testid=contribution-status]').dataset.status; return s === 'complete' || s === 'failed' || s === 'error' ? s : null;",
        )
        .await;
    assert_eq!(status, "complete");
    let links = browser
        .until(
            "links to the extracted artifacts",
            "const a = [...document.querySelectorAll('[data-testid=contribution-artifact]')]; return a.length ? a.map(x => x.getAttribute('href').split('/').pop()) : null;",
        )
        .await;
    let contributions = node
        .get_as("/api/v1/convergences/live/contributions", As::Admin)
        .await
        .expect(200)
        .body;
    let extracted = &contributions["items"][0]["artifacts"];
    assert_eq!(&links, extracted);
    // They also arrived on the newest list through the stream.
    for artifact in extracted.as_array().unwrap() {
        browser
            .until(
                "an extracted artifact in the newest list",
                &format!(
                    "return !!document.querySelector('[data-testid=live-item][data-id={artifact}]');"
                ),
            )
            .await;
    }
    browser.screenshot("09-contributed").await;
    browser.assert_clean().await;

    browser.follow("[data-testid=contribution-artifact]").await;
    assert_eq!(
        browser
            .run(&text_of("[data-testid=artifact-contribution]"))
            .await,
        contributions["items"][0]["id"]
    );
    browser.screenshot("10-extracted-artifact").await;

    // An edit made elsewhere shows on the open artifact page.
    let first = extracted[0].as_str().unwrap();
    node.patch(
        &format!("/api/v1/artifacts/{first}"),
        json!({"version": 1, "title": "Renamed elsewhere"}),
    )
    .await
    .expect(200);
    browser
        .until(
            "the new title",
            "return document.querySelector('[data-testid=artifact-title]').textContent === 'Renamed elsewhere';",
        )
        .await;
    assert_eq!(
        browser
            .run(&text_of("[data-testid=artifact-version]"))
            .await,
        "version 2"
    );
    // So does a new relationship to it.
    relate(&node, &id, first, "supports").await;
    browser
        .until(
            "the new incoming relationship",
            &format!(
                "return [...document.querySelectorAll('[data-testid=relationship-link]')].some(a => a.dataset.id === '{id}' && a.dataset.kind === 'supports');"
            ),
        )
        .await;
    browser.close().await;
}

#[tokio::test]
async fn hostile_text_stays_text() {
    const TITLE: &str = "<img src=x onerror=alert(1)>";
    let node = spawn_node().await;
    node.convergence("xss", "public").await;
    let hostile = node
        .artifact(
            "xss",
            json!({
                "kind": "claim",
                "title": TITLE,
                "author": "<script>alert(5)</script>",
                "body": "<script>alert(2)</script><img src=x onerror=alert(3)>\n\n\
                         [click](javascript:alert(4)) <b onclick=alert(6)>bold</b>\n\n\
                         <iframe src=\"/\"></iframe>",
                "dimensions": {"<svg onload=alert(7)>": 0.5},
            }),
        )
        .await;
    let other = node
        .artifact("xss", artifact("idea", "Plain neighbour", "", json!({})))
        .await;
    relate(&node, &other, &hostile, "contradicts").await;
    node.settle().await;

    let browser = Browser::open(&node).await;
    let pages = [
        ("#/c/xss".to_owned(), "11-xss-convergence"),
        ("#/search?q=img&convergence=xss".to_owned(), "12-xss-search"),
        (format!("#/a/{hostile}"), "13-xss-artifact"),
        (format!("#/a/{other}"), "14-xss-neighbour"),
        (format!("#/graph/{hostile}?depth=1"), "15-xss-graph"),
    ];
    for (route, name) in pages {
        browser.visit(&route).await;
        // Give the page its live parts (the stream, the graph) before looking.
        browser
            .until(
                "the page's lists",
                "return document.querySelectorAll('[data-testid=live-item], [data-testid=search-result], [data-testid=artifact-title], [data-testid=graph-view][data-ready=true]').length > 0;",
            )
            .await;
        let found = browser
            .run(&format!(
                "return {{
                    images: [...document.querySelectorAll('img')]
                        .filter(i => !i.closest('[data-testid=artifact-body]')).length,
                    svgs: document.querySelectorAll('svg').length,
                    frames: document.querySelectorAll('iframe').length,
                    javascriptLinks: document.querySelectorAll('a[href^=\"javascript\"]').length,
                    asText: [...document.querySelectorAll('a, h1')].filter(e => e.textContent === {}).length,
                }};",
                json!(TITLE)
            ))
            .await;
        assert_eq!(found["images"], 0, "{route}: {found}");
        assert_eq!(found["svgs"], 0, "{route}: {found}");
        assert_eq!(found["frames"], 0, "{route}: {found}");
        assert_eq!(found["javascriptLinks"], 0, "{route}: {found}");
        if !route.starts_with("#/graph") {
            assert!(
                found["asText"].as_i64().unwrap() >= 1,
                "{route}: the title shows as its characters: {found}"
            );
        }
        browser.screenshot(name).await;
        browser.assert_clean().await;
    }
    // Raw HTML in a body shows as its characters; the Markdown link lost its javascript: URL.
    browser.visit(&format!("#/a/{hostile}")).await;
    let body = browser
        .run("const b = document.querySelector('[data-testid=artifact-body]'); return [b.textContent, b.querySelectorAll('*').length, [...b.querySelectorAll('a')].map(a => [a.textContent, a.getAttribute('href')])];")
        .await;
    assert!(
        body[0]
            .as_str()
            .unwrap()
            .contains("<script>alert(2)</script><img src=x onerror=alert(3)>"),
        "{body}"
    );
    assert!(
        body[0]
            .as_str()
            .unwrap()
            .contains("<b onclick=alert(6)>bold</b>"),
        "{body}"
    );
    for link in body[2].as_array().unwrap() {
        assert!(
            !link[1].as_str().unwrap_or("").starts_with("javascript"),
            "{body}"
        );
    }
    browser.close().await;
}

#[tokio::test]
async fn explorer_answers_carry_security_and_cache_headers() {
    let node = spawn_node().await;
    let client = &node.client;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/explorer/js/app.js", "text/javascript; charset=utf-8"),
        ("/explorer/style.css", "text/css; charset=utf-8"),
        (
            "/explorer/vendor/cytoscape/cytoscape.esm.min.mjs",
            "text/javascript; charset=utf-8",
        ),
        (
            "/explorer/vendor/cytoscape/LICENSE",
            "text/plain; charset=utf-8",
        ),
    ] {
        let response = client.get(node.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        let policy = header("content-security-policy");
        assert!(policy.contains("default-src 'self'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        let etag = header("etag");
        assert!(etag.starts_with('"') && etag.len() > 2, "{path}: {etag}");
        let again = client
            .get(node.url(path))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    }
    // The page loads nothing from elsewhere.
    let page = client
        .get(node.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    assert!(
        !page.contains("style=") && !page.contains("<script>"),
        "{page}"
    );
    // Unknown files answer the API's error shape; the API and its docs are unchanged.
    node.get("/explorer/nope.js")
        .await
        .expect_error(404, "route_not_found");
    node.get("/explorer/../Cargo.toml").await.expect(404);
    node.get("/api/v1/openapi.json").await.expect(200);
    let docs = client.get(node.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    node.get("/api/v1/convergences").await.expect(200);
}

#[tokio::test]
async fn a_dropped_stream_resumes_with_what_it_missed() {
    let mut node = spawn_node().await;
    node.convergence("resume", "public").await;
    node.settle().await;
    let browser = Browser::open(&node).await;
    browser.visit("#/c/resume").await;
    let open =
        "return document.querySelector('[data-testid=stream-state]').dataset.state === 'open';";
    browser.until("the stream to open", open).await;
    let before = node
        .artifact("resume", artifact("idea", "Before the drop", "", json!({})))
        .await;
    browser
        .until(
            "the first artifact",
            &format!(
                "return !!document.querySelector('[data-testid=live-item][data-id=\"{before}\"]');"
            ),
        )
        .await;

    // The node goes away; another process on the same database takes a write meanwhile.
    node.stop().await;
    let (sibling, guard) = node.sibling().await;
    let missed = crate::harness::reply(
        node.client
            .post(format!("{sibling}/api/v1/convergences/resume/artifacts"))
            .bearer_auth(&node.admin_token)
            .json(&artifact(
                "question",
                "Written while the page was cut off",
                "",
                json!({}),
            )),
    )
    .await
    .expect(201)
    .id();
    guard.stop().await;

    // Back on the same port: the browser's EventSource reconnects with Last-Event-ID and the
    // node replays the write it missed.
    node.restart().await;
    let source = browser
        .until(
            "the missed artifact",
            &format!(
                "const e = document.querySelector('[data-testid=live-item][data-id=\"{missed}\"]'); return e ? e.dataset.source : null;"
            ),
        )
        .await;
    assert_eq!(source, "stream");
    browser.until("the stream to reopen", open).await;
    let listed = browser
        .run("return [...document.querySelectorAll('[data-testid=live-item]')].map(e => e.dataset.id);")
        .await;
    assert_eq!(listed, json!([missed, before]), "each once, newest first");
    browser.close().await;
}

#[tokio::test]
async fn a_participant_signs_in_and_sees_their_private_convergence() {
    let node = spawn_node().await;
    node.convergence("open-space", "public").await;
    node.convergence("circle", "private").await;
    let code = crate::accounts::invite(&node, "circle", "viewer", 1).await;
    crate::accounts::register(&node, "ada", Some(&code))
        .await
        .expect(201);
    let browser = Browser::open(&node).await;
    browser.visit("#/settings").await;
    for (field, text) in [
        ("login-username", "ada"),
        ("login-password", "wrong password!"),
    ] {
        browser
            .find(&format!("[data-testid={field}]"))
            .await
            .send_keys(text)
            .await
            .unwrap();
    }
    browser
        .find("[data-testid=login-submit]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the wrong password to be refused",
            "return document.querySelector('[data-testid=token-status]').dataset.state === 'refused';",
        )
        .await;
    let password = browser.find("[data-testid=login-password]").await;
    password.clear().await.unwrap();
    password.send_keys("correct horse battery").await.unwrap();
    browser
        .find("[data-testid=login-submit]")
        .await
        .click()
        .await
        .unwrap();
    let status = browser
        .until(
            "the sign-in",
            "const s = document.querySelector('[data-testid=token-status]'); return s.dataset.state === 'saved' ? s.textContent : null;",
        )
        .await;
    assert!(
        status.as_str().unwrap().contains("ada")
            && status.as_str().unwrap().contains("viewer in circle"),
        "{status}"
    );
    browser.screenshot("10-signed-in").await;
    browser.visit("").await;
    let links = browser
        .run("return [...document.querySelectorAll('[data-testid=convergence-link]')].map(a => a.textContent);")
        .await;
    assert_eq!(links, json!(["circle", "open-space"]));
    browser.visit("#/settings").await;
    browser
        .find("[data-testid=logout]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .until(
            "the sign-out",
            "return document.querySelector('[data-testid=token-status]').dataset.state === 'none';",
        )
        .await;
    assert_eq!(node.count("sessions WHERE ended_at IS NOT NULL").await, 1);
    browser.assert_clean().await;
    browser.close().await;
}

#[tokio::test]
async fn the_overview_draws_the_top_artifacts_and_the_edges_among_them() {
    let node = spawn_node().await;
    node.convergence("hub", "public").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let id = node
            .artifact("hub", artifact("idea", &format!("Idea {i}"), "", json!({})))
            .await;
        ids.push(id);
    }
    // Everything points at idea 0; a chain links the rest.
    for i in 1..8 {
        relate(&node, &ids[i], &ids[0], "supports").await;
        if i > 1 {
            relate(&node, &ids[i], &ids[i - 1], "extends").await;
        }
    }
    node.settle().await;
    let top = 5;
    let ranked = node
        .get(&format!(
            "/api/v1/graph/centrality?convergence=hub&algorithm=pagerank&top={top}"
        ))
        .await
        .expect(200)
        .body;
    let best: Vec<String> = ranked["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(best[0], ids[0], "the most pointed-at idea ranks first");
    let sub = node
        .get(&format!("/api/v1/graph/subgraph?ids={}", best.join(",")))
        .await
        .expect(200)
        .body;
    let edges = sub["edges"].as_array().unwrap().len();
    assert!(edges >= top - 1, "{sub}");

    let browser = Browser::open(&node).await;
    browser.visit("#/c/hub").await;
    browser.follow("[data-testid=overview-link]").await;
    browser.visit(&format!("#/overview/hub?top={top}")).await;
    let drawn = browser
        .until(
            "the overview",
            "const g = document.querySelector('[data-testid=graph-view][data-ready=true]'); return g ? [Number(g.dataset.nodeCount), Number(g.dataset.edgeCount)] : null;",
        )
        .await;
    assert_eq!(drawn, json!([top, edges]));
    browser.screenshot("11-overview").await;
    browser.assert_clean().await;
    browser.close().await;
}
