//! How a long command reports progress to its caller: one callback type, the same for every
//! command, so the CLI's progress line and the Python bindings take any of them.
//!
//! It must not print: the caller decides what progress looks like.

/// Progress of a long step: (records done, records in all, tokens embedded).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, usize);
