//! `onecard bench` end to end on a tiny site: it runs, it accounts for every record, and its
//! last line is the machine-readable summary. No wall-clock number is asserted: benchmarks
//! measure and print.

use crate::support;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

/// Runs `onecard bench ARGS` on the test database: its standard output, and the `key=value`
/// fields of its last line (which must be the `bench:` summary). It must succeed.
async fn run_bench(db: &support::TestDb, args: &[&str]) -> (String, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let url = db.url();
        let dir = dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        move || {
            Command::new(env!("CARGO_BIN_EXE_onecard"))
                .arg("bench")
                .args(args)
                .env("DATABASE_URL", url)
                .env("ONECARD_CONFIG_DIR", dir.join("config"))
                .env("ONECARD_DATA_DIR", dir.join("data"))
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let fields = last
        .strip_prefix("bench: ")
        .unwrap_or_else(|| panic!("the last line is not the summary: {last:?}"))
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (stdout, fields)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_bench_prints_its_summary_and_loses_nothing() {
    let db = support::test_db().await;
    let (stdout, fields) = run_bench(
        &db,
        &[
            "--terminals",
            "24",
            "--per-line",
            "10",
            "--rate",
            "50",
            "--backlog",
            "30",
            "--seconds",
            "2",
            "--alarms",
            "4",
            "--poll-ms",
            "100",
        ],
    )
    .await;
    let last = stdout.lines().last().unwrap_or_default();
    for key in [
        "terminals",
        "ingest_rps",
        "raw_unnest_rps",
        "ratio",
        "alarm_p50_ms",
        "alarm_p99_ms",
        "alarm_max_ms",
        "serve_cpu",
        "serve_rss_mb",
        "lost",
        "duplicated",
    ] {
        let v = fields
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing: {last}"));
        assert!(v.parse::<f64>().is_ok(), "{key}={v} is not a number");
    }
    assert_eq!(fields["terminals"], "24");
    assert_eq!(fields["lost"], "0", "{stdout}");
    assert_eq!(fields["duplicated"], "0", "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doors_bench_times_frames_and_remote_opens() {
    let db = support::test_db().await;
    let (stdout, fields) = run_bench(&db, &["--doors", "--opens", "3", "--poll-ms", "200"]).await;
    let last = stdout.lines().last().unwrap_or_default();
    for key in ["doors_frame_ms", "remote_open_p50_ms", "remote_open_p99_ms"] {
        let v = fields
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing: {last}"));
        assert!(v.parse::<f64>().is_ok(), "{key}={v} is not a number");
    }
    assert_eq!(fields.len(), 3, "exactly the issue's keys: {last}");
    // Every open reached the simulated controller and came back.
    assert!(stdout.contains("remote opens failed: 0"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssh_bench_counts_the_bytes_of_a_console_and_leaves_no_session() {
    let db = support::test_db().await;
    let (stdout, fields) = run_bench(&db, &["--ssh", "--seconds", "1"]).await;
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        fields.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ssh_feed_bps", "ssh_idle_bps"],
        "{last}"
    );
    for v in fields.values() {
        assert!(v.parse::<u64>().is_ok(), "{v} is not a number: {last}");
    }
    // The disconnect ended the console and its operator session.
    assert!(
        stdout.contains("0 consoles served, 0 operator sessions open"),
        "{stdout}"
    );
}
