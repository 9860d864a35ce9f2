//! Pure domain rules: no I/O, nothing of ours but itself.

pub mod alarm;
pub mod card;
pub mod password;
pub mod permission;
pub mod role;
