//! ZKTeco attendance machines over TCP. The log numbers nothing, so a punch is unique on
//! (terminal, user, time); the bookmark is the number of log entries already stored, and the
//! log is read again only when it grew (or was cleared, which the bookmark notices).

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
use crate::terminal::zk::{plan_user_writes, AttRecord, UserRecord, WantedUser, ZkClient};
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
            self.client = Some(ZkClient::connect_tcp(self.addr, key, self.timeout).await?);
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
        let c = self.client(ctx).await?;
        let sizes = c.free_sizes().await?;
        let mut polled = Polled {
            rtt: Some(started.elapsed()),
            memory_full: Some(sizes.log_full()),
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
            let c = self.client(ctx).await?;
            let log = c.read_attendance().await?;
            store_log(ctx, t, &log, full, false).await?;
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
            TerminalCommand::Extract => {
                let started = Instant::now();
                let c = self.client(ctx).await?;
                let full = c.free_sizes().await?.log_full();
                let log = c.read_attendance().await?;
                let records = store_log(ctx, t, &log, full, true).await?;
                Ok(Ok(CommandOutcome::Extracted {
                    records,
                    millis: millis(started),
                }))
            }
            TerminalCommand::ClearRecords => self.clear(ctx, t).await,
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

    /// Nothing leaves the machine before it is stored: freeze it, store the whole log, check
    /// that the machine holds no more than was read, clear, and let it run again.
    async fn clear(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<CommandResult, PollError> {
        let c = self.client(ctx).await?;
        c.disable_device().await?;
        let r = self.clear_frozen(ctx, t).await;
        // The machine runs again whether the clear worked or not.
        let enabled = self.client(ctx).await?.enable_device().await;
        let r = r?;
        enabled?;
        Ok(r)
    }

    async fn clear_frozen(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
    ) -> Result<CommandResult, PollError> {
        let c = self.client(ctx).await?;
        let full = c.free_sizes().await?.log_full();
        let log = c.read_attendance().await?;
        let stored = store_log(ctx, t, &log, full, true).await?;
        let c = self.client(ctx).await?;
        let held = u64::try_from(c.free_sizes().await?.records.max(0)).unwrap_or(0);
        let read = log.len() as u64;
        if held > read {
            return Ok(Err(CommandFailure::RecordsNotStored {
                waiting: held - read,
            }));
        }
        c.clear_attendance().await?;
        set_bookmark(ctx, t, 0).await?;
        Ok(Ok(CommandOutcome::RecordsCleared { stored }))
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

/// Stores the log's entries past the bookmark (with progress when `report`); returns the
/// punches new to the database. When the entry just before the bookmark is not the one
/// stored, the log was cleared and refilled, or (when `full`) overwritten: everything is
/// offered again (the unique key keeps what was stored already).
async fn store_log(
    ctx: &mut Ctx,
    t: &mut Term,
    log: &[AttRecord],
    full: bool,
    report: bool,
) -> Result<u64, PollError> {
    note_overwritten(ctx, t, log, full).await?;
    let len = i64::try_from(log.len()).unwrap_or(i64::MAX);
    let mut from = usize::try_from(t.bookmark.clamp(0, len)).unwrap_or(0);
    if t.bookmark > len {
        from = 0;
    } else if from > 0 {
        let seen = match punch_row(&log[from - 1]) {
            Some(p) => stored(ctx, t, &p).await?,
            None => true,
        };
        if !seen {
            from = 0;
        }
    }
    let rows: Vec<PunchRow> = log[from..].iter().filter_map(punch_row).collect();
    if rows.len() < log.len() - from {
        tracing::warn!(
            terminal = t.row.id,
            skipped = log.len() - from - rows.len(),
            "punches with an impossible time were skipped"
        );
    }
    let mut inserted = 0;
    let mut done = 0;
    for chunk in rows.chunks(ctx.options.batch.max(1)) {
        let stored = ingest::store_punches(&ctx.pool, t.row.id, chunk).await?;
        ctx.stored(&stored);
        inserted += stored.inserted;
        done += chunk.len();
        if report {
            ctx.progress(done as u64, rows.len() as u64).await;
        }
    }
    set_bookmark(ctx, t, len).await?;
    Ok(inserted)
}
