//! Money: yuan, exact to the fen (0.01), `numeric(14,2)` in SQL. One rounding rule (`round`),
//! one way to print it (`Display` on screen, `csv` in files), one way to read what an operator
//! typed (`parse`).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

/// An amount of money. The decimal inside always has exactly two places, so it never holds a
/// fraction of a fen. In JSON it is a string ("12.50"), as the decimals were before it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Money(Decimal);

/// Why an amount is refused, each said plainly (the words are the caller's: the card tab, the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("not a number")]
    NotANumber,
    #[error("must be more than zero")]
    NotPositive,
    /// More than two decimals: money is counted in fen.
    #[error("at most two decimals (money is counted in fen)")]
    TooManyDecimals,
    #[error("too large")]
    TooLarge,
}

/// `numeric(14,2)` holds less than 10^12 yuan.
const LIMIT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0); // 10^12

impl Money {
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// Whole fen (分).
    pub fn from_fen(fen: i64) -> Money {
        Money(Decimal::new(fen, 2))
    }

    /// Whole yuan.
    pub fn from_yuan(yuan: i64) -> Money {
        Money::fen_exact(Decimal::from(yuan))
    }

    /// The amount in fen, when it fits an i64.
    pub fn to_fen(self) -> Option<i64> {
        (self.0 * Decimal::ONE_HUNDRED).to_i64()
    }

    /// The one rounding rule: to the fen, half away from zero (0.005 is 0.01, -0.005 is -0.01).
    pub fn round(d: Decimal) -> Money {
        Money::fen_exact(d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
    }

    /// `d` when it is a whole number of fen, else None (nothing rounded silently).
    pub fn exact(d: Decimal) -> Option<Money> {
        (d.round_dp(2) == d).then(|| Money::fen_exact(d))
    }

    fn fen_exact(mut d: Decimal) -> Money {
        // Exactly two places, so that printing needs no rounding and equal amounts look alike.
        d.rescale(2);
        Money(d)
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn is_positive(self) -> bool {
        self > Money::ZERO
    }

    pub fn is_negative(self) -> bool {
        self < Money::ZERO
    }

    pub fn abs(self) -> Money {
        Money(self.0.abs())
    }

    /// Fits `numeric(14,2)`.
    pub fn fits_column(self) -> bool {
        self.0.abs() < LIMIT
    }

    /// In a CSV file: `1234.50`, `-12.50` (no symbol, no separators, so a spreadsheet reads it).
    pub fn csv(self) -> String {
        self.0.to_string()
    }

    /// An amount typed by an operator: yuan (an optional leading ¥), positive, at most two
    /// decimals, at most `max`.
    pub fn parse(text: &str, max: Option<Money>) -> Result<Money, AmountError> {
        let text = text.trim().trim_start_matches('¥');
        if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(AmountError::NotANumber);
        }
        let m: Money = text.parse()?;
        if !m.is_positive() {
            return Err(AmountError::NotPositive);
        }
        if max.is_some_and(|max| m > max) {
            return Err(AmountError::TooLarge);
        }
        Ok(m)
    }
}

/// Any signed amount with at most two decimals that fits `numeric(14,2)` (command-line
/// arguments, files). Typed input goes through `parse`, which also wants it positive.
impl FromStr for Money {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Money, AmountError> {
        let d = Decimal::from_str(s.trim()).map_err(|_| AmountError::NotANumber)?;
        let m = Money::exact(d).ok_or(AmountError::TooManyDecimals)?;
        if !m.fits_column() {
            return Err(AmountError::TooLarge);
        }
        Ok(m)
    }
}

/// On screen: `¥1,234.50`, `-¥12.50`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = self.0.abs().to_string();
        let (whole, fen) = plain.split_once('.').unwrap_or((&plain, "00"));
        let mut out = String::with_capacity(plain.len() + 8);
        if self.is_negative() {
            out.push('-');
        }
        out.push('¥');
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out.push('.');
        out.push_str(fen);
        if f.precision().is_some() {
            // An amount is never cut short: `{:.2}` is as good as `{}`.
            return f.write_str(&out);
        }
        f.pad(&out)
    }
}

impl TryFrom<Decimal> for Money {
    type Error = AmountError;

    fn try_from(d: Decimal) -> Result<Money, AmountError> {
        Money::exact(d).ok_or(AmountError::TooManyDecimals)
    }
}

impl From<Money> for Decimal {
    fn from(m: Money) -> Decimal {
        m.0
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0 - o.0)
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, o: Money) {
        self.0 += o.0;
    }
}

impl SubAssign for Money {
    fn sub_assign(&mut self, o: Money) {
        self.0 -= o.0;
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Money> for Money {
    fn sum<I: Iterator<Item = &'a Money>>(iter: I) -> Money {
        iter.copied().sum()
    }
}

// In SQL it is the decimal it holds; what the database sends back must be whole fen.
mod sql {
    use super::Money;
    use rust_decimal::Decimal;
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef, Postgres};
    use sqlx::{Decode, Encode, Type};

    impl Type<Postgres> for Money {
        fn type_info() -> PgTypeInfo {
            <Decimal as Type<Postgres>>::type_info()
        }
        fn compatible(ty: &PgTypeInfo) -> bool {
            <Decimal as Type<Postgres>>::compatible(ty)
        }
    }

    impl PgHasArrayType for Money {
        fn array_type_info() -> PgTypeInfo {
            <Decimal as PgHasArrayType>::array_type_info()
        }
    }

    impl Encode<'_, Postgres> for Money {
        fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
            <Decimal as Encode<Postgres>>::encode_by_ref(&self.0, buf)
        }
    }

    impl<'r> Decode<'r, Postgres> for Money {
        fn decode(value: PgValueRef<'r>) -> Result<Money, BoxDynError> {
            let d = <Decimal as Decode<Postgres>>::decode(value)?;
            Money::exact(d).ok_or_else(|| format!("{d} is not a whole number of fen").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    #[test]
    fn on_screen_thousands_are_separated() {
        assert_eq!(Money::ZERO.to_string(), "¥0.00");
        assert_eq!(m("12.5").to_string(), "¥12.50");
        assert_eq!(m("1234.5").to_string(), "¥1,234.50");
        assert_eq!(m("-12.5").to_string(), "-¥12.50");
        assert_eq!(m("-1234567.89").to_string(), "-¥1,234,567.89");
        assert_eq!(m("999").to_string(), "¥999.00");
        assert_eq!(m("100000").to_string(), "¥100,000.00");
        assert_eq!(format!("{:>10}", m("1")), "     ¥1.00");
        assert_eq!(format!("{:.1}", m("1234")), "¥1,234.00");
    }

    #[test]
    fn in_csv_it_is_plain() {
        assert_eq!(Money::ZERO.csv(), "0.00");
        assert_eq!(m("1234.5").csv(), "1234.50");
        assert_eq!(m("-3").csv(), "-3.00");
        assert_eq!(m("101012.55").csv(), "101012.55");
    }

    #[test]
    fn one_rounding_rule_half_away_from_zero() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(Money::round(d("0.005")), m("0.01"));
        assert_eq!(Money::round(d("-0.005")), m("-0.01"));
        assert_eq!(Money::round(d("0.0049")), Money::ZERO);
        assert_eq!(Money::round(d("2.675")), m("2.68"));
        assert_eq!(Money::round(d("7")).csv(), "7.00");
        assert_eq!(Money::exact(d("0.001")), None);
        assert_eq!(Money::exact(d("1.2000")), Some(m("1.2")));
    }

    #[test]
    fn fen_both_ways() {
        assert_eq!(Money::from_fen(1250), m("12.50"));
        assert_eq!(Money::from_fen(-5).csv(), "-0.05");
        assert_eq!(m("12.50").to_fen(), Some(1250));
        assert_eq!(Money::from_yuan(3), m("3"));
        assert_eq!(Money::from_yuan(i64::MAX).to_fen(), None);
        assert_eq!(m("1.5") + m("2.25") - m("0.75"), m("3"));
        assert_eq!(-m("1"), m("-1"));
        assert_eq!([m("1"), m("2.5")].iter().sum::<Money>(), m("3.5"));
    }

    #[test]
    fn typed_amounts_are_refused_plainly() {
        let max = Some(Money::from_yuan(1000));
        assert_eq!(Money::parse(" ¥12.5 ", max), Ok(m("12.50")));
        assert_eq!(Money::parse("0.01", None), Ok(Money::from_fen(1)));
        assert_eq!(
            Money::parse("12.345", max),
            Err(AmountError::TooManyDecimals)
        );
        assert_eq!(Money::parse("12.340", max), Ok(m("12.34")));
        assert_eq!(Money::parse("0", max), Err(AmountError::NotPositive));
        assert_eq!(Money::parse("-5", max), Err(AmountError::NotANumber));
        assert_eq!(Money::parse("abc", max), Err(AmountError::NotANumber));
        assert_eq!(Money::parse("1.2.3", max), Err(AmountError::NotANumber));
        assert_eq!(Money::parse("", max), Err(AmountError::NotANumber));
        assert_eq!(Money::parse("1000.01", max), Err(AmountError::TooLarge));
        assert_eq!(Money::parse("1000", max), Ok(Money::from_yuan(1000)));
        assert_eq!(
            Money::parse("1000000000000", None),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn json_is_a_string_of_whole_fen() {
        assert_eq!(serde_json::to_string(&m("12.5")).unwrap(), "\"12.50\"");
        assert_eq!(
            serde_json::from_str::<Money>("\"12.50\"").unwrap(),
            m("12.5")
        );
        assert!(serde_json::from_str::<Money>("\"12.505\"").is_err());
    }
}
