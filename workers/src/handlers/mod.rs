//! One file per job handler.

pub mod noop;
pub mod prune_queues;
