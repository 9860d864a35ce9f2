//! The site's time zone, not the process's: `serve` run under two different `TZ` values sets
//! a controller's clock to the same site time and sees no drift.

use crate::poller::{done, eventually, quiet_demo, start, term};
use crate::support::test_db;
use chrono::{TimeZone, Utc};
use onecard::db::command::{self, TerminalCommand};
use onecard::domain::permission::Actor;
use onecard::sim::register::register_site;
use onecard::terminal::uhppote::{Request, Response};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(url: String, dirs: &std::path::Path, tz: &str) -> Serve {
    Serve(
        crate::support::serve_command(url, dirs, &["--worker", tz, "--recheck-ms", "200"])
            .env("TZ", tz)
            .spawn()
            .expect("spawn onecard serve"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminal_clocks_are_in_the_sites_zone_whatever_the_process_zone() {
    let db = test_db().await;
    let shell = Actor::shell("root");
    onecard::db::settings::set(
        &db.pool,
        &shell,
        onecard::domain::time::ZONE_KEY,
        serde_json::json!("Asia/Shanghai"),
    )
    .await
    .unwrap();
    let mut cfg = quiet_demo();
    cfg.door_controllers.truncate(1);
    cfg.attendance_machines.clear();
    cfg.lines.clear();
    let site = start(&cfg).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, "door/405419896").terminal_id;
    let controller = site.controller("door/405419896").unwrap();
    let shanghai = onecard::domain::time::parse_zone("Asia/Shanghai").unwrap();
    let dirs = tempfile::tempdir().unwrap();

    for tz in ["UTC", "America/New_York"] {
        let child = serve(db.child_url(), dirs.path(), tz);
        // The operator sets the clock: it reads the site's time, not the process's.
        let queued = command::enqueue(&db.pool, &shell, id, &TerminalCommand::SetTime)
            .await
            .unwrap();
        done(&db.pool, queued).await;
        let Some(Response::GetTime(Some(clock))) = controller.handle(&Request::GetTime) else {
            panic!("the controller's clock");
        };
        let want = Utc::now().with_timezone(&shanghai).naive_local();
        assert!(
            (clock - want).num_seconds().abs() <= 5,
            "TZ={tz}: the clock reads {clock}, the site's time is {want}"
        );
        // Its next status is measured against the site's time: no drift.
        sqlx::query("UPDATE terminal SET clock_drift_s = NULL WHERE id = $1")
            .bind(id)
            .execute(&db.pool)
            .await
            .unwrap();
        eventually(PATIENCE, "a drift measured", || async {
            sqlx::query_scalar::<_, Option<i32>>("SELECT clock_drift_s FROM terminal WHERE id = $1")
                .bind(id)
                .fetch_one(&db.pool)
                .await
                .unwrap()
                .is_some()
        })
        .await;
        let drift: i32 = sqlx::query_scalar("SELECT clock_drift_s FROM terminal WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(drift.abs() <= 5, "TZ={tz}: drift {drift} s");
        let alarms: i64 =
            sqlx::query_scalar("SELECT count(*) FROM alarm WHERE kind = 'clock_drift'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(alarms, 0, "TZ={tz}");
        drop(child);
    }
    // The same instant on the site's wall clock, for the record.
    let t = Utc.with_ymd_and_hms(2026, 12, 6, 20, 0, 0).unwrap();
    assert_eq!(t.with_timezone(&shanghai).format("%H").to_string(), "04");
}
