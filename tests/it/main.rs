//! One integration-test binary (one link step): every module below shares `support`.

mod harness;
mod python;
mod support;

mod audit;
mod backup;
mod bench;
mod card_tab;
mod cards;
mod cli;
mod concurrency;
mod config;
mod console_pty;
mod demo;
mod doors;
mod embedded;
mod export;
mod extract;
mod import;
mod ingest;
mod layering;
mod live;
mod native;
mod operators;
mod permission;
mod persons;
mod poller;
mod poller_doors;
mod poller_restart;
mod propagation;
mod reports;
mod shell;
mod sim;
mod stale;
mod uhppote;
mod zk;
