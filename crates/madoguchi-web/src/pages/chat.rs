//! Chat pages (SPEC C1–C6): the list of my chat portals, the operator console and the
//! portal settings (the widget script and the console's assets are `crate::assets`).
//!
//! Pages render what the server knows at load time from the Chat services. The portal
//! list, the settings and the canned responses post server forms (`crate::pages::forms`,
//! the one form approach; `chat-pages.js` only copies the embed tag), and the console is
//! a live app on the operator socket.

pub(crate) mod canned;
pub(crate) mod console;
pub(crate) mod portals;
pub(crate) mod preview;
pub(crate) mod settings;

use super::PageContext;
use madoguchi_chat::{Plan, Role};

fn role_label(ctx: &PageContext, role: Role) -> String {
    ctx.t(&format!("chatui-role-{}", role.as_str()))
}

fn plan_label(ctx: &PageContext, plan: Plan) -> String {
    ctx.t(&format!("chatui-plan-{}", plan.as_str()))
}

/// A date for people (the UTC day of an RFC 3339 time).
fn day(ms: i64) -> String {
    madoguchi_core::time::rfc3339(ms)
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// `<link>` and `<script>` tags of the chat pages' own CSS and JS.
fn console_css() -> maud::Markup {
    crate::assets::stylesheet("console.css")
}

fn chat_pages_js() -> maud::Markup {
    crate::assets::script("chat-pages.js")
}

/// JSON for a `<script type="application/json">` block: `<` is escaped so that no
/// string can close the script element.
fn script_json(value: &serde_json::Value) -> maud::PreEscaped<String> {
    maud::PreEscaped(value.to_string().replace('<', "\\u003c"))
}
