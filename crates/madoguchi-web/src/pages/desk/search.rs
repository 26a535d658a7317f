//! `GET /desk/{portal}/search?q=` (D5): tickets by number, contact name or email and
//! subject; Japanese text matches substrings (「パスワード」 finds 「パスワードのリセット」).

use super::tickets::ticket_table;
use super::{fail, field_error, form_status, frame_with_status, DeskPage, FormError, Nav, Paging};
use crate::pages::PageQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use madoguchi_desk::SearchQuery;
use maud::html;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    q: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

pub async fn search_page(
    State(state): State<AppState>,
    dp: DeskPage,
    PageQuery(params): PageQuery<Params>,
) -> Response {
    let ctx = &dp.ctx;
    let q = params.q.clone().unwrap_or_default();
    let paging = Paging::from_query(params.limit.as_deref(), params.offset.as_deref());
    let mut err = None;
    let mut results = None;
    if !q.trim().is_empty() {
        let search = SearchQuery {
            q: q.clone(),
            limit: Some(paging.limit + 1),
            offset: Some(paging.offset),
            ..SearchQuery::default()
        };
        match state.desk.search_tickets(&dp.member, &search).await {
            Ok(mut list) => {
                let more = list.len() as i64 > paging.limit;
                list.truncate(paging.limit as usize);
                results = Some((list, more));
            }
            Err(e) if e.field.is_some() => err = Some(FormError::new(ctx, &e)),
            Err(e) => return fail(ctx, e),
        }
    }
    let title = ctx.t("deskui-search-title");
    let content = html! {
        h1 { (title) }
        form.filters.row role="search" method="get" action=(dp.href("/search")) {
            label.grow { (ctx.t("deskui-search-label"))
                input type="search" name="q" value=(q) maxlength="200" autofocus
                    placeholder=(ctx.t("deskui-search-placeholder"));
                (field_error(err.as_ref(), "q"))
            }
            div.filter-actions { button.primary type="submit" { (ctx.t("deskui-search")) } }
        }
        p.hint { (ctx.t("deskui-search-hint")) }
        @if let Some((list, more)) = &results {
            @if list.is_empty() {
                p.card.muted #no-results { (ctx.t_args("deskui-search-none", &[("q", q.trim())])) }
            } @else {
                p.muted #result-count { (ctx.t_args("deskui-search-results", &[("q", q.trim())])) }
                (ticket_table(&dp, list, "search-results"))
                (paging.pager(ctx, &dp.href("/search"), &[("q", q.trim().to_owned())], list.len(), *more))
            }
        }
    };
    let status = form_status(err.is_some());
    frame_with_status(&dp, Nav::Search, &title, content, status)
}
