//! Ticket search benchmark (SPEC D5; the issue's target: 1,000,000 tickets, p99 under
//! 20 ms). Fills one portal with synthetic Japanese and English tickets through
//! `Desk::import_tickets` (the same validation and search index as the API), then
//! times `Desk::search_tickets` for typical queries and prints p50/p95/p99 per query.
//!
//! ```text
//! cargo run --release -p madoguchi-desk --example search_bench -- [TICKETS] [DATABASE_URL]
//! ```
//! `TICKETS` defaults to 100000; without `DATABASE_URL` a fresh SQLite database in a
//! temporary directory is used (e.g. `postgres://postgres@127.0.0.1:5432/bench` for
//! PostgreSQL; the database must exist and be empty).

#![allow(clippy::unwrap_used)]

use madoguchi_core::identity::Identity;
use madoguchi_core::{Clock, Db};
use madoguchi_desk::{Desk, NewContact, NewTicket, SearchQuery, TicketStatus};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PRODUCTS: &[&str] = &[
    "パスワード",
    "ログイン",
    "請求書",
    "返金",
    "アカウント",
    "メール",
    "スマホアプリ",
    "Wi-Fi",
    "プリンター",
    "支払い",
    "クレジットカード",
    "配送",
    "注文",
    "解約",
    "プラン",
    "領収書",
    "二段階認証",
    "通知",
    "データ移行",
    "バックアップ",
    "ライセンス",
    "見積書",
    "会員登録",
    "ポイント",
    "クーポン",
    "予約",
    "在庫",
    "請求先住所",
    "API",
    "CSV出力",
];
const ISSUES: &[&str] = &[
    "のリセットができない",
    "でエラーが出る",
    "が届かない",
    "について",
    "を変更したい",
    "が表示されない",
    "の再発行をお願いします",
    "ができません",
    "の確認",
    "が反映されない",
    "に失敗する",
    "の手続き方法",
    "が遅い",
    "の二重請求",
    "を取り消したい",
];
const EN_VERBS: &[&str] = &[
    "reset", "change", "cancel", "update", "download", "export", "verify", "recover",
];
const EN_NOUNS: &[&str] = &[
    "password",
    "invoice",
    "subscription",
    "account",
    "order",
    "payment method",
    "profile",
    "license",
    "report",
    "address",
];
const LAST: &[&str] = &[
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "Smith",
    "Johnson",
    "Brown",
    "Garcia",
    "Miller",
];
const FIRST: &[&str] = &[
    "太郎", "花子", "一郎", "陽子", "健", "美咲", "John", "Mary", "James", "Linda",
];
const ROMAJI: &[&str] = &[
    "sato",
    "suzuki",
    "takahashi",
    "tanaka",
    "ito",
    "watanabe",
    "yamamoto",
    "nakamura",
    "kobayashi",
    "kato",
    "yoshida",
    "yamada",
    "sasaki",
    "yamaguchi",
    "matsumoto",
    "smith",
    "johnson",
    "brown",
    "garcia",
    "miller",
];

fn subject(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=5 => format!("{}{}", rng.pick(PRODUCTS), rng.pick(ISSUES)),
        6..=7 => format!(
            "注文番号 {} の{}{}",
            10000 + rng.below(90000),
            rng.pick(PRODUCTS),
            rng.pick(ISSUES)
        ),
        _ => format!("Cannot {} my {}", rng.pick(EN_VERBS), rng.pick(EN_NOUNS)),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let total: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let temp = std::env::temp_dir().join(format!("madoguchi-search-bench-{}", std::process::id()));
    let db = match args.get(2) {
        Some(url) => Db::connect(url).await?,
        None => Db::open_sqlite(&temp).await?,
    };
    let clock = Clock::system();
    let desk = Desk::new(db.clone(), clock.clone(), "http://bench.invalid".into());
    let identity = Identity::new(db.clone(), clock);
    // A database loaded by an earlier run is searched again as it is (loading a million
    // tickets takes a while; measuring should not need it again).
    let (user, load) = match identity.user_by_email("bench@example.jp").await? {
        Some(user) => (user, false),
        None => {
            let user = identity
                .signup("bench@example.jp", "bench password 1", "Bench")
                .await?;
            desk.create_portal(&user.id, "bench", "Bench").await?;
            (user, true)
        }
    };
    let member = desk.member("bench", &user.id).await?;

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let contacts = 5_000.min(total.max(1));
    let mut contact_ids = Vec::with_capacity(contacts);
    let mut some_email = String::new();
    if !load {
        eprintln!("reusing the tickets loaded before");
        for i in 0..=7 {
            let k = rng.below(LAST.len() as u64) as usize;
            rng.pick(FIRST);
            some_email = format!("{}{i}@example{}.jp", ROMAJI[k], i % 50);
        }
    }
    for i in (0..contacts).filter(|_| load) {
        let k = rng.below(LAST.len() as u64) as usize;
        let c = desk
            .create_contact(
                &member,
                &NewContact {
                    first_name: Some(rng.pick(FIRST).to_owned()),
                    last_name: LAST[k].to_owned(),
                    email: Some(format!("{}{i}@example{}.jp", ROMAJI[k], i % 50)),
                    ..NewContact::default()
                },
            )
            .await?;
        if i == 7 {
            some_email = c.email.clone().unwrap_or_default();
        }
        contact_ids.push(c.id);
    }

    let started = Instant::now();
    let batch = 1_000;
    let mut done = if load { 0 } else { total };
    while done < total {
        let n = batch.min(total - done);
        let tickets: Vec<NewTicket> = (0..n)
            .map(|_| NewTicket {
                subject: subject(&mut rng),
                contact_id: (rng.below(10) < 8)
                    .then(|| contact_ids[rng.below(contact_ids.len() as u64) as usize].clone()),
                status: Some(TicketStatus::ALL[rng.below(4) as usize]),
                ..NewTicket::default()
            })
            .collect();
        desk.import_tickets(&member, &tickets).await?;
        done += n;
        if done % 100_000 == 0 || done == total {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{done} tickets in {secs:.0} s ({:.0}/s)",
                done as f64 / secs
            );
        }
    }

    if load && db.backend() == madoguchi_core::Backend::Postgres {
        // What autovacuum does shortly after a bulk load: statistics for the planner and
        // the visibility map for index-only scans of the postings.
        sqlx::query("vacuum analyze").execute(db.pool()).await?;
    }

    let queries: Vec<String> = vec![
        "パスワード".into(),
        "リセット".into(),
        "返金".into(),
        "請求".into(),
        "二重請求".into(),
        "表示されない".into(),
        "ログイン エラー".into(),
        "password".into(),
        "reset password".into(),
        "inv".into(),
        format!("{}", 100 + total as i64 / 2),
        "注文番号 54321".into(),
        "鈴木".into(),
        "山田 太郎".into(),
        "suzuki".into(),
        some_email.clone(),
        "例".into(),
    ];
    let rounds = 30;
    let mut all = Vec::new();
    println!(
        "{:<24} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "query", "p50 ms", "p95 ms", "p99 ms", "max ms", "hits"
    );
    // Warm up once.
    for q in &queries {
        let query = SearchQuery {
            q: q.clone(),
            ..SearchQuery::default()
        };
        desk.search_tickets(&member, &query).await?;
    }
    for q in &queries {
        let mut times = Vec::with_capacity(rounds);
        let mut hits = 0;
        for round in 0..rounds {
            let query = SearchQuery {
                q: q.clone(),
                offset: Some(if round % 5 == 4 { 50 } else { 0 }),
                ..SearchQuery::default()
            };
            let t = Instant::now();
            let found = desk.search_tickets(&member, &query).await?;
            times.push(t.elapsed());
            if round == 0 {
                hits = found.len();
            }
        }
        times.sort();
        println!(
            "{:<24} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6}",
            q,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap()),
            hits
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "{:<24} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        "ALL",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.95)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap())
    );

    let mut creates = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        desk.create_ticket(
            &member,
            &NewTicket {
                subject: subject(&mut rng),
                contact_id: contact_ids.first().cloned(),
                ..NewTicket::default()
            },
        )
        .await?;
        creates.push(t.elapsed());
    }
    creates.sort();
    println!(
        "create_ticket p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&creates, 0.5)),
        ms(percentile(&creates, 0.99))
    );
    db.close().await;
    if std::env::var_os("MADOGUCHI_BENCH_KEEP").is_some() {
        eprintln!("kept {}", temp.display());
    } else {
        let _ = std::fs::remove_dir_all(&temp);
    }
    Ok(())
}
