//! Settlement periods and a merchant's statement: pure rules, so that every statement means the
//! same (DOMAIN.md, "Money rules"). A period is [start, end) in site time; net payable is
//! sales − refunds ± corrections − commission, the commission rounded once per statement.

use super::money::Money;
use super::time;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

/// How long a settlement period runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    Daily,
    Weekly,
    Monthly,
}

super::named!(PeriodKind, "settlement period kind", {
    Daily => "daily",
    Weekly => "weekly",
    Monthly => "monthly",
});

/// A settlement period: its kind and first day (a Monday for a week, the 1st for a month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub kind: PeriodKind,
    pub first_day: NaiveDate,
}

impl Period {
    pub fn day(d: NaiveDate) -> Period {
        Period {
            kind: PeriodKind::Daily,
            first_day: d,
        }
    }

    /// The ISO week holding `d`.
    pub fn week_of(d: NaiveDate) -> Period {
        Period {
            kind: PeriodKind::Weekly,
            first_day: d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
        }
    }

    /// The month holding `d`.
    pub fn month_of(d: NaiveDate) -> Period {
        Period {
            kind: PeriodKind::Monthly,
            first_day: d.with_day(1).unwrap_or(d),
        }
    }

    /// The day after the period's last.
    pub fn end_day(self) -> NaiveDate {
        match self.kind {
            PeriodKind::Daily => self.first_day + Duration::days(1),
            PeriodKind::Weekly => self.first_day + Duration::days(7),
            PeriodKind::Monthly => self
                .first_day
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(NaiveDate::MAX),
        }
    }

    /// [start, end) as instants: the site's midnights.
    pub fn bounds(self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            time::day_bounds(self.first_day).0,
            time::day_bounds(self.end_day()).0,
        )
    }

    /// Over at `now`: only such a period can be settled.
    pub fn has_ended(self, now: DateTime<Utc>) -> bool {
        self.bounds().1 <= now
    }
}

/// `2026-11` a month, `2026-11-30` a day, `2026-W48` an ISO week.
impl FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Period, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "`{s}` is not a period: YYYY-MM (a month), YYYY-MM-DD (a day) or YYYY-Www (a week)"
            )
        };
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Period::day(d));
        }
        if let Some((y, w)) = s.split_once("-W") {
            let (y, w) = (y.parse().map_err(|_| bad())?, w.parse().map_err(|_| bad())?);
            let d = NaiveDate::from_isoywd_opt(y, w, Weekday::Mon).ok_or_else(bad)?;
            return Ok(Period::week_of(d));
        }
        let d = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").map_err(|_| bad())?;
        Ok(Period::month_of(d))
    }
}

/// As it is typed: `2026-11`, `2026-11-30`, `2026-W48`.
impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Daily => write!(f, "{}", self.first_day.format("%Y-%m-%d")),
            PeriodKind::Weekly => {
                let w = self.first_day.iso_week();
                write!(f, "{}-W{:02}", w.year(), w.week())
            }
            PeriodKind::Monthly => write!(f, "{}", self.first_day.format("%Y-%m")),
        }
    }
}

/// A count of purchases and their sum (a POS's day, in reconciliation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    pub count: i64,
    pub sum: Money,
}

/// What the ledger says a merchant took in a period (before commission).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Takings {
    pub purchases: i64,
    pub sales: Money,
    /// Money the merchant gave back (positive: it lowers the net).
    pub refunds: Money,
    /// Signed: positive when the merchant was owed more (an undercharge made good).
    pub corrections: Money,
}

/// The figures of one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub takings: Takings,
    pub commission_rate: Decimal,
    pub commission: Money,
    pub net_payable: Money,
}

impl Figures {
    /// Commission is `rate × sales`, rounded half-up to the fen once for the statement (never
    /// per purchase, which would drift by a fen a sale).
    pub fn of(takings: Takings, commission_rate: Decimal) -> Figures {
        let commission = Money::round(takings.sales.as_decimal() * commission_rate);
        Figures {
            takings,
            commission_rate,
            commission,
            net_payable: takings.sales - takings.refunds + takings.corrections - commission,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_parse_and_print_as_typed() {
        let m: Period = "2026-02".parse().unwrap();
        assert_eq!(
            (m.kind, m.first_day, m.end_day()),
            (PeriodKind::Monthly, d("2026-02-01"), d("2026-03-01"))
        );
        assert_eq!(m.to_string(), "2026-02");
        let day: Period = "2026-12-31".parse().unwrap();
        assert_eq!(day.end_day(), d("2027-01-01"));
        assert_eq!(day.to_string(), "2026-12-31");
        let w: Period = "2026-W49".parse().unwrap();
        assert_eq!(
            (w.first_day, w.end_day()),
            (d("2026-11-30"), d("2026-12-07"))
        );
        assert_eq!(w.to_string(), "2026-W49");
        assert_eq!(Period::week_of(d("2026-12-06")), w);
        for bad in ["2026-13", "2026", "26-1-1x", "2026-W60", ""] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn commission_is_rounded_half_up_once_per_statement() {
        let m = |s: &str| s.parse::<Money>().unwrap();
        let t = Takings {
            purchases: 3,
            sales: m("100.10"),
            refunds: m("5.00"),
            corrections: m("-0.10"),
        };
        // 100.10 × 0.025 = 2.5025 → 2.50; 100.20 × 0.025 = 2.505 → 2.51 (half up)
        let f = Figures::of(t, "0.025".parse().unwrap());
        assert_eq!((f.commission, f.net_payable), (m("2.50"), m("92.50")));
        let f = Figures::of(
            Takings {
                sales: m("100.20"),
                ..t
            },
            "0.025".parse().unwrap(),
        );
        assert_eq!(f.commission, m("2.51"));
        assert_eq!(
            Figures::of(Takings::default(), Decimal::ZERO).net_payable,
            Money::ZERO
        );
    }
}
