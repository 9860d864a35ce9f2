//! The Attendance tab's reads, each answered with the tab's message. Days are the site's.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::attendance::{
    closed_month, month_of, Effect, Grouping, Msg as AttMsg, PUNCH_ROWS,
};
use crate::app::Msg;
use crate::db::attendance::{self, corrections, results, ResultQuery};
use crate::db::{machine_sync, punch};
use crate::domain::time;
use crate::export::{CsvFile, Existing};
use crate::i18n::trf;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let pool = env.pool;
    answer(
        match effect {
            Effect::Enqueue {
                terminal_id,
                about,
                command,
            } => {
                let queued = crate::app::queue::Effect::Enqueue {
                    terminal_id,
                    about,
                    command,
                };
                return super::queue::run(queued, env).await;
            }
            Effect::Results { gen, day } => {
                return answer(
                    results::results(pool, &ResultQuery::new(day, day))
                        .await
                        .map(|rows| Msg::Attendance(AttMsg::Results { gen, day, rows }))
                        .map_err(Failure::from),
                )
            }
            Effect::Totals { gen, day, grouping } => {
                // A day under way is not counted (everyone not yet in would be absent).
                let Some((from, to)) = closed_month(day, time::today()) else {
                    return answer(Ok(Msg::Attendance(AttMsg::Totals { gen, rows: vec![] })));
                };
                let q = ResultQuery::new(from, to);
                let rows = match grouping {
                    Grouping::Person => results::totals_by_person(pool, &q).await,
                    Grouping::Department => results::totals_by_department(pool, &q).await,
                };
                return answer(
                    rows.map(|rows| Msg::Attendance(AttMsg::Totals { gen, rows }))
                        .map_err(Failure::from),
                );
            }
            Effect::Corrections { gen, day } => {
                let (from, to) = month_of(day);
                corrections::list(pool, from, to, None)
                    .await
                    .map(|rows| AttMsg::Corrections { gen, rows })
            }
            Effect::Correct {
                person,
                kind,
                reason,
            } => return answer(correct(env, &person, &kind, &reason).await),
            Effect::Revoke { id, reason } => return answer(revoke(env, id, &reason).await),
            Effect::Export {
                from,
                to,
                path,
                overwrite,
            } => return answer(export(env, from, to, &path, overwrite).await),
            Effect::Sync { gen } => {
                match (
                    machine_sync::sync_differences(pool, None).await,
                    machine_sync::snapshots(pool, None).await,
                ) {
                    (Ok(rows), Ok(snapshots)) => Ok(AttMsg::Sync {
                        gen,
                        rows,
                        snapshots,
                    }),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            Effect::Import { terminal_id, path } => {
                return answer(import(env, terminal_id, &path).await)
            }
            Effect::Machines { gen } => punch::machines(pool, time::today())
                .await
                .map(|rows| AttMsg::Machines { gen, rows }),
            Effect::Punches { gen } => {
                let day = time::today();
                punch::of_day(pool, day, PUNCH_ROWS)
                    .await
                    .map(|(rows, total)| AttMsg::Punches {
                        gen,
                        day,
                        rows,
                        total,
                    })
            }
        }
        .map(Msg::Attendance)
        .map_err(Failure::from),
    )
}

async fn correct(
    env: &Env<'_>,
    person: &str,
    kind: &corrections::CorrectionKind,
    reason: &str,
) -> Result<Msg, Failure> {
    let actor = env.actor()?;
    let person_id = attendance::person_id(env.pool, person).await?;
    let id = corrections::add(env.pool, &actor, person_id, kind, reason).await?;
    // The results follow at once, not at serve's next pass.
    attendance::refresh_dirty(env.pool).await?;
    Ok(Msg::Done(trf(
        env.lang,
        "att.corrected",
        &[("id", &id.to_string()), ("person", person)],
    )))
}

async fn revoke(env: &Env<'_>, id: i64, reason: &str) -> Result<Msg, Failure> {
    let actor = env.actor()?;
    corrections::revoke(env.pool, &actor, id, reason).await?;
    // As after a correction: the results follow at once.
    attendance::refresh_dirty(env.pool).await?;
    Ok(Msg::Done(trf(
        env.lang,
        "att.revoked",
        &[("id", &id.to_string())],
    )))
}

/// The daily results of [from, to] to `path` (audited by `results::export`).
async fn export(
    env: &Env<'_>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    path: &str,
    overwrite: bool,
) -> Result<Msg, Failure> {
    let actor = env.actor()?;
    let q = ResultQuery::new(from, to);
    let rows = results::results(env.pool, &q).await?;
    let existing = if overwrite {
        Existing::Overwrite
    } else {
        Existing::Refuse
    };
    let file = CsvFile::create(std::path::Path::new(path), existing)?;
    let (file, n) = results::export(env.pool, &actor, &q, &rows, file, path).await?;
    let written = file.commit()?;
    Ok(Msg::Done(trf(
        env.lang,
        "att.exported",
        &[
            ("n", &n.to_string()),
            ("path", &written.display().to_string()),
        ],
    )))
}

/// A machine's exported file into it: each punch stored once, the counts and bad lines said.
async fn import(env: &Env<'_>, terminal_id: i64, path: &str) -> Result<Msg, Failure> {
    use crate::import::punches::{self, PunchImportError as E};
    let actor = env.actor()?;
    let report = punches::import_punches_file(
        env.pool,
        &actor,
        terminal_id,
        std::path::Path::new(path),
        false,
    )
    .await
    .map_err(|e| match e {
        E::Denied(d) => Failure::Denied(d),
        E::Sql(e) => e.into(),
        E::Read { path, source } => Failure::read(&path, &source),
        E::File {
            path,
            line,
            problem,
        } => Failure::PunchFile {
            path,
            line,
            problem,
        },
        // The machine was picked from the list: it went away meanwhile.
        E::UnknownMachine { .. }
        | E::NotAnAttendanceMachine { .. }
        | E::AmbiguousMachine { .. } => Failure::TerminalGone(terminal_id),
    })?;
    let lang = env.lang;
    let mut text = trf(
        lang,
        "att.imported",
        &[
            ("machine", &report.machine),
            ("new", &report.new.to_string()),
            ("known", &report.known().to_string()),
            ("bad", &report.bad.len().to_string()),
        ],
    );
    if !report.bad.is_empty() {
        let lines: Vec<String> = report
            .bad
            .iter()
            .take(10)
            .map(|b| b.line.to_string())
            .collect();
        text.push_str(&trf(
            lang,
            "att.imported_bad",
            &[("lines", &lines.join(", "))],
        ));
    }
    Ok(Msg::Done(text))
}
