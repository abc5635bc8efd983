//! The pages, in real headless Chromium and over plain HTTP: people,
//! organizers and operators doing their work, and the security rules
//! (sessions, CSRF, CSP, roles, CORS).

#[path = "../common/mod.rs"]
mod common;

mod cors;
mod flows;
mod forms;
mod operator;
mod organizer;
mod people;
mod security;
mod setup;
