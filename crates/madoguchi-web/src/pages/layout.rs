//! The page frame: header with the apps, the language switch and the account menu.

use super::{encode, PageContext};
use maud::{html, Markup, DOCTYPE};

pub fn page(ctx: &PageContext, title: &str, content: Markup) -> axum::response::Html<String> {
    page_with(ctx, title, html! {}, content)
}

/// A page with extra elements in `<head>` (page scripts).
pub fn page_with(
    ctx: &PageContext,
    title: &str,
    head: Markup,
    content: Markup,
) -> axum::response::Html<String> {
    let other = match ctx.lang {
        madoguchi_core::Lang::Ja => ("en", "English"),
        madoguchi_core::Lang::En => ("ja", "日本語"),
    };
    let markup = html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(ctx.csrf);
                title { (title) " · " (ctx.t("app-name")) }
                (crate::assets::stylesheet("app.css"))
                link rel="icon" href=(crate::assets::url("favicon.svg")) type="image/svg+xml";
                (head)
            }
            body {
                header.topbar {
                    a.brand href="/" { span.logo { "窓" } (ctx.t("app-name")) }
                    @if ctx.user.is_some() {
                        nav.apps {
                            a href="/desk" { (ctx.t("nav-desk")) }
                            a href="/chat" { (ctx.t("nav-chat")) }
                        }
                    }
                    div.spacer {}
                    a.lang-switch href={ "/lang?set=" (other.0) "&next=" (encode(&ctx.path)) } lang=(other.0) { (other.1) }
                    @if let Some(user) = &ctx.user {
                        span.user-name title=(user.email) { (user.name) }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="_csrf" value=(ctx.csrf);
                            button.link type="submit" { (ctx.t("nav-logout")) }
                        }
                    } @else {
                        a href="/login" { (ctx.t("nav-login")) }
                    }
                }
                main { (content) }
            }
        }
    };
    axum::response::Html(markup.into_string())
}

/// A table's `thead`: one heading a catalog key, in order; an empty key is a column
/// without a heading (row actions).
pub(crate) fn table_head(ctx: &PageContext, keys: &[&str]) -> Markup {
    html! {
        thead { tr {
            @for key in keys {
                th { @if !key.is_empty() { (ctx.t(key)) } }
            }
        } }
    }
}
