//! A program in a real PTY of its own, its screen read by vt100: what an operator sees and
//! types. The console's tests run `onecard` in it, the SSH tests the system's `ssh` client.

use nix::pty::{openpty, Winsize};
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Only stops a hung test; nothing asserts on time.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

pub(crate) struct Pty {
    child: Child,
    /// Bytes to type; `None` hangs up. One thread owns the master, so a hang-up really closes it.
    keys: std::sync::mpsc::Sender<Option<Vec<u8>>>,
    pub(crate) screen: Arc<Mutex<vt100::Parser>>,
    /// The slave's path, for resizing the terminal as a window manager would.
    tty: PathBuf,
}

impl Pty {
    /// Runs `command` with the PTY's slave as its standard input, output and error.
    pub(crate) fn spawn(mut command: Command, (rows, cols): (u16, u16)) -> Pty {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        // openpty's fds are inherited by default: a child holding the master would keep the
        // terminal alive after we hang up, and other tests' children would too.
        for fd in [&pty.master, &pty.slave] {
            use nix::fcntl::{fcntl, FcntlArg, FdFlag};
            use std::os::fd::AsRawFd;
            fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("cloexec");
        }
        let tty = {
            use std::os::fd::AsRawFd;
            std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap()
        };
        let slave = File::from(pty.slave);
        let child = command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("spawn the program in the PTY");
        let mut master = File::from(pty.master);
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let feed = screen.clone();
        let (keys, typed) = std::sync::mpsc::channel::<Option<Vec<u8>>>();
        std::thread::spawn(move || {
            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
            use std::os::fd::AsFd;
            let mut buf = [0u8; 4096];
            loop {
                match typed.try_recv() {
                    Ok(Some(bytes)) => {
                        let _ = master.write_all(&bytes);
                        continue;
                    }
                    Ok(None) => return, // drops the master: hang-up
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                    Err(std::sync::mpsc::TryRecvError::Empty) => {}
                }
                let readable = {
                    let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
                    poll(&mut fds, PollTimeout::from(20u16)).unwrap_or(0) > 0
                };
                if readable {
                    match master.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => feed.lock().unwrap().process(&buf[..n]),
                    }
                }
            }
        });
        Pty {
            child,
            keys,
            screen,
            tty,
        }
    }

    pub(crate) fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Waits for text on screen.
    pub(crate) fn wait_for(&self, needle: &str) {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if self.contents().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "`{needle}` never appeared; the screen:\n{}",
            self.contents()
        );
    }

    /// Waits for text to leave the screen.
    pub(crate) fn wait_gone(&self, needle: &str) {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if !self.contents().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "`{needle}` never went away; the screen:\n{}",
            self.contents()
        );
    }

    pub(crate) fn send(&self, keys: &str) {
        self.keys.send(Some(keys.as_bytes().to_vec())).unwrap();
    }

    /// The terminal closes under the program, as when an SSH connection drops.
    pub(crate) fn hang_up(&self) {
        let _ = self.keys.send(None);
    }

    /// The terminal window resized: the PTY takes the size (the kernel tells the program) and
    /// the screen model follows.
    pub(crate) fn resize(&self, rows: u16, cols: u16) {
        self.screen.lock().unwrap().set_size(rows, cols);
        let status = Command::new("stty")
            .arg("-F")
            .arg(&self.tty)
            .args(["rows", &rows.to_string(), "cols", &cols.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the program did not exit; the screen:\n{}", self.contents());
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
