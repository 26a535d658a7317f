//! SQL of operators.

use super::{Availability, Operator, Role};
use madoguchi_core::{Db, Error, ErrorCode, Result, WriteTx};
use sqlx::Row;

pub(crate) async fn insert(
    tx: &mut WriteTx,
    portal_id: &str,
    user_id: &str,
    role: Role,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into chat_operators (portal_id, user_id, role, status, created_at, updated_at) \
         values ($1, $2, $3, 'available', $4, $4)",
    )
    .bind(portal_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn role_and_name(
    db: &Db,
    portal_id: &str,
    user_id: &str,
) -> Result<Option<(Role, String, String)>> {
    let row = sqlx::query(
        "select o.role, u.name, u.email from chat_operators o join users u on u.id = o.user_id \
         where o.portal_id = $1 and o.user_id = $2",
    )
    .bind(portal_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => {
            let role: String = row.try_get("role")?;
            Ok(Some((
                Role::parse(&role).unwrap_or(Role::Operator),
                row.try_get("name")?,
                row.try_get("email")?,
            )))
        }
        None => Ok(None),
    }
}

pub(crate) async fn role_in_tx(
    tx: &mut WriteTx,
    portal_id: &str,
    user_id: &str,
) -> Result<Option<Role>> {
    let row = sqlx::query("select role from chat_operators where portal_id = $1 and user_id = $2")
        .bind(portal_id)
        .bind(user_id)
        .fetch_optional(tx.conn())
        .await?;
    match row {
        Some(row) => {
            let role: String = row.try_get("role")?;
            Ok(Role::parse(&role))
        }
        None => Ok(None),
    }
}

/// 409 when `user_id` is the portal's last admin.
pub(crate) async fn ensure_other_admin(
    tx: &mut WriteTx,
    portal_id: &str,
    user_id: &str,
) -> Result<()> {
    let others: i64 = sqlx::query(
        "select count(*) as n from chat_operators where portal_id = $1 and role = 'admin' and user_id <> $2",
    )
    .bind(portal_id)
    .bind(user_id)
    .fetch_one(tx.conn())
    .await?
    .try_get("n")?;
    if others == 0 {
        return Err(Error::new(ErrorCode::Conflict)
            .with_field("role")
            .with_message("chat-error-last-admin"));
    }
    Ok(())
}

pub(crate) async fn set_role(
    tx: &mut WriteTx,
    portal_id: &str,
    user_id: &str,
    role: Role,
    now: i64,
) -> Result<()> {
    sqlx::query("update chat_operators set role = $1, updated_at = $2 where portal_id = $3 and user_id = $4")
        .bind(role.as_str())
        .bind(now)
        .bind(portal_id)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn set_departments(
    tx: &mut WriteTx,
    portal_id: &str,
    user_id: &str,
    ids: &[String],
) -> Result<()> {
    sqlx::query("delete from chat_operator_departments where portal_id = $1 and user_id = $2")
        .bind(portal_id)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    for id in ids {
        sqlx::query(
            "insert into chat_operator_departments (portal_id, user_id, department_id) values ($1, $2, $3)",
        )
        .bind(portal_id)
        .bind(user_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

pub(crate) async fn set_status(
    db: &Db,
    portal_id: &str,
    user_id: &str,
    status: Availability,
    now: i64,
) -> Result<()> {
    sqlx::query("update chat_operators set status = $1, updated_at = $2 where portal_id = $3 and user_id = $4")
        .bind(status.as_str())
        .bind(now)
        .bind(portal_id)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub(crate) async fn department_ids(db: &Db, portal_id: &str, user_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "select department_id from chat_operator_departments where portal_id = $1 and user_id = $2 \
         order by department_id",
    )
    .bind(portal_id)
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get("department_id")?))
        .collect()
}

pub(crate) async fn user_id_by_email(db: &Db, email_lower: &str) -> Result<Option<String>> {
    let row = sqlx::query("select id from users where email_lower = $1")
        .bind(email_lower)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok(r.try_get("id")?)).transpose()
}

/// Operators of a portal (or just `only_user`), with their departments.
pub(crate) async fn list(
    db: &Db,
    portal_id: &str,
    only_user: Option<&str>,
) -> Result<Vec<Operator>> {
    let rows = sqlx::query(
        "select o.user_id, u.email, u.name, o.role, o.status from chat_operators o \
         join users u on u.id = o.user_id \
         where o.portal_id = $1 and ($2 = '' or o.user_id = $2) order by o.created_at, u.email",
    )
    .bind(portal_id)
    .bind(only_user.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    let depts = sqlx::query(
        "select user_id, department_id from chat_operator_departments where portal_id = $1 \
         order by department_id",
    )
    .bind(portal_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let user_id: String = row.try_get("user_id")?;
        let role: String = row.try_get("role")?;
        let status: String = row.try_get("status")?;
        let mut department_ids = Vec::new();
        for d in &depts {
            let uid: String = d.try_get("user_id")?;
            if uid == user_id {
                department_ids.push(d.try_get("department_id")?);
            }
        }
        out.push(Operator {
            id: user_id.clone(),
            user_id,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            role: Role::parse(&role).unwrap_or(Role::Operator),
            status: Availability::parse(&status).unwrap_or(Availability::Away),
            department_ids,
            online: false,
        });
    }
    Ok(out)
}

/// Whether an available operator may take a chat of `department_id` (C2 routing).
pub(crate) async fn available_for(
    db: &Db,
    portal_id: &str,
    department_id: Option<&str>,
) -> Result<bool> {
    let row = sqlx::query(
        "select 1 as one from chat_operators o where o.portal_id = $1 and o.status = 'available' \
         and (o.role in ('admin', 'supervisor') or exists (select 1 from chat_operator_departments d \
         where d.portal_id = o.portal_id and d.user_id = o.user_id and d.department_id = $2)) limit 1",
    )
    .bind(portal_id)
    .bind(department_id.unwrap_or(""))
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// V1: the available operators who may take a chat of `department_id`.
pub(crate) async fn available_ids_for(
    db: &Db,
    portal_id: &str,
    department_id: Option<&str>,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "select o.user_id from chat_operators o where o.portal_id = $1 and o.status = 'available' \
         and (o.role in ('admin', 'supervisor') or exists (select 1 from chat_operator_departments d \
         where d.portal_id = o.portal_id and d.user_id = o.user_id and d.department_id = $2))",
    )
    .bind(portal_id)
    .bind(department_id.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("user_id").map_err(Into::into))
        .collect()
}
