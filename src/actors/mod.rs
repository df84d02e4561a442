//! The actors. Each file holds one actor: its message enum, its state and its
//! `Actor` impl. They share no state; they exchange only messages.

pub mod pidfile;
pub mod ready_file;
pub mod registry;
pub mod session;
pub mod signals;
pub mod supervisor;
