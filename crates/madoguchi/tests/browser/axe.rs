//! Accessibility checks with axe-core: the npm package is installed once per target
//! directory at test time (`npm install axe-core`, no network at build time), its
//! script injected into the page through WebDriver, and its serious and critical
//! violations answered as readable lines.

// Not every test binary uses every helper.
#![allow(dead_code)]

use fantoccini::Client;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The axe-core release the checks are written against.
const AXE_VERSION: &str = "4.10.2";

/// `axe.min.js`, installed on first use into `target/axe-core/`.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/axe-core");
        let script = dir.join("node_modules/axe-core/axe.min.js");
        if !script.exists() {
            std::fs::create_dir_all(&dir).expect("the axe-core directory");
            let status = std::process::Command::new("npm")
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--no-save",
                    "--prefix",
                ])
                .arg(&dir)
                .arg(format!("axe-core@{AXE_VERSION}"))
                .status()
                .expect("running npm (apt-get install -y npm)");
            assert!(status.success(), "npm install axe-core failed: {status}");
        }
        std::fs::read_to_string(&script).expect("reading axe.min.js")
    })
}

/// Runs axe-core on the page as it is now; answers one line per serious or critical
/// violation: `rule (impact): help — targets`.
pub async fn serious_violations(c: &Client) -> Vec<String> {
    let loaded = c
        .execute("return typeof window.axe === 'object'", vec![])
        .await
        .expect("checking for axe");
    if loaded != serde_json::Value::Bool(true) {
        // WebDriver scripts are not subject to the page's Content-Security-Policy.
        c.execute(axe_source(), vec![])
            .await
            .expect("injecting axe-core");
    }
    let result = c
        .execute_async(
            "var done = arguments[arguments.length - 1];
             window.axe.run(document, { resultTypes: ['violations'] }).then(function (r) {
               done(r.violations.filter(function (v) {
                 return v.impact === 'serious' || v.impact === 'critical';
               }).map(function (v) {
                 return v.id + ' (' + v.impact + '): ' + v.help + ' — ' +
                   v.nodes.map(function (n) { return n.target.join(' '); }).join(', ');
               }));
             }, function (e) { done(['axe failed: ' + e]); });",
            vec![],
        )
        .await
        .expect("running axe-core");
    result
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
