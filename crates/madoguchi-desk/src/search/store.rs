//! The search's SQL: postings kept in step with a ticket, gram counts, the walks'
//! candidate and verification statements, and the tickets a page shows. What to run
//! and in which order is decided in the parent module.

use super::{Probe, Tier, Walk, COUNT_CAP};
use crate::access::Member;
use crate::sql::{contains_pattern, Sql};
use crate::tickets::store::{ticket_from_row, ticket_select};
use crate::tickets::Ticket;
use crate::Desk;
use madoguchi_core::Result;
use sqlx::Row;
use std::collections::BTreeSet;

/// Brings a ticket's postings from `old` to `new` inside the write transaction.
pub(crate) async fn update_postings(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    ticket_number: i64,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
) -> Result<()> {
    let gone: Vec<&String> = old.difference(new).collect();
    for chunk in gone.chunks(200) {
        let mut sql = Sql::new("delete from desk_ticket_grams where portal_id = ");
        sql.bind(portal_id)
            .push(" and ticket_number = ")
            .bind(ticket_number)
            .push(" and gram in ")
            .bind_list(chunk.iter().map(|g| g.as_str()));
        sql.query().execute(&mut *conn).await?;
    }
    let added: Vec<&String> = new.difference(old).collect();
    for chunk in added.chunks(200) {
        let mut sql =
            Sql::new("insert into desk_ticket_grams (portal_id, gram, ticket_number) values ");
        for (i, gram) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind(portal_id)
                .push(", ")
                .bind(gram.as_str())
                .push(", ")
                .bind(ticket_number)
                .push(")");
        }
        sql.push(" on conflict do nothing");
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

fn push_department_filter(sql: &mut Sql, department_ids: Option<&[String]>) {
    if let Some(ids) = department_ids {
        if ids.is_empty() {
            sql.push(" and 1 = 0");
        } else {
            sql.push(" and t.department_id in ").bind_list(ids.iter());
        }
    }
}

pub(super) struct Search<'a> {
    pub(super) portal_id: &'a str,
    pub(super) terms: Vec<String>,
    pub(super) exclude_number: Option<i64>,
    pub(super) departments: Option<&'a [String]>,
}

impl Search<'_> {
    /// That the candidate in `column` has `gram`. With `each`, as one posting looked up
    /// by its primary key: `limit 1 offset 0` keeps PostgreSQL from turning the
    /// `exists` into a semi-join, which merges the probe gram's whole postings with the
    /// driver's: two common grams beside a rare one read 49,000 postings for two
    /// candidates (60 ms at a million tickets instead of 3). Beside a common driver
    /// that merge is the better plan, so there the planner chooses.
    fn push_probe(&self, sql: &mut Sql, gram: &str, column: &str, each: bool) {
        sql.push("exists (select 1 from desk_ticket_grams g where g.portal_id = ")
            .bind(self.portal_id)
            .push(" and g.gram = ")
            .bind(gram)
            .push(" and g.ticket_number = ")
            .push(column)
            .push(if each { " limit 1 offset 0)" } else { ")" });
    }

    fn push_all(&self, sql: &mut Sql, grams: &[String], column: &str, each: bool) {
        sql.push("(");
        for (i, gram) in grams.iter().enumerate() {
            if i > 0 {
                sql.push(" and ");
            }
            self.push_probe(sql, gram, column, each);
        }
        sql.push(")");
    }

    fn push_terms_in_subject(&self, sql: &mut Sql) {
        sql.push("(");
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                sql.push(" and ");
            }
            sql.push("t.search_subject like ")
                .bind(contains_pattern(term))
                .push(" escape '\\'");
        }
        sql.push(")");
    }

    /// The next `batch` candidates of a walk older than `before`, newest first: only
    /// the postings (or the portal's ticket numbers) are read, along their primary key,
    /// so the plan is the same on both backends whatever the statistics.
    fn candidates_sql(&self, walk: &Walk, before: Option<i64>, batch: i64) -> Sql {
        let each = walk.probe_each;
        let (mut sql, column) = match &walk.driver {
            Some(driver) => {
                let mut sql = Sql::new(
                    "select g0.ticket_number from desk_ticket_grams g0 where g0.portal_id = ",
                );
                sql.bind(self.portal_id)
                    .push(" and g0.gram = ")
                    .bind(driver.as_str());
                (sql, "g0.ticket_number")
            }
            None => {
                let mut sql =
                    Sql::new("select t.ticket_number from desk_tickets t where t.portal_id = ");
                sql.bind(self.portal_id);
                (sql, "t.ticket_number")
            }
        };
        for probe in &walk.probes {
            sql.push(" and ");
            match probe {
                Probe::All(grams) => self.push_all(&mut sql, grams, column, each),
                Probe::AnyOf(sets) => {
                    sql.push("(");
                    for (i, set) in sets.iter().enumerate() {
                        if i > 0 {
                            sql.push(" or ");
                        }
                        self.push_all(&mut sql, set, column, each);
                    }
                    sql.push(")");
                }
            }
        }
        if let Some(before) = before {
            sql.push(" and ").push(column).push(" < ").bind(before);
        }
        sql.push(" order by ")
            .push(column)
            .push(" desc limit ")
            .bind(batch);
        sql
    }

    /// Which of `numbers` belong to `tier` (the substring tests), newest first.
    fn verify_sql(&self, tier: Tier, numbers: &[i64]) -> Sql {
        let mut sql = Sql::new("select t.ticket_number from desk_tickets t where t.portal_id = ");
        sql.bind(self.portal_id)
            .push(" and t.ticket_number in ")
            .bind_list(numbers.iter().copied());
        match tier {
            Tier::Subject => {
                sql.push(" and ");
                self.push_terms_in_subject(&mut sql);
            }
            Tier::Contact => {
                for term in &self.terms {
                    let pattern = contains_pattern(term);
                    sql.push(" and (t.search_subject like ")
                        .bind(pattern.clone())
                        .push(" escape '\\' or t.search_contact like ")
                        .bind(pattern)
                        .push(" escape '\\')");
                }
                sql.push(" and not ");
                self.push_terms_in_subject(&mut sql);
            }
        }
        if let Some(n) = self.exclude_number {
            sql.push(" and t.ticket_number <> ").bind(n);
        }
        push_department_filter(&mut sql, self.departments);
        sql.push(" order by t.ticket_number desc");
        sql
    }
}

impl Desk {
    /// Counts (up to [`COUNT_CAP`]) the postings of each gram, in one round trip.
    pub(super) async fn gram_counts(&self, portal_id: &str, grams: &[String]) -> Result<Vec<i64>> {
        if grams.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::default();
        for (i, gram) in grams.iter().enumerate() {
            if i > 0 {
                sql.push(" union all ");
            }
            sql.push("select cast(")
                .push(&i.to_string())
                .push(" as bigint) as i, (select count(*) from (select 1 as one from desk_ticket_grams where portal_id = ")
                .bind(portal_id)
                .push(" and gram = ")
                .bind(gram.as_str())
                .push(" limit ")
                .bind(COUNT_CAP)
                .push(") x) as n");
        }
        let rows = sql.query().fetch_all(self.db.pool()).await?;
        let mut counts = vec![0; grams.len()];
        for row in &rows {
            let i: i64 = row.try_get("i")?;
            let n: i64 = row.try_get("n")?;
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
                *slot = n;
            }
        }
        Ok(counts)
    }

    /// The ticket numbered `number`, if the scope (`departments`) shows it.
    pub(super) async fn ticket_in_scope(
        &self,
        member: &Member,
        number: i64,
        departments: Option<&[String]>,
    ) -> Result<Option<Ticket>> {
        let mut sql = Sql::new(&ticket_select());
        sql.push(" where t.portal_id = ")
            .bind(&member.portal_id)
            .push(" and t.ticket_number = ")
            .bind(number);
        push_department_filter(&mut sql, departments);
        sql.query()
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| ticket_from_row(&row, self, &member.portal_name))
            .transpose()
    }

    /// The next `batch` candidate numbers of a walk, older than `before`.
    pub(super) async fn candidates(
        &self,
        search: &Search<'_>,
        walk: &Walk,
        before: Option<i64>,
        batch: i64,
    ) -> Result<Vec<i64>> {
        self.ticket_numbers(search.candidates_sql(walk, before, batch))
            .await
    }

    /// Which of `numbers` belong to `tier`, newest first.
    pub(super) async fn verified(
        &self,
        search: &Search<'_>,
        tier: Tier,
        numbers: &[i64],
    ) -> Result<Vec<i64>> {
        self.ticket_numbers(search.verify_sql(tier, numbers)).await
    }

    /// The `ticket_number` column of a statement's rows.
    async fn ticket_numbers(&self, sql: Sql) -> Result<Vec<i64>> {
        let rows = sql.query().fetch_all(self.db.pool()).await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<i64, _>("ticket_number"))
            .collect::<Result<_, _>>()?)
    }

    /// The portal's tickets with these numbers, in any order.
    pub(super) async fn tickets_numbered(
        &self,
        member: &Member,
        numbers: &[i64],
    ) -> Result<Vec<Ticket>> {
        let mut sql = Sql::new(&ticket_select());
        sql.push(" where t.portal_id = ")
            .bind(&member.portal_id)
            .push(" and t.ticket_number in ")
            .bind_list(numbers.iter().copied());
        let rows = sql.query().fetch_all(self.db.pool()).await?;
        rows.iter()
            .map(|row| ticket_from_row(row, self, &member.portal_name))
            .collect()
    }
}
