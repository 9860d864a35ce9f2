//! The binary as a new user meets it: a private data directory, the embedded cluster started on
//! demand, operators, backup, audit verify, stop.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn onecard(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onecard"))
        .args(args)
        .env("ONECARD_CONFIG_DIR", data.join("config"))
        .env("ONECARD_DATA_DIR", data.join("data"))
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Stops the private cluster even when an assertion fails.
struct Stop<'a>(&'a Path);
impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = onecard(self.0, &["db", "stop"], None);
    }
}

#[test]
fn a_new_user_on_the_embedded_database() {
    let dir = tempfile::Builder::new()
        .prefix("onecard-cli-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let d = dir.path();
    let _stop = Stop(d);
    assert!(ok(&onecard(d, &["db", "status"], None)).contains("not created yet"));

    // The first command that needs the database creates and starts the cluster.
    let out = ok(&onecard(
        d,
        &[
            "operator",
            "add",
            "zhou",
            "--role",
            "director",
            "--name",
            "周建国",
            "--password-stdin",
        ],
        Some("a long password\n"),
    ));
    assert!(out.contains("zhou (周建国) added as director"), "{out}");
    assert!(d.join("data/pg/data/PG_VERSION").exists());
    let status = ok(&onecard(d, &["db", "status"], None));
    assert!(
        status.contains("running") && status.contains("schema version"),
        "{status}"
    );

    // Policy and roles are enforced at the command line too.
    let weak = onecard(
        d,
        &[
            "operator",
            "add",
            "li",
            "--role",
            "card_desk",
            "--name",
            "李",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 10 characters"));
    let role = onecard(
        d,
        &[
            "operator",
            "add",
            "li",
            "--role",
            "janitor",
            "--name",
            "李",
            "--password-stdin",
        ],
        Some("a long password\n"),
    );
    assert!(String::from_utf8_lossy(&role.stderr).contains("unknown role `janitor`"));

    let list = ok(&onecard(d, &["operator", "list"], None));
    assert!(
        list.contains("zhou") && list.contains("must-change"),
        "{list}"
    );

    let backup = ok(&onecard(d, &["db", "backup"], None));
    assert!(backup.contains("written"), "{backup}");
    let files: Vec<_> = std::fs::read_dir(d.join("data/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);

    let verify = ok(&onecard(d, &["audit", "verify"], None));
    assert!(verify.contains("intact: 2 rows"), "{verify}");

    // Restore the backup into a second, new database of the same cluster.
    let file = files[0].to_string_lossy().to_string();
    let restored = ok(&onecard(
        d,
        &["db", "restore", &file, "--database", "onecard_copy"],
        None,
    ));
    assert!(restored.contains("onecard_copy"), "{restored}");
    let again = onecard(
        d,
        &["db", "restore", &file, "--database", "onecard_copy"],
        None,
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "restoring twice is refused"
    );

    // Card kind policy: the college keeps balances on return; a desk may switch to refunds.
    let kinds = ok(&onecard(d, &["card-kind", "list"], None));
    assert!(
        kinds.contains("student    yes    yes        kept"),
        "{kinds}"
    );
    let set = ok(&onecard(
        d,
        &[
            "card-kind",
            "set",
            "student",
            "--balance-on-return",
            "refunded",
            "--reissue-fee",
            "15",
        ],
        None,
    ));
    assert!(
        set.contains("refunded    ¥30.00     10         -    ¥0.00   ¥15.00"),
        "{set}"
    );
    let bad = onecard(
        d,
        &[
            "card-kind",
            "set",
            "temporary",
            "--max-validity-days",
            "400",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("365 days or less"));
    let verify = ok(&onecard(d, &["audit", "verify"], None));
    assert!(verify.contains("intact: 3 rows"), "{verify}");

    assert!(ok(&onecard(d, &["db", "stop"], None)).contains("stopped"));
    assert!(ok(&onecard(d, &["db", "status"], None)).contains("stopped"));
    // The next command starts it again on demand, with everything still there.
    assert!(ok(&onecard(d, &["operator", "list"], None)).contains("zhou"));
}

#[test]
fn demo_acts_on_the_demo_database() {
    let dir = tempfile::Builder::new()
        .prefix("onecard-cli-demo-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let d = dir.path();
    let _stop = Stop(d);
    let fail = |out: &Output| {
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };

    // The accounts, and where the simulator would be.
    let out = ok(&onecard(d, &["demo", "--accounts"], None));
    assert!(out.contains("director") && out.contains("demo-"), "{out}");
    assert!(
        out.contains("simulator: not running") && out.contains("127.0.0.1:4499"),
        "{out}"
    );

    let out = ok(&onecard(d, &["audit", "verify", "--demo"], None));
    assert!(out.contains("audit log intact"), "{out}");
    ok(&onecard(d, &["report", "issued", "--demo"], None));

    // An import into the demo's register: its departments are there.
    let file = d.join("people.csv");
    std::fs::write(
        &file,
        "学号,姓名,院系,类别\n2026900,林晓东,计算机学院,学生\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = ok(&onecard(
        d,
        &["import", "persons", path, "--demo", "--dry-run"],
        None,
    ));
    assert!(
        out.contains("1 new") && out.contains("line 2: 2026900 林晓东, 计算机学院, student"),
        "{out}"
    );
    let typo = d.join("typo.csv");
    std::fs::write(
        &typo,
        "学号,姓名,院系,类别\n2026901,林晓西,计算机学员,学生\n",
    )
    .unwrap();
    let err = fail(&onecard(
        d,
        &["import", "--demo", "persons", typo.to_str().unwrap()],
        None,
    ));
    assert!(
        err.contains("line 2: no department `计算机学员` (did you mean `计算机学院`, code D01?)"),
        "{err}"
    );
    let out = ok(&onecard(d, &["import", "persons", path, "--demo"], None));
    assert!(out.contains("imported"), "{out}");
    let out = ok(&onecard(
        d,
        &["import", "persons", path, "--demo", "--dry-run"],
        None,
    ));
    assert!(out.contains("1 left alone"), "{out}");

    // Without --demo: the real register, which has no such department.
    let err = fail(&onecard(d, &["import", "persons", path, "--dry-run"], None));
    assert!(err.contains("no department `计算机学院`"), "{err}");
}

#[test]
fn an_unreachable_server_is_named_once_with_why() {
    // A port nobody listens on: taken and released, so it is free and closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_onecard"))
        .args(["operator", "list"])
        .env("ONECARD_CONFIG_DIR", data.path().join("config"))
        .env("ONECARD_DATA_DIR", data.path().join("data"))
        .env(
            "DATABASE_URL",
            format!("postgres://clerk:secret@127.0.0.1:{port}/campus"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let server = format!("127.0.0.1:{port}");
    assert_eq!(stderr.matches(&server).count(), 1, "{stderr}");
    assert!(stderr.contains("database campus, as clerk"), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("pool timed out"), "{stderr}");
}
