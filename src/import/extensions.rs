//! `onecard import extensions FILE --until DATE`: June's list of delayed graduates, extended in
//! one go.
//!
//! The file is CSV (UTF-8, header required) with a `card_no` (卡号) or a `person_no` (学工号,
//! 学号, 工号, 人员编号) column (or both: each row then fills exactly one); other columns (a
//! name, a note) are ignored. A person stands for their card in service. The file is checked whole (unknown card or person, a card
//! that cannot be extended and why, a card named twice, bad encoding, missing column) and every
//! bad row is named by its line; then every card is extended in one transaction
//! (`db::card::extend_batch`), or none.

use super::{bad, decode, ImportError, Lines, RowError, RowProblem};
use crate::db::card::{self, BatchError, Extension};
use crate::domain::permission::{Action, Actor};
use chrono::NaiveDate;
use sqlx::PgPool;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// What an import did, or (dry run) would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub cards: Vec<Extension>,
    /// False for a dry run.
    pub applied: bool,
}

/// Checks the file and extends every card it names to `until` (unless `dry_run`).
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    path: &str,
    bytes: &[u8],
    until: NaiveDate,
    dry_run: bool,
) -> Result<Outcome, ImportError> {
    actor.authorize(Action::CardLifecycle)?;
    let text = decode(path, bytes)?;
    let lines = Lines::new(text);
    let (mut reader, headers) = super::open_csv(path, text)?;
    let column = |names: &[&str]| super::column_of(&headers, names);
    let (card_col, person_col) = (
        column(&["card_no", "卡号"]),
        column(&["person_no", "学工号", "学号", "工号", "人员编号"]),
    );
    if card_col.is_none() && person_col.is_none() {
        return Err(bad(
            path,
            vec![RowError::new(1, RowProblem::NoCardOrPersonColumn)],
        ));
    }
    enum Names {
        Card(i64),
        Person(String),
    }
    let mut errors = Vec::new();
    let mut named: Vec<(u64, Names)> = Vec::new();
    for result in reader.records() {
        let (line, record) = match lines.record(result) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
        match (get(card_col), get(person_col)) {
            (Some(_), Some(_)) => errors.push(RowError::new(line, RowProblem::CardAndPerson)),
            (None, None) => errors.push(RowError::new(line, RowProblem::NoCardNorPerson)),
            (Some(no), None) => match no.parse::<i64>() {
                Ok(n) if (1..=u32::MAX as i64).contains(&n) => named.push((line, Names::Card(n))),
                _ => errors.push(RowError::new(
                    line,
                    RowProblem::NotACardNo {
                        text: no.to_string(),
                    },
                )),
            },
            (None, Some(p)) => named.push((line, Names::Person(p.to_string()))),
        }
    }
    if named.is_empty() && errors.is_empty() {
        errors.push(RowError::new(1, RowProblem::NoRows));
    }
    // Resolve every row to a card.
    let card_nos: Vec<i64> = named
        .iter()
        .filter_map(|(_, n)| match n {
            Names::Card(c) => Some(*c),
            Names::Person(_) => None,
        })
        .collect();
    let person_nos: Vec<String> = named
        .iter()
        .filter_map(|(_, n)| match n {
            Names::Person(p) => Some(p.clone()),
            Names::Card(_) => None,
        })
        .collect();
    let by_card_no: HashMap<i64, i64> =
        sqlx::query_as::<_, (i64, i64)>("SELECT card_no, id FROM card WHERE card_no = ANY($1)")
            .bind(&card_nos)
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let persons: HashMap<String, Option<i64>> = sqlx::query_as::<_, (String, Option<i64>)>(
        "SELECT p.person_no, c.id FROM person p
         LEFT JOIN card c ON c.person_id = p.id AND c.state IN ('active', 'lost')
         WHERE p.person_no = ANY($1)",
    )
    .bind(&person_nos)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let mut lines_of: HashMap<i64, u64> = HashMap::new();
    let mut ids = Vec::new();
    for (line, n) in &named {
        let id = match n {
            Names::Card(no) => match by_card_no.get(no) {
                Some(id) => *id,
                None => {
                    errors.push(RowError::new(*line, RowProblem::NoCard { card_no: *no }));
                    continue;
                }
            },
            Names::Person(p) => match persons.get(p) {
                None => {
                    errors.push(RowError::new(
                        *line,
                        RowProblem::NoPerson {
                            person_no: p.clone(),
                        },
                    ));
                    continue;
                }
                Some(None) => {
                    errors.push(RowError::new(
                        *line,
                        RowProblem::NoCardInService {
                            person_no: p.clone(),
                        },
                    ));
                    continue;
                }
                Some(Some(id)) => *id,
            },
        };
        if let Some(first) = lines_of.get(&id) {
            errors.push(RowError::new(*line, RowProblem::SameCard { line: *first }));
            continue;
        }
        lines_of.insert(id, *line);
        ids.push(id);
    }
    // A clean file is extended at once (all or nothing, every refusal named by its line); a
    // dry run, or a file with bad rows, is only checked, so its refusals are named too.
    let write = !dry_run && errors.is_empty();
    let result = if ids.is_empty() {
        Ok(Vec::new())
    } else if write {
        card::extend_batch(pool, actor, &ids, until).await
    } else {
        card::preview_batch(pool, actor, &ids, until).await
    };
    let cards = match result {
        Ok(cards) => cards,
        Err(BatchError::Refused(refusals)) => {
            for r in refusals {
                errors.push(RowError::new(
                    lines_of.get(&r.card_id).copied().unwrap_or(0),
                    RowProblem::CardRefused(r),
                ));
            }
            Vec::new()
        }
        Err(BatchError::Denied(d)) => return Err(d.into()),
        Err(BatchError::Sql(e)) => return Err(e.into()),
    };
    if !errors.is_empty() {
        return Err(bad(path, errors));
    }
    Ok(Outcome {
        cards,
        applied: write,
    })
}

pub async fn cli(
    pool: &PgPool,
    actor: &Actor,
    file: &Path,
    until: NaiveDate,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let path = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|source| ImportError::Read {
        path: path.clone(),
        source,
    })?;
    let outcome = import(pool, actor, &path, &bytes, until, dry_run).await?;
    let verb = if outcome.applied {
        "extended"
    } else {
        "would extend"
    };
    writeln!(out, "{verb} {} card(s) to {until}:", outcome.cards.len())?;
    for c in &outcome.cards {
        writeln!(
            out,
            "  card {}  {} ({})  {} -> {}",
            c.card_no, c.person_name, c.person_no, c.old_until, c.new_until
        )?;
    }
    if !outcome.applied {
        writeln!(out, "dry run: nothing changed")?;
    }
    Ok(())
}
