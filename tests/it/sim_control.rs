//! The simulator's control verbs `pause`, `resume` and `tally`, and its attendance machines'
//! punches, one per user and second, so the tally counts what a log can hold.

use crate::poller::{eventually, quiet_demo, start};
use onecard::sim::runner::Site;
use onecard::sim::SimTerminal;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

/// One request on the site's real control port.
fn ask(site: &Site, req: &str) -> String {
    let s = std::net::TcpStream::connect(site.control).unwrap();
    let mut w = s.try_clone().unwrap();
    writeln!(w, "{req}").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

fn tally_of(reply: &str) -> BTreeMap<String, u64> {
    let json = reply
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("{reply}"));
    serde_json::from_str(json).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_traffic_resume_starts_it_and_tally_says_so_far() {
    let mut cfg = quiet_demo();
    cfg.lines.clear();
    let site = start(&cfg).await;
    let traffic = site.run_traffic(200.0, 5, 0.0);
    let total = |site: &Site| tally_of(&ask(site, "tally")).values().sum::<u64>();
    eventually(Duration::from_secs(10), "traffic generated", || async {
        total(&site) > 20
    })
    .await;
    assert_eq!(ask(&site, "pause"), "ok paused");
    // The tally so far is the site's own count, as `--tally` would write it.
    let paused = tally_of(&ask(&site, "tally"));
    assert_eq!(paused, site.tally());
    // Twenty ticks' worth of traffic would be generated meanwhile if it were not paused.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        tally_of(&ask(&site, "tally")),
        paused,
        "paused traffic generated"
    );
    // The terminals stay up: a punch asked for by hand is made and counted.
    let m = site.attendance_machines()[0].clone();
    let user = m.users()[0].user_id.clone();
    let said = ask(&site, &format!("{} punch {user}", m.id()));
    assert!(said.starts_with("ok punch"), "{said}");
    assert_eq!(total(&site), paused.values().sum::<u64>() + 1);
    assert_eq!(ask(&site, "resume"), "ok resumed");
    let before = total(&site);
    eventually(Duration::from_secs(10), "traffic after resume", || async {
        total(&site) > before + 20
    })
    .await;
    // Without a site's traffic there is nothing to pause.
    let (reply, _) = onecard::sim::control::handle(&site.terminals, "pause");
    assert!(reply.starts_with("error"), "{reply}");
    traffic.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_punches_once_a_second_so_the_tally_is_what_the_log_holds() {
    let mut cfg = quiet_demo();
    cfg.lines.clear();
    cfg.door_controllers.clear();
    cfg.attendance_machines.truncate(1);
    cfg.attendance_machines[0].users = 3;
    let site = start(&cfg).await;
    let m = site.attendance_machines()[0].clone();
    let user = m.users()[0].user_id.clone();
    // Twice in one second (retried until both fall in one second): the second is refused.
    loop {
        let first = m.control("punch", &[&user]).unwrap();
        match m.control("punch", &[&user]) {
            Err(e) => {
                assert!(e.contains("punched already"), "{e}");
                break;
            }
            // The second fell into the next second: a punch of its own.
            Ok(second) => assert_ne!(first, second),
        }
    }
    // Three users and hundreds of punches a second: never two of one user in one second.
    let mut traffic = site.traffic(9, 0.0);
    for _ in 0..2000 {
        traffic.step();
    }
    let log = m.records();
    let distinct: std::collections::BTreeSet<_> = log
        .iter()
        .map(|p| (p.user_id.clone(), p.timestamp))
        .collect();
    assert_eq!(distinct.len(), log.len());
    assert_eq!(site.tally()[&m.id()], log.len() as u64);
}
