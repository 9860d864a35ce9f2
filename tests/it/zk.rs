//! ZKTeco attendance protocol: codec properties, recorded vectors, onecard's client against the
//! simulator, and the real pyzk against the simulator.

use crate::python;
use chrono::{NaiveDate, NaiveDateTime};
use futures::StreamExt;
use onecard::sim::clock::SimClock;
use onecard::sim::zk::{serve, Machine, ServeHandle, User};
use onecard::sim::SimTerminal;
use onecard::terminal::zk::{
    self as zk, cmd, make_commkey, AttEvent, AttRecord, Framer, FreeSizes, LiveEvent, Packet,
    UserRecord, ZkClient, EF_ATTLOG,
};
use onecard::terminal::TerminalError;
use proptest::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(10);

fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// (1) Properties: decoders survive anything; encode → decode round trips.

fn arb_packet() -> impl Strategy<Value = Packet> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(c, s, r, d)| Packet::new(c, s, r, d))
}

fn arb_time() -> impl Strategy<Value = NaiveDateTime> {
    let lo = dt("2000-01-01 00:00:00").and_utc().timestamp();
    let hi = dt("2099-12-31 23:59:59").and_utc().timestamp();
    (lo..=hi).prop_map(|s| chrono::DateTime::from_timestamp(s, 0).unwrap().naive_utc())
}

/// Text that fits a `width`-byte field: ASCII or CJK, no NUL.
fn arb_text(width: usize) -> impl Strategy<Value = String> {
    let chars = width / 3;
    let re = |r: String| proptest::string::string_regex(&r).unwrap();
    prop_oneof![
        re(format!("[ -~]{{0,{width}}}")),
        re(format!("[a-z0-9\u{5f20}\u{738b}\u{674e}]{{0,{chars}}}")),
    ]
}

fn arb_user() -> impl Strategy<Value = UserRecord> {
    (
        any::<u16>(),
        any::<u8>(),
        arb_text(8),
        arb_text(24),
        any::<u32>(),
        arb_text(7),
        arb_text(24),
    )
        .prop_map(
            |(uid, privilege, password, name, card, group, user_id)| UserRecord {
                uid,
                privilege,
                password,
                name,
                card,
                group,
                user_id,
            },
        )
}

fn arb_record() -> impl Strategy<Value = AttRecord> {
    (
        any::<u16>(),
        "[0-9A-Za-z]{0,24}",
        any::<u8>(),
        any::<u32>(),
        any::<u8>(),
        any::<[u8; 8]>(),
    )
        .prop_map(
            |(uid, user_id, verify, timestamp, state, reserved)| AttRecord {
                uid,
                user_id,
                verify,
                timestamp,
                state,
                reserved,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn decoders_survive_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200), n in 0usize..100) {
        let _ = Packet::decode(&bytes);
        let _ = AttRecord::decode(&bytes);
        let _ = AttRecord::decode_8(&bytes);
        let _ = AttRecord::decode_16(&bytes);
        let _ = UserRecord::decode(&bytes);
        let _ = UserRecord::decode_28(&bytes);
        let _ = FreeSizes::decode(&bytes);
        let _ = AttEvent::decode(&bytes);
        let _ = zk::decode_attendance(&bytes, n);
        let _ = zk::decode_users(&bytes, n);
        let _ = zk::dataset_body(&bytes);
        let _ = zk::decode_prepare_buffer_request(&bytes);
        let _ = zk::decode_read_buffer_request(&bytes);
        let _ = zk::decode_data_stat(&bytes);
        let _ = zk::option_value(&bytes);
        let _ = zk::c_string(&bytes);
        if let Ok(p) = Packet::decode(&bytes) {
            let _ = p.checksum_ok();
            let _ = LiveEvent::from_packet(&Packet { command: cmd::REG_EVENT, ..p });
        }
        if bytes.len() >= 6 {
            let _ = zk::decode_time_hex(bytes[..6].try_into().unwrap());
        }
    }

    #[test]
    fn decode_time_survives_any_u32(v in any::<u32>()) {
        if let Some(t) = zk::decode_time(v) {
            // Whatever decodes re-encodes to itself when in range.
            if let Some(back) = zk::encode_time(t) { prop_assert_eq!(back, v); }
        }
    }

    #[test]
    fn framer_survives_arbitrary_stream(bytes in proptest::collection::vec(any::<u8>(), 0..400), cuts in proptest::collection::vec(0usize..400, 0..6)) {
        let mut f = Framer::new();
        let mut at = 0;
        let mut cuts = cuts;
        cuts.sort();
        for c in cuts.into_iter().chain([bytes.len()]) {
            let c = c.min(bytes.len()).max(at);
            f.push(&bytes[at..c]);
            at = c;
            while let Ok(Some(_)) = f.next_packet() {}
        }
    }

    #[test]
    fn framer_reassembles_any_split(packets in proptest::collection::vec(arb_packet(), 1..6), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let wire: Vec<u8> = packets.iter().flat_map(|p| p.encode_tcp()).collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(wire.len())).collect();
        cuts.sort();
        let mut f = Framer::new();
        let mut got = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([wire.len()]) {
            f.push(&wire[at..c]);
            at = c;
            while let Some(p) = f.next_packet().unwrap() { got.push(p); }
        }
        prop_assert_eq!(&got, &packets);
        prop_assert!(got.iter().all(Packet::checksum_ok));
        prop_assert_eq!(f.pending(), 0);
    }

    #[test]
    fn packet_round_trip_and_checksum_catches_a_flipped_byte(p in arb_packet(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let bytes = p.encode();
        prop_assert_eq!(&Packet::decode(&bytes).unwrap(), &p);
        let mut bad = bytes.clone();
        let i = at.index(bad.len());
        bad[i] ^= flip;
        prop_assert!(!Packet::decode(&bad).unwrap().checksum_ok());
    }

    #[test]
    fn attendance_record_round_trip(r in arb_record()) {
        prop_assert_eq!(AttRecord::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn attendance_dataset_round_trip(rs in proptest::collection::vec(arb_record(), 0..40)) {
        let body: Vec<u8> = rs.iter().flat_map(|r| r.encode()).collect();
        prop_assert_eq!(zk::decode_attendance(&zk::dataset(&body), rs.len()).unwrap(), rs);
    }

    #[test]
    fn user_record_round_trip(u in arb_user()) {
        prop_assert_eq!(UserRecord::decode(&u.encode()).unwrap(), u);
    }

    #[test]
    fn user_dataset_round_trip(us in proptest::collection::vec(arb_user(), 1..20)) {
        let body: Vec<u8> = us.iter().flat_map(|u| u.encode()).collect();
        prop_assert_eq!(zk::decode_users(&zk::dataset(&body), us.len()).unwrap(), us);
    }

    #[test]
    fn zk_time_round_trip(t in arb_time()) {
        let v = zk::encode_time(t).unwrap();
        prop_assert_eq!(zk::decode_time(v), Some(t));
        prop_assert_eq!(zk::decode_time_hex(zk::encode_time_hex(t).unwrap()), Some(t));
    }

    #[test]
    fn live_event_round_trip(user_id in "[0-9]{1,24}", verify in any::<u8>(), state in any::<u8>(), t in arb_time()) {
        let e = LiveEvent::Attendance(AttEvent { user_id, verify, state, time: zk::encode_time_hex(t).unwrap() });
        let p = e.to_packet();
        prop_assert_eq!(p.data.len(), zk::ATT_EVENT_LEN);
        prop_assert_eq!(LiveEvent::from_packet(&Packet::decode(&p.encode()).unwrap()).unwrap(), e);
    }

    #[test]
    fn free_sizes_round_trip(f in proptest::array::uniform20(any::<i32>()), face in proptest::option::of((any::<i32>(), any::<i32>()))) {
        let s = FreeSizes { users: f[0], fingers: f[1], records: f[2], cards: f[3], finger_cap: f[4], user_cap: f[5],
            record_cap: f[6], finger_avail: f[7], user_avail: f[8], record_avail: f[9], faces: face };
        prop_assert_eq!(FreeSizes::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn buffer_requests_round_trip(inner in any::<u16>(), fct in any::<u32>(), ext in any::<u32>(), start in any::<u32>(), size in any::<u32>()) {
        prop_assert_eq!(zk::decode_prepare_buffer_request(&zk::prepare_buffer_request(inner, fct, ext)).unwrap(), (inner, fct, ext));
        prop_assert_eq!(zk::decode_read_buffer_request(&zk::read_buffer_request(start, size)).unwrap(), (start, size));
        prop_assert_eq!(zk::decode_data_stat(&zk::data_stat(size, start)).unwrap(), size);
    }
}

// ---------------------------------------------------------------------------------------------
// (2) Vectors: PROTOCOLS.md and fananimi/pyzk test.py recordings.

/// test.py: a real device's CMD_ACK_OK to CONNECT, session 0x45cf.
const ACK_CONNECT: &str = "5050827d08000000d0075fb2cf450100";
/// test.py `test_tcp_get_size`: GET_FREE_SIZES reply (7 users, 6 fingers, 605 records). Its
/// length field says 100 bytes but 94 follow (pyzk never looks): the tests pad it with the
/// zeros it lost, which leaves the checksum as recorded.
const SIZES_7_SHORT: &str = "5050827d64000000d007a3159663130000000000000000000000000000000000070000000000000006000000000000005d020000000000000f0c0000000000000100000000000000b80b000010270000a0860100b20b00000927000043840100000000000000";
/// test.py `test_tcp_get_users_small_data`: the 7-user table sent at once as CMD_DATA.
const USERS_7_DATA: &str = "5050827d04020000dd05942c96631500f801000001000e0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003830380000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003832310000000000000000000000000000000000000000000300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003833350000000000000000000000000000000000000000000400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003833310000000000000000000000000000000000000000000500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003833320000000000000000000000000000000000000000000600000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003836000000000000000000000000000000000000000000000c0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000383432000000000000000000000000000000000000000000";
/// test.py `test_tcp_get_users_broken_data` (K20): connect, sizes, and a DATA packet that
/// arrived in two reads.
const K20_CONNECT: &str = "5050827d08000000d007d7d758200000";
const K20_SIZES: &str = "5050827d58000000d0074c49582013000000000000000000000000000000000002000000000000000000000000000000000000000000000007000000000000000000000000000000f4010000f401000050c30000f4010000f201000050c30000";
const K20_DATA_1: &str = "5050827d9c000000dd053c87582015009000000001000000000000000000006366756c616e6f0000000000000000000000000000000000000000000000000000000000003130303030316c70000000000000000000000000000000000200000000000000000000726d656e67616e6f0000000000000000000000000000000000";
const K20_DATA_2: &str = "000000000000000000000000323232323232636200000000000000000000000000000000";
/// test.py "random" ACK_OK used for whatever comes next.
const ACK_ANY: &str = "5050827d08000000d00745b2cf451b00";

fn sizes_7() -> Vec<u8> {
    let mut v = unhex(SIZES_7_SHORT);
    v.resize(8 + 100, 0);
    v
}

#[test]
fn commkey_vectors_from_protocols_md() {
    assert_eq!(make_commkey(45, 0x45cf, 50), [0x61, 0xc9, 0x32, 0x3c]);
    assert_eq!(make_commkey(12, 0x45cf, 50), [0x61, 0x4d, 0x32, 0x3c]);
}

#[test]
fn our_requests_are_byte_identical_to_pyzk_ones() {
    // pyzk's CONNECT, AUTH (keys 45 and 12) and EXIT as test.py asserts them on the wire.
    assert_eq!(
        Packet::new(cmd::CONNECT, 0, 0, vec![]).encode_tcp(),
        unhex("5050827d08000000e80317fc00000000")
    );
    let auth45 = make_commkey(45, 0x45cf, 50).to_vec();
    assert_eq!(
        Packet::new(cmd::AUTH, 0x45cf, 1, auth45).encode_tcp(),
        unhex("5050827d0c0000004e044db0cf45010061c9323c")
    );
    let auth12 = make_commkey(12, 0x45cf, 50).to_vec();
    assert_eq!(
        Packet::new(cmd::AUTH, 0x45cf, 1, auth12).encode_tcp(),
        unhex("5050827d0c0000004e044e2ccf450100614d323c")
    );
    assert_eq!(
        Packet::new(cmd::EXIT, 0xfb2f, 1, vec![]).encode_tcp(),
        unhex("5050827d08000000e903e6002ffb0100")
    );
    assert_eq!(
        Packet::new(cmd::GET_FREE_SIZES, 0x45cf, 2, vec![]).encode_tcp(),
        unhex("5050827d080000003200fcb9cf450200")
    );
    // The users request: prepare buffer, inner command 9, fct 5.
    let req = zk::prepare_buffer_request(cmd::USERTEMP_RRQ, zk::FCT_USER, 0);
    assert_eq!(
        Packet::new(cmd::PREPARE_BUFFER, 0x45cf, 0x14, req).encode_tcp(),
        unhex("5050827d13000000df053ca6cf4514000109000500000000000000")
    );
}

fn frame_one(hex: &str) -> Packet {
    let mut f = Framer::new();
    f.push(&unhex(hex));
    let p = f.next_packet().unwrap().expect("one whole packet");
    assert_eq!(f.pending(), 0);
    p
}

#[test]
fn recorded_device_replies_decode_with_correct_checksums() {
    let ack = frame_one(ACK_CONNECT);
    assert_eq!(
        (ack.command, ack.session, ack.reply),
        (cmd::ACK_OK, 0x45cf, 1)
    );
    assert!(ack.checksum_ok());

    let mut f = Framer::new();
    f.push(&unhex(SIZES_7_SHORT));
    assert_eq!(
        f.next_packet().unwrap(),
        None,
        "the recording is 6 bytes short"
    );
    let sizes = Packet::decode(&unhex(SIZES_7_SHORT)[8..]).unwrap();
    assert!(sizes.checksum_ok());
    f.push(&[0; 6]);
    assert_eq!(f.next_packet().unwrap().unwrap().checksum, 0x15a3);
    assert_eq!(sizes.checksum, 0x15a3);
    assert!(sizes.checksum_ok());
    let s = FreeSizes::decode(&sizes.data).unwrap();
    assert_eq!((s.users, s.fingers, s.records), (7, 6, 605));
    assert_eq!(
        (s.user_cap, s.finger_cap, s.record_cap),
        (10_000, 3000, 100_000)
    );
    assert_eq!(s.record_avail, 99_395);
    assert_eq!(s.faces, None);

    let k20 = FreeSizes::decode(&frame_one(K20_SIZES).data).unwrap();
    assert_eq!((k20.users, k20.records, k20.record_cap), (2, 0, 50_000));
    assert_eq!(k20.faces, None);

    // test_tcp_get_users_broken_tcp: the data stat of a 5044-byte user table and the
    // PREPARE_DATA announcing it (second word 1008: that device sent 1008-byte DATA packets).
    let stat = frame_one("5050827d15000000d007a7625c3c150000b4130000b4130000cdef2300");
    assert!(stat.checksum_ok());
    assert_eq!(zk::decode_data_stat(&stat.data).unwrap(), 5044);
    let prep = frame_one("5050827d10000000dc050da65c3c1600b4130000f0030000");
    assert_eq!(prep.command, cmd::PREPARE_DATA);
    assert!(prep.checksum_ok());
}

#[test]
fn recorded_user_tables_decode() {
    let p = frame_one(USERS_7_DATA);
    assert_eq!(p.command, cmd::DATA);
    let users = zk::decode_users(&p.data, 7).unwrap();
    assert_eq!(users.len(), 7);
    assert_eq!((users[3].uid, users[3].user_id.as_str()), (4, "831"));
    assert_eq!(users[0].privilege, 14);
    assert_eq!(users[0].name, "");

    let mut f = Framer::new();
    f.push(&unhex(K20_DATA_1));
    assert_eq!(
        f.next_packet().unwrap(),
        None,
        "split packet waits for its rest"
    );
    f.push(&unhex(K20_DATA_2));
    let users = zk::decode_users(&f.next_packet().unwrap().unwrap().data, 2).unwrap();
    assert_eq!(users[0].name, "cfulano");
    assert_eq!(users[0].user_id, "100001lp");
    assert_eq!(
        (
            users[1].uid,
            users[1].user_id.as_str(),
            users[1].name.as_str()
        ),
        (2, "222222cb", "rmengano")
    );
}

#[test]
fn realtime_vectors_decode() {
    // PROTOCOLS.md 2.4 (zk-protocol realtime.md): user 999111333, fingerprint, 2018-06-25 17:41:05.
    let mut wire = unhex("5050827d28000000f401ac1201000000");
    let mut uid = b"999111333".to_vec();
    uid.resize(24, 0);
    wire.extend(uid);
    wire.extend(unhex("0100120619112905"));
    let mut f = Framer::new();
    f.push(&wire);
    let p = f.next_packet().unwrap().unwrap();
    assert_eq!((p.command, p.session, p.reply), (cmd::REG_EVENT, 1, 0));
    let LiveEvent::Attendance(e) = LiveEvent::from_packet(&p).unwrap() else {
        panic!("not an attendance event")
    };
    assert_eq!((e.user_id.as_str(), e.verify, e.state), ("999111333", 1, 0));
    assert_eq!(e.time(), Some(dt("2018-06-25 17:41:05")));

    // test.py live_capture recordings (their TCP length field, 0x3f8, is made up: decode the
    // ZK packet after the prefix). 12-byte event: numeric user id.
    let p = Packet::decode(&unhex("f401ae4301000000f19449000000120c07130906")).unwrap();
    let LiveEvent::Attendance(e) = LiveEvent::from_packet(&p).unwrap() else {
        panic!()
    };
    assert_eq!(e.user_id, "4822257");
    assert_eq!(e.time(), Some(dt("2018-12-07 19:09:06")));
    // 32-byte event: user id text, verify 15 (face).
    let p = Packet::decode(&unhex(
        "f401ae43010000003131343030363400000000000000000000000000000000000f00120b1d0c3703",
    ))
    .unwrap();
    let LiveEvent::Attendance(e) = LiveEvent::from_packet(&p).unwrap() else {
        panic!()
    };
    assert_eq!((e.user_id.as_str(), e.verify, e.state), ("1140064", 15, 0));
    assert_eq!(e.time(), Some(dt("2018-11-29 12:55:03")));
}

/// A scripted device on an in-memory stream: answers the n-th request with the n-th blob,
/// whatever the request was (test.py's recordings carry made-up reply numbers).
async fn scripted<T>(
    script: Vec<Vec<u8>>,
    f: impl AsyncFnOnce(&mut ZkClient<tokio::io::DuplexStream>) -> T,
) -> (T, Vec<Packet>, zk::ClientStats) {
    let (client_end, mut device_end) = tokio::io::duplex(1 << 20);
    let device = tokio::spawn(async move {
        let mut framer = Framer::new();
        let mut seen = Vec::new();
        let mut script = script.into_iter();
        let mut buf = vec![0u8; 4096];
        loop {
            match framer.next_packet().unwrap() {
                Some(p) => {
                    seen.push(p);
                    match script.next() {
                        Some(blob) => device_end.write_all(&blob).await.unwrap(),
                        None => return seen,
                    }
                }
                None => {
                    let n = device_end.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return seen;
                    }
                    framer.push(&buf[..n]);
                }
            }
        }
    });
    let mut c = ZkClient::connect(client_end, 0, T).await.unwrap();
    let out = f(&mut c).await;
    let stats = c.stats();
    drop(c);
    (out, device.await.unwrap(), stats)
}

#[tokio::test]
async fn client_reads_recorded_user_tables() {
    // 7 users sent at once (CMD_DATA answer to 1503).
    let script = vec![unhex(ACK_CONNECT), sizes_7(), unhex(USERS_7_DATA)];
    let (users, seen, stats) = scripted(script, async |c| c.read_users().await.unwrap()).await;
    assert_eq!(users.len(), 7);
    assert_eq!(users[3].user_id, "831");
    let cmds: Vec<u16> = seen.iter().map(|p| p.command).collect();
    assert_eq!(
        cmds,
        [cmd::CONNECT, cmd::GET_FREE_SIZES, cmd::PREPARE_BUFFER]
    );
    assert_eq!(
        zk::decode_prepare_buffer_request(&seen[2].data).unwrap(),
        (9, 5, 0)
    );
    assert!(seen.iter().all(Packet::checksum_ok));
    assert_eq!(stats.bad_checksums, 0);
    // test.py's replies carry arbitrary reply numbers: accepted, counted.
    assert!(stats.reply_mismatches > 0);

    // K20: the DATA packet split across two reads.
    let mut data = unhex(K20_DATA_1);
    data.extend(unhex(K20_DATA_2));
    let script = vec![unhex(K20_CONNECT), unhex(K20_SIZES), data, unhex(ACK_ANY)];
    let (users, _, _) = scripted(script, async |c| c.read_users().await.unwrap()).await;
    assert_eq!(users.len(), 2);
    assert_eq!(users[1].name, "rmengano");
}

#[tokio::test]
async fn client_reads_a_chunk_sent_as_many_data_packets() {
    // Like test.py's broken_tcp device: PREPARE_DATA announcing 5044 bytes, then DATA packets
    // of 1008 bytes numbered in the session field, then ACK_OK, all in odd-sized writes.
    let users: Vec<UserRecord> = (1..=70)
        .map(|i| UserRecord {
            uid: i,
            privilege: 0,
            password: String::new(),
            name: format!("user {i}"),
            card: 0,
            group: String::new(),
            user_id: (5_000_000 + u32::from(i)).to_string(),
        })
        .collect();
    let table = zk::dataset(&users.iter().flat_map(|u| u.encode()).collect::<Vec<_>>());
    assert_eq!(table.len(), 5044);
    let sizes = FreeSizes {
        users: 70,
        ..FreeSizes::default()
    };
    let mut chunk = Packet::new(cmd::PREPARE_DATA, 0x3c5c, 0x16, {
        let mut d = 5044u32.to_le_bytes().to_vec();
        d.extend(1008u32.to_le_bytes());
        d
    })
    .encode_tcp();
    for (i, part) in table.chunks(1008).enumerate() {
        chunk.extend(Packet::new(cmd::DATA, i as u16, 0x16, part.to_vec()).encode_tcp());
    }
    chunk.extend(Packet::new(cmd::ACK_OK, 0, 0x16, vec![]).encode_tcp());
    let script = vec![
        unhex(K20_CONNECT),
        Packet::new(cmd::ACK_OK, 0x2058, 1, sizes.encode()).encode_tcp(),
        unhex("5050827d15000000d007a7625c3c150000b4130000b4130000cdef2300"),
        chunk,
        unhex(ACK_ANY),
    ];
    let (got, seen, _) = scripted(script, async |c| c.read_users().await.unwrap()).await;
    assert_eq!(got, users);
    assert_eq!(
        zk::decode_read_buffer_request(&seen[3].data).unwrap(),
        (0, 5044)
    );
    assert_eq!(seen[4].command, cmd::FREE_DATA);
}

// ---------------------------------------------------------------------------------------------
// (3) onecard's client against the simulator over TCP.

fn campus_users() -> Vec<User> {
    let u = |uid: u16, user_id: &str, name: &str, card: u32| User {
        uid,
        privilege: 0,
        password: String::new(),
        name: name.to_string(),
        card,
        group: String::new(),
        user_id: user_id.to_string(),
    };
    vec![
        u(1, "1001", "張偉", 8_165_537),
        u(2, "1002", "Li Na", 8_165_538),
        u(3, "1003", "王芳", 0),
    ]
}

async fn start(serial: &str, key: u32, capacity: usize) -> (Arc<Machine>, ServeHandle) {
    let clock = SimClock::new(dt("2026-03-02 08:30:00"), 0, 0.0);
    let m = Machine::new(serial, key, clock, capacity, campus_users());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = serve(listener, m.clone()).await;
    (m, h)
}

#[tokio::test]
async fn connect_with_and_without_comm_key() {
    let (m, h) = start("ZK0001", 0, 1000).await;
    let c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    assert_ne!(c.session(), 0);
    c.disconnect().await.unwrap();

    let (mk, hk) = start("ZK0002", 45, 1000).await;
    let mut c = ZkClient::connect_tcp(hk.local_addr(), 45, T).await.unwrap();
    assert_eq!(c.serial_number().await.unwrap(), "ZK0002");
    c.disconnect().await.unwrap();
    match ZkClient::connect_tcp(hk.local_addr(), 12, T).await {
        Err(TerminalError::Refused(why)) => assert!(why.contains("comm key"), "{why}"),
        Err(e) => panic!("wrong key: {e}"),
        Ok(_) => panic!("wrong key accepted"),
    }
    assert_eq!(mk.stats().auth_failures, 1);
    assert_eq!(m.stats().sessions, 1);
    // Requests before authenticating are refused, not answered.
    let mut raw = TcpStream::connect(hk.local_addr()).await.unwrap();
    let replies = raw_exchange(&mut raw, &[Packet::new(cmd::CONNECT, 0, 0, vec![])]).await;
    assert_eq!(replies[0].command, cmd::ACK_UNAUTH);
    let s = replies[0].session;
    let replies = raw_exchange(&mut raw, &[Packet::new(cmd::GET_TIME, s, 1, vec![])]).await;
    assert_eq!(replies[0].command, cmd::ACK_UNAUTH);
}

#[tokio::test]
async fn offline_machine_refuses_connections() {
    let (m, h) = start("ZK0003", 0, 100).await;
    let mut c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    assert_eq!(m.control("offline", &[]).unwrap(), "offline");
    // The open session ends, and new ones are closed at once: transport errors.
    let e = c.free_sizes().await.unwrap_err();
    assert!(e.is_transport(), "{e}");
    let e = c.free_sizes().await.unwrap_err();
    assert!(e.is_transport(), "a broken session stays broken: {e}");
    match ZkClient::connect_tcp(h.local_addr(), 0, T).await {
        Err(e) => assert!(e.is_transport(), "{e}"),
        Ok(_) => panic!("offline machine accepted a session"),
    }
    assert_eq!(m.stats().connections_refused, 1);
    m.control("online", &[]).unwrap();
    let mut c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    assert_eq!(c.free_sizes().await.unwrap().users, 3);
}

#[tokio::test]
async fn device_info_time_and_unlock() {
    let (m, h) = start("ZK0004", 0, 50_000).await;
    let mut c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    let info = c.device_info().await.unwrap();
    assert_eq!(info.serial, "ZK0004");
    assert_eq!(info.firmware, onecard::sim::zk::FIRMWARE);
    assert_eq!(info.platform, onecard::sim::zk::PLATFORM);
    assert_eq!((info.sizes.users, info.sizes.records), (3, 0));
    assert_eq!(info.sizes.cards, 2);
    assert_eq!(
        (info.sizes.record_cap, info.sizes.record_avail),
        (50_000, 50_000)
    );

    let t = c.get_time().await.unwrap();
    assert!(
        (t - dt("2026-03-02 08:30:00")).num_seconds().abs() < 5,
        "{t}"
    );
    let set = dt("2031-12-31 23:59:50");
    c.set_time(set).await.unwrap();
    let got = c.get_time().await.unwrap();
    assert!((got - set).num_seconds().abs() < 3, "{got}");
    assert!((m.clock().now() - set).num_seconds().abs() < 3);
    let e = c.set_time(dt("2100-01-01 00:00:00")).await.unwrap_err();
    assert!(matches!(e, TerminalError::Malformed(_)), "{e}");

    c.unlock(Duration::from_secs(3)).await.unwrap();
    assert_eq!(m.stats().unlocks, 1);
    c.disable_device().await.unwrap();
    assert!(!m.is_enabled());
    assert!(
        m.control("punch", &["1001"]).is_err(),
        "disabled machine takes no punches"
    );
    c.enable_device().await.unwrap();
    assert!(m.is_enabled());
    c.disconnect().await.unwrap();
    assert_eq!(m.stats().bad_checksums, 0);
}

#[tokio::test]
async fn users_write_and_read() {
    let (m, h) = start("ZK0005", 0, 100).await;
    let mut c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    let new = vec![
        User {
            uid: 4,
            privilege: 14,
            password: "1234".to_string(),
            name: "歐陽娜娜".to_string(),
            card: 9_000_001,
            group: "1".to_string(),
            user_id: "20260001".to_string(),
        },
        User {
            name: "Li Na (renamed)".to_string(),
            ..campus_users()[1].clone()
        },
    ];
    c.write_users(&new).await.unwrap();
    let got = c.read_users().await.unwrap();
    let mut want = campus_users();
    want[1] = new[1].clone();
    want.push(new[0].clone());
    assert_eq!(got, want);
    assert_eq!(m.users(), want);
    c.delete_user(4).await.unwrap();
    assert_eq!(c.read_users().await.unwrap().len(), 3);
}

#[tokio::test]
async fn attendance_download_of_12000_records_is_exact() {
    let (m, h) = start("ZK0006", 0, 100_000).await;
    assert_eq!(
        m.control("fill", &["12000"]).unwrap(),
        "added 12000 punches, 12000 in the log"
    );
    m.control("punch", &["1003", "4"]).unwrap();
    let want = m.records();
    assert_eq!(want.len(), 12_001);
    let mut c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    let started = Instant::now();
    c.disable_device().await.unwrap();
    let got = c.read_attendance().await.unwrap();
    c.enable_device().await.unwrap();
    let took = started.elapsed();
    eprintln!("downloaded {} records in {took:?}", got.len());
    assert_eq!(got.len(), want.len());
    assert!(got == want, "records differ");
    // 12,001 × 40 + 4 bytes take 8 read-buffer chunks.
    assert_eq!(got.last().unwrap().user_id, "1003");
    assert_eq!(got.last().unwrap().state, 4);
    assert!(got.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    assert_eq!(m.generated(), 12_001);
    assert_eq!(c.stats().bad_checksums, 0);
    assert_eq!(c.stats().reply_mismatches, 0);

    c.clear_attendance().await.unwrap();
    assert_eq!(c.free_sizes().await.unwrap().records, 0);
    assert!(c.read_attendance().await.unwrap().is_empty());
    assert_eq!(m.record_count(), 0);
    assert_eq!(m.generated(), 12_001, "the tally counts what was generated");
}

#[tokio::test]
async fn full_log_refuses_punches_and_says_so() {
    let (m, h) = start("ZK0007", 0, 5).await;
    assert_eq!(m.fill(7).unwrap(), 5);
    assert!(m.control("punch", &["1001"]).unwrap_err().contains("full"));
    assert_eq!(m.stats().punches_refused, 3);
    assert_eq!(m.generated(), 5);
    let mut c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    let s = c.free_sizes().await.unwrap();
    assert!(s.log_full());
    assert_eq!((s.records, s.record_avail), (5, 0));
    // A small log comes back in one CMD_DATA reply.
    assert_eq!(c.read_attendance().await.unwrap(), m.records());
}

#[tokio::test]
async fn live_event_after_a_punch() {
    let (m, h) = start("ZK0008", 0, 100).await;
    let mut c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    m.control("punch", &["1002"]).unwrap();
    c.register_events(EF_ATTLOG).await.unwrap();
    assert_eq!(m.live_listeners(), 1);
    let said = m.control("punch", &["1001", "1"]).unwrap();
    assert!(said.starts_with("punch 1001 state 1"), "{said}");
    let ev = tokio::time::timeout(T, c.next_event())
        .await
        .unwrap()
        .unwrap();
    let LiveEvent::Attendance(e) = ev else {
        panic!("{ev:?}")
    };
    let rec = m.records().pop().unwrap();
    assert_eq!((e.user_id.as_str(), e.verify, e.state), ("1001", 2, 1));
    assert_eq!(e.time(), rec.time());
    // Commands still work between events, and events arriving meanwhile are kept.
    m.control("punch", &["1003"]).unwrap();
    assert_eq!(c.free_sizes().await.unwrap().records, 3);
    let mut events = c.into_events();
    let ev = tokio::time::timeout(T, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(ev, LiveEvent::Attendance(ref e) if e.user_id == "1003"),
        "{ev:?}"
    );
    drop(events);
    assert_eq!(m.stats().garbage, 0);
}

async fn raw_exchange(s: &mut TcpStream, requests: &[Packet]) -> Vec<Packet> {
    let wire: Vec<u8> = requests.iter().flat_map(|p| p.encode_tcp()).collect();
    s.write_all(&wire).await.unwrap();
    let mut f = Framer::new();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < requests.len() {
        let n = tokio::time::timeout(T, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed");
        f.push(&buf[..n]);
        while let Some(p) = f.next_packet().unwrap() {
            got.push(p);
        }
    }
    got
}

#[tokio::test]
async fn simulator_survives_garbage_and_bad_checksums() {
    let (m, h) = start("ZK0009", 0, 100).await;
    // Pipelined requests in one write, one with a wrong checksum: all answered in order.
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    let connect = Packet::new(cmd::CONNECT, 0, 0, vec![]);
    let replies = raw_exchange(&mut s, &[connect]).await;
    let sess = replies[0].session;
    let mut bad = Packet::new(cmd::GET_FREE_SIZES, sess, 2, vec![]);
    bad.checksum ^= 0x5555;
    let replies = raw_exchange(
        &mut s,
        &[
            Packet::new(cmd::GET_VERSION, sess, 1, vec![]),
            bad,
            Packet::new(9999, sess, 3, vec![1, 2, 3]),
        ],
    )
    .await;
    assert_eq!(
        replies.iter().map(|p| p.reply).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(replies[0].command, cmd::ACK_OK);
    assert_eq!(replies[1].command, cmd::ACK_OK);
    assert_eq!(replies[2].command, cmd::ACK_UNKNOWN);
    assert!(replies.iter().all(|p| p.checksum_ok()));
    assert_eq!(m.stats().bad_checksums, 1);
    assert_eq!(m.stats().unknown_commands, 1);

    // Bytes that are no ZK frame: the connection is dropped and counted.
    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &unhex("5050827dffffff7f")[..],
    ] {
        let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
        s.write_all(junk).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(T, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "connection should be closed");
    }
    assert_eq!(m.stats().garbage, 2);
    // Chunk requests outside the prepared buffer are refused, not a crash.
    let replies = raw_exchange(
        &mut s,
        &[Packet::new(
            cmd::READ_BUFFER,
            sess,
            4,
            zk::read_buffer_request(0, 100),
        )],
    )
    .await;
    assert_eq!(replies[0].command, cmd::ACK_ERROR);
    // Still serving.
    let mut c = ZkClient::connect_tcp(h.local_addr(), 0, T).await.unwrap();
    assert_eq!(c.serial_number().await.unwrap(), "ZK0009");
}

#[test]
fn sim_terminal_contract() {
    let m = Machine::new(
        "ZK0010",
        0,
        SimClock::new(dt("2026-03-02 14:00:00"), 0, 0.0),
        10,
        campus_users(),
    );
    assert_eq!(m.id(), "attendance/ZK0010");
    assert_eq!(m.kind(), onecard::sim::TerminalKind::AttendanceMachine);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    for _ in 0..4 {
        m.traffic(&mut rng);
    }
    // Three users, and one punch per user in a second: the fourth step finds nobody free.
    assert_eq!(m.generated(), 3);
    // Afternoon: check-out by default.
    assert!(m.records().iter().all(|r| r.state == 1));
    assert!(m.control("punch", &["nobody"]).is_err());
    assert!(m.control("punch", &["1001", "x"]).is_err());
    assert!(m.control("dance", &[]).is_err());
    assert_eq!(
        m.control("fill", &["10"]).unwrap(),
        "added 7 punches, 10 in the log"
    );
    assert_eq!(m.generated(), 10);
    let first = m.records()[0].time().unwrap();
    assert_eq!(first.date(), NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
}

// ---------------------------------------------------------------------------------------------
// (4) The real pyzk 0.9 against the simulator.

async fn pyzk(port: u16, password: u32, op: &str, args: &[&str]) -> serde_json::Value {
    let mut argv = vec![port.to_string(), password.to_string(), op.to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        python::run_ok("zk_ops.py", &argv)
    })
    .await
    .unwrap();
    serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzk_reads_info_users_time_and_clears() {
    let (m, h) = start("ZKPY0001", 0, 30_000).await;
    let port = h.local_addr().port();
    m.fill(25).unwrap();

    let info = pyzk(port, 0, "info", &[]).await;
    assert_eq!(info["firmware"], onecard::sim::zk::FIRMWARE);
    assert_eq!(info["serial"], "ZKPY0001");
    assert_eq!(info["platform"], onecard::sim::zk::PLATFORM);
    assert_eq!(info["users"], 3);
    assert_eq!(info["records"], 25);
    assert_eq!(info["rec_cap"], 30_000);
    assert_eq!(info["rec_av"], 30_000 - 25);
    assert_eq!(info["pin_width"], 9);

    let users = pyzk(
        port,
        0,
        "users",
        &["7:20260007:趙敏:14:4321:123456", "2:1002:Li Na B:0::0"],
    )
    .await;
    let list = users["users"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["name"], "張偉");
    assert_eq!(list[0]["card"], 8_165_537);
    assert_eq!(list[1]["name"], "Li Na B");
    assert_eq!(list[3]["user_id"], "20260007");
    let zhao = m.users().into_iter().find(|u| u.uid == 7).unwrap();
    assert_eq!(
        (
            zhao.name.as_str(),
            zhao.privilege,
            zhao.password.as_str(),
            zhao.card,
            zhao.user_id.as_str()
        ),
        ("趙敏", 14, "4321", 123_456, "20260007")
    );

    let t = pyzk(port, 0, "time", &["2027-02-28 23:59:58"]).await;
    let got = dt(t["time"].as_str().unwrap());
    assert!(
        (got - dt("2027-02-28 23:59:58")).num_seconds().abs() < 3,
        "{got}"
    );

    let cleared = pyzk(port, 0, "clear", &[]).await;
    assert_eq!(cleared["records"], 0);
    assert_eq!(cleared["attendance"], 0);
    assert_eq!(m.record_count(), 0);

    pyzk(port, 0, "unlock", &["5"]).await;
    assert_eq!(m.stats().unlocks, 1);
    // pyzk's checksums are right after all (its two off-by-ones cancel out).
    let stats = m.stats();
    assert_eq!(stats.bad_checksums, 0);
    assert_eq!(stats.garbage, 0);
    assert_eq!(stats.unknown_commands, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzk_with_comm_key() {
    let (m, h) = start("ZKPY0003", 4711, 100).await;
    let port = h.local_addr().port();
    let info = pyzk(port, 4711, "info", &[]).await;
    assert_eq!(info["serial"], "ZKPY0003");
    let refused = pyzk(port, 4712, "refused", &[]).await;
    assert_eq!(refused["refused"], "Unauthenticated");
    assert_eq!(m.stats().auth_failures, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzk_downloads_12000_records() {
    let (m, h) = start("ZKPY0004", 0, 100_000).await;
    m.fill(12_000).unwrap();
    let recs = m.records();
    let att = pyzk(h.local_addr().port(), 0, "attendance", &[]).await;
    eprintln!(
        "pyzk downloaded {} records in {} s",
        att["count"], att["seconds"]
    );
    assert_eq!(att["count"], 12_000);
    for (key, r) in [
        ("first", &recs[0]),
        ("middle", &recs[6000]),
        ("last", &recs[11_999]),
    ] {
        let a = &att[key];
        assert_eq!(a["user_id"], r.user_id.as_str(), "{key}");
        assert_eq!(a["uid"], r.uid, "{key}");
        assert_eq!(a["verify"], r.verify, "{key}");
        assert_eq!(a["state"], r.state, "{key}");
        let t = r.time().unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
        assert_eq!(a["time"], t.as_str(), "{key}");
    }
    assert!(m.is_enabled());
    assert_eq!(m.stats().bad_checksums, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzk_live_capture_receives_punches() {
    let (m, h) = start("ZKPY0005", 0, 100).await;
    let port = h.local_addr().port().to_string();
    let script = tokio::task::spawn_blocking(move || {
        python::run_ok("zk_live.py", &[port.as_str(), "0", "2", "30"])
    });
    // Punch only once pyzk has registered for events (live_capture's last step).
    let deadline = Instant::now() + Duration::from_secs(60);
    while m.live_listeners() == 0 {
        assert!(
            Instant::now() < deadline,
            "pyzk never registered for events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut punched = Vec::new();
    for (user, state) in [("1002", "0"), ("1003", "5")] {
        m.control("punch", &[user, state]).unwrap();
        punched.push(m.records().pop().unwrap());
        // pyzk reads one packet per recv: two events in one read would be misparsed.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let out = script.await.unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    for (line, r) in lines.iter().zip(&punched) {
        assert_eq!(line["user_id"], r.user_id.as_str());
        assert_eq!(line["uid"], r.uid);
        assert_eq!(line["state"], r.state);
        assert_eq!(line["verify"], r.verify);
        let t = r.time().unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
        assert_eq!(line["time"], t.as_str());
    }
    assert_eq!(lines[2]["done"], 2);
    // pyzk unregistered (reg_event(0)) and left.
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.live_listeners() != 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = m.stats();
    assert_eq!((s.bad_checksums, s.garbage, s.unknown_commands), (0, 0, 0));
}
