//! Pure domain rules: no I/O, nothing of ours but itself.

pub mod alarm;
pub mod card;
pub mod money;
pub mod password;
pub mod permission;
pub mod role;
pub mod settlement;
pub mod time;

/// For an enum whose variants each have one name (in SQL, on the command line, in the audit
/// log): `ALL`, `name()` and `Display`; and, unless `custom_from_str` is given, a `FromStr`
/// whose refusal lists the names.
macro_rules! named {
    ($ty:ident, $what:literal, { $($v:ident => $n:literal),+ $(,)? }) => {
        $crate::domain::named!($ty, custom_from_str, { $($v => $n),+ });
        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
                    format!(concat!("unknown ", $what, " {:?} ({})"), s, [$($n),+].join(", "))
                })
            }
        }
    };
    ($ty:ident, custom_from_str, { $($v:ident => $n:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: [$ty; [$($n),+].len()] = [$($ty::$v),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$v => $n),+
                }
            }
        }
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
pub(crate) use named;
