//! The site's time. Terminal clocks are local wall time without a zone, and days (card
//! validity, daily limits, shifts, reports) are the site's days: both are in the site's time
//! zone (setting `site.time_zone`, an IANA name such as `Asia/Shanghai`), whatever the
//! process's own `TZ`. Unset, the system's zone is the site's.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::sync::RwLock;

/// The setting that names the site's zone.
pub const ZONE_KEY: &str = "site.time_zone";

/// None: the system's zone.
static ZONE: RwLock<Option<Tz>> = RwLock::new(None);

/// A zone by its IANA name.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| format!("`{name}` is not a time zone name (for example Asia/Shanghai)"))
}

/// From now on the site's zone is `zone` (None: the system's).
pub fn set_zone(zone: Option<Tz>) {
    if let Ok(mut z) = ZONE.write() {
        *z = zone;
    }
}

/// The site's zone, if one is set.
pub fn zone() -> Option<Tz> {
    ZONE.read().ok().and_then(|z| *z)
}

/// `t` on the site's wall clock.
pub fn local(t: DateTime<Utc>) -> NaiveDateTime {
    match zone() {
        Some(tz) => t.with_timezone(&tz).naive_local(),
        None => t.with_timezone(&chrono::Local).naive_local(),
    }
}

/// The site's offset from UTC at `t`.
pub fn offset_at(t: DateTime<Utc>) -> FixedOffset {
    match zone() {
        Some(tz) => tz.offset_from_utc_datetime(&t.naive_utc()).fix(),
        None => *t.with_timezone(&chrono::Local).offset(),
    }
}

/// The site's wall clock now, to the second (what terminal clocks are set to).
pub fn now() -> NaiveDateTime {
    use chrono::Timelike;
    let now = local(Utc::now());
    now.with_nanosecond(0).unwrap_or(now)
}

/// The site's day now.
pub fn today() -> NaiveDate {
    local(Utc::now()).date()
}

/// A wall-clock moment of the site as an instant (the earlier one when the clock was set back,
/// the moment after the gap when it was set forward).
pub fn instant(t: NaiveDateTime) -> DateTime<Utc> {
    let pick = |r: chrono::LocalResult<DateTime<FixedOffset>>| r.earliest();
    let found = match zone() {
        Some(tz) => pick(tz.from_local_datetime(&t).map(|d| d.fixed_offset())),
        None => pick(
            chrono::Local
                .from_local_datetime(&t)
                .map(|d| d.fixed_offset()),
        ),
    };
    match found {
        Some(d) => d.with_timezone(&Utc),
        // In a gap: an hour on is past it.
        None => instant(t + chrono::Duration::hours(1)),
    }
}

/// The site's day `d` as instants: [its midnight, the next midnight).
pub fn day_bounds(d: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |d: NaiveDate| instant(d.and_time(chrono::NaiveTime::MIN));
    (start(d), start(d + chrono::Duration::days(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_zone_decides_the_wall_clock() {
        let t = Utc.with_ymd_and_hms(2026, 12, 6, 20, 30, 0).unwrap();
        let tz = parse_zone("Asia/Shanghai").unwrap();
        assert_eq!(
            t.with_timezone(&tz).naive_local().to_string(),
            "2026-12-07 04:30:00"
        );
        assert_eq!(
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
            8 * 3600
        );
        assert!(parse_zone("Mars/Olympus").is_err());
    }
}
