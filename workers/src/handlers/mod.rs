//! One file per job handler.

pub mod noop;
