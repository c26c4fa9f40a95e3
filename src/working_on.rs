//! Which record (or pair of records) the current thread is working on, so that a panic,
//! which is always a bug, names the input that triggered it (the binary's panic hook reads
//! [`current`]). It records and reads a name; it must not change what any step does.

use std::cell::RefCell;

thread_local! {
    static CURRENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Restores the previous name when dropped.
pub struct Working(Option<String>);

impl Drop for Working {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

/// Marks this thread as working on `what` until the returned guard is dropped.
pub fn working_on(what: String) -> Working {
    Working(CURRENT.with(|c| c.borrow_mut().replace(what)))
}

/// What this thread is working on, if anything was named.
pub fn current() -> Option<String> {
    CURRENT.with(|c| c.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_lasts_as_long_as_its_guard() {
        assert_eq!(current(), None);
        {
            let _outer = working_on("record a".into());
            {
                let _inner = working_on("records a and b".into());
                assert_eq!(current().as_deref(), Some("records a and b"));
            }
            assert_eq!(current().as_deref(), Some("record a"));
        }
        assert_eq!(current(), None);
    }
}
