//! Runtime instruction-set dispatch and the vector-friendly `ln` every kernel uses.
//!
//! The kernels are written once, as branch-free lane code over `[f64; LANES]` blocks
//! (see [`log`]), and compiled three times by [`multiversion!`]: for AVX-512, for
//! AVX2+FMA, and for the baseline target (SSE2 on x86-64, NEON on aarch64, where NEON is
//! always present). LLVM vectorises the lane loops for each target. The choice is made
//! once, at first use, by [`isa`].
//!
//! The AVX-512 and AVX2 builds perform the same IEEE operations, fused multiply-adds
//! included, in the same order on the same eight logical lanes, so they return **bitwise
//! identical** results (up to the sign of a NaN) — except `ensemble_uncertainty`, whose
//! member entropies take a table logarithm on AVX-512 only (`F8::PERMUTE_LOOKUP`; both
//! logarithms are ≤ 1 ULP there, so the two agree to rounding). The x86-64 baseline has no FMA
//! instruction and rounds `F8::mul_add` twice (a software fma would be ~20× slower), so it
//! agrees to rounding; on aarch64 the portable build fuses too. Rust never contracts
//! `a * b + c` on its own. `FASTENTROPY_SIMD=baseline|avx2|avx512` forces a path; the
//! tests compare them.

pub mod column_pairs;
pub mod element;
pub mod exp;
pub mod exp_f32;
pub mod log;
pub mod log1p;
pub mod log_f32;
pub mod log_table;
pub mod transpose;
pub mod vector;
pub mod vector_f32;

pub use element::Real;

use std::sync::OnceLock;

/// The instruction set the kernels run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F/DQ/VL (x86-64).
    Avx512,
    /// AVX2 + FMA (x86-64).
    Avx2,
    /// The compile-time baseline: SSE2 on x86-64, NEON on aarch64, plain code elsewhere.
    Baseline,
}

impl Isa {
    /// The lower-case name used by `FASTENTROPY_SIMD` and reported to Python.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Baseline => "baseline",
        }
    }
}

static ISA: OnceLock<Isa> = OnceLock::new();

/// Bytes ahead of the current read that the streaming loops ask the CPU to fetch.
pub const PREFETCH_BYTES: usize = 8192;

/// A hint to bring the cache line holding `at` into L1. `at` may lie anywhere, also past
/// the end of the slice it was derived from (use `wrapping_add`).
///
/// Why: the kernels spend ~40 instructions on each 64-byte line, so the out-of-order
/// window holds only a dozen lines in flight; where the hardware prefetcher does not run
/// far enough ahead (measured on a 2-core Xeon VM: xlogx at 0.34 Gelem/s from memory
/// against 1.26 from L2) the loop waits on memory latency instead of computing.
#[inline(always)]
pub fn prefetch<T>(at: *const T) {
    prefetch_into::<3, T>(at);
}

/// A hint to bring the cache line holding `at` into L2 (not L1): for data wanted a little
/// later by a loop whose own working set fills L1, where an L1 prefetch would evict it.
/// `at` may lie anywhere (use `wrapping_add`). PERF: `ensemble_uncertainty` (30, 10^5, 10)
/// float32 asks for the next group's member chunks (~9.6 KB) while the current group's
/// lane-major buffer (~19 KB) is in use: one thread 57.2–57.9 ms with [`prefetch`], 44.7–48.2
/// with this (three alternated rounds, minima of fifteen calls; 63.5–63.8 with none).
#[inline(always)]
pub fn prefetch_l2<T>(at: *const T) {
    prefetch_into::<2, T>(at);
}

/// [`prefetch`] for a read of `streams` class rows side by side (the (C, N) layout read
/// along axis 0, C = `streams`), [`prefetch_l2`] from [`L2_FROM_STREAMS`] of them: each
/// stream's next values, fetched into L1, crowd out the group being transposed there.
/// PERF (one thread, both wheels loaded in one process and called in turn, minima of
/// eleven calls, (C, N) arrays of 10^7 values, L1 → L2 hint): float32 KL C = 16 25.8 →
/// 17.7 ms, C = 20 24.2 → 17.3, entropy C = 50 11.2 → 8.7, C = 100 11.1 → 8.3; float64
/// (the engine's element fill) entropy C = 32 19.9 → 13.7, cross-entropy C = 50 30.6 →
/// 19.0, C = 100 30.5 → 18.7. But float32 KL C = 10 18.8 → 25.4 (twice): fewer streams
/// keep the L1 hint.
#[inline(always)]
pub fn prefetch_streams<T>(at: *const T, streams: usize) {
    if streams >= L2_FROM_STREAMS {
        prefetch_l2(at);
    } else {
        prefetch(at);
    }
}

/// See [`prefetch_streams`].
pub const L2_FROM_STREAMS: usize = 16;

/// `_mm_prefetch` with hint `HINT` (3: `_MM_HINT_T0`, into L1; 2: `_MM_HINT_T1`, into L2);
/// nothing on other architectures.
#[inline(always)]
fn prefetch_into<const HINT: i32, T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing architecturally and never
    // faults, whatever the address (SSE is part of the x86-64 baseline).
    unsafe {
        core::arch::x86_64::_mm_prefetch::<HINT>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// The instruction set in use: the best one this CPU has, or a lower one forced with the
/// environment variable `FASTENTROPY_SIMD` (`avx512`, `avx2`, `baseline`/`scalar`), read
/// once. A request for an instruction set the CPU lacks falls back to the best available.
pub fn isa() -> Isa {
    *ISA.get_or_init(|| {
        let best = detect();
        match std::env::var("FASTENTROPY_SIMD").as_deref() {
            Ok("baseline") | Ok("scalar") => Isa::Baseline,
            Ok("avx2") if best != Isa::Baseline => Isa::Avx2,
            _ => best,
        }
    })
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
    {
        Isa::Avx512
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Isa::Avx2
    } else {
        Isa::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Baseline
}

/// Defines `pub fn $name` that runs `$body::<V, ...>` with the vector type `V` of the
/// instruction set chosen by [`isa`]: `Avx512x8`, `Avx2x8` or `Scalar8` (see [`vector`]).
///
/// `$body` must be `#[inline(always)]`: it is inlined into a `#[target_feature]` wrapper
/// per instruction set, so the vector type's intrinsics compile for that set.
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        pub fn $name:ident<$($g:ident: $bound:path),*>($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident;
    ) => {
        $(#[$meta])*
        pub fn $name<$($g: $bound),*>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
                fn avx512<$($g: $bound),*>($($arg: $ty),*) -> $ret {
                    $body::<$crate::simd::vector::x86::Avx512x8 $(, $g)*>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2<$($g: $bound),*>($($arg: $ty),*) -> $ret {
                    $body::<$crate::simd::vector::x86::Avx2x8 $(, $g)*>($($arg),*)
                }
                match $crate::simd::isa() {
                    // SAFETY: `isa()` returns `Avx512` only when `detect()` found every feature
                    // enabled on `avx512` on the running CPU.
                    $crate::simd::Isa::Avx512 => return unsafe { avx512::<$($g),*>($($arg),*) },
                    // SAFETY: `isa()` returns `Avx2` only when the CPU has AVX2 and FMA.
                    $crate::simd::Isa::Avx2 => return unsafe { avx2::<$($g),*>($($arg),*) },
                    $crate::simd::Isa::Baseline => {}
                }
            }
            $body::<$crate::simd::vector::Scalar8 $(, $g)*>($($arg),*)
        }
    };
}
pub(crate) use multiversion;
