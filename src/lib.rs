//! onecard: the console a control room runs its one-card (一卡通) estate from.
//!
//! Layering (no module imports one above it): `domain` (pure) ← `db`, `keymap`, `i18n`
//! ← `app` (TEA core, no I/O) ← `ui` (pure rendering) ← `console` (the I/O shell) ← `cli`.

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod console;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod export;
pub mod i18n;
pub mod import;
pub mod keymap;
pub mod logging;
pub mod poller;
pub mod report;
pub mod sim;
pub mod ssh;
pub mod terminal;
pub mod ui;
