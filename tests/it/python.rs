//! The real third-party clients from PyPI (`uhppoted`, `pyzk`), run as they are, from a
//! virtualenv under `target/` that `.ci/run` creates (and the first test that needs it, when not).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Pinned so a new release cannot change what the tests prove.
pub const PACKAGES: &[&str] = &["uhppoted==0.9.1.1", "pyzk==0.9"];

fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("pyenv")
}

/// The virtualenv's python, creating the virtualenv once (under a file lock shared by every
/// test process).
pub fn python() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = venv_dir();
            let py = dir.join("bin").join("python");
            let marker = dir.join(".onecard-ready");
            std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.with_extension("lock"))
                .unwrap();
            lock.lock().unwrap();
            let wanted = PACKAGES.join(" ");
            if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
                let ok = Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&dir)
                    .status()
                    .expect("python3 -m venv");
                assert!(ok.success(), "python3 -m venv failed");
                let out = Command::new(&py)
                    .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                    .args(PACKAGES)
                    .output()
                    .expect("pip");
                assert!(
                    out.status.success(),
                    "pip install failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::fs::write(&marker, &wanted).unwrap();
            }
            py
        })
        .clone()
}

/// Runs `tests/it/py/<script>` with the virtualenv's python.
pub fn run(script: &str, args: &[&str]) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/py")
        .join(script);
    Command::new(python())
        .arg(path)
        .args(args)
        .output()
        .expect("run python")
}

/// `run`, asserting success, returning stdout.
pub fn run_ok(script: &str, args: &[&str]) -> String {
    let out = run(script, args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
