//! Any bytes as a JSONL file: no panic, and every non-blank line comes out as exactly one
//! record or one rejection, at its line (the contract in `tests/common/contracts.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use simdex::input::InputOptions;

#[path = "../../tests/common/contracts.rs"]
mod contracts;

fuzz_target!(|data: &[u8]| {
    // A small record limit so that the fuzzer reaches the over-long path with short inputs.
    let opts = InputOptions {
        max_record_bytes: 64,
        ..InputOptions::default()
    };
    contracts::check_jsonl(data, &opts, "fuzz");
    contracts::check_jsonl(data, &InputOptions::default(), "fuzz, default limit");
});
