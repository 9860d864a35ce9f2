//! `onecard bench --settlement`: money through the books, in a database of its own.
//!
//! * posting: POS purchases stored through `ingest::store_purchases` on terminals of a
//!   merchant (so each batch is also posted to the ledger, and folded into the payers'
//!   balances by serve's folder running alongside; the time ends when every batch is folded),
//!   against the same rows stored on a terminal of no merchant (records only) in the same run:
//!   the rate and the ratio, the best of two runs of each taken in turns;
//! * online authorisation: every simulated POS of the site asks once in a five-second window (a
//!   canteen rush), `serve`'s poller reads the request, onecard decides and posts, the POS gets
//!   its answer; the time from asking to the answer, p50 and p99, with the poll period beside it,
//!   over three rounds after a warm-up round (shown, not counted).
//!
//! * settling a month: `--month-purchases` purchases of last month across 200 merchants,
//!   loaded in bulk (the database's per-row checks off for the load only: superuser), then
//!   `settlement::settle` for every merchant, timed.
//!
//! Ends with `bench: post_rps=… post_ratio=… auth_p50_ms=… auth_p99_ms=… settle_month_s=…`.

use super::{fresh_database, percentile, say, Server};
use crate::db::ingest::{self, PurchaseRow};
use crate::domain::money::Money;
use crate::poller::{Options, Supervisor};
use crate::sim::native::AuthOutcome;
use crate::sim::register::{register_site_with, RegisterOptions};
use crate::sim::runner::Site;
use crate::sim::site::{
    CardsConfig, LineConfig, NativeKind, NativeTerminalConfig, Ports, SiteConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// The settlement benchmark's database.
pub const DATABASE: &str = "onecard_bench_settlement";
/// Cardholders, each with ¥1,000.00.
const CARDHOLDERS: i64 = 10_000;
const FIRST_CARD: i64 = 9_100_000;
/// The bulk load pays with the first this many cards; the POS ask with the others.
const LOAD_CARDS: i64 = CARDHOLDERS / 2;
/// Purchases posted (and as many stored raw), in batches of `BATCH` on `STREAMS` terminals.
const PURCHASES: usize = 200_000;
const BATCH: usize = 500;
const STREAMS: usize = 4;
/// Runs of each kind, taken in turns.
const ROUNDS: u64 = 2;
/// Rounds in which every POS asks once.
const AUTH_ROUNDS: usize = 3;
/// Each round's POS ask within this window, at random moments.
const AUTH_WINDOW_MS: u64 = 5_000;
/// How long one authorisation may take before it counts as failed.
const AUTH_PATIENCE: Duration = Duration::from_secs(30);

pub async fn run(
    server: &Server,
    pos: usize,
    poll_ms: u32,
    seed: u64,
    month_purchases: i64,
) -> anyhow::Result<()> {
    say(format!(
        "onecard bench --settlement: {PURCHASES} purchases posted against as many stored raw \
         ({STREAMS} terminals, batches of {BATCH}); online authorisation on {pos} simulated POS \
         polled every {poll_ms} ms, {AUTH_ROUNDS} rounds (after a warm-up round) of one request each within {AUTH_WINDOW_MS} ms"
    ));
    let (options, _url) = fresh_database(server, DATABASE).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    crate::db::migrate(&pool).await?;
    let merchant = seed_books(&pool).await?;
    // The bulk load goes to terminals of its own, on a line nobody polls: on the site's POS
    // its transaction numbers would be the ones they ask with, and no number posts twice.
    let terminals = load_terminals(&pool).await?;
    let raw_terminal = terminals
        .last()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no load terminal"))?;
    // Records only on the last (a terminal of no merchant), records and posting on the others.
    sqlx::query("UPDATE terminal SET merchant_id = $1 WHERE id = ANY($2) AND id <> $3")
        .bind(merchant)
        .bind(&terminals)
        .bind(raw_terminal)
        .execute(&pool)
        .await?;
    // Taken in turns, the best of each: a neighbour's burst on a shared machine lands on one
    // run, not on one kind. The simulated site is not running yet.
    let posted: Vec<i64> = terminals.iter().take(STREAMS).copied().collect();
    let (mut raw_rps, mut post_rps) = (0.0_f64, 0.0_f64);
    for round in 0..ROUNDS {
        let seed = seed + 2 * round;
        let raw = store(&pool, &[raw_terminal; STREAMS], seed, round).await?;
        let post = store(&pool, &posted, seed + 1, round).await?;
        say(format!(
            "run {}: raw {raw:.0} purchases/s stored (records only); posted {post:.0} \
             purchases/s stored, posted and folded into balances",
            round + 1
        ));
        raw_rps = raw_rps.max(raw);
        post_rps = post_rps.max(post);
    }
    let ratio = post_rps / raw_rps.max(1.0);
    say(format!(
        "posting: best {post_rps:.0} purchases/s against best raw {raw_rps:.0} ({ratio:.2}× raw)"
    ));

    // The load's cleanup done now, not by autovacuum and the checkpointer during the next part.
    for q in [
        "VACUUM (ANALYZE) ledger_entry, ledger_movement, pos_purchase, account, balance_pending",
        "CHECKPOINT",
    ] {
        if let Err(e) = sqlx::query(q).execute(&pool).await {
            say(format!(
                "{q}: {e} (the next part may share the machine with it)"
            ));
        }
    }
    let site = Site::start(&site_config(pos, seed), Ports::ephemeral()).await?;
    let reg = register_site_with(
        &pool,
        &site,
        &RegisterOptions {
            poll_interval_ms: i32::try_from(poll_ms).unwrap_or(250),
            ..RegisterOptions::default()
        },
    )
    .await?;
    let site_pos: Vec<i64> = reg.iter().map(|r| r.terminal_id).collect();
    sqlx::query("UPDATE terminal SET merchant_id = $1 WHERE id = ANY($2)")
        .bind(merchant)
        .bind(&site_pos)
        .execute(&pool)
        .await?;

    let supervisor = Supervisor::start_with(pool.clone(), "bench-settlement", Options::default());
    // Every POS answers its polls before the first one asks: the first visits identify them,
    // set their clocks and download their blacklists.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(120) {
        let offline: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM terminal WHERE id = ANY($1) AND status <> 'online'",
        )
        .bind(&site_pos)
        .fetch_one(&pool)
        .await?;
        if offline <= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say(format!(
        "lines taken, POS online: {:.1} s",
        warm.elapsed().as_secs_f64()
    ));
    let mut times = Vec::new();
    let mut failed = 0;
    let mut rng = StdRng::seed_from_u64(seed);
    // Round 0 warms up: the first asks after the lines are taken meet cold connections (each
    // statement prepared on each pooled connection) and caches. It is shown and not counted:
    // a canteen rush comes to a serve that has been running.
    for round in 0..=AUTH_ROUNDS {
        // A canteen rush: every POS asks once, at a random moment of the window.
        let mut waits = Vec::new();
        for p in site.pos_terminals() {
            // Cards the load left alone: under their daily count, so asks are decided in full.
            let card =
                u32::try_from(FIRST_CARD + rng.gen_range(LOAD_CARDS..CARDHOLDERS)).unwrap_or(0);
            let fen = rng.gen_range(100..=1_000);
            let after = Duration::from_millis(rng.gen_range(0..AUTH_WINDOW_MS));
            let p = p.clone();
            waits.push(tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let started = Instant::now();
                let txn = p.ask(card, fen, None).ok()?;
                // Woken by the answer: hundreds of waiters polling every millisecond would
                // take the CPU the poller is measured on. Gone offline: no answer in time.
                match p.settled(txn, AUTH_PATIENCE).await? {
                    AuthOutcome::Host(..) => Some(started.elapsed().as_secs_f64() * 1000.0),
                    AuthOutcome::Offline(_) => None,
                }
            }));
        }
        let mut this = Vec::new();
        for w in waits {
            match w.await? {
                Some(ms) => this.push(ms),
                None => failed += 1,
            }
        }
        this.sort_by(f64::total_cmp);
        say(format!(
            "{}: p50 {:.1} ms, p99 {:.1} ms, slowest {:.1} ms",
            if round == 0 {
                "warm-up round (not counted)".to_string()
            } else {
                format!("round {round}")
            },
            percentile(&this, 50.0),
            percentile(&this, 99.0),
            this.last().copied().unwrap_or(0.0)
        ));
        if round > 0 {
            times.extend(this);
        }
    }
    supervisor.stop().await;
    site.stop();
    times.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
    say(format!(
        "authorisation: {} answered, {failed} failed; p50 {p50:.1} ms, p99 {p99:.1} ms (poll period {poll_ms} ms)",
        times.len()
    ));
    let books = crate::db::ledger::verify(&pool).await?;
    say(format!(
        "ledger verify: {}",
        if books.is_ok() {
            "the books balance"
        } else {
            "DIFFERENCES"
        }
    ));
    let settle_s = settle_month(&pool, raw_terminal, month_purchases).await?;
    say(format!(
        "bench: post_rps={post_rps:.0} post_ratio={ratio:.2} auth_p50_ms={p50:.1} auth_p99_ms={p99:.1} settle_month_s={settle_s:.2}"
    ));
    Ok(())
}

/// Merchants in the month to settle.
const MONTH_MERCHANTS: i64 = 200;

/// Loads `n` purchases of last month across [`MONTH_MERCHANTS`] merchants (owed by the
/// suspense account, so the books still balance) and times settling that month for all of
/// them.
async fn settle_month(pool: &PgPool, terminal: i64, n: i64) -> anyhow::Result<f64> {
    use crate::domain::settlement::Period;
    let today = crate::domain::time::today();
    let period = Period::month_of(
        chrono::Datelike::with_day(&today, 1).unwrap_or(today) - chrono::Duration::days(1),
    );
    let (from, to) = period.bounds();
    let loaded = Instant::now();
    let mut tx = pool.begin().await?;
    // A bulk load, not a test of the checks: off for this transaction only (needs superuser).
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .map_err(|e| anyhow::anyhow!("loading the month needs a superuser connection: {e}"))?;
    sqlx::query(
        "INSERT INTO merchant (name, state, approved_at, approved_by)
         SELECT 'bench merchant ' || k, 'approved', now(), 'bench' FROM generate_series(1, $1) k",
    )
    .bind(MONTH_MERCHANTS)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO account (kind, merchant_id, name, floor_zero)
         SELECT 'merchant', id, name, false FROM merchant WHERE name LIKE 'bench merchant %'",
    )
    .execute(&mut *tx)
    .await?;
    // As `serve` posts them: batches of BATCH purchases on one terminal, each a movement with
    // one traced entry per purchase and one for its merchant. Epoch -1: numbers no terminal's
    // own purchases use.
    let batches = (n + BATCH as i64 - 1) / BATCH as i64;
    sqlx::query(
        "INSERT INTO ledger_movement (kind, actor, terminal_id, txn_epoch, purchase_count, at)
         SELECT 'purchase', 'bench', $1, -1, least($5, $4 - b * $5),
                $2 + (b * extract(epoch FROM $3 - $2)::bigint / $6) * interval '1 second'
         FROM generate_series(0, $6 - 1) b ORDER BY b",
    )
    .bind(terminal)
    .bind(from)
    .bind(to)
    .bind(n)
    .bind(BATCH as i64)
    .bind(batches)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "WITH mv AS (
             SELECT id, row_number() OVER (ORDER BY id) - 1 AS b FROM ledger_movement
             WHERE terminal_id = $1 AND txn_epoch = -1
         ), merchants AS (
             SELECT array_agg(id ORDER BY id) AS ids FROM account
             WHERE kind = 'merchant' AND name LIKE 'bench merchant %'
         ), p AS (
             SELECT mv.id, mv.b, k, (100 + k % 900) / 100.0 AS amount
             FROM mv, generate_series(mv.b * $2 + 1, least((mv.b + 1) * $2, $3)) k
         )
         INSERT INTO ledger_entry (movement_id, account_id, amount, terminal_id, txn_epoch, txn_no)
         SELECT id, (SELECT id FROM account WHERE kind = 'suspense'), amount, $1, -1, k FROM p
         UNION ALL
         SELECT id, (SELECT ids[1 + b % array_length(ids, 1)] FROM merchants), -sum(amount),
                NULL, NULL, NULL
         FROM p GROUP BY id, b",
    )
    .bind(terminal)
    .bind(BATCH as i64)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE account SET balance = balance - (
             SELECT coalesce(sum(e.amount), 0) FROM ledger_entry e
             WHERE e.terminal_id = $1 AND e.txn_epoch = -1)
         WHERE kind = 'suspense'",
    )
    .bind(terminal)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE ledger_movement, ledger_entry, account")
        .execute(pool)
        .await?;
    say(format!(
        "month: {n} purchases of {} across {MONTH_MERCHANTS} merchants loaded in {:.1} s",
        period.first_day.format("%Y-%m"),
        loaded.elapsed().as_secs_f64()
    ));
    let started = Instant::now();
    let statements = crate::db::settlement::settle(
        pool,
        &crate::domain::permission::Actor::shell("bench"),
        period,
        None,
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    let settled: i64 = statements.iter().map(|s| s.figures.takings.purchases).sum();
    say(format!(
        "settle: {} statements, {settled} purchases, in {secs:.2} s",
        statements.len()
    ));
    Ok(secs)
}

/// `STREAMS` terminals for the bulk load and one for the raw store, on a disabled line.
async fn load_terminals(pool: &PgPool) -> anyhow::Result<Vec<i64>> {
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO line (name, protocol, transport, address, enabled)
         VALUES ('bench load', 'native', 'tcp', '127.0.0.1:9', false) RETURNING id",
    )
    .fetch_one(pool)
    .await?;
    Ok(sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name)
         SELECT $1, 'pos', k, 'bench load ' || k FROM generate_series(1, $2) k RETURNING id",
    )
    .bind(line)
    .bind(STREAMS as i64 + 1)
    .fetch_all(pool)
    .await?)
}

/// POS only, on TCP lines of up to 40.
fn site_config(pos: usize, seed: u64) -> SiteConfig {
    let per_line = 40;
    let pos = pos.max(STREAMS);
    SiteConfig {
        seed,
        rate: 0.0,
        bind: std::net::IpAddr::from([127, 0, 0, 1]),
        alarm_percent: 0.0,
        patrol: None,
        cards: CardsConfig {
            first: 8_165_500,
            count: 100,
            granted: false,
        },
        door_controllers: Vec::new(),
        attendance_machines: Vec::new(),
        lines: (0..pos.div_ceil(per_line))
            .map(|l| LineConfig {
                name: format!("pay{l:03}"),
                pty: false,
                tcp: true,
                noise_percent: 0.0,
                terminals: (0..per_line.min(pos - l * per_line))
                    .map(|i| NativeTerminalConfig {
                        kind: NativeKind::Pos,
                        machine_no: (i + 1) as u8,
                        capacity: 20_000,
                        offset_secs: 0,
                        drift_ppm: 0.0,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A merchant and its account, and cardholders with ¥1,000.00 each from one opening
/// movement (cash received). Returns the merchant.
async fn seed_books(pool: &PgPool) -> anyhow::Result<i64> {
    let mut tx = pool.begin().await?;
    let merchant: i64 = sqlx::query_scalar(
        "INSERT INTO merchant (name, state, approved_at, approved_by)
         VALUES ('bench canteen', 'approved', now(), 'bench') RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO account (kind, merchant_id, name) VALUES ('merchant', $1, 'bench canteen')",
    )
    .bind(merchant)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO department (code, name) VALUES ('bench', 'bench') ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO person (person_no, name, department_id, category)
         SELECT 'B' || n, 'bench ' || n, (SELECT id FROM department WHERE code = 'bench'), 'staff'
         FROM generate_series(1, $1::bigint) AS n",
    )
    .bind(CARDHOLDERS)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO card (card_no, person_id, kind, valid_from, valid_until, issued_by,
                           query_pin_hash, payment_pin_hash)
         SELECT $1 + row_number() OVER (ORDER BY id) - 1, id, 'staff', current_date - 1,
                current_date + 365, 'bench', '-', '-'
         FROM person WHERE person_no LIKE 'B%'",
    )
    .bind(FIRST_CARD)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO account (kind, person_id, name, balance)
         SELECT 'cardholder', id, name, 1000.00 FROM person WHERE person_no LIKE 'B%'",
    )
    .execute(&mut *tx)
    .await?;
    let opening: i64 = sqlx::query_scalar(
        "INSERT INTO ledger_movement (kind, note, actor) VALUES ('top_up', 'bench opening', 'bench')
         RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO ledger_entry (movement_id, account_id, amount)
         SELECT $1, id, -1000.00 FROM account WHERE kind = 'cardholder'
         UNION ALL
         SELECT $1, (SELECT id FROM account WHERE kind = 'cash'), 1000.00 * $2",
    )
    .bind(opening)
    .bind(CARDHOLDERS)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE account SET balance = balance - 1000.00 * $1 WHERE kind = 'cash'")
        .bind(CARDHOLDERS)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(merchant)
}

/// Stores `PURCHASES` purchases on `terminals` (one stream each, record and transaction
/// numbers of their own), in batches; the rate in purchases per second.
async fn store(pool: &PgPool, terminals: &[i64], seed: u64, round: u64) -> anyhow::Result<f64> {
    let per_stream = PURCHASES / terminals.len().max(1);
    // A stream numbers its records (and transactions) on from its last run's: no gaps.
    let per = i64::try_from(per_stream).unwrap_or(0);
    let first = i64::try_from(round).unwrap_or(0) * per;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (s, &terminal) in terminals.iter().enumerate() {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed + s as u64);
            // Streams on one terminal number their records apart.
            let base = first + i64::try_from(s).unwrap_or(0) * per * ROUNDS as i64 + 1;
            let mut no = base;
            while no < base + per_stream as i64 {
                let rows: Vec<PurchaseRow> = (0..BATCH as i64)
                    .map(|i| PurchaseRow {
                        record_no: no + i,
                        card: FIRST_CARD + rng.gen_range(0..LOAD_CARDS),
                        amount: Money::from_fen(rng.gen_range(100..=1_000)),
                        balance_after: Money::ZERO,
                        txn_no: no + i,
                        meal_slot: 0,
                        online: false,
                        terminal_time: Some(crate::domain::time::now()),
                    })
                    .collect();
                no += BATCH as i64;
                ingest::store_purchases(&pool, terminal, &rows, None).await?;
            }
            Ok::<(), sqlx::Error>(())
        }));
    }
    // Balances are folded as serve folds them, alongside; the run ends when all are.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let folder = tokio::spawn(crate::poller::balances::run(pool.clone(), stopped));
    for t in tasks {
        t.await??;
    }
    crate::db::pos::fold_all(pool).await?;
    let rate = PURCHASES as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = folder.await;
    Ok(rate)
}
