//! SQL of chats and visitor tokens.

use super::{AutoTicket, AutoTicketStatus, ChatState, ChatView, Outcome, VisitorSession};
use crate::visitors::Visitor;
use madoguchi_core::db::Backend;
use madoguchi_core::{Db, Error, Result, WriteTx};
use sqlx::any::AnyRow;
use sqlx::Row;

const VIEW_SELECT: &str = "select c.id, c.portal_id, c.state, c.outcome, c.department_id, \
    d.name as department_name, c.operator_id, u.name as operator_name, c.visitor_id, \
    v.name as visitor_name, v.email as visitor_email, v.phone as visitor_phone, c.question, \
    c.last_seq, c.created_at, c.accepted_at, c.missed_at, c.ended_at, c.offered_to, \
    r.rating, r.comment as rating_comment, r.created_at as rated_at, \
    o.chat_id as offline_chat_id \
    from chat_chats c join chat_visitors v on v.id = c.visitor_id \
    left join chat_ratings r on r.chat_id = c.id \
    left join chat_offline_messages o on o.chat_id = c.id \
    left join chat_departments d on d.id = c.department_id \
    left join users u on u.id = c.operator_id";

fn view_from_row(r: &AnyRow) -> Result<ChatView> {
    let state: String = r.try_get("state")?;
    let outcome: Option<String> = r.try_get("outcome")?;
    Ok(ChatView {
        id: r.try_get("id")?,
        portal_id: r.try_get("portal_id")?,
        state: ChatState::parse(&state).unwrap_or(ChatState::Ended),
        outcome: outcome.as_deref().and_then(Outcome::parse),
        department_id: r.try_get("department_id")?,
        department_name: r.try_get("department_name")?,
        operator_id: r.try_get("operator_id")?,
        operator_name: r.try_get("operator_name")?,
        visitor: Visitor {
            id: r.try_get("visitor_id")?,
            name: r.try_get("visitor_name")?,
            email: r.try_get("visitor_email")?,
            phone: r.try_get("visitor_phone")?,
            pages: Vec::new(),
        },
        offline_message: r.try_get::<Option<String>, _>("offline_chat_id")?.is_some(),
        rating: crate::visitor_experience::rating_from_row(r)?,
        question: r.try_get("question")?,
        desk_ticket_ids: Vec::new(),
        // Filled from the integration (Chat::fill_links) and the toolkit.
        participant_ids: Vec::new(),
        transfer: None,
        offered_to: r.try_get("offered_to")?,
        auto_ticket: AutoTicket {
            status: AutoTicketStatus::None,
            reason: None,
        },
        last_seq: r.try_get("last_seq")?,
        created_at: r.try_get("created_at")?,
        accepted_at: r.try_get("accepted_at")?,
        missed_at: r.try_get("missed_at")?,
        ended_at: r.try_get("ended_at")?,
        messages: None,
    })
}

/// `state in ('a', 'b')` from constant states (never user input).
fn state_list(states: &[ChatState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) struct NewChatRow<'a> {
    pub id: &'a str,
    pub portal_id: &'a str,
    pub department_id: Option<&'a str>,
    pub visitor_id: &'a str,
    pub state: ChatState,
    pub question: &'a str,
    pub client_message_id: &'a str,
    pub last_seq: i64,
    pub client_address: Option<&'a str>,
    pub now: i64,
}

/// Inserts a chat; the raw error lets the caller recognise a concurrent retry.
pub(crate) async fn insert(
    tx: &mut WriteTx,
    c: &NewChatRow<'_>,
) -> std::result::Result<(), sqlx::Error> {
    let missed = c.state == ChatState::Missed;
    sqlx::query(
        "insert into chat_chats (id, portal_id, department_id, visitor_id, state, outcome, question, \
         client_message_id, last_seq, created_at, updated_at, missed_at, last_activity_at, \
         client_address) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $10, $12)",
    )
    .bind(c.id)
    .bind(c.portal_id)
    .bind(c.department_id)
    .bind(c.visitor_id)
    .bind(c.state.as_str())
    .bind(missed.then_some("missed"))
    .bind(c.question)
    .bind(c.client_message_id)
    .bind(c.last_seq)
    .bind(c.now)
    .bind(missed.then_some(c.now))
    .bind(c.client_address)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn insert_token(
    tx: &mut WriteTx,
    token_hash: &str,
    chat_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into chat_visitor_tokens (token_hash, chat_id, created_at) values ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(chat_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The chat started with a `clientMessageId`: who started it from where, and when.
pub(crate) struct StartedBy {
    pub chat_id: String,
    pub visitor_id: String,
    pub client_address: Option<String>,
    pub created_at: i64,
}

/// The chat started with `client_id`.
pub(crate) async fn by_client_id(
    db: &Db,
    portal_id: &str,
    client_id: &str,
) -> Result<Option<StartedBy>> {
    let row = sqlx::query(
        "select id, visitor_id, client_address, created_at from chat_chats \
         where portal_id = $1 and client_message_id = $2",
    )
    .bind(portal_id)
    .bind(client_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(StartedBy {
            chat_id: r.try_get("id")?,
            visitor_id: r.try_get("visitor_id")?,
            client_address: r.try_get("client_address")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

/// The session of a visitor token and the name of its chat's portal; `None` also for
/// a token of a chat that ended before `ended_after` (expired).
pub(crate) async fn session_by_token(
    db: &Db,
    token_hash: &str,
    ended_after: i64,
) -> Result<Option<(VisitorSession, String)>> {
    let row = sqlx::query(
        "select c.id, c.portal_id, p.name as portal_name, c.visitor_id, c.department_id, c.state \
         from chat_visitor_tokens t join chat_chats c on c.id = t.chat_id \
         join chat_portals p on p.id = c.portal_id where t.token_hash = $1 \
         and (c.ended_at is null or c.ended_at > $2)",
    )
    .bind(token_hash)
    .bind(ended_after)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        let state: String = r.try_get("state")?;
        Ok((
            VisitorSession {
                portal_id: r.try_get("portal_id")?,
                chat_id: r.try_get("id")?,
                visitor_id: r.try_get("visitor_id")?,
                department_id: r.try_get("department_id")?,
                state: ChatState::parse(&state).unwrap_or(ChatState::Ended),
            },
            r.try_get("portal_name")?,
        ))
    })
    .transpose()
}

/// The seq of a chat's newest message; `None` for an unknown chat.
pub(crate) async fn last_seq(db: &Db, chat_id: &str) -> Result<Option<i64>> {
    let row = sqlx::query("select last_seq from chat_chats where id = $1")
        .bind(chat_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok(r.try_get("last_seq")?)).transpose()
}

pub(crate) async fn state_of(db: &Db, chat_id: &str) -> Result<Option<ChatState>> {
    let row = sqlx::query("select state from chat_chats where id = $1")
        .bind(chat_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        let s: String = r.try_get("state")?;
        Ok(ChatState::parse(&s).unwrap_or(ChatState::Ended))
    })
    .transpose()
}

/// The next message seq of a chat in one of the `allowed` states (locks the chat row
/// until the transaction ends); `None` when the chat is in another state or missing.
pub(crate) async fn next_seq(
    tx: &mut WriteTx,
    chat_id: &str,
    allowed: &[ChatState],
    now: i64,
) -> Result<Option<NextSeq>> {
    let row = sqlx::query(&format!(
        "update chat_chats set last_seq = last_seq + 1, last_activity_at = $1, updated_at = $1 \
         where id = $2 and state in ({}) returning id, last_seq, {VISITOR_NAME}",
        state_list(allowed)
    ))
    .bind(now)
    .bind(chat_id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(|r| next_seq_of(&r)).transpose()
}

/// A chat's seq advanced for a new message, and the visitor's name at that moment
/// (visitor messages carry it; reading it here saves a statement per message).
pub(crate) struct NextSeq {
    pub chat_id: String,
    pub seq: i64,
    pub visitor_name: Option<String>,
}

const VISITOR_NAME: &str = "(select v.name from chat_visitors v \
     where v.id = chat_chats.visitor_id) as visitor_name";

fn next_seq_of(r: &sqlx::any::AnyRow) -> Result<NextSeq> {
    Ok(NextSeq {
        chat_id: r.try_get("id")?,
        seq: r.try_get("last_seq")?,
        visitor_name: r.try_get("visitor_name")?,
    })
}

/// The statement of [`next_seqs`]; arguments: now, now, then the chat ids (SQLite: one
/// argument each, `chats` of them; PostgreSQL: one JSON array of them, whatever their
/// number). Answers rows of (id, last_seq, visitor_name).
pub(crate) fn next_seqs_sql(backend: Backend, chats: usize, allowed: &[ChatState]) -> String {
    let chosen = match backend {
        Backend::Sqlite => format!("id in ({})", backend.placeholders(3, chats)),
        Backend::Postgres => "id = any(array(select json_array_elements_text($3::json)))".into(),
    };
    format!(
        "update chat_chats set last_seq = last_seq + 1, last_activity_at = {}, updated_at = {} \
         where {chosen} and state || '' in ({}) returning id, last_seq, {VISITOR_NAME}",
        backend.placeholders(1, 1),
        backend.placeholders(2, 1),
        state_list(allowed)
    )
}

/// [`next_seq`] for several distinct chats in one statement ([`next_seqs_sql`] for them
/// and the `allowed` states): answers each chat in an allowed state. The state test is
/// written `state || ''` so that no index on state can serve it: SQLite without
/// statistics once walked a (state, activity) index over every waiting chat (10,000 idle
/// chats made each round cost milliseconds) instead of looking the ids up by primary key.
/// None of the columns it sets is indexed (migration 0240), so PostgreSQL updates the row
/// in place (HOT) and neither backend touches an index for it.
pub(crate) async fn next_seqs(
    tx: &mut WriteTx,
    sql: &str,
    chat_ids: &[&str],
    now: i64,
) -> Result<Vec<NextSeq>> {
    let mut query = sqlx::query(sql).bind(now).bind(now);
    match tx.backend() {
        Backend::Sqlite => {
            for id in chat_ids {
                query = query.bind(*id);
            }
        }
        // sqlx's Any driver binds no arrays; one JSON text is one argument for any
        // number of chats, so a round is one round trip whatever its size.
        Backend::Postgres => {
            query = query.bind(serde_json::to_string(chat_ids).map_err(Error::internal)?)
        }
    }
    let rows = query.fetch_all(tx.conn()).await?;
    rows.iter().map(next_seq_of).collect()
}

/// The conditional state change of a transition; answers (portal id, last seq) or
/// `None` when the chat is not in a `from` state. With `add_line`, the seq counter
/// is advanced for the system line of the transition.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn transition(
    tx: &mut WriteTx,
    chat_id: &str,
    from: &[ChatState],
    to: ChatState,
    outcome: Option<Outcome>,
    operator_id: Option<&str>,
    add_line: bool,
    now: i64,
) -> Result<Option<(String, i64)>> {
    let row = sqlx::query(&format!(
        "update chat_chats set state = $1, outcome = coalesce($2, outcome), \
         operator_id = coalesce($3, operator_id), last_seq = last_seq + $4, updated_at = $5, \
         last_activity_at = $5, accepted_at = coalesce($6, accepted_at), \
         missed_at = coalesce($7, missed_at), ended_at = coalesce($8, ended_at) \
         where id = $9 and state in ({}) returning portal_id, last_seq",
        state_list(from)
    ))
    .bind(to.as_str())
    .bind(outcome.map(Outcome::as_str))
    .bind(operator_id)
    .bind(i64::from(add_line))
    .bind(now)
    .bind((to == ChatState::Attended).then_some(now))
    .bind((outcome == Some(Outcome::Missed)).then_some(now))
    .bind((to == ChatState::Ended).then_some(now))
    .bind(chat_id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(|r| Ok((r.try_get("portal_id")?, r.try_get("last_seq")?)))
        .transpose()
}

pub(crate) async fn view(
    db: &Db,
    portal_id: Option<&str>,
    chat_id: &str,
) -> Result<Option<ChatView>> {
    let row = sqlx::query(&format!(
        "{VIEW_SELECT} where c.id = $1 and ($2 = '' or c.portal_id = $2)"
    ))
    .bind(chat_id)
    .bind(portal_id.unwrap_or(""))
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(view_from_row).transpose()
}

/// Escapes `%`, `_` and `\` for `like … escape '\'`.
fn like_escape(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The console's lists. Only the filters given are in the statement (an optional
/// filter written `($2 = '' or c.state = $2)` keeps SQLite from using the (portal,
/// state) index, and the queue would read the portal's whole history).
pub(crate) async fn list(
    db: &Db,
    portal_id: &str,
    state: Option<ChatState>,
    restrict_to_user: Option<&str>,
    q: &str,
    limit: i64,
) -> Result<Vec<ChatView>> {
    // The queue reads oldest first; every other list newest first.
    let order = if state == Some(ChatState::Waiting) {
        "asc"
    } else {
        "desc"
    };
    let mut sql = format!("{VIEW_SELECT} where c.portal_id = $1");
    let mut args: Vec<String> = vec![portal_id.to_owned()];
    // Adds an argument; answers its placeholder.
    fn arg(value: String, args: &mut Vec<String>) -> String {
        args.push(value);
        format!("${}", args.len())
    }
    if let Some(state) = state {
        let n = arg(state.as_str().to_owned(), &mut args);
        sql.push_str(&format!(" and c.state = {n}"));
    }
    if let Some(user) = restrict_to_user {
        let n = arg(user.to_owned(), &mut args);
        sql.push_str(&format!(
            " and c.department_id in (select od.department_id from chat_operator_departments od \
             where od.portal_id = $1 and od.user_id = {n})"
        ));
    }
    if !q.is_empty() {
        let n = arg(like_escape(q), &mut args);
        sql.push_str(&format!(
            " and (lower(coalesce(v.name, '')) like ('%' || {n} || '%') escape '\\' \
             or lower(coalesce(v.email, '')) like ('%' || {n} || '%') escape '\\' \
             or exists (select 1 from chat_messages m where m.chat_id = c.id \
                        and lower(m.body) like ('%' || {n} || '%') escape '\\'))"
        ));
    }
    let n = args.len() + 1;
    sql.push_str(&format!(
        " order by c.created_at {order}, c.id {order} limit ${n}"
    ));
    let mut query = sqlx::query(&sql);
    for a in args {
        query = query.bind(a);
    }
    let rows = query.bind(limit).fetch_all(db.pool()).await?;
    rows.iter().map(view_from_row).collect()
}

/// The seq of each open chat the operator may see (read when a console connects).
/// One indexed read per open state: `state <> 'ended'` would read the portal's
/// whole history.
pub(crate) async fn open_seqs(
    db: &Db,
    portal_id: &str,
    restrict_to_user: Option<&str>,
) -> Result<Vec<(String, i64)>> {
    let mut seqs = Vec::new();
    for state in [ChatState::Waiting, ChatState::Attended, ChatState::Missed] {
        let rows = sqlx::query(
            "select c.id, c.last_seq from chat_chats c where c.portal_id = $1 and c.state = $2 \
             and ($3 = '' or c.department_id in (select od.department_id from chat_operator_departments od \
                  where od.portal_id = $1 and od.user_id = $3))",
        )
        .bind(portal_id)
        .bind(state.as_str())
        .bind(restrict_to_user.unwrap_or(""))
        .fetch_all(db.pool())
        .await?;
        for r in &rows {
            seqs.push((r.try_get("id")?, r.try_get("last_seq")?));
        }
    }
    Ok(seqs)
}

/// Each portal with its missed and idle delays (few rows: read every timer tick so
/// that the chat queries below range-scan their index instead of every open chat).
async fn portal_delays(db: &Db) -> Result<Vec<(String, i64, i64)>> {
    let rows = sqlx::query("select id, missed_after_ms, idle_after_ms from chat_portals")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("missed_after_ms")?,
                r.try_get("idle_after_ms")?,
            ))
        })
        .collect()
}

/// At most this many chats per timer pass.
const DUE_LIMIT: usize = 200;

/// Waiting chats nobody accepted in time, oldest first.
pub(crate) async fn overdue_waiting(db: &Db, now: i64) -> Result<Vec<String>> {
    due_per_portal(
        db,
        "select id from chat_chats where portal_id = $1 and state = 'waiting' \
         and created_at <= $2 order by created_at limit $3",
        |(_, missed_after_ms, _)| now - missed_after_ms,
    )
    .await
}

/// Attended or missed chats without activity for the portal's idle time.
pub(crate) async fn idle_open(db: &Db, now: i64) -> Result<Vec<String>> {
    due_per_portal(
        db,
        "select id from chat_chats where state in ('attended', 'missed') \
         and last_activity_at <= $2 and portal_id = $1 order by last_activity_at limit $3",
        |(_, _, idle_after_ms)| now - idle_after_ms,
    )
    .await
}

/// The ids `sql` (portal id, threshold, limit) answers, portal by portal with each
/// portal's threshold, at most [`DUE_LIMIT`] in all.
async fn due_per_portal(
    db: &Db,
    sql: &str,
    threshold: impl Fn(&(String, i64, i64)) -> i64,
) -> Result<Vec<String>> {
    let mut due = Vec::new();
    for portal in portal_delays(db).await? {
        let rows = sqlx::query(sql)
            .bind(&portal.0)
            .bind(threshold(&portal))
            .bind((DUE_LIMIT - due.len()) as i64)
            .fetch_all(db.pool())
            .await?;
        for r in &rows {
            due.push(r.try_get("id")?);
        }
        if due.len() >= DUE_LIMIT {
            break;
        }
    }
    Ok(due)
}
