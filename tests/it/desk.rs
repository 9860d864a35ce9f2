//! The card desk's money against a real PostgreSQL: top-ups by channel into each desk's own
//! drawer, refunds, overcharges reversed at the centre, shift closes, statements and subsidy
//! batches; every amount exact to the fen and the books verified after each test.

use crate::support::{test_db, verify_ledger, TestDb};
use chrono::Duration;
use onecard::db::card::{self, IssueRequest, PaidFrom};
use onecard::db::desk::{self, Channel, DeskError, PurchaseRef};
use onecard::db::ledger::{self, LedgerError, SystemAccount};
use onecard::db::operator::{self, NewOperator};
use onecard::db::pos::{self, AuthRequest};
use onecard::db::terminal;
use onecard::domain::card::{CardKind, Subsystem};
use onecard::domain::money::Money;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::import::{subsidies, ImportError, RowProblem};
use sqlx::PgPool;

fn yuan(s: &str) -> Money {
    s.parse().unwrap()
}

/// A canteen POS of an approved merchant, and three operators.
pub(crate) struct Centre {
    pub db: TestDb,
    pub pos: i64,
    pub merchant_account: i64,
    pub desk: Actor,
    pub director: Actor,
    pub tech: Actor,
}

async fn operator(pool: &PgPool, login: &str, role: Role) -> Actor {
    operator::create(
        pool,
        &Actor::shell("root"),
        NewOperator {
            login,
            display_name: login,
            role,
            password: "correct horse battery",
            must_change_password: false,
        },
    )
    .await
    .unwrap()
    .actor()
}

impl Centre {
    /// A cash top-up at the first desk, by the card desk.
    pub(crate) async fn cash(&self, person: i64, amount: &str) {
        desk::top_up(
            self.pool(),
            &self.desk,
            None,
            person,
            yuan(amount),
            &Channel::Cash,
            "",
        )
        .await
        .unwrap();
    }

    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// A person with a staff card `card_no` that may pay at the POS.
    pub async fn holder(&self, card_no: i64, name: &str) -> i64 {
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
        .bind(format!("P{card_no}"))
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap();
        let today = onecard::domain::time::today();
        card::issue(
            pool,
            &Actor::shell("root"),
            &IssueRequest {
                card_no,
                person_id: person,
                kind: CardKind::Staff,
                subsystems: vec![Subsystem::Pos],
                door_groups: vec![],
                terminals: vec![self.pos],
                valid_from: today,
                valid_until: today + Duration::days(365),
                paid_from: PaidFrom::Cash,
            },
        )
        .await
        .unwrap();
        person
    }

    pub async fn buy(&self, txn_no: i64, card_no: i64, amount: &str) -> i64 {
        let a = pos::authorise(
            self.pool(),
            &AuthRequest {
                terminal_id: self.pos,
                txn_no,
                card: card_no,
                amount: yuan(amount),
                pin: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(a.declined, None, "{a:?}");
        // The purchase's number: its payer's traced entry.
        sqlx::query_scalar(
            "SELECT id FROM ledger_entry WHERE movement_id = $1 AND txn_no IS NOT NULL",
        )
        .bind(a.movement_id.unwrap())
        .fetch_one(self.pool())
        .await
        .unwrap()
    }

    async fn balance_of(&self, account: i64) -> Money {
        sqlx::query_scalar("SELECT balance FROM account WHERE id = $1")
            .bind(account)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    /// Minus the sum of the account's entries (a merchant's balance is never cached).
    async fn summed(&self, account: i64) -> Money {
        sqlx::query_scalar(
            "SELECT -coalesce(sum(amount), 0) FROM ledger_entry WHERE account_id = $1",
        )
        .bind(account)
        .fetch_one(self.pool())
        .await
        .unwrap()
    }

    async fn system(&self, kind: SystemAccount) -> i64 {
        let mut c = self.pool().acquire().await.unwrap();
        ledger::system_account(&mut c, kind).await.unwrap()
    }

    async fn audits(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }
}

pub(crate) async fn centre() -> Centre {
    let db = test_db().await;
    let pool = &db.pool;
    let pos = crate::pos_online::canteen_bus(pool, &[(1, "一食堂 POS 1")]).await[0];
    let merchant: i64 = sqlx::query_scalar(
        "INSERT INTO merchant (name, state, approved_at, approved_by)
         VALUES ('第一食堂', 'approved', now(), 'root') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let merchant_account: i64 = sqlx::query_scalar(
        "INSERT INTO account (kind, merchant_id, name) VALUES ('merchant', $1, '第一食堂') RETURNING id",
    )
    .bind(merchant)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE terminal SET merchant_id = $1 WHERE id = $2")
        .bind(merchant)
        .bind(pos)
        .execute(pool)
        .await
        .unwrap();
    let desk = operator(pool, "wang.desk", Role::CardDesk).await;
    let director = operator(pool, "li.director", Role::Director).await;
    let tech = operator(pool, "zhao.tech", Role::Technician).await;
    Centre {
        db,
        pos,
        merchant_account,
        desk,
        director,
        tech,
    }
}

#[tokio::test]
async fn a_top_up_goes_by_its_channel_to_the_desks_own_drawer_or_a_clearing_account() {
    let c = centre().await;
    let pool = c.pool();
    let person = c.holder(8_100_001, "王芳").await;
    let first = desk::find(&mut pool.acquire().await.unwrap(), None)
        .await
        .unwrap();
    let cash = c.system(SystemAccount::Cash).await;
    assert_eq!(
        first.drawer_account_id, cash,
        "the first desk keeps the old cash row"
    );
    let window2 = desk::add_desk(pool, &c.director, "二楼窗口", None)
        .await
        .unwrap();
    assert_ne!(window2.drawer_account_id, cash);
    assert!(matches!(
        desk::add_desk(pool, &c.desk, "三楼窗口", None).await,
        Err(DeskError::Ledger(LedgerError::Denied(_)))
    ));

    let t = |desk: Option<&'static str>, amount: &'static str, ch: Channel| {
        let actor = c.desk.clone();
        async move {
            desk::top_up(pool, &actor, desk, person, yuan(amount), &ch, "")
                .await
                .unwrap()
        }
    };
    t(None, "100.00", Channel::Cash).await;
    t(Some("二楼窗口"), "20.50", Channel::Cash).await;
    t(Some("二楼窗口"), "300.00", Channel::Bank).await;
    t(None, "12.34", Channel::Other("微信".into())).await;
    let last = t(Some("二楼窗口"), "0.01", Channel::Other("微信".into())).await;
    assert_eq!(last.balance, yuan("432.85"));
    assert_eq!(ledger::balance(pool, person).await.unwrap(), yuan("432.85"));

    // The issue fee was not paid in cash here (none for staff), so the drawers hold exactly
    // their top-ups: the cash in a drawer is minus its balance.
    let fees: Money = sqlx::query_scalar("SELECT coalesce(sum(amount), 0) FROM fee")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(c.balance_of(cash).await, -(yuan("100.00") + fees));
    assert_eq!(
        c.balance_of(window2.drawer_account_id).await,
        yuan("-20.50")
    );
    let bank = c.system(SystemAccount::BankClearing).await;
    assert_eq!(c.balance_of(bank).await, yuan("-300.00"));
    let wechat: Vec<(i64, Money)> = sqlx::query_as(
        "SELECT id, balance FROM account WHERE kind = 'channel_clearing' AND name = '微信'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(wechat.len(), 1, "one clearing account per channel name");
    assert_eq!(wechat[0].1, yuan("-12.35"));

    let channels: Vec<(Option<String>, String, Option<i64>)> = sqlx::query_as(
        "SELECT d.channel, d.channel_name, d.desk_id FROM movement_detail d
         JOIN ledger_movement m ON m.id = d.movement_id WHERE m.kind = 'top_up' ORDER BY m.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        channels,
        vec![
            (Some("cash".into()), "".into(), Some(first.id)),
            (Some("cash".into()), "".into(), Some(window2.id)),
            (Some("bank".into()), "".into(), Some(window2.id)),
            (Some("other".into()), "微信".into(), Some(first.id)),
            (Some("other".into()), "微信".into(), Some(window2.id)),
        ]
    );

    // Refusals: no channel name, an unknown desk, a role that may not top up, three decimals.
    let refused = |desk: Option<&'static str>, actor: Actor, amount: Money, ch: Channel| async move {
        desk::top_up(pool, &actor, desk, person, amount, &ch, "")
            .await
            .unwrap_err()
    };
    assert!(matches!(
        refused(None, c.desk.clone(), yuan("1"), Channel::Other("  ".into())).await,
        DeskError::ChannelNameMissing
    ));
    assert!(matches!(
        refused(Some("地下室"), c.desk.clone(), yuan("1"), Channel::Cash).await,
        DeskError::NoDesk(n) if n == "地下室"
    ));
    assert!(matches!(
        refused(None, c.tech.clone(), yuan("1"), Channel::Cash).await,
        DeskError::Ledger(LedgerError::Denied(_))
    ));
    assert!(matches!(
        refused(None, c.desk.clone(), Money::ZERO, Channel::Cash).await,
        DeskError::Ledger(LedgerError::BadAmount(_))
    ));
    assert_eq!(ledger::balance(pool, person).await.unwrap(), yuan("432.85"));
    verify_ledger(pool).await;
}

#[tokio::test]
async fn a_refund_pays_cash_out_of_the_drawer_never_beyond_the_balance_or_the_drawer() {
    let c = centre().await;
    let pool = c.pool();
    let person = c.holder(8_100_002, "李雷").await;
    let window2 = desk::add_desk(pool, &c.director, "二楼窗口", None)
        .await
        .unwrap();
    desk::top_up(
        pool,
        &c.desk,
        Some("二楼窗口"),
        person,
        yuan("50.00"),
        &Channel::Cash,
        "",
    )
    .await
    .unwrap();
    desk::top_up(
        pool,
        &c.desk,
        None,
        person,
        yuan("30.00"),
        &Channel::Bank,
        "",
    )
    .await
    .unwrap();

    // The second window took ¥50.00 in cash: it cannot pay out ¥60.00 though the balance is ¥80.
    assert!(matches!(
        desk::refund(pool, &c.desk, Some("二楼窗口"), person, yuan("60.00"), "").await,
        Err(DeskError::DrawerShort { holds, needed }) if holds == yuan("50.00") && needed == yuan("60.00")
    ));
    let r = desk::refund(
        pool,
        &c.desk,
        Some("二楼窗口"),
        person,
        yuan("49.99"),
        "退卡前退余额",
    )
    .await
    .unwrap();
    assert_eq!(r.balance, yuan("30.01"));
    assert_eq!(c.balance_of(window2.drawer_account_id).await, yuan("-0.01"));
    assert!(matches!(
        desk::refund(pool, &c.desk, None, person, yuan("30.02"), "").await,
        Err(DeskError::InsufficientBalance { balance, .. }) if balance == yuan("30.01")
    ));
    assert!(matches!(
        desk::refund(pool, &c.tech, None, person, yuan("1.00"), "").await,
        Err(DeskError::Ledger(LedgerError::Denied(_)))
    ));
    assert_eq!(ledger::balance(pool, person).await.unwrap(), yuan("30.01"));
    assert_eq!(c.audits("ledger.refund").await, 1);
    verify_ledger(pool).await;
}

#[tokio::test]
async fn an_overcharge_is_reversed_once_at_most_the_original_by_a_role_that_may() {
    let c = centre().await;
    let pool = c.pool();
    let person = c.holder(8_100_003, "韩梅梅").await;
    c.cash(person, "100.00").await;
    let purchase = c.buy(1001, 8_100_003, "45.00").await;
    // An undercharge is just a second purchase.
    c.buy(1002, 8_100_003, "3.50").await;
    assert_eq!(ledger::balance(pool, person).await.unwrap(), yuan("51.50"));
    assert_eq!(c.summed(c.merchant_account).await, yuan("48.50"));

    let by_txn = PurchaseRef::Terminal {
        terminal_id: c.pos,
        txn_no: 1001,
    };
    // The card desk may not correct; the receipt is required; never more than the purchase.
    assert!(matches!(
        desk::reverse_purchase(pool, &c.desk, by_txn, None, "R-1001", "").await,
        Err(DeskError::Ledger(LedgerError::Denied(_)))
    ));
    assert!(matches!(
        desk::reverse_purchase(pool, &c.director, by_txn, None, " ", "").await,
        Err(DeskError::ReceiptMissing)
    ));
    assert!(matches!(
        desk::reverse_purchase(pool, &c.director, by_txn, Some(yuan("45.01")), "R-1001", "").await,
        Err(DeskError::OverReversal { original, asked })
            if original == yuan("45.00") && asked == yuan("45.01")
    ));
    assert!(matches!(
        desk::reverse_purchase(
            pool,
            &c.director,
            PurchaseRef::Terminal {
                terminal_id: c.pos,
                txn_no: 9999
            },
            None,
            "R-9999",
            ""
        )
        .await,
        Err(DeskError::NoPurchase(_))
    ));
    // Charged ¥45.00 for ¥4.50: ¥40.50 back.
    let r = desk::reverse_purchase(
        pool,
        &c.director,
        by_txn,
        Some(yuan("40.50")),
        "R-1001",
        "多扣",
    )
    .await
    .unwrap();
    assert_eq!(r.purchase_id, purchase);
    assert_eq!(r.balance, yuan("92.00"));
    assert_eq!(ledger::balance(pool, person).await.unwrap(), yuan("92.00"));
    assert_eq!(c.summed(c.merchant_account).await, yuan("8.00"));
    // The merchant's balance row is not written (its takings are summed from entries).
    assert_eq!(c.balance_of(c.merchant_account).await, Money::ZERO);
    // Once: by movement id too.
    assert!(matches!(
        desk::reverse_purchase(pool, &c.director, PurchaseRef::Purchase(purchase), Some(yuan("1")), "R-1001", "").await,
        Err(DeskError::AlreadyReversed { purchase: p, by }) if p == purchase && by == r.movement_id
    ));
    // A reversal of a reversal (not a purchase) is refused.
    let reversal_entry: i64 =
        sqlx::query_scalar("SELECT min(id) FROM ledger_entry WHERE movement_id = $1")
            .bind(r.movement_id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(matches!(
        desk::reverse_purchase(
            pool,
            &c.director,
            PurchaseRef::Purchase(reversal_entry),
            None,
            "R",
            ""
        )
        .await,
        Err(DeskError::NoPurchase(_))
    ));
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.kind, d.receipt FROM ledger_movement m JOIN movement_detail d ON d.movement_id = m.id
         WHERE d.reverses_entry_id = $1",
    )
    .bind(purchase)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(kinds, vec![("correction".into(), "R-1001".into())]);
    assert_eq!(c.audits("ledger.correction").await, 1);
    verify_ledger(pool).await;
}

#[tokio::test]
async fn a_shift_close_compares_the_counted_cash_with_the_drawers_takings() {
    let c = centre().await;
    let pool = c.pool();
    let person = c.holder(8_100_004, "张伟").await;
    let w = desk::add_desk(pool, &c.director, "二楼窗口", None)
        .await
        .unwrap();
    let at = Some("二楼窗口");
    desk::top_up(
        pool,
        &c.desk,
        at,
        person,
        yuan("100.00"),
        &Channel::Cash,
        "",
    )
    .await
    .unwrap();
    desk::top_up(pool, &c.desk, at, person, yuan("20.50"), &Channel::Cash, "")
        .await
        .unwrap();
    // Not cash, or not this desk: not in this drawer.
    desk::top_up(
        pool,
        &c.desk,
        at,
        person,
        yuan("999.00"),
        &Channel::Bank,
        "",
    )
    .await
    .unwrap();
    c.cash(person, "7.00").await;
    desk::refund(pool, &c.desk, at, person, yuan("10.00"), "")
        .await
        .unwrap();

    let s = desk::close_shift(pool, &c.desk, at, yuan("110.50"), "")
        .await
        .unwrap();
    assert_eq!(
        (s.expected, s.counted, s.difference),
        (yuan("110.50"), yuan("110.50"), Money::ZERO)
    );
    assert_eq!(s.desk_id, w.id);

    // The next shift starts from nothing: only what came after the close.
    desk::top_up(pool, &c.desk, at, person, yuan("30.00"), &Channel::Cash, "")
        .await
        .unwrap();
    assert!(matches!(
        desk::close_shift(pool, &c.desk, at, yuan("25.00"), "").await,
        Err(DeskError::ReasonMissing { difference }) if difference == yuan("-5.00")
    ));
    assert!(matches!(
        desk::close_shift(pool, &c.tech, at, yuan("30.00"), "").await,
        Err(DeskError::Ledger(LedgerError::Denied(_)))
    ));
    let s2 = desk::close_shift(pool, &c.desk, at, yuan("25.00"), "找错零钱")
        .await
        .unwrap();
    assert_eq!((s2.expected, s2.difference), (yuan("30.00"), yuan("-5.00")));
    assert_eq!(s2.reason, "找错零钱");
    assert_eq!(s2.opened_at, s.closed_at);
    // An empty shift.
    let s3 = desk::close_shift(pool, &c.desk, at, Money::ZERO, "")
        .await
        .unwrap();
    assert_eq!(s3.expected, Money::ZERO);

    let listed = desk::shifts(pool, w.id, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s3.id, s2.id, s.id]
    );
    assert_eq!(c.audits("desk.shift_close").await, 3);
    let audited: serde_json::Value = sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'desk.shift_close' AND object_id = $1",
    )
    .bind(s2.id.to_string())
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(audited["difference"], "-5.00");
    assert_eq!(audited["reason"], "找错零钱");
    verify_ledger(pool).await;
}

#[tokio::test]
async fn a_statement_lists_every_movement_with_terminal_merchant_and_running_balance() {
    let c = centre().await;
    let pool = c.pool();
    let person = c.holder(8_100_005, "王芳").await;
    c.cash(person, "100.00").await;
    desk::top_up(
        pool,
        &c.desk,
        None,
        person,
        yuan("20.00"),
        &Channel::Other("支付宝".into()),
        "",
    )
    .await
    .unwrap();
    c.buy(7, 8_100_005, "12.50").await;
    desk::reverse_purchase(
        pool,
        &c.director,
        PurchaseRef::Terminal {
            terminal_id: c.pos,
            txn_no: 7,
        },
        Some(yuan("2.50")),
        "R-7",
        "",
    )
    .await
    .unwrap();
    desk::refund(pool, &c.desk, None, person, yuan("5.00"), "")
        .await
        .unwrap();

    let s = desk::statement(pool, person, None, None).await.unwrap();
    assert_eq!(
        (s.person_name.as_str(), s.opening, s.balance),
        ("王芳", Money::ZERO, yuan("105.00"))
    );
    let got: Vec<Line> = s
        .rows
        .iter()
        .map(|r| {
            (
                r.kind.as_str(),
                r.channel.as_deref(),
                r.amount,
                r.balance,
                r.terminal.as_deref(),
                r.merchant.as_deref(),
                r.txn_no,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "top_up",
                Some("cash"),
                yuan("100.00"),
                yuan("100.00"),
                None,
                None,
                None
            ),
            (
                "top_up",
                Some("other"),
                yuan("20.00"),
                yuan("120.00"),
                None,
                None,
                None
            ),
            (
                "purchase",
                None,
                yuan("-12.50"),
                yuan("107.50"),
                Some("一食堂 POS 1"),
                Some("第一食堂"),
                Some(7)
            ),
            (
                "correction",
                None,
                yuan("2.50"),
                yuan("110.00"),
                Some("一食堂 POS 1"),
                Some("第一食堂"),
                Some(7)
            ),
            (
                "refund",
                Some("cash"),
                yuan("-5.00"),
                yuan("105.00"),
                None,
                None,
                None
            ),
        ]
    );
    assert!(s.rows.iter().all(|r| r.card_no == Some(8_100_005)));
    // A range that starts tomorrow holds nothing, and opens at today's closing balance.
    let tomorrow = onecard::domain::time::today() + Duration::days(1);
    let later = desk::statement(pool, person, Some(tomorrow), None)
        .await
        .unwrap();
    assert!(later.rows.is_empty());
    assert_eq!(later.opening, yuan("105.00"));

    // The CSV: byte-order mark, header, two-decimal amounts; audited.
    let mut bytes = Vec::new();
    let n = desk::export_statement(pool, &c.desk, &s, &mut bytes, None)
        .await
        .unwrap();
    assert_eq!(n, 5);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("\u{feff}time,movement,purchase,kind,channel,card_no,terminal,txn_no,merchant,amount,balance,note\n"), "{text}");
    assert!(
        text.contains(",purchase,,8100005,一食堂 POS 1,7,第一食堂,-12.50,107.50,"),
        "{text}"
    );
    assert!(
        text.contains(",top_up,other:支付宝,8100005,,,,20.00,120.00,"),
        "{text}"
    );
    assert_eq!(c.audits("statement.export").await, 1);
    assert!(matches!(
        desk::export_statement(pool, &c.tech, &s, Vec::new(), None).await,
        Err(DeskError::Ledger(LedgerError::Denied(_)))
    ));
    verify_ledger(pool).await;
}

/// A statement row as the test reads it: kind, channel, amount, balance, terminal, merchant,
/// transaction number.
type Line<'a> = (
    &'a str,
    Option<&'a str>,
    Money,
    Money,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
);

fn csv(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

#[tokio::test]
async fn a_subsidy_batch_pays_everyone_once_or_nobody_naming_every_bad_row() {
    let c = centre().await;
    let pool = c.pool();
    let a = c.holder(8_100_011, "甲").await;
    let b = c.holder(8_100_012, "乙").await;

    let bad = csv("学号,姓名,金额\nP8100011,甲,50.005\nP9999999,无此人,10\nP8100012,乙,20\nP8100012,乙,20\n,空,5\n");
    let e = subsidies::import(pool, &c.desk, "september.csv", &bad, None)
        .await
        .unwrap_err();
    let ImportError::BadRows { rows, .. } = e else {
        panic!("{e:?}")
    };
    let lines: Vec<(u64, &RowProblem)> = rows.iter().map(|r| (r.line, &r.problems[0])).collect();
    assert_eq!(lines.len(), 4, "{rows:?}");
    assert!(matches!(lines[0], (2, RowProblem::BadAmount { text }) if text == "50.005"));
    assert!(matches!(lines[1], (3, RowProblem::NoPerson { person_no }) if person_no == "P9999999"));
    assert!(matches!(
        lines[2],
        (5, RowProblem::DuplicatePersonNo { line: 4, .. })
    ));
    assert!(matches!(lines[3], (6, RowProblem::Field(_))));
    let e = subsidies::import(pool, &c.desk, "x.csv", &csv("name,money\n甲,1\n"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ImportError::BadRows { ref rows, .. } if rows[0].problems == vec![RowProblem::NoSubsidyColumns])
    );
    assert_eq!(
        ledger::balance(pool, a).await.unwrap(),
        Money::ZERO,
        "all or nothing"
    );

    let good = csv("person_no,amount\nP8100011,50.00\nP8100012,0.01\n");
    let first = subsidies::import(pool, &c.desk, "/tmp/september.csv", &good, None)
        .await
        .unwrap();
    assert!(first.paid_now);
    assert_eq!((first.persons, first.total), (2, yuan("50.01")));
    assert!(
        first.batch_id.starts_with("september.csv-"),
        "{}",
        first.batch_id
    );
    assert_eq!(
        first.batch_id,
        subsidies::default_batch_id("september.csv", &good)
    );
    // The same file again: paid already, nothing paid.
    let again = subsidies::import(pool, &c.desk, "september.csv", &good, None)
        .await
        .unwrap();
    assert!(!again.paid_now && again.same_file);
    // Another file under the same batch id: still nothing, and it says the file differs.
    let other = csv("person_no,amount\nP8100011,70.00\n");
    let named = subsidies::import(pool, &c.desk, "x.csv", &other, Some(&first.batch_id))
        .await
        .unwrap();
    assert!(!named.paid_now && !named.same_file);
    assert_eq!(ledger::balance(pool, a).await.unwrap(), yuan("50.00"));
    assert_eq!(ledger::balance(pool, b).await.unwrap(), yuan("0.01"));
    let funding = c.system(SystemAccount::SubsidyFunding).await;
    assert_eq!(c.balance_of(funding).await, yuan("-50.01"));
    // The technician may not pay subsidies.
    assert!(matches!(
        subsidies::import(pool, &c.tech, "y.csv", &other, Some("october")).await,
        Err(ImportError::Denied(_))
    ));
    let s = desk::statement(pool, a, None, None).await.unwrap();
    assert_eq!(s.rows[0].channel.as_deref(), Some("subsidy"));
    assert_eq!(s.rows[0].channel_name, first.batch_id);
    verify_ledger(pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_and_exports_a_statement_and_pays_a_subsidy_file_once() {
    use crate::doors::{onecard, text};
    let c = centre().await;
    let pool = c.pool();
    let person = c.holder(8_100_021, "王芳").await;
    c.cash(person, "100.00").await;
    c.buy(31, 8_100_021, "12.50").await;
    let dirs = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| onecard(&c.db, dirs.path(), args, "");

    let out = run(&["--lang", "en", "statement", "--card", "8100021"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("王芳 (P8100021)") && stdout.contains("balance now ¥87.50"),
        "{stdout}"
    );
    assert!(
        stdout.contains("purchase") && stdout.contains("一食堂 POS 1 · 第一食堂 · #31"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-¥12.50") && stdout.contains("¥87.50"),
        "{stdout}"
    );
    let zh = text(&run(&["--lang", "zh-CN", "statement", "--card", "8100021"])).0;
    assert!(zh.contains("消费") && zh.contains("现金"), "{zh}");

    let file = dirs.path().join("statement.csv");
    let f = file.to_str().unwrap();
    let out = run(&["--lang", "en", "statement", "--card", "8100021", "--csv", f]);
    assert!(out.status.success(), "{:?}", text(&out));
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(
        csv.starts_with('\u{feff}') && csv.contains(",-12.50,87.50,"),
        "{csv}"
    );
    // Never overwritten unless told.
    let again = run(&["statement", "--card", "8100021", "--csv", f]);
    assert!(!again.status.success());
    assert!(
        run(&["statement", "--card", "8100021", "--csv", f, "--overwrite"])
            .status
            .success()
    );
    assert_eq!(c.audits("statement.export").await, 2);
    assert!(!run(&["statement", "--card", "999"]).status.success());

    let subsidy = dirs.path().join("october.csv");
    std::fs::write(&subsidy, "学号,金额\nP8100021,30.00\n").unwrap();
    let s = subsidy.to_str().unwrap();
    let (paid, err) = text(&run(&[
        "--lang",
        "en",
        "import",
        "subsidies",
        s,
        "--batch",
        "2026-10",
    ]));
    assert!(
        paid.contains("subsidy batch 2026-10: paid ¥30.00 to 1 person(s)"),
        "{paid}{err}"
    );
    let (twice, err) = text(&run(&[
        "--lang",
        "en",
        "import",
        "subsidies",
        s,
        "--batch",
        "2026-10",
    ]));
    assert!(
        twice.contains("was paid already") && twice.contains("nothing paid now"),
        "{twice}{err}"
    );
    assert_eq!(ledger::balance(pool, person).await.unwrap(), yuan("117.50"));

    let wrong = dirs.path().join("bad.csv");
    std::fs::write(&wrong, "学号,金额\nP8100021,1.234\nP404,5\n").unwrap();
    let out = run(&[
        "--lang",
        "zh-CN",
        "import",
        "subsidies",
        wrong.to_str().unwrap(),
    ]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("第 2 行")
            && err.contains("1.234")
            && err.contains("第 3 行")
            && err.contains("P404"),
        "{err}"
    );
    assert_eq!(ledger::balance(pool, person).await.unwrap(), yuan("117.50"));

    // Desks: one opened, cash taken there, its shift closed with a difference and a reason.
    let (added, err) = text(&run(&["--lang", "en", "desk", "add", "二楼窗口"]));
    assert!(added.contains("Card desk 二楼窗口 opened"), "{added}{err}");
    desk::top_up(
        pool,
        &c.desk,
        Some("二楼窗口"),
        person,
        yuan("30.00"),
        &Channel::Cash,
        "",
    )
    .await
    .unwrap();
    let close = [
        "--lang",
        "en",
        "desk",
        "close-shift",
        "--desk",
        "二楼窗口",
        "--counted",
    ];
    let out = run(&[&close[..], &["25"]].concat());
    assert!(!out.status.success());
    assert!(text(&out).1.contains("say why"), "{:?}", text(&out));
    let (closed, err) = text(&run(&[&close[..], &["25", "--reason", "找错零钱"]].concat()));
    assert!(
        closed.contains("took ¥30.00, counted ¥25.00, difference -¥5.00 (找错零钱)"),
        "{closed}{err}"
    );
    let (list, _) = text(&run(&["--lang", "en", "desk", "list"]));
    assert!(list.contains("二楼窗口: the drawer holds ¥30.00"), "{list}");
    verify_ledger(pool).await;
}

#[tokio::test]
async fn the_consoles_desk_operations_book_at_the_desk_of_its_reader() {
    use onecard::app::tabs::cards::{CardOp, Effect as CardEffect, Msg as CardMsg, PurchaseText};
    use onecard::app::{Effect, Msg};
    use onecard::i18n::Lang;
    let c = centre().await;
    let pool = c.pool();
    let person = c.holder(8_100_031, "王芳").await;
    let card_id: i64 = sqlx::query_scalar("SELECT id FROM card WHERE card_no = 8100031")
        .fetch_one(pool)
        .await
        .unwrap();
    // The second window's desk reader: a console configured with it works at that desk.
    let shell = Actor::shell("root");
    let mut tx = pool.begin().await.unwrap();
    let reader = terminal::add_terminal(
        &mut tx,
        &shell,
        &terminal::NewTerminal {
            line: "canteen bus",
            kind: "desk_reader",
            address: 9,
            name: "二楼窗口读卡器",
            location: "",
            installed_at: None,
            installed_by: "",
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let w = desk::add_desk(pool, &c.director, "二楼窗口", Some(reader))
        .await
        .unwrap();
    // Every console effect asks its session row: a real session of the director's.
    let session = onecard::db::operator::open_session(pool, &c.director.name, "test")
        .await
        .unwrap()
        .id;
    let run = |op: CardOp| {
        let actor = c.director.clone();
        async move {
            let msg = onecard::console::execute(
                Effect::Cards(CardEffect::Op(op)),
                pool,
                Lang::EN,
                Some((session, actor)),
            )
            .await;
            match msg {
                Some(Msg::Cards(CardMsg::Done(d))) => d.text,
                other => panic!("{other:?}"),
            }
        }
    };
    let said = run(CardOp::TopUp {
        person_id: person,
        card_id,
        amount: yuan("60.00"),
        channel: Channel::Cash,
        desk_reader: Some(reader),
    })
    .await;
    assert!(said.contains("balance ¥60.00"), "{said}");
    c.buy(41, 8_100_031, "20.00").await;
    let said = run(CardOp::Correct {
        card_id,
        purchase: PurchaseText::Pos {
            pos: "一食堂 POS 1".into(),
            txn_no: 41,
        },
        amount: None,
        receipt: "R-41".into(),
        note: String::new(),
    })
    .await;
    assert!(
        said.contains("Reversed ¥20.00") && said.contains("balance ¥60.00"),
        "{said}"
    );
    let said = run(CardOp::Refund {
        person_id: person,
        card_id,
        amount: yuan("10.00"),
        desk_reader: Some(reader),
    })
    .await;
    assert!(said.contains("balance ¥50.00"), "{said}");
    let said = run(CardOp::CloseShift {
        counted: yuan("50.00"),
        reason: String::new(),
        desk_reader: Some(reader),
    })
    .await;
    assert!(
        said.starts_with("二楼窗口: Shift closed: the drawer took ¥50.00"),
        "{said}"
    );
    assert_eq!(c.balance_of(w.drawer_account_id).await, yuan("-50.00"));
    verify_ledger(pool).await;
}
