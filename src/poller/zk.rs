//! ZKTeco attendance machines over TCP. The log numbers nothing, so a punch is unique on
//! (terminal, user, time); the bookmark is the number of log entries already stored, and the
//! log is read again only when it grew (or was cleared, which the bookmark notices).
//!
//! A download reads the log a chunk at a time from the entry after the bookmark (records have
//! a fixed size, so the buffer read starts at its byte offset), stores each chunk and moves
//! the bookmark past it: an interrupted download resumes there. The entry before the bookmark
//! is checked first; when it is not the one stored, the log was cleared or overwritten and is
//! read from its start (the unique key keeps each punch once). The machine is disabled for
//! the download and enabled after it whatever happened, and again at every connect: a session
//! lost mid-download (or a killed process) may have left it disabled.

use super::extraction::{
    clears_after_extract, DRIFT_ALARM_KEY, MEMORY_ALARM_KEY, MEMORY_ALARM_PERCENT,
};
use super::line::{
    count, local_now, millis, resolve, Ctx, LineDriver, PollError, Polled, Term, CLOCK_EVERY,
};
use super::options::Options;
use crate::db::command::{
    CardGrant, CommandFailure, CommandOutcome, CommandResult, Feature, Refusal, TerminalCommand,
};
use crate::db::ingest::{self, PunchRow};
use crate::db::machine_sync::{self, MachineUser};
use crate::db::propagation::{self, Holdings};
use crate::db::terminal::Line;
use crate::terminal::zk::{
    plan_user_writes, AttLog, AttRecord, FreeSizes, UserRecord, WantedUser, ZkClient,
};
use crate::terminal::TerminalError;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Users written (or deleted) per request batch, between progress reports.
const USERS_PER_STEP: usize = 50;

pub(crate) struct ZkLine {
    addr: SocketAddr,
    timeout: Duration,
    client: Option<ZkClient>,
    /// The terminal the session is for: its comm key is read when connecting.
    terminal_id: Option<i64>,
    /// When a full log was last read whole: a machine that overwrites keeps its count while
    /// its punches change, so a full log is read again now and then.
    full_read_at: Option<Instant>,
    /// The alarm thresholds of the settings, and when they were read.
    limits: Option<(Limits, Instant)>,
}

/// Settings a line re-reads this often.
const SETTINGS_EVERY: Duration = Duration::from_secs(30);

/// Alarm thresholds from the settings.
#[derive(Debug, Clone, Copy)]
struct Limits {
    memory_percent: u8,
    /// None: the poller's own (`Options::drift_threshold_s`).
    drift_s: Option<i64>,
}

/// What a download is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// The poll's read of what is new; no progress.
    Poll,
    /// On request or schedule, with progress; cleared after when the machine's policy says.
    Extract,
    /// Stored, verified, then cleared.
    Clear,
}

/// How full the log is, percent of its capacity (None: the machine gives no capacity).
fn memory_percent(s: &FreeSizes) -> Option<u8> {
    let cap = i64::from(s.record_cap);
    (cap > 0).then(|| {
        let used = i64::from(s.records.max(0)).min(cap);
        u8::try_from(used * 100 / cap).unwrap_or(100)
    })
}

fn wanted_users(cards: &[CardGrant]) -> Vec<WantedUser> {
    cards
        .iter()
        .map(|g| WantedUser {
            user_id: g.machine_user_id(),
            name: g.name.clone().unwrap_or_default(),
            card: g.card,
        })
        .collect()
}

impl ZkLine {
    pub async fn open(line: &Line, options: &Options) -> Result<ZkLine, String> {
        if line.transport != "tcp" {
            return Err(format!(
                "ZKTeco machines are reached over TCP, not {}",
                line.transport
            ));
        }
        Ok(ZkLine {
            addr: resolve(&line.address, 4370).await?,
            timeout: options.zk_timeout,
            client: None,
            terminal_id: None,
            full_read_at: None,
            limits: None,
        })
    }

    async fn client(&mut self, ctx: &mut Ctx) -> Result<&mut ZkClient, TerminalError> {
        if self.client.is_none() {
            ctx.trace_note("tx", "connect");
            // Read at every connect, so a key changed in the inventory is used at once.
            let key = match self.terminal_id {
                Some(id) => crate::db::terminal::comm_key(&ctx.pool, id)
                    .await
                    .map_err(|e| TerminalError::Io(std::io::Error::other(e.to_string())))?,
                None => 0,
            };
            let mut c = ZkClient::connect_tcp(self.addr, key, self.timeout).await?;
            // A session lost mid-download, ours or a killed process's, may have left the
            // machine disabled: it runs again from here.
            c.enable_device().await?;
            self.client = Some(c);
        }
        let c = self
            .client
            .as_mut()
            .ok_or_else(|| TerminalError::Io(std::io::Error::other("not connected")))?;
        c.set_tracing(ctx.tracing);
        Ok(c)
    }

    /// The session is for `t` from now on (a line holds one machine; a new one reconnects).
    fn serve(&mut self, t: &Term) {
        if self.terminal_id != Some(t.row.id) {
            self.terminal_id = Some(t.row.id);
            self.client = None;
        }
    }

    /// The session's packets into the line's published trace.
    fn take_trace(&mut self, ctx: &mut Ctx) {
        if let Some(c) = &mut self.client {
            for (dir, bytes) in c.take_trace() {
                ctx.trace(dir, &bytes);
            }
        }
    }

    async fn poll_inner(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        let started = Instant::now();
        let limits = self.limits(ctx).await;
        let threshold = limits.memory_percent;
        let c = self.client(ctx).await?;
        let sizes = c.free_sizes().await?;
        let percent = memory_percent(&sizes);
        let mut polled = Polled {
            rtt: Some(started.elapsed()),
            memory_full: Some(sizes.log_full() || percent.is_some_and(|p| p >= threshold)),
            memory_percent: percent,
            memory: (sizes.record_cap > 0)
                .then(|| (i64::from(sizes.records.max(0)), i64::from(sizes.record_cap))),
            drift_threshold_s: limits.drift_s,
            ..Polled::default()
        };
        if !t.identified {
            polled.firmware = Some(c.firmware_version().await?);
            t.identified = true;
        }
        if t.last_clock.is_none_or(|l| l.elapsed() >= CLOCK_EVERY) {
            let theirs = c.get_time().await?;
            polled.drift_s = Some((theirs - local_now()).num_seconds());
            t.last_clock = Some(Instant::now());
        }
        let count = i64::from(sizes.records.max(0));
        polled.waiting = Some((count - t.bookmark).max(0));
        let full = sizes.log_full();
        let reread = full
            && self
                .full_read_at
                .is_none_or(|at| at.elapsed() >= ctx.options.full_log_every);
        if count != t.bookmark || reread {
            if full {
                self.full_read_at = Some(Instant::now());
            }
            // A poll never clears: what it came to is always an extraction.
            let _extracted = self.frozen(ctx, t, Job::Poll).await?;
            polled.waiting = Some(0);
        }
        Ok(polled)
    }

    /// Outer error: the line or the database; inner: what the command came to.
    async fn run(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> Result<CommandResult, PollError> {
        match cmd {
            TerminalCommand::OpenDoor { door } => {
                let c = self.client(ctx).await?;
                c.unlock(Duration::from_secs(3)).await?;
                Ok(Ok(CommandOutcome::DoorOpened { door: *door }))
            }
            TerminalCommand::SetTime => {
                let now = local_now();
                self.client(ctx).await?.set_time(now).await?;
                t.last_clock = None;
                Ok(Ok(CommandOutcome::ClockSet { to: now }))
            }
            TerminalCommand::OnlineTest => {
                let started = Instant::now();
                let info = self.client(ctx).await?.device_info().await?;
                Ok(Ok(CommandOutcome::Online {
                    firmware: info.firmware,
                    model: Some(info.platform),
                    serial: Some(info.serial),
                    address: None,
                    records_held: Some(u64::try_from(info.sizes.records).unwrap_or(0)),
                    rtt_ms: u32::try_from(millis(started)).unwrap_or(u32::MAX),
                }))
            }
            TerminalCommand::Extract => self.frozen(ctx, t, Job::Extract).await,
            TerminalCommand::ClearRecords => self.frozen(ctx, t, Job::Clear).await,
            TerminalCommand::SetDoorMode { .. } => Ok(Err(CommandFailure::Unsupported {
                what: Feature::DoorModes,
            })),
            TerminalCommand::PushCards { cards } => {
                let wanted = wanted_users(cards);
                let mut users = self.client(ctx).await?.read_users().await?;
                let Some(writes) = plan_user_writes(&mut users, &wanted) else {
                    return Ok(Err(CommandFailure::Refused {
                        what: Refusal::UsersFull,
                    }));
                };
                self.write_users(ctx, &writes, 0, writes.len()).await?;
                Ok(Ok(CommandOutcome::CardsWritten {
                    written: count(wanted.len()),
                    of: count(wanted.len()),
                }))
            }
            TerminalCommand::RevokeCards { cards } => {
                let pairs: Vec<(u32, Option<String>)> =
                    cards.iter().map(|c| (c.card, c.user_id.clone())).collect();
                let (removed, absent) = self.client(ctx).await?.revoke_cards(&pairs).await?;
                Ok(Ok(CommandOutcome::CardsRemoved {
                    removed: count(removed),
                    absent: count(absent),
                }))
            }
            TerminalCommand::PushBlacklist { .. } => Ok(Err(CommandFailure::Unsupported {
                what: Feature::Blacklist,
            })),
            TerminalCommand::DownloadCards => self.download(ctx, t).await,
            TerminalCommand::DailyTotals { .. } => Ok(Err(CommandFailure::Unsupported {
                what: Feature::DailyTotals,
            })),
            TerminalCommand::ReadUsers => {
                let users = self.client(ctx).await?.read_users().await?;
                keep_users(ctx, t, &users).await?;
                Ok(Ok(CommandOutcome::UsersRead {
                    users: count(users.len()),
                }))
            }
        }
    }

    /// `attendance.memory_alarm_percent` and `attendance.drift_alarm_s`, re-read now and then.
    async fn limits(&mut self, ctx: &Ctx) -> Limits {
        if let Some((l, at)) = self.limits {
            if at.elapsed() < SETTINGS_EVERY {
                return l;
            }
        }
        let number = |key: &str| {
            let pool = ctx.pool.clone();
            let key = key.to_string();
            async move {
                match crate::db::settings::get(&pool, &key).await {
                    Ok(v) => v.and_then(|v| v.as_u64()),
                    Err(e) => {
                        tracing::debug!(error = %e, "reading {key} failed");
                        None
                    }
                }
            }
        };
        let l = Limits {
            memory_percent: number(MEMORY_ALARM_KEY)
                .await
                .and_then(|p| u8::try_from(p.clamp(1, 100)).ok())
                .unwrap_or(MEMORY_ALARM_PERCENT),
            drift_s: number(DRIFT_ALARM_KEY)
                .await
                .and_then(|s| i64::try_from(s).ok()),
        };
        self.limits = Some((l, Instant::now()));
        l
    }

    /// Runs `job` with the machine disabled, so its log stays still, and enables it after
    /// whatever happened (when the link died, the next connect does).
    async fn frozen(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        job: Job,
    ) -> Result<CommandResult, PollError> {
        self.client(ctx).await?.disable_device().await?;
        let r = self.frozen_job(ctx, t, job).await;
        let enabled = match self.client(ctx).await {
            Ok(c) => c.enable_device().await,
            Err(e) => Err(e),
        };
        let r = r?;
        enabled?;
        Ok(r)
    }

    async fn frozen_job(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        job: Job,
    ) -> Result<CommandResult, PollError> {
        let started = Instant::now();
        let (records, read) = self.read_log(ctx, t).await?;
        let clear = match job {
            Job::Poll => false,
            Job::Extract => clears_after_extract(&ctx.pool, t.row.id).await?,
            Job::Clear => true,
        };
        if clear {
            return self.verify_and_clear(ctx, t, read, records).await;
        }
        Ok(Ok(CommandOutcome::Extracted {
            records,
            millis: millis(started),
        }))
    }

    /// Stores the log past the bookmark, a chunk at a time. Returns the punches new to the
    /// database and the entries the log held.
    async fn read_log(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<(u64, usize), PollError> {
        let c = self.client(ctx).await?;
        let full = c.free_sizes().await?.log_full();
        let log = c.prepare_attendance().await?;
        let r = self.store_log(ctx, t, &log, full).await;
        if r.is_ok() {
            self.client(ctx).await?.free_log(&log).await?;
        }
        Ok((r?, log.count))
    }

    /// Where to resume in `log`: past the bookmark when the entry before it is the one stored,
    /// else from its start (cleared and refilled, or overwritten: noted when `full`).
    async fn resume_at(
        &mut self,
        ctx: &mut Ctx,
        t: &Term,
        log: &AttLog,
        full: bool,
    ) -> Result<usize, PollError> {
        let count = i64::try_from(log.count).unwrap_or(i64::MAX);
        let b = t.bookmark;
        if b <= 0 {
            return Ok(0);
        }
        if b <= count {
            let at = usize::try_from(b - 1).unwrap_or(0);
            let before = self
                .client(ctx)
                .await?
                .read_attendance_range(log, at, at + 1)
                .await?;
            let seen = match before.first().and_then(punch_row) {
                Some(p) => stored(ctx, t, &p).await?,
                None => true,
            };
            if seen {
                return Ok(at + 1);
            }
        }
        if full {
            let oldest = self
                .client(ctx)
                .await?
                .read_attendance_range(log, 0, 1)
                .await?;
            note_overwritten(ctx, t, &oldest, full).await?;
        }
        Ok(0)
    }

    /// Stores `log`'s entries past the bookmark, moving the bookmark past each chunk stored
    /// (a running command's progress); returns the punches new to the database.
    async fn store_log(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        log: &AttLog,
        full: bool,
    ) -> Result<u64, PollError> {
        let from = self.resume_at(ctx, t, log, full).await?;
        let count = log.count;
        let per_chunk = log.records_per_chunk();
        let mut inserted = 0;
        let mut at = from;
        ctx.progress(0, (count - from) as u64).await;
        while at < count {
            let to = (at + per_chunk).min(count);
            let records = self
                .client(ctx)
                .await?
                .read_attendance_range(log, at, to)
                .await?;
            let rows: Vec<PunchRow> = records.iter().filter_map(punch_row).collect();
            if rows.len() < records.len() {
                tracing::warn!(
                    terminal = t.row.id,
                    skipped = records.len() - rows.len(),
                    "punches with an impossible time were skipped"
                );
            }
            for chunk in rows.chunks(ctx.options.batch.max(1)) {
                let stored = ingest::store_punches(&ctx.pool, t.row.id, chunk).await?;
                ctx.stored(&stored);
                inserted += stored.inserted;
            }
            set_bookmark(ctx, t, i64::try_from(to).unwrap_or(i64::MAX)).await?;
            // A poll's too: a chunk stored keeps the visit's deadline away, rows or none.
            ctx.progress((to - from) as u64, (count - from) as u64)
                .await;
            at = to;
        }
        if t.bookmark != i64::try_from(count).unwrap_or(i64::MAX) {
            set_bookmark(ctx, t, i64::try_from(count).unwrap_or(i64::MAX)).await?;
        }
        Ok(inserted)
    }

    /// Clears the log only once every entry on it is stored: it holds as many entries as were
    /// read (`read`), and its newest is a stored punch. Otherwise the log stays, and why.
    async fn verify_and_clear(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        read: usize,
        stored_now: u64,
    ) -> Result<CommandResult, PollError> {
        let c = self.client(ctx).await?;
        let log = c.prepare_attendance().await?;
        let held = log.count;
        let newest = if held > 0 {
            c.read_attendance_range(&log, held - 1, held).await?.pop()
        } else {
            None
        };
        c.free_log(&log).await?;
        if held > read {
            return Ok(Err(CommandFailure::RecordsNotStored {
                waiting: (held - read) as u64,
            }));
        }
        if held < read {
            return Ok(Err(CommandFailure::LogChanged {
                read: read as u64,
                held: held as u64,
            }));
        }
        if let Some(p) = newest.as_ref().and_then(punch_row) {
            if !stored(ctx, t, &p).await? {
                return Ok(Err(CommandFailure::NewestNotStored {
                    user_id: p.user_id,
                    at: p.terminal_time,
                }));
            }
        }
        self.client(ctx).await?.clear_attendance().await?;
        set_bookmark(ctx, t, 0).await?;
        Ok(Ok(CommandOutcome::RecordsCleared { stored: stored_now }))
    }

    /// Writes user records a step at a time; `done` of `total` steps came before.
    async fn write_users(
        &mut self,
        ctx: &mut Ctx,
        users: &[UserRecord],
        done: usize,
        total: usize,
    ) -> Result<(), TerminalError> {
        let mut done = done;
        for chunk in users.chunks(USERS_PER_STEP) {
            self.client(ctx).await?.write_users(chunk).await?;
            done += chunk.len();
            ctx.progress(done as u64, total as u64).await;
        }
        Ok(())
    }

    /// Makes the machine's users with a card exactly the database's: the wanted users written
    /// where they differ, users holding any other card deleted. Users without a card (enrolled
    /// at the machine by finger or password) are not onecard's to remove.
    async fn download(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<CommandResult, PollError> {
        let h = propagation::holdings(&ctx.pool, t.row.id).await?;
        let Holdings::Cards(cards) = &h else {
            return Ok(Err(CommandFailure::Unsupported {
                what: Feature::Download,
            }));
        };
        let wanted = wanted_users(cards);
        let before = self.client(ctx).await?.read_users().await?;
        let mut users = before.clone();
        let Some(mut writes) = plan_user_writes(&mut users, &wanted) else {
            return Ok(Err(CommandFailure::Refused {
                what: Refusal::UsersFull,
            }));
        };
        writes.retain(|w| !before.contains(w));
        let keep: BTreeSet<u32> = wanted.iter().map(|w| w.card).collect();
        let delete: Vec<u16> = users
            .iter()
            .filter(|u| u.card != 0 && !keep.contains(&u.card))
            .map(|u| u.uid)
            .collect();
        let total = writes.len() + delete.len();
        self.write_users(ctx, &writes, 0, total).await?;
        let mut done = writes.len();
        for chunk in delete.chunks(USERS_PER_STEP) {
            self.client(ctx).await?.delete_users(chunk).await?;
            done += chunk.len();
            ctx.progress(done as u64, total as u64).await;
        }
        if let Some(id) = ctx.command_id() {
            propagation::downloaded(&ctx.pool, t.row.id, id, &h).await?;
        }
        // What the machine holds now, for the person register sync's differences.
        let after = self.client(ctx).await?.read_users().await?;
        keep_users(ctx, t, &after).await?;
        let rewritten: BTreeSet<&str> = writes.iter().map(|w| w.user_id.as_str()).collect();
        let written = wanted
            .iter()
            .filter(|w| rewritten.contains(w.user_id.as_str()))
            .count();
        Ok(Ok(CommandOutcome::CardsDownloaded {
            written: count(written),
            unchanged: count(wanted.len() - written),
            removed: count(delete.len()),
        }))
    }
}

impl LineDriver for ZkLine {
    async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        self.serve(t);
        let r = self.poll_inner(ctx, t).await;
        self.take_trace(ctx);
        if let Err(PollError::Terminal { .. }) = &r {
            // After a transport error the session is unusable.
            self.client = None;
        }
        r
    }

    async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> CommandResult {
        self.serve(t);
        let r = self.run(ctx, t, cmd).await;
        self.take_trace(ctx);
        if r.is_err() {
            self.client = None;
        }
        r?
    }

    fn reset(&mut self) {
        self.client = None;
    }
}

/// Keeps `users` as what machine `t` holds (`db::machine_sync`).
async fn keep_users(ctx: &Ctx, t: &Term, users: &[UserRecord]) -> Result<(), sqlx::Error> {
    let users: Vec<MachineUser> = users
        .iter()
        .map(|u| MachineUser {
            user_id: u.user_id.clone(),
            name: u.name.clone(),
            card: u.card,
        })
        .collect();
    machine_sync::store_users(&ctx.pool, t.row.id, &users).await
}

fn punch_row(r: &AttRecord) -> Option<PunchRow> {
    Some(PunchRow {
        user_id: r.user_id.clone(),
        terminal_time: r.time()?,
        verify: i16::from(r.verify),
        state: i16::from(r.state),
    })
}

async fn set_bookmark(ctx: &Ctx, t: &mut Term, n: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE terminal SET bookmark = $2 WHERE id = $1")
        .bind(t.row.id)
        .bind(n)
        .execute(&ctx.pool)
        .await?;
    t.bookmark = n;
    Ok(())
}

/// Whether `p` is stored already.
async fn stored(ctx: &Ctx, t: &Term, p: &PunchRow) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM punch WHERE terminal_id = $1 AND user_id = $2 AND terminal_time = $3)",
    )
    .bind(t.row.id)
    .bind(&p.user_id)
    .bind(p.terminal_time)
    .fetch_one(&ctx.pool)
    .await
}

/// A full log that no longer holds anything collected, whose oldest punch is newer than the
/// newest collected: the machine overwrote what came between. One gap and one alarm.
async fn note_overwritten(
    ctx: &Ctx,
    t: &Term,
    log: &[AttRecord],
    full: bool,
) -> Result<(), sqlx::Error> {
    let Some(oldest) = log.first().and_then(punch_row) else {
        return Ok(());
    };
    if !full || t.bookmark == 0 || stored(ctx, t, &oldest).await? {
        return Ok(());
    }
    let newest: Option<chrono::NaiveDateTime> =
        sqlx::query_scalar("SELECT max(terminal_time) FROM punch WHERE terminal_id = $1")
            .bind(t.row.id)
            .fetch_one(&ctx.pool)
            .await?;
    if let Some(after) = newest.filter(|n| *n < oldest.terminal_time) {
        tracing::warn!(terminal = %t.row.name, %after, before = %oldest.terminal_time, "punches overwritten before they were collected");
        ingest::punches_lost(&ctx.pool, t.row.id, after, oldest.terminal_time).await?;
    }
    Ok(())
}
