//! `GET /chat/{portal}/preview`: a plain web page carrying the portal's widget snippet,
//! so a newcomer sees the visitor's side without writing an HTML page (linked from the
//! Chat settings next to the snippet and printed by `madoguchi demo`). Anyone may open
//! it: it shows only what the widget shows on any website.

use crate::pages::{PageContext, PageError};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, DOCTYPE};

pub async fn preview_page(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(portal): Path<String>,
) -> Response {
    let portal = match state.chat.require_portal(&portal).await {
        Ok(p) => p,
        Err(e) => return PageError::from_error(&ctx, e).into_response(),
    };
    let base = state.settings.public_url.trim_end_matches('/').to_owned();
    let src = format!("{base}/chat/widget.js");
    let snippet = format!(
        "<script src=\"{src}\" data-portal=\"{}\" async></script>",
        portal.name
    );
    let title = ctx.t("chatui-preview-title");
    Html(
        html! {
            (DOCTYPE)
            html lang=(ctx.lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · " (portal.display_name) }
                    (crate::assets::stylesheet("app.css"))
                }
                body.preview-page {
                    main.preview {
                        h1 { (title) }
                        p.muted { (portal.display_name) " · " code { (portal.name) } }
                        p { (ctx.t("chatui-preview-lead")) }
                        p { (ctx.t("chatui-preview-how")) }
                        pre { code { (snippet) } }
                        p {
                            a href={ "/chat/" (portal.name) } { (ctx.t("chatui-open-console")) }
                        }
                    }
                    script src=(src) data-portal=(portal.name) async {}
                }
            }
        }
        .into_string(),
    )
    .into_response()
}
