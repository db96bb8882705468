//! fastentropy: entropy, KL divergence, cross-entropy and self-information over strided
//! arrays, vectorised (runtime-dispatched AVX-512 / AVX2 / baseline) and parallel (rayon),
//! accumulating in f64 with results that are bitwise identical for any thread count.
//!
//! Layers, bottom up: [`simd`] (dispatch and the vector `ln`), [`kernels`] (slice
//! kernels → partial statistics), [`parallel`] (deterministic blocks over lanes),
//! [`measures`] (the quantities), [`columns`] (ragged and Arrow list columns read in
//! place, a measure per row). `bindings` (feature `python`) is the only layer that
//! knows Python.

// The crate is the Python package's core, not a published Rust API: its docs are read with
// `cargo doc --document-private-items`, where links to private items resolve.
#![allow(rustdoc::private_intra_doc_links)]

pub mod columns;
pub mod error;
pub mod kernels;
pub mod measures;
pub mod parallel;
pub mod simd;

#[cfg(feature = "python")]
mod bindings;

// The fuzz target's checks run inside the library's test binary (see fuzz/pseudo_random.rs);
// they name the crate `fastentropy::…`, as the fuzz target does.
#[cfg(test)]
extern crate self as fastentropy;
#[cfg(test)]
#[path = "../fuzz/pseudo_random.rs"]
mod fuzz_checks;

pub use error::Error;
pub use measures::Options;
