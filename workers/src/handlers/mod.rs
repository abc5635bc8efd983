//! One file per job handler.

pub mod issue_otp;
pub mod noop;
pub mod prune_queues;
pub mod send_code;
pub mod send_message;
pub mod welcome_email;
