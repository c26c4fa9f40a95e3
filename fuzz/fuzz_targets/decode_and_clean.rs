//! Any bytes as a scraped page: encoding detection never panics, and the cleaner's
//! paragraphs and removed lines point at real lines of the decoded text (the contract in
//! `tests/common/contracts.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use simdex::clean::CleanOptions;
use simdex::input::encoding::decode_bytes;

#[path = "../../tests/common/contracts.rs"]
mod contracts;

fuzz_target!(|data: &[u8]| {
    let decoded = decode_bytes(data);
    contracts::check_cleaned(&decoded.text, &CleanOptions::default(), "fuzz");
});
