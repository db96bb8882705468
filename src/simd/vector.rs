//! `F8`: eight f64 lanes, the one vector shape every kernel is written in.
//!
//! Three implementations: [`Scalar8`] (plain arrays: the baseline target and aarch64, where
//! LLVM maps it to SSE2/NEON), [`x86::Avx2x8`] (two `__m256d`) and [`x86::Avx512x8`] (one
//! `__m512d`). Every operation is lane-wise IEEE arithmetic, so a kernel gives bitwise the
//! same result on AVX2 and AVX-512 — the same logical lanes, the same operations, the same
//! order. The one exception is [`F8::mul_add`]: fused on AVX2/AVX-512 (and aarch64), two
//! roundings on the x86-64 baseline, whose results may therefore differ in the last bits.
//!
//! Bit operations act on the IEEE bit pattern of each lane as a u64; they are all the
//! integer arithmetic the vector `ln` and `exp` need (exponent split and 2^k).

use super::element::Real;
use super::vector_f32::{Scalar16, F16};
use super::{prefetch, PREFETCH_BYTES};

/// Eight f64 lanes. See the module docs.
pub trait F8: Copy {
    /// Lane-wise comparison result.
    type Mask: Copy;
    /// The sixteen-lane f32 type of the same instruction set.
    type F32s: F16<Wide = Self>;
    /// All lanes `v`.
    fn splat(v: f64) -> Self;
    /// Lanes from an array.
    fn from_array(a: [f64; 8]) -> Self;
    /// Lanes as an array.
    fn to_array(self) -> [f64; 8];
    /// Loads eight f64.
    fn load_f64(x: &[f64; 8]) -> Self;
    /// Loads eight f32, widened exactly.
    fn load_f32(x: &[f32; 8]) -> Self;
    /// Stores the eight lanes.
    fn store_f64(self, out: &mut [f64; 8]);
    /// Stores the eight lanes rounded to f32 (to nearest, as `as f32`).
    fn store_f32(self, out: &mut [f32; 8]);
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    /// `self * b + c`: fused (one rounding) on AVX2/AVX-512; two roundings on the portable
    /// type unless the target has FMA (x86-64 baseline has none, and a software fma would
    /// be ~20× slower), so the portable path may differ from the AVX paths by rounding.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `self * b + c` with one rounding on every path (the portable type without FMA calls
    /// libm's correctly rounded `fma`): for error-free products such as Kahan's difference
    /// of products, where two roundings would lose the very digits they exist to keep.
    #[inline(always)]
    fn fused_mul_add(self, b: Self, c: Self) -> Self {
        self.mul_add(b, c)
    }
    /// `if o < self { o } else { self }` per lane: the smaller, ignoring NaN in `o`
    /// (the semantics of x86 `minpd(o, self)`).
    fn min_ignoring_nan(self, o: Self) -> Self;
    /// `if o > self { o } else { self }` per lane: the larger, ignoring NaN in `o`.
    fn max_ignoring_nan(self, o: Self) -> Self;
    /// `self < o` (false for NaN).
    fn lt(self, o: Self) -> Self::Mask;
    /// `self <= o` (false for NaN).
    fn le(self, o: Self) -> Self::Mask;
    /// `self == o` (false for NaN).
    fn eq(self, o: Self) -> Self::Mask;
    /// Both masks.
    fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// Either mask.
    fn or(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// `if m { a } else { b }` per lane.
    fn select(m: Self::Mask, a: Self, b: Self) -> Self;
    /// Whether any lane of the mask is set.
    fn any(m: Self::Mask) -> bool;
    /// Whether every lane of the mask is set.
    fn all(m: Self::Mask) -> bool;
    /// Bits + `c` (wrapping u64 add).
    fn bits_add(self, c: u64) -> Self;
    /// Bits & `c`.
    fn bits_and(self, c: u64) -> Self;
    /// Bits | `c`.
    fn bits_or(self, c: u64) -> Self;
    /// Bits >> 52 (logical).
    fn bits_shr52(self) -> Self;
    /// Bits << 52.
    fn bits_shl52(self) -> Self;
    /// The even lanes of `a` then of `b`, and their odd lanes: sixteen values of pairs
    /// `a0 a1 | a2 a3 | …` split into the pairs' first and second elements (two-class
    /// rows into their two runs). Data movement only: the same bits on every type.
    fn deinterleave(a: Self, b: Self) -> (Self, Self);
    /// Twenty-four values of triples `x0 x1 x2 | x3 x4 x5 | …` in `a`, `b`, `c` split into
    /// the triples' first, second and third elements (three-class rows into their runs).
    /// Data movement only. Through arrays here; AVX-512 overrides it with six two-source
    /// permutations ([`F8::PERMUTE_LOOKUP`] tells where that is so).
    #[inline(always)]
    fn deinterleave3(a: Self, b: Self, c: Self) -> (Self, Self, Self) {
        let (a, b, c) = (a.to_array(), b.to_array(), c.to_array());
        let at = |k: usize| match k / 8 {
            0 => a[k],
            1 => b[k - 8],
            _ => c[k - 16],
        };
        let pick = |r: usize| Self::from_array(std::array::from_fn(|i| at(3 * i + r)));
        (pick(0), pick(1), pick(2))
    }
    /// The 8×8 transpose: lane c of `rows[j]` becomes lane j of the result's vector c
    /// (eight rows of eight values into their eight columns). Data movement only: the same
    /// bits on every type. Through arrays here; AVX2 and AVX-512 override it with
    /// register shuffles.
    #[inline(always)]
    fn transpose8(rows: [Self; 8]) -> [Self; 8] {
        let rows = rows.map(Self::to_array);
        std::array::from_fn(|c| Self::from_array(std::array::from_fn(|j| rows[j][c])))
    }
    /// The logarithm's exponent split (k, f) of [`crate::simd::log::split`]: x = 2^k·(1+f),
    /// 1 + f ∈ [√2/2, √2) split at musl's point, k exact, subnormals included; finite
    /// garbage for x = 0, meaningless for negatives, inf and NaN. AVX-512 overrides it
    /// with `vgetexp`/`vgetmant` (7 instructions instead of 13, the same k and f).
    #[inline(always)]
    fn log_split(self) -> (Self, Self) {
        crate::simd::log::split_by_bits(self)
    }
    /// (k, m) with x = 2^k·m, m ∈ [1, 2), k exact, for finite x > 0 (subnormals
    /// included); finite values for x = 0. AVX-512 overrides it with `vgetexp`/`vgetmant`.
    #[inline(always)]
    fn exponent_mantissa(self) -> (Self, Self) {
        crate::simd::log_table::exponent_mantissa_by_bits(self)
    }
    /// Per lane, `table[(bits >> 48) & 15]`: for m ∈ [1, 2), the entry of m's sixteenth
    /// of the interval (its top four mantissa bits).
    fn lookup16(self, table: &[f64; 16]) -> Self;
    /// Whether [`F8::lookup16`] (and [`F8::deinterleave3`]) are register permutations
    /// (AVX-512's `vpermt2pd`), cheap enough for a table logarithm to beat the
    /// division-based one. AVX2's gathers are
    /// not: there [`crate::simd::log_table::ln_by_table`] is ~1.5× slower than
    /// [`crate::simd::log::ln_finite`] (benches/README.md, "An AVX2-only machine").
    const PERMUTE_LOOKUP: bool = false;
    /// Whether LLVM vectorises short fixed-length element loops into gathers on this
    /// type (AVX-512: the row widening of ten float32 or eight and more float64 values
    /// becomes `vgatherdps` / `vgatherqpd`), which were slower than the plain element
    /// loop or the blocked transposes there (benches/README.md, "Gathers in the row
    /// widening"); callers route such loops elsewhere on it.
    const LOOPS_BECOME_GATHERS: bool = false;

    /// `self > o`.
    #[inline(always)]
    fn gt(self, o: Self) -> Self::Mask {
        o.lt(self)
    }
    /// `self >= o`.
    #[inline(always)]
    fn ge(self, o: Self) -> Self::Mask {
        o.le(self)
    }
    /// Sum of the lanes in the fixed tree ((0+4)+(2+6)) + ((1+5)+(3+7)).
    #[inline(always)]
    fn sum_lanes(self) -> f64 {
        let a = self.to_array();
        ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
    }
    /// The smallest lane (NaN ignored; +inf for all-NaN).
    #[inline(always)]
    fn min_lane(self) -> f64 {
        self.to_array()
            .iter()
            .fold(f64::INFINITY, |m, &v| if v < m { v } else { m })
    }
    /// The largest lane (NaN ignored; −inf for all-NaN).
    #[inline(always)]
    fn max_lane(self) -> f64 {
        self.to_array()
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }
    /// Loads eight values of `T` as f64, and asks for the data [`PREFETCH_BYTES`] ahead
    /// (every kernel streams its input forward through this load; see [`prefetch`]).
    #[inline(always)]
    fn load<T: Real>(x: &[T; 8]) -> Self {
        prefetch(
            x.as_ptr()
                .wrapping_add(PREFETCH_BYTES / std::mem::size_of::<T>()),
        );
        T::load_lanes(x)
    }
    /// Stores the first `out.len()` (at most eight) lanes as `T`.
    #[inline(always)]
    fn store<T: Real>(self, out: &mut [T]) {
        match <&mut [T; 8]>::try_from(&mut *out) {
            Ok(full) => T::store_lanes(self, full),
            Err(_) => {
                for (slot, &l) in out.iter_mut().zip(self.to_array().iter()) {
                    *slot = T::from_f64(l);
                }
            }
        }
    }
    /// Loads up to eight values of `T`, zero-padded (a block's tail).
    #[inline(always)]
    fn load_padded<T: Real>(x: &[T]) -> Self {
        let mut padded = [T::default(); 8];
        padded[..x.len()].copy_from_slice(x);
        Self::load(&padded)
    }
}

/// Eight lanes as a plain array: the portable implementation.
#[derive(Clone, Copy, Debug)]
pub struct Scalar8(pub [f64; 8]);

macro_rules! lanewise {
    ($a:expr, |$v:ident| $e:expr) => {
        Scalar8(std::array::from_fn(|i| {
            let $v = $a.0[i];
            $e
        }))
    };
    ($a:expr, $b:expr, |$v:ident, $w:ident| $e:expr) => {
        Scalar8(std::array::from_fn(|i| {
            let ($v, $w) = ($a.0[i], $b.0[i]);
            $e
        }))
    };
}

impl F8 for Scalar8 {
    type Mask = [bool; 8];
    type F32s = Scalar16;
    #[inline(always)]
    fn splat(v: f64) -> Self {
        Scalar8([v; 8])
    }
    #[inline(always)]
    fn from_array(a: [f64; 8]) -> Self {
        Scalar8(a)
    }
    #[inline(always)]
    fn to_array(self) -> [f64; 8] {
        self.0
    }
    #[inline(always)]
    fn load_f64(x: &[f64; 8]) -> Self {
        Scalar8(*x)
    }
    #[inline(always)]
    fn load_f32(x: &[f32; 8]) -> Self {
        Scalar8(std::array::from_fn(|i| x[i] as f64))
    }
    #[inline(always)]
    fn store_f64(self, out: &mut [f64; 8]) {
        *out = self.0;
    }
    #[inline(always)]
    fn store_f32(self, out: &mut [f32; 8]) {
        *out = std::array::from_fn(|i| self.0[i] as f32);
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        lanewise!(self, o, |a, b| a + b)
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        lanewise!(self, o, |a, b| a - b)
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        lanewise!(self, o, |a, b| a * b)
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        lanewise!(self, o, |a, b| a / b)
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        #[cfg(any(target_feature = "fma", target_arch = "aarch64"))]
        return Scalar8(std::array::from_fn(|i| self.0[i].mul_add(b.0[i], c.0[i])));
        #[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
        return Scalar8(std::array::from_fn(|i| self.0[i] * b.0[i] + c.0[i]));
    }
    #[inline(always)]
    fn fused_mul_add(self, b: Self, c: Self) -> Self {
        Scalar8(std::array::from_fn(|i| self.0[i].mul_add(b.0[i], c.0[i])))
    }
    #[inline(always)]
    fn min_ignoring_nan(self, o: Self) -> Self {
        lanewise!(self, o, |m, v| if v < m { v } else { m })
    }
    #[inline(always)]
    fn max_ignoring_nan(self, o: Self) -> Self {
        lanewise!(self, o, |m, v| if v > m { v } else { m })
    }
    #[inline(always)]
    fn lt(self, o: Self) -> [bool; 8] {
        std::array::from_fn(|i| self.0[i] < o.0[i])
    }
    #[inline(always)]
    fn le(self, o: Self) -> [bool; 8] {
        std::array::from_fn(|i| self.0[i] <= o.0[i])
    }
    #[inline(always)]
    fn eq(self, o: Self) -> [bool; 8] {
        std::array::from_fn(|i| self.0[i] == o.0[i])
    }
    #[inline(always)]
    fn and(a: [bool; 8], b: [bool; 8]) -> [bool; 8] {
        std::array::from_fn(|i| a[i] & b[i])
    }
    #[inline(always)]
    fn or(a: [bool; 8], b: [bool; 8]) -> [bool; 8] {
        std::array::from_fn(|i| a[i] | b[i])
    }
    #[inline(always)]
    fn select(m: [bool; 8], a: Self, b: Self) -> Self {
        Scalar8(std::array::from_fn(|i| if m[i] { a.0[i] } else { b.0[i] }))
    }
    #[inline(always)]
    fn any(m: [bool; 8]) -> bool {
        m.iter().fold(false, |acc, &b| acc | b)
    }
    #[inline(always)]
    fn all(m: [bool; 8]) -> bool {
        m.iter().fold(true, |acc, &b| acc & b)
    }
    #[inline(always)]
    fn bits_add(self, c: u64) -> Self {
        lanewise!(self, |a| f64::from_bits(a.to_bits().wrapping_add(c)))
    }
    #[inline(always)]
    fn bits_and(self, c: u64) -> Self {
        lanewise!(self, |a| f64::from_bits(a.to_bits() & c))
    }
    #[inline(always)]
    fn bits_or(self, c: u64) -> Self {
        lanewise!(self, |a| f64::from_bits(a.to_bits() | c))
    }
    #[inline(always)]
    fn bits_shr52(self) -> Self {
        lanewise!(self, |a| f64::from_bits(a.to_bits() >> 52))
    }
    #[inline(always)]
    fn bits_shl52(self) -> Self {
        lanewise!(self, |a| f64::from_bits(a.to_bits() << 52))
    }
    #[inline(always)]
    fn deinterleave(a: Self, b: Self) -> (Self, Self) {
        let pick = |odd: usize| {
            Scalar8(std::array::from_fn(|i| {
                let k = 2 * i + odd;
                if k < 8 {
                    a.0[k]
                } else {
                    b.0[k - 8]
                }
            }))
        };
        (pick(0), pick(1))
    }
    #[inline(always)]
    fn lookup16(self, table: &[f64; 16]) -> Self {
        lanewise!(self, |a| table[((a.to_bits() >> 48) & 15) as usize])
    }
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    //! AVX2 and AVX-512 implementations of [`F8`].
    //!
    //! SAFETY (for every `unsafe` block in this module): the intrinsics need AVX2 (and
    //! AVX-512F/DQ/VL for `Avx512x8`). Values of these types are created only inside kernel
    //! bodies instantiated by `multiversion!` for the matching instruction set, in a
    //! `#[target_feature]` function that is called only after `simd::isa()` detected those
    //! features on the running CPU; the methods are `#[inline(always)]`, so they are
    //! compiled into that function. Loads read exactly the 8 elements of a `&[T; 8]`.
    //! The types are `pub(crate)`-constructible only through this trait.

    use super::F8;
    use crate::simd::vector_f32::x86::{Avx2x16, Avx512x16};
    use std::arch::x86_64::*;

    /// Eight lanes in two AVX2 registers (lanes 0–3, 4–7).
    #[derive(Clone, Copy)]
    pub struct Avx2x8(__m256d, __m256d);

    impl Avx2x8 {
        /// The vector of lanes 0–3 and 4–7.
        #[inline(always)]
        pub(crate) fn from_halves(lo: __m256d, hi: __m256d) -> Self {
            Avx2x8(lo, hi)
        }
        /// Lanes 0–3 and 4–7.
        #[inline(always)]
        pub(crate) fn halves(self) -> (__m256d, __m256d) {
            (self.0, self.1)
        }
    }

    macro_rules! both {
        ($f:ident($a:expr $(, $b:expr)*)) => {
            // SAFETY: see module docs.
            unsafe { Avx2x8($f($a.0 $(, $b.0)*), $f($a.1 $(, $b.1)*)) }
        };
    }

    impl F8 for Avx2x8 {
        type Mask = (__m256d, __m256d);
        type F32s = Avx2x16;
        #[inline(always)]
        fn splat(v: f64) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx2x8(_mm256_set1_pd(v), _mm256_set1_pd(v)) }
        }
        #[inline(always)]
        fn from_array(a: [f64; 8]) -> Self {
            Self::load_f64(&a)
        }
        #[inline(always)]
        fn to_array(self) -> [f64; 8] {
            let mut out = [0.0; 8];
            // SAFETY: see module docs; `out` has room for 8 f64.
            unsafe {
                _mm256_storeu_pd(out.as_mut_ptr(), self.0);
                _mm256_storeu_pd(out.as_mut_ptr().add(4), self.1);
            }
            out
        }
        #[inline(always)]
        fn load_f64(x: &[f64; 8]) -> Self {
            // SAFETY: see module docs; reads x[0..8].
            unsafe {
                Avx2x8(
                    _mm256_loadu_pd(x.as_ptr()),
                    _mm256_loadu_pd(x.as_ptr().add(4)),
                )
            }
        }
        #[inline(always)]
        fn load_f32(x: &[f32; 8]) -> Self {
            // SAFETY: see module docs; reads x[0..8].
            unsafe {
                let v = _mm256_loadu_ps(x.as_ptr());
                Avx2x8(
                    _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
                )
            }
        }
        #[inline(always)]
        fn store_f64(self, out: &mut [f64; 8]) {
            // SAFETY: see module docs; writes out[0..8].
            unsafe {
                _mm256_storeu_pd(out.as_mut_ptr(), self.0);
                _mm256_storeu_pd(out.as_mut_ptr().add(4), self.1);
            }
        }
        #[inline(always)]
        fn store_f32(self, out: &mut [f32; 8]) {
            // SAFETY: see module docs; writes out[0..8].
            unsafe {
                _mm_storeu_ps(out.as_mut_ptr(), _mm256_cvtpd_ps(self.0));
                _mm_storeu_ps(out.as_mut_ptr().add(4), _mm256_cvtpd_ps(self.1));
            }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            both!(_mm256_add_pd(self, o))
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            both!(_mm256_sub_pd(self, o))
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            both!(_mm256_mul_pd(self, o))
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            both!(_mm256_div_pd(self, o))
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: see module docs (FMA is part of the AVX2 path's features).
            unsafe {
                Avx2x8(
                    _mm256_fmadd_pd(self.0, b.0, c.0),
                    _mm256_fmadd_pd(self.1, b.1, c.1),
                )
            }
        }
        #[inline(always)]
        fn min_ignoring_nan(self, o: Self) -> Self {
            // minpd(a, b) = a < b ? a : b, so NaN in `o` keeps `self`.
            both!(_mm256_min_pd(o, self))
        }
        #[inline(always)]
        fn max_ignoring_nan(self, o: Self) -> Self {
            both!(_mm256_max_pd(o, self))
        }
        #[inline(always)]
        fn lt(self, o: Self) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe {
                (
                    _mm256_cmp_pd::<_CMP_LT_OQ>(self.0, o.0),
                    _mm256_cmp_pd::<_CMP_LT_OQ>(self.1, o.1),
                )
            }
        }
        #[inline(always)]
        fn le(self, o: Self) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe {
                (
                    _mm256_cmp_pd::<_CMP_LE_OQ>(self.0, o.0),
                    _mm256_cmp_pd::<_CMP_LE_OQ>(self.1, o.1),
                )
            }
        }
        #[inline(always)]
        fn eq(self, o: Self) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe {
                (
                    _mm256_cmp_pd::<_CMP_EQ_OQ>(self.0, o.0),
                    _mm256_cmp_pd::<_CMP_EQ_OQ>(self.1, o.1),
                )
            }
        }
        #[inline(always)]
        fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe { (_mm256_and_pd(a.0, b.0), _mm256_and_pd(a.1, b.1)) }
        }
        #[inline(always)]
        fn or(a: Self::Mask, b: Self::Mask) -> Self::Mask {
            // SAFETY: see module docs.
            unsafe { (_mm256_or_pd(a.0, b.0), _mm256_or_pd(a.1, b.1)) }
        }
        #[inline(always)]
        fn select(m: Self::Mask, a: Self, b: Self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx2x8(
                    _mm256_blendv_pd(b.0, a.0, m.0),
                    _mm256_blendv_pd(b.1, a.1, m.1),
                )
            }
        }
        #[inline(always)]
        fn any(m: Self::Mask) -> bool {
            // SAFETY: see module docs.
            unsafe { _mm256_movemask_pd(_mm256_or_pd(m.0, m.1)) != 0 }
        }
        #[inline(always)]
        fn all(m: Self::Mask) -> bool {
            // SAFETY: see module docs.
            unsafe { _mm256_movemask_pd(_mm256_and_pd(m.0, m.1)) == 0b1111 }
        }
        #[inline(always)]
        fn bits_add(self, c: u64) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let k = _mm256_set1_epi64x(c as i64);
                let f =
                    |v: __m256d| _mm256_castsi256_pd(_mm256_add_epi64(_mm256_castpd_si256(v), k));
                Avx2x8(f(self.0), f(self.1))
            }
        }
        #[inline(always)]
        fn bits_and(self, c: u64) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let k = _mm256_castsi256_pd(_mm256_set1_epi64x(c as i64));
                Avx2x8(_mm256_and_pd(self.0, k), _mm256_and_pd(self.1, k))
            }
        }
        #[inline(always)]
        fn bits_or(self, c: u64) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let k = _mm256_castsi256_pd(_mm256_set1_epi64x(c as i64));
                Avx2x8(_mm256_or_pd(self.0, k), _mm256_or_pd(self.1, k))
            }
        }
        #[inline(always)]
        fn bits_shr52(self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let f = |v: __m256d| {
                    _mm256_castsi256_pd(_mm256_srli_epi64::<52>(_mm256_castpd_si256(v)))
                };
                Avx2x8(f(self.0), f(self.1))
            }
        }
        #[inline(always)]
        fn bits_shl52(self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                let f = |v: __m256d| {
                    _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_castpd_si256(v)))
                };
                Avx2x8(f(self.0), f(self.1))
            }
        }
        #[inline(always)]
        fn deinterleave(a: Self, b: Self) -> (Self, Self) {
            // SAFETY: see module docs.
            unsafe {
                // [x0 x1 x2 x3], [x4 x5 x6 x7] → [x0 x2 x4 x6], [x1 x3 x5 x7]
                let split = |v: Avx2x8| {
                    let even = _mm256_unpacklo_pd(v.0, v.1); // x0 x4 x2 x6
                    let odd = _mm256_unpackhi_pd(v.0, v.1); // x1 x5 x3 x7
                    (
                        _mm256_permute4x64_pd::<0b11_01_10_00>(even),
                        _mm256_permute4x64_pd::<0b11_01_10_00>(odd),
                    )
                };
                let ((ea, oa), (eb, ob)) = (split(a), split(b));
                (Avx2x8(ea, eb), Avx2x8(oa, ob))
            }
        }
        #[inline(always)]
        fn transpose8(rows: [Self; 8]) -> [Self; 8] {
            // four 4×4 transposes of the halves: rows 0–3 / 4–7 by columns 0–3 / 4–7
            // SAFETY: see module docs.
            unsafe {
                let mut q = [[_mm256_setzero_pd(); 4]; 4];
                for (block, quarter) in q.iter_mut().enumerate() {
                    let r = &rows[4 * (block / 2)..4 * (block / 2) + 4];
                    let (a, b, c, d) = if block % 2 == 0 {
                        (r[0].0, r[1].0, r[2].0, r[3].0)
                    } else {
                        (r[0].1, r[1].1, r[2].1, r[3].1)
                    };
                    let (t0, t1) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
                    let (t2, t3) = (_mm256_unpacklo_pd(c, d), _mm256_unpackhi_pd(c, d));
                    *quarter = [
                        _mm256_permute2f128_pd::<0x20>(t0, t2),
                        _mm256_permute2f128_pd::<0x20>(t1, t3),
                        _mm256_permute2f128_pd::<0x31>(t0, t2),
                        _mm256_permute2f128_pd::<0x31>(t1, t3),
                    ];
                }
                // q[rows half·2 + column half][column within]: column c = rows 0–3 then 4–7
                std::array::from_fn(|c| {
                    let (h, k) = (c / 4, c % 4);
                    Avx2x8(q[h][k], q[2 + h][k])
                })
            }
        }
        #[inline(always)]
        fn lookup16(self, table: &[f64; 16]) -> Self {
            // SAFETY: see module docs; every index is masked to 0..=15, within `table`.
            unsafe {
                let f = |v: __m256d| {
                    let idx = _mm256_and_si256(
                        _mm256_srli_epi64::<48>(_mm256_castpd_si256(v)),
                        _mm256_set1_epi64x(15),
                    );
                    _mm256_i64gather_pd::<8>(table.as_ptr(), idx)
                };
                Avx2x8(f(self.0), f(self.1))
            }
        }
    }

    /// Eight lanes in one AVX-512 register.
    #[derive(Clone, Copy)]
    pub struct Avx512x8(__m512d);

    impl Avx512x8 {
        /// The vector of a register.
        #[inline(always)]
        pub(crate) fn from_raw(v: __m512d) -> Self {
            Avx512x8(v)
        }
        /// The register.
        #[inline(always)]
        pub(crate) fn raw(self) -> __m512d {
            self.0
        }
    }

    impl F8 for Avx512x8 {
        type Mask = __mmask8;
        type F32s = Avx512x16;
        #[inline(always)]
        fn splat(v: f64) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_set1_pd(v)) }
        }
        #[inline(always)]
        fn from_array(a: [f64; 8]) -> Self {
            Self::load_f64(&a)
        }
        #[inline(always)]
        fn to_array(self) -> [f64; 8] {
            let mut out = [0.0; 8];
            // SAFETY: see module docs; `out` has room for 8 f64.
            unsafe { _mm512_storeu_pd(out.as_mut_ptr(), self.0) };
            out
        }
        #[inline(always)]
        fn load_f64(x: &[f64; 8]) -> Self {
            // SAFETY: see module docs; reads x[0..8].
            unsafe { Avx512x8(_mm512_loadu_pd(x.as_ptr())) }
        }
        #[inline(always)]
        fn load_f32(x: &[f32; 8]) -> Self {
            // SAFETY: see module docs; reads x[0..8].
            unsafe { Avx512x8(_mm512_cvtps_pd(_mm256_loadu_ps(x.as_ptr()))) }
        }
        #[inline(always)]
        fn store_f64(self, out: &mut [f64; 8]) {
            // SAFETY: see module docs; writes out[0..8].
            unsafe { _mm512_storeu_pd(out.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn store_f32(self, out: &mut [f32; 8]) {
            // SAFETY: see module docs; writes out[0..8].
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), _mm512_cvtpd_ps(self.0)) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_add_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_sub_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_mul_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_div_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_fmadd_pd(self.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn min_ignoring_nan(self, o: Self) -> Self {
            // minpd(a, b) = a < b ? a : b, so NaN in `o` keeps `self`.
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_min_pd(o.0, self.0)) }
        }
        #[inline(always)]
        fn max_ignoring_nan(self, o: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_max_pd(o.0, self.0)) }
        }
        #[inline(always)]
        fn lt(self, o: Self) -> __mmask8 {
            // SAFETY: see module docs.
            unsafe { _mm512_cmp_pd_mask::<_CMP_LT_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn le(self, o: Self) -> __mmask8 {
            // SAFETY: see module docs.
            unsafe { _mm512_cmp_pd_mask::<_CMP_LE_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn eq(self, o: Self) -> __mmask8 {
            // SAFETY: see module docs.
            unsafe { _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn and(a: __mmask8, b: __mmask8) -> __mmask8 {
            a & b
        }
        #[inline(always)]
        fn or(a: __mmask8, b: __mmask8) -> __mmask8 {
            a | b
        }
        #[inline(always)]
        fn select(m: __mmask8, a: Self, b: Self) -> Self {
            // SAFETY: see module docs.
            unsafe { Avx512x8(_mm512_mask_blend_pd(m, b.0, a.0)) }
        }
        #[inline(always)]
        fn any(m: __mmask8) -> bool {
            m != 0
        }
        #[inline(always)]
        fn all(m: __mmask8) -> bool {
            m == 0xff
        }
        #[inline(always)]
        fn bits_add(self, c: u64) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x8(_mm512_castsi512_pd(_mm512_add_epi64(
                    _mm512_castpd_si512(self.0),
                    _mm512_set1_epi64(c as i64),
                )))
            }
        }
        #[inline(always)]
        fn bits_and(self, c: u64) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x8(_mm512_castsi512_pd(_mm512_and_si512(
                    _mm512_castpd_si512(self.0),
                    _mm512_set1_epi64(c as i64),
                )))
            }
        }
        #[inline(always)]
        fn bits_or(self, c: u64) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x8(_mm512_castsi512_pd(_mm512_or_si512(
                    _mm512_castpd_si512(self.0),
                    _mm512_set1_epi64(c as i64),
                )))
            }
        }
        #[inline(always)]
        fn bits_shr52(self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x8(_mm512_castsi512_pd(_mm512_srli_epi64::<52>(
                    _mm512_castpd_si512(self.0),
                )))
            }
        }
        #[inline(always)]
        fn bits_shl52(self) -> Self {
            // SAFETY: see module docs.
            unsafe {
                Avx512x8(_mm512_castsi512_pd(_mm512_slli_epi64::<52>(
                    _mm512_castpd_si512(self.0),
                )))
            }
        }
        #[inline(always)]
        fn deinterleave(a: Self, b: Self) -> (Self, Self) {
            // SAFETY: see module docs.
            unsafe {
                // index i < 8 picks a's lane i, 8 + i b's lane i
                let even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
                let odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
                (
                    Avx512x8(_mm512_permutex2var_pd(a.0, even, b.0)),
                    Avx512x8(_mm512_permutex2var_pd(a.0, odd, b.0)),
                )
            }
        }
        #[inline(always)]
        fn transpose8(rows: [Self; 8]) -> [Self; 8] {
            // SAFETY: see module docs.
            unsafe {
                let r = rows.map(|v| v.0);
                // pairs: t[2i] = r[2i]0 r[2i+1]0 r[2i]2 r[2i+1]2 …, t[2i+1] the odd lanes
                let mut t = [_mm512_setzero_pd(); 8];
                for i in 0..4 {
                    t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
                    t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
                }
                // quads: u[k] holds column k (k < 4) of rows 0–3 in lanes 0–3 and column
                // k + 4 in lanes 4–7 (u[0..4]: rows 0–3, u[4..8]: rows 4–7)
                let low = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
                let high = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
                let mut u = [_mm512_setzero_pd(); 8];
                for g in 0..2 {
                    let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
                    u[4 * g] = _mm512_permutex2var_pd(a, low, c);
                    u[4 * g + 1] = _mm512_permutex2var_pd(b, low, d);
                    u[4 * g + 2] = _mm512_permutex2var_pd(a, high, c);
                    u[4 * g + 3] = _mm512_permutex2var_pd(b, high, d);
                }
                // eights: column k from rows 0–3 (u[k]) and rows 4–7 (u[k + 4]), lanes 0–3
                // for k < 4, lanes 4–7 for k ≥ 4
                std::array::from_fn(|c| {
                    let (a, b) = (u[c % 4], u[4 + c % 4]);
                    Avx512x8(if c < 4 {
                        _mm512_shuffle_f64x2::<0b01_00_01_00>(a, b)
                    } else {
                        _mm512_shuffle_f64x2::<0b11_10_11_10>(a, b)
                    })
                })
            }
        }
        #[inline(always)]
        fn deinterleave3(a: Self, b: Self, c: Self) -> (Self, Self, Self) {
            // SAFETY: see module docs.
            unsafe {
                // element r of triple i is value 3i + r: those below 16 from a‖b into the
                // first lanes, then the rest from c (index 8 + k: c's lane k)
                let pick = |from_ab: __m512i, with_c: __m512i| {
                    let t = _mm512_permutex2var_pd(a.0, from_ab, b.0);
                    Avx512x8(_mm512_permutex2var_pd(t, with_c, c.0))
                };
                (
                    pick(
                        _mm512_setr_epi64(0, 3, 6, 9, 12, 15, 0, 0),
                        _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 10, 13),
                    ),
                    pick(
                        _mm512_setr_epi64(1, 4, 7, 10, 13, 0, 0, 0),
                        _mm512_setr_epi64(0, 1, 2, 3, 4, 8, 11, 14),
                    ),
                    pick(
                        _mm512_setr_epi64(2, 5, 8, 11, 14, 0, 0, 0),
                        _mm512_setr_epi64(0, 1, 2, 3, 4, 9, 12, 15),
                    ),
                )
            }
        }
        const PERMUTE_LOOKUP: bool = true;
        const LOOPS_BECOME_GATHERS: bool = true;
        #[inline(always)]
        fn lookup16(self, table: &[f64; 16]) -> Self {
            // vpermt2pd reads bits 3..0 of each index: entries 0–7 from the first register,
            // 8–15 from the second.
            // SAFETY: see module docs; the loads read the 16 elements of `table`.
            unsafe {
                let idx = _mm512_srli_epi64::<48>(_mm512_castpd_si512(self.0));
                let lo = _mm512_loadu_pd(table.as_ptr());
                let hi = _mm512_loadu_pd(table.as_ptr().add(8));
                Avx512x8(_mm512_permutex2var_pd(lo, idx, hi))
            }
        }
        #[inline(always)]
        fn exponent_mantissa(self) -> (Self, Self) {
            // exact for normal and subnormal x; x = 0 has e = −inf, clamped so the
            // logarithm stays finite (as `log_split`)
            // SAFETY: see module docs.
            unsafe {
                let e = _mm512_getexp_pd(self.0);
                let m = _mm512_getmant_pd::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_ZERO>(self.0);
                let k = _mm512_max_pd(e, _mm512_set1_pd(-1077.0));
                (Avx512x8(k), Avx512x8(m))
            }
        }
        #[inline(always)]
        fn log_split(self) -> (Self, Self) {
            // vgetexp/vgetmant: x = 2^e·m, m ∈ [1, 2), exact for normal and subnormal x.
            // Mantissas at or above musl's split point (high word 0x3ff6a09e, just below
            // √2) move to [√2/2, 1) with e + 1 — the k and f of `split_by_bits` bit for
            // bit. x = 0 has e = −inf: clamped to −1077 so the value stays finite.
            // SAFETY: see module docs.
            unsafe {
                let e = _mm512_getexp_pd(self.0);
                let m = _mm512_getmant_pd::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_ZERO>(self.0);
                let big = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(
                    m,
                    _mm512_set1_pd(f64::from_bits(0x3ff6_a09e_0000_0000)),
                );
                let m = _mm512_mask_mul_pd(m, big, m, _mm512_set1_pd(0.5));
                let k = _mm512_mask_add_pd(e, big, e, _mm512_set1_pd(1.0));
                let k = _mm512_max_pd(k, _mm512_set1_pd(-1077.0));
                (Avx512x8(k), Avx512x8(_mm512_sub_pd(m, _mm512_set1_pd(1.0))))
            }
        }
    }
}

/// A lane operation generic over the vector type (test helper).
#[cfg(test)]
pub(crate) trait LaneOp {
    fn apply<V: F8>(&self, v: V) -> V;
}

/// Test helper: `op` applied to `x` (in blocks of eight) with every vector type this CPU
/// supports, each inside its `#[target_feature]` context; returns (name, results).
#[cfg(test)]
pub(crate) fn on_every_vector_type<O: LaneOp>(op: &O, x: &[f64]) -> Vec<(&'static str, Vec<f64>)> {
    #[inline(always)]
    fn run<V: F8, O: LaneOp>(op: &O, x: &[f64]) -> Vec<f64> {
        x.chunks(8)
            .flat_map(|c| op.apply(V::load_padded(c)).to_array()[..c.len()].to_vec())
            .collect()
    }
    let mut out = vec![("scalar", run::<Scalar8, O>(op, x))];
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<O: LaneOp>(op: &O, x: &[f64]) -> Vec<f64> {
            run::<x86::Avx2x8, O>(op, x)
        }
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
        fn avx512<O: LaneOp>(op: &O, x: &[f64]) -> Vec<f64> {
            run::<x86::Avx512x8, O>(op, x)
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features `avx2` enables.
            out.push(("avx2", unsafe { avx2(op, x) }));
        }
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has the features `avx512` enables.
            out.push(("avx512", unsafe { avx512(op, x) }));
        }
    }
    out
}
