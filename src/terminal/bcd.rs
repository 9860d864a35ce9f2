//! Packed BCD dates and times, as UHPPOTE controllers and onecard's RS-485 terminals carry them:
//! one byte per two decimal digits, `YYYYMMDD` and `hhmmss`, terminal local time.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// One byte's two digits, `None` if a nibble is not a digit.
pub fn decode_byte(b: u8) -> Option<u32> {
    let (hi, lo) = (u32::from(b >> 4), u32::from(b & 0x0F));
    (hi < 10 && lo < 10).then_some(hi * 10 + lo)
}

/// The last two decimal digits of `v`.
pub fn encode_byte(v: u32) -> u8 {
    ((((v / 10) % 10) << 4) | (v % 10)) as u8
}

/// `YYYYMMDD` in 4 bytes; `None` for years outside 0..=9999.
pub fn encode_date(d: NaiveDate) -> Option<[u8; 4]> {
    let y = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    Some([
        encode_byte(y / 100),
        encode_byte(y % 100),
        encode_byte(d.month()),
        encode_byte(d.day()),
    ])
}

/// Reads 4 bytes `YYYYMMDD`; `None` for non-digits, a non-date, or fewer than 4 bytes.
pub fn decode_date(b: &[u8]) -> Option<NaiveDate> {
    let b = b.get(..4)?;
    let year = decode_byte(b[0])? * 100 + decode_byte(b[1])?;
    NaiveDate::from_ymd_opt(year as i32, decode_byte(b[2])?, decode_byte(b[3])?)
}

/// `hhmmss` in 3 bytes (a leap second is written as :59).
pub fn encode_time(t: NaiveTime) -> [u8; 3] {
    [
        encode_byte(t.hour()),
        encode_byte(t.minute()),
        encode_byte(t.second().min(59)),
    ]
}

pub fn decode_time(b: &[u8]) -> Option<NaiveTime> {
    let b = b.get(..3)?;
    NaiveTime::from_hms_opt(decode_byte(b[0])?, decode_byte(b[1])?, decode_byte(b[2])?)
}

/// `YYYYMMDDhhmmss` in 7 bytes; `None` for years outside 0..=9999.
pub fn encode_datetime(t: NaiveDateTime) -> Option<[u8; 7]> {
    let d = encode_date(t.date())?;
    let h = encode_time(t.time());
    Some([d[0], d[1], d[2], d[3], h[0], h[1], h[2]])
}

pub fn decode_datetime(b: &[u8]) -> Option<NaiveDateTime> {
    Some(decode_date(b)?.and_time(decode_time(b.get(4..)?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        let t = NaiveDateTime::parse_from_str("2022-08-23 09:47:06", "%Y-%m-%d %H:%M:%S").unwrap();
        let b = encode_datetime(t).unwrap();
        assert_eq!(b, [0x20, 0x22, 0x08, 0x23, 0x09, 0x47, 0x06]);
        assert_eq!(decode_datetime(&b), Some(t));
        assert_eq!(
            decode_datetime(&[0x20, 0x22, 0x13, 0x01, 0, 0, 0]),
            None,
            "month 13"
        );
        assert_eq!(
            decode_datetime(&[0x2A, 0x22, 0x01, 0x01, 0, 0, 0]),
            None,
            "not BCD"
        );
        assert_eq!(decode_datetime(&[0x20, 0x22]), None, "short");
        assert_eq!(
            encode_date(NaiveDate::from_ymd_opt(-5, 1, 1).unwrap()),
            None
        );
    }
}
