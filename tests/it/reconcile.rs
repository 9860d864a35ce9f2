//! Daily reconciliation of every merchant's POS against a real PostgreSQL: equal figures are ok,
//! a difference raises one alarm with the three figures, a POS that uploaded no totals raises
//! `upload_missing`, and reconciling again raises nothing more.

use crate::settlement::{at, shell, yuan, Site};
use crate::support::verify_ledger;
use chrono::NaiveDate;
use onecard::db::alarm;
use onecard::db::ingest::AlarmDetail;
use onecard::db::merchant::{self, MerchantState};
use onecard::db::reconcile::{self, ReconState, ReconcileError, Tally};
use onecard::domain::time;

fn day() -> NaiveDate {
    "2026-11-10".parse().unwrap()
}

fn tally(count: i64, sum: &str) -> Tally {
    Tally {
        count,
        sum: yuan(sum),
    }
}

/// A record received from the POS, stamped by its own clock on `day()` at `hour`.
async fn received(s: &Site, terminal_id: i64, txn_no: i64, amount: &str, hour: u32) {
    sqlx::query(
        "INSERT INTO pos_purchase (terminal_id, record_no, card, amount, balance_after, txn_no,
             meal_slot, online, terminal_time)
         VALUES ($1, $2, 8300001, $3, 0, $2, 1, false, $4)",
    )
    .bind(terminal_id)
    .bind(txn_no)
    .bind(yuan(amount))
    .bind(day().and_hms_opt(hour, 0, 0).unwrap())
    .execute(s.pool())
    .await
    .unwrap();
}

async fn alarms(s: &Site, kind: &str) -> Vec<alarm::Alarm> {
    let open = alarm::open(s.pool()).await.unwrap();
    open.into_iter().filter(|a| a.kind == kind).collect()
}

#[tokio::test]
async fn three_figures_agree_or_raise_one_alarm_each() {
    let s = Site::new().await;
    let pool = s.pool();
    let merchant = s.merchant("第一食堂", "0.02", &s.pos).await;
    let (_, card) = s.cardholder("P1", "300.00").await;
    let (a, b, c) = (s.pos[0], s.pos[1], s.pos[2]);

    // POS 1: two purchases, recorded and posted; its totals agree.
    received(&s, a, 1, "12.50", 11).await;
    received(&s, a, 2, "7.00", 12).await;
    s.purchase_at((a, 1), card, merchant, "12.50", at("2026-11-10", 11))
        .await;
    // Uploaded after midnight: still the 10th, by its record.
    s.purchase_at((a, 2), card, merchant, "7.00", at("2026-11-11", 6))
        .await;
    reconcile::store_daily_total(pool, a, day(), tally(2, "19.50"))
        .await
        .unwrap();
    // POS 2: it says three purchases; two records came in; one reached the ledger.
    received(&s, b, 1, "20.00", 12).await;
    received(&s, b, 2, "5.50", 13).await;
    s.purchase_at((b, 1), card, merchant, "20.00", at("2026-11-10", 12))
        .await;
    reconcile::store_daily_total(pool, b, day(), tally(3, "31.00"))
        .await
        .unwrap();
    // POS 3 (小卖部 POS): an online purchase, and no totals uploaded.
    s.purchase_at((c, 1), card, merchant, "3.00", at("2026-11-10", 15))
        .await;

    let done = reconcile::reconcile(pool, &shell(), day()).await.unwrap();
    let by = |t: i64| done.iter().find(|r| r.terminal_id == t).unwrap();
    assert_eq!(done.len(), 3);
    let ra = by(a);
    assert_eq!(
        (ra.state, ra.pos, ra.received, ra.ledger, ra.raised),
        (
            ReconState::Ok,
            Some(tally(2, "19.50")),
            tally(2, "19.50"),
            tally(2, "19.50"),
            None
        )
    );
    let rb = by(b);
    assert_eq!(rb.state, ReconState::Difference);
    assert_eq!(
        (rb.pos, rb.received, rb.ledger),
        (
            Some(tally(3, "31.00")),
            tally(2, "25.50"),
            tally(1, "20.00")
        )
    );
    let rc = by(c);
    assert_eq!(
        (rc.state, rc.pos, rc.received, rc.ledger),
        (
            ReconState::NotUploaded,
            None,
            Tally::default(),
            tally(1, "3.00")
        )
    );

    // One alarm each, with the figures as data.
    let diff = alarms(&s, "reconciliation_difference").await;
    assert_eq!(diff.len(), 1);
    assert_eq!((diff[0].terminal_id, diff[0].priority), (Some(b), 2));
    assert_eq!(rb.raised, Some(diff[0].id));
    assert_eq!(
        AlarmDetail::parse(&diff[0].detail),
        Some(AlarmDetail::ReconciliationDifference {
            day: day(),
            pos: tally(3, "31.00"),
            received: tally(2, "25.50"),
            ledger: tally(1, "20.00"),
        })
    );
    let en = onecard::app::words::alarm_detail(onecard::i18n::Lang::EN, &diff[0].detail);
    assert!(
        en.contains("¥31.00") && en.contains("¥25.50") && en.contains("¥20.00"),
        "{en}"
    );
    let missing = alarms(&s, "upload_missing").await;
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].terminal_id, Some(c));
    assert_eq!(
        AlarmDetail::parse(&missing[0].detail),
        Some(AlarmDetail::NotUploaded { day: day() })
    );

    // Again: the same results, no alarm more.
    let again = reconcile::reconcile(pool, &shell(), day()).await.unwrap();
    assert!(again.iter().all(|r| r.raised.is_none()));
    assert_eq!(
        again.iter().map(|r| r.state).collect::<Vec<_>>(),
        done.iter().map(|r| r.state).collect::<Vec<_>>()
    );
    assert_eq!(alarm::open(pool).await.unwrap().len(), 2);

    // The board shows each POS's last result. POS 3 uploads its record and its totals; it
    // reconciles now, quietly.
    let board = reconcile::board(pool, day()).await.unwrap();
    assert_eq!(board.len(), 3);
    received(&s, c, 1, "3.00", 15).await;
    reconcile::store_daily_total(pool, c, day(), tally(1, "3.00"))
        .await
        .unwrap();
    let later = reconcile::reconcile(pool, &shell(), day()).await.unwrap();
    let rc = later.iter().find(|r| r.terminal_id == c).unwrap();
    assert_eq!((rc.state, rc.raised), (ReconState::Ok, None));
    assert_eq!(alarm::open(pool).await.unwrap().len(), 2);
    let states: Vec<(i64, ReconState)> = reconcile::board(pool, day())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.terminal_id, r.state))
        .collect();
    assert!(states.contains(&(c, ReconState::Ok)) && states.contains(&(b, ReconState::Difference)));

    // A day still running is refused.
    assert!(matches!(
        reconcile::reconcile(pool, &shell(), time::today())
            .await
            .unwrap_err(),
        ReconcileError::NotEnded { .. }
    ));
    verify_ledger(pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reconciles_a_day_and_exits_non_zero_on_a_difference() {
    let s = Site::new().await;
    let merchant = s.merchant("小卖部", "0", &[s.pos[2]]).await;
    let (_, card) = s.cardholder("P1", "50.00").await;
    received(&s, s.pos[2], 1, "4.00", 9).await;
    s.purchase_at((s.pos[2], 1), card, merchant, "4.00", at("2026-11-10", 9))
        .await;
    let dirs = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = crate::doors::onecard(&s.db, dirs.path(), args, "");
        let (out, err) = crate::doors::text(&o);
        (o.status.success(), out, err)
    };
    let (ok, out, _) = run(&["--lang", "zh-CN", "reconcile", "--date", "2026-11-10"]);
    assert!(
        !ok && out.contains("未上传") && out.contains("新告警 1 条"),
        "{out}"
    );
    reconcile::store_daily_total(s.pool(), s.pos[2], day(), tally(1, "4.00"))
        .await
        .unwrap();
    let (ok, out, err) = run(&["--lang", "en", "reconcile", "--date", "2026-11-10"]);
    assert!(
        ok && out.contains("1 ok") && out.contains("0 new alarms"),
        "{out}{err}"
    );
    verify_ledger(s.pool()).await;
}

/// DAILY_TOTALS on the bus: the command reads the simulated POS's own totals and stores them
/// where reconciliation reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_totals_command_stores_what_the_pos_says() {
    use crate::poller::{done, fast, quiet_demo, start, term};
    use onecard::db::command::{self, CommandOutcome, TerminalCommand};
    let db = crate::support::test_db().await;
    let mut cfg = quiet_demo();
    cfg.door_controllers.clear();
    cfg.attendance_machines.clear();
    cfg.lines.truncate(1);
    cfg.lines[0].terminals.truncate(1);
    let site = start(&cfg).await;
    let reg = onecard::sim::register::register_site(&db.pool, &site)
        .await
        .unwrap();
    let pos = term(&reg, "pos/canteen/1").terminal_id;
    let sup = onecard::poller::Supervisor::start_with(db.pool.clone(), "totals", fast());
    let date = time::today();
    let id = command::enqueue(
        &db.pool,
        &shell(),
        pos,
        &TerminalCommand::DailyTotals { date },
    )
    .await
    .unwrap();
    let (count, fen) = site.pos("pos/canteen/1").unwrap().totals(date);
    let want = Tally {
        count: i64::from(count),
        sum: onecard::domain::money::Money::from_fen(fen),
    };
    assert_eq!(
        done(&db.pool, id).await,
        CommandOutcome::DailyTotalsRead {
            date,
            count: want.count,
            sum: want.sum,
        }
    );
    let stored: (i64, onecard::domain::money::Money) = sqlx::query_as(
        "SELECT count, sum FROM pos_daily_total WHERE terminal_id = $1 AND day = $2",
    )
    .bind(pos)
    .bind(date)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored, (want.count, want.sum));

    // `reconcile --read-totals` asks every merchant's POS, waits, then reconciles: yesterday
    // the quiet POS sold nothing, and says so.
    let pool = &db.pool;
    merchant::apply(pool, &shell(), "第一食堂", "0".parse().unwrap())
        .await
        .unwrap();
    merchant::set_state(pool, &shell(), "第一食堂", MerchantState::Approved)
        .await
        .unwrap();
    merchant::assign(pool, &shell(), "第一食堂", &pos.to_string())
        .await
        .unwrap();
    let yesterday = (date - chrono::Duration::days(1)).to_string();
    let dirs = tempfile::tempdir().unwrap();
    let o = crate::doors::onecard(
        &db,
        dirs.path(),
        &[
            "--lang",
            "en",
            "reconcile",
            "--date",
            &yesterday,
            "--read-totals",
            "30",
        ],
        "",
    );
    let (out, err) = crate::doors::text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(err.contains("totals read from 1 of 1 POS"), "{err}");
    assert!(
        out.contains("1 ok, 0 with a difference, 0 not uploaded"),
        "{out}"
    );
    sup.stop().await;
    site.stop();
}
