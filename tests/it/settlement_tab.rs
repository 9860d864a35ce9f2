//! The Settlement tab: the takings read against purchases posted through the POS path, the tab
//! live against a real database (a purchase shows at once), who may see it, snapshots of its
//! five views at 80x24 and 160x48 in both languages (fixed data: today's date would move), the
//! missing transaction numbers of a real upload, and settling a period from the tab.

use crate::harness::{render, screen_text, Console};
use crate::pos_online::{shop, yuan};
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::form::Input;
use onecard::app::msg::DbState;
use onecard::app::session;
use onecard::app::state::{DbWhere, State, TabId, ThemeName};
use onecard::app::tabs::settlement::{self, SettleView, Today};
use onecard::app::{update, Msg};
use onecard::db::operator::{Operator, Session};
use onecard::db::reconcile::{ReconState, Reconciled, Tally};
use onecard::db::takings::{self, MissingTxns, Outstanding, PosTakings, Settled, TopUps};
use onecard::domain::money::Money;
use onecard::domain::role::Role;
use onecard::domain::time;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use std::sync::Arc;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, h, m, s).unwrap()
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn bare(lang: Lang) -> State {
    let keymap = Arc::new(Keymap::preset("default").expect("default preset"));
    let mut s = State::new(
        keymap,
        lang,
        ThemeName::Default,
        DbWhere::Embedded,
        at(3, 4, 5),
    );
    s.shell.utc_offset = FixedOffset::east_opt(8 * 3600).unwrap();
    s.shell.db = DbState::Ready;
    s
}

fn signed_in(lang: Lang, role: Role) -> State {
    let mut s = bare(lang);
    update(&mut s, Msg::Session(session::Msg::OperatorsExist(true)));
    update(
        &mut s,
        Msg::Session(session::Msg::LoggedIn(Session {
            id: 1,
            operator: Operator {
                id: 1,
                login: "zhao.min".into(),
                display_name: "赵敏".into(),
                role,
                must_change_password: false,
                failed_attempts: 0,
                locked_until: None,
                disabled: false,
                last_login_at: None,
            },
        })),
    );
    update(&mut s, Msg::Key(key('5')));
    assert_eq!(s.shell.tab, TabId::Settlement);
    s
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

fn pos(merchant_id: i64, merchant: &str, id: i64, terminal: &str, n: i64, sum: &str) -> PosTakings {
    PosTakings {
        merchant_id,
        merchant: merchant.into(),
        terminal_id: Some(id),
        terminal: terminal.into(),
        count: n,
        sum: yuan(sum),
    }
}

fn tally(count: i64, sum: &str) -> Tally {
    Tally {
        count,
        sum: yuan(sum),
    }
}

fn board_row(id: i64, merchant: &str, terminal: &str, state: ReconState) -> Reconciled {
    let (pos, received) = match state {
        ReconState::Ok => (Some(tally(412, "4873.50")), tally(412, "4873.50")),
        ReconState::Difference => (Some(tally(97, "1204.00")), tally(96, "1191.50")),
        ReconState::NotUploaded => (None, tally(55, "610.00")),
    };
    Reconciled {
        terminal_id: id,
        terminal: terminal.into(),
        merchant: merchant.into(),
        day: day(6),
        state,
        pos,
        received,
        ledger: received,
        raised: None,
    }
}

fn statement(id: i64, merchant: &str, kind: &str, start: u32, sales: &str, net: &str) -> Settled {
    Settled {
        id,
        merchant: merchant.into(),
        period_kind: kind.into(),
        period_start: day(start),
        purchases: 1_024,
        sales: yuan(sales),
        refunds: yuan("12.00"),
        corrections: yuan("-3.50"),
        commission: yuan("121.84"),
        net_payable: yuan(net),
        settled_at: at(1, 30, 0),
        actor: "zhao.min".into(),
    }
}

/// The tab with a canteen day's figures in every view.
fn loaded(lang: Lang) -> State {
    let mut s = signed_in(lang, Role::Director);
    let m = |msg| Msg::Settlement(msg);
    let today = Today {
        day: Some(day(7)),
        pos: vec![
            pos(1, "第一食堂", 11, "一食堂 POS 1", 412, "4873.50"),
            pos(1, "第一食堂", 12, "一食堂 POS 2", 388, "4410.00"),
            pos(2, "小卖部", 21, "小卖部 POS", 97, "1204.00"),
            pos(3, "Campus Café", 31, "Café till", 55, "610.00"),
        ],
        top_ups: vec![
            TopUps {
                channel: "bank".into(),
                channel_name: String::new(),
                count: 31,
                sum: yuan("6200.00"),
            },
            TopUps {
                channel: "cash".into(),
                channel_name: String::new(),
                count: 18,
                sum: yuan("1450.00"),
            },
            TopUps {
                channel: "other".into(),
                channel_name: "微信".into(),
                count: 4,
                sum: yuan("200.00"),
            },
        ],
        outstanding: Outstanding {
            accounts: 3_412,
            total: yuan("268450.25"),
            negative: 2,
            negative_sum: yuan("-7.50"),
        },
    };
    update(&mut s, m(settlement::Msg::Today { gen: 1_000, today }));
    update(
        &mut s,
        m(settlement::Msg::Board {
            gen: 1_000,
            day: day(6),
            rows: vec![
                board_row(11, "第一食堂", "一食堂 POS 1", ReconState::Ok),
                board_row(12, "第一食堂", "一食堂 POS 2", ReconState::NotUploaded),
                board_row(21, "小卖部", "小卖部 POS", ReconState::Difference),
            ],
        }),
    );
    update(
        &mut s,
        m(settlement::Msg::Statements {
            gen: 1_000,
            rows: vec![
                statement(3, "第一食堂", "daily", 6, "9283.50", "9146.16"),
                statement(2, "Campus Café", "weekly", 1, "4210.00", "4072.66"),
                statement(1, "小卖部", "monthly", 1, "15200.00", "15062.66"),
            ],
        }),
    );
    let days = (0..30)
        .map(|i| {
            let d = day(7) - chrono::Duration::days(29 - i);
            (d, Money::from_fen(((i * 37) % 11 + 5) * 100_000))
        })
        .collect();
    update(&mut s, m(settlement::Msg::Daily { gen: 1_000, days }));
    let gap = |id, merchant: &str, terminal: &str, numbers: Vec<i64>, h| MissingTxns {
        terminal_id: id,
        terminal: terminal.into(),
        merchant: merchant.into(),
        txn_epoch: 1,
        numbers,
        noticed_at: at(h, 12, 0),
    };
    update(
        &mut s,
        m(settlement::Msg::Missing {
            gen: 1_000,
            rows: vec![
                gap(
                    11,
                    "第一食堂",
                    "一食堂 POS 1",
                    vec![1041, 1042, 1043, 1050],
                    1,
                ),
                gap(21, "小卖部", "小卖部 POS", vec![77], 2),
                gap(41, "", "Spare POS", (200..260).collect(), 0),
            ],
        }),
    );
    s
}

#[test]
fn snapshots_of_every_view() {
    for (lang, tag) in [(Lang::EN, "en"), (Lang::ZH_CN, "zh")] {
        let mut s = loaded(lang);
        for view in ["today", "board", "missing", "statements", "charts"] {
            for (w, h) in [(80, 24), (160, 48)] {
                let text = screen_text(&render(&mut s, w, h));
                insta::assert_snapshot!(format!("settlement_{tag}_{view}_{w}x{h}"), text);
            }
            update(&mut s, Msg::Key(key('v')));
        }
        assert_eq!(s.settlement.view, SettleView::Today);
    }
}

#[test]
fn filter_narrows_today_to_a_merchant_and_its_pos() {
    let mut s = loaded(Lang::EN);
    update(&mut s, Msg::Key(key('/')));
    for c in "café".chars() {
        update(&mut s, Msg::Key(key(c)));
    }
    let text = screen_text(&render(&mut s, 80, 24));
    assert!(text.contains("Café till"), "{text}");
    assert!(!text.contains("小卖部 POS"), "{text}");
}

#[test]
fn a_role_without_money_is_refused_in_its_language() {
    for (lang, words) in [
        (Lang::EN, "may not see takings"),
        (Lang::ZH_CN, "无权查看营业额"),
    ] {
        let mut s = signed_in(lang, Role::DutyOperator);
        // Nothing is read for it.
        assert!(update(&mut s, Msg::Key(key('v'))).is_empty());
        let text = screen_text(&render(&mut s, 80, 24));
        assert!(text.contains(words), "{text}");
    }
}

#[tokio::test]
async fn takings_sum_the_ledger_per_merchant_and_pos() {
    let shop = shop().await;
    let pool = shop.pool();
    let card = shop.card(9_001, "100.00").await;
    for (txn, amount) in [(1, "12.50"), (2, "7.00"), (3, "3.20")] {
        let a = shop.buy(txn, card.card_no, amount, None).await;
        assert!(a.declined.is_none(), "{a:?}");
    }
    let (from, to) = time::day_bounds(time::today());
    let rows = takings::by_pos(pool, from, to).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].merchant, "第一食堂");
    assert_eq!(rows[0].terminal_id, Some(shop.pos));
    assert_eq!(rows[0].terminal, "一食堂 POS 1");
    assert_eq!((rows[0].count, rows[0].sum), (3, yuan("22.70")));
    assert_eq!(rows[0].sum.to_string(), "¥22.70");
    // The same as the merchant's own account says.
    assert_eq!(shop.purchases().await, (3, yuan("22.70")));

    let o = takings::outstanding(pool).await.unwrap();
    assert_eq!((o.accounts, o.total, o.negative), (1, yuan("77.30"), 0));
    let top = takings::top_ups(pool, from, to).await.unwrap();
    assert_eq!(top.iter().map(|t| t.sum).sum::<Money>(), yuan("100.00"));
    let daily = takings::daily(pool, time::today(), 30).await.unwrap();
    assert_eq!(daily.len(), 30);
    assert_eq!(daily[29], (time::today(), yuan("22.70")));
    assert!(daily[..29].iter().all(|(_, m)| m.is_zero()));
    // Nothing yesterday or before: the window ends with today.
    let none = takings::by_pos(pool, to, to + chrono::Duration::days(1))
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn the_tab_shows_a_purchase_as_it_is_posted() {
    let shop = shop().await;
    let pool = shop.pool();
    let card = shop.card(9_002, "50.00").await;
    shop.buy(1, card.card_no, "8.80", None).await;
    let mut c = Console::sign_in(pool, bare(Lang::ZH_CN), "fin", "钱多多", Role::Director).await;
    c.strict = true;
    c.key('5').await;
    assert_eq!(c.state.shell.tab, TabId::Settlement);
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(
        text.contains("一食堂 POS 1") && text.contains("¥8.80"),
        "{text}"
    );

    shop.buy(2, card.card_no, "11.20", None).await;
    // The purchase's notification names its card: the next frame reads today again.
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if !ch.card.is_empty()))
        .await;
    let fx = c.frame().await;
    assert!(!fx.is_empty(), "a purchase re-reads today");
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(text.contains("¥20.00"), "{text}");
    assert_eq!(c.state.settlement.today.total(), (2, yuan("20.00")));
}

#[tokio::test]
async fn export_writes_the_view_shown_once_and_audits_it() {
    let shop = shop().await;
    let pool = shop.pool();
    let card = shop.card(9_003, "50.00").await;
    shop.buy(1, card.card_no, "8.80", None).await;
    shop.buy(2, card.card_no, "11.20", None).await;
    let mut c = Console::sign_in(pool, bare(Lang::EN), "fin", "钱多多", Role::Director).await;
    c.key('5').await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("today.csv");
    for attempt in 0..2 {
        export_to(&mut c, &path).await;
        if attempt == 0 {
            assert!(
                c.state.settlement.export.is_none(),
                "done: the popup closes"
            );
        } else {
            // The file is there: refused in the popup, nothing replaced.
            let form = c.state.settlement.export.as_ref().expect("still open");
            assert!(
                form.error.as_deref().unwrap_or("").contains("today.csv"),
                "{form:?}"
            );
        }
    }
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "a byte-order mark first"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "merchant,pos,purchases,sales",
            "第一食堂,一食堂 POS 1,2,20.00"
        ]
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'settlement.export_view'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[test]
fn the_board_moves_a_day_at_a_time_and_never_past_today() {
    let mut s = loaded(Lang::EN);
    let backs = |fx: Vec<onecard::app::Effect>| -> Vec<u32> {
        fx.into_iter()
            .filter_map(|e| match e {
                onecard::app::Effect::Settlement(settlement::Effect::Board { back, .. }) => {
                    Some(back)
                }
                _ => None,
            })
            .collect()
    };
    // From Today, `b` goes to the board of the day before yesterday.
    assert_eq!(backs(update(&mut s, Msg::Key(key('b')))), [2]);
    assert_eq!(s.settlement.view, SettleView::Board);
    assert_eq!(backs(update(&mut s, Msg::Key(key('n')))), [1]);
    assert_eq!(backs(update(&mut s, Msg::Key(key('n')))), [0]);
    assert_eq!(backs(update(&mut s, Msg::Key(key('n')))), [0]);
}

#[test]
fn missing_numbers_are_compacted_into_ranges() {
    use onecard::app::words::txn_ranges;
    assert_eq!(txn_ranges(&[1041, 1042, 1043, 1050]), "1041–1043, 1050");
    assert_eq!(txn_ranges(&[7]), "7");
    assert_eq!(txn_ranges(&[2, 3, 5, 6, 9]), "2–3, 5–6, 9");
    assert_eq!(txn_ranges(&[]), "");
}

#[tokio::test]
async fn the_missing_view_lists_what_an_upload_skipped_live_and_exports_it() {
    use crate::pos_offline::{row, upload};
    let shop = shop().await;
    let pool = shop.pool();
    let card = shop.card(9_004, "100.00").await;
    upload(&shop, &[row(1, card.card_no, "1.00", 1, false)]).await;
    let mut c = Console::sign_in(pool, bare(Lang::ZH_CN), "fin", "钱多多", Role::Director).await;
    c.key('5').await;
    for _ in 0..2 {
        c.key('v').await;
    }
    assert_eq!(c.state.settlement.view, SettleView::Missing);
    let text = screen_text(&render(&mut c.state, 80, 24));
    assert!(text.contains("没有缺失的流水号"), "{text}");

    // Numbers 2–4 skipped, then 7 and 9: the upload's notification reloads the view.
    upload(
        &shop,
        &[
            row(2, card.card_no, "1.00", 5, false),
            row(3, card.card_no, "1.00", 6, false),
        ],
    )
    .await;
    upload(
        &shop,
        &[
            row(4, card.card_no, "1.00", 8, false),
            row(5, card.card_no, "1.00", 10, false),
        ],
    )
    .await;
    c.pump_until(
        |m| matches!(m, Msg::Changed(ch) if ch.records.iter().any(|r| r == "pos_purchase")),
    )
    .await;
    c.frame().await;
    let rows = &c.state.settlement.missing;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].numbers, vec![2, 3, 4, 7, 9]);
    // The same as the per-terminal query says.
    let one = onecard::db::pos::missing_txns(pool, shop.pos)
        .await
        .unwrap();
    assert_eq!(one.iter().map(|m| m.1).collect::<Vec<_>>(), rows[0].numbers);
    // Pinned so the snapshot does not move with the clock.
    sqlx::query("UPDATE pos_txn_missing SET noticed_at = $1")
        .bind(at(1, 2, 0))
        .execute(pool)
        .await
        .unwrap();
    c.key('r').await;
    insta::assert_snapshot!(
        "settlement_zh_missing_live_120x24",
        screen_text(&render(&mut c.state, 120, 24))
    );

    // Number 3 turns up late: it leaves the list.
    upload(&shop, &[row(6, card.card_no, "1.00", 3, false)]).await;
    c.pump_until(
        |m| matches!(m, Msg::Changed(ch) if ch.records.iter().any(|r| r == "pos_purchase")),
    )
    .await;
    c.frame().await;
    assert_eq!(c.state.settlement.missing[0].numbers, vec![2, 4, 7, 9]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.csv");
    export_to(&mut c, &path).await;
    assert!(c.state.settlement.export.is_none(), "written");
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "a byte-order mark first"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "merchant,pos,numbering,missing,numbers,noticed_at"
    );
    assert!(
        lines[1].starts_with("第一食堂,一食堂 POS 1,") && lines[1].contains(",4,\"2, 4, 7, 9\","),
        "{text}"
    );
    assert_eq!(lines.len(), 2, "{text}");
}

/// Yesterday, site time: a period that is over.
fn yesterday() -> String {
    (time::today() - chrono::Duration::days(1)).to_string()
}

/// A day of the week before this one (so that week is over).
fn last_week() -> NaiveDate {
    time::today() - chrono::Duration::days(7)
}

/// `S`, the period and merchant typed, enter: the confirmation is asked.
/// `O`, the file name typed into the export popup, Enter.
async fn export_to(c: &mut Console, path: &std::path::Path) {
    c.key('O').await;
    let form = c
        .state
        .settlement
        .export
        .as_mut()
        .expect("the export popup");
    form.fields[0].input = Input::text(path.to_str().unwrap());
    c.enter().await;
}

/// What the settle popup's form says is wrong ("" when nothing).
fn settle_error(c: &Console) -> String {
    let st = c
        .state
        .settlement
        .settle
        .as_ref()
        .expect("the settle popup");
    st.form.error.clone().unwrap_or_default()
}

async fn ask_settle(c: &mut Console, period: &str, merchant: &str) {
    c.key('S').await;
    let st = c
        .state
        .settlement
        .settle
        .as_mut()
        .expect("the settle popup");
    st.form.fields[0].input = Input::text(period);
    st.form.fields[1].input = Input::text(merchant);
    c.enter().await;
}

#[tokio::test]
async fn settling_from_the_tab_locks_the_period_and_a_second_settle_is_refused() {
    let shop = shop().await;
    let pool = shop.pool();
    let mut c = Console::sign_in(pool, bare(Lang::EN), "fin", "钱多多", Role::Director).await;
    c.key('5').await;
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(text.contains("S settle"), "the hint line offers it: {text}");

    // A period not over yet is said at once, in the form.
    ask_settle(&mut c, &time::today().to_string(), "").await;
    let st = c.state.settlement.settle.as_ref().unwrap();
    assert!(st.confirm.is_none());
    assert!(
        st.form
            .error
            .as_deref()
            .unwrap_or("")
            .contains("has not ended yet"),
        "{st:?}"
    );
    c.esc().await;
    assert!(c.state.settlement.settle.is_none());
    // Not a period at all.
    ask_settle(&mut c, "2026-13", "").await;
    let st = c.state.settlement.settle.as_ref().unwrap();
    assert!(
        st.form
            .error
            .as_deref()
            .unwrap_or("")
            .contains("is not a period"),
        "{st:?}"
    );
    c.esc().await;

    // A day of last week: its week is over too, and overlaps it.
    let day = last_week().to_string();
    ask_settle(&mut c, &day, "第一食堂").await;
    let question = onecard::app::router::confirming(&c.state)
        .expect("asked")
        .to_string();
    assert!(
        question.contains(&day) && question.contains("第一食堂"),
        "{question}"
    );
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(text.contains(&question[..20]), "{text}");
    // No goes back to the form; yes settles.
    c.key('n').await;
    assert!(c
        .state
        .settlement
        .settle
        .as_ref()
        .unwrap()
        .confirm
        .is_none());
    c.enter().await;
    c.key('y').await;
    assert!(
        c.state.settlement.settle.is_none(),
        "done: the popup closes"
    );
    assert_eq!(c.state.settlement.view, SettleView::Statements);
    let st = &c.state.settlement.statements;
    assert_eq!(st.len(), 1, "{st:?}");
    assert_eq!(st[0].merchant, "第一食堂");
    assert_eq!(st[0].period_kind, "daily");
    assert_eq!(st[0].period_start.to_string(), day);
    assert_eq!(st[0].actor, "fin");
    assert!(c.state.settlement.is_just_settled(&st[0]));
    let said = c.state.shell.message.clone().unwrap().1;
    assert!(
        said.contains(&format!("{day} settled: 1 statement(s) locked")),
        "{said}"
    );
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(text.contains("第一食堂") && text.contains(&day), "{text}");

    // Again: refused, in the form, and nothing written.
    ask_settle(&mut c, &day, "").await;
    c.key('y').await;
    let st = c.state.settlement.settle.as_ref().expect("still open");
    let error = st.form.error.as_deref().unwrap_or("");
    assert!(
        error.contains(&format!("{day} is settled already")),
        "{st:?}"
    );
    assert!(!st.form.busy);
    let (rows, audited): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM settlement),
                (SELECT count(*) FROM audit_log WHERE action = 'merchant.settle')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((rows, audited), (1, 1));
    // In Chinese too.
    c.esc().await;
    c.state.shell.lang = Lang::ZH_CN;
    ask_settle(&mut c, &day, "").await;
    c.key('y').await;
    let error = settle_error(&c);
    assert!(error.contains("已为所选的 1 个商户结算过"), "{error:?}");
    // The week holding the settled day overlaps it: refused with both periods named.
    c.esc().await;
    c.state.shell.lang = Lang::EN;
    let week = onecard::domain::settlement::Period::week_of(last_week()).to_string();
    ask_settle(&mut c, &week, "").await;
    c.key('y').await;
    let error = settle_error(&c);
    assert!(
        error.contains(&format!("period {week} overlaps its settled period {day}")),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_operator_without_the_right_is_refused_settling() {
    let shop = shop().await;
    let pool = shop.pool();
    for (lang, words, login) in [
        (Lang::EN, "may not settle merchants", "sys"),
        (Lang::ZH_CN, "无权商户结算", "sys2"),
    ] {
        // May export reports, so it sees the tab, but may not settle.
        let mut c =
            Console::sign_in(pool, bare(lang), login, "管理员", Role::SystemAdministrator).await;
        c.key('5').await;
        c.key('S').await;
        assert!(c.state.settlement.settle.is_none(), "no popup");
        let said = c.state.shell.message.clone().unwrap().1;
        assert!(said.contains(words), "{said}");
        // Nor through the effect itself.
        c.run(vec![onecard::app::Effect::Settlement(
            settlement::Effect::Settle {
                period: yesterday().parse().unwrap(),
                merchant: None,
            },
        )])
        .await;
        let said = c.state.shell.message.clone().unwrap().1;
        assert!(said.contains(words), "{said}");
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM settlement")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn snapshots_of_the_settle_form_and_its_confirmation() {
    for (lang, tag) in [(Lang::EN, "en"), (Lang::ZH_CN, "zh")] {
        let mut s = loaded(lang);
        assert!(update(&mut s, Msg::Key(key('S'))).is_empty());
        // Last month is offered.
        let st = s.settlement.settle.as_ref().expect("the settle popup");
        assert_eq!(st.form.fields[0].input, Input::text("2026-11"));
        insta::assert_snapshot!(
            format!("settlement_{tag}_settle_form_80x24"),
            screen_text(&render(&mut s, 80, 24))
        );
        let fx = update(
            &mut s,
            Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        );
        assert!(fx.is_empty(), "nothing before yes");
        insta::assert_snapshot!(
            format!("settlement_{tag}_settle_confirm_80x24"),
            screen_text(&render(&mut s, 80, 24))
        );
        let fx = update(&mut s, Msg::Key(key('y')));
        assert_eq!(
            fx,
            [onecard::app::Effect::Settlement(
                settlement::Effect::Settle {
                    period: "2026-11".parse().unwrap(),
                    merchant: None,
                }
            )]
        );
    }
}

/// A period settled elsewhere (the CLI, another console) shows in an open tab: the settlement
/// is announced and the statements are read again.
#[tokio::test]
async fn a_period_settled_elsewhere_shows_in_an_open_tab() {
    let shop = shop().await;
    let pool = shop.pool();
    let mut c = Console::sign_in(pool, bare(Lang::EN), "fin", "钱多多", Role::Director).await;
    c.strict = true;
    c.key('5').await;
    assert!(c.state.settlement.statements.is_empty());
    let day = time::today() - chrono::Duration::days(1);
    onecard::db::settlement::settle(
        pool,
        &onecard::domain::permission::Actor::shell("cli"),
        onecard::domain::settlement::Period::day(day),
        None,
    )
    .await
    .unwrap();
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.records.iter().any(|r| r == "settlement")))
        .await;
    let fx = c.frame().await;
    assert!(!fx.is_empty(), "a settlement re-reads the statements");
    assert_eq!(c.state.settlement.statements.len(), 1);
}
