//! Every static file of the product, compiled into the binary (no CDN: offline users get
//! every byte), served from here only.
//!
//! Pages name a file by its name in `src/assets/` and get its URL from [`url`] (or the
//! tags from [`script`] / [`stylesheet`]): `/assets/<stem>.<hash8>.<ext>`, where the
//! hash is of the served bytes, so the URL is cached for a year (`immutable`) and an
//! upgraded binary can never run yesterday's script. The unhashed `/assets/<name>`
//! keeps working with an hour's cache (bookmarks, old pages in a tab).
//!
//! The widget (`/chat/widget.js`, `/chat/widget.css`) stays at its public address:
//! customers paste it into their sites.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use madoguchi_core::ErrorCode;
use std::collections::HashMap;
use std::sync::LazyLock;

/// One file of `src/assets/`, optionally built from its text once at start.
struct Source {
    name: &'static str,
    text: &'static str,
    build: Option<fn(&'static str) -> String>,
}

macro_rules! asset_file {
    ($name:literal) => {
        Source {
            name: $name,
            text: include_str!(concat!("assets/", $name)),
            build: None,
        }
    };
    ($name:literal, $build:path) => {
        Source {
            name: $name,
            text: include_str!(concat!("assets/", $name)),
            build: Some($build),
        }
    };
}

/// The files under `/assets/`: adding one is adding its line.
const SOURCES: &[Source] = &[
    asset_file!("app.css"),
    asset_file!("favicon.svg"),
    asset_file!("desk.css"),
    asset_file!("desk.js"),
    asset_file!("desk-mail.js"),
    asset_file!("console.css"),
    // The console with the shared chat client in front.
    asset_file!("console.js", with_chat_client),
    asset_file!("chat-pages.js"),
    asset_file!("visitor-panel.js"),
    asset_file!("desk-integration.css"),
    asset_file!("desk-panel.css"),
    // The console's Desk panel, with its ja/en words in front.
    asset_file!(
        "desk-panel.js",
        crate::pages::integration::with_panel_labels
    ),
];

/// A file as served.
struct Asset {
    name: &'static str,
    /// `<stem>.<hash8>.<ext>`.
    hashed: String,
    content_type: &'static str,
    body: String,
}

struct Catalog {
    assets: Vec<Asset>,
    /// Both names of each file → its index and whether the name is the hashed one.
    by_name: HashMap<String, (usize, bool)>,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    let assets: Vec<Asset> = SOURCES
        .iter()
        .map(|s| {
            let body = match s.build {
                Some(build) => build(s.text),
                None => s.text.to_owned(),
            };
            Asset {
                name: s.name,
                hashed: hashed_name(s.name, &body),
                content_type: content_type(s.name),
                body,
            }
        })
        .collect();
    let mut by_name = HashMap::new();
    for (i, a) in assets.iter().enumerate() {
        by_name.insert(a.name.to_owned(), (i, false));
        by_name.insert(a.hashed.clone(), (i, true));
    }
    Catalog { assets, by_name }
});

/// FNV-1a of the bytes, 32 bits as 8 hex digits: tiny and stable across builds and
/// platforms (unlike `DefaultHasher`); it only has to change when the file does.
fn hash8(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash >> 32)
}

fn hashed_name(name: &str, body: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{}.{ext}", hash8(body)),
        None => format!("{name}.{}", hash8(body)),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "application/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// The URL of the asset `name` (a file name in `src/assets/`), with its content hash.
pub fn url(name: &str) -> String {
    let catalog = &*CATALOG;
    match catalog.by_name.get(name) {
        Some((i, _)) => format!("/assets/{}", catalog.assets[*i].hashed),
        None => {
            debug_assert!(false, "no asset {name}");
            format!("/assets/{name}")
        }
    }
}

/// `<script src=… defer>` of a page script.
pub fn script(name: &str) -> maud::Markup {
    maud::html! { script src=(url(name)) defer {} }
}

/// `<link rel="stylesheet">` of a page stylesheet.
pub fn stylesheet(name: &str) -> maud::Markup {
    maud::html! { link rel="stylesheet" href=(url(name)); }
}

/// `GET /assets/{file}`: a hashed name never changes (cached for a year), a plain name
/// is cached for an hour.
pub async fn serve(Path(file): Path<String>) -> Response {
    let catalog = &*CATALOG;
    let Some(&(i, hashed)) = catalog.by_name.get(file.as_str()) else {
        return crate::ApiError::from(ErrorCode::NotFound).into_response();
    };
    let asset = &catalog.assets[i];
    let cache = if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, cache),
        ],
        asset.body.as_str(),
    )
        .into_response()
}

pub const WIDGET_JS: &str = include_str!("assets/widget.js");
pub const WIDGET_CSS: &str = include_str!("assets/widget.css");
/// The protocol client of the console and the widget (docs/CONVENTIONS.md "Browser
/// scripts"): served only inside them.
pub const CHAT_CLIENT_JS: &str = include_str!("assets/chat-client.js");

/// A chat script as served: the shared chat client in front of it, both inside one
/// function so that nothing is added to the page (why: the top of chat-client.js).
fn with_chat_client(script: &str) -> String {
    format!("(function () {{\n{CHAT_CLIENT_JS}\n{script}\n}})();\n")
}

/// The widget script as served: the chat client, its stylesheet filled in as a string
/// (applied as a constructable stylesheet, which a host page's CSP allows; Q6) and its
/// words from the catalog.
static WIDGET_SCRIPT: LazyLock<String> = LazyLock::new(|| {
    let css = serde_json::Value::String(WIDGET_CSS.to_owned()).to_string();
    let labels = crate::chat::widget::script_labels().to_string();
    with_chat_client(
        &WIDGET_JS
            .replacen("'/*madoguchi:widget.css*/'", &css, 1)
            .replacen("'/*madoguchi:widget-labels*/'", &labels, 1),
    )
});

/// `GET /chat/widget.js` (C3): loaded by any website, so any origin may fetch it. A short
/// cache keeps upgrades reaching visitors within minutes.
pub async fn widget_js() -> Response {
    widget_file(
        "application/javascript; charset=utf-8",
        WIDGET_SCRIPT.as_str(),
    )
}

/// `GET /chat/widget.css`: the widget's styles for browsers without constructable
/// stylesheets, linked from its Shadow root on any website.
pub async fn widget_css() -> Response {
    widget_file("text/css; charset=utf-8", WIDGET_CSS)
}

fn widget_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of `src/assets/` that are not under `/assets/`: the widget's (at its public
    /// address) and the chat client (inside the console's and the widget's script).
    const NOT_UNDER_ASSETS: &[&str] = &["widget.js", "widget.css", "chat-client.js"];

    #[test]
    fn every_file_in_the_assets_folder_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/assets");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).expect("src/assets") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let elsewhere = NOT_UNDER_ASSETS.contains(&name.as_str());
            if !elsewhere && !SOURCES.iter().any(|s| s.name == name) {
                missing.push(name);
            }
        }
        assert!(missing.is_empty(), "not in SOURCES: {missing:?}");
    }

    #[test]
    fn urls_carry_the_content_hash() {
        let u = url("console.js");
        assert!(u.starts_with("/assets/console."), "{u}");
        assert!(u.ends_with(".js") && u.len() == "/assets/console.12345678.js".len());
        assert_eq!(hashed_name("a.css", "x"), format!("a.{}.css", hash8("x")));
        assert_ne!(hash8("x"), hash8("y"));
    }
}
