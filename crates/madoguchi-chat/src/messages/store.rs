//! SQL of messages.

use super::{Message, Sender};
use madoguchi_core::db::Backend;
use madoguchi_core::{Db, Error, Result, WriteTx};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// The columns of a message and its file's (`m`: the message, `a`: the file).
const COLUMNS: &str = "m.id, m.chat_id, m.seq, m.sender, m.sender_user_id, m.sender_name, m.body, \
     m.system_kind, m.system_arg, m.created_at, a.id as attachment_id, a.name as attachment_name, \
     a.content_type as attachment_type, a.size as attachment_size";
const FROM: &str = "from chat_messages m left join chat_attachments a on a.id = m.attachment_id";

fn from_row(r: &AnyRow) -> Result<Message> {
    let sender: String = r.try_get("sender")?;
    Ok(Message {
        id: r.try_get("id")?,
        chat_id: r.try_get("chat_id")?,
        seq: r.try_get("seq")?,
        sender: Sender::parse(&sender).unwrap_or(Sender::System),
        sender_user_id: r.try_get("sender_user_id")?,
        sender_name: r.try_get("sender_name")?,
        text: r.try_get("body")?,
        system_kind: r.try_get("system_kind")?,
        system_arg: r.try_get("system_arg")?,
        attachment: match r.try_get::<Option<String>, _>("attachment_id")? {
            Some(id) => Some(Box::new(crate::attachments::Attachment {
                id,
                name: r.try_get("attachment_name")?,
                content_type: r.try_get("attachment_type")?,
                size: r.try_get("attachment_size")?,
            })),
            None => None,
        },
        created_at: r.try_get("created_at")?,
    })
}

const INSERT: &str = "insert into chat_messages (id, chat_id, seq, sender, sender_user_id, \
     sender_name, body, system_kind, system_arg, client_key, created_at)";
const COLUMNS_PER_ROW: usize = 11;
/// [`INSERT`]'s columns read from a JSON row `r` of [`message_row`] on PostgreSQL
/// ([`insert_many_sql`]); `->>` answers text, so the integer columns are cast.
const POSTGRES_ROW: &str = "r->>0, r->>1, (r->>2)::bigint, r->>3, r->>4, r->>5, r->>6, \
     r->>7, r->>8, r->>9, (r->>10)::bigint";

/// One value of a row, as either driver binds it (sqlx for the pool and PostgreSQL,
/// rusqlite on the SQLite writer thread), borrowed from the message. As JSON it is the
/// bare value (a row of them is what PostgreSQL's batch insert reads).
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Int(i64),
}

/// A message's row of [`INSERT`]: the one column order both drivers bind.
pub(crate) fn message_row<'a>(
    m: &'a Message,
    client_key: Option<&'a str>,
) -> [Arg<'a>; COLUMNS_PER_ROW] {
    use Arg::*;
    [
        Text(&m.id),
        Text(&m.chat_id),
        Int(m.seq),
        Text(m.sender.as_str()),
        MaybeText(m.sender_user_id.as_deref()),
        MaybeText(m.sender_name.as_deref()),
        Text(&m.text),
        MaybeText(m.system_kind.as_deref()),
        MaybeText(m.system_arg.as_deref()),
        MaybeText(client_key),
        Int(m.created_at),
    ]
}

impl madoguchi_core::rusqlite::ToSql for Arg<'_> {
    fn to_sql(
        &self,
    ) -> madoguchi_core::rusqlite::Result<madoguchi_core::rusqlite::types::ToSqlOutput<'_>> {
        use madoguchi_core::rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Text(s) | Arg::MaybeText(Some(s)) => ValueRef::Text(s.as_bytes()),
            Arg::MaybeText(None) => ValueRef::Null,
            Arg::Int(n) => ValueRef::Integer(n),
        }))
    }
}

/// Binds one row of [`INSERT`], in its column order.
fn bind_message<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    m: &'q Message,
    client_key: Option<&'q str>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for arg in message_row(m, client_key) {
        query = match arg {
            Arg::Text(s) => query.bind(s),
            Arg::MaybeText(s) => query.bind(s),
            Arg::Int(n) => query.bind(n),
        };
    }
    query
}

/// Inserts a message; the raw sqlx error lets the caller recognise a concurrent resend.
pub(crate) async fn insert(
    tx: &mut WriteTx,
    m: &Message,
    client_key: Option<&str>,
) -> std::result::Result<(), sqlx::Error> {
    let sql = format!(
        "{INSERT} values ({})",
        tx.backend().placeholders(1, COLUMNS_PER_ROW)
    );
    bind_message(sqlx::query(&sql), m, client_key)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The statement of [`insert_many_unless_resent`] for `rows` rows; per row the
/// arguments are id, chat_id, seq, sender, sender_user_id, sender_name, body,
/// system_kind, system_arg, client_key, created_at.
pub(crate) fn insert_many_sql(backend: Backend, rows: usize) -> String {
    if backend == Backend::Postgres {
        return format!(
            "{INSERT} select {POSTGRES_ROW} from json_array_elements($1::json) as r \
             on conflict (chat_id, client_key) do nothing"
        );
    }
    let mut sql = format!("{INSERT} values ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&backend.placeholders(r * COLUMNS_PER_ROW + 1, COLUMNS_PER_ROW));
        sql.push(')');
    }
    sql.push_str(" on conflict (chat_id, client_key) do nothing");
    sql
}

/// Inserts messages with their client keys, skipping any whose key is already stored
/// (a failed statement would abort a PostgreSQL transaction); answers how many rows
/// were inserted.
pub(crate) async fn insert_many_unless_resent(
    tx: &mut WriteTx,
    sql: &str,
    rows: &[(&Message, &str)],
) -> Result<usize> {
    let mut query = sqlx::query(sql);
    match tx.backend() {
        Backend::Sqlite => {
            for (m, client_key) in rows {
                query = bind_message(query, m, Some(client_key));
            }
        }
        // One JSON array of rows, each an array in [`message_row`]'s order: sqlx's Any
        // driver binds no arrays, and one argument serves any number of rows, so the
        // insert is one round trip whatever the batch's size.
        Backend::Postgres => {
            let rows: Vec<_> = rows
                .iter()
                .map(|(m, client_key)| message_row(m, Some(client_key)))
                .collect();
            query = query.bind(serde_json::to_string(&rows).map_err(Error::internal)?);
        }
    }
    let done = query.execute(tx.conn()).await?;
    Ok(done.rows_affected() as usize)
}

pub(crate) async fn by_client_key(
    conn: &mut AnyConnection,
    chat_id: &str,
    client_key: &str,
) -> Result<Option<Message>> {
    let row = sqlx::query(&format!(
        "select {COLUMNS} {FROM} where m.chat_id = $1 and m.client_key = $2"
    ))
    .bind(chat_id)
    .bind(client_key)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn after(
    db: &Db,
    chat_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "select {COLUMNS} {FROM} where m.chat_id = $1 and m.seq > $2 order by m.seq limit $3"
    ))
    .bind(chat_id)
    .bind(after_seq)
    .bind(limit.max(0))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}
