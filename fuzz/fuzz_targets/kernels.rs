//! libFuzzer target: every property of `fastentropy::kernels::fuzz_check` on the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fastentropy::kernels::fuzz_check::check_bytes(data);
});
