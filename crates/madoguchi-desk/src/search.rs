//! Ticket search (SPEC D5, I19, Q4): by ticket number, contact name, contact email and
//! subject; Japanese matches substrings, English matches words and their prefixes.
//!
//! It runs in the database, so every node of a cluster and both backends answer the
//! same. Each ticket's subject and contact text is normalised ([`normalize`]: NFKC-like
//! width folding and lower case) and stored on the ticket (`search_subject`,
//! `search_contact`); its *grams* go to `desk_ticket_grams(portal_id, gram,
//! ticket_number)` in the same write transaction as the change:
//!
//! - a run of CJK characters (kana, kanji, hangul) gives every character bigram, so any
//!   substring of two or more characters is findable (「返金」, 「パスワード」, 「リセット」);
//! - a run of other letters and digits (a word) gives its prefixes of 2 to
//!   [`MAX_PREFIX`] characters, so a word is found by any prefix of it ("pass" finds
//!   "password"); an email address is several words.
//!
//! A query is split into terms at whitespace; each term's grams are made the same way
//! (for a word: the word itself, cut to [`MAX_PREFIX`]; for CJK, bigrams that cover the
//! term). A ticket is a candidate when it has the grams; candidates are walked from the
//! rarest gram (each counted up to a cap on the primary-key index) in `ticket_number`
//! order, and each is verified in SQL with a substring test of every term against the
//! normalised texts, so the walk stops as soon as a page is full. A query with no grams
//! (one character) walks the portal's tickets with the same substring test. Ranking:
//! the exact ticket number first, then tickets whose subject holds every term, then
//! contact name/email matches; newer tickets first within each (one query per tier).

use crate::access::Member;
use crate::sql::{contains_pattern, Sql};
use crate::tickets::{ticket_from_row, ticket_select, Ticket, TICKET_COLUMNS, TICKET_FROM};
use crate::Desk;
use madoguchi_core::{Error, Result};
use serde::Deserialize;
use sqlx::Row;
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};

/// The longest word prefix indexed; longer query words are cut to it.
pub const MAX_PREFIX: usize = 16;
/// A query longer than this (characters) is refused.
pub const MAX_QUERY_CHARS: usize = 200;
const MAX_TERMS: usize = 10;
/// Gram frequencies are counted up to this; enough to pick the rarest.
const COUNT_CAP: i64 = 1000;
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?q=&limit=&offset=`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    pub q: String,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Only tickets of these departments (the integration's view scope, I14); not an
    /// HTTP parameter.
    #[serde(skip)]
    #[param(ignore)]
    #[schema(ignore)]
    pub department_ids: Option<Vec<String>>,
}

/// Folds width and case the way NFKC + lower case would for the text we meet:
/// full-width ASCII to ASCII, the ideographic space to a space, half-width katakana
/// (with its voiced marks) to full-width, then lower case.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(kana) = halfwidth_kana(c) {
            let combined = match chars.peek() {
                Some('\u{FF9E}') => voiced(kana),
                Some('\u{FF9F}') => semi_voiced(kana),
                _ => None,
            };
            if let Some(k) = combined {
                chars.next();
                out.push(k);
            } else {
                out.push(kana);
            }
            continue;
        }
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        };
        out.extend(c.to_lowercase());
    }
    out
}

const HALFWIDTH_KANA: &[char] = &[
    '。', '「', '」', '、', '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー',
    'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ',
    'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ',
    'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ', 'ン', '゛', '゜',
];

fn halfwidth_kana(c: char) -> Option<char> {
    let i = (c as u32).checked_sub(0xFF61)?;
    HALFWIDTH_KANA.get(i as usize).copied()
}

fn voiced(k: char) -> Option<char> {
    match k {
        'カ' | 'キ' | 'ク' | 'ケ' | 'コ' | 'サ' | 'シ' | 'ス' | 'セ' | 'ソ' | 'タ' | 'チ'
        | 'ツ' | 'テ' | 'ト' | 'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => {
            char::from_u32(k as u32 + 1)
        }
        'ウ' => Some('ヴ'),
        _ => None,
    }
}

fn semi_voiced(k: char) -> Option<char> {
    match k {
        'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => char::from_u32(k as u32 + 2),
        _ => None,
    }
}

/// Kana, kanji and hangul: text without spaces between words, indexed by bigrams.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3041}'..='\u{309F}'
        | '\u{30A1}'..='\u{30FA}'
        | '\u{30FC}'..='\u{30FF}'
        | '\u{31F0}'..='\u{31FF}'
        | '\u{3005}'..='\u{3007}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{AC00}'..='\u{D7AF}'
        | '\u{20000}'..='\u{2FFFF}')
}

#[derive(Debug, PartialEq, Eq)]
enum Run<'a> {
    Cjk(Vec<char>),
    Word(&'a str),
}

/// Splits normalised text into CJK runs and word runs; everything else separates.
fn runs(text: &str) -> Vec<Run<'_>> {
    let mut out = Vec::new();
    let mut cjk: Vec<char> = Vec::new();
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if is_cjk(c) {
            if let Some(s) = word_start.take() {
                out.push(Run::Word(&text[s..i]));
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            if !cjk.is_empty() {
                out.push(Run::Cjk(std::mem::take(&mut cjk)));
            }
            word_start.get_or_insert(i);
        } else {
            if let Some(s) = word_start.take() {
                out.push(Run::Word(&text[s..i]));
            }
            if !cjk.is_empty() {
                out.push(Run::Cjk(std::mem::take(&mut cjk)));
            }
        }
    }
    if let Some(s) = word_start {
        out.push(Run::Word(&text[s..]));
    }
    if !cjk.is_empty() {
        out.push(Run::Cjk(cjk));
    }
    out
}

fn prefix(word: &str, chars: usize) -> &str {
    match word.char_indices().nth(chars) {
        Some((i, _)) => &word[..i],
        None => word,
    }
}

/// The grams a normalised text is indexed under.
pub fn index_grams(text: &str, grams: &mut BTreeSet<String>) {
    for run in runs(text) {
        match run {
            Run::Cjk(chars) => {
                for pair in chars.windows(2) {
                    grams.insert(pair.iter().collect());
                }
            }
            Run::Word(word) => {
                for n in 2..=MAX_PREFIX {
                    let p = prefix(word, n);
                    if p.chars().count() < n {
                        if p.chars().count() >= 2 {
                            grams.insert(p.to_owned());
                        }
                        break;
                    }
                    grams.insert(p.to_owned());
                }
            }
        }
    }
}

/// The grams a ticket whose normalised texts are these must have to hold `term`.
pub fn query_grams(term: &str, grams: &mut BTreeSet<String>) {
    for run in runs(term) {
        match run {
            Run::Cjk(chars) => {
                for pair in chars.windows(2) {
                    grams.insert(pair.iter().collect());
                }
            }
            Run::Word(word) => {
                if word.chars().count() >= 2 {
                    grams.insert(prefix(word, MAX_PREFIX).to_owned());
                }
            }
        }
    }
}

/// The grams of a ticket: its subject and its contact's text.
pub(crate) fn ticket_grams(search_subject: &str, search_contact: &str) -> BTreeSet<String> {
    let mut grams = BTreeSet::new();
    index_grams(search_subject, &mut grams);
    index_grams(search_contact, &mut grams);
    grams
}

/// The normalised contact text of a ticket: the name (also without spaces, so that
/// 「山田太郎」 finds 「山田 太郎」) and the email.
pub(crate) fn contact_text(name: Option<&str>, email: Option<&str>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
        let name = normalize(name.trim());
        let squeezed: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        if squeezed != name {
            parts.push(squeezed);
        }
        parts.insert(0, name);
    }
    if let Some(email) = email.filter(|e| !e.trim().is_empty()) {
        parts.push(normalize(email.trim()));
    }
    parts.join("\n")
}

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

/// The validated limit and offset of a list call.
pub(crate) fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64)> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid("limit", "desk-error-limit"));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(Error::invalid("offset", "desk-error-offset"));
    }
    Ok((limit, offset))
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

/// Which part of the ranking a query fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Every term is in the subject.
    Subject,
    /// Every term is in the subject or the contact text, but not all in the subject.
    Contact,
}

/// A parsed search: normalised terms, the grams candidates must have (rarest
/// first), the exact ticket number to leave out, the department filter.
struct Plan<'a> {
    portal_id: &'a str,
    terms: Vec<String>,
    grams: Vec<String>,
    exclude_number: Option<i64>,
    departments: Option<&'a [String]>,
}

impl Plan<'_> {
    /// One tier, newest first. The walk follows an index in `ticket_number` order
    /// (the rarest gram's postings, or the portal's tickets when there are no grams), so
    /// a page stops as soon as it is full.
    fn tier_sql(&self, tier: Tier, count: bool, limit: i64, offset: i64) -> Sql {
        let mut sql = if count {
            Sql::new("select count(*) as n")
        } else {
            Sql::new(TICKET_COLUMNS)
        };
        let order_column = match self.grams.split_first() {
            Some((driver, probes)) => {
                sql.push(
                    " from desk_ticket_grams g0 join desk_tickets t on t.portal_id = g0.portal_id \
                     and t.ticket_number = g0.ticket_number ",
                )
                .push(TICKET_FROM)
                .push(" where g0.portal_id = ")
                .bind(self.portal_id)
                .push(" and g0.gram = ")
                .bind(driver.as_str());
                for gram in probes {
                    sql.push(" and exists (select 1 from desk_ticket_grams g where g.portal_id = ")
                        .bind(self.portal_id)
                        .push(" and g.gram = ")
                        .bind(gram.as_str())
                        .push(" and g.ticket_number = g0.ticket_number)");
                }
                "g0.ticket_number"
            }
            None => {
                sql.push(" from desk_tickets t ")
                    .push(TICKET_FROM)
                    .push(" where t.portal_id = ")
                    .bind(self.portal_id);
                "t.ticket_number"
            }
        };
        match tier {
            Tier::Subject => {
                for term in &self.terms {
                    sql.push(" and t.search_subject like ")
                        .bind(contains_pattern(term))
                        .push(" escape '\\'");
                }
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
                sql.push(" and not (");
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
        }
        if let Some(n) = self.exclude_number {
            sql.push(" and t.ticket_number <> ").bind(n);
        }
        push_department_filter(&mut sql, self.departments);
        if !count {
            sql.push(" order by ")
                .push(order_column)
                .push(" desc limit ")
                .bind(limit)
                .push(" offset ")
                .bind(offset);
        }
        sql
    }
}

/// The grams a query's candidates must have: for CJK runs non-overlapping bigrams
/// that still cover every character (the substring test checks the rest), for words
/// the word itself.
fn covering_grams(term: &str, grams: &mut BTreeSet<String>) {
    for run in runs(term) {
        match run {
            Run::Cjk(chars) if chars.len() >= 2 => {
                let mut i = 0;
                while i + 1 < chars.len() {
                    grams.insert(chars[i..i + 2].iter().collect());
                    i += 2;
                }
                if chars.len() % 2 == 1 {
                    grams.insert(chars[chars.len() - 2..].iter().collect());
                }
            }
            Run::Cjk(_) => {}
            Run::Word(word) => {
                if word.chars().count() >= 2 {
                    grams.insert(prefix(word, MAX_PREFIX).to_owned());
                }
            }
        }
    }
}

/// At most this many grams are counted, and at most [`MAX_PROBES`] of the rarest
/// used; the substring test makes the answer exact whatever the grams.
const MAX_COUNTED: usize = 16;
const MAX_PROBES: usize = 6;

impl Desk {
    /// Searches the portal's tickets (see the module documentation), ranked, `limit`
    /// (default 50, at most 200) from `offset`. 400 naming `q` for an empty or overlong
    /// query.
    pub async fn search_tickets(
        &self,
        member: &Member,
        query: &SearchQuery,
    ) -> Result<Vec<Ticket>> {
        let (limit, offset) = page(query.limit, query.offset)?;
        let raw = query.q.trim();
        if raw.is_empty() || raw.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::invalid("q", "desk-error-query"));
        }
        let normalized = normalize(raw);
        let mut terms: Vec<String> = Vec::new();
        for term in normalized.split_whitespace() {
            if !terms.iter().any(|t| t == term) && terms.len() < MAX_TERMS {
                terms.push(term.to_owned());
            }
        }
        if terms.is_empty() {
            return Err(Error::invalid("q", "desk-error-query"));
        }
        let departments = query.department_ids.as_deref();

        // The exact ticket number ranks first (「#101」 or 「101」).
        let number = normalized
            .trim()
            .trim_start_matches('#')
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0);
        let exact = match number {
            Some(n) => {
                let mut sql = Sql::new(&ticket_select());
                sql.push(" where t.portal_id = ")
                    .bind(&member.portal_id)
                    .push(" and t.ticket_number = ")
                    .bind(n);
                push_department_filter(&mut sql, departments);
                sql.query()
                    .fetch_optional(self.db.pool())
                    .await?
                    .map(|row| ticket_from_row(&row, self, &member.portal_name))
                    .transpose()?
            }
            None => None,
        };
        let mut out = Vec::new();
        let (mut offset, mut limit) = match &exact {
            Some(t) if offset == 0 => {
                out.push(t.clone());
                (0, limit - 1)
            }
            Some(_) => (offset - 1, limit),
            None => (offset, limit),
        };
        if limit == 0 {
            return Ok(out);
        }

        let mut grams = BTreeSet::new();
        for term in &terms {
            covering_grams(term, &mut grams);
        }
        // Rarest gram first: it drives the walk, a few others are probes.
        let mut counted = Vec::with_capacity(grams.len().min(MAX_COUNTED));
        for gram in grams.into_iter().take(MAX_COUNTED) {
            let row = sqlx::query(
                "select count(*) as n from (select 1 as one from desk_ticket_grams \
                 where portal_id = $1 and gram = $2 limit $3) x",
            )
            .bind(&member.portal_id)
            .bind(&gram)
            .bind(COUNT_CAP)
            .fetch_one(self.db.pool())
            .await?;
            let n: i64 = row.try_get("n")?;
            if n == 0 {
                return Ok(out);
            }
            counted.push((n, gram));
        }
        counted.sort();
        let plan = Plan {
            portal_id: &member.portal_id,
            terms,
            grams: counted
                .into_iter()
                .take(MAX_PROBES)
                .map(|(_, g)| g)
                .collect(),
            exclude_number: exact.as_ref().map(|t| t.ticket_number),
            departments,
        };

        // Subject matches, then contact matches; each tier newest first.
        let subject_rows = plan
            .tier_sql(Tier::Subject, false, limit, offset)
            .query()
            .fetch_all(self.db.pool())
            .await?;
        let found = subject_rows.len() as i64;
        for row in &subject_rows {
            out.push(ticket_from_row(row, self, &member.portal_name)?);
        }
        if found == limit {
            return Ok(out);
        }
        // The subject tier ended inside this page: the contact tier starts after it.
        let subject_total = if found > 0 || offset == 0 {
            offset + found
        } else {
            let row = plan
                .tier_sql(Tier::Subject, true, 0, 0)
                .query()
                .fetch_one(self.db.pool())
                .await?;
            row.try_get::<i64, _>("n")?
        };
        offset = (offset - subject_total).max(0);
        limit -= found;
        let contact_rows = plan
            .tier_sql(Tier::Contact, false, limit, offset)
            .query()
            .fetch_all(self.db.pool())
            .await?;
        for row in &contact_rows {
            out.push(ticket_from_row(row, self, &member.portal_name)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn grams_of(text: &str) -> BTreeSet<String> {
        let mut g = BTreeSet::new();
        index_grams(&normalize(text), &mut g);
        g
    }

    fn finds(text: &str, query: &str) -> bool {
        let indexed = grams_of(text);
        let mut wanted = BTreeSet::new();
        query_grams(&normalize(query), &mut wanted);
        wanted.is_subset(&indexed) && normalize(text).contains(&normalize(query))
    }

    #[test]
    fn normalising_folds_width_and_case() {
        assert_eq!(normalize("ＡＢＣ１２３　Ｘ"), "abc123 x");
        assert_eq!(normalize("ﾊﾟｽﾜｰﾄﾞ"), "パスワード");
        assert_eq!(normalize("ｶﾞｷﾞｳﾞ"), "ガギヴ");
        assert_eq!(normalize("Suzuki@Example.JP"), "suzuki@example.jp");
    }

    #[test]
    fn japanese_substrings_of_two_or_more_characters_are_found() {
        let subject = "パスワードのリセットができない";
        for q in ["パスワード", "リセット", "ドのリ", "できない", "ﾊﾟｽﾜｰﾄﾞ"]
        {
            assert!(finds(subject, q), "{q}");
        }
        assert!(finds("返金について", "返金"));
        assert!(finds("請求書の再発行", "請求"));
        assert!(!finds(subject, "パスポート"));
    }

    #[test]
    fn english_words_are_found_by_any_prefix() {
        let subject = "Cannot reset my Password";
        for q in ["password", "PASS", "reset", "cannot reset", "re"] {
            assert!(finds(subject, q), "{q}");
        }
        assert!(!finds(subject, "resets"));
    }

    #[test]
    fn covering_grams_are_a_subset_that_still_covers_every_character() {
        let mut all = BTreeSet::new();
        query_grams("パスワードのリセット", &mut all);
        let mut some = BTreeSet::new();
        covering_grams("パスワードのリセット", &mut some);
        assert!(some.is_subset(&all));
        assert_eq!(
            some.into_iter()
                .collect::<Vec<_>>()
                .concat()
                .chars()
                .collect::<BTreeSet<_>>(),
            "パスワードのリセット".chars().collect::<BTreeSet<_>>()
        );
        let mut odd = BTreeSet::new();
        covering_grams("返金額", &mut odd);
        assert_eq!(
            odd,
            ["返金", "金額"].into_iter().map(String::from).collect()
        );
    }

    #[test]
    fn one_character_queries_have_no_grams() {
        let mut g = BTreeSet::new();
        query_grams("返", &mut g);
        query_grams("a", &mut g);
        assert!(g.is_empty());
    }

    #[test]
    fn long_words_are_cut_to_the_indexed_prefix() {
        let word = "internationalization";
        assert!(finds(word, word));
        let mut q = BTreeSet::new();
        query_grams(word, &mut q);
        assert_eq!(q.iter().next().map(|g| g.chars().count()), Some(MAX_PREFIX));
    }

    #[test]
    fn emails_and_mixed_scripts_split_into_runs() {
        assert!(finds(
            "suzuki.ichiro@example.co.jp",
            "suzuki.ichiro@example.co.jp"
        ));
        assert!(finds("suzuki.ichiro@example.co.jp", "example"));
        assert!(finds("Wi-Fiが繋がらない", "wi-fi"));
        assert!(finds("Wi-Fiが繋がらない", "繋がら"));
    }

    #[test]
    fn contact_text_holds_the_name_with_and_without_spaces_and_the_email() {
        let t = contact_text(Some("山田 太郎"), Some("Taro@Example.jp"));
        assert_eq!(t, "山田 太郎\n山田太郎\ntaro@example.jp");
    }
}
