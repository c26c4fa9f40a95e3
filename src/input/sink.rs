//! Where a reader hands what it reads: each record to a consumer, each reject to a list (or,
//! with `--on-error fail`, a stop naming the record).
//!
//! It must not read or parse: the readers call it.

use super::record::{InputError, InputOptions, Location, OnError, Record, Rejected};

/// Where a reader hands what it reads: each record to a consumer, each reject to a list.
pub(crate) struct Sink<'a> {
    pub(crate) each: &'a mut dyn FnMut(Record),
    pub(crate) rejected: Vec<Rejected>,
}

impl Sink<'_> {
    pub(crate) fn record(&mut self, r: Record) {
        (self.each)(r)
    }
}

/// Records a bad record: kept in the rejects, or an error with `--on-error fail`.
pub(crate) fn reject(
    rejected: &mut Vec<Rejected>,
    opts: &InputOptions,
    location: Location,
    id: Option<String>,
    reason: String,
) -> Result<(), InputError> {
    if opts.on_error == OnError::Fail {
        return Err(InputError::BadRecord { location, reason });
    }
    rejected.push(Rejected {
        location,
        id,
        reason,
    });
    Ok(())
}
