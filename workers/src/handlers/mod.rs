//! One file per job handler.

pub mod cancel_event_bookings;
pub mod expire_holds;
pub mod fold_event_stats;
pub mod issue_otp;
pub mod issue_tickets;
pub mod noop;
pub mod process_refund;
pub mod promote_waitlist;
pub mod prune_queues;
pub mod redrive_refunds;
pub mod send_booking_confirmation;
pub mod send_code;
pub mod send_digest;
pub mod send_message;
pub mod send_newsletter;
pub mod send_tickets;
pub mod send_waitlist_notice;
pub mod subscription_change;
pub mod welcome_email;
