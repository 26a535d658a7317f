//! axe-core accessibility checks in the browser tests.
//!
//! axe-core comes from npm at test time, once, into `target/axe` (`.ci/run` installs it
//! beforehand; `MADOGUCHI_AXE_JS` may name another copy of `axe.min.js`). It is injected
//! with the WebDriver (script execution is not subject to the page's CSP) and checks the
//! page as rendered, open Shadow DOMs (the widget) included.
//!
//! API: [`serious_violations`] (the whole page) and [`serious_violations_in`] (what
//! matches a CSS selector), each answering one line per violation of impact "serious"
//! or "critical": `rule: help — targets`. An empty list is a pass.

use fantoccini::Client;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where axe-core is installed by default.
fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/axe")
}

/// The source of `axe.min.js`, installing axe-core with npm the first time.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let file = match std::env::var("MADOGUCHI_AXE_JS") {
            Ok(f) if !f.is_empty() => PathBuf::from(f),
            _ => {
                let dir = default_dir();
                let file = dir.join("node_modules/axe-core/axe.min.js");
                if !file.exists() {
                    let status = std::process::Command::new("npm")
                        .args(["install", "--no-audit", "--no-fund", "--prefix"])
                        .arg(&dir)
                        .arg("axe-core@4")
                        .status();
                    assert!(
                        matches!(status, Ok(s) if s.success()),
                        "installing axe-core with npm into {} failed ({status:?}); \
                         install it or set MADOGUCHI_AXE_JS",
                        dir.display()
                    );
                }
                file
            }
        };
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
    })
}

/// Serious and critical violations of the whole page (the console helper uses it).
#[allow(dead_code)]
pub async fn serious_violations(c: &Client) -> Vec<String> {
    run(c, "document").await
}

/// Serious and critical violations inside the elements matching `css` (e.g. the widget's
/// host `[data-madoguchi-widget]`; its Shadow DOM is included).
pub async fn serious_violations_in(c: &Client, css: &str) -> Vec<String> {
    let context = format!(
        "{{include: [[{}]]}}",
        serde_json::Value::String(css.to_owned())
    );
    run(c, &context).await
}

async fn run(c: &Client, context: &str) -> Vec<String> {
    let installed = c
        .execute(
            &format!("{}\n;return typeof axe !== 'undefined';", axe_source()),
            vec![],
        )
        .await
        .expect("injecting axe-core");
    assert_eq!(
        installed,
        serde_json::Value::Bool(true),
        "axe-core did not load"
    );
    let script = format!(
        "var done = arguments[arguments.length - 1];\
         axe.run({context}, {{resultTypes: ['violations']}}).then(function (r) {{\
           done(r.violations.filter(function (v) {{ return v.impact === 'serious' || v.impact === 'critical'; }})\
             .map(function (v) {{ return v.id + ': ' + v.help + ' — ' + v.nodes.map(function (n) {{\
               return JSON.stringify(n.target); }}).join(', '); }}));\
         }}, function (e) {{ done(['axe failed: ' + e]); }});"
    );
    let found = c
        .execute_async(&script, vec![])
        .await
        .expect("running axe-core");
    found
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
