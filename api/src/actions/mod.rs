//! What people do, shared by the JSON API and the pages: both call these,
//! so a rule (a rate limit, an idempotency key, a job after commit, a live
//! update) holds whichever way a person comes in.

pub mod accounts;
pub mod booking;
pub mod catalog;
pub mod door;
pub mod ops;
pub mod waitlist;
