//! A terminal's own clock: local wall time (terminals know no time zone), settable, drifting.

use chrono::{Duration as ChronoDuration, NaiveDateTime};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct SimClock {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The terminal's time at `anchor`.
    base: NaiveDateTime,
    anchor: Instant,
    /// Parts per million the clock runs fast (positive) or slow (negative).
    drift_ppm: f64,
}

impl SimClock {
    /// A clock showing `local_now` plus `offset_secs`, drifting by `drift_ppm`.
    pub fn new(local_now: NaiveDateTime, offset_secs: i64, drift_ppm: f64) -> SimClock {
        SimClock {
            inner: Mutex::new(Inner {
                base: local_now + ChronoDuration::seconds(offset_secs),
                anchor: Instant::now(),
                drift_ppm,
            }),
        }
    }

    /// A clock that starts at the host's local time.
    pub fn local(drift_ppm: f64) -> SimClock {
        SimClock::new(chrono::Local::now().naive_local(), 0, drift_ppm)
    }

    pub fn now(&self) -> NaiveDateTime {
        let i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let real = i.anchor.elapsed().as_secs_f64();
        let shown = real * (1.0 + i.drift_ppm / 1_000_000.0);
        i.base + ChronoDuration::microseconds((shown * 1_000_000.0) as i64)
    }

    /// What a set-time command does: the clock shows `t` from now on (and keeps drifting).
    pub fn set(&self, t: NaiveDateTime) {
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        i.base = t;
        i.anchor = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_set_and_drift() {
        let t0 = NaiveDateTime::parse_from_str("2026-11-22 08:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let c = SimClock::new(t0, 90, 0.0);
        assert!((c.now() - t0).num_seconds() >= 90);
        c.set(t0);
        assert!((c.now() - t0).num_seconds() < 5);
        // 10% fast: after a real 50 ms it shows at least 54 ms (never less than real time).
        let fast = SimClock::new(t0, 0, 100_000.0);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!((fast.now() - t0).num_milliseconds() >= 54);
    }
}
