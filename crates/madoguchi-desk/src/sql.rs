//! A small builder for the few queries whose shape depends on the input (filters,
//! search terms, batch inserts). Placeholders are numbered as they are written, so
//! each number first appears in ascending order (the portable dialect's rule).

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;
use std::fmt::Write;

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Text(s.clone())
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub fn bind(&mut self, arg: impl Into<Arg>) -> &mut Self {
        self.args.push(arg.into());
        let _ = write!(self.text, "${}", self.args.len());
        self
    }

    /// Appends `(p1, p2, …)` bound to `items`.
    pub fn bind_list<A: Into<Arg>>(&mut self, items: impl IntoIterator<Item = A>) -> &mut Self {
        self.push("(");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(item);
        }
        self.push(")")
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for arg in &self.args {
            q = match arg {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::Int(n) => q.bind(*n),
            };
        }
        q
    }
}

/// Escapes `%`, `_` and `\` for a `like … escape '\'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `%s%` with `s` escaped.
pub(crate) fn contains_pattern(s: &str) -> String {
    format!("%{}%", like_escape(s))
}

/// A row of the portal that an input refers to by id.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ref {
    Account,
    Sla,
    Department,
}

impl Ref {
    /// The table, the input field naming it and the message when it is unknown.
    fn table_field_message(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Ref::Account => ("desk_accounts", "accountId", "desk-error-unknown-account"),
            Ref::Sla => ("desk_slas", "slaId", "desk-error-unknown-sla"),
            Ref::Department => (
                "desk_departments",
                "departmentId",
                "desk-error-unknown-department",
            ),
        }
    }

    /// 400 naming the field (`accountId`, `slaId`, `departmentId`) unless the portal
    /// has the row `id`.
    pub(crate) async fn check(
        self,
        e: impl sqlx::AnyExecutor<'_>,
        portal_id: &str,
        id: &str,
    ) -> madoguchi_core::Result<()> {
        let (table, field, message) = self.table_field_message();
        let row = sqlx::query(&format!(
            "select id from {table} where portal_id = $1 and id = $2"
        ))
        .bind(portal_id)
        .bind(id)
        .fetch_optional(e)
        .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(madoguchi_core::Error::invalid(field, message)),
        }
    }
}

/// Touches the portal's row `id` of `table` (a no-op update): on PostgreSQL this
/// locks it for the rest of the write transaction, so a read after it sees what
/// the transaction will overwrite and concurrent changes wait. False when there is
/// no such row.
pub(crate) async fn lock_row(
    e: impl sqlx::AnyExecutor<'_>,
    table: &'static str,
    portal_id: &str,
    id: &str,
) -> madoguchi_core::Result<bool> {
    let touched = sqlx::query(&format!(
        "update {table} set updated_at = updated_at where portal_id = $1 and id = $2"
    ))
    .bind(portal_id)
    .bind(id)
    .execute(e)
    .await?;
    Ok(touched.rows_affected() > 0)
}
