//! The one place that knows every protocol: opens a line's driver by its protocol and
//! dispatches the [`LineDriver`] calls to it.

use super::line::{Ctx, LineDriver, PollError, Polled, Pushed, Term};
use super::native::NativeLine;
use super::options::Options;
use super::uhppote::UhppoteLine;
use super::zk::ZkLine;
use crate::db::command::{CommandResult, TerminalCommand};
use crate::db::terminal::Line;

/// A line's driver, whichever its protocol.
pub(crate) enum Driver {
    Uhppote(UhppoteLine),
    Native(Box<NativeLine>),
    Zk(ZkLine),
}

/// Opens the driver for `line`'s protocol.
pub(crate) async fn open(line: &Line, options: &Options) -> Result<Driver, String> {
    match line.protocol.as_str() {
        "uhppote" => Ok(Driver::Uhppote(UhppoteLine::open(line, options).await?)),
        "native" => Ok(Driver::Native(Box::new(NativeLine::open(line).await?))),
        "zk" => Ok(Driver::Zk(ZkLine::open(line, options).await?)),
        other => Err(format!("unknown protocol {other}")),
    }
}

impl LineDriver for Driver {
    async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        match self {
            Driver::Uhppote(d) => d.poll(ctx, t).await,
            Driver::Native(d) => d.poll(ctx, t).await,
            Driver::Zk(d) => d.poll(ctx, t).await,
        }
    }

    async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> CommandResult {
        match self {
            Driver::Uhppote(d) => d.execute(ctx, t, cmd).await,
            Driver::Native(d) => d.execute(ctx, t, cmd).await,
            Driver::Zk(d) => d.execute(ctx, t, cmd).await,
        }
    }

    fn reset(&mut self) {
        match self {
            Driver::Uhppote(d) => d.reset(),
            Driver::Native(d) => d.reset(),
            Driver::Zk(d) => d.reset(),
        }
    }

    async fn next_push(&mut self) -> Option<Pushed> {
        match self {
            Driver::Uhppote(d) => d.next_push().await,
            Driver::Native(d) => d.next_push().await,
            Driver::Zk(d) => d.next_push().await,
        }
    }

    async fn glance(&mut self, ctx: &mut Ctx, t: &mut Term) {
        if let Driver::Native(d) = self {
            d.glance(ctx, t).await;
        }
    }

    async fn on_push(&mut self, ctx: &mut Ctx, t: &mut Term, ev: Pushed) {
        match self {
            Driver::Uhppote(d) => d.on_push(ctx, t, ev).await,
            Driver::Native(d) => d.on_push(ctx, t, ev).await,
            Driver::Zk(d) => d.on_push(ctx, t, ev).await,
        }
    }
}
