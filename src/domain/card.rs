//! The card lifecycle as one state machine: which transition is allowed from which state, and
//! why not. Pure: the database layer (`db::card`) asks `check` before every transition and
//! writes the change, its card_event and its audit row in one transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// 卡類. Temporary cards only pay (no doors, no attendance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CardKind {
    Staff,
    Student,
    Temporary,
}

crate::domain::named!(CardKind, "card kind", {
    Staff => "staff",
    Student => "student",
    Temporary => "temporary",
});

impl CardKind {
    /// Subsystems a card of this kind may be given.
    pub fn allows(self, subsystem: Subsystem) -> bool {
        self != CardKind::Temporary || subsystem == Subsystem::Pos
    }
}

/// What a card may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subsystem {
    Door,
    Pos,
    Attendance,
}

crate::domain::named!(Subsystem, "subsystem", {
    Door => "door",
    Pos => "pos",
    Attendance => "attendance",
});

/// Where a card is in its life. `Replaced`, `Surrendered` and `Cancelled` are final, and a
/// card number is never issued again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardState {
    Active,
    /// Reported lost: blacklisted on every terminal until found or replaced.
    Lost,
    /// Replaced by a reissued card: blacklisted for ever.
    Replaced,
    /// Handed back in an exchange.
    Surrendered,
    /// Returned or cancelled: out of service.
    Cancelled,
}

crate::domain::named!(CardState, "card state", {
    Active => "active",
    Lost => "lost",
    Replaced => "replaced",
    Surrendered => "surrendered",
    Cancelled => "cancelled",
});

impl CardState {
    /// Terminals must refuse the card (blacklist, or the card deleted from door controllers).
    pub fn blacklisted(self) -> bool {
        self != CardState::Active
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            CardState::Replaced | CardState::Surrendered | CardState::Cancelled
        )
    }
}

/// A transition of an existing card (issue creates one and has no "from" state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    Rewrite,
    ReportLost,
    ReportFound,
    Reissue,
    Exchange,
    Return,
    Cancel,
    Extend,
    PinChange,
    PinReset,
    Limits,
}

// The names in `card_event.event`, the audit log (`card.<name>`) and the glossary.
crate::domain::named!(Transition, "card transition", {
    Rewrite => "rewrite",
    ReportLost => "report_lost",
    ReportFound => "report_found",
    Reissue => "reissue",
    Exchange => "exchange",
    Return => "return",
    Cancel => "cancel",
    Extend => "extend",
    PinChange => "pin_change",
    PinReset => "pin_reset",
    Limits => "limits",
});

impl Transition {
    /// The state the card is in afterwards (for reissue and exchange: the old card).
    pub fn to(self, from: CardState) -> CardState {
        match self {
            Transition::ReportLost => CardState::Lost,
            Transition::ReportFound => CardState::Active,
            Transition::Reissue => CardState::Replaced,
            Transition::Exchange => CardState::Surrendered,
            Transition::Return | Transition::Cancel => CardState::Cancelled,
            _ => from,
        }
    }
}

/// A reissue waits this long after the loss report, unless a director overrides it.
pub const REISSUE_WAIT: Duration = Duration::hours(24);

/// Why a transition is refused, in the card desk's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("card {card_no} is already lost")]
    AlreadyLost { card_no: i64 },
    #[error("card {card_no} is not reported lost")]
    NotLost { card_no: i64 },
    #[error("card {card_no} is {state}: it can no longer be {done}")]
    Final {
        card_no: i64,
        state: CardState,
        done: &'static str,
    },
    #[error("card {card_no} is lost: report it found first, or reissue it")]
    LostCard { card_no: i64 },
    #[error("card {card_no} was reported lost {hours} h ago: a reissue needs 24 h unless a director overrides it with a reason")]
    TooSoon { card_no: i64, hours: i64 },
    #[error("a director's override needs a reason")]
    OverrideWithoutReason,
    #[error("only a director may override the 24 h wait")]
    OverrideNotDirector,
    #[error("a temporary card only pays: it cannot be given {subsystem}")]
    TemporarySubsystem { subsystem: Subsystem },
    #[error("a temporary card is valid at most 1 year at a time (until {latest} at the latest)")]
    TemporaryTooLong { latest: NaiveDate },
    #[error("the new expiry {until} is not after the current one ({current})")]
    NotLater {
        until: NaiveDate,
        current: NaiveDate,
    },
    #[error("the validity ends ({until}) before it starts ({from})")]
    EndsBeforeStart { from: NaiveDate, until: NaiveDate },
}

/// What `check` needs to know besides the state.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub card_no: i64,
    pub state: CardState,
    pub lost_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    /// Reissue only: a director overrides the 24 h wait...
    pub director_override: bool,
    /// ...with this reason given (non-empty).
    pub override_reason_given: bool,
    /// The operator is a director (or the local shell).
    pub is_director: bool,
}

/// The one transition table.
pub fn check(t: Transition, c: &Context) -> Result<(), Refusal> {
    use CardState::*;
    let card_no = c.card_no;
    if c.state.is_final() {
        return Err(Refusal::Final {
            card_no,
            state: c.state,
            done: done_word(t),
        });
    }
    match (t, c.state) {
        (Transition::ReportLost, Lost) => Err(Refusal::AlreadyLost { card_no }),
        (Transition::ReportLost, _) => Ok(()),
        (Transition::ReportFound, Lost) => Ok(()),
        (Transition::ReportFound, _) => Err(Refusal::NotLost { card_no }),
        (Transition::Reissue, Lost) => {
            let waited = c.lost_at.map_or(Duration::zero(), |at| c.now - at);
            if waited >= REISSUE_WAIT {
                return Ok(());
            }
            if !c.director_override {
                return Err(Refusal::TooSoon {
                    card_no,
                    hours: waited.num_hours(),
                });
            }
            if !c.is_director {
                return Err(Refusal::OverrideNotDirector);
            }
            if !c.override_reason_given {
                return Err(Refusal::OverrideWithoutReason);
            }
            Ok(())
        }
        (Transition::Reissue, _) => Err(Refusal::NotLost { card_no }),
        // Returning or cancelling a lost card closes it; the rest need the card in hand.
        (Transition::Return | Transition::Cancel, _) => Ok(()),
        (_, Lost) => Err(Refusal::LostCard { card_no }),
        (_, Active) => Ok(()),
        (_, Replaced | Surrendered | Cancelled) => unreachable!("final states returned above"),
    }
}

fn done_word(t: Transition) -> &'static str {
    match t {
        Transition::Rewrite => "rewritten",
        Transition::ReportLost => "reported lost",
        Transition::ReportFound => "reported found",
        Transition::Reissue => "reissued",
        Transition::Exchange => "exchanged",
        Transition::Return => "returned",
        Transition::Cancel => "cancelled",
        Transition::Extend => "extended",
        Transition::PinChange => "given a new PIN",
        Transition::PinReset => "given a PIN reset",
        Transition::Limits => "given new limits",
    }
}

/// The validity an issue, rewrite or extension may give: temporary cards at most one year
/// (366 days covers a leap year) from `from`, and never ending before they start.
pub fn check_validity(
    kind: CardKind,
    from: NaiveDate,
    until: NaiveDate,
    max_days: Option<i64>,
) -> Result<(), Refusal> {
    if until < from {
        return Err(Refusal::EndsBeforeStart { from, until });
    }
    if let Some(max) = max_days.or((kind == CardKind::Temporary).then_some(365)) {
        let latest = from + Duration::days(max);
        if until > latest {
            return Err(Refusal::TemporaryTooLong { latest });
        }
    }
    Ok(())
}

/// An extension: later than the current expiry, and for temporary cards at most a year past
/// the later of today and the current expiry.
pub fn check_extension(
    kind: CardKind,
    current: NaiveDate,
    until: NaiveDate,
    today: NaiveDate,
    max_days: Option<i64>,
) -> Result<(), Refusal> {
    if until <= current {
        return Err(Refusal::NotLater { until, current });
    }
    check_validity(kind, current.max(today), until, max_days)
}

/// Subsystems a card of `kind` may be given.
pub fn check_subsystems(kind: CardKind, subsystems: &[Subsystem]) -> Result<(), Refusal> {
    match subsystems.iter().find(|s| !kind.allows(**s)) {
        Some(&subsystem) => Err(Refusal::TemporarySubsystem { subsystem }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(state: CardState) -> Context {
        Context {
            card_no: 8165537,
            state,
            lost_at: None,
            now: Utc::now(),
            director_override: false,
            override_reason_given: false,
            is_director: false,
        }
    }

    #[test]
    fn every_transition_from_every_state_is_decided() {
        // (transition, allowed from active, allowed from lost); final states refuse all.
        let grid = [
            (Transition::Rewrite, true, false),
            (Transition::ReportLost, true, false),
            (Transition::ReportFound, false, true),
            (Transition::Reissue, false, false), // lost, but not 24 h yet
            (Transition::Exchange, true, false),
            (Transition::Return, true, true),
            (Transition::Cancel, true, true),
            (Transition::Extend, true, false),
            (Transition::PinChange, true, false),
            (Transition::PinReset, true, false),
            (Transition::Limits, true, false),
        ];
        assert_eq!(grid.len(), Transition::ALL.len());
        for (t, active, lost) in grid {
            let mut c = ctx(CardState::Lost);
            c.lost_at = Some(c.now);
            assert_eq!(
                check(t, &ctx(CardState::Active)).is_ok(),
                active,
                "{t} from active"
            );
            assert_eq!(check(t, &c).is_ok(), lost, "{t} from lost");
            for s in [
                CardState::Replaced,
                CardState::Surrendered,
                CardState::Cancelled,
            ] {
                assert!(
                    matches!(check(t, &ctx(s)), Err(Refusal::Final { .. })),
                    "{t} from {s}"
                );
            }
        }
    }

    #[test]
    fn reissue_waits_24_hours_unless_a_director_overrides_with_a_reason() {
        let mut c = ctx(CardState::Lost);
        c.lost_at = Some(c.now - Duration::hours(23));
        assert_eq!(
            check(Transition::Reissue, &c),
            Err(Refusal::TooSoon {
                card_no: 8165537,
                hours: 23
            })
        );
        c.director_override = true;
        assert_eq!(
            check(Transition::Reissue, &c),
            Err(Refusal::OverrideNotDirector)
        );
        c.is_director = true;
        assert_eq!(
            check(Transition::Reissue, &c),
            Err(Refusal::OverrideWithoutReason)
        );
        c.override_reason_given = true;
        assert_eq!(check(Transition::Reissue, &c), Ok(()));
        let mut later = ctx(CardState::Lost);
        later.lost_at = Some(later.now - Duration::hours(24));
        assert_eq!(check(Transition::Reissue, &later), Ok(()));
    }

    #[test]
    fn temporary_cards_pay_only_and_last_a_year_at_most() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(check_subsystems(CardKind::Temporary, &[Subsystem::Pos]).is_ok());
        assert_eq!(
            check_subsystems(CardKind::Temporary, &[Subsystem::Pos, Subsystem::Door]),
            Err(Refusal::TemporarySubsystem {
                subsystem: Subsystem::Door
            })
        );
        assert!(check_subsystems(CardKind::Staff, &Subsystem::ALL).is_ok());
        assert!(
            check_validity(CardKind::Temporary, d("2026-11-22"), d("2027-11-22"), None).is_ok()
        );
        assert!(
            check_validity(CardKind::Temporary, d("2026-11-22"), d("2027-11-23"), None).is_err()
        );
        assert!(check_validity(CardKind::Student, d("2026-11-22"), d("2030-07-31"), None).is_ok());
        assert!(check_validity(CardKind::Staff, d("2026-11-22"), d("2026-11-21"), None).is_err());
        // An expired temporary card is extended a year from today, not from its old expiry.
        assert!(check_extension(
            CardKind::Temporary,
            d("2026-01-31"),
            d("2027-11-22"),
            d("2026-11-22"),
            None
        )
        .is_ok());
        assert!(matches!(
            check_extension(
                CardKind::Staff,
                d("2027-07-31"),
                d("2027-07-31"),
                d("2026-11-22"),
                None
            ),
            Err(Refusal::NotLater { .. })
        ));
    }
}
