//! Ticket search (SPEC D5, I19, Q4): by ticket number, contact name, contact email and
//! subject; Japanese matches substrings, English matches words and their prefixes.
//!
//! It runs in the database, so every node of a cluster and both backends answer the
//! same. Each ticket's subject and contact text is normalised ([`normalize`]: NFKC-like
//! width folding and lower case) and stored on the ticket (`search_subject`,
//! `search_contact`); its *grams* go to `desk_ticket_grams(portal_id, gram,
//! ticket_number)` in the same write transaction as the change (contact grams carry the
//! prefix [`CONTACT_NS`], so each field has its own postings):
//!
//! - a run of CJK characters (kana, kanji, hangul) gives every character and every
//!   character bigram, so any substring is findable (「返金」, 「パスワード」, 「例」);
//! - a run of other letters and digits (a word) gives its prefixes of 1 to
//!   [`MAX_PREFIX`] characters, so a word is found by any prefix of it ("pass" finds
//!   "password"); an email address is several words.
//!
//! A query is split into terms at whitespace; a term needs a few grams ([`query_grams`]:
//! bigrams covering a CJK run, a word cut to [`MAX_PREFIX`]). Every gram's postings
//! are counted (up to a cap, in one round trip) in both fields. Ranking: the exact
//! ticket number first; then the *subject tier* (every term in the subject), walked
//! along the rarest subject gram's postings newest first with the other grams as
//! probes; then the *contact tier* (each term in the subject or the contact, not all in
//! the subject), the union of one walk per term along its contact grams. Every
//! candidate is verified in SQL with a substring test of each term against the
//! normalised texts, so answers are exact. A walk reads only postings, along their
//! primary key in `ticket_number` order, in growing batches, and stops as soon as the
//! page is full; the candidates are then verified by number. Behind a rare driver the
//! other grams are probed per candidate by primary key (written so that PostgreSQL
//! cannot turn them into joins), so those plans are the same on both backends whatever
//! the planner's statistics; behind a common one PostgreSQL may merge postings. A query made only of
//! punctuation walks the portal's ticket numbers with the same test.

mod store;

pub(crate) use store::update_postings;
use store::Search;

use crate::access::Member;
use crate::tickets::Ticket;
use crate::Desk;
use madoguchi_core::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};

/// The longest word prefix indexed; longer query words are cut to it.
pub const MAX_PREFIX: usize = 16;
/// A query longer than this (characters) is refused.
pub const MAX_QUERY_CHARS: usize = 200;
const MAX_TERMS: usize = 10;
/// Gram frequencies are counted up to this. Enough to pick the rarest: at 500 a gram
/// in 1,000 postings and one in 16,000 both counted 500, and the walk followed the
/// wrong one (40 ms instead of 5 at a million tickets); counting to 2,000 costs a
/// fraction of a millisecond a gram.
const COUNT_CAP: i64 = 2000;
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

/// The grams a normalised text is indexed under: every character and character
/// bigram of CJK runs, every prefix (up to [`MAX_PREFIX`] characters) of words.
pub fn index_grams(text: &str, grams: &mut BTreeSet<String>) {
    for run in runs(text) {
        match run {
            Run::Cjk(chars) => {
                for c in &chars {
                    grams.insert(c.to_string());
                }
                for pair in chars.windows(2) {
                    grams.insert(pair.iter().collect());
                }
            }
            Run::Word(word) => {
                for (n, (i, c)) in word.char_indices().enumerate() {
                    if n == MAX_PREFIX {
                        break;
                    }
                    grams.insert(word[..i + c.len_utf8()].to_owned());
                }
            }
        }
    }
}

/// The grams a text must have to hold `term` (normalised): for CJK runs bigrams that
/// cover every character (a lone character itself), for words the word cut to
/// [`MAX_PREFIX`]. The substring test checks the rest.
pub fn query_grams(term: &str) -> Vec<String> {
    let mut grams: Vec<String> = Vec::new();
    let mut add = |g: String| {
        if !grams.contains(&g) {
            grams.push(g);
        }
    };
    for run in runs(term) {
        match run {
            Run::Cjk(chars) if chars.len() == 1 => add(chars[0].to_string()),
            Run::Cjk(chars) => {
                let mut i = 0;
                while i + 1 < chars.len() {
                    add(chars[i..i + 2].iter().collect());
                    i += 2;
                }
                if chars.len() % 2 == 1 {
                    add(chars[chars.len() - 2..].iter().collect());
                }
            }
            Run::Word(word) => add(prefix(word, MAX_PREFIX).to_owned()),
        }
    }
    grams
}

/// Contact grams are stored with this prefix, apart from subject grams, so that each
/// ranking tier walks only the postings of its own field. (Grams hold only letters and
/// digits, so the prefix never collides.)
pub const CONTACT_NS: &str = "@";

/// The grams of a ticket: its subject and its contact's text.
pub(crate) fn ticket_grams(search_subject: &str, search_contact: &str) -> BTreeSet<String> {
    let mut grams = BTreeSet::new();
    index_grams(search_subject, &mut grams);
    let mut contact = BTreeSet::new();
    index_grams(search_contact, &mut contact);
    grams.extend(contact.into_iter().map(|g| format!("{CONTACT_NS}{g}")));
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

/// Which part of the ranking a query fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Every term is in the subject.
    Subject,
    /// Every term is in the subject or the contact text, but not all in the subject.
    Contact,
}

/// A condition on a candidate's postings.
#[derive(Debug, Clone)]
enum Probe {
    /// It has all these grams.
    All(Vec<String>),
    /// It has all the grams of one of these sets.
    AnyOf(Vec<Vec<String>>),
}

/// How candidates are found: walking one gram's postings (newest first) with probes,
/// or walking the portal's tickets when no gram can be used.
#[derive(Debug, Clone)]
struct Walk {
    driver: Option<String>,
    probes: Vec<Probe>,
    /// The driver is rare (fewer postings than [`COUNT_CAP`]): each candidate's other
    /// grams are looked up one by one. Otherwise the database may merge postings.
    probe_each: bool,
}

/// A term's grams in each field, rarest first; `None` when some gram is missing there,
/// so the term cannot be in that field.
#[derive(Debug, Clone)]
struct TermGrams {
    subject: Option<Vec<(i64, String)>>,
    contact: Option<Vec<(i64, String)>>,
}

/// At most this many grams of a term are looked at, and at most this many used as
/// probes per field; the substring test makes the answer exact whatever the grams.
const GRAMS_PER_TERM: usize = 4;
const MAX_PROBES: usize = 6;

/// The first candidate batch of a walk; later ones grow up to [`MAX_BATCH`].
const FIRST_BATCH: i64 = 100;
const MAX_BATCH: i64 = 2000;

fn names(grams: &[(i64, String)], n: usize) -> Vec<String> {
    grams.iter().take(n).map(|(_, g)| g.clone()).collect()
}

/// The subject tier's walk: every term's subject grams, the rarest drives. `None`
/// when some term cannot be in the subject.
fn subject_walk(terms: &[TermGrams]) -> Option<Walk> {
    let mut all: Vec<(i64, String)> = Vec::new();
    for t in terms {
        all.extend(t.subject.as_ref()?.iter().cloned());
    }
    all.sort();
    all.dedup_by(|a, b| a.1 == b.1);
    let probe_each = all.first().is_some_and(|(n, _)| *n < COUNT_CAP);
    let mut grams = all.into_iter().map(|(_, g)| g);
    Some(Walk {
        probe_each,
        driver: grams.next(),
        probes: match grams.take(MAX_PROBES).collect::<Vec<_>>() {
            p if p.is_empty() => Vec::new(),
            p => vec![Probe::All(p)],
        },
    })
}

/// The contact tier's walks: one per term that can be in the contact, driven by its
/// contact grams, probing the other terms in either field. A ticket of this tier has
/// some term only in its contact, so it is on that term's walk. `None` when some term
/// can be in neither field; a term without grams needs the plain walk.
fn contact_walks(terms: &[TermGrams]) -> Option<Vec<Walk>> {
    if terms
        .iter()
        .any(|t| t.subject.is_none() && t.contact.is_none())
    {
        return None;
    }
    if terms.iter().any(|t| {
        t.contact.as_ref().is_some_and(Vec::is_empty)
            || t.subject.as_ref().is_some_and(Vec::is_empty)
    }) {
        // A term without grams (punctuation only) cannot steer a walk.
        return Some(vec![Walk {
            driver: None,
            probes: Vec::new(),
            probe_each: false,
        }]);
    }
    let mut walks = Vec::new();
    for (k, term) in terms.iter().enumerate() {
        let Some(contact) = &term.contact else {
            continue;
        };
        let mut probes = Vec::new();
        if contact.len() > 1 {
            probes.push(Probe::All(names(&contact[1..], MAX_PROBES)));
        }
        for (j, other) in terms.iter().enumerate() {
            if j == k {
                continue;
            }
            let mut sets = Vec::new();
            if let Some(s) = &other.subject {
                sets.push(names(s, 2));
            }
            if let Some(c) = &other.contact {
                sets.push(names(c, 2));
            }
            probes.push(Probe::AnyOf(sets));
        }
        walks.push(Walk {
            driver: contact.first().map(|(_, g)| g.clone()),
            probes,
            probe_each: contact.first().is_some_and(|(n, _)| *n < COUNT_CAP),
        });
    }
    Some(walks)
}

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
            Some(n) => self.ticket_in_scope(member, n, departments).await?,
            None => None,
        };
        let mut out = Vec::new();
        let (offset, limit) = match &exact {
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

        // Each term's grams in both fields, counted in one round trip.
        let per_term: Vec<Vec<String>> = terms
            .iter()
            .map(|t| {
                let mut g = query_grams(t);
                // Keep the ends and spread the rest: every gram narrows alike.
                if g.len() > GRAMS_PER_TERM {
                    let step = (g.len() - 1) as f64 / (GRAMS_PER_TERM - 1) as f64;
                    g = (0..GRAMS_PER_TERM)
                        .map(|i| g[(i as f64 * step).round() as usize].clone())
                        .collect();
                }
                g
            })
            .collect();
        let mut asked: Vec<String> = Vec::new();
        for grams in &per_term {
            for g in grams {
                asked.push(g.clone());
                asked.push(format!("{CONTACT_NS}{g}"));
            }
        }
        let counts = self.gram_counts(&member.portal_id, &asked).await?;
        let count_of = |gram: &str| -> i64 {
            asked
                .iter()
                .position(|g| g == gram)
                .and_then(|i| counts.get(i).copied())
                .unwrap_or(0)
        };
        let field = |grams: &[String], ns: &str| -> Option<Vec<(i64, String)>> {
            let mut v: Vec<(i64, String)> = grams
                .iter()
                .map(|g| {
                    let g = format!("{ns}{g}");
                    (count_of(&g), g)
                })
                .collect();
            if v.iter().any(|(n, _)| *n == 0) {
                return None;
            }
            v.sort();
            Some(v)
        };
        let term_grams: Vec<TermGrams> = per_term
            .iter()
            .map(|g| TermGrams {
                subject: field(g, ""),
                contact: field(g, CONTACT_NS),
            })
            .collect();
        let search = Search {
            portal_id: &member.portal_id,
            terms,
            exclude_number: exact.as_ref().map(|t| t.ticket_number),
            departments,
        };

        // Subject matches first, then contact matches; newest first in each.
        // `offset` is any whole number ≥ 0: a huge one is past every match, never an overflow.
        let need = usize::try_from(offset.saturating_add(limit)).unwrap_or(usize::MAX);
        let skip = usize::try_from(offset).unwrap_or(0);
        let mut page_numbers: Vec<i64> = Vec::new();
        let mut contact_skip = skip;
        if let Some(walk) = subject_walk(&term_grams) {
            let (numbers, exhausted) = self.walk(&search, &walk, Tier::Subject, need).await?;
            page_numbers.extend(numbers.iter().skip(skip));
            if !exhausted {
                return self.finish(member, out, &page_numbers).await;
            }
            contact_skip = skip.saturating_sub(numbers.len());
        }
        let want = usize::try_from(limit)
            .unwrap_or(0)
            .saturating_sub(page_numbers.len());
        if want > 0 {
            if let Some(walks) = contact_walks(&term_grams) {
                let mut numbers = Vec::new();
                for walk in &walks {
                    let (mut part, _) = self
                        .walk(&search, walk, Tier::Contact, contact_skip + want)
                        .await?;
                    numbers.append(&mut part);
                }
                numbers.sort_unstable_by(|a, b| b.cmp(a));
                numbers.dedup();
                page_numbers.extend(numbers.into_iter().skip(contact_skip).take(want));
            }
        }
        self.finish(member, out, &page_numbers).await
    }

    /// Walks candidates in batches and keeps those of `tier`, until `need` are found
    /// (answers them and false) or the walk ends (answers all and true).
    async fn walk(
        &self,
        search: &Search<'_>,
        walk: &Walk,
        tier: Tier,
        need: usize,
    ) -> Result<(Vec<i64>, bool)> {
        let mut found: Vec<i64> = Vec::new();
        let mut before = None;
        let mut batch = FIRST_BATCH;
        loop {
            let candidates = self.candidates(search, walk, before, batch).await?;
            let Some(&last) = candidates.last() else {
                return Ok((found, true));
            };
            for chunk in candidates.chunks(500) {
                found.extend(self.verified(search, tier, chunk).await?);
            }
            if found.len() >= need {
                found.truncate(need);
                return Ok((found, false));
            }
            if (candidates.len() as i64) < batch {
                return Ok((found, true));
            }
            before = Some(last);
            batch = (batch * 4).min(MAX_BATCH);
        }
    }

    /// `out` followed by the tickets with these numbers, in this order.
    async fn finish(
        &self,
        member: &Member,
        mut out: Vec<Ticket>,
        numbers: &[i64],
    ) -> Result<Vec<Ticket>> {
        if numbers.is_empty() {
            return Ok(out);
        }
        let mut by_number: std::collections::HashMap<i64, Ticket> = self
            .tickets_numbered(member, numbers)
            .await?
            .into_iter()
            .map(|t| (t.ticket_number, t))
            .collect();
        out.extend(numbers.iter().filter_map(|n| by_number.remove(n)));
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
        let wanted = query_grams(&normalize(query));
        wanted.iter().all(|g| indexed.contains(g)) && normalize(text).contains(&normalize(query))
    }

    #[test]
    fn normalising_folds_width_and_case() {
        assert_eq!(normalize("ＡＢＣ１２３　Ｘ"), "abc123 x");
        assert_eq!(normalize("ﾊﾟｽﾜｰﾄﾞ"), "パスワード");
        assert_eq!(normalize("ｶﾞｷﾞｳﾞ"), "ガギヴ");
        assert_eq!(normalize("Suzuki@Example.JP"), "suzuki@example.jp");
    }

    #[test]
    fn japanese_substrings_are_found() {
        let subject = "パスワードのリセットができない";
        for q in [
            "パスワード",
            "リセット",
            "ドのリ",
            "できない",
            "ﾊﾟｽﾜｰﾄﾞ",
            "の",
            "リ",
        ] {
            assert!(finds(subject, q), "{q}");
        }
        assert!(finds("返金について", "返金"));
        assert!(finds("請求書の再発行", "請求"));
        assert!(!finds(subject, "パスポート"));
    }

    #[test]
    fn english_words_are_found_by_any_prefix() {
        let subject = "Cannot reset my Password";
        for q in ["password", "PASS", "reset", "cannot reset", "re", "p"] {
            assert!(finds(subject, q), "{q}");
        }
        assert!(!finds(subject, "resets"));
        assert!(!query_grams("word")
            .iter()
            .all(|g| grams_of(subject).contains(g)));
    }

    #[test]
    fn one_character_queries_use_the_character_itself() {
        assert_eq!(query_grams("返"), vec!["返".to_owned()]);
        assert_eq!(query_grams("a"), vec!["a".to_owned()]);
        assert!(query_grams("@").is_empty());
    }

    #[test]
    fn query_grams_cover_every_character_without_overlap() {
        let g = query_grams("パスワードのリセット");
        assert_eq!(
            g,
            ["パス", "ワー", "ドの", "リセ", "ット"].map(String::from)
        );
        assert_eq!(query_grams("返金額"), ["返金", "金額"].map(String::from));
    }

    #[test]
    fn long_words_are_cut_to_the_indexed_prefix() {
        let word = "internationalization";
        assert!(finds(word, word));
        let q = query_grams(word);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].chars().count(), MAX_PREFIX);
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
    fn contact_grams_are_kept_apart_from_subject_grams() {
        let g = ticket_grams("返金", "鈴木");
        assert!(g.contains("返金") && g.contains("@鈴木"));
        assert!(!g.contains("鈴木") && !g.contains("@返金"));
    }

    #[test]
    fn contact_text_holds_the_name_with_and_without_spaces_and_the_email() {
        let t = contact_text(Some("山田 太郎"), Some("Taro@Example.jp"));
        assert_eq!(t, "山田 太郎\n山田太郎\ntaro@example.jp");
    }

    #[test]
    fn d5_walks_probe_each_candidate_only_behind_a_rare_driver() {
        let term = |counts: &[i64]| TermGrams {
            subject: Some(counts.iter().map(|n| (*n, format!("g{n}"))).collect()),
            contact: Some(counts.iter().map(|n| (*n, format!("@g{n}"))).collect()),
        };
        // 「注文番号 54321」: a rare gram beside common ones drives, probing each candidate.
        let rare = subject_walk(&[term(&[COUNT_CAP, COUNT_CAP]), term(&[2])]).unwrap();
        assert_eq!(rare.driver.as_deref(), Some("g2"));
        assert!(rare.probe_each);
        // Every gram common: the database may merge the postings instead.
        let common = subject_walk(&[term(&[COUNT_CAP]), term(&[COUNT_CAP])]).unwrap();
        assert!(!common.probe_each);
        let contact = contact_walks(&[term(&[7, COUNT_CAP])]).unwrap();
        assert!(contact[0].probe_each);
        assert!(!contact_walks(&[term(&[COUNT_CAP])]).unwrap()[0].probe_each);
    }

    #[test]
    fn contact_walks_cover_terms_split_between_fields() {
        let t = |s: Option<&[&str]>, c: Option<&[&str]>| TermGrams {
            subject: s.map(|v| v.iter().map(|g| (1, (*g).to_owned())).collect()),
            contact: c.map(|v| v.iter().map(|g| (1, format!("@{g}"))).collect()),
        };
        // 「返金 鈴木」: 返金 only in subjects, 鈴木 in both.
        let terms = [
            t(Some(&["返金"]), None),
            t(Some(&["鈴木"]), Some(&["鈴木"])),
        ];
        assert!(subject_walk(&terms).is_some());
        let walks = contact_walks(&terms).unwrap();
        assert_eq!(walks.len(), 1);
        assert_eq!(walks[0].driver.as_deref(), Some("@鈴木"));
        // A term found nowhere: nothing to walk.
        assert!(contact_walks(&[t(None, None)]).is_none());
        assert!(subject_walk(&[t(None, Some(&["x"]))]).is_none());
    }
}
