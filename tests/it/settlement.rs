//! Merchants and settlement against a real PostgreSQL: the register's lifecycle with its audit
//! rows and refusals, a statement exact to the fen, a settled period locked, a later correction
//! in the open period, an unfinished period refused, and the command line end to end.
//!
//! Purchases of a past period are written as the POS path writes them (movement, two entries,
//! the cardholder's balance), stamped in that period: `pos::authorise` posts at now().

use crate::support::{test_db, verify_ledger, TestDb};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use onecard::db::card::{self, IssueRequest, PaidFrom};
use onecard::db::ledger::{self, MovementKind};
use onecard::db::merchant::{self, MerchantError, MerchantState};
use onecard::db::pos::{self, AuthRequest, Decline};
use onecard::db::settlement::{self, SettleError};
use onecard::domain::card::{CardKind, Subsystem};
use onecard::domain::money::Money;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::domain::settlement::{Period, PeriodKind};
use onecard::domain::time;
use rust_decimal::Decimal;
use sqlx::PgPool;

pub(crate) fn yuan(s: &str) -> Money {
    s.parse().unwrap()
}

pub(crate) fn rate(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(crate) fn shell() -> Actor {
    Actor::shell("root")
}

/// A site time on a day: `at("2026-11-10", 12)` is noon there.
pub(crate) fn at(day: &str, hour: u32) -> DateTime<Utc> {
    let d: NaiveDate = day.parse().unwrap();
    time::instant(d.and_hms_opt(hour, 0, 0).unwrap())
}

/// A line with three POS (一食堂 POS 1, 一食堂 POS 2, 小卖部 POS) and nobody's merchant yet.
pub(crate) struct Site {
    pub db: TestDb,
    pub pos: Vec<i64>,
}

impl Site {
    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    pub async fn new() -> Site {
        let db = test_db().await;
        let pos = crate::pos_online::canteen_bus(
            &db.pool,
            &[(1, "一食堂 POS 1"), (2, "一食堂 POS 2"), (3, "小卖部 POS")],
        )
        .await;
        Site { db, pos }
    }

    /// An approved merchant with `rate` owning the POS `terminals`; its account id.
    pub async fn merchant(&self, name: &str, rate_: &str, terminals: &[i64]) -> i64 {
        merchant::apply(self.pool(), &shell(), name, rate(rate_))
            .await
            .unwrap();
        let m = merchant::set_state(self.pool(), &shell(), name, MerchantState::Approved)
            .await
            .unwrap();
        for t in terminals {
            merchant::assign(self.pool(), &shell(), name, &t.to_string())
                .await
                .unwrap();
        }
        m.account_id.unwrap()
    }

    /// A person with an account holding `balance`; (person id, account id).
    pub async fn cardholder(&self, no: &str, balance: &str) -> (i64, i64) {
        let pool = self.pool();
        sqlx::query(
            "INSERT INTO department (code, name) VALUES ('hq', '后勤处') ON CONFLICT DO NOTHING",
        )
        .execute(pool)
        .await
        .unwrap();
        let person: i64 = sqlx::query_scalar(
            "INSERT INTO person (person_no, name, department_id, category)
             VALUES ($1, $2, (SELECT id FROM department WHERE code = 'hq'), 'staff') RETURNING id",
        )
        .bind(no)
        .bind(format!("持卡人{no}"))
        .fetch_one(pool)
        .await
        .unwrap();
        ledger::top_up(pool, &shell(), person, yuan(balance), "")
            .await
            .unwrap();
        let account = sqlx::query_scalar("SELECT id FROM account WHERE person_id = $1")
            .bind(person)
            .fetch_one(pool)
            .await
            .unwrap();
        (person, account)
    }

    /// A movement stamped `at`, its entries, and the cached balances it moves (a merchant's
    /// balance is never read: its takings come from entries).
    pub async fn movement_at(
        &self,
        kind: &str,
        trace: Option<(i64, i64)>,
        entries: &[(i64, Money)],
        at: DateTime<Utc>,
    ) -> i64 {
        let mut tx = self.pool().begin().await.unwrap();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO ledger_movement (kind, actor, terminal_id, txn_epoch, purchase_count, at)
             VALUES ($1, 'test', $2, CASE WHEN $2::bigint IS NULL THEN NULL ELSE 0 END,
                     CASE WHEN $1 = 'purchase' THEN 1 END, $3)
             RETURNING id",
        )
        .bind(kind)
        .bind(trace.map(|t| t.0))
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        // One statement for the entries, as every writer does; the payer's is traced.
        let accounts: Vec<i64> = entries.iter().map(|e| e.0).collect();
        let amounts: Vec<Money> = entries.iter().map(|e| e.1).collect();
        sqlx::query(
            "INSERT INTO ledger_entry (movement_id, account_id, amount, terminal_id, txn_epoch, txn_no)
             SELECT $1, a, x, CASE WHEN x > 0 THEN $4::bigint END,
                    CASE WHEN x > 0 AND $4::bigint IS NOT NULL THEN 0::bigint END,
                    CASE WHEN x > 0 THEN $5::bigint END
             FROM unnest($2::bigint[], $3::numeric[]) AS e (a, x)",
        )
        .bind(id)
        .bind(&accounts)
        .bind(&amounts)
        .bind(trace.map(|t| t.0))
        .bind(trace.map(|t| t.1))
        .execute(&mut *tx)
        .await
        .unwrap();
        for (account, amount) in entries {
            sqlx::query(
                "UPDATE account SET balance = balance - $2 WHERE id = $1 AND kind <> 'merchant'",
            )
            .bind(account)
            .bind(amount)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        id
    }

    /// A POS purchase (cardholder to merchant) as posted at `at`.
    pub async fn purchase_at(
        &self,
        (terminal_id, txn_no): (i64, i64),
        cardholder: i64,
        merchant: i64,
        amount: &str,
        at: DateTime<Utc>,
    ) -> i64 {
        let a = yuan(amount);
        self.movement_at(
            "purchase",
            Some((terminal_id, txn_no)),
            &[(cardholder, a), (merchant, -a)],
            at,
        )
        .await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    pub async fn audited(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_merchant_applies_is_approved_owns_pos_and_is_suspended_and_closed() {
    let s = Site::new().await;
    let pool = s.pool();
    let m = merchant::apply(pool, &shell(), " 第一食堂 ", rate("0.025"))
        .await
        .unwrap();
    assert_eq!((m.name.as_str(), m.state.as_str()), ("第一食堂", "applied"));
    assert_eq!((m.account_id, m.commission_rate), (None, rate("0.025")));
    assert_eq!(s.audited("merchant.apply").await, 1);

    // Refusals, each typed, nothing written.
    let refused = |r: Result<merchant::Merchant, MerchantError>| r.unwrap_err();
    assert!(matches!(
        refused(merchant::apply(pool, &shell(), "第一食堂", rate("0.01")).await),
        MerchantError::NameTaken(n) if n == "第一食堂"
    ));
    assert!(matches!(
        refused(merchant::apply(pool, &shell(), "  ", rate("0.01")).await),
        MerchantError::NameEmpty
    ));
    for bad in ["1", "-0.01", "0.00001"] {
        assert!(matches!(
            refused(merchant::apply(pool, &shell(), "小卖部", rate(bad)).await),
            MerchantError::BadRate(_)
        ));
    }
    assert!(matches!(
        refused(merchant::set_state(pool, &shell(), "第一食堂", MerchantState::Suspended).await),
        MerchantError::WrongState {
            wanted: MerchantState::Suspended,
            ..
        }
    ));
    assert!(matches!(
        refused(merchant::set_state(pool, &shell(), "第九食堂", MerchantState::Approved).await),
        MerchantError::NotFound(_)
    ));
    let desk = Actor::operator(1, "desk", Role::CardDesk);
    assert!(matches!(
        refused(merchant::apply(pool, &desk, "小卖部", rate("0.01")).await),
        MerchantError::Denied(_)
    ));
    assert_eq!(s.count("SELECT count(*) FROM merchant").await, 1);

    // Approval opens the account, once.
    let m = merchant::set_state(pool, &shell(), "第一食堂", MerchantState::Approved)
        .await
        .unwrap();
    let account = m.account_id.expect("an approved merchant has an account");
    assert_eq!(m.approved_by.as_deref(), Some("cli:root"));
    assert_eq!(s.audited("merchant.approve").await, 1);
    assert!(matches!(
        refused(
            merchant::set_state(pool, &shell(), &m.id.to_string(), MerchantState::Approved).await
        ),
        MerchantError::WrongState { .. }
    ));

    // Its POS, and a POS nobody else may take without unassigning it first.
    merchant::assign(pool, &shell(), "第一食堂", "一食堂 POS 1")
        .await
        .unwrap();
    assert_eq!(s.audited("merchant.assign").await, 1);
    merchant::apply(pool, &shell(), "小卖部", rate("0"))
        .await
        .unwrap();
    assert!(matches!(
        merchant::assign(pool, &shell(), "小卖部", "一食堂 POS 1").await.unwrap_err(),
        MerchantError::OwnedElsewhere { owner, .. } if owner == "第一食堂"
    ));
    assert!(matches!(
        merchant::assign(pool, &shell(), "小卖部", "no such pos")
            .await
            .unwrap_err(),
        MerchantError::NoSuchPos(_)
    ));
    let nov: Period = "2026-11".parse().unwrap();
    assert!(matches!(
        settlement::settle(pool, &shell(), nov, Some("小卖部"))
            .await
            .unwrap_err(),
        SettleError::Merchant(MerchantError::WrongState { .. })
    ));
    let owned = merchant::terminals(pool, m.id).await.unwrap();
    assert_eq!(owned, vec![(s.pos[0], "一食堂 POS 1".to_string())]);

    // A card buys while the merchant is approved, not while it is suspended.
    let (person, _) = s.cardholder("P1", "100.00").await;
    let today = time::today();
    let issued = card::issue(
        pool,
        &shell(),
        &IssueRequest {
            card_no: 8_300_001,
            person_id: person,
            kind: CardKind::Staff,
            subsystems: vec![Subsystem::Pos],
            door_groups: vec![],
            terminals: vec![s.pos[0]],
            valid_from: today,
            valid_until: today + Duration::days(365),
            paid_from: PaidFrom::Cash,
        },
    )
    .await
    .unwrap();
    let buy = |txn_no| AuthRequest {
        terminal_id: s.pos[0],
        txn_no,
        card: issued.card_no,
        amount: yuan("8.50"),
        pin: None,
    };
    assert_eq!(pos::authorise(pool, &buy(1)).await.unwrap().declined, None);
    merchant::set_state(pool, &shell(), "第一食堂", MerchantState::Suspended)
        .await
        .unwrap();
    assert_eq!(
        pos::authorise(pool, &buy(2)).await.unwrap().declined,
        Some(Decline::NoMerchant)
    );
    let back = merchant::set_state(pool, &shell(), "第一食堂", MerchantState::Approved)
        .await
        .unwrap();
    assert_eq!(back.account_id, Some(account), "one account, kept");
    assert_eq!(pos::authorise(pool, &buy(3)).await.unwrap().declined, None);
    let m = merchant::set_commission(pool, &shell(), "第一食堂", rate("0.03"))
        .await
        .unwrap();
    assert_eq!(m.commission_rate, rate("0.03"));

    // Unassigned, the POS sells nothing; closed, the merchant takes no POS and stays closed.
    merchant::unassign(pool, &shell(), "一食堂 POS 1")
        .await
        .unwrap();
    assert_eq!(s.audited("merchant.unassign").await, 1);
    assert_eq!(
        pos::authorise(pool, &buy(4)).await.unwrap().declined,
        Some(Decline::NoMerchant)
    );
    merchant::set_state(pool, &shell(), "第一食堂", MerchantState::Closed)
        .await
        .unwrap();
    assert!(matches!(
        merchant::assign(pool, &shell(), "第一食堂", "一食堂 POS 1")
            .await
            .unwrap_err(),
        MerchantError::WrongState { .. }
    ));
    assert!(matches!(
        refused(merchant::set_state(pool, &shell(), "第一食堂", MerchantState::Approved).await),
        MerchantError::WrongState { .. }
    ));
    assert_eq!(s.audited("merchant.close").await, 1);
    assert_eq!(s.audited("merchant.suspend").await, 1);
    assert_eq!(s.audited("merchant.commission").await, 1);
    let mut listed: Vec<(String, String)> = merchant::list(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.state))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("小卖部".to_string(), "applied".to_string()),
            ("第一食堂".to_string(), "closed".to_string())
        ]
    );
    verify_ledger(pool).await;
}

/// Two merchants with November's takings: 第一食堂 (2.5 %) three sales, a refund and a
/// correction; 小卖部 (no commission) one sale, and one on the 1st of December.
async fn november(s: &Site) -> (i64, i64, i64) {
    let canteen = s.merchant("第一食堂", "0.025", &[s.pos[0], s.pos[1]]).await;
    let shop = s.merchant("小卖部", "0", &[s.pos[2]]).await;
    let (_, card) = s.cardholder("P1", "500.00").await;
    s.purchase_at((s.pos[0], 1), card, canteen, "12.50", at("2026-11-01", 0))
        .await;
    s.purchase_at((s.pos[1], 1), card, canteen, "33.33", at("2026-11-15", 12))
        .await;
    s.purchase_at((s.pos[0], 2), card, canteen, "54.37", at("2026-11-30", 23))
        .await;
    s.purchase_at((s.pos[2], 1), card, shop, "7.00", at("2026-11-20", 9))
        .await;
    s.purchase_at((s.pos[2], 2), card, shop, "1.00", at("2026-12-01", 0))
        .await;
    // A refund by the canteen, and an overcharge reversed against it.
    s.movement_at(
        "refund",
        None,
        &[(canteen, yuan("5.00")), (card, yuan("-5.00"))],
        at("2026-11-16", 10),
    )
    .await;
    s.movement_at(
        "correction",
        None,
        &[(canteen, yuan("0.10")), (card, yuan("-0.10"))],
        at("2026-11-17", 10),
    )
    .await;
    (canteen, shop, card)
}

#[tokio::test]
async fn a_statement_is_exact_to_the_fen_and_a_settled_period_is_locked() {
    let s = Site::new().await;
    let pool = s.pool();
    let (canteen, _, card) = november(&s).await;
    let nov: Period = "2026-11".parse().unwrap();

    let open = settlement::statements(pool, nov, None).await.unwrap();
    assert_eq!(open.len(), 2);
    let c = &open[1];
    assert_eq!(
        (c.merchant.as_str(), c.settled.is_none()),
        ("第一食堂", true)
    );
    let f = c.figures;
    // 12.50 + 33.33 + 54.37 = 100.20; 2.5 % is 2.505, half up 2.51.
    assert_eq!(
        (
            f.takings.purchases,
            f.takings.sales,
            f.takings.refunds,
            f.takings.corrections
        ),
        (3, yuan("100.20"), yuan("5.00"), yuan("-0.10"))
    );
    assert_eq!((f.commission, f.net_payable), (yuan("2.51"), yuan("92.59")));
    let shop = &open[0];
    assert_eq!(shop.merchant, "小卖部");
    assert_eq!(
        (
            shop.figures.takings.sales,
            shop.figures.commission,
            shop.figures.net_payable
        ),
        (yuan("7.00"), Money::ZERO, yuan("7.00"))
    );

    // Settled: stored, audited, the same figures.
    let settled = settlement::settle(pool, &shell(), nov, None).await.unwrap();
    assert!(settled.iter().all(|s| s.settled.is_some()));
    assert_eq!(
        settled.iter().map(|s| s.figures).collect::<Vec<_>>(),
        open.iter().map(|s| s.figures).collect::<Vec<_>>()
    );
    assert_eq!(s.count("SELECT count(*) FROM settlement").await, 2);
    assert_eq!(s.audited("merchant.settle").await, 2);

    // A correction of a November sale made now lands in the open period, not in November.
    let mut tx = pool.begin().await.unwrap();
    ledger::post(
        &mut tx,
        &shell(),
        MovementKind::Correction,
        None,
        "overcharge on 一食堂 POS 1 txn 2, receipt 0042",
        &[(canteen, yuan("4.37")), (card, yuan("-4.37"))],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let again = settlement::settle(pool, &shell(), nov, None).await.unwrap();
    assert_eq!(again, settled, "settling again shows the stored statements");
    assert_eq!(s.count("SELECT count(*) FROM settlement").await, 2);
    assert_eq!(s.audited("merchant.settle").await, 2);
    let now = Period::day(time::today());
    let today = settlement::statements(pool, now, Some("第一食堂"))
        .await
        .unwrap();
    assert_eq!(today.len(), 1);
    assert_eq!(today[0].figures.takings.corrections, yuan("-4.37"));
    assert_eq!(today[0].figures.net_payable, yuan("-4.37"));
    assert_eq!(
        settlement::statements(pool, nov, None).await.unwrap(),
        settled,
        "November is locked"
    );

    // An unfinished period is refused; so is a day inside a settled month.
    for open in [
        now,
        Period::month_of(time::today()),
        Period::week_of(time::today()),
    ] {
        assert!(matches!(
            settlement::settle(pool, &shell(), open, None)
                .await
                .unwrap_err(),
            SettleError::NotEnded { .. }
        ));
    }
    let day: Period = "2026-11-10".parse().unwrap();
    assert!(matches!(
        settlement::settle(pool, &shell(), day, Some("小卖部")).await.unwrap_err(),
        SettleError::Overlaps { settled, .. } if settled == nov
    ));
    // December's first day holds only 小卖部's sale; settled for one merchant alone.
    let dec1: Period = "2026-12-01".parse().unwrap();
    let one = settlement::settle(pool, &shell(), dec1, Some("小卖部"))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].period.kind, PeriodKind::Daily);
    assert_eq!(one[0].figures.takings.sales, yuan("1.00"));
    let desk = Actor::operator(1, "desk", Role::CardDesk);
    assert!(matches!(
        settlement::settle(pool, &desk, dec1, None)
            .await
            .unwrap_err(),
        SettleError::Denied(_)
    ));
    verify_ledger(pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_registers_settles_and_writes_the_statements_as_csv() {
    let s = Site::new().await;
    let dirs = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = crate::doors::onecard(&s.db, dirs.path(), args, "");
        let (out, err) = crate::doors::text(&o);
        (o.status.success(), out, err)
    };
    let (ok, out, err) = run(&[
        "--lang",
        "en",
        "merchant",
        "apply",
        "第一食堂",
        "--commission",
        "0.025",
    ]);
    assert!(
        ok && out.contains("第一食堂 applied, commission 2.5%"),
        "{out}{err}"
    );
    assert!(run(&["merchant", "approve", "第一食堂"]).0);
    let (ok, out, _) = run(&[
        "--lang",
        "en",
        "merchant",
        "assign",
        "第一食堂",
        "一食堂 POS 1",
    ]);
    assert!(
        ok && out.contains("now belongs to merchant 第一食堂"),
        "{out}"
    );
    let (ok, _, err) = run(&["--lang", "zh-CN", "merchant", "suspend", "第九食堂"]);
    assert!(!ok && err.contains("没有商户 第九食堂"), "{err}");
    let (ok, out, _) = run(&["--lang", "zh-CN", "merchant", "list"]);
    assert!(
        ok && out.contains("第一食堂") && out.contains("已审批") && out.contains("2.5%"),
        "{out}"
    );

    let canteen: i64 = s
        .count("SELECT id FROM account WHERE kind = 'merchant'")
        .await;
    let (_, card) = s.cardholder("P1", "200.00").await;
    s.purchase_at((s.pos[0], 1), card, canteen, "12.50", at("2026-11-03", 8))
        .await;
    s.purchase_at((s.pos[0], 2), card, canteen, "87.70", at("2026-11-04", 8))
        .await;

    let file = dirs.path().join("结算 2026-11.csv");
    let file_arg = file.to_str().unwrap();
    let (ok, out, err) = run(&[
        "--lang", "en", "settle", "--period", "2026-11", "--csv", file_arg,
    ]);
    assert!(ok, "{out}{err}");
    // 100.20 in sales, 2.505 → 2.51 commission, 97.69 net.
    for want in [
        "第一食堂",
        "¥100.20",
        "¥2.51",
        "¥97.69",
        "total",
        "1 statements written",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(onecard::export::BOM));
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(
        text.starts_with("period,merchant,purchases,sales,"),
        "{text}"
    );
    assert!(
        text.contains("2026-11,第一食堂,2,100.20,0.00,0.00,0.025,2.51,97.69,"),
        "{text}"
    );
    assert_eq!(s.audited("settlement.export").await, 1);

    // The file is never overwritten unless told; settling again changes nothing.
    let (ok, _, err) = run(&[
        "--lang", "zh-CN", "settle", "--period", "2026-11", "--csv", file_arg,
    ]);
    assert!(!ok && err.contains("已存在"), "{err}");
    assert_eq!(s.count("SELECT count(*) FROM settlement").await, 1);
    let (ok, out, _) = run(&[
        "--lang",
        "en",
        "settle",
        "--period",
        "2026-11",
        "--merchant",
        "第一食堂",
    ]);
    assert!(
        ok && out.contains("¥97.69") && out.contains("cli:"),
        "{out}"
    );

    // A period still running is refused, in the operator's language.
    let this_month = time::today().format("%Y-%m").to_string();
    let (ok, _, err) = run(&["--lang", "zh-CN", "settle", "--period", &this_month]);
    assert!(!ok && err.contains("尚未结束"), "{err}");
    let (ok, _, err) = run(&["settle", "--period", "2026-13"]);
    assert!(!ok && err.contains("is not a period"), "{err}");
    verify_ledger(s.pool()).await;
}
