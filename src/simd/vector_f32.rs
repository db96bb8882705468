//! `F16`: sixteen f32 lanes, the shape of the native float32 paths (DESIGN §2b: float32
//! input may take its logarithms in f32, accumulated in f64).
//!
//! Each instruction set's [`F8`] names its `F16` (`F8::F32s`), so a kernel generic over
//! `V: F8` reaches the f32 type of the same instruction set, and [`F16::widen`] /
//! [`F16::from_wide`] convert between the two exactly (widening) or to nearest (narrowing).
//! As with `F8`, every operation is lane-wise IEEE arithmetic, so AVX2 and AVX-512 give
//! bitwise the same lanes; `mul_add` is fused there and on aarch64, two roundings on the
//! x86-64 baseline.

use super::vector::{Scalar8, F8};

/// The bits of an f32 less its sign: `x.bits_and(ABS)` is |x| lane by lane.
pub const ABS: u32 = 0x7fff_ffff;

/// Sixteen f32 lanes. See the module docs.
pub trait F16: Copy {
    /// Lane-wise comparison result.
    type Mask: Copy;
    /// The eight-lane f64 type of the same instruction set.
    type Wide: F8;
    /// All lanes `v`.
    fn splat(v: f32) -> Self;
    /// Loads sixteen f32.
    fn load(x: &[f32; 16]) -> Self;
    /// Lanes as an array.
    fn to_array(self) -> [f32; 16];
    /// Lanes 0–7 and 8–15 widened to f64 (exact).
    fn widen(self) -> (Self::Wide, Self::Wide);
    /// Sixteen lanes from two f64 vectors (lanes 0–7, 8–15), each rounded to nearest f32.
    fn from_wide(lo: Self::Wide, hi: Self::Wide) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// `self / o`, correctly rounded.
    fn div(self, o: Self) -> Self;
    /// `self * b + c`, fused except on the x86-64 baseline (see [`F8::mul_add`]).
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `self < o` (false for NaN).
    fn lt(self, o: Self) -> Self::Mask;
    /// `self == o` (false for NaN).
    fn eq(self, o: Self) -> Self::Mask;
    /// `if m { a } else { b }` per lane.
    fn select(m: Self::Mask, a: Self, b: Self) -> Self;
    /// Bits + `c` (wrapping u32 add).
    fn bits_add(self, c: u32) -> Self;
    /// Bits & `c`.
    fn bits_and(self, c: u32) -> Self;
    /// Bits | `c`.
    fn bits_or(self, c: u32) -> Self;
    /// Bits >> 23 (logical).
    fn bits_shr23(self) -> Self;

    // Operations of the native f32 exp and the f32 loss kernels (`exp_f32`, `kernels::softmax`).
    /// Bits << 23.
    fn bits_shl23(self) -> Self;
    /// Stores the sixteen lanes.
    fn store(self, out: &mut [f32; 16]);
    /// `if o > self { o } else { self }` per lane: the larger, ignoring NaN in `o`
    /// (the semantics of x86 `maxps(o, self)`).
    fn max_ignoring_nan(self, o: Self) -> Self;
    /// `if o < self { o } else { self }` per lane: the smaller, ignoring NaN in `o`
    /// (the semantics of x86 `minps(o, self)`).
    fn min_ignoring_nan(self, o: Self) -> Self;
    /// `self <= o` (false for NaN).
    fn le(self, o: Self) -> Self::Mask;
    /// Both masks.
    fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// Either mask.
    fn or(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// Whether any lane of the mask is set.
    fn any(m: Self::Mask) -> bool;
    /// Whether every lane of the mask is set.
    fn all(m: Self::Mask) -> bool;
    /// Thirty-two values of pairs `x0 x1 | x2 x3 | …` in `a` (0–15) and `b` (16–31) split
    /// into the pairs' first and second elements (two-element rows into their columns).
    /// Data movement only: the same bits on every type.
    fn deinterleave(a: Self, b: Self) -> (Self, Self);
    /// Lanes 0–7 and 8–15 of a mask as masks of the wide type (for selects on the
    /// widened halves).
    fn widen_mask(m: Self::Mask) -> (<Self::Wide as F8>::Mask, <Self::Wide as F8>::Mask);
    /// `self` with lane i replaced, where bit i of `keep` is set, by lane `index[i]` of the
    /// thirty-two lanes of `a` (0–15) and `b` (16–31): one step of a transposition in
    /// registers ([`super::column_pairs`]). Data movement only: the same bits on every
    /// type. An `index` lane whose `keep` bit is clear is not read (any value).
    fn merge_picked(self, a: Self, b: Self, index: &[u32; 16], keep: u16) -> Self;

    /// `self > o`.
    #[inline(always)]
    fn gt(self, o: Self) -> Self::Mask {
        o.lt(self)
    }
    /// Loads up to sixteen values, zero-padded (a block's tail).
    #[inline(always)]
    fn load_padded(x: &[f32]) -> Self {
        let mut padded = [0.0f32; 16];
        padded[..x.len()].copy_from_slice(x);
        Self::load(&padded)
    }
    /// The smallest lane, NaN lanes ignored (+inf if every lane is NaN): a block's
    /// once-per-block domain checks.
    #[inline(always)]
    fn min_lane(self) -> f32 {
        self.to_array()
            .iter()
            .fold(f32::INFINITY, |m, &x| if x < m { x } else { m })
    }
    /// The sum of the sixteen lanes in f64: the two widened halves added lane by lane,
    /// then [`F8::sum_lanes`].
    #[inline(always)]
    fn sum_lanes(self) -> f64 {
        let (lo, hi) = self.widen();
        lo.add(hi).sum_lanes()
    }
}

/// Sixteen lanes as a plain array: the portable implementation.
#[derive(Clone, Copy, Debug)]
pub struct Scalar16(pub [f32; 16]);

macro_rules! lanewise16 {
    ($a:expr, |$v:ident| $e:expr) => {
        Scalar16(std::array::from_fn(|i| {
            let $v = $a.0[i];
            $e
        }))
    };
    ($a:expr, $b:expr, |$v:ident, $w:ident| $e:expr) => {
        Scalar16(std::array::from_fn(|i| {
            let ($v, $w) = ($a.0[i], $b.0[i]);
            $e
        }))
    };
}

impl F16 for Scalar16 {
    type Mask = [bool; 16];
    type Wide = Scalar8;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Scalar16([v; 16])
    }
    #[inline(always)]
    fn load(x: &[f32; 16]) -> Self {
        Scalar16(*x)
    }
    #[inline(always)]
    fn to_array(self) -> [f32; 16] {
        self.0
    }
    #[inline(always)]
    fn widen(self) -> (Scalar8, Scalar8) {
        (
            Scalar8(std::array::from_fn(|i| self.0[i] as f64)),
            Scalar8(std::array::from_fn(|i| self.0[i + 8] as f64)),
        )
    }
    #[inline(always)]
    fn from_wide(lo: Scalar8, hi: Scalar8) -> Self {
        Scalar16(std::array::from_fn(|i| {
            if i < 8 {
                lo.0[i] as f32
            } else {
                hi.0[i - 8] as f32
            }
        }))
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        lanewise16!(self, o, |a, b| a + b)
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        lanewise16!(self, o, |a, b| a - b)
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        lanewise16!(self, o, |a, b| a * b)
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        lanewise16!(self, o, |a, b| a / b)
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        #[cfg(any(target_feature = "fma", target_arch = "aarch64"))]
        return Scalar16(std::array::from_fn(|i| self.0[i].mul_add(b.0[i], c.0[i])));
        #[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
        return Scalar16(std::array::from_fn(|i| self.0[i] * b.0[i] + c.0[i]));
    }
    #[inline(always)]
    fn lt(self, o: Self) -> [bool; 16] {
        std::array::from_fn(|i| self.0[i] < o.0[i])
    }
    #[inline(always)]
    fn eq(self, o: Self) -> [bool; 16] {
        std::array::from_fn(|i| self.0[i] == o.0[i])
    }
    #[inline(always)]
    fn select(m: [bool; 16], a: Self, b: Self) -> Self {
        Scalar16(std::array::from_fn(|i| if m[i] { a.0[i] } else { b.0[i] }))
    }
    #[inline(always)]
    fn bits_add(self, c: u32) -> Self {
        lanewise16!(self, |a| f32::from_bits(a.to_bits().wrapping_add(c)))
    }
    #[inline(always)]
    fn bits_and(self, c: u32) -> Self {
        lanewise16!(self, |a| f32::from_bits(a.to_bits() & c))
    }
    #[inline(always)]
    fn bits_or(self, c: u32) -> Self {
        lanewise16!(self, |a| f32::from_bits(a.to_bits() | c))
    }
    #[inline(always)]
    fn bits_shr23(self) -> Self {
        lanewise16!(self, |a| f32::from_bits(a.to_bits() >> 23))
    }
    #[inline(always)]
    fn bits_shl23(self) -> Self {
        lanewise16!(self, |a| f32::from_bits(a.to_bits() << 23))
    }
    #[inline(always)]
    fn store(self, out: &mut [f32; 16]) {
        *out = self.0;
    }
    #[inline(always)]
    fn max_ignoring_nan(self, o: Self) -> Self {
        lanewise16!(self, o, |m, v| if v > m { v } else { m })
    }
    #[inline(always)]
    fn min_ignoring_nan(self, o: Self) -> Self {
        lanewise16!(self, o, |m, v| if v < m { v } else { m })
    }
    #[inline(always)]
    fn le(self, o: Self) -> [bool; 16] {
        std::array::from_fn(|i| self.0[i] <= o.0[i])
    }
    #[inline(always)]
    fn and(a: [bool; 16], b: [bool; 16]) -> [bool; 16] {
        std::array::from_fn(|i| a[i] & b[i])
    }
    #[inline(always)]
    fn or(a: [bool; 16], b: [bool; 16]) -> [bool; 16] {
        std::array::from_fn(|i| a[i] | b[i])
    }
    #[inline(always)]
    fn any(m: [bool; 16]) -> bool {
        m.iter().fold(false, |acc, &b| acc | b)
    }
    #[inline(always)]
    fn all(m: [bool; 16]) -> bool {
        m.iter().fold(true, |acc, &b| acc & b)
    }
    #[inline(always)]
    fn deinterleave(a: Self, b: Self) -> (Self, Self) {
        let at = |k: usize| if k < 16 { a.0[k] } else { b.0[k - 16] };
        (
            Scalar16(std::array::from_fn(|i| at(2 * i))),
            Scalar16(std::array::from_fn(|i| at(2 * i + 1))),
        )
    }
    #[inline(always)]
    fn widen_mask(m: [bool; 16]) -> ([bool; 8], [bool; 8]) {
        (
            std::array::from_fn(|i| m[i]),
            std::array::from_fn(|i| m[i + 8]),
        )
    }
    #[inline(always)]
    fn merge_picked(self, a: Self, b: Self, index: &[u32; 16], keep: u16) -> Self {
        Scalar16(std::array::from_fn(|i| {
            if keep >> i & 1 == 0 {
                return self.0[i];
            }
            let k = index[i] as usize & 31;
            if k < 16 {
                a.0[k]
            } else {
                b.0[k - 16]
            }
        }))
    }
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    //! AVX2 and AVX-512 implementations of [`F16`].
    //!
    //! SAFETY (for every `unsafe` block in this module): as in `vector::x86` — the
    //! intrinsics need AVX2 (and AVX-512F/DQ for `Avx512x16`); values of these types exist
    //! only inside kernel bodies instantiated by `multiversion!` for the matching
    //! instruction set, in a `#[target_feature]` function called only after `simd::isa()`
    //! detected those features; the methods are `#[inline(always)]`, so they compile into
    //! that function. Loads read exactly the 16 elements of a `&[f32; 16]`.

    use super::F16;
    use crate::simd::vector::x86::{Avx2x8, Avx512x8};
    use std::arch::x86_64::*;

    /// Sixteen lanes in two AVX2 registers (lanes 0–7, 8–15).
    #[derive(Clone, Copy)]
    pub struct Avx2x16(__m256, __m256);

    macro_rules! both {
        ($f:ident($a:expr $(, $b:expr)*)) => {
            // SAFETY: see module docs.
            unsafe { Avx2x16($f($a.0 $(, $b.0)*), $f($a.1 $(, $b.1)*)) }
        };
    }

    impl F16 for Avx2x16 {
        type Mask = (__m256, __m256);
        type Wide = Avx2x8;
        #[inline(always)]
        fn splat(v: f32) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx2x16(_mm256_set1_ps(v), _mm256_set1_ps(v)) }
        }
        #[inline(always)]
        fn load(x: &[f32; 16]) -> Self {
            // SAFETY: see module docs; reads x[0..16].
            unsafe {
                Avx2x16(
                    _mm256_loadu_ps(x.as_ptr()),
                    _mm256_loadu_ps(x.as_ptr().add(8)),
                )
            }
        }
        #[inline(always)]
        fn to_array(self) -> [f32; 16] {
            let mut out = [0.0f32; 16];
            // SAFETY: see module docs; `out` has room for 16 f32.
            unsafe {
                _mm256_storeu_ps(out.as_mut_ptr(), self.0);
                _mm256_storeu_ps(out.as_mut_ptr().add(8), self.1);
            }
            out
        }
        #[inline(always)]
        fn widen(self) -> (Avx2x8, Avx2x8) {
            // SAFETY: see module docs.
            unsafe {
                let w = |v: __m256| {
                    Avx2x8::from_halves(
                        _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                        _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
                    )
                };
                (w(self.0), w(self.1))
            }
        }
        #[inline(always)]
        fn from_wide(lo: Avx2x8, hi: Avx2x8) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let n = |v: Avx2x8| {
                    let (a, b) = v.halves();
                    _mm256_set_m128(_mm256_cvtpd_ps(b), _mm256_cvtpd_ps(a))
                };
                Avx2x16(n(lo), n(hi))
            }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            both!(_mm256_add_ps(self, o))
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            both!(_mm256_sub_ps(self, o))
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            both!(_mm256_mul_ps(self, o))
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            both!(_mm256_div_ps(self, o))
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: see module docs (FMA is part of the AVX2 path's features).
            unsafe {
                Avx2x16(
                    _mm256_fmadd_ps(self.0, b.0, c.0),
                    _mm256_fmadd_ps(self.1, b.1, c.1),
                )
            }
        }
        #[inline(always)]
        fn lt(self, o: Self) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe {
                (
                    _mm256_cmp_ps::<_CMP_LT_OQ>(self.0, o.0),
                    _mm256_cmp_ps::<_CMP_LT_OQ>(self.1, o.1),
                )
            }
        }
        #[inline(always)]
        fn eq(self, o: Self) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe {
                (
                    _mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, o.0),
                    _mm256_cmp_ps::<_CMP_EQ_OQ>(self.1, o.1),
                )
            }
        }
        #[inline(always)]
        fn select(m: Self::Mask, a: Self, b: Self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx2x16(
                    _mm256_blendv_ps(b.0, a.0, m.0),
                    _mm256_blendv_ps(b.1, a.1, m.1),
                )
            }
        }
        #[inline(always)]
        fn bits_add(self, c: u32) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let k = _mm256_set1_epi32(c as i32);
                let f =
                    |v: __m256| _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(v), k));
                Avx2x16(f(self.0), f(self.1))
            }
        }
        #[inline(always)]
        fn bits_and(self, c: u32) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let k = _mm256_castsi256_ps(_mm256_set1_epi32(c as i32));
                Avx2x16(_mm256_and_ps(self.0, k), _mm256_and_ps(self.1, k))
            }
        }
        #[inline(always)]
        fn bits_or(self, c: u32) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let k = _mm256_castsi256_ps(_mm256_set1_epi32(c as i32));
                Avx2x16(_mm256_or_ps(self.0, k), _mm256_or_ps(self.1, k))
            }
        }
        #[inline(always)]
        fn bits_shr23(self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let f = |v: __m256| {
                    _mm256_castsi256_ps(_mm256_srli_epi32::<23>(_mm256_castps_si256(v)))
                };
                Avx2x16(f(self.0), f(self.1))
            }
        }
        #[inline(always)]
        fn bits_shl23(self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let f = |v: __m256| {
                    _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(v)))
                };
                Avx2x16(f(self.0), f(self.1))
            }
        }
        #[inline(always)]
        fn store(self, out: &mut [f32; 16]) {
            // SAFETY: see module docs; writes out[0..16].
            unsafe {
                _mm256_storeu_ps(out.as_mut_ptr(), self.0);
                _mm256_storeu_ps(out.as_mut_ptr().add(8), self.1);
            }
        }
        #[inline(always)]
        fn max_ignoring_nan(self, o: Self) -> Self {
            // maxps(a, b) = a > b ? a : b, so NaN in `o` keeps `self`.
            both!(_mm256_max_ps(o, self))
        }
        #[inline(always)]
        fn min_ignoring_nan(self, o: Self) -> Self {
            // minps(a, b) = a < b ? a : b, so NaN in `o` keeps `self`.
            both!(_mm256_min_ps(o, self))
        }
        #[inline(always)]
        fn le(self, o: Self) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe {
                (
                    _mm256_cmp_ps::<_CMP_LE_OQ>(self.0, o.0),
                    _mm256_cmp_ps::<_CMP_LE_OQ>(self.1, o.1),
                )
            }
        }
        #[inline(always)]
        fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe { (_mm256_and_ps(a.0, b.0), _mm256_and_ps(a.1, b.1)) }
        }
        #[inline(always)]
        fn or(a: Self::Mask, b: Self::Mask) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe { (_mm256_or_ps(a.0, b.0), _mm256_or_ps(a.1, b.1)) }
        }
        #[inline(always)]
        fn any(m: Self::Mask) -> bool {
            // SAFETY: see module docs.
            unsafe { _mm256_movemask_ps(_mm256_or_ps(m.0, m.1)) != 0 }
        }
        #[inline(always)]
        fn all(m: Self::Mask) -> bool {
            // SAFETY: see module docs.
            unsafe { _mm256_movemask_ps(_mm256_and_ps(m.0, m.1)) == 0xff }
        }
        #[inline(always)]
        fn deinterleave(a: Self, b: Self) -> (Self, Self) {
            // SAFETY: see module docs.
            unsafe {
                // x0…x7, x8…x15 → (x0 x2 … x14, x1 x3 … x15): per 128-bit lane the shuffle
                // gives x0 x2 x8 x10 | x4 x6 x12 x14, the 64-bit permutation orders it
                let split = |v: Avx2x16| {
                    let order = |x: __m256| {
                        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                            x,
                        )))
                    };
                    (
                        order(_mm256_shuffle_ps::<0b10_00_10_00>(v.0, v.1)),
                        order(_mm256_shuffle_ps::<0b11_01_11_01>(v.0, v.1)),
                    )
                };
                let ((ea, oa), (eb, ob)) = (split(a), split(b));
                (Avx2x16(ea, eb), Avx2x16(oa, ob))
            }
        }
        #[inline(always)]
        fn widen_mask(m: Self::Mask) -> ((__m256d, __m256d), (__m256d, __m256d)) {
            // Each 32-bit mask lane (all ones or zero) sign-extended to 64 bits.
            // SAFETY: see module docs.
            unsafe {
                let w = |v: __m256| {
                    let i = _mm256_castps_si256(v);
                    (
                        _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(i))),
                        _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(
                            i,
                        ))),
                    )
                };
                (w(m.0), w(m.1))
            }
        }
        #[inline(always)]
        fn merge_picked(self, a: Self, b: Self, index: &[u32; 16], keep: u16) -> Self {
            // through arrays: no kernel picks lanes on AVX2 (the ensemble's register
            // transposition is for AVX-512 only), this keeps the trait whole for the tests
            let (own, a, b) = (self.to_array(), a.to_array(), b.to_array());
            let mut out = own;
            for i in 0..16 {
                if keep >> i & 1 != 0 {
                    let k = index[i] as usize & 31;
                    out[i] = if k < 16 { a[k] } else { b[k - 16] };
                }
            }
            Self::load(&out)
        }
    }

    /// Sixteen lanes in one AVX-512 register.
    #[derive(Clone, Copy)]
    pub struct Avx512x16(__m512);

    impl F16 for Avx512x16 {
        type Mask = __mmask16;
        type Wide = Avx512x8;
        #[inline(always)]
        fn splat(v: f32) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_set1_ps(v)) }
        }
        #[inline(always)]
        fn load(x: &[f32; 16]) -> Self {
            // SAFETY: see module docs; reads x[0..16].
            unsafe { Avx512x16(_mm512_loadu_ps(x.as_ptr())) }
        }
        #[inline(always)]
        fn to_array(self) -> [f32; 16] {
            let mut out = [0.0f32; 16];
            // SAFETY: see module docs; `out` has room for 16 f32.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), self.0) };
            out
        }
        #[inline(always)]
        fn widen(self) -> (Avx512x8, Avx512x8) {
            // SAFETY: see module docs (AVX-512DQ for the 256-bit extract).
            unsafe {
                (
                    Avx512x8::from_raw(_mm512_cvtps_pd(_mm512_castps512_ps256(self.0))),
                    Avx512x8::from_raw(_mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(self.0))),
                )
            }
        }
        #[inline(always)]
        fn from_wide(lo: Avx512x8, hi: Avx512x8) -> Self {
            // SAFETY: see module docs (AVX-512DQ for the 256-bit insert).
            unsafe {
                let low = _mm512_castps256_ps512(_mm512_cvtpd_ps(lo.raw()));
                Avx512x16(_mm512_insertf32x8::<1>(low, _mm512_cvtpd_ps(hi.raw())))
            }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_add_ps(self.0, o.0)) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_sub_ps(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_mul_ps(self.0, o.0)) }
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_div_ps(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_fmadd_ps(self.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn lt(self, o: Self) -> __mmask16 {
            // SAFETY: see module docs.
            unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn eq(self, o: Self) -> __mmask16 {
            // SAFETY: see module docs.
            unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn select(m: __mmask16, a: Self, b: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_mask_blend_ps(m, b.0, a.0)) }
        }
        #[inline(always)]
        fn bits_add(self, c: u32) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x16(_mm512_castsi512_ps(_mm512_add_epi32(
                    _mm512_castps_si512(self.0),
                    _mm512_set1_epi32(c as i32),
                )))
            }
        }
        #[inline(always)]
        fn bits_and(self, c: u32) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x16(_mm512_castsi512_ps(_mm512_and_si512(
                    _mm512_castps_si512(self.0),
                    _mm512_set1_epi32(c as i32),
                )))
            }
        }
        #[inline(always)]
        fn bits_or(self, c: u32) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x16(_mm512_castsi512_ps(_mm512_or_si512(
                    _mm512_castps_si512(self.0),
                    _mm512_set1_epi32(c as i32),
                )))
            }
        }
        #[inline(always)]
        fn bits_shr23(self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x16(_mm512_castsi512_ps(_mm512_srli_epi32::<23>(
                    _mm512_castps_si512(self.0),
                )))
            }
        }
        #[inline(always)]
        fn bits_shl23(self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x16(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(
                    _mm512_castps_si512(self.0),
                )))
            }
        }
        #[inline(always)]
        fn store(self, out: &mut [f32; 16]) {
            // SAFETY: see module docs; writes out[0..16].
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn max_ignoring_nan(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_max_ps(o.0, self.0)) }
        }
        #[inline(always)]
        fn min_ignoring_nan(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x16(_mm512_min_ps(o.0, self.0)) }
        }
        #[inline(always)]
        fn le(self, o: Self) -> __mmask16 {
            // SAFETY: see module docs.
            unsafe { _mm512_cmp_ps_mask::<_CMP_LE_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn and(a: __mmask16, b: __mmask16) -> __mmask16 {
            a & b
        }
        #[inline(always)]
        fn or(a: __mmask16, b: __mmask16) -> __mmask16 {
            a | b
        }
        #[inline(always)]
        fn any(m: __mmask16) -> bool {
            m != 0
        }
        #[inline(always)]
        fn all(m: __mmask16) -> bool {
            m == 0xffff
        }
        #[inline(always)]
        fn deinterleave(a: Self, b: Self) -> (Self, Self) {
            // SAFETY: see module docs.
            unsafe {
                // index i < 16 picks a's lane i, 16 + i b's lane i
                let even =
                    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                let odd =
                    _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
                (
                    Avx512x16(_mm512_permutex2var_ps(a.0, even, b.0)),
                    Avx512x16(_mm512_permutex2var_ps(a.0, odd, b.0)),
                )
            }
        }
        #[inline(always)]
        fn widen_mask(m: __mmask16) -> (__mmask8, __mmask8) {
            (m as __mmask8, (m >> 8) as __mmask8)
        }
        #[inline(always)]
        fn merge_picked(self, a: Self, b: Self, index: &[u32; 16], keep: u16) -> Self {
            // SAFETY: see module docs; reads index[0..16]. `vpermt2ps` uses the low five
            // bits of each index lane, so every lane picks one of the 32.
            unsafe {
                let index = _mm512_loadu_si512(index.as_ptr().cast());
                let picked = _mm512_permutex2var_ps(a.0, index, b.0);
                Avx512x16(_mm512_mask_mov_ps(self.0, keep, picked))
            }
        }
        #[inline(always)]
        fn load_padded(x: &[f32]) -> Self {
            let n = x.len().min(16);
            let lanes = ((1u32 << n) - 1) as __mmask16;
            // SAFETY: see module docs; a masked load reads (and may fault on) only the
            // lanes whose mask bit is set, the first n ≤ x.len() elements of `x`.
            unsafe { Avx512x16(_mm512_maskz_loadu_ps(lanes, x.as_ptr())) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::F16;
    use crate::simd::vector::{on_every_vector_type, LaneOp, F8};

    /// `F16::deinterleave` and `F16::all` on every vector type this CPU has: the 32 values
    /// x[k mod 8] + 100·⌊k/8⌋ (k < 32) split into evens and odds; `part` picks the lanes
    /// 0–7 / 8–15 of the evens / odds, each checked on its own.
    #[test]
    fn deinterleave_splits_pairs_into_columns_on_every_vector_type() {
        struct Part(usize);
        impl LaneOp for Part {
            fn apply<V: F8>(&self, v: V) -> V {
                let plus = |c: f64| v.add(V::splat(c));
                let a = V::F32s::from_wide(v, plus(100.0));
                let b = V::F32s::from_wide(plus(200.0), plus(300.0));
                let (even, odd) = V::F32s::deinterleave(a, b);
                let pick = if self.0 < 2 { even } else { odd };
                // every lane equals itself, no lane is NaN: `all` must say so
                assert!(V::F32s::all(pick.eq(pick)));
                assert!(!V::F32s::all(pick.lt(V::F32s::splat(-1e9))));
                let (lo, hi) = pick.widen();
                if self.0.is_multiple_of(2) {
                    lo
                } else {
                    hi
                }
            }
        }
        let x: Vec<f64> = (0..64).map(|i| (i * 7 % 61) as f64 - 30.5).collect();
        for part in 0..4 {
            for (name, got) in on_every_vector_type(&Part(part), &x) {
                for (block, lanes) in x.chunks(8).zip(got.chunks(8)) {
                    for (i, &g) in lanes.iter().enumerate() {
                        let k = 2 * (i + 8 * (part % 2)) + part / 2;
                        let want = block[k % 8] + 100.0 * (k / 8) as f64;
                        assert_eq!(g, want, "{name}: part {part}, lane {i}");
                    }
                }
            }
        }
    }
}
