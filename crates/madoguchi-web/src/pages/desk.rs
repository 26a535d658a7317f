//! Desk pages (owner: Desk UI engineer). SPEC D1–D7, UI.md "Desk: agent pages".
//!
//! Server-rendered and usable without JS: every change is a form posted back with the
//! session's CSRF token (`_csrf`), answered with a redirect (post/redirect/get) or, on
//! a validation error, the same page again with the message next to the field, in the
//! page language. Pages call the same `Desk` services as the JSON API (`crate::desk`)
//! and resolve the portal and membership the same way ([`Desk::member`]): an unknown
//! portal is a 404 page, a non-member a 403 page, never JSON.
//!
//! `desk.js` only adds comfort: local times, a confirmation before a new service key,
//! and revealing/copying the key through the JSON API.
//!
//! [`Desk::member`]: madoguchi_desk::Desk::member

pub(crate) mod contacts;
pub(crate) mod mail;
pub(crate) mod portals;
pub(crate) mod search;
pub(crate) mod settings;
pub(crate) mod tickets;

pub(crate) use super::forms::{
    csrf_field, field_error, form_alert, form_status, is_form_error, posted, see_other, FormError,
    PostedForm, FORM_ERROR_STATUS,
};
use super::layout::page_with;
pub(crate) use super::layout::table_head;
use super::PageContext;
pub(crate) use super::{DeskAdmin, DeskPage};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use madoguchi_core::Error;
use madoguchi_desk::{Priority, TicketStatus};
use maud::{html, Markup};

/// The HTML page for an error that is not a form's validation error.
pub(crate) fn fail(ctx: &PageContext, e: Error) -> Response {
    super::extract::desk_error(ctx, e).into_response()
}

/// How a form post ends: a redirect to `to` when the service did it (post/redirect/get),
/// the form again (`again`, with the message next to its field) when the error is the
/// user's to fix, else the error page.
pub(crate) async fn after_post<T>(
    ctx: &PageContext,
    done: madoguchi_core::Result<T>,
    to: impl FnOnce(T) -> String,
    again: impl AsyncFnOnce(FormError) -> Response,
) -> Response {
    match done {
        Ok(v) => see_other(&to(v)),
        Err(e) if is_form_error(&e) => again(FormError::new(ctx, &e)).await,
        Err(e) => fail(ctx, e),
    }
}

/// A form's control under its label, with the message of an error about `field` after it.
pub(crate) fn labelled(
    dp: &DeskPage,
    label: &str,
    field: &str,
    err: Option<&FormError>,
    control: Markup,
) -> Markup {
    html! {
        label { (dp.t(label)) (control) (field_error(err, field)) }
    }
}

/// The sections of the side navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Tickets,
    NewTicket,
    Contacts,
    Search,
    Settings(settings::Section),
}

/// The frame of every portal page: the side navigation (問い合わせ / 連絡先 / 検索 /
/// 設定) and the content.
pub(crate) fn frame(dp: &DeskPage, active: Nav, title: &str, content: Markup) -> Response {
    frame_with_status(dp, active, title, content, StatusCode::OK)
}

pub(crate) fn frame_with_status(
    dp: &DeskPage,
    active: Nav,
    title: &str,
    content: Markup,
    status: StatusCode,
) -> Response {
    let ctx = &dp.ctx;
    let on = |nav: Nav| if nav == active { "active" } else { "" };
    let search_q = if active == Nav::Search {
        query_value(&ctx.path, "q")
    } else {
        String::new()
    };
    let body = page_with(
        ctx,
        &format!("{title} · {}", dp.portal.display_name),
        html! {
            (crate::assets::stylesheet("desk.css"))
            (crate::assets::script("desk.js"))
        },
        html! {
            div.sidebar-layout.desk data-portal=(dp.portal.portal_name) {
                nav.sidenav.desk-nav aria-label=(ctx.t("deskui-nav-label")) {
                    div.desk-portal {
                        strong { (dp.portal.display_name) }
                        br;
                        small.muted { code { (dp.portal.portal_name) } " · " (role_label(ctx, dp.member.role)) }
                    }
                    form.desk-search role="search" method="get" action=(dp.href("/search")) {
                        input type="search" name="q" value=(search_q) maxlength="200"
                            placeholder=(ctx.t("deskui-nav-search-placeholder")) aria-label=(ctx.t("deskui-nav-search"));
                    }
                    a class=(on(Nav::Tickets)) href=(dp.href("")) { (ctx.t("deskui-nav-tickets")) }
                    a class={ "sub " (on(Nav::NewTicket)) } href=(dp.href("/tickets/new")) { "＋ " (ctx.t("deskui-ticket-new")) }
                    a class=(on(Nav::Contacts)) href=(dp.href("/contacts")) { (ctx.t("deskui-nav-contacts")) }
                    a class=(on(Nav::Search)) href=(dp.href("/search")) { (ctx.t("deskui-nav-search")) }
                    @if dp.member.is_admin() {
                        a class=(if matches!(active, Nav::Settings(_)) { "active" } else { "" })
                            href=(dp.href("/settings")) { (ctx.t("deskui-nav-settings")) }
                        @if let Nav::Settings(current) = active {
                            @for s in settings::Section::ALL {
                                a class={ "sub " (if *s == current { "active" } else { "" }) }
                                    href=(dp.href(&format!("/settings/{}", s.slug()))) { (ctx.t(s.label_key())) }
                            }
                        }
                    }
                    div.desk-switch { a href="/desk" { "← " (ctx.t("deskui-portals-title")) } }
                }
                div.desk-main { (content) }
            }
        },
    );
    (status, body).into_response()
}

/// The value of `name` in the query string of `path` (decoded), or empty.
pub(crate) fn query_value(path: &str, name: &str) -> String {
    path.split_once('?')
        .map(|(_, q)| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

pub(crate) fn role_label(ctx: &PageContext, role: madoguchi_desk::Role) -> String {
    ctx.t(&format!("deskui-role-{}", role.as_str()))
}

pub(crate) fn status_key(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Open => "open",
        TicketStatus::OnHold => "on-hold",
        TicketStatus::Escalated => "escalated",
        TicketStatus::Closed => "closed",
    }
}

/// 未完了 / 保留中 / エスカレーション中 / 完了 (the glossary's words).
pub(crate) fn status_label(ctx: &PageContext, status: TicketStatus) -> String {
    ctx.t(&format!("deskui-status-{}", status_key(status)))
}

pub(crate) fn status_badge(ctx: &PageContext, status: TicketStatus) -> Markup {
    html! { span class={ "badge " (status_key(status)) } data-status=(status.as_str()) { (status_label(ctx, status)) } }
}

/// 高 / 中 / 低.
pub(crate) fn priority_label(ctx: &PageContext, priority: Priority) -> String {
    ctx.t(&format!(
        "deskui-priority-{}",
        priority.as_str().to_ascii_lowercase()
    ))
}

pub(crate) fn channel_label(ctx: &PageContext, channel: madoguchi_desk::Channel) -> String {
    ctx.t(&format!(
        "deskui-channel-{}",
        channel.as_str().to_ascii_lowercase()
    ))
}

/// A classification as people read it: the four defaults in the page language
/// (質問 / 問題 / 機能要望 / その他), the portal's own words as they are.
pub(crate) fn classification_label(ctx: &PageContext, value: &str) -> String {
    match value {
        "Question" => ctx.t("deskui-classification-question"),
        "Problem" => ctx.t("deskui-classification-problem"),
        "Feature Request" => ctx.t("deskui-classification-feature-request"),
        "Others" => ctx.t("deskui-classification-others"),
        other => other.to_owned(),
    }
}

/// A time for people: `<time>` with the RFC 3339 value; the text is UTC until
/// `desk.js` shows it in the browser's time zone.
pub(crate) fn time(iso: &str) -> Markup {
    let short = iso.get(..16).unwrap_or(iso).replace('T', " ");
    html! { time datetime=(iso) title=(iso) { (short) " UTC" } }
}

/// `?a=1&b=2` from non-empty pairs (empty when none).
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("?{}", s.finish())
    } else {
        String::new()
    }
}

/// Paging of a list page: `limit` 1–100 (default 25) and `offset` ≥ 0 from the query;
/// anything unreadable is the default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl Paging {
    pub const DEFAULT_LIMIT: i64 = 25;
    pub const MAX_LIMIT: i64 = 100;

    pub fn from_query(limit: Option<&str>, offset: Option<&str>) -> Self {
        let limit = limit
            .and_then(|l| l.trim().parse::<i64>().ok())
            .filter(|l| *l >= 1)
            .map_or(Self::DEFAULT_LIMIT, |l| l.min(Self::MAX_LIMIT));
        let offset = offset
            .and_then(|o| o.trim().parse::<i64>().ok())
            .filter(|o| *o >= 0)
            .unwrap_or(0);
        Self { limit, offset }
    }

    /// The pager under a list: "1–25" and previous/next links keeping `keep` (the
    /// filters). `more` is whether a next page exists.
    pub fn pager(
        &self,
        ctx: &PageContext,
        base: &str,
        keep: &[(&str, String)],
        shown: usize,
        more: bool,
    ) -> Markup {
        let link = |offset: i64| {
            let mut pairs: Vec<(&str, String)> = keep.to_vec();
            if self.limit != Self::DEFAULT_LIMIT {
                pairs.push(("limit", self.limit.to_string()));
            }
            if offset > 0 {
                pairs.push(("offset", offset.to_string()));
            }
            format!("{base}{}", query_string(&pairs))
        };
        if self.offset == 0 && !more {
            return html! {};
        }
        let from = if shown == 0 { 0 } else { self.offset + 1 };
        let to = self.offset + shown as i64;
        html! {
            nav.pager aria-label=(ctx.t("deskui-pager")) {
                @if self.offset > 0 {
                    a.button rel="prev" href=(link((self.offset - self.limit).max(0))) { "← " (ctx.t("deskui-prev")) }
                } @else {
                    span.button.disabled aria-disabled="true" { "← " (ctx.t("deskui-prev")) }
                }
                span.muted.range { (ctx.t_args("deskui-range", &[("from", &from.to_string()), ("to", &to.to_string())])) }
                @if more {
                    a.button rel="next" href=(link(self.offset + self.limit)) { (ctx.t("deskui-next")) " →" }
                } @else {
                    span.button.disabled aria-disabled="true" { (ctx.t("deskui-next")) " →" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_reads_the_query_and_falls_back_to_defaults() {
        let p = Paging::from_query(Some("500"), Some("-3"));
        assert_eq!((p.limit, p.offset), (Paging::MAX_LIMIT, 0));
        let p = Paging::from_query(Some("x"), Some("50"));
        assert_eq!((p.limit, p.offset), (Paging::DEFAULT_LIMIT, 50));
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(query_value("/desk/a/search?q=%E3%83%91+x&z=1", "q"), "パ x");
        assert_eq!(query_value("/desk/a/search", "q"), "");
        assert_eq!(
            query_string(&[("a", "1".into()), ("b", String::new())]),
            "?a=1"
        );
    }
}
