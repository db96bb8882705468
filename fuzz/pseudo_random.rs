//! The `cargo fuzz` target's checks (`checks.rs`) on 20 000 pseudo-random inputs of every
//! length up to 600 bytes, both modes, under plain `cargo test` (no nightly). A test module
//! of the library (`lib.rs` includes it under `cfg(test)`), not an integration test: one of
//! those makes `cargo test` compile the whole crate a second time, as an rlib.

include!("checks.rs");

#[test]
fn fuzz_checks_on_pseudo_random_inputs() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for i in 0..20_000usize {
        let len = (next() % 600) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(first) = data.first_mut() {
            *first = i as u8;
        }
        check_bytes(&data);
    }
    check_bytes(&[]);
    check_bytes(&[1]);
    check_bytes(&[0, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f]);
    // found by `cargo fuzz` (a harness bug: Σp = 1 by chance in the raw iteration)
    check_bytes(&[1, 0, 21, 13, 19, 33]);
}
