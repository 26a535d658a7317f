//! Group commit of chat messages (Q2). Messages posted at the same time are stored by
//! one writer task in one transaction: on SQLite there is one writer anyway, and a
//! commit costs far more than an insert, so under load many messages share a commit
//! instead of queueing for one each. Nothing is acknowledged before its commit.
//!
//! The writer takes whatever is queued when it is free (no timer: an idle server
//! writes a lone message at once). Within a batch a chat's messages keep their arrival
//! order, so seq follows the order clients were answered in. If a batch fails as a
//! whole, each of its messages is retried in a transaction of its own, so one bad
//! message cannot fail the others.

use super::{store, Author, Message};
use crate::chats::store::NextSeq;
use crate::chats::ChatState;
use crate::Chat;
use madoguchi_core::db::Backend;
use madoguchi_core::rusqlite;
use madoguchi_core::{Db, Error, Result};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// At most this many messages share a commit (bounds a batch's latency).
const MAX_BATCH: usize = 256;
/// Rows per multi-row statement, largest first: a batch is cut into pieces of these
/// sizes (its size in binary), so hot statements come in six shapes, written once
/// ([`statement`]) and kept prepared. (Statements of every size from 1 to 32 had to be
/// written out and parsed again and again; one statement per row costs SQLite a
/// statement journal each, twice the work.)
const PIECES: [usize; 6] = [32, 16, 8, 4, 2, 1];

/// `items` in pieces of [`PIECES`] sizes, in order.
fn pieces<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    for size in PIECES {
        while items.len() >= size {
            let (piece, rest) = items.split_at(size);
            out.push(piece);
            items = rest;
        }
    }
    out
}

/// What a batch statement does, for [`statement`].
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    NextSeqs(&'static [ChatState]),
    Insert,
}

/// `items` in the pieces one statement of `backend` takes: [`pieces`] on SQLite, all of
/// them at once on PostgreSQL, whose statements take their rows as one JSON argument
/// (a round trip there costs far more than a statement's work).
fn pieces_of<T>(backend: Backend, items: &[T]) -> Vec<&[T]> {
    match backend {
        Backend::Sqlite => pieces(items),
        Backend::Postgres if items.is_empty() => Vec::new(),
        Backend::Postgres => vec![items],
    }
}

/// The SQL text of a batch statement of `rows` rows, written once per shape (on
/// PostgreSQL once for every number of rows).
fn statement(backend: Backend, shape: Shape, rows: usize) -> Arc<str> {
    let rows = match backend {
        Backend::Sqlite => rows,
        Backend::Postgres => 0,
    };
    type Written = Vec<(Backend, Shape, usize, Arc<str>)>;
    static WRITTEN: std::sync::Mutex<Written> = std::sync::Mutex::new(Vec::new());
    let mut written = WRITTEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((.., sql)) = written
        .iter()
        .find(|(b, s, n, _)| *b == backend && *s == shape && *n == rows)
    {
        return sql.clone();
    }
    let sql: Arc<str> = match shape {
        Shape::NextSeqs(states) => crate::chats::store::next_seqs_sql(backend, rows, states),
        Shape::Insert => store::insert_many_sql(backend, rows),
    }
    .into();
    written.push((backend, shape, rows, sql.clone()));
    sql
}
/// Posts waiting for the writer; more wait on the channel (backpressure).
const QUEUE: usize = 4096;

/// One message to store, and where to answer.
pub(crate) struct Pending {
    pub portal_id: String,
    pub chat_id: String,
    pub department_id: Option<String>,
    pub author: Author,
    pub text: String,
    pub client_id: String,
    pub allowed: &'static [ChatState],
    pub reply: oneshot::Sender<Result<Message>>,
}

/// What storing one message of a batch came to.
enum Outcome {
    Stored(Message),
    /// The chat is not in a state that takes messages: answered after the commit
    /// (with the stored message if this was a resend of one, else an error).
    NotWritable,
}

/// PostgreSQL takes several transactions at once, and a batch there spends most of its
/// time in round trips and its commit: this many writers, each with its own share of
/// the chats, keep that many batches in flight. A chat always goes to the same writer,
/// so its messages keep their order and no two of a node's batches touch one chat row.
/// SQLite has one writer thread: more batches in flight would only queue for it.
const POSTGRES_WRITERS: usize = 4;

/// The group-commit writers of a node, started on the first message.
pub(crate) struct Writers(Vec<mpsc::Sender<Pending>>);

impl Writers {
    pub(crate) fn spawn(chat: &Chat) -> Self {
        let count = match chat.db.backend() {
            Backend::Postgres => POSTGRES_WRITERS,
            Backend::Sqlite => 1,
        };
        Writers((0..count).map(|_| spawn_writer(chat.clone())).collect())
    }

    /// The writer of `chat_id` (FNV-1a of the id: stable, cheap, spread enough).
    pub(crate) fn of(&self, chat_id: &str) -> &mpsc::Sender<Pending> {
        let hash = chat_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.0[(hash % self.0.len() as u64) as usize]
    }
}

fn spawn_writer(chat: Chat) -> mpsc::Sender<Pending> {
    let (tx, mut rx) = mpsc::channel::<Pending>(QUEUE);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            write_batch(&chat, std::mem::take(&mut batch)).await;
        }
    });
    tx
}

async fn write_batch(chat: &Chat, mut batch: Vec<Pending>) {
    // One lock order for every batch (by chat), so batches of two PostgreSQL nodes
    // cannot deadlock; the sort is stable, so each chat keeps its arrival order.
    batch.sort_by(|a, b| a.chat_id.cmp(&b.chat_id));
    match store_batch(chat, &batch).await {
        Ok(outcomes) => {
            // Every message is committed: answer them all first, then publish. The
            // publishing (an encoding and two bus sends a message) must not hold up the
            // acks of the batch's later messages.
            let mut published = Vec::with_capacity(batch.len());
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let answer = match outcome {
                    Outcome::Stored(message) => {
                        published.push((pending.portal_id, pending.department_id, message.clone()));
                        Ok(message)
                    }
                    Outcome::NotWritable => match chat.resent(&pending).await {
                        Ok(Some(message)) => Ok(message),
                        Ok(None) => Err(chat.not_writable(&pending.chat_id).await),
                        Err(e) => Err(e),
                    },
                };
                let _ = pending.reply.send(answer);
            }
            for (portal_id, department_id, message) in published {
                chat.publish_message(&portal_id, department_id.as_deref(), &message)
                    .await;
            }
        }
        Err(e) => {
            // A resend in the batch (expected now and then) or a database error.
            tracing::debug!(error = %e, size = batch.len(), "batch not stored as one; storing one by one");
            for pending in batch {
                let answer = chat
                    .post_one(
                        &pending.portal_id,
                        &pending.chat_id,
                        pending.department_id.as_deref(),
                        &pending.author,
                        &pending.text,
                        &pending.client_id,
                        pending.allowed,
                    )
                    .await;
                let _ = pending.reply.send(answer);
            }
        }
    }
}

/// Stores a batch with a handful of statements whatever its size: per round, one
/// `update … returning` advances the seq of every chat that has a message left (one
/// message per chat per round, so two messages of one chat get consecutive seqs in
/// arrival order), then one multi-row insert stores them all. A resend makes the
/// insert store fewer rows than it was given; the batch is then rolled back and
/// retried one by one, which answers resends exactly.
async fn store_batch(chat: &Chat, batch: &[Pending]) -> Result<Vec<Outcome>> {
    let rows: Arc<[Row]> = batch.iter().map(Row::of).collect();
    let store = message_store(&chat.db);
    match store.store(rows, chat.clock.now_ms()).await? {
        Ok(outcomes) => Ok(outcomes),
        Err(Resent) => Err(Error::internal(anyhow::anyhow!(
            "a resend in the batch: storing one by one"
        ))),
    }
}

/// Where message batches are stored: the same algorithm and the same statements
/// ([`statement`], [`store::message_row`]) through either driver. Both implementations
/// pass one contract test (`tests::q2_both_message_stores_…` below).
#[async_trait::async_trait]
trait MessageStore: Send + Sync {
    /// Stores `rows` (sorted by chat) in one transaction; `Err(Resent)` when one of them
    /// was stored before, and then nothing is.
    async fn store(&self, rows: Arc<[Row]>, now: i64) -> Result<Result<Vec<Outcome>, Resent>>;
}

/// The store of `db`: its SQLite writer thread for a SQLite file (a whole transaction
/// is one thread hand-off), else sqlx (PostgreSQL, an in-memory SQLite).
fn message_store(db: &Db) -> Box<dyn MessageStore> {
    if db.has_sqlite_writer() {
        Box::new(SqliteWriterStore(db.clone()))
    } else {
        Box::new(SqlxStore(db.clone()))
    }
}

/// rusqlite on the SQLite writer thread ([`Db::sqlite_transaction`]).
struct SqliteWriterStore(Db);

/// sqlx through the pool's write transaction ([`Db::begin_write`]).
struct SqlxStore(Db);

#[async_trait::async_trait]
impl MessageStore for SqliteWriterStore {
    async fn store(&self, rows: Arc<[Row]>, now: i64) -> Result<Result<Vec<Outcome>, Resent>> {
        let work = move |tx: &rusqlite::Transaction<'_>| store_batch_sqlite(tx, &rows, now);
        match self.0.sqlite_transaction(work).await {
            Some(result) => result,
            None => Err(Error::internal(anyhow::anyhow!("no SQLite writer"))),
        }
    }
}

#[async_trait::async_trait]
impl MessageStore for SqlxStore {
    async fn store(&self, rows: Arc<[Row]>, now: i64) -> Result<Result<Vec<Outcome>, Resent>> {
        let mut tx = self.0.begin_write().await?;
        let mut outcomes = Outcomes::new(&rows);
        for round in rounds(&rows) {
            let mut seqs = std::collections::HashMap::new();
            for (states, ids) in by_states(&rows, &round) {
                for chunk in pieces_of(tx.backend(), &ids) {
                    let sql = statement(tx.backend(), Shape::NextSeqs(states), chunk.len());
                    for next in crate::chats::store::next_seqs(&mut tx, &sql, chunk, now).await? {
                        seqs.insert(next.chat_id.clone(), next);
                    }
                }
            }
            outcomes.round(&rows, &round, seqs, now);
        }
        let mut inserted = 0;
        for chunk in pieces_of(tx.backend(), &outcomes.stored_rows(&rows)) {
            let sql = statement(tx.backend(), Shape::Insert, chunk.len());
            inserted += store::insert_many_unless_resent(&mut tx, &sql, chunk).await?;
        }
        if inserted != outcomes.stored_count() {
            return Ok(Err(Resent));
        }
        tx.commit().await?;
        Ok(Ok(outcomes.finish()))
    }
}

/// [`store_batch`] on the SQLite writer thread; `Err(Resent)` rolls back.
fn store_batch_sqlite(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Row],
    now: i64,
) -> rusqlite::Result<Result<Vec<Outcome>, Resent>> {
    use rusqlite::types::Value;
    let mut outcomes = Outcomes::new(rows);
    for round in rounds(rows) {
        let mut seqs = std::collections::HashMap::new();
        for (states, ids) in by_states(rows, &round) {
            for chunk in pieces(&ids) {
                let sql = statement(Backend::Sqlite, Shape::NextSeqs(states), chunk.len());
                let mut statement = tx.prepare_cached(&sql)?;
                let args = [Value::Integer(now), Value::Integer(now)]
                    .into_iter()
                    .chain(chunk.iter().map(|id| Value::Text((*id).to_owned())));
                let mut answered = statement.query(rusqlite::params_from_iter(args))?;
                while let Some(r) = answered.next()? {
                    let next = NextSeq {
                        chat_id: r.get("id")?,
                        seq: r.get("last_seq")?,
                        visitor_name: r.get("visitor_name")?,
                    };
                    seqs.insert(next.chat_id.clone(), next);
                }
            }
        }
        outcomes.round(rows, &round, seqs, now);
    }
    let mut inserted = 0;
    for chunk in pieces(&outcomes.stored_rows(rows)) {
        let sql = statement(Backend::Sqlite, Shape::Insert, chunk.len());
        let mut statement = tx.prepare_cached(&sql)?;
        let args = chunk
            .iter()
            .flat_map(|(m, client_key)| store::message_row(m, Some(client_key)));
        inserted += statement.execute(rusqlite::params_from_iter(args))?;
    }
    if inserted != outcomes.stored_count() {
        return Ok(Err(Resent));
    }
    Ok(Ok(outcomes.finish()))
}

/// A resend in the batch: the batch is rolled back and stored one by one.
struct Resent;

/// What storing needs of a pending message (owned: the SQLite writer runs on its
/// own thread).
struct Row {
    chat_id: String,
    allowed: &'static [ChatState],
    author: Author,
    text: String,
    client_key: String,
}

impl Row {
    fn of(p: &Pending) -> Self {
        Row {
            chat_id: p.chat_id.clone(),
            allowed: p.allowed,
            author: p.author.clone(),
            text: p.text.clone(),
            client_key: format!("{}:{}", p.author.key, p.client_id),
        }
    }
}

/// The rounds of a batch sorted by chat: each round holds the next remaining message
/// of every chat that has one.
fn rounds(rows: &[Row]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut depth = 0;
    for (i, row) in rows.iter().enumerate() {
        let same_chat = i > 0 && rows[i - 1].chat_id == row.chat_id;
        depth = if same_chat { depth + 1 } else { 0 };
        if rounds.len() <= depth {
            rounds.push(Vec::new());
        }
        rounds[depth].push(i);
    }
    rounds
}

/// The chats of a round grouped by the states they may be written in (visitors and
/// operators differ): one statement per group.
fn by_states<'a>(rows: &'a [Row], round: &[usize]) -> Vec<(&'static [ChatState], Vec<&'a str>)> {
    let mut groups: Vec<(&'static [ChatState], Vec<&str>)> = Vec::new();
    for &i in round {
        let row = &rows[i];
        match groups.iter_mut().find(|(states, _)| *states == row.allowed) {
            Some((_, ids)) => ids.push(&row.chat_id),
            None => groups.push((row.allowed, vec![&row.chat_id])),
        }
    }
    groups
}

/// The messages of a batch as the rounds store them.
struct Outcomes {
    outcomes: Vec<Option<Outcome>>,
    stored: Vec<(usize, Message)>,
}

impl Outcomes {
    fn new(rows: &[Row]) -> Self {
        Self {
            outcomes: rows.iter().map(|_| None).collect(),
            stored: Vec::with_capacity(rows.len()),
        }
    }

    /// Records a round given the seqs the update answered (a chat without one was not
    /// in a state that takes the message).
    fn round(
        &mut self,
        rows: &[Row],
        round: &[usize],
        mut seqs: std::collections::HashMap<String, NextSeq>,
        now: i64,
    ) {
        for &i in round {
            let row = &rows[i];
            match seqs.remove(row.chat_id.as_str()) {
                Some(next) => self.stored.push((
                    i,
                    Message {
                        id: madoguchi_core::ids::new_id(),
                        chat_id: row.chat_id.clone(),
                        seq: next.seq,
                        sender: row.author.sender,
                        sender_user_id: row.author.user_id.clone(),
                        sender_name: row.author.name_with(next.visitor_name),
                        text: row.text.clone(),
                        system_kind: None,
                        system_arg: None,
                        attachment: None,
                        created_at: now,
                    },
                )),
                None => self.outcomes[i] = Some(Outcome::NotWritable),
            }
        }
    }

    fn stored_count(&self) -> usize {
        self.stored.len()
    }

    /// The messages to insert with their client keys.
    fn stored_rows<'a>(&'a self, rows: &'a [Row]) -> Vec<(&'a Message, &'a str)> {
        self.stored
            .iter()
            .map(|(i, m)| (m, rows[*i].client_key.as_str()))
            .collect()
    }

    fn finish(mut self) -> Vec<Outcome> {
        for (i, message) in self.stored {
            self.outcomes[i] = Some(Outcome::Stored(message));
        }
        self.outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::NotWritable))
            .collect()
    }
}

impl Chat {
    /// The message stored earlier with the client id of `p`, if any.
    async fn resent(&self, p: &Pending) -> Result<Option<Message>> {
        let client_key = format!("{}:{}", p.author.key, p.client_id);
        store::by_client_key(
            &mut *self.db.pool().acquire().await?,
            &p.chat_id,
            &client_key,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chats::NewChat;
    use madoguchi_core::bus::LocalBus;
    use madoguchi_core::identity::Identity;
    use madoguchi_core::Clock;

    /// A chat service on `db` with a portal and two waiting chats of a visitor named 花子.
    async fn two_chats(db: &Db) -> (Chat, String, String) {
        let clock = Clock::system();
        let chat = Chat::new(db.clone(), clock.clone(), Arc::new(LocalBus::new()));
        let user = Identity::new(db.clone(), clock)
            .signup("store@example.jp", "store password 1", "Store")
            .await
            .expect("signup");
        let portal = chat
            .create_portal(&user.id, "store", None)
            .await
            .expect("portal");
        let mut ids = Vec::new();
        for i in 0..2 {
            let started = chat
                .start_chat(
                    &portal,
                    NewChat {
                        department_id: None,
                        name: Some("花子".into()),
                        email: None,
                        phone: None,
                        question: format!("question {i}"),
                        client_message_id: format!("q{i}"),
                        client_address: None,
                        rate_limit: None,
                        offline: false,
                        browser_id: None,
                    },
                )
                .await
                .expect("chat");
            ids.push(started.chat_id);
        }
        ids.sort();
        (chat, ids.remove(0), ids.remove(0))
    }

    fn row(chat_id: &str, text: &str, allowed: &'static [ChatState]) -> Row {
        Row {
            chat_id: chat_id.to_owned(),
            allowed,
            author: Author {
                sender: super::super::Sender::Visitor,
                user_id: None,
                name: None,
                key: "visitor".into(),
            },
            text: text.to_owned(),
            client_key: format!("visitor:{text}"),
        }
    }

    const VISITOR: &[ChatState] = &[ChatState::Waiting, ChatState::Attended];
    const ATTENDED: &[ChatState] = &[ChatState::Attended];

    /// A text that JSON must escape (PostgreSQL's batch takes its rows as JSON).
    const A2: &str = "a2 \"引用\" \\ 改行\n\t\u{1F600}";

    /// Q2 and issue 10: one contract for every message store.
    async fn message_store_contract(store: &dyn MessageStore, chat: &Chat, a: &str, b: &str) {
        let now = chat.clock.now_ms();
        let rows: Arc<[Row]> = vec![
            row(a, "a1", VISITOR),
            row(a, A2, VISITOR),
            row(b, "b1", VISITOR),
            // Not in a state this author may write in.
            row(b, "b-late", ATTENDED),
        ]
        .into();
        let outcomes = match store.store(rows, now).await.expect("stored") {
            Ok(outcomes) => outcomes,
            Err(Resent) => panic!("nothing was resent"),
        };
        let stored: Vec<Option<(i64, String)>> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::Stored(m) => Some((m.seq, m.sender_name.clone().unwrap_or_default())),
                Outcome::NotWritable => None,
            })
            .collect();
        // The question is seq 1; a chat's messages follow in arrival order.
        assert_eq!(
            stored,
            vec![
                Some((2, "花子".into())),
                Some((3, "花子".into())),
                Some((2, "花子".into())),
                None
            ]
        );
        // A batch holding a resend stores nothing and says so.
        let again: Arc<[Row]> = vec![row(a, "a1", VISITOR), row(a, "a3", VISITOR)].into();
        assert!(matches!(
            store.store(again, now).await.expect("ran"),
            Err(Resent)
        ));
        let texts: Vec<String> = chat
            .messages_after(a, 0, 100)
            .await
            .expect("read")
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, vec!["question 0", "a1", A2]);
    }

    #[tokio::test]
    async fn q2_both_message_stores_keep_one_contract_on_a_sqlite_file() {
        let dir = std::env::temp_dir().join(format!(
            "madoguchi-store-{}-{}",
            std::process::id(),
            madoguchi_core::ids::new_id()
        ));
        for use_writer in [true, false] {
            let _ = std::fs::remove_dir_all(&dir);
            let db = Db::open_sqlite(&dir).await.expect("open");
            assert!(db.has_sqlite_writer());
            let (chat, a, b) = two_chats(&db).await;
            let store: Box<dyn MessageStore> = if use_writer {
                Box::new(SqliteWriterStore(db.clone()))
            } else {
                Box::new(SqlxStore(db.clone()))
            };
            message_store_contract(&*store, &chat, &a, &b).await;
            db.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Q2 (migration 0240): the columns a message sets on its chat row are in no index,
    /// so a message rewrites no index of `chat_chats` (on PostgreSQL: a HOT update).
    #[tokio::test]
    async fn q2_a_message_sets_no_indexed_column_of_its_chat() {
        use sqlx::Row as _;
        let sql = crate::chats::store::next_seqs_sql(Backend::Sqlite, 1, VISITOR);
        let set = sql
            .split_once(" set ")
            .and_then(|(_, rest)| rest.split_once(" where "))
            .map(|(set, _)| set)
            .expect("an update … set … where");
        let written: Vec<&str> = set
            .split(", ")
            .map(|a| a.split_once(" = ").map_or(a, |(column, _)| column).trim())
            .collect();
        assert_eq!(written, ["last_seq", "last_activity_at", "updated_at"]);
        let dir = std::env::temp_dir().join(format!(
            "madoguchi-indexes-{}-{}",
            std::process::id(),
            madoguchi_core::ids::new_id()
        ));
        let db = Db::open_sqlite(&dir).await.expect("open");
        let indexes = sqlx::query("select name from pragma_index_list('chat_chats')")
            .fetch_all(db.pool())
            .await
            .expect("indexes");
        assert!(indexes.len() >= 3, "the chat table's indexes are listed");
        for index in indexes {
            let name: String = index.try_get("name").expect("name");
            let columns = sqlx::query("select name from pragma_index_info($1)")
                .bind(&name)
                .fetch_all(db.pool())
                .await
                .expect("columns");
            for column in columns {
                let column: String = column.try_get("name").expect("column");
                assert!(
                    !written.contains(&column.as_str()),
                    "index {name} holds {column}, which every message writes"
                );
            }
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Runs when `MADOGUCHI_TEST_DATABASE_URL` is set (and fails if it is unreachable).
    #[tokio::test]
    async fn q2_the_message_store_keeps_the_contract_on_postgresql() {
        use sqlx::Connection;
        let Ok(admin) = std::env::var("MADOGUCHI_TEST_DATABASE_URL") else {
            eprintln!("skipped: MADOGUCHI_TEST_DATABASE_URL is not set");
            return;
        };
        let name = format!("madoguchi_store_{}", std::process::id());
        let mut conn = sqlx::postgres::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL reachable");
        let _ = sqlx::query(&format!("drop database if exists {name}"))
            .execute(&mut conn)
            .await;
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let (base, _) = admin.rsplit_once('/').expect("a database URL");
        let db = Db::connect(&format!("{base}/{name}"))
            .await
            .expect("connect");
        assert!(!db.has_sqlite_writer());
        let (chat, a, b) = two_chats(&db).await;
        message_store_contract(&*message_store(&db), &chat, &a, &b).await;
        db.close().await;
        let _ = sqlx::query(&format!("drop database if exists {name}"))
            .execute(&mut conn)
            .await;
    }

    #[test]
    fn q2_a_batch_is_cut_into_pieces_of_six_sizes_in_order() {
        let items: Vec<usize> = (0..107).collect();
        let sizes: Vec<usize> = pieces(&items).iter().map(|p| p.len()).collect();
        assert_eq!(sizes, vec![32, 32, 32, 8, 2, 1]);
        let joined: Vec<usize> = pieces(&items).concat();
        assert_eq!(joined, items);
        assert!(pieces::<usize>(&[]).is_empty());
        // Written once per shape: the same text is handed out again.
        let a = statement(Backend::Sqlite, Shape::Insert, 4);
        let b = statement(Backend::Sqlite, Shape::Insert, 4);
        assert!(Arc::ptr_eq(&a, &b));
        assert_ne!(&*a, &*statement(Backend::Postgres, Shape::Insert, 4));
        // PostgreSQL takes a whole batch in one statement of one text.
        assert_eq!(pieces_of(Backend::Postgres, &items), vec![&items[..]]);
        assert!(pieces_of::<usize>(Backend::Postgres, &[]).is_empty());
        assert!(Arc::ptr_eq(
            &statement(Backend::Postgres, Shape::Insert, 4),
            &statement(Backend::Postgres, Shape::Insert, 200)
        ));
    }
}
