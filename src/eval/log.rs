//! How an evaluation tells the user what it is doing (progress, timings): one callback.
//!
//! It must not print: the CLI sends the lines to stderr.

/// Status lines for the user (progress, timings); the CLI sends them to stderr.
pub type Log<'a> = &'a mut dyn FnMut(String);
