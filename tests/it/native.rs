//! onecard's native RS-485 protocol: codec properties, link behaviour (SEQ cache, CRC errors,
//! timeouts against refusals, ack-then-free, memory full) and the client against the simulator
//! over an in-memory duplex, TCP and a real PTY, with a POS, a patrol reader and a desk reader
//! multi-dropped on one line.

use chrono::{NaiveDate, NaiveDateTime};
use onecard::sim::clock::SimClock;
use onecard::sim::native::{serve_bus, serve_tcp, DeskReader, NativeDevice, PatrolReader, Pos};
use onecard::sim::SimTerminal;
use onecard::terminal::native::frame::{MAX_FRAME, MIN_FRAME};
use onecard::terminal::native::message::{CHUNK_MAX, MAX_PURCHASES_PER_REPLY};
use onecard::terminal::native::*;
use onecard::terminal::transport::{connect_tcp, open_pty, open_serial, LineConfig};
use onecard::terminal::TerminalError;
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

// ------------------------------------------------------------------ strategies

fn datetime() -> impl Strategy<Value = NaiveDateTime> {
    (
        2000i32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
    )
        .prop_map(|(y, mo, d, h, mi, s)| {
            NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|d| d.and_hms_opt(h, mi, s))
                .expect("valid by construction")
        })
}

fn chunk() -> impl Strategy<Value = TableChunk> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u32>(), 0..=CHUNK_MAX),
    )
        .prop_map(|(version, total, offset, entries)| TableChunk {
            version,
            total,
            offset,
            entries,
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Poll),
        Just(Request::GetInfo),
        Just(Request::GetStatus),
        Just(Request::GetTime),
        Just(Request::CardPresent),
        Just(Request::AuthRequest),
        (any::<u32>(), deny(), any::<i32>()).prop_map(|(txn_no, denied, balance_fen)| {
            Request::AuthResult(AuthResult {
                txn_no,
                denied,
                balance_fen,
            })
        }),
        datetime().prop_map(Request::SetTime),
        (any::<u32>(), any::<u8>()).prop_map(|(from, max)| Request::ReadRecords { from, max }),
        any::<u32>().prop_map(|up_to| Request::AckRecords { up_to }),
        chunk().prop_map(Request::DownloadBlacklist),
        chunk().prop_map(Request::DownloadGuards),
        chunk().prop_map(Request::DownloadCheckpoints),
        prop::collection::vec(
            (any::<u8>(), 0u16..1440, any::<u32>()).prop_map(|(slot, start_minute, price_fen)| {
                PriceEntry {
                    slot,
                    start_minute,
                    price_fen,
                }
            }),
            0..=16
        )
        .prop_map(Request::SetPriceTable),
        (any::<u32>(), any::<u16>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c, d)| {
            Request::SetLimits(Limits {
                per_purchase_fen: a,
                daily_count: b,
                pin_above_fen: c,
                offline_daily_fen: d,
            })
        }),
        datetime().prop_map(|t| Request::DailyTotals(t.date())),
    ]
}

fn purchase() -> impl Strategy<Value = PurchaseRecord> {
    (
        any::<u32>(),
        datetime(),
        any::<u32>(),
        any::<i32>(),
        any::<i32>(),
        any::<u32>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(
            |(record_no, at, card, a, b, txn_no, meal_slot, online)| PurchaseRecord {
                record_no,
                at,
                card,
                amount_fen: a,
                balance_after_fen: b,
                txn_no,
                meal_slot,
                mode: if online {
                    PurchaseMode::Online
                } else {
                    PurchaseMode::Offline
                },
            },
        )
}

fn scan() -> impl Strategy<Value = ScanRecord> {
    (any::<u32>(), datetime(), any::<u32>(), any::<u32>(), 0u8..3).prop_map(
        |(record_no, at, guard, checkpoint, e)| ScanRecord {
            record_no,
            at,
            guard,
            checkpoint,
            event: match e {
                0 => ScanEvent::Normal,
                1 => ScanEvent::UnknownGuard,
                _ => ScanEvent::UnknownCheckpoint,
            },
        },
    )
}

fn presence() -> impl Strategy<Value = Option<CardPresence>> {
    prop::option::of(
        (any::<u32>(), any::<bool>()).prop_map(|(card, new_card)| CardPresence { card, new_card }),
    )
}

fn table_state() -> impl Strategy<Value = TableState> {
    (any::<u32>(), any::<u32>()).prop_map(|(version, count)| TableState { version, count })
}

fn ascii(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0x20u8..0x7F, 0..=max).prop_map(|v| String::from_utf8(v).unwrap())
}

fn kind() -> impl Strategy<Value = DeviceKind> {
    prop_oneof![
        Just(DeviceKind::Pos),
        Just(DeviceKind::PatrolReader),
        Just(DeviceKind::DeskReader)
    ]
}

fn deny() -> impl Strategy<Value = Option<DenyReason>> {
    prop::option::of(prop_oneof![
        Just(DenyReason::InsufficientBalance),
        Just(DenyReason::Blacklisted),
        Just(DenyReason::OverPurchaseLimit),
        Just(DenyReason::DailyCountReached),
        Just(DenyReason::PinRequired),
        Just(DenyReason::UnknownCard),
        Just(DenyReason::CardNotValid),
        Just(DenyReason::WrongPin),
        Just(DenyReason::NotForPos),
        Just(DenyReason::NotInService),
    ])
}

fn pending() -> impl Strategy<Value = Option<PendingAuth>> {
    prop::option::of(
        (
            any::<u32>(),
            any::<u32>(),
            1u32..=i32::MAX as u32,
            prop::option::of("[0-9]{6}"),
            datetime(),
        )
            .prop_map(|(txn_no, card, amount_fen, pin, at)| PendingAuth {
                txn_no,
                card,
                amount_fen,
                pin,
                at,
            }),
    )
}

/// A reply with the CMD of a request it answers.
fn reply() -> impl Strategy<Value = (u8, Reply)> {
    prop_oneof![
        (0u8..128, any::<u32>(), presence()).prop_map(|(c, stored, card)| (
            cmd::POLL,
            Reply::Poll(PollStatus {
                conditions: Conditions(c),
                stored,
                card
            })
        )),
        (
            kind(),
            ascii(16),
            ascii(8),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(kind, model, firmware, serial, a, b, c)| (
                cmd::GET_INFO,
                Reply::Info(DeviceInfo {
                    kind,
                    model,
                    firmware,
                    serial,
                    first_unacked: a,
                    next_record: b,
                    capacity: c
                })
            )),
        (
            kind(),
            any::<u8>(),
            datetime(),
            any::<u32>(),
            any::<u32>(),
            table_state(),
            table_state(),
            any::<u32>()
        )
            .prop_map(|(kind, c, clock, stored, capacity, a, b, up)| (
                cmd::GET_STATUS,
                Reply::Status(DeviceStatus {
                    kind,
                    conditions: Conditions(c),
                    clock,
                    stored,
                    capacity,
                    table_a: a,
                    table_b: b,
                    uptime_secs: up
                })
            )),
        datetime().prop_map(|t| (cmd::GET_TIME, Reply::Time(t))),
        prop_oneof![
            Just(cmd::SET_TIME),
            Just(cmd::SET_PRICE_TABLE),
            Just(cmd::SET_LIMITS)
        ]
        .prop_map(|c| (c, Reply::Done)),
        (
            any::<u32>(),
            prop_oneof![
                Just(Records::None),
                prop::collection::vec(purchase(), 0..=MAX_PURCHASES_PER_REPLY)
                    .prop_map(Records::Purchases),
                prop::collection::vec(scan(), 0..=24).prop_map(Records::Scans),
            ]
        )
            .prop_map(|(next_record, records)| (
                cmd::READ_RECORDS,
                Reply::Records(RecordBatch {
                    next_record,
                    records
                })
            )),
        any::<u32>().prop_map(|f| (cmd::ACK_RECORDS, Reply::Acked { first_unacked: f })),
        (
            prop_oneof![
                Just(cmd::DOWNLOAD_BLACKLIST),
                Just(cmd::DOWNLOAD_GUARDS),
                Just(cmd::DOWNLOAD_CHECKPOINTS)
            ],
            table_state(),
            any::<u32>()
        )
            .prop_map(|(c, active, received)| (
                c,
                Reply::Table(TableProgress { active, received })
            )),
        (datetime(), any::<u32>(), any::<i64>()).prop_map(|(t, count, sum_fen)| (
            cmd::DAILY_TOTALS,
            Reply::Totals(DailyTotals {
                date: t.date(),
                count,
                sum_fen
            })
        )),
        presence().prop_map(|p| (cmd::CARD_PRESENT, Reply::CardPresent(p))),
        pending().prop_map(|p| (cmd::AUTH_REQUEST, Reply::Pending(p))),
        any::<u32>().prop_map(|record_no| (cmd::AUTH_RESULT, Reply::Answered { record_no })),
        (
            prop_oneof![
                Just(cmd::POLL),
                Just(cmd::AUTH_RESULT),
                Just(cmd::READ_RECORDS)
            ],
            prop_oneof![
                Just(NakReason::UnknownCommand),
                Just(NakReason::BadParameter),
                Just(NakReason::MemoryFull),
                Just(NakReason::Busy),
            ]
        )
            .prop_map(|(c, r)| (c, Reply::Nak(r))),
    ]
}

fn any_frame() -> impl Strategy<Value = Frame> {
    (
        1u8..=255,
        0u8..4,
        any::<bool>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(addr, seq, reply, cmd, data)| Frame {
            addr,
            seq,
            reply,
            cmd,
            data,
        })
}

/// Splits `bytes` at the given cut points (taken modulo the length) and feeds the framer.
fn feed(framer: &mut Framer, bytes: &[u8], cuts: &[usize]) -> Vec<FramerEvent> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() })
        .collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    let mut events = Vec::new();
    for w in points.windows(2) {
        framer.push(&bytes[w[0]..w[1]]);
        while let Some(e) = framer.next_event() {
            events.push(e);
        }
        assert!(
            framer.pending() < MAX_FRAME,
            "the framer holds at most one partial frame"
        );
    }
    events
}

// ------------------------------------------------------------------ codec properties

#[test]
fn crc_check_value_and_residue() {
    assert_eq!(crc16(b"123456789"), 0x4B37);
    assert_eq!(CRC_CHECK, 0x4B37);
    // CRC-16/MODBUS over a frame including its own CRC (low byte first) is zero.
    let f = Frame::request(9, 2, cmd::GET_INFO, vec![])
        .encode()
        .unwrap();
    assert_eq!(crc16(&f), 0);
}

proptest! {
    #[test]
    fn framer_survives_arbitrary_bytes_and_splits(
        bytes in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut framer = Framer::new();
        for e in feed(&mut framer, &bytes, &cuts) {
            if let FramerEvent::Frame(f) = e {
                // Whatever it finds re-encodes to a valid frame.
                prop_assert!(Frame::decode(&f.encode().unwrap()).is_ok());
            }
        }
    }

    #[test]
    fn framer_finds_every_frame_among_garbage_at_any_split(
        parts in prop::collection::vec(
            (any_frame(), prop::collection::vec(any::<u8>().prop_filter("no SOM", |b| *b != SOM), 0..20)),
            1..8,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let mut stream = Vec::new();
        for (frame, garbage) in &parts {
            stream.extend_from_slice(garbage);
            stream.extend_from_slice(&frame.encode().unwrap());
        }
        let mut framer = Framer::new();
        let found: Vec<Frame> = feed(&mut framer, &stream, &cuts)
            .into_iter()
            .filter_map(|e| match e { FramerEvent::Frame(f) => Some(f), _ => None })
            .collect();
        let sent: Vec<Frame> = parts.into_iter().map(|(f, _)| f).collect();
        prop_assert_eq!(found, sent);
    }

    #[test]
    fn single_corrupted_byte_is_always_caught(frame in any_frame(), pos in any::<usize>(), flip in 1u8..=255) {
        let mut bytes = frame.encode().unwrap();
        let p = pos % bytes.len();
        bytes[p] ^= flip;
        prop_assert!(Frame::decode(&bytes).is_err());
    }

    #[test]
    fn request_round_trip(req in request(), addr in 1u8..=247, seq in 0u8..4) {
        let frame = Frame::request(addr, seq, req.cmd(), req.encode());
        let bytes = frame.encode().unwrap();
        prop_assert!(bytes.len() <= MAX_FRAME);
        let back = Frame::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &frame);
        prop_assert_eq!(Request::decode(back.cmd, &back.data).unwrap(), Some(req.clone()));
        // The reply timeout budget covers the longest reply this request can get.
        prop_assert!(MIN_FRAME + req.max_reply_data() <= MAX_FRAME);
    }

    #[test]
    fn reply_round_trip((request_cmd, reply) in reply()) {
        let data = reply.encode();
        prop_assert!(MIN_FRAME + data.len() <= MAX_FRAME);
        let cmd = reply.cmd_for(request_cmd);
        prop_assert_eq!(Reply::decode(cmd, &data).unwrap(), reply);
    }

    #[test]
    fn records_round_trip(p in purchase(), s in scan()) {
        let mut b = Vec::new();
        p.encode(&mut b);
        prop_assert_eq!(b.len(), 29);
        prop_assert_eq!(PurchaseRecord::decode(&b).unwrap(), p);
        let mut b = Vec::new();
        s.encode(&mut b);
        prop_assert_eq!(b.len(), 20);
        prop_assert_eq!(ScanRecord::decode(&b).unwrap(), s);
    }

    #[test]
    fn decoders_never_panic(cmd in any::<u8>(), data in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Request::decode(cmd, &data);
        let _ = Reply::decode(cmd, &data);
        let _ = Frame::decode(&data);
        let _ = PurchaseRecord::decode(&data);
        let _ = ScanRecord::decode(&data);
    }
}

// ------------------------------------------------------------------ the simulated site

const POS: u8 = 1;
const PATROL: u8 = 2;
const DESK: u8 = 3;

struct Site {
    pos: Arc<Pos>,
    patrol: Arc<PatrolReader>,
    desk: Arc<DeskReader>,
}

impl Site {
    fn new(capacity: usize) -> Site {
        let pos = Pos::new(
            "canteen",
            POS,
            SimClock::local(0.0),
            capacity,
            vec![1001, 1002],
        );
        let patrol = PatrolReader::new(
            "canteen",
            PATROL,
            SimClock::local(20.0),
            capacity,
            vec![9001, 9002],
            vec![501, 502, 503],
        );
        let desk = DeskReader::new("canteen", DESK, SimClock::local(-20.0), vec![1001]);
        Site { pos, patrol, desk }
    }

    fn devices(&self) -> Vec<Arc<dyn NativeDevice>> {
        vec![self.pos.clone(), self.patrol.clone(), self.desk.clone()]
    }

    /// The simulator on one end of an in-memory duplex, a bus on the other.
    fn duplex(&self, slack_ms: u64) -> Bus<tokio::io::DuplexStream> {
        let (client, server) = tokio::io::duplex(4096);
        tokio::spawn(serve_bus(server, self.devices()));
        Bus::new(client, Timing::network(Duration::from_millis(slack_ms)))
    }
}

fn at(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 22)
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

fn near(a: NaiveDateTime, b: NaiveDateTime) -> bool {
    (a - b).num_seconds().abs() <= 2
}

/// A purchase asked online at the POS, read and answered by `bus` playing the host with
/// `denied` and `balance_fen`: the record the POS stored (0 when declined).
async fn online<S: AsyncRead + AsyncWrite + Unpin + Send>(
    bus: &mut Bus<S>,
    pos: &Pos,
    card: u32,
    amount_fen: i64,
    denied: Option<DenyReason>,
    balance_fen: i32,
) -> Result<u32, TerminalError> {
    let txn_no = pos.ask(card, amount_fen, None).unwrap();
    let poll = bus.poll(POS).await?;
    assert!(poll.conditions.has(Condition::AuthPending));
    let p = bus.auth_request(POS).await?.expect("a purchase waits");
    assert_eq!(
        (p.txn_no, p.card, i64::from(p.amount_fen)),
        (txn_no, card, amount_fen)
    );
    bus.auth_result(
        POS,
        AuthResult {
            txn_no,
            denied,
            balance_fen,
        },
    )
    .await
}

/// Everything a poller does on a line of three devices.
async fn exercise<S: AsyncRead + AsyncWrite + Unpin + Send>(bus: &mut Bus<S>, site: &Site) {
    // Info from each device on the shared line.
    let info = bus.get_info(POS).await.unwrap();
    assert_eq!(info.kind, DeviceKind::Pos);
    assert_eq!(
        (info.first_unacked, info.next_record, info.capacity),
        (1, 1, 100)
    );
    assert_eq!(
        bus.get_info(PATROL).await.unwrap().kind,
        DeviceKind::PatrolReader
    );
    let desk = bus.get_info(DESK).await.unwrap();
    assert_eq!((desk.kind, desk.capacity), (DeviceKind::DeskReader, 0));

    // Time: one by one, then broadcast (nobody answers, every clock follows).
    bus.set_time(POS, at(8, 30)).await.unwrap();
    assert!(near(bus.get_time(POS).await.unwrap(), at(8, 30)));
    bus.broadcast_set_time(at(9, 30)).await.unwrap();
    for addr in [POS, PATROL, DESK] {
        assert!(
            near(bus.get_time(addr).await.unwrap(), at(9, 30)),
            "machine {addr}"
        );
    }

    // Purchases: two offline at the till, one online.
    site.pos.control("purchase", &["1001", "12.50"]).unwrap();
    site.pos.control("purchase", &["1001", "3"]).unwrap();
    // Online the host decides and its balance is what the record carries.
    let record = online(bus, &site.pos, 1001, 800, None, 7_650)
        .await
        .unwrap();
    assert_eq!(record, 3);
    let poor = online(
        bus,
        &site.pos,
        1002,
        600,
        Some(DenyReason::InsufficientBalance),
        500,
    )
    .await
    .unwrap();
    assert_eq!(poor, 0, "declined: nothing stored");
    assert!(bus.auth_request(POS).await.unwrap().is_none());

    // Records: read, read again (nothing freed), ack, gone.
    let batch = bus.read_records(POS, 1, 50).await.unwrap();
    let Records::Purchases(p) = &batch.records else {
        panic!("{batch:?}")
    };
    assert_eq!(batch.records.numbers(), vec![1, 2, 3]);
    assert_eq!(
        p.iter().map(|r| (r.amount_fen, r.mode)).collect::<Vec<_>>(),
        vec![
            (1250, PurchaseMode::Offline),
            (300, PurchaseMode::Offline),
            (800, PurchaseMode::Online)
        ]
    );
    assert!(p.iter().all(|r| r.card == 1001 && near(r.at, at(9, 30))));
    assert_eq!(bus.read_records(POS, 1, 50).await.unwrap(), batch);
    assert_eq!(bus.ack_records(POS, 3).await.unwrap(), 4);
    assert!(bus
        .read_records(POS, 1, 50)
        .await
        .unwrap()
        .records
        .is_empty());

    // Reconciliation: the terminal's totals match the records.
    let totals = bus.daily_totals(POS, at(9, 30).date()).await.unwrap();
    assert_eq!((totals.count, totals.sum_fen), (3, 2350));

    // Limits and the PIN.
    let limits = Limits {
        per_purchase_fen: 5000,
        daily_count: 0,
        pin_above_fen: 1000,
        offline_daily_fen: 2000,
    };
    bus.set_limits(POS, limits).await.unwrap();
    assert_eq!(site.pos.limits(), limits);
    // Offline the PIN cannot be checked (the host holds it): above the limit, refused; within
    // it, up to the offline limit per card and day.
    let err = site.pos.control("purchase", &["1002", "15"]).unwrap_err();
    assert_eq!(err, DenyReason::PinRequired.name());
    site.pos.control("purchase", &["1002", "10"]).unwrap();
    site.pos.control("purchase", &["1002", "9.99"]).unwrap();
    let err = site.pos.control("purchase", &["1002", "0.02"]).unwrap_err();
    assert_eq!(err, DenyReason::OfflineLimit.name());
    bus.ack_records(POS, 5).await.unwrap();

    // Price table.
    let slots = vec![
        PriceEntry {
            slot: 1,
            start_minute: 6 * 60,
            price_fen: 0,
        },
        PriceEntry {
            slot: 2,
            start_minute: 10 * 60,
            price_fen: 1200,
        },
    ];
    bus.set_price_table(POS, slots).await.unwrap();
    let status = bus.get_status(POS).await.unwrap();
    assert_eq!(status.table_b.count, 2);
    assert!(status.conditions.has(Condition::TablesMissing));

    // Blacklist: 300 cards in three chunks, switched over only when complete.
    let list: Vec<u32> = (2_000_000..2_000_299).chain([1001]).collect();
    let progress = bus
        .download_table(POS, Table::Blacklist, 5, &list)
        .await
        .unwrap();
    assert_eq!(
        progress.active,
        TableState {
            version: 5,
            count: 300
        }
    );
    assert!(bus.stats(POS).requests >= 3);
    let err = site.pos.control("purchase", &["1001", "1"]).unwrap_err();
    assert_eq!(err, DenyReason::Blacklisted.name());
    site.pos.control("purchase", &["1002", "0.01"]).unwrap();
    let poll = bus.poll(POS).await.unwrap();
    assert_eq!(poll.status(), Some(Condition::RecordsPending));
    assert_eq!(poll.stored, 1);
    assert!(!poll.conditions.has(Condition::TablesMissing));

    // Patrol: tables, scans, read, ack.
    bus.download_table(PATROL, Table::Guards, 1, &[9001])
        .await
        .unwrap();
    bus.download_table(PATROL, Table::Checkpoints, 2, &[501, 502])
        .await
        .unwrap();
    assert_eq!(
        site.patrol.tables(),
        (
            TableState {
                version: 1,
                count: 1
            },
            TableState {
                version: 2,
                count: 2
            }
        )
    );
    site.patrol.control("scan", &["9001", "501"]).unwrap();
    site.patrol.control("scan", &["9002", "502"]).unwrap();
    site.patrol.control("scan", &["9001", "999"]).unwrap();
    let batch = bus.read_records(PATROL, 1, 24).await.unwrap();
    let Records::Scans(s) = batch.records else {
        panic!("{batch:?}")
    };
    assert_eq!(
        s.iter()
            .map(|r| (r.record_no, r.guard, r.checkpoint, r.event))
            .collect::<Vec<_>>(),
        vec![
            (1, 9001, 501, ScanEvent::Normal),
            (2, 9002, 502, ScanEvent::UnknownGuard),
            (3, 9001, 999, ScanEvent::UnknownCheckpoint),
        ]
    );
    assert_eq!(bus.ack_records(PATROL, 3).await.unwrap(), 4);
    assert_eq!(bus.poll(PATROL).await.unwrap().status(), None);

    // Desk reader: a card laid on it is reported once, new or used.
    assert_eq!(bus.poll(DESK).await.unwrap().card, None);
    site.desk.control("present", &["1001"]).unwrap();
    let poll = bus.poll(DESK).await.unwrap();
    assert_eq!(poll.status(), Some(Condition::CardPresent));
    assert_eq!(
        poll.card,
        Some(CardPresence {
            card: 1001,
            new_card: false
        })
    );
    assert_eq!(bus.poll(DESK).await.unwrap().card, None);
    site.desk.control("present", &["777"]).unwrap();
    assert_eq!(
        bus.card_present(DESK).await.unwrap(),
        Some(CardPresence {
            card: 777,
            new_card: true
        })
    );
    assert_eq!(bus.card_present(DESK).await.unwrap(), None);
    let empty = bus.read_records(DESK, 1, 10).await.unwrap();
    assert_eq!(empty.records, Records::None);

    // Diagnostics.
    let st = bus.stats(POS);
    assert!(st.round_trips >= 15 && st.last_rtt.is_some() && st.last_contact.is_some());
    assert_eq!(st.consecutive_failures, 0);
    assert_eq!(
        bus.totals().round_trips,
        [POS, PATROL, DESK]
            .map(|a| bus.stats(a).round_trips)
            .iter()
            .sum::<u64>()
    );
    // Two offline, one online, three offline within the limits.
    assert_eq!(site.pos.generated(), 6);
    assert_eq!(site.patrol.generated(), 3);
}

// ------------------------------------------------------------------ over each transport

#[tokio::test]
async fn client_against_simulator_over_duplex() {
    let site = Site::new(100);
    let mut bus = site.duplex(300);
    exercise(&mut bus, &site).await;
}

#[tokio::test]
async fn client_against_simulator_over_tcp() {
    let site = Site::new(100);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_tcp(listener, site.devices()));
    let timing = Timing::network(Duration::from_millis(300));
    let line = connect_tcp(addr, Duration::from_secs(2)).await.unwrap();
    let mut first = Bus::new(line, timing);
    first.poll(POS).await.unwrap();

    // A second master takes the bus; the first is cut off (RS-485 has one master).
    let line = connect_tcp(addr, Duration::from_secs(2)).await.unwrap();
    let mut bus = Bus::new(line, timing);
    exercise(&mut bus, &site).await;
    let err = first.poll(POS).await.unwrap_err();
    assert!(err.is_transport(), "{err}");
}

async fn over_pty(baud: u32) {
    let site = Site::new(100);
    let master = open_pty().unwrap();
    let path = master.slave_path().to_string_lossy().into_owned();
    assert!(path.starts_with("/dev/"), "{path}");
    tokio::spawn(serve_bus(master, site.devices()));
    let timing = Timing::serial(baud, 10).with_slack(Duration::from_millis(300));
    let mut bus = Bus::new(open_serial(&LineConfig::new(&path, baud)).unwrap(), timing);
    exercise(&mut bus, &site).await;
    drop(bus);

    // The poller reconnects: the PTY is still there and the devices still remember.
    let mut bus = Bus::new(open_serial(&LineConfig::new(&path, baud)).unwrap(), timing);
    assert_eq!(bus.get_info(POS).await.unwrap().first_unacked, 6);
    site.pos.control("purchase", &["1003", "1"]).unwrap();
    let batch = bus.read_records(POS, 6, 10).await.unwrap();
    assert_eq!(batch.records.numbers(), vec![6, 7]);
}

#[tokio::test]
async fn client_against_simulator_over_pty_9600() {
    over_pty(9600).await;
}

#[tokio::test]
async fn client_against_simulator_over_pty_115200() {
    over_pty(115200).await;
}

// ------------------------------------------------------------------ link behaviour

#[tokio::test]
async fn retry_with_same_seq_is_answered_from_cache_not_charged_twice() {
    let site = Site::new(100);
    let mut bus = site.duplex(200);
    bus.poll(POS).await.unwrap();
    let seq = bus.next_seq(POS);
    let executed = site.pos.core().executed();

    // The host's answer: its reply is corrupted on the wire; the retry (same SEQ) gets the
    // cached one, and the purchase is stored exactly once.
    let txn_no = site.pos.ask(1001, 2500, None).unwrap();
    let answer = AuthResult {
        txn_no,
        denied: None,
        balance_fen: 7500,
    };
    site.pos.core().corrupt_next(1);
    let record = bus.auth_result(POS, answer).await.unwrap();
    assert_eq!(record, 1);
    assert_eq!(site.pos.core().executed(), executed + 1);
    assert_eq!(site.pos.stored(), 1, "stored exactly once");
    let st = bus.stats(POS);
    assert_eq!((st.retries, st.crc_errors), (1, 1));
    assert_eq!(bus.next_seq(POS), next_seq(seq));

    // The same answer again under a new SEQ: the same record, nothing stored twice; another
    // transaction is a new purchase.
    assert_eq!(bus.auth_result(POS, answer).await.unwrap(), 1);
    assert_eq!(site.pos.stored(), 1);
    let txn2 = site.pos.ask(1001, 2500, None).unwrap();
    let second = AuthResult {
        txn_no: txn2,
        balance_fen: 5000,
        ..answer
    };
    assert_eq!(bus.auth_result(POS, second).await.unwrap(), 2);
}

#[tokio::test]
async fn raw_repeat_of_a_seq_gets_the_identical_reply() {
    let site = Site::new(100);
    let (mut client, server) = tokio::io::duplex(4096);
    tokio::spawn(serve_bus(server, site.devices()));
    let txn_no = site.pos.ask(1001, 100, None).unwrap();
    let req = Request::AuthResult(AuthResult {
        txn_no,
        denied: None,
        balance_fen: 9_900,
    });
    let frame = Frame::request(POS, 2, req.cmd(), req.encode())
        .encode()
        .unwrap();
    let mut replies = Vec::new();
    for _ in 0..3 {
        client.write_all(&frame).await.unwrap();
        let mut buf = vec![0u8; MIN_FRAME + 4];
        client.read_exact(&mut buf).await.unwrap();
        replies.push(buf);
    }
    assert!(replies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(site.pos.stored(), 1);
    let reply = Frame::decode(&replies[0]).unwrap();
    assert!(reply.reply && reply.seq == 2 && reply.addr == POS);
}

#[tokio::test]
async fn corrupted_replies_are_detected_and_retried() {
    let site = Site::new(100);
    let mut bus = site.duplex(100);
    site.patrol.control("noise", &["100"]).unwrap();
    let err = bus.get_info(PATROL).await.unwrap_err();
    assert!(err.is_transport(), "{err}");
    let st = bus.stats(PATROL);
    assert_eq!(st.retries, 3);
    assert!(st.crc_errors + st.timeouts == 4, "{st:?}");
    assert_eq!(st.consecutive_failures, 1);
    assert_eq!(
        bus.next_seq(PATROL),
        0,
        "after silence the sequence reopens"
    );

    site.patrol.control("noise", &["0"]).unwrap();
    assert_eq!(
        bus.get_info(PATROL).await.unwrap().kind,
        DeviceKind::PatrolReader
    );
    assert_eq!(bus.stats(PATROL).consecutive_failures, 0);

    // Sparse noise is absorbed by the retries.
    site.patrol.control("noise", &["20"]).unwrap();
    let mut ok = 0;
    for _ in 0..10 {
        match bus.poll(PATROL).await {
            Ok(_) => ok += 1,
            Err(e) => assert!(e.is_transport()),
        }
    }
    assert!(ok >= 8, "{ok} of 10 polls through 20% noise");
}

#[tokio::test]
async fn timeout_is_a_transport_error_and_a_nak_is_a_refusal() {
    let site = Site::new(100);
    let mut bus = site.duplex(60);

    site.pos.control("offline", &[]).unwrap();
    let err = bus.poll(POS).await.unwrap_err();
    assert!(matches!(err, TerminalError::Timeout(_)), "{err}");
    assert!(err.is_transport());
    let st = bus.stats(POS);
    assert_eq!((st.timeouts, st.retries, st.round_trips), (4, 3, 0));
    // An address nobody has: silence too.
    assert!(matches!(
        bus.poll(99).await.unwrap_err(),
        TerminalError::Timeout(_)
    ));
    site.pos.control("online", &[]).unwrap();

    // Acking a record that was never made.
    let err = bus.ack_records(POS, 50).await.unwrap_err();
    assert!(
        matches!(&err, TerminalError::Refused(m) if m.contains("bad parameter")),
        "{err}"
    );
    assert!(!err.is_transport());
    // A POS command to the desk reader.
    let err = bus.daily_totals(DESK, at(0, 0).date()).await.unwrap_err();
    assert!(
        matches!(&err, TerminalError::Refused(m) if m.contains("unknown command")),
        "{err}"
    );
    // A half-sent table chunk out of order.
    let chunk = TableChunk {
        version: 3,
        total: 10,
        offset: 4,
        entries: vec![1],
    };
    let err = bus
        .request(POS, &Request::DownloadBlacklist(chunk))
        .await
        .unwrap_err();
    assert!(matches!(err, TerminalError::Refused(_)), "{err}");
    assert_eq!(bus.stats(POS).naks, 2);
    // Machine number 0 is reserved.
    assert!(matches!(
        bus.poll(0).await.unwrap_err(),
        TerminalError::Malformed(_)
    ));
}

#[tokio::test]
async fn records_are_freed_only_after_ack() {
    let site = Site::new(100);
    let mut bus = site.duplex(300);
    for amount in ["1", "2", "3"] {
        site.pos.control("purchase", &["1001", amount]).unwrap();
    }
    let first = bus.read_records(POS, 1, 10).await.unwrap();
    assert_eq!(first.records.numbers(), vec![1, 2, 3]);
    assert_eq!(first.next_record, 4);
    // No ack: reading again gives the same records.
    assert_eq!(bus.read_records(POS, 1, 10).await.unwrap(), first);
    assert_eq!(site.pos.stored(), 3);
    // A partial read from the host's bookmark.
    let tail = bus.read_records(POS, 3, 10).await.unwrap();
    assert_eq!(tail.records.numbers(), vec![3]);
    assert_eq!(
        bus.read_records(POS, 1, 2).await.unwrap().records.numbers(),
        vec![1, 2]
    );

    assert_eq!(bus.ack_records(POS, 2).await.unwrap(), 3);
    assert_eq!(
        bus.read_records(POS, 1, 10)
            .await
            .unwrap()
            .records
            .numbers(),
        vec![3]
    );
    // A repeated ack is harmless.
    assert_eq!(bus.ack_records(POS, 2).await.unwrap(), 3);
    assert_eq!(bus.ack_records(POS, 3).await.unwrap(), 4);
    assert!(bus
        .read_records(POS, 1, 10)
        .await
        .unwrap()
        .records
        .is_empty());
    // Numbers are never reused.
    site.pos.control("purchase", &["1001", "4"]).unwrap();
    assert_eq!(
        bus.read_records(POS, 1, 10)
            .await
            .unwrap()
            .records
            .numbers(),
        vec![4]
    );
    let info = bus.get_info(POS).await.unwrap();
    assert_eq!((info.first_unacked, info.next_record), (4, 5));
}

#[tokio::test]
async fn many_records_come_in_frame_sized_batches() {
    let site = Site::new(100);
    let mut bus = site.duplex(300);
    for _ in 0..40 {
        site.pos.control("purchase", &["1001", "0.5"]).unwrap();
    }
    let mut next = 1;
    let mut got = Vec::new();
    loop {
        let b = bus.read_records(POS, next, 255).await.unwrap();
        let Some(last) = b.records.last_number() else {
            break;
        };
        assert!(b.records.len() <= MAX_PURCHASES_PER_REPLY);
        got.extend(b.records.numbers());
        bus.ack_records(POS, last).await.unwrap();
        next = last + 1;
    }
    assert_eq!(got, (1..=40).collect::<Vec<u32>>());
}

#[tokio::test]
async fn memory_full_refuses_purchases_and_raises_the_alarm() {
    let site = Site::new(3);
    let mut bus = site.duplex(300);
    for _ in 0..2 {
        site.pos.control("purchase", &["1001", "1"]).unwrap();
    }
    // No blacklist yet outranks stored records.
    let poll = bus.poll(POS).await.unwrap();
    assert_eq!(poll.status(), Some(Condition::TablesMissing));
    assert!(poll.conditions.has(Condition::RecordsPending));
    assert!(!poll.conditions.has(Condition::MemoryNearlyFull));
    assert_eq!(
        online(&mut bus, &site.pos, 1001, 100, None, 9_900)
            .await
            .unwrap(),
        3
    );

    let poll = bus.poll(POS).await.unwrap();
    assert_eq!(poll.status(), Some(Condition::MemoryFull));
    assert!(poll.conditions.has(Condition::MemoryNearlyFull));
    assert_eq!(poll.stored, 3);
    // Offline purchases are refused, traffic stores nothing, online auth is NAKed.
    let err = site.pos.control("purchase", &["1001", "1"]).unwrap_err();
    assert!(err.contains("memory full"), "{err}");
    let mut rng = rand::SeedableRng::seed_from_u64(7);
    for _ in 0..10 {
        site.pos.traffic(&mut rng);
    }
    assert_eq!(site.pos.generated(), 3);
    let err = site.pos.ask(1001, 100, None).unwrap_err();
    assert!(
        err.contains("memory full"),
        "no purchase without its record: {err}"
    );

    // Collecting the records frees memory and clears the alarm.
    bus.ack_records(POS, 3).await.unwrap();
    let poll = bus.poll(POS).await.unwrap();
    assert!(!poll.conditions.has(Condition::MemoryFull));
    assert_eq!(poll.stored, 0);
    site.pos.control("purchase", &["1001", "1"]).unwrap();
}

#[tokio::test]
async fn traffic_matches_daily_totals() {
    let site = Site::new(1000);
    let mut bus = site.duplex(300);
    bus.broadcast_set_time(at(12, 0)).await.unwrap();
    let mut rng = rand::SeedableRng::seed_from_u64(42);
    for _ in 0..60 {
        site.pos.traffic(&mut rng);
        site.patrol.traffic(&mut rng);
    }
    let mut sum = 0i64;
    let mut count = 0u32;
    let mut next = 1;
    loop {
        let b = bus.read_records(POS, next, 255).await.unwrap();
        let Records::Purchases(p) = &b.records else {
            panic!()
        };
        let Some(last) = b.records.last_number() else {
            break;
        };
        count += p.len() as u32;
        sum += p.iter().map(|r| i64::from(r.amount_fen)).sum::<i64>();
        next = last + 1;
    }
    assert_eq!(u64::from(count), site.pos.generated());
    let t = bus.daily_totals(POS, at(12, 0).date()).await.unwrap();
    assert_eq!((t.count, t.sum_fen), (count, sum));
    // Patrol traffic skips some checkpoints: fewer scans than steps, all read back.
    let scans = site.patrol.generated();
    assert!(scans > 0 && scans < 60);
    let b = bus.read_records(PATROL, 1, 255).await.unwrap();
    assert_eq!(b.next_record as u64, scans + 1);
}

#[tokio::test]
async fn skipped_checkpoint_never_appears() {
    let site = Site::new(1000);
    let mut bus = site.duplex(300);
    site.patrol.control("skip", &["502"]).unwrap();
    let mut rng = rand::SeedableRng::seed_from_u64(3);
    for _ in 0..30 {
        site.patrol.traffic(&mut rng);
    }
    let mut next = 1;
    loop {
        let b = bus.read_records(PATROL, next, 255).await.unwrap();
        let Records::Scans(s) = &b.records else {
            panic!()
        };
        let Some(last) = b.records.last_number() else {
            break;
        };
        assert!(s.iter().all(|r| r.checkpoint != 502));
        next = last + 1;
    }
}

#[tokio::test]
async fn garbage_on_the_line_is_survived() {
    let site = Site::new(100);
    let (mut client, server) = tokio::io::duplex(4096);
    let served = tokio::spawn(serve_bus(server, site.devices()));
    // A false SOM claiming a 512-byte frame to machine 1, then noise: the device drops the
    // partial frame after an idle gap and answers the master's retry.
    client
        .write_all(&[SOM, POS, 0x00, 0x02, 0x13, 0x37])
        .await
        .unwrap();
    let mut bus = Bus::new(client, Timing::network(Duration::from_millis(100)));
    assert_eq!(bus.get_info(POS).await.unwrap().kind, DeviceKind::Pos);
    assert!(bus.stats(POS).retries >= 1);
    // A request with a bad CRC gets NAK BAD_CRC, and the bus retries it.
    let mut client = bus.into_inner();
    let mut bad = Frame::request(POS, 1, cmd::POLL, vec![]).encode().unwrap();
    bad[6] ^= 0xFF;
    client.write_all(&bad).await.unwrap();
    let mut nak = vec![0u8; MIN_FRAME + 1];
    client.read_exact(&mut nak).await.unwrap();
    let nak = Frame::decode(&nak).unwrap();
    assert_eq!(
        (nak.cmd, nak.data.as_slice()),
        (cmd::NAK_UNREADABLE, &[1u8][..])
    );
    drop(client);
    served.await.unwrap().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Arbitrary bytes from the master never crash the simulator, and a POLL after them is
    /// answered (within the retries).
    #[test]
    fn simulator_survives_arbitrary_input(garbage in prop::collection::vec(any::<u8>(), 0..700)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let site = Site::new(10);
            let (mut client, server) = tokio::io::duplex(4096);
            let served = tokio::spawn(serve_bus(server, site.devices()));
            client.write_all(&garbage).await.unwrap();
            let mut bus = Bus::new(client, Timing::network(Duration::from_millis(100)));
            let poll = bus.poll(DESK).await;
            prop_assert!(poll.is_ok(), "{poll:?}");
            drop(bus);
            // Ends without panicking (a reply into the closed line may be an error).
            prop_assert!(served.await.is_ok());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn trace_shows_frames_both_ways() {
    let site = Site::new(100);
    let mut bus = site.duplex(300);
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    bus.set_trace(Some(tx));
    bus.poll(POS).await.unwrap();
    let sent = rx.recv().await.unwrap();
    let got = rx.recv().await.unwrap();
    assert_eq!((sent.dir, got.dir), (TraceDir::Tx, TraceDir::Rx));
    assert_eq!(sent.bytes[0], SOM);
    assert_eq!(Frame::decode(&got.bytes).unwrap().cmd, cmd::POLL);
}
