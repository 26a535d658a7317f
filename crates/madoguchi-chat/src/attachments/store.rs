//! SQL of chat files (base64 in a text column: every column is text or bigint).

use super::{Attachment, AttachmentFile};
use crate::messages::Message;
use base64::Engine;
use madoguchi_core::{Db, Error, Result, WriteTx};
use sqlx::Row;

pub(crate) async fn insert(
    tx: &mut WriteTx,
    portal_id: &str,
    chat_id: &str,
    a: &Attachment,
    data: &[u8],
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into chat_attachments (id, portal_id, chat_id, name, content_type, size, \
         data_base64, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&a.id)
    .bind(portal_id)
    .bind(chat_id)
    .bind(&a.name)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(base64::engine::general_purpose::STANDARD.encode(data))
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Marks the stored message as the one carrying its attachment.
pub(crate) async fn link_message(tx: &mut WriteTx, m: &Message) -> Result<()> {
    let Some(a) = &m.attachment else {
        return Ok(());
    };
    sqlx::query("update chat_messages set attachment_id = $1 where id = $2")
        .bind(&a.id)
        .bind(&m.id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The department of a chat of the portal (`None` inside: no department); `None` when
/// the portal has no such chat.
pub(crate) async fn chat_department(
    db: &Db,
    portal_id: &str,
    chat_id: &str,
) -> Result<Option<Option<String>>> {
    let row = sqlx::query("select department_id from chat_chats where portal_id = $1 and id = $2")
        .bind(portal_id)
        .bind(chat_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok(r.try_get("department_id")?)).transpose()
}

pub(crate) async fn file(
    db: &Db,
    chat_id: &str,
    attachment_id: &str,
) -> Result<Option<AttachmentFile>> {
    let row = sqlx::query(
        "select id, name, content_type, size, data_base64 from chat_attachments \
         where chat_id = $1 and id = $2",
    )
    .bind(chat_id)
    .bind(attachment_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let data: String = row.try_get("data_base64")?;
    Ok(Some(AttachmentFile {
        attachment: Attachment {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            content_type: row.try_get("content_type")?,
            size: row.try_get("size")?,
        },
        data: base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| Error::internal(anyhow::Error::new(e)))?,
    }))
}
