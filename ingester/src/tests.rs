//! Ingester tests on real files (WAL directory and a local-disk object store), with a
//! `ManualClock` for idle periods and block cuts.

mod durability;
mod flow;
mod local_blocks;
mod metrics;
mod ownership;
mod packed;
mod reads;
mod support;
mod transports;
