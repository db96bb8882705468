//! libFuzzer target: every property of `fuzz/checks.rs` on the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../checks.rs");

fuzz_target!(|data: &[u8]| {
    check_bytes(data);
});
