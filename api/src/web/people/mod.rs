//! Pages for people: browse, hold, pay, carry tickets, cancel, wait.

pub mod account;
pub mod bookings;
pub mod event;
pub mod events;
pub mod holds;
pub mod tickets;
pub mod waitlist;
