//! A UHPPOTE line as a [`LineDriver`], and the commands a controller runs: doors, clock,
//! cards (one exchange per card, with progress), extraction and "clearing" (a controller cannot
//! erase: its events are marked collected once every one is stored).

use super::{door_row, live_state, mode_of, serial_of, unexpected, UhppoteLine};
use crate::db::command::{
    CardGrant, CardRevoke, CommandFailure, CommandOutcome, CommandResult, DoorMode as CmdDoorMode,
    Feature, Refusal, TerminalCommand,
};
use crate::db::door;
use crate::db::propagation::{self, Holdings};
use crate::poller::line::{
    count, local_now, millis, Ctx, LineDriver, PollError, Polled, Pushed, PushedRecord, Term,
};
use crate::terminal::uhppote::{Card, CardSlot, DoorControl, DoorMode, Request, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Extract-and-check rounds before clearing gives up on a controller that keeps recording.
const CLEAR_ROUNDS: usize = 3;
/// More card slots than any controller has: the end of a lying one's card list.
const MAX_CARD_SLOTS: u32 = 250_000;

impl LineDriver for UhppoteLine {
    async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        self.visit(ctx, t).await
    }

    async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> CommandResult {
        let serial = serial_of(t).ok_or(CommandFailure::BadAddress {
            address: t.row.address,
        })?;
        let mut c = Controller {
            line: self,
            ctx,
            t,
            serial,
        };
        c.run(cmd).await
    }

    // One exchange per request: nothing is left mid-way on the link.
    fn reset(&mut self) {}

    async fn next_push(&mut self) -> Option<Pushed> {
        let ev = match &mut self.listener {
            Some((rx, _, _)) => rx.recv().await?,
            None => std::future::pending().await,
        };
        Some(Pushed {
            address: i64::from(ev.serial),
            record: ev.status.event.map(|e| PushedRecord::Door(door_row(&e, 0))),
            doors: live_state(&ev.status),
        })
    }

    async fn on_push(&mut self, ctx: &mut Ctx, t: &mut Term, ev: Pushed) {
        if let Err(e) = ctx.note_doors(t, ev.doors).await {
            tracing::warn!(terminal = t.row.id, error = %e, "recording the doors' state failed");
        }
        if let Some(PushedRecord::Door(row)) = ev.record {
            self.store_pushed(ctx, t, row).await;
        }
    }
}

/// One command's view of one controller.
struct Controller<'a> {
    line: &'a mut UhppoteLine,
    ctx: &'a mut Ctx,
    t: &'a mut Term,
    serial: u32,
}

/// The card record a grant becomes: its doors at all hours, its validity, no PIN.
fn card_of(g: &CardGrant) -> Card {
    let mut doors = [0u8; 4];
    for &d in &g.doors {
        if let Some(slot) = usize::from(d).checked_sub(1).and_then(|i| doors.get_mut(i)) {
            // 1: at all hours (no time profile).
            *slot = 1;
        }
    }
    Card {
        number: g.card,
        from: Some(g.from),
        to: Some(g.until),
        doors,
        pin: 0,
    }
}

impl Controller<'_> {
    async fn ask(&mut self, req: Request) -> Result<Response, CommandFailure> {
        Ok(self
            .line
            .exchange(self.ctx, self.t, self.serial, req)
            .await?)
    }

    /// Refuses at once, without a word to the controller, a door it does not have.
    async fn has_door(&mut self, door: u8) -> Result<(), CommandFailure> {
        let doors = door::doors_of(&self.ctx.pool, self.t.row.id).await?;
        if doors.is_empty() || doors.contains(&door) {
            Ok(())
        } else {
            Err(CommandFailure::NoSuchDoor { door, doors })
        }
    }

    async fn run(&mut self, cmd: &TerminalCommand) -> CommandResult {
        match cmd {
            TerminalCommand::OpenDoor { door } | TerminalCommand::SetDoorMode { door, .. } => {
                self.has_door(*door).await?
            }
            _ => {}
        }
        match cmd {
            TerminalCommand::OpenDoor { door } => match self
                .ask(Request::OpenDoor { door: *door })
                .await?
            {
                Response::OpenDoor { ok: true } => Ok(CommandOutcome::DoorOpened { door: *door }),
                Response::OpenDoor { ok: false } => Err(CommandFailure::Refused {
                    what: Refusal::OpenDoor { door: *door },
                }),
                r => Err(unexpected(&r).into()),
            },
            TerminalCommand::SetTime => match self.ask(Request::SetTime(local_now())).await? {
                Response::SetTime(Some(to)) => {
                    self.t.last_clock = None;
                    Ok(CommandOutcome::ClockSet { to })
                }
                Response::SetTime(None) => Err(CommandFailure::Refused {
                    what: Refusal::Clock,
                }),
                r => Err(unexpected(&r).into()),
            },
            TerminalCommand::OnlineTest => {
                let started = Instant::now();
                match self.ask(Request::GetController).await? {
                    Response::GetController(info) => Ok(CommandOutcome::Online {
                        firmware: info.version.to_string(),
                        model: None,
                        serial: Some(self.serial.to_string()),
                        address: Some(info.address.to_string()),
                        records_held: None,
                        rtt_ms: u32::try_from(millis(started)).unwrap_or(u32::MAX),
                    }),
                    r => Err(unexpected(&r).into()),
                }
            }
            TerminalCommand::SetDoorMode {
                door,
                mode,
                unlock_secs,
            } => self.set_door_mode(*door, *mode, *unlock_secs).await,
            TerminalCommand::PushCards { cards } => {
                let mut written = 0;
                for (i, g) in cards.iter().enumerate() {
                    self.put(g, written, cards.len()).await?;
                    written += 1;
                    self.ctx.progress(i as u64 + 1, cards.len() as u64).await;
                }
                Ok(CommandOutcome::CardsWritten {
                    written: count(written),
                    of: count(cards.len()),
                })
            }
            TerminalCommand::RevokeCards { cards } => {
                let numbers: Vec<u32> = cards.iter().map(|c: &CardRevoke| c.card).collect();
                self.delete(&numbers).await
            }
            // A controller has no blacklist: a blacklisted card is one it no longer holds.
            TerminalCommand::PushBlacklist { cards } => self.delete(cards).await,
            TerminalCommand::Extract => {
                let started = Instant::now();
                let p = self.line.prepare(self.ctx, self.t, self.serial).await?;
                let records = self
                    .line
                    .drain(self.ctx, self.t, self.serial, p.newest, None)
                    .await?;
                Ok(CommandOutcome::Extracted {
                    records,
                    millis: millis(started),
                })
            }
            TerminalCommand::ClearRecords => self.clear().await,
            TerminalCommand::DownloadCards => self.download().await,
            TerminalCommand::DailyTotals { .. } => Err(CommandFailure::Unsupported {
                what: Feature::DailyTotals,
            }),
            TerminalCommand::ReadUsers => Err(CommandFailure::Unsupported {
                what: Feature::UserList,
            }),
        }
    }

    async fn set_door_mode(
        &mut self,
        door: u8,
        mode: CmdDoorMode,
        unlock_secs: u8,
    ) -> CommandResult {
        let wanted = DoorControl {
            door,
            mode: match mode {
                CmdDoorMode::Controlled => DoorMode::Controlled,
                CmdDoorMode::NormallyOpen => DoorMode::NormallyOpen,
                CmdDoorMode::NormallyClosed => DoorMode::NormallyClosed,
            },
            delay: unlock_secs,
        };
        match self.ask(Request::SetDoorControl(wanted)).await? {
            Response::SetDoorControl(d) if d == wanted => {
                door::record_settings(
                    &self.ctx.pool,
                    self.t.row.id,
                    i16::from(door),
                    mode.name(),
                    i16::from(unlock_secs),
                )
                .await?;
                Ok(CommandOutcome::DoorModeSet {
                    door,
                    mode,
                    unlock_secs,
                })
            }
            Response::SetDoorControl(d) => Err(CommandFailure::Refused {
                what: Refusal::DoorMode {
                    door,
                    mode: mode_of(d.mode),
                    unlock_secs: d.delay,
                },
            }),
            r => Err(unexpected(&r).into()),
        }
    }

    /// Stores one card; `written` of `of` were stored before it.
    async fn put(
        &mut self,
        g: &CardGrant,
        written: usize,
        of: usize,
    ) -> Result<(), CommandFailure> {
        match self.ask(Request::PutCard(card_of(g))).await? {
            Response::PutCard { ok: true } => Ok(()),
            Response::PutCard { ok: false } => Err(CommandFailure::Refused {
                what: Refusal::Card {
                    card: g.card,
                    written: count(written),
                    of: count(of),
                },
            }),
            r => Err(unexpected(&r).into()),
        }
    }

    /// Deletes cards one by one. A card the controller does not hold is no failure: it
    /// refuses the card already.
    async fn delete(&mut self, cards: &[u32]) -> CommandResult {
        let (mut removed, mut absent) = (0, 0);
        for (i, &card) in cards.iter().enumerate() {
            match self.ask(Request::DeleteCard { card }).await? {
                Response::DeleteCard { ok: true } => removed += 1,
                Response::DeleteCard { ok: false } => absent += 1,
                r => return Err(unexpected(&r).into()),
            }
            self.ctx.progress(i as u64 + 1, cards.len() as u64).await;
        }
        Ok(CommandOutcome::CardsRemoved { removed, absent })
    }

    /// Stores every event, checks that none is left, and only then marks them all collected
    /// (set-event-index): the controller has no erase function.
    async fn clear(&mut self) -> CommandResult {
        let mut stored = 0;
        let mut rounds = 0;
        loop {
            let p = self.line.prepare(self.ctx, self.t, self.serial).await?;
            let waiting = p.newest - self.t.bookmark;
            if waiting <= 0 {
                let up_to = u32::try_from(p.newest - self.t.base).unwrap_or(0);
                if up_to > 0 {
                    self.line
                        .ack(self.ctx, self.t, self.serial, up_to)
                        .await
                        .map_err(|e| match e {
                            crate::terminal::TerminalError::Refused(_) => CommandFailure::Refused {
                                what: Refusal::EventIndex { index: up_to },
                            },
                            e => e.into(),
                        })?;
                }
                return Ok(CommandOutcome::RecordsMarkedCollected { stored, up_to });
            }
            if rounds == CLEAR_ROUNDS {
                return Err(CommandFailure::RecordsNotStored {
                    waiting: u64::try_from(waiting).unwrap_or(0),
                });
            }
            rounds += 1;
            stored += self
                .line
                .drain(self.ctx, self.t, self.serial, p.newest, None)
                .await?;
        }
    }

    /// The cards the controller holds, by number, read slot by slot.
    async fn held(&mut self, total: u64) -> Result<BTreeMap<u32, Card>, CommandFailure> {
        let mut held = BTreeMap::new();
        for index in 1..=MAX_CARD_SLOTS {
            match self.ask(Request::GetCardByIndex { index }).await? {
                Response::GetCardByIndex(CardSlot::Found(c)) => {
                    held.insert(c.number, c);
                }
                Response::GetCardByIndex(CardSlot::Deleted) => {}
                Response::GetCardByIndex(CardSlot::NotFound) => break,
                r => return Err(unexpected(&r).into()),
            }
            self.ctx.progress(held.len() as u64, total).await;
        }
        Ok(held)
    }

    /// Makes the controller hold exactly its grants in the database: reads what it holds,
    /// writes what differs, deletes what it must not hold.
    async fn download(&mut self) -> CommandResult {
        let h = propagation::holdings(&self.ctx.pool, self.t.row.id).await?;
        let Holdings::Cards(wanted) = &h else {
            return Err(CommandFailure::Unsupported {
                what: Feature::Download,
            });
        };
        let holds = match self.ask(Request::GetCards).await? {
            Response::GetCards { count } => u64::from(count),
            r => return Err(unexpected(&r).into()),
        };
        let mut total = holds + wanted.len() as u64;
        let held = self.held(total).await?;
        let mut done = held.len() as u64;
        let (mut written, mut unchanged) = (0, 0);
        for g in wanted {
            if held.get(&g.card) == Some(&card_of(g)) {
                unchanged += 1;
            } else {
                self.put(g, written, wanted.len()).await?;
                written += 1;
            }
            done += 1;
            self.ctx.progress(done, total).await;
        }
        let keep: BTreeSet<u32> = wanted.iter().map(|g| g.card).collect();
        let extra: Vec<u32> = held.keys().filter(|n| !keep.contains(n)).copied().collect();
        total += extra.len() as u64;
        let mut removed = 0;
        for card in extra {
            if let Response::DeleteCard { ok: true } =
                self.ask(Request::DeleteCard { card }).await?
            {
                removed += 1;
            }
            done += 1;
            self.ctx.progress(done, total).await;
        }
        if let Some(id) = self.ctx.command_id() {
            propagation::downloaded(&self.ctx.pool, self.t.row.id, id, &h).await?;
        }
        Ok(CommandOutcome::CardsDownloaded {
            written: count(written),
            unchanged,
            removed,
        })
    }
}
