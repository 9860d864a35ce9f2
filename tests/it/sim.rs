//! `onecard sim`: the site file, the documented ports, the control interface and the tally.

use onecard::sim::site::{NativeKind, Ports, SiteConfig, SiteError};

#[test]
fn the_demo_site_is_valid_and_documented_ports_hold() {
    let demo = SiteConfig::demo();
    assert_eq!(demo.door_controllers.len(), 4);
    assert_eq!(demo.attendance_machines.len(), 2);
    assert!(demo
        .lines
        .iter()
        .any(|l| l.terminals.iter().any(|t| t.kind == NativeKind::DeskReader)));
    let p = Ports::new(None).unwrap();
    assert_eq!(
        (p.uhppote, p.zk_first, p.line_first, p.control),
        (60000, 4370, 4400, 4499)
    );
    let p = Ports::new(Some(20000)).unwrap();
    assert_eq!(
        (p.uhppote, p.zk_first, p.line_first, p.control),
        (20000, 20010, 20020, 20099)
    );
    assert!(Ports::new(Some(80)).is_err());
}

#[test]
fn a_site_file_parses_and_bad_ones_are_named() {
    let text = r#"
seed = 7
rate = 250.0

[cards]
first = 1000
count = 10

[[door_controllers]]
serial = 423187757
doors = 2
drift_ppm = 35.0

[[attendance_machines]]
serial = "OCK9"
comm_key = 12

[[lines]]
name = "canteen"
noise_percent = 2.5
terminals = [
  { kind = "pos", machine_no = 1 },
  { kind = "pos", machine_no = 2, capacity = 100 },
]
"#;
    let site = SiteConfig::parse(text, "site.toml").unwrap();
    assert_eq!(site.seed, 7);
    assert_eq!(site.door_controllers[0].drift_ppm, 35.0);
    assert_eq!(site.lines[0].terminals[1].capacity, 100);
    assert_eq!(site.cards.numbers(), (1000..1010).collect::<Vec<_>>());

    let e =
        SiteConfig::parse("[[door_controllers]]\nserial = 1\ndoorz = 2\n", "s.toml").unwrap_err();
    assert!(matches!(&e, SiteError::Parse { line: 3, .. }), "{e}");
    let e = SiteConfig::parse(
        "[[lines]]\nname = \"x\"\nterminals = [{ kind = \"pos\", machine_no = 1 }, { kind = \"pos\", machine_no = 1 }]\n",
        "s.toml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("machine number 1"), "{e}");
    let e =
        SiteConfig::parse("[[door_controllers]]\nserial = 5\ndoors = 9\n", "s.toml").unwrap_err();
    assert!(e.to_string().contains("9 doors"), "{e}");
}

use onecard::sim::runner::Site;
use onecard::sim::TerminalKind;
use onecard::terminal::native::link::{Bus, Timing};
use onecard::terminal::uhppote::{EventSlot, UhppoteClient};
use onecard::terminal::zk::ZkClient;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

fn endpoint(site: &Site, id: &str, scheme: &str) -> String {
    let l = site
        .listing
        .iter()
        .find(|l| l.id == id)
        .unwrap_or_else(|| panic!("{id} listed"));
    l.endpoint
        .split(", ")
        .find_map(|e| e.strip_prefix(&format!("{scheme} ")))
        .unwrap_or_else(|| panic!("{id} has no {scheme} endpoint: {}", l.endpoint))
        .to_string()
}

/// Every record every terminal holds, read back through onecard's own clients.
async fn collect(site: &Site) -> BTreeMap<String, u64> {
    let mut seen = BTreeMap::new();
    for l in &site.listing {
        let n: u64 = match l.kind {
            TerminalKind::DoorController => {
                let addr: SocketAddr = endpoint(site, &l.id, "udp+tcp").parse().unwrap();
                let serial: u32 = l.address.trim_start_matches("serial ").parse().unwrap();
                let client = UhppoteClient::udp(addr);
                let last = client
                    .get_status(serial)
                    .await
                    .unwrap()
                    .event
                    .map(|e| e.index)
                    .unwrap_or(0);
                let mut n = 0;
                for i in 1..=last {
                    match client.get_event(serial, i).await.unwrap() {
                        EventSlot::Found(e) => {
                            assert_eq!(e.index, i);
                            n += 1;
                        }
                        other => panic!("{}: event {i} is {other:?}", l.id),
                    }
                }
                n
            }
            TerminalKind::AttendanceMachine => {
                let addr: SocketAddr = endpoint(site, &l.id, "tcp").parse().unwrap();
                let mut zk = ZkClient::connect_tcp(addr, 0, Duration::from_secs(5))
                    .await
                    .unwrap();
                let n = zk.read_attendance().await.unwrap().len() as u64;
                zk.disconnect().await.ok();
                n
            }
            TerminalKind::Pos | TerminalKind::PatrolReader | TerminalKind::DeskReader => {
                let addr = endpoint(site, &l.id, "tcp");
                let machine: u8 = l.address.rsplit(' ').next().unwrap().parse().unwrap();
                let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let mut bus = Bus::new(stream, Timing::network(Duration::from_millis(200)));
                let mut from = 1;
                let mut n = 0;
                loop {
                    let batch = bus.read_records(machine, from, 50).await.unwrap();
                    if batch.records.is_empty() {
                        break;
                    }
                    n += batch.records.len() as u64;
                    from += batch.records.len() as u32;
                }
                n
            }
        };
        seen.insert(l.id.clone(), n);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_generated_is_lost_or_duplicated_on_the_way_out() {
    let site = Site::start(&SiteConfig::demo(), Ports::ephemeral())
        .await
        .unwrap();
    let mut traffic = site.traffic(42, 5.0);
    for _ in 0..600 {
        traffic.step();
    }
    // Alarms and swipes asked for by hand count too.
    let (reply, _) = onecard::sim::control::handle(&site.terminals, "door/405419897 forced 3");
    assert!(reply.starts_with("ok"), "{reply}");
    let tally = site.tally();
    let total: u64 = tally.values().sum();
    // A step may produce nothing (a purchase refused for want of balance is no record).
    assert!((550..=601).contains(&total), "{total}");
    assert_eq!(
        collect(&site).await,
        tally,
        "what the terminals hold is exactly the tally"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_site_traffic() {
    let run = |seed| async move {
        let site = Site::start(&SiteConfig::demo(), Ports::ephemeral())
            .await
            .unwrap();
        let mut traffic = site.traffic(seed, 1.0);
        for _ in 0..300 {
            traffic.step();
        }
        site.tally()
    };
    let a = run(7).await;
    assert_eq!(a, run(7).await);
    assert_ne!(a, run(8).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poller_reaches_a_line_through_its_pty() {
    use onecard::terminal::transport::{open_serial, LineConfig};
    let site = Site::start(&SiteConfig::demo(), Ports::ephemeral())
        .await
        .unwrap();
    let path = endpoint(&site, "pos/canteen/2", "pty");
    assert!(path.starts_with("/dev/pts/"), "{path}");
    let port = open_serial(&LineConfig::new(path, 9600)).unwrap();
    let mut bus = Bus::new(port, Timing::serial(9600, 10));
    for machine in 1..=3 {
        let info = bus.get_info(machine).await.unwrap();
        assert!(info.serial != 0, "machine {machine}: {info:?}");
    }
    let (reply, _) =
        onecard::sim::control::handle(&site.terminals, "pos/canteen/2 purchase 8165501 3.50");
    assert!(reply.starts_with("ok"), "{reply}");
    let batch = bus.read_records(2, 1, 10).await.unwrap();
    assert_eq!(batch.records.len(), 1);
}

#[test]
fn the_binary_runs_a_site_and_writes_the_tally() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let tally = dir.path().join("tally.json");
    // The site takes base..base+99. Bases sit below the kernel's ephemeral range (32768+), where
    // other tests' sockets live; a port someone else holds anyway moves the site to the next base.
    let mut base = 10000 + (std::process::id() % 200) as u16 * 100;
    let (mut child, listing, _out) = loop {
        let mut child = Command::new(env!("CARGO_BIN_EXE_onecard"))
            .args([
                "sim",
                "--demo",
                "--rate",
                "0",
                "--base-port",
                &base.to_string(),
                "--tally",
            ])
            .arg(&tally)
            .env("ONECARD_DATA_DIR", dir.path())
            .env("ONECARD_CONFIG_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut listing = String::new();
        let started = loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                break false;
            }
            listing.push_str(&line);
            if line.starts_with("control:") {
                break true;
            }
        };
        if started {
            break (child, listing, out);
        }
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        let _ = child.wait();
        assert!(
            err.contains("Address already in use") && base < 32000,
            "sim exited early:\n{listing}\n{err}"
        );
        base += 100;
    };
    assert!(
        listing.contains(&format!(
            "door/405419896             serial 405419896           udp+tcp 127.0.0.1:{base}"
        )),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("tcp 127.0.0.1:{}", base + 10)),
        "{listing}"
    );
    assert!(listing.contains("pty /dev/pts/"), "{listing}");
    let control = std::net::TcpStream::connect(("127.0.0.1", base + 99)).unwrap();
    let mut w = control.try_clone().unwrap();
    let mut r = BufReader::new(control);
    for (req, want) in [
        ("door/405419896 swipe 8165501 1", "ok"),
        ("attendance/OCK0000001 punch 8165500", "ok"),
        ("door/405419896 explode", "error"),
        ("quit", "ok bye"),
    ] {
        writeln!(w, "{req}").unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with(want), "{req} → {line}");
    }
    assert!(child.wait().unwrap().success());
    let t: BTreeMap<String, u64> =
        serde_json::from_str(&std::fs::read_to_string(&tally).unwrap()).unwrap();
    assert_eq!(t["door/405419896"], 1);
    assert_eq!(t["attendance/OCK0000001"], 1);
    assert_eq!(t.values().sum::<u64>(), 2);
}

#[test]
fn the_demo_site_names_its_controllers_and_doors() {
    let demo = SiteConfig::demo();
    let names: Vec<&str> = demo
        .door_controllers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, vec!["图书馆", "学生宿舍3号楼", "实验楼", "体育馆"]);
    for c in &demo.door_controllers {
        assert!(!c.location.is_empty());
        assert_eq!(c.named_doors.len(), usize::from(c.doors));
        assert!(c
            .named_doors
            .iter()
            .all(|d| !d.name.is_empty() && !d.location.is_empty()));
    }
    assert!(demo.cards.granted, "`onecard sim` controllers hold grants");
    let site = SiteConfig::parse(
        "[[door_controllers]]\nserial = 5\ndoors = 2\nname = \"图书馆\"\n\
         [[door_controllers.named_doors]]\nname = \"图书馆东门\"\nlocation = \"一层\"\n\
         [cards]\nfirst = 1\ncount = 2\ngranted = false\n",
        "s.toml",
    )
    .unwrap();
    assert_eq!(site.door_controllers[0].named_doors[0].name, "图书馆东门");
    assert!(!site.cards.granted);
    let e = SiteConfig::parse(
        "[[door_controllers]]\nserial = 5\ndoors = 1\nnamed_doors = [{ name = \"a\" }, { name = \"b\" }]\n",
        "s.toml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("names 2 doors but has 1"), "{e}");
}

#[tokio::test]
async fn a_taken_port_gives_way_to_a_free_one_only_when_allowed() {
    let documented = Ports::documented_or_free();
    assert_eq!(
        (
            documented.uhppote,
            documented.zk_first,
            documented.line_first,
            documented.control,
            documented.free_if_taken
        ),
        (60000, 4370, 4400, 4499, true)
    );
    // Someone else holds the port the control interface wants.
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let ports = Ports {
        control: port,
        ..Ports::ephemeral()
    };
    let e = Site::start(&SiteConfig::demo(), ports)
        .await
        .err()
        .expect("a taken port stops the site");
    assert!(e.to_string().contains("control interface"), "{e}");
    let site = Site::start(
        &SiteConfig::demo(),
        Ports {
            free_if_taken: true,
            ..ports
        },
    )
    .await
    .unwrap();
    assert_ne!(site.control.port(), port);
    // The control interface answers where the site says it is.
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = tokio::net::TcpStream::connect(site.control).await.unwrap();
    stream.write_all(b"list\n").await.unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await.unwrap();
    assert!(
        line.starts_with("ok [") && line.contains("door/405419896"),
        "{line}"
    );
}

/// A site of one door controller: every step of its traffic happens there.
fn one_controller() -> SiteConfig {
    let mut c = SiteConfig::demo();
    c.door_controllers.truncate(1);
    c.attendance_machines.clear();
    c.lines.clear();
    c.cards.count = 10;
    c
}

#[tokio::test]
async fn door_alarms_fall_on_every_door_and_the_doors_close_again() {
    let site = Site::start(&one_controller(), Ports::ephemeral())
        .await
        .unwrap();
    let ctl = site.controller("door/405419896").unwrap().clone();
    let mut traffic = site.traffic(3, 50.0);
    // (door, open) after each step.
    let mut seen: Vec<(u8, bool)> = Vec::new();
    for _ in 0..400 {
        traffic.step();
        for door in 1..=4 {
            seen.push((door, ctl.door(door).unwrap().open));
        }
    }
    let events = ctl.events();
    for door in 1..=4u8 {
        assert!(
            events.iter().any(|e| e.door == door && e.reason == 38),
            "a forced-open alarm at door {door}"
        );
        assert!(
            events.iter().any(|e| e.door == door && e.reason == 37),
            "a held-open alarm at door {door}"
        );
        // Opened by an alarm, then closed again.
        let first_open = seen.iter().position(|s| *s == (door, true)).unwrap();
        assert!(
            seen[first_open..].contains(&(door, false)),
            "door {door} is closed again"
        );
    }
}

#[tokio::test]
async fn card_holders_mostly_swipe_at_their_own_doors() {
    let site = Site::start(&one_controller(), Ports::ephemeral())
        .await
        .unwrap();
    let ctl = site.controller("door/405419896").unwrap().clone();
    ctl.set_population(&[(8_165_500, vec![3]), (8_165_501, vec![3, 4])]);
    let mut traffic = site.traffic(5, 0.0);
    for _ in 0..500 {
        traffic.step();
    }
    let ours: Vec<_> = ctl
        .events()
        .into_iter()
        .filter(|e| e.card == 8_165_500 || e.card == 8_165_501)
        .collect();
    let at_theirs = ours
        .iter()
        .filter(|e| e.door == 3 || (e.card == 8_165_501 && e.door == 4))
        .count();
    assert!(ours.len() > 400, "{}", ours.len());
    assert!(
        at_theirs * 10 > ours.len() * 8,
        "{at_theirs} of {} at their own doors",
        ours.len()
    );
    assert!(at_theirs < ours.len(), "now and then another door");
}
