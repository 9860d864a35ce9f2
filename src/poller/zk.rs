//! ZKTeco attendance machines over TCP. The log numbers nothing, so a punch is unique on
//! (terminal, user, time); the bookmark is the number of log entries already stored, and the
//! log is read again only when it grew (or was cleared, which the bookmark notices).

use super::actor::{local_now, said, Ctx, PollError, Polled, Term, CLOCK_EVERY};
use super::Options;
use crate::db::command::TerminalCommand;
use crate::db::ingest::{self, PunchRow};
use crate::db::terminal::Line;
use crate::terminal::zk::{AttRecord, WantedUser, ZkClient};
use crate::terminal::TerminalError;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(crate) struct ZkLine {
    addr: SocketAddr,
    timeout: Duration,
    client: Option<ZkClient>,
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
            addr: super::uhppote::resolve(&line.address, 4370).await?,
            timeout: options.zk_timeout,
            client: None,
        })
    }

    pub fn reset(&mut self) {
        self.client = None;
    }

    async fn client(&mut self, ctx: &mut Ctx) -> Result<&mut ZkClient, TerminalError> {
        if self.client.is_none() {
            ctx.trace_note("tx", "connect");
            // The comm key is 0: the line table has no column for one yet.
            self.client = Some(ZkClient::connect_tcp(self.addr, 0, self.timeout).await?);
        }
        let c = self
            .client
            .as_mut()
            .ok_or_else(|| TerminalError::Io(std::io::Error::other("not connected")))?;
        c.set_tracing(ctx.tracing);
        Ok(c)
    }

    /// The session's packets into the line's published trace.
    fn drain(&mut self, ctx: &mut Ctx) {
        if let Some(c) = &mut self.client {
            for (dir, bytes) in c.take_trace() {
                ctx.trace(dir, &bytes);
            }
        }
    }

    pub async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        let r = self.poll_inner(ctx, t).await;
        self.drain(ctx);
        if let Err(PollError::Terminal { .. }) = &r {
            // After a transport error the session is unusable.
            self.client = None;
        }
        r
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
        if count != t.bookmark {
            let log = c.read_attendance().await?;
            store_log(ctx, t, &log).await?;
            polled.waiting = Some(0);
        }
        Ok(polled)
    }

    pub async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> Result<String, String> {
        let r = self.execute_inner(ctx, t, cmd).await;
        self.drain(ctx);
        match r {
            Ok(r) => r,
            Err(e) => {
                self.client = None;
                Err(match e {
                    PollError::Terminal { error, .. } => said(&error),
                    PollError::Db(e) => format!("storing the log failed: {e}"),
                })
            }
        }
    }

    async fn execute_inner(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> Result<Result<String, String>, PollError> {
        match cmd {
            TerminalCommand::OpenDoor { .. } => {
                let c = self.client(ctx).await?;
                c.unlock(Duration::from_secs(3)).await?;
                Ok(Ok("attendance machine unlocked its door for 3 s".into()))
            }
            TerminalCommand::SetTime => {
                let now = local_now();
                self.client(ctx).await?.set_time(now).await?;
                t.last_clock = None;
                Ok(Ok(format!("clock set to {now}")))
            }
            TerminalCommand::OnlineTest => {
                let started = Instant::now();
                let info = self.client(ctx).await?.device_info().await?;
                Ok(Ok(format!(
                    "online: serial {}, {}, {}, {} punches held, {} ms",
                    info.serial,
                    info.platform,
                    info.firmware,
                    info.sizes.records,
                    started.elapsed().as_millis()
                )))
            }
            TerminalCommand::ClearRecords => {
                // Nothing leaves the machine before it is stored: freeze, store all, clear.
                let c = self.client(ctx).await?;
                c.disable_device().await?;
                let log = c.read_attendance().await?;
                let stored = store_log(ctx, t, &log).await;
                let c = self.client(ctx).await?;
                if let Err(e) = stored {
                    c.enable_device().await?;
                    return Err(e);
                }
                // The machine is enabled again whether the clear worked or not.
                let cleared = c.clear_attendance().await;
                c.enable_device().await?;
                cleared?;
                set_bookmark(ctx, t, 0).await?;
                Ok(Ok(format!("{} punches stored, log cleared", log.len())))
            }
            TerminalCommand::SetDoorMode { .. } => {
                Ok(Err("an attendance machine has no door modes".to_string()))
            }
            TerminalCommand::PushCards { cards } => {
                let wanted: Vec<WantedUser> = cards
                    .iter()
                    .map(|g| WantedUser {
                        user_id: g.user_id.clone().unwrap_or_else(|| g.card.to_string()),
                        name: g.name.clone().unwrap_or_default(),
                        card: g.card,
                    })
                    .collect();
                let written = self.client(ctx).await?.set_users_by_id(&wanted).await?;
                let ids: Vec<&str> = wanted.iter().map(|w| w.user_id.as_str()).collect();
                Ok(Ok(format!(
                    "users {} stored ({} records written)",
                    ids.join(", "),
                    written.len()
                )))
            }
            TerminalCommand::RevokeCards { cards } => {
                let pairs: Vec<(u32, Option<String>)> =
                    cards.iter().map(|c| (c.card, c.user_id.clone())).collect();
                let (deleted, absent) = self.client(ctx).await?.revoke_cards(&pairs).await?;
                Ok(Ok(format!(
                    "{deleted} users deleted ({absent} cards were not held)"
                )))
            }
            TerminalCommand::PushBlacklist { .. } => Ok(Err(
                "an attendance machine keeps no blacklist: a refused card is a deleted user"
                    .to_string(),
            )),
        }
    }
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

/// Stores the log's entries past the bookmark. When the entry just before the bookmark is not
/// the one stored, the log was cleared and refilled: everything is offered again (the unique
/// key keeps what was stored already).
async fn store_log(ctx: &Ctx, t: &mut Term, log: &[AttRecord]) -> Result<(), PollError> {
    let len = i64::try_from(log.len()).unwrap_or(i64::MAX);
    let mut from = usize::try_from(t.bookmark.clamp(0, len)).unwrap_or(0);
    if t.bookmark > len {
        from = 0;
    } else if from > 0 {
        let seen = match punch_row(&log[from - 1]) {
            Some(p) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM punch WHERE terminal_id = $1 AND user_id = $2 AND terminal_time = $3)",
            )
            .bind(t.row.id)
            .bind(&p.user_id)
            .bind(p.terminal_time)
            .fetch_one(&ctx.pool)
            .await?,
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
    for chunk in rows.chunks(ctx.options.batch.max(1)) {
        let stored = ingest::store_punches(&ctx.pool, t.row.id, chunk).await?;
        ctx.stored(&stored);
    }
    set_bookmark(ctx, t, len).await?;
    Ok(())
}
