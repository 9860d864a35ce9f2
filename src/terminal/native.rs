//! onecard's own RS-485 protocol ("native") for canteen POS terminals, patrol readers and the
//! desk card reader. This page is the whole specification: a firmware engineer can build a
//! device from it, and a technician can read a line trace with it.
//!
//! No public wire protocol exists for these devices, so onecard defines one, modelled on OSDP
//! framing (SOM, LEN, CTRL with a 2-bit SEQ, retry answered from cache) and Modbus RTU
//! addressing and timing (machine numbers, t3.5 gap, CRC-16/MODBUS).
//!
//! # 1. Physical line
//!
//! Two-wire RS-485, half duplex, one master (the onecard poller) and up to 247 devices on one
//! bus. Default 9600 baud 8N1; any of 9600, 19200, 38400, 57600, 115200 with 8N1, 8E1, 8O1 or
//! 8N2 may be configured, identically on every device of the bus. A serial-to-Ethernet converter
//! in transparent (raw) mode carries the same bytes over TCP unchanged, or in UDP datagrams (in
//! order, a frame possibly split over several datagrams, which the framer joins).
//!
//! # 2. Frame
//!
//! ```text
//! offset size field
//!   0     1   SOM    0xA5
//!   1     1   ADDR   machine number of the addressed device, in requests and in replies
//!   2     2   LEN    u16 little-endian: the whole frame, SOM through CRC, 8..=512
//!   4     1   CTRL   bits 0-1 SEQ, bit 2 REPLY, bits 3-7 reserved (send 0, ignore on receipt)
//!   5     1   CMD    command code; a reply echoes it, a NAK sets bit 7
//!   6     n   DATA   n = LEN - 8, at most 504
//! 6+n     2   CRC    CRC-16/MODBUS over SOM..DATA, low byte first
//! ```
//!
//! * **Byte order**: every multi-byte integer is little-endian (LEN and CRC included). Times
//!   and dates are BCD, most significant digit first (§9).
//! * **CRC-16/MODBUS**: width 16, poly 0x8005 (0xA001 reflected), init 0xFFFF, refin true,
//!   refout true, xorout 0x0000, **check 0x4B37** (the CRC of ASCII `123456789`). It detects
//!   every error burst of up to 16 bits, so every single corrupted byte.
//! * **Addresses**: 1..=247 are machine numbers (DIP switch or menu, unique per bus). 0 is
//!   reserved and never sent. 248..=254 are reserved. 255 is broadcast, allowed only for
//!   SET_TIME, and never answered. A reply carries the replying device's own address.
//! * **REPLY bit**: clear in requests, set in replies. A device ignores every frame with REPLY
//!   set (other devices' replies on the shared bus); the master ignores every frame with REPLY
//!   clear (the local echo some RS-485 adapters produce of its own request).
//!
//! Example, POLL to machine 3 with SEQ 1, and its reply (condition RECORDS_PENDING, 5 records):
//!
//! ```text
//! request  A5 03 08 00 01 01 9E DE
//! reply    A5 03 13 00 05 01 06 20 05 00 00 00 00 00 00 00 00 D9 8B
//! ```
//!
//! Broadcast SET_TIME 2026-11-22 08:30:00: `A5 FF 0F 00 00 05 20 26 11 22 08 30 00 6D 0C`.
//!
//! # 3. Bus discipline
//!
//! * **One outstanding request per bus.** The master sends a request and waits for its reply or
//!   its timeout before sending anything else. Devices only ever speak in reply.
//! * **Turnaround**: a device starts its reply within **50 ms** of the last byte of the request.
//!   Work that takes longer (flash writes) is done after replying; a device never replies late.
//! * **Gap**: frames are separated by at least t3.5 of idle line: 3.5 character times, fixed at
//!   1.75 ms above 19200 baud (as Modbus RTU). A device waits t3.5 after a request before
//!   driving the line; the master waits t3.5 after a reply before the next request. Inside a
//!   frame, characters follow each other without pause.
//! * **Only the addressed device answers**, and none answers a broadcast.
//!
//! # 4. Receiving and resynchronisation
//!
//! Both sides use the same receiver (see [`frame::Framer`]); it keeps a buffer and repeats:
//!
//! 1. Discard bytes up to the next 0xA5 (SOM).
//! 2. With 4 bytes in hand, check ADDR ≠ 0 and 8 ≤ LEN ≤ 512. If not, this was not a SOM:
//!    drop that one byte and go to 1.
//! 3. Wait for LEN bytes, then check the CRC. If it fails, drop **only the SOM byte** and go to
//!    1: the real next frame may begin inside the bad one.
//! 4. A good frame: consume LEN bytes, hand it up.
//!
//! A device also drops a partial frame after t3.5 of silence, so a false SOM that claims a
//! long frame cannot swallow the requests after it (the simulator uses 50 ms, its input
//! arriving in OS-sized chunks). The master clears its buffer before every request, so stale
//! bytes never join a new exchange.
//!
//! # 5. CTRL, SEQ and exactly-once execution
//!
//! * The master keeps a SEQ per machine number. The first request to a device, and the first
//!   after an exchange that got only silence or corrupted replies (the device may have
//!   restarted), carries **SEQ 0** ("reset"); then 1, 2, 3, 1, 2, 3, … one step per new
//!   request, whatever the outcome of the previous one.
//! * **A retry reuses the SEQ** and repeats the request byte for byte.
//! * The device keeps its last executed request (SEQ, CMD, DATA) and the reply it sent. When
//!   a request arrives with the **same SEQ, CMD and DATA**, it re-sends the cached reply and
//!   does **not** execute again: a purchase whose reply was lost is not charged twice. Any
//!   other request is executed and replaces the cache. A device does not check that SEQ
//!   advances (the master may restart at 0 at any time) and never caches a broadcast.
//! * SEQ 0 is cached like any other: a lost reply to a SEQ 0 request is also recovered.
//! * NAK BAD_CRC and NAK BUSY are **not** cached (nothing was executed); the retry executes.
//!
//! # 6. Reply timeout and retries
//!
//! ```text
//! T_char   = bits_per_char / baud            (10 for 8N1; 11 for 8E1, 8O1, 8N2)
//! t3.5     = max(3.5 × T_char, 1.75 ms)
//! timeout  = (L_request + L_reply_max) × T_char + 2 × t3.5 + T_turnaround + T_slack
//!            T_turnaround = 50 ms (the device budget, §3)
//!            T_slack      = 20 ms (USB adapter latency timers, e.g. FTDI's 16 ms default)
//! ```
//!
//! L_reply_max is the longest reply the command can get (8 + the largest DATA in §8). Over TCP
//! or UDP with no baud named the wire terms are zero and T_slack (50 ms) covers the network. A
//! TCP or UDP line that names the baud of the bus behind its converter (the line's `baud`,
//! parity and stop bits) is timed as a serial line at that speed, with T_slack 70 ms; its
//! record batches are also cut to about 2 s of wire time. Values in ms:
//!
//! | baud | bits/char | T_char | t3.5 | POLL (8 + 19 B) | largest exchange (13 + 512 B) |
//! |---|---|---|---|---|---|
//! | 9600 | 10 | 1.042 | 3.65 | 105.4 | 624.2 |
//! | 9600 | 11 | 1.146 | 4.01 | 109.0 | 679.6 |
//! | 19200 | 10 | 0.521 | 1.82 | 87.7 | 347.1 |
//! | 19200 | 11 | 0.573 | 2.01 | 89.5 | 374.8 |
//! | 38400 | 10 | 0.260 | 1.75 | 80.5 | 210.2 |
//! | 38400 | 11 | 0.286 | 1.75 | 81.2 | 223.9 |
//! | 57600 | 10 | 0.174 | 1.75 | 78.2 | 164.6 |
//! | 57600 | 11 | 0.191 | 1.75 | 78.7 | 173.8 |
//! | 115200 | 10 | 0.087 | 1.75 | 75.8 | 119.1 |
//! | 115200 | 11 | 0.095 | 1.75 | 76.1 | 123.6 |
//!
//! * **Retries**: 3 after the first attempt, same SEQ. Bytes arriving keep an attempt open
//!   until the line has been quiet for t3.5 + T_slack (a reply that trickles in byte by byte
//!   is read to its end; a good reply may follow a bad frame); then the request is sent again.
//!   A NAK BAD_CRC ends the attempt after that quiet; a NAK BUSY is retried after 50 ms.
//! * **Deadline**: a whole exchange, retries included, never lasts longer than
//!   4 × (timeout + t3.5 + T_slack), and never longer than 10 s, whatever is on the line.
//! * **Outcome** ([`crate::terminal::TerminalError`]): silence after all attempts → `Timeout`
//!   (the line is in doubt); something heard but no valid reply → `Malformed`, with what was
//!   heard ([`link::Heard`]: frames with a bad CRC and the machine number they claim, a frame
//!   cut short, a LEN no frame can have, noise, or a line that never went quiet, naming the
//!   machine that babbles). A host treats that as a comm fault, not as a device offline. Any
//!   NAK (after the retries for BAD_CRC and BUSY) → `Refused` (the device answered).
//! * After a timed-out AUTH_RESULT the outcome is unknown to the host: it sends the same answer
//!   again, and if the purchase was stored it arrives as an online record (§8.4). The host never
//!   guesses.
//!
//! # 7. NAK
//!
//! A device that cannot carry out a request replies with CMD = request CMD | 0x80 and one byte
//! of DATA, the reason. A request with a bad CRC whose frame is otherwise plausible and
//! addressed to the device (and began where a frame was expected) gets CMD 0xFF, reason 0x01,
//! SEQ 0: nothing in the request can be trusted, so the master accepts it whatever its SEQ.
//!
//! | code | reason | cached | master |
//! |---|---|---|---|
//! | 0x01 | BAD_CRC: the request failed its CRC | no | retry, then `Refused` |
//! | 0x02 | UNKNOWN_COMMAND: CMD not known or not for this kind of device | yes | `Refused` |
//! | 0x03 | BAD_PARAMETER: DATA too short or long, a value out of range, a chunk out of order | yes | `Refused` |
//! | 0x04 | MEMORY_FULL: the record memory is full, the purchase is refused | yes | `Refused` |
//! | 0x05 | BUSY: try again shortly (nothing executed) | no | retry after 50 ms, then `Refused` |
//!
//! # 8. Commands
//!
//! DATA layouts, in order, little-endian. `time` is 7 BCD bytes, `date` 4 BCD bytes (§9).
//! Money is always integer **fen** (分, 0.01 yuan): `u32` for amounts asked, `i32` in records
//! and balances, `i64` for sums.
//!
//! | CMD | name | devices | request DATA | reply DATA |
//! |---|---|---|---|---|
//! | 0x01 | POLL | all | — | status u8, conditions u8, stored u32, card u32, card_state u8 (11) |
//! | 0x02 | GET_INFO | all | — | kind u8, model 16 B ASCII NUL-padded, firmware 8 B ASCII NUL-padded, serial u32, first_unacked u32, next_record u32, capacity u32 (41) |
//! | 0x03 | GET_STATUS | all | — | kind u8, conditions u8, clock time, stored u32, capacity u32, table_a version u32, table_a count u32, table_b version u32, table_b count u32, uptime_s u32 (37) |
//! | 0x04 | GET_TIME | all | — | time |
//! | 0x05 | SET_TIME | all, broadcast allowed | time | 0x00 |
//! | 0x06 | READ_RECORDS | all | from u32, max u8 | kind u8, count u8, next_record u32, count × record |
//! | 0x07 | ACK_RECORDS | all | up_to u32 | first_unacked u32 |
//! | 0x10 | (reserved: ONLINE_AUTH of protocol 1.0, host-initiated with a balance the POS kept; NAKed UNKNOWN_COMMAND) | | | |
//! | 0x11 | DOWNLOAD_BLACKLIST | POS | chunk (§8.6) | active_version u32, active_count u32, received u32 |
//! | 0x12 | SET_PRICE_TABLE | POS | n u8 (≤ 16), n × (slot u8, start_minute u16, price_fen u32) | 0x00 |
//! | 0x13 | SET_LIMITS | POS | per_purchase_fen u32, daily_count u16, pin_above_fen u32, offline_daily_fen u32 | 0x00 |
//! | 0x14 | DAILY_TOTALS | POS | date | date, count u32, sum_fen i64 |
//! | 0x15 | AUTH_REQUEST | POS | — | pending u8 (0/1); when 1: txn_no u32, card u32, amount_fen u32, pin 6 B ASCII digits (all 0x00: none typed), time (26; 1 when none) |
//! | 0x16 | AUTH_RESULT | POS | txn_no u32, result u8, balance_fen i32 | record_no u32 (0 when declined) |
//! | 0x17 | READ_TXN | POS | txn_no u32 | state u8: 0 void, 1 sold + the purchase record (§8.4), 2 unknown (§8.8) |
//! | 0x20 | DOWNLOAD_GUARDS | patrol | chunk of guard card numbers | as 0x11 |
//! | 0x21 | DOWNLOAD_CHECKPOINTS | patrol | chunk of checkpoint tag numbers | as 0x11 |
//! | 0x30 | CARD_PRESENT | desk | — | card u32, card_state u8 |
//!
//! A device kind: 1 POS, 2 patrol reader, 3 desk reader. A command meant for another kind is
//! NAKed UNKNOWN_COMMAND; DATA of the wrong length is NAKed BAD_PARAMETER.
//!
//! ## 8.1 POLL and conditions
//!
//! POLL is what the master sends round the bus all day; it returns the most urgent pending
//! condition in `status` so alarms arrive within one poll cycle, and all of them as bits in
//! `conditions`. `status` = the lowest active code, 0 when none; bit (code − 1) of
//! `conditions` is set for each active code (bit 7 reserved).
//!
//! | code | condition | meaning |
//! |---|---|---|
//! | 1 | MEMORY_FULL | record memory full: offline purchases and scans are refused |
//! | 2 | CLOCK_LOST | the clock was not set since power-up |
//! | 3 | MEMORY_NEARLY_FULL | at least 90 % of capacity holds unacknowledged records |
//! | 4 | TABLES_MISSING | a table (blacklist; guards or checkpoints) was never downloaded |
//! | 5 | CARD_PRESENT | desk reader: a card was presented (`card`, `card_state`) |
//! | 6 | RECORDS_PENDING | unacknowledged records are stored |
//! | 7 | AUTH_PENDING | POS: a purchase waits for the host's authorisation (§8.5) |
//!
//! `card_state`: 0 no card (card = 0), 1 new (unknown to the reader: a blank to issue),
//! 2 used (already issued). A presented card is reported once, by the next POLL or
//! CARD_PRESENT; a retry gets it again from the SEQ cache.
//!
//! ## 8.2 GET_INFO, GET_STATUS, time
//!
//! `first_unacked` is the oldest record still held (equal to `next_record` when memory is
//! empty); `next_record − first_unacked` records are stored. For GET_STATUS, table_a is the
//! blacklist (POS) or the guards table (patrol); table_b is the price table (POS: version 0,
//! count = entries) or the checkpoints table (patrol); both zero on the desk reader.
//! SET_TIME sets the device's local clock; to a broadcast address nobody answers, and the
//! master waits frame time + t3.5 + 50 ms before using the bus again.
//!
//! ## 8.3 Records: READ_RECORDS and ACK_RECORDS (ack-then-free)
//!
//! Every stored record has a **record number**, u32, starting at 1, increasing by one per
//! record, **never reused** (not even after a memory clear or a power cycle). Records stay in
//! memory until acknowledged:
//!
//! * READ_RECORDS(from, max) returns the held records numbered ≥ `from`, in order, at most
//!   `max` and at most what fits in one frame (17 purchases or 24 scans). It never frees
//!   anything: reading twice returns the same records. `next_record` lets the host see whether
//!   more are waiting. kind: 0 the device keeps no records (the desk reader: count 0,
//!   next_record 1), 1 purchase, 2 scan.
//! * ACK_RECORDS(up_to) frees every record numbered ≤ `up_to` and returns the new
//!   `first_unacked`. Acknowledging an already-freed number changes nothing (a repeated ack is
//!   harmless); `up_to ≥ next_record` is NAKed BAD_PARAMETER.
//! * The host reads from its own last stored number + 1, commits the records (unique on
//!   terminal and record number) and only then acknowledges. A crash in between means the
//!   records are read again and deduplicated, never lost.
//! * When memory is full the device refuses new purchases or scans (a POS starts no online
//!   purchase and stores nothing offline; an AUTH_RESULT approving one is NAKed MEMORY_FULL) and
//!   raises MEMORY_FULL until records are acknowledged.
//!
//! ## 8.4 Record layouts
//!
//! POS purchase, 29 bytes:
//!
//! | offset | field | type |
//! |---|---|---|
//! | 0 | record_no | u32 |
//! | 4 | time (terminal local) | time |
//! | 11 | card | u32 |
//! | 15 | amount_fen | i32 |
//! | 19 | balance_after_fen (online: the host's balance after it; offline: 0) | i32 |
//! | 23 | txn_no (terminal transaction counter) | u32 |
//! | 27 | meal_slot (from the price table; 0 = none) | u8 |
//! | 28 | mode: 0 offline (stored at the terminal), 1 online (approved by the host's AUTH_RESULT, with its balance) | u8 |
//!
//! Patrol scan, 20 bytes:
//!
//! | offset | field | type |
//! |---|---|---|
//! | 0 | record_no | u32 |
//! | 4 | time | time |
//! | 11 | guard (card number) | u32 |
//! | 15 | checkpoint (tag number) | u32 |
//! | 19 | event: 0 normal, 1 guard not in the guards table, 2 tag not in the checkpoints table | u8 |
//!
//! Example purchase, record 1, 2026-11-22 08:30:00, card 8165537, 12.50 yuan, balance 487.50,
//! txn 1016, slot 1, offline:
//! `01 00 00 00 20 26 11 22 08 30 00 A1 98 7C 00 E2 04 00 00 6E BE 00 00 F8 03 00 00 01 00`.
//!
//! ## 8.5 Online authorisation: AUTH_PENDING, AUTH_REQUEST, AUTH_RESULT
//!
//! The account on the host is the truth; a POS online keeps no balances. When the cashier keys
//! an amount and a card is presented, the POS gives the purchase its next transaction number
//! (`txn_no`, never 0), asks for the payment PIN when the cardholder's limit calls for it (the
//! host says so: a first answer of reason 5), and waits: its POLL shows AUTH_PENDING. Devices
//! only ever answer, so the host asks:
//!
//! 1. AUTH_REQUEST returns the waiting purchase: `txn_no`, `card`, `amount_fen` (1..=2³¹−1),
//!    the PIN as six ASCII digits (all 0x00 when none was typed) and the time the card was
//!    presented. With nothing waiting the reply is one byte, 0.
//! 2. The host decides in one transaction (card state and blacklist, validity, balance, the
//!    per-purchase limit with the PIN above it, the daily count) and posts the purchase.
//! 3. AUTH_RESULT carries the answer: `txn_no` of the waiting purchase, `result` 0 (approved)
//!    or a reason below, and `balance_fen`, the balance the POS shows (after the purchase, or
//!    as it stands). Approved, the POS stores an online record (mode 1) with that balance and
//!    answers its record number; declined, it stores nothing and answers 0. Either way the
//!    purchase no longer waits.
//!
//! The host keeps its answer per (terminal, `txn_no`): a request read again (the host crashed
//! between deciding and answering) gets the same answer and posts nothing twice, and the POS
//! answers a repeated AUTH_RESULT for the transaction it just finished with the same record
//! number. While one purchase waits, the POS starts no other.
//!
//! **No answer in time** (the POS's setting, 3 s by default): the POS stops waiting and
//! treats the purchase as offline (below), under **the same** `txn_no`: sold, it stores an
//! offline record (mode 0); refused by its offline rules, it stores nothing. Either way the
//! purchase no longer waits, and the host posts it, if at all, from the uploaded record: by
//! (terminal, epoch, `txn_no`), so a purchase the host had approved and posted is matched and
//! not posted again, and one it declined or never read is posted then (an overdraw as any
//! offline purchase's). A **late AUTH_RESULT** for a transaction the POS finished this way is
//! acknowledged with `record_no` 0 and ignored: the offline outcome stands, and the host stops
//! sending it. An approval the POS then refused offline leaves a posting with no record: the
//! daily totals (0x14) show the difference. An AUTH_RESULT for any other transaction is NAKed
//! BAD_PARAMETER.
//!
//! Reasons: 1 insufficient balance, 2 blacklisted, 3 over the per-purchase limit, 4 daily
//! purchase count reached, 5 payment PIN required, 6 card unknown, 7 card not valid today
//! (expired or not yet valid), 8 wrong payment PIN, 9 the card may not pay, 10 the terminal is
//! not in service (no approved merchant owns it), 11 over the offline limit. The PIN crosses
//! the bus only inside the AUTH_REQUEST reply; onecard's frame trace shows it as `******`.
//!
//! **Offline** (the host does not answer), the POS sells by itself, within its own rules, and
//! stores an offline record (mode 0) with `balance_after_fen` 0: it keeps no balances, and the
//! host posts the purchase when the record is uploaded. It refuses, with the reasons above, a
//! card on its blacklist (2), an amount above `pin_above` (5: the PIN cannot be checked without
//! the host), above `per_purchase` (3), past the daily count (4), and what would take the
//! card's offline spending on that local day past `offline_daily` (11).
//!
//! ## 8.6 Chunked tables: blacklist, guards, checkpoints
//!
//! A chunk is `version u32, total u32, offset u32, n u8 (≤ 120), n × u32`. `version` (≠ 0)
//! names the whole list, `total` is its length, `offset` the index of the chunk's first entry.
//!
//! * offset 0 starts receiving a new list (any half-received one is discarded);
//! * each next chunk must carry the same version and total and `offset` = entries received so
//!   far, and must not overrun `total`; otherwise NAK BAD_PARAMETER and the partial list is
//!   discarded (the host starts again at offset 0);
//! * when `received` reaches `total` the new list replaces the one in force, atomically, and
//!   `active_version` becomes `version`. **A half-sent list is never used.** An empty list is
//!   one chunk with total 0, n 0.
//!
//! ## 8.7 Price table, limits, totals
//!
//! SET_PRICE_TABLE replaces the meal slots: each entry starts at `start_minute` after local
//! midnight (< 1440) and lasts until the next one; `price_fen` 0 means the cashier keys the
//! amount. SET_LIMITS: 0 in a field means no limit; `offline_daily_fen` bounds what one card
//! spends offline on one local day. DAILY_TOTALS(date) returns the number and
//! sum of purchases (online and offline) the terminal made on that local date, kept for at
//! least 62 days whether or not the records were acknowledged: reconciliation compares them
//! with the records received.
//!
//! ## 8.8 The journal: READ_TXN
//!
//! A POS journals every transaction number it uses, whether a sale was stored under it or not,
//! for far longer than its upload memory holds records (the simulator keeps the last 100,000).
//! When the records the host received skip transaction numbers, the host asks the journal
//! about each, after the upload, a few per visit: **void** (the number was used for no sale: a
//! sale abandoned, a refused offline fallback), **sold** with the purchase record (it may have
//! been written over in the upload memory before it was collected: the host stores it under its
//! record number and posts it; if it still waits there, it is read again and stored once), or
//! **unknown** (older than the journal, or never issued). The host never guesses a missing
//! purchase: a void number stops being missing, an unknown one stays listed, and a POS that
//! NAKs READ_TXN (UNKNOWN_COMMAND: an older firmware) is asked again after its next upload.
//!
//! # 9. Time
//!
//! Terminal clocks are local wall time without zone. `time` = 7 BCD bytes `YY YY MM DD hh mm
//! ss` (2026-11-22 08:30:00 = `20 26 11 22 08 30 00`); `date` = the first 4. An invalid digit
//! or date is BAD_PARAMETER in a request, `Malformed` in a reply.
//!
//! # 10. Multi-drop and several connections
//!
//! Several devices share one stream; each answers only its own address. A converter (or the
//! simulator) that accepts TCP connections gives the bus to the **newest** master connection
//! and closes the one before it: two masters never talk over each other on one bus, and a
//! master that reconnects after a network fault takes the bus back at once.
//!
//! # 11. What a builder must not have to guess
//!
//! * **Where a line is** (the inventory's `line_address`, column `line_address` of
//!   `onecard terminal import`): for `transport` `serial`, the device path (`/dev/ttyUSB0`,
//!   `/dev/serial/by-id/...`), with `baud` (and the line's parity and stop bits) in their own
//!   columns; for `tcp` or `udp`, `host:port` of the serial-to-Ethernet converter
//!   (`10.0.3.21:4001`; port 4001 when it is left out). Over UDP onecard sends from one port and
//!   hears only the converter's address, so the converter answers the last sender. The machine number is the terminal's `address`, 1-247.
//! * **"0x00" in a reply column** means DATA is exactly one byte, 0: the command was carried
//!   out. A reply of any other length is `Malformed`.
//! * **The framer, in words** (§4): keep a byte buffer; drop bytes until 0xA5; with four bytes
//!   check the machine number (≠ 0) and LEN (8-512), else drop one byte and look again; with
//!   LEN bytes check the CRC, and on a failure drop only the 0xA5 and look again from the next
//!   byte; a frame that passes is taken out whole. A device also forgets a partial frame after
//!   t3.5 of silence.
//! * **READ_RECORDS in detail.** `next_record` in the reply is the number the device will give
//!   its next record (as in GET_INFO), read when it answers: `next_record − 1` is its newest.
//!   `max` = 0 returns `count` 0 with `kind` and `next_record` filled in (a cheap way to ask
//!   how far the device has got). `from` below `first_unacked` returns from `first_unacked`:
//!   freed records are gone, and the host sees the jump in the first record number. `from` at
//!   or above `next_record` returns `count` 0. A device that overwrites its oldest records when
//!   memory is full (this protocol asks it to refuse instead) shows the loss the same way: the
//!   host records the jump past records it never acknowledged as a gap and raises one
//!   `records_lost` alarm naming the range.
//! * **When a device NAKs BAD_CRC**: only for a frame that starts with 0xA5 as the first byte
//!   after at least t3.5 of silence, carries its own machine number and a LEN of 8-512, and
//!   whose LEN bytes all arrived, but whose CRC fails. Anything less plausible (noise, a frame
//!   for another device, a frame cut short) gets no answer at all: the master's timeout
//!   covers it.
//! * **What starts an online authorisation**: the POS, by raising AUTH_PENDING; the host
//!   reads it with AUTH_REQUEST and answers with AUTH_RESULT (§8.5). Devices only ever answer.
//!   A purchase the POS makes by itself, without the host, is an offline record (mode 0).
//! * **The command queue's JSON**, for technicians who script commands (one row in
//!   `terminal_command`, column `command`; the line's owner runs it and writes `state`,
//!   `outcome` and `progress`):
//!
//! ```text
//! {"op":"online_test"}          {"op":"set_time"}          {"op":"clear_records"}
//! {"op":"extract"}              {"op":"download_cards"}
//! {"op":"open_door","door":1}
//! {"op":"set_door_mode","door":1,"mode":"controlled","unlock_secs":3}
//!                               (mode: controlled, normally_open, normally_closed)
//! {"op":"push_cards","cards":[{"card":8165537, ...}]}
//! {"op":"revoke_cards","cards":[{"card":8165537, ...}]}
//! {"op":"push_blacklist","cards":[8165537,8165600]}
//! ```
//!
//! The exact fields of a pushed or revoked card are those of
//! [`crate::db::command::CardGrant`] and [`crate::db::command::CardRevoke`], serialised
//! with serde's defaults (snake_case field names).

pub mod frame;
pub mod link;
pub mod message;

pub use frame::{crc16, Frame, FrameError, Framer, FramerEvent, BROADCAST, CRC_CHECK, SOM};
pub use link::{
    next_seq, Bus, DeviceLink, Heard, Incoming, LinkStats, SeqCache, Table, Timing, TraceDir,
    TraceEntry, MAX_EXCHANGE,
};
pub use message::{
    cmd, AuthResult, CardPresence, Condition, Conditions, DailyTotals, DecodeError, DenyReason,
    DeviceInfo, DeviceKind, DeviceStatus, Limits, NakReason, PendingAuth, PollStatus, PriceEntry,
    PurchaseMode, PurchaseRecord, RecordBatch, Records, Reply, Request, ScanEvent, ScanRecord,
    TableChunk, TableProgress, TableState, TxnState,
};

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn hexs(b: &[u8]) -> String {
        b.iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The examples in the module docs.
    #[test]
    fn documented_examples() {
        let poll = Frame::request(3, 1, cmd::POLL, vec![]).encode().unwrap();
        assert_eq!(hexs(&poll), "A5 03 08 00 01 01 9E DE");
        let status = PollStatus {
            conditions: Conditions::default().with(Condition::RecordsPending, true),
            stored: 5,
            card: None,
        };
        let reply = Frame::reply_to(
            &Frame::decode(&poll).unwrap(),
            cmd::POLL,
            Reply::Poll(status).encode(),
        );
        assert_eq!(
            hexs(&reply.encode().unwrap()),
            "A5 03 13 00 05 01 06 20 05 00 00 00 00 00 00 00 00 D9 8B"
        );
        let t = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(8, 30, 0)
            .unwrap();
        let set = Frame::request(BROADCAST, 0, cmd::SET_TIME, Request::SetTime(t).encode());
        assert_eq!(
            hexs(&set.encode().unwrap()),
            "A5 FF 0F 00 00 05 20 26 11 22 08 30 00 6D 0C"
        );
        let rec = PurchaseRecord {
            record_no: 1,
            at: t,
            card: 8165537,
            amount_fen: 1250,
            balance_after_fen: 48750,
            txn_no: 1016,
            meal_slot: 1,
            mode: PurchaseMode::Offline,
        };
        let mut b = vec![];
        rec.encode(&mut b);
        assert_eq!(
            hexs(&b),
            "01 00 00 00 20 26 11 22 08 30 00 A1 98 7C 00 E2 04 00 00 6E BE 00 00 F8 03 00 00 01 00"
        );
    }
}
