//! Rows for `COPY ... FROM STDIN (FORMAT binary)`: the cheapest way into a table, for the
//! record ingest. The server parses no text and no arrays, and writes a page of rows at a time
//! to the WAL instead of a record per row.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

/// A binary COPY stream being built: header, rows, trailer.
pub struct Binary {
    buf: Vec<u8>,
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

impl Binary {
    pub fn new(rows: usize, row_bytes: usize) -> Binary {
        let mut buf = Vec::with_capacity(19 + rows * row_bytes + 2);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        Binary { buf }
    }

    /// Starts a row of `fields` columns.
    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        // Field lengths are i32 by the format; ours are a few bytes each.
        self.buf
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn opt_i64(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.i64(v),
            None => self.null(),
        }
    }

    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.field(&[u8::from(v)])
    }

    pub fn text(&mut self, v: &str) -> &mut Self {
        self.field(v.as_bytes())
    }

    /// A `timestamp` (no zone): microseconds since 2000-01-01.
    pub fn timestamp(&mut self, v: Option<NaiveDateTime>) -> &mut Self {
        match v {
            Some(t) => {
                let us = t.and_utc().timestamp_micros() - PG_EPOCH_US;
                self.i64(us)
            }
            None => self.null(),
        }
    }

    /// A `numeric`: base-10000 digits around the decimal point, as the server stores them.
    pub fn numeric(&mut self, v: Decimal) -> &mut Self {
        let scale = v.scale();
        let mut mantissa = v.mantissa().unsigned_abs();
        // Pad the fraction to whole base-10000 digits.
        let pad = (4 - scale % 4) % 4;
        mantissa *= 10u128.pow(pad);
        let fraction_digits = ((scale + pad) / 4) as i32;
        let mut digits: Vec<i16> = Vec::new(); // least significant first
        while mantissa > 0 {
            digits.push((mantissa % 10_000) as i16);
            mantissa /= 10_000;
        }
        // The server keeps neither trailing nor leading zero digits.
        let trailing = digits.iter().take_while(|d| **d == 0).count();
        let weight = digits.len() as i32 - 1 - fraction_digits;
        let digits = &digits[trailing..];
        let sign: u16 = if v.is_sign_negative() && !digits.is_empty() {
            0x4000
        } else {
            0
        };
        let mut field = Vec::with_capacity(8 + 2 * digits.len());
        field.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        field.extend_from_slice(&(if digits.is_empty() { 0 } else { weight as i16 }).to_be_bytes());
        field.extend_from_slice(&sign.to_be_bytes());
        field.extend_from_slice(&(scale as i16).to_be_bytes());
        for d in digits.iter().rev() {
            field.extend_from_slice(&d.to_be_bytes());
        }
        self.field(&field)
    }

    /// The stream, with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

/// Streams a binary COPY into `table`; returns the rows written.
pub(crate) async fn copy_in(
    tx: &mut sqlx::PgConnection,
    table: &str,
    columns: &str,
    data: Binary,
) -> Result<u64, sqlx::Error> {
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY {table} ({columns}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    if let Err(e) = copy.send(data.finish()).await {
        let _ = copy.abort(e.to_string()).await;
        return Err(e);
    }
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn numeric(s: &str) -> Vec<u8> {
        let mut b = Binary::new(0, 0);
        b.numeric(Decimal::from_str(s).unwrap());
        b.finish()[19..].to_vec()
    }

    #[test]
    fn numerics_as_the_server_sends_them() {
        // (ndigits, weight, sign, dscale, digits...) from `SELECT x::numeric` in binary.
        let cases: &[(&str, &[i16])] = &[
            ("12.50", &[2, 0, 0, 2, 12, 5000]),
            ("0.00", &[0, 0, 0, 2]),
            ("-3.5", &[2, 0, 0x4000, 1, 3, 5000]),
            ("10000", &[1, 1, 0, 0, 1]),
            ("0.0001", &[1, -1, 0, 4, 1]),
            ("123456789.12", &[4, 2, 0, 2, 1, 2345, 6789, 1200]),
        ];
        for (text, want) in cases {
            let got = numeric(text);
            let len = i32::from_be_bytes(got[0..4].try_into().unwrap());
            let words: Vec<i16> = got[4..4 + len as usize]
                .chunks(2)
                .map(|c| i16::from_be_bytes([c[0], c[1]]))
                .collect();
            assert_eq!(&words, want, "{text}");
        }
    }
}
