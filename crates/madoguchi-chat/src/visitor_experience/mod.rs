//! What a visitor meets around the chat (SPEC V2, V4, V5): business hours and the
//! offline form, the pages the visitor saw, the past chats of the same visitor, and
//! the rating after the end. Presence (V1) is in [`crate::presence`].

pub(crate) mod store;

use crate::chats::{ChatState, ChatView, VisitorSession};
use crate::operators::OperatorCtx;
use crate::Chat;
use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Timelike};
use madoguchi_core::{Error, ErrorCode, Lang, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The default time zone of business hours (V2).
pub const DEFAULT_TIME_ZONE: &str = "Asia/Tokyo";
/// Weekday keys of `weekly`, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// How far ahead the next opening is looked for (closed dates may cover months).
const LOOKAHEAD_DAYS: i64 = 400;

/// `GET, PUT …/settings/hours` (V2). A day missing from `weekly` (or with no ranges)
/// is closed; without any setting a portal is open around the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BusinessHours {
    /// An IANA time zone name.
    #[schema(example = "Asia/Tokyo")]
    pub time_zone: String,
    /// Opening ranges per weekday (`mon` … `sun`), each `["HH:MM", "HH:MM"]` (end
    /// exclusive; `24:00` is the end of the day).
    #[schema(value_type = Object, example = json!({"mon": [["09:00", "18:00"]]}))]
    pub weekly: BTreeMap<String, Vec<[String; 2]>>,
    /// Dates the portal is closed all day (`YYYY-MM-DD`, in the time zone).
    pub closed_dates: Vec<String>,
}

impl Default for BusinessHours {
    fn default() -> Self {
        Self {
            time_zone: DEFAULT_TIME_ZONE.into(),
            weekly: WEEKDAYS
                .iter()
                .map(|d| {
                    (
                        (*d).to_owned(),
                        vec![["00:00".to_owned(), "24:00".to_owned()]],
                    )
                })
                .collect(),
            closed_dates: Vec::new(),
        }
    }
}

/// Minutes since midnight of `HH:MM` (00:00 … 24:00).
fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// Validated hours, ready to answer "open now?" and "opens next when?".
struct Schedule {
    tz: chrono_tz::Tz,
    /// Per weekday (Monday = 0): ranges in minutes.
    days: [Vec<(u32, u32)>; 7],
    closed: Vec<NaiveDate>,
}

impl BusinessHours {
    /// Checks every field; the first wrong one is named.
    pub fn validated(mut self) -> Result<Self> {
        self.schedule()?;
        self.closed_dates.sort();
        self.closed_dates.dedup();
        Ok(self)
    }

    fn schedule(&self) -> Result<Schedule> {
        let tz: chrono_tz::Tz = self
            .time_zone
            .parse()
            .map_err(|_| Error::invalid("timeZone", "chat-error-time-zone"))?;
        let mut days: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, ranges) in &self.weekly {
            let Some(i) = WEEKDAYS.iter().position(|d| d == day) else {
                return Err(Error::invalid("weekly", "chat-error-hours"));
            };
            for [from, to] in ranges {
                match (minutes(from), minutes(to)) {
                    (Some(a), Some(b)) if a < b => days[i].push((a, b)),
                    _ => return Err(Error::invalid("weekly", "chat-error-hours")),
                }
            }
            days[i].sort_unstable();
        }
        let mut closed = Vec::new();
        for d in &self.closed_dates {
            closed.push(
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| Error::invalid("closedDates", "chat-error-closed-date"))?,
            );
        }
        Ok(Schedule { tz, days, closed })
    }

    /// Whether the portal is open at `now_ms`, and when it opens next if not.
    pub fn status_at(&self, now_ms: i64) -> HoursStatus {
        let Ok(s) = self.schedule() else {
            // Stored hours are validated; unreadable ones keep the portal open.
            return HoursStatus {
                open: true,
                next_open_at: None,
                time_zone: self.time_zone.clone(),
            };
        };
        let Some(now) = chrono::Utc.timestamp_millis_opt(now_ms).single() else {
            return HoursStatus {
                open: true,
                next_open_at: None,
                time_zone: self.time_zone.clone(),
            };
        };
        let local = now.with_timezone(&s.tz);
        let today = local.date_naive();
        let minute = local.hour() * 60 + local.minute();
        let is_open = |date: NaiveDate, minute: u32| {
            !s.closed.contains(&date)
                && s.days[date.weekday().num_days_from_monday() as usize]
                    .iter()
                    .any(|&(a, b)| a <= minute && minute < b)
        };
        if is_open(today, minute) {
            return HoursStatus {
                open: true,
                next_open_at: None,
                time_zone: self.time_zone.clone(),
            };
        }
        let mut next = None;
        'days: for offset in 0..LOOKAHEAD_DAYS {
            let Some(date) = today.checked_add_signed(chrono::Duration::days(offset)) else {
                break;
            };
            if s.closed.contains(&date) {
                continue;
            }
            for &(a, _) in &s.days[date.weekday().num_days_from_monday() as usize] {
                if offset == 0 && a <= minute {
                    continue;
                }
                let Some(t) = NaiveTime::from_hms_opt(a / 60, a % 60, 0) else {
                    continue;
                };
                // A start inside a DST gap opens at the first instant after it.
                let at = match s.tz.from_local_datetime(&date.and_time(t)) {
                    chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => at,
                    chrono::LocalResult::None => continue,
                };
                next = Some(at.timestamp_millis());
                break 'days;
            }
        }
        HoursStatus {
            open: false,
            next_open_at: next,
            time_zone: self.time_zone.clone(),
        }
    }
}

/// The widget config's `hours` (V2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoursStatus {
    pub open: bool,
    /// When the portal opens next (RFC 3339), null while open or when it never does.
    #[serde(serialize_with = "crate::serde_time::opt_ms")]
    #[schema(value_type = Option<String>)]
    pub next_open_at: Option<i64>,
    /// The time zone of the hours (the widget shows the opening time in it).
    pub time_zone: String,
}

/// A page the visitor saw (V4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitorPage {
    pub url: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// The visitor's rating of a chat (V5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    /// "good" | "neutral" | "bad".
    pub rating: String,
    pub comment: Option<String>,
    #[serde(serialize_with = "crate::serde_time::ms")]
    #[schema(value_type = String)]
    pub created_at: i64,
}

pub(crate) fn rating_from_row(r: &sqlx::any::AnyRow) -> Result<Option<Rating>> {
    use sqlx::Row;
    let rating: Option<String> = r.try_get("rating")?;
    Ok(match rating {
        Some(rating) => Some(Rating {
            rating,
            comment: r.try_get("rating_comment")?,
            created_at: r.try_get::<Option<i64>, _>("rated_at")?.unwrap_or(0),
        }),
        None => None,
    })
}

pub const RATINGS: [&str; 3] = ["good", "neutral", "bad"];
const MAX_URL_CHARS: usize = 2000;
const MAX_TITLE_CHARS: usize = 300;
const MAX_COMMENT_CHARS: usize = 2000;
/// Pages kept per chat: the newest this many.
pub const MAX_PAGES_PER_CHAT: i64 = 200;

/// A widget's browser id: letters, digits, `-` and `_`, at most 100.
pub(crate) fn parse_browser_id(raw: Option<&str>) -> Result<Option<String>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s)
            if s.len() <= 100
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Ok(Some(s.to_owned()))
        }
        Some(_) => Err(Error::invalid("browserId", "chat-error-browser-id")),
    }
}

fn parse_page_url(field: &str, raw: &str) -> Result<String> {
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    if s.chars().count() > MAX_URL_CHARS
        || !(lower.starts_with("http://") || lower.starts_with("https://"))
    {
        return Err(Error::invalid(field, "chat-error-page-url"));
    }
    Ok(s.to_owned())
}

impl Chat {
    /// V2: the portal's business hours (the default when never set).
    pub async fn hours(&self, portal_id: &str) -> Result<BusinessHours> {
        Ok(store::hours(&self.db, portal_id).await?.unwrap_or_default())
    }

    /// V2: an admin sets the business hours.
    pub async fn set_hours(&self, op: &OperatorCtx, hours: BusinessHours) -> Result<BusinessHours> {
        op.require_admin()?;
        let hours = hours.validated()?;
        store::set_hours(&self.db, &op.portal.id, &hours, self.clock.now_ms()).await?;
        Ok(hours)
    }

    /// V2: whether the portal is open now.
    pub async fn hours_status(&self, portal_id: &str) -> Result<HoursStatus> {
        Ok(self.hours(portal_id).await?.status_at(self.clock.now_ms()))
    }

    /// V4: the widget reports the page the visitor is on (at most one row per change;
    /// the same URL and title twice in a row is kept once).
    pub async fn record_page(
        &self,
        session: &VisitorSession,
        url: &str,
        title: &str,
        referrer: Option<&str>,
    ) -> Result<()> {
        let url = parse_page_url("url", url)?;
        let title: String = title.trim().chars().take(MAX_TITLE_CHARS).collect();
        let referrer = match referrer.map(str::trim).filter(|s| !s.is_empty()) {
            Some(r) => Some(parse_page_url("referrer", r)?),
            None => None,
        };
        let pages = store::pages(&self.db, &session.chat_id).await?;
        if pages
            .last()
            .is_some_and(|p| p.url == url && p.title == title)
        {
            return Ok(());
        }
        store::insert_page(
            &self.db,
            &session.chat_id,
            &url,
            &title,
            referrer.as_deref(),
            self.clock.now_ms(),
        )
        .await?;
        if let Some(chat) = self.chat_by_id(&session.chat_id).await? {
            // Consoles showing this chat refresh its visitor panel.
            self.publish_ops(
                &chat.portal_id,
                crate::live::LiveEvent::Visitor {
                    chat_id: chat.id.clone(),
                    department_id: chat.department_id.clone(),
                },
            )
            .await;
        }
        Ok(())
    }

    /// V5: the visitor rates their chat, once it has ended (409 `conflict` before, or
    /// when it was rated already).
    pub async fn rate_chat(
        &self,
        session: &VisitorSession,
        rating: &str,
        comment: Option<&str>,
    ) -> Result<ChatView> {
        if !RATINGS.contains(&rating) {
            return Err(Error::invalid("rating", "chat-error-rating"));
        }
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
            return Err(Error::invalid("comment", "chat-error-comment"));
        }
        let chat = self
            .chat_by_id(&session.chat_id)
            .await?
            .ok_or_else(Error::not_found)?;
        if chat.state != ChatState::Ended {
            return Err(Error::new(ErrorCode::Conflict).with_message("chat-error-rate-not-ended"));
        }
        // The rating and its line in the transcript, in one transaction: the line
        // travels wherever the transcript goes (the Desk ticket's chat thread).
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        if !store::insert_rating(&mut tx, &session.chat_id, rating, comment, now).await? {
            return Err(Error::new(ErrorCode::Conflict).with_message("chat-error-rated"));
        }
        let Some(next) =
            crate::chats::store::next_seq(&mut tx, &session.chat_id, &[ChatState::Ended], now)
                .await?
        else {
            return Err(Error::new(ErrorCode::Conflict).with_message("chat-error-rate-not-ended"));
        };
        let arg = match comment {
            Some(c) => format!("{rating}\n{c}"),
            None => rating.to_owned(),
        };
        let line = crate::chats::system_message(
            &session.chat_id,
            next.seq,
            crate::messages::SystemKind::Rated,
            Some(arg),
            now,
        );
        crate::messages::store::insert(&mut tx, &line, None).await?;
        tx.commit().await?;
        self.publish_message(&chat.portal_id, chat.department_id.as_deref(), &line)
            .await;
        let chat = self
            .chat_by_id(&session.chat_id)
            .await?
            .ok_or_else(Error::not_found)?;
        self.publish_ops(
            &chat.portal_id,
            crate::live::LiveEvent::Visitor {
                chat_id: chat.id.clone(),
                department_id: chat.department_id.clone(),
            },
        )
        .await;
        self.desk_hook().on_chat_rated(&chat);
        Ok(chat)
    }

    /// V6: the visitor's own chat, as the widget shows it after a reload.
    pub async fn visitor_chat(&self, session: &VisitorSession) -> Result<ChatView> {
        self.chat_by_id(&session.chat_id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// V4: the other chats of the same visitor (same browser or same email) that the
    /// operator may see, newest first.
    pub async fn past_chats(&self, op: &OperatorCtx, chat_id: &str) -> Result<Vec<ChatView>> {
        let chat = self.chat_for_operator(op, chat_id).await?;
        let email = chat.visitor.email.as_deref().map(str::to_lowercase);
        let browser = store::browser_of(&self.db, chat_id).await?;
        let ids =
            store::same_visitor_chats(&self.db, &op.portal.id, chat_id, email, browser).await?;
        let mut out = Vec::new();
        for id in ids {
            match self.chat_for_operator(op, &id).await {
                Ok(c) => out.push(c),
                Err(e) if matches!(e.code, ErrorCode::Forbidden | ErrorCode::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The defect "a missed chat promises a reply without asking how": the visitor
    /// gives (or changes) their name, email and phone from the widget; the integration
    /// syncs the Desk contact as after an operator's edit (I18).
    pub async fn visitor_contact(
        &self,
        session: &VisitorSession,
        patch: crate::VisitorPatch,
        lang: Lang,
    ) -> Result<crate::Visitor> {
        let name = patch
            .name
            .as_deref()
            .map(|n| crate::visitors::parse_name(Some(n)))
            .transpose()?;
        let email = patch
            .email
            .as_deref()
            .map(|e| crate::visitors::parse_email(Some(e)))
            .transpose()?;
        let phone = patch
            .phone
            .as_deref()
            .map(|p| crate::visitors::parse_phone(Some(p)))
            .transpose()?;
        if matches!(&email, None | Some(None)) && matches!(&phone, None | Some(None)) {
            return Err(Error::invalid("email", "chat-error-contact-required"));
        }
        crate::visitors::store::update(
            &self.db,
            &session.portal_id,
            &session.visitor_id,
            name,
            email,
            phone,
            self.clock.now_ms(),
        )
        .await?;
        let visitor = self
            .visitor_by_id(&session.portal_id, &session.visitor_id)
            .await?
            .ok_or_else(Error::not_found)?;
        self.desk_hook()
            .on_visitor_updated(&session.portal_id, &visitor, lang)
            .await?;
        self.publish_ops(
            &session.portal_id,
            crate::live::LiveEvent::Visitor {
                chat_id: session.chat_id.clone(),
                department_id: session.department_id.clone(),
            },
        )
        .await;
        Ok(visitor)
    }
}
