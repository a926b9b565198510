//! meridian-jepsen: a chaos harness for Meridian.
//!
//! It launches N real `meridian server` regions on loopback, puts a UDP fault proxy on
//! every region link ([`proxy`]), drives real RESP clients against every region
//! ([`workload`]), injects network, process and clock faults from a seeded schedule
//! ([`nemesis`]), records the history as JSONL ([`history`]), heals, measures
//! convergence, checks the history and the final state ([`checker`]) and writes a text +
//! HTML report ([`report`]). [`drill`] is the disaster-recovery drill.

pub mod checker;
pub mod cluster;
pub mod drill;
pub mod dump;
pub mod history;
pub mod lag;
pub mod nemesis;
pub mod proxy;
pub mod report;
pub mod runner;
pub mod workload;
