//! Door events with who they were: the live feed, queries and loss queries, and the export
//! for campus security.

use super::*;

/// A door event with who it was: the door and controller by name, the card's holder and
/// department.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DoorEvent {
    pub terminal_id: i64,
    pub record_no: i64,
    pub door: i16,
    /// '' when the door is not named (or the event is the controller's, not a door's).
    pub door_name: String,
    pub controller: String,
    /// The controller's serial number.
    pub serial: i64,
    /// onecard's kind: granted, denied, forced_open, remote_open, ...
    pub kind: String,
    pub granted: bool,
    /// The controller's reason code.
    pub reason: i16,
    pub card: Option<i64>,
    pub person_id: Option<i64>,
    pub person_no: Option<String>,
    pub person_name: Option<String>,
    pub department: Option<String>,
    /// The controller's own clock (local time; None when it gave none).
    pub terminal_time: Option<NaiveDateTime>,
    pub received_at: DateTime<Utc>,
    /// Replayed by a controller that was offline.
    pub late: bool,
    /// `in` or `out`: the reader it was read at (None when the controller said neither).
    pub direction: Option<String>,
    /// Stamped by a controller clock that was not valid: `terminal_time` is not when it was.
    pub clock_invalid: bool,
    /// Loss queries only: what the card was at the time of the swipe (lost, replaced,
    /// surrendered, cancelled).
    pub card_state: Option<String>,
}

/// The view of `page e` (door_event columns plus `card_state`).
const EVENT_VIEW: &str =
    " SELECT e.terminal_id, e.record_no, e.door, coalesce(d.name, '') AS door_name,
        t.name AS controller, t.address AS serial, e.kind, e.granted, e.reason, e.card,
        p.id AS person_id, p.person_no, p.name AS person_name, dep.name AS department,
        e.terminal_time, e.received_at, e.late, e.direction, e.clock_invalid, e.card_state
     FROM page e
     JOIN terminal t ON t.id = e.terminal_id
     LEFT JOIN door d ON d.terminal_id = e.terminal_id AND d.door = e.door
     LEFT JOIN card c ON c.card_no = e.card
     LEFT JOIN person p ON p.id = c.person_id
     LEFT JOIN department dep ON dep.id = p.department_id";

/// How far back a live feed re-reads ([`since`]).
pub const FEED_REREAD: std::time::Duration = std::time::Duration::from_secs(30);

/// The newest `limit` events by when they were received, newest first: the live feed's start.
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<DoorEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH page AS (SELECT e.*, NULL::text AS card_state FROM door_event e
             ORDER BY e.received_at DESC, e.terminal_id DESC, e.record_no DESC LIMIT $1)
         {EVENT_VIEW}
         ORDER BY e.received_at DESC, e.terminal_id DESC, e.record_no DESC"
    ))
    .bind(limit.max(0))
    .fetch_all(pool)
    .await
}

/// Events received after `after`, oldest first, at most `limit`: the live feed's next rows.
///
/// `received_at` is the time the storing transaction *began* (`now()`), not when it committed.
/// Two pollers' batches commit in any order, so a batch that began first may become visible
/// after another's rows were read, with `received_at` values below them: a strict cursor
/// (`after` = the newest `received_at` seen) would skip it for ever. So the caller re-reads a
/// window: `after` = the newest `received_at` it has seen minus [`FEED_REREAD`] (longer than
/// any storing transaction lasts), and drops rows it holds already by (terminal, record no).
/// When a call returns `limit` rows, there may be more: call again from the last one.
pub async fn since(
    pool: &PgPool,
    after: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DoorEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH page AS (SELECT e.*, NULL::text AS card_state FROM door_event e
             WHERE e.received_at > $1
             ORDER BY e.received_at, e.terminal_id, e.record_no LIMIT $2)
         {EVENT_VIEW}
         ORDER BY e.received_at, e.terminal_id, e.record_no"
    ))
    .bind(after)
    .bind(limit.max(0))
    .fetch_all(pool)
    .await
}

/// Which door events: every filter given must hold. Times are the controllers' own clocks
/// (local time), since that is when the door was opened; an event without one is left out of
/// any time range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventQuery {
    /// At or after.
    pub from: Option<NaiveDateTime>,
    /// Before.
    pub to: Option<NaiveDateTime>,
    /// A person: their person number; else their whole name; else every person whose name
    /// contains it (ignoring Latin case). Their swipes with any card they ever held.
    pub person: Option<String>,
    /// A card number.
    pub card: Option<i64>,
    /// A department's code or name (the rule of [`person::match_department`]): its persons'
    /// swipes.
    pub department: Option<String>,
    /// A controller; with `door`, one of its doors.
    pub terminal_id: Option<i64>,
    pub door: Option<i16>,
    /// Some(true): openings (granted) only; Some(false): refusals only.
    pub granted: Option<bool>,
    /// Loss query: only swipes of cards that were out of service at the time (lost, replaced,
    /// surrendered or cancelled), each with that state.
    pub lost_cards: bool,
    /// The page: rows skipped, and at most `limit` rows. Exports ignore both.
    #[serde(skip)]
    pub offset: i64,
    #[serde(skip)]
    pub limit: i64,
}

/// A page of a query and how many rows match in all ("200 of 2,321").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    /// What the page was asked for with: a late page for an older query is not shown.
    pub query: EventQuery,
    pub rows: Vec<DoorEvent>,
    pub total: u64,
}

/// Newest first by the controller's clock (events without one first); the indexes on
/// `terminal_time` (by door, by card, and alone) all walk backwards in this order.
const EVENT_ORDER: &str = " ORDER BY e.terminal_time DESC, e.terminal_id DESC, e.record_no DESC";

/// When a card was out of service: from an event making it lost, replaced, surrendered or
/// cancelled until its next state change (a card found again is back in service), as local
/// times to compare with the controllers' clocks.
struct Losses {
    cards: Vec<i64>,
    starts: Vec<NaiveDateTime>,
    ends: Vec<Option<NaiveDateTime>>,
    states: Vec<String>,
}

/// What a query needs resolved before it runs.
struct Plan {
    department_id: Option<i64>,
    losses: Option<Losses>,
}

async fn plan(conn: &mut PgConnection, q: &EventQuery) -> Result<Plan, DoorError> {
    let department_id = match nonempty(&q.department) {
        None => None,
        Some(key) => Some(department_named(conn, key).await?),
    };
    let losses = if q.lost_cards {
        Some(losses(conn, q).await?)
    } else {
        None
    };
    Ok(Plan {
        department_id,
        losses,
    })
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The department `key` names, by the person register's rule.
async fn department_named(conn: &mut PgConnection, key: &str) -> Result<i64, DoorError> {
    let found: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, code, name FROM department
         WHERE lower(code) = lower($1) OR lower(name) = lower($1) ORDER BY id",
    )
    .bind(key)
    .fetch_all(&mut *conn)
    .await?;
    match person::match_department(&found, key, |d| (d.1.as_str(), d.2.as_str())) {
        Ok(Some(d)) => Ok(d.0),
        Ok(None) => Err(invalid(Field::Department, key, Problem::Unknown)),
        Err(candidates) => Err(invalid(
            Field::Department,
            key,
            Problem::Ambiguous { candidates },
        )),
    }
}

async fn losses(conn: &mut PgConnection, q: &EventQuery) -> Result<Losses, sqlx::Error> {
    // A reissue or an exchange is the old card's event; written on the new card as well
    // (`other_card_id` = the card it replaces), it says nothing of the new one.
    #[derive(FromRow)]
    struct StateChange {
        card_no: i64,
        event: String,
        at: DateTime<Utc>,
        next_at: Option<DateTime<Utc>>,
    }
    let rows: Vec<StateChange> = sqlx::query_as(
        "SELECT x.card_no, x.event, x.at, x.next_at FROM (
             SELECT c.card_no, ce.event, ce.at,
                    lead(ce.at) OVER (PARTITION BY ce.card_id ORDER BY ce.at, ce.id) AS next_at
             FROM card_event ce
             JOIN card c ON c.id = ce.card_id
             WHERE ce.event IN ('report_lost', 'report_found', 'reissue', 'exchange', 'return', 'cancel')
               AND NOT (ce.event IN ('reissue', 'exchange')
                        AND coalesce(ce.other_card_id = c.replaces_card_id, false))
               AND ($1::int8 IS NULL OR c.card_no = $1)) x
         WHERE x.event <> 'report_found'",
    )
    .bind(q.card)
    .fetch_all(&mut *conn)
    .await?;
    let local = crate::domain::time::local;
    let mut out = Losses {
        cards: Vec::new(),
        starts: Vec::new(),
        ends: Vec::new(),
        states: Vec::new(),
    };
    for StateChange {
        card_no: card,
        event,
        at,
        next_at,
    } in rows
    {
        let (start, end) = (local(at), next_at.map(local));
        // Periods that cannot meet the time range are left out of the join.
        let before = matches!((end, q.from), (Some(e), Some(f)) if e <= f);
        let after = matches!(q.to, Some(t) if start >= t);
        if before || after {
            continue;
        }
        let state = match event.as_str() {
            "report_lost" => "lost",
            "reissue" => "replaced",
            "exchange" => "surrendered",
            _ => "cancelled",
        };
        out.cards.push(card);
        out.starts.push(start);
        out.ends.push(end);
        out.states.push(state.to_string());
    }
    Ok(out)
}

/// `FROM door_event e ... WHERE ...` for `q`.
fn push_from_where(b: &mut QueryBuilder<'_, Postgres>, q: &EventQuery, plan: &Plan) {
    b.push(" FROM door_event e");
    if let Some(l) = &plan.losses {
        b.push(" JOIN unnest(")
            .push_bind(l.cards.clone())
            .push("::int8[], ")
            .push_bind(l.starts.clone())
            .push("::timestamp[], ")
            .push_bind(l.ends.clone())
            .push("::timestamp[], ")
            .push_bind(l.states.clone())
            .push(
                "::text[]) AS l(card, starts, ends, state)
                 ON e.card = l.card AND e.terminal_time >= l.starts
                    AND (l.ends IS NULL OR e.terminal_time < l.ends)",
            );
    }
    b.push(" WHERE true");
    if let Some(from) = q.from {
        b.push(" AND e.terminal_time >= ").push_bind(from);
    }
    if let Some(to) = q.to {
        b.push(" AND e.terminal_time < ").push_bind(to);
    }
    if let Some(t) = q.terminal_id {
        b.push(" AND e.terminal_id = ").push_bind(t);
    }
    if let Some(d) = q.door {
        b.push(" AND e.door = ").push_bind(d);
    }
    if let Some(card) = q.card {
        b.push(" AND e.card = ").push_bind(card);
    }
    if let Some(who) = nonempty(&q.person) {
        // The best kind of match decides: a person number, else a whole name, else a part.
        b.push(
            " AND e.card = ANY(ARRAY(SELECT c.card_no FROM card c WHERE c.person_id IN (
                 SELECT m.id FROM (
                     SELECT p.id, rank() OVER (ORDER BY CASE WHEN p.person_no = w.who THEN 0
                                                             WHEN p.name = w.who THEN 1
                                                             ELSE 2 END) AS best
                     FROM person p, (SELECT ",
        )
        .push_bind(who.to_string())
        .push(
            "::text AS who) w
                     WHERE p.person_no = w.who OR strpos(lower(p.name), lower(w.who)) > 0) m
                 WHERE m.best = 1)))",
        );
    }
    if let Some(dept) = plan.department_id {
        b.push(
            " AND e.card = ANY(ARRAY(SELECT c.card_no FROM card c
                 JOIN person p ON p.id = c.person_id WHERE p.department_id = ",
        )
        .push_bind(dept)
        .push("))");
    }
    if let Some(g) = q.granted {
        b.push(" AND e.granted = ").push_bind(g);
    }
}

/// The rows of `q` in [`EVENT_ORDER`], `limit`ed as given.
fn events_sql(
    q: &EventQuery,
    plan: &Plan,
    page: Option<(i64, i64)>,
) -> QueryBuilder<'static, Postgres> {
    let mut b = QueryBuilder::new("WITH page AS (SELECT e.*, ");
    b.push(if plan.losses.is_some() {
        "l.state"
    } else {
        "NULL::text"
    });
    b.push(" AS card_state");
    push_from_where(&mut b, q, plan);
    b.push(EVENT_ORDER);
    if let Some((offset, limit)) = page {
        b.push(" LIMIT ")
            .push_bind(limit.max(0))
            .push(" OFFSET ")
            .push_bind(offset.max(0));
    }
    b.push(")");
    b.push(EVENT_VIEW);
    b.push(EVENT_ORDER);
    b
}

/// One page of door events matching `q`, and how many match in all. Count and page are read
/// from one snapshot, so they agree.
pub async fn query(pool: &PgPool, q: &EventQuery) -> Result<EventPage, DoorError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let plan = plan(&mut tx, q).await?;
    let mut count = QueryBuilder::new("SELECT count(*)");
    push_from_where(&mut count, q, &plan);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;
    let rows = events_sql(q, &plan, Some((q.offset, q.limit)))
        .build_query_as()
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(EventPage {
        query: q.clone(),
        rows,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// The export's columns; `card_state` only in a loss query's.
fn event_columns(q: &EventQuery) -> Vec<&'static str> {
    let mut c = vec![
        "time",
        "controller",
        "serial",
        "door",
        "door_name",
        "kind",
        "direction",
        "granted",
        "reason",
        "card",
        "person_no",
        "person",
        "department",
    ];
    if q.lost_cards {
        c.push("card_state");
    }
    c.extend([
        "received_at",
        "late",
        "clock_invalid",
        "terminal_id",
        "record_no",
    ]);
    c
}

fn event_cells(q: &EventQuery, e: &DoorEvent) -> Vec<String> {
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut c = vec![
        e.terminal_time
            .map(export::terminal_time)
            .unwrap_or_default(),
        e.controller.clone(),
        e.serial.to_string(),
        e.door.to_string(),
        e.door_name.clone(),
        e.kind.clone(),
        text(&e.direction),
        yes(e.granted),
        e.reason.to_string(),
        e.card.map(|c| c.to_string()).unwrap_or_default(),
        text(&e.person_no),
        text(&e.person_name),
        text(&e.department),
    ];
    if q.lost_cards {
        c.push(text(&e.card_state));
    }
    c.extend([
        export::local_time(e.received_at),
        yes(e.late),
        yes(e.clock_invalid),
        e.terminal_id.to_string(),
        e.record_no.to_string(),
    ]);
    c
}

/// Every event matching `q` (all pages) as CSV into `writer`, streamed, for campus security.
/// The audit row (who, the query, the row count) is written in the transaction the rows are
/// read in: an export that fails leaves no record of having happened, and none happens
/// unrecorded. An operator needs [`Action::ReportExport`]. Returns the rows written.
pub async fn export_events<W: Write>(
    pool: &PgPool,
    actor: &Actor,
    q: &EventQuery,
    writer: W,
) -> Result<u64, DoorError> {
    write_events(pool, actor, q, writer, None).await
}

/// [`export_events`] into a file, which replaces an existing one only with
/// [`Existing::Overwrite`].
pub async fn export_events_file(
    pool: &PgPool,
    actor: &Actor,
    q: &EventQuery,
    path: &Path,
    existing: Existing,
) -> Result<u64, DoorError> {
    actor.authorize(Action::ReportExport)?;
    let mut file = CsvFile::create(path, existing)?;
    let n = write_events(pool, actor, q, &mut file, Some(path)).await?;
    file.commit()?;
    Ok(n)
}

async fn write_events<W: Write>(
    pool: &PgPool,
    actor: &Actor,
    q: &EventQuery,
    writer: W,
    file: Option<&Path>,
) -> Result<u64, DoorError> {
    actor.authorize(Action::ReportExport)?;
    let mut tx = pool.begin().await?;
    let plan = plan(&mut tx, q).await?;
    let mut csv = Csv::new(writer, &event_columns(q))?;
    {
        let mut b = events_sql(q, &plan, None);
        let mut rows = b.build_query_as::<DoorEvent>().fetch(&mut *tx);
        while let Some(e) = rows.try_next().await? {
            csv.row(event_cells(q, &e))?;
        }
    }
    let n = csv.rows();
    csv.finish()?;
    audit::append(
        &mut tx,
        actor,
        "door.export",
        "door_event",
        "",
        None,
        Some(json!({
            "query": q,
            "rows": n,
            "file": file.map(|p| p.display().to_string()),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}
