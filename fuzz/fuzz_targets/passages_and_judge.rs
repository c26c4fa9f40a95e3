//! Any bytes as two scraped pages (split at the first NUL): the passage cutter covers the
//! text in order on character boundaries, and the pair judge never panics, keeps every
//! score in [0, 1], decides alike both ways round and removes only what the other side
//! holds (the contracts in `tests/common/contracts.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/contracts.rs"]
mod contracts;

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let a = String::from_utf8_lossy(a);
    let b = String::from_utf8_lossy(b);
    contracts::check_passages(&a, "fuzz");
    contracts::check_judge(&a, &b, "fuzz");
});
