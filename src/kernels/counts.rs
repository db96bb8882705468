//! Float kernels of the count-based measures (contingency tables, label counts),
//! vectorised like the others: [`sum_min`] (marginal sums of a table) and
//! [`xlog_ratio_sums`] (Σ x·ln(x·c/d), the direct form of mutual information and
//! conditional entropy) and [`mi_cell_sums`] (mutual information as a sum of non-negative
//! terms, exact near independence). Counting the labels themselves is integer work in
//! [`crate::measures::label_counting`] and [`crate::measures::label_pairs`].

use super::{
    for_each_block, for_each_block_pair, min_ignoring_nan, Accumulate, AccumulatePair, Partial,
    Real,
};
use crate::simd::log::{ln, ln_finite, rest_of};
use crate::simd::vector::F8;

/// Σx and min(0, min x) of a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SumMin {
    /// Σ x.
    pub sum: f64,
    /// min(0, smallest x), NaN ignored: below 0 means an input error.
    pub min: f64,
}

impl Partial for SumMin {
    const EMPTY: Self = SumMin { sum: 0.0, min: 0.0 };
    #[inline]
    fn combine(self, o: Self) -> Self {
        SumMin {
            sum: self.sum + o.sum,
            min: min_ignoring_nan(self.min, o.min),
        }
    }
}

struct SumLanes<V> {
    sum: V,
    min: V,
}

impl<V: F8> Accumulate<V> for SumLanes<V> {
    #[inline(always)]
    fn add(&mut self, x: V) {
        self.sum = self.sum.add(x);
        self.min = self.min.min_ignoring_nan(x);
    }
}

#[inline(always)]
fn sum_min_body<V: F8, T: Real>(x: &[T]) -> SumMin {
    let zero = V::splat(0.0);
    let mut acc = SumLanes {
        sum: zero,
        min: zero,
    };
    for_each_block(x, &mut acc);
    SumMin {
        sum: acc.sum.sum_lanes(),
        min: acc.min.min_lane(),
    }
}

crate::simd::multiversion! {
    /// Σx and min(0, min x) over `x`, vectorised.
    pub fn sum_min<T: Real>(x: &[T]) -> SumMin = sum_min_body;
}

/// Scalar reference for [`sum_min`].
pub fn sum_min_reference<T: Real>(x: &[T]) -> SumMin {
    x.iter().fold(SumMin::EMPTY, |acc, &v| {
        acc.combine(SumMin {
            sum: v.to_f64(),
            min: v.to_f64(),
        })
    })
}

/// Σ x·ln(x·c/d) over a block (0 where x = 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogRatioSums {
    /// Σ x·ln(x·c/d).
    pub sum_terms: f64,
}

impl Partial for LogRatioSums {
    const EMPTY: Self = LogRatioSums { sum_terms: 0.0 };
    #[inline]
    fn combine(self, o: Self) -> Self {
        LogRatioSums {
            sum_terms: self.sum_terms + o.sum_terms,
        }
    }
}

#[inline(always)]
fn ratio_in_range<V: F8>(ratio: V) -> V::Mask {
    V::and(
        ratio.ge(V::splat(f64::MIN_POSITIVE)),
        ratio.lt(V::splat(f64::INFINITY)),
    )
}

/// Fast path: the ratio x·c/d and one log; lanes where a positive x meets a ratio out of
/// the normal range set `out_of_range` and the block is redone by [`RatioCareful`].
struct RatioFast<V> {
    st: V,
    c: V,
    out_of_range: V,
}

impl<V: F8> AccumulatePair<V> for RatioFast<V> {
    #[inline(always)]
    fn add(&mut self, x: V, d: V) {
        let zero = V::splat(0.0);
        let ratio = x.mul(self.c).div(d);
        self.st = self.st.add(V::select(x.eq(zero), zero, x.mul(ln(ratio))));
        let bad = V::select(ratio_in_range(ratio), zero, x).gt(zero);
        self.out_of_range = V::select(bad, V::splat(1.0), self.out_of_range);
    }
}

/// Careful path: ln x + ln c − ln d where the ratio is out of range.
struct RatioCareful<V> {
    st: V,
    c: V,
}

impl<V: F8> AccumulatePair<V> for RatioCareful<V> {
    #[inline(always)]
    fn add(&mut self, x: V, d: V) {
        let zero = V::splat(0.0);
        let ratio = x.mul(self.c).div(d);
        let log = V::select(
            ratio_in_range(ratio),
            ln(ratio),
            ln(x).add(ln(self.c)).sub(ln(d)),
        );
        self.st = self.st.add(V::select(x.eq(zero), zero, x.mul(log)));
    }
}

#[inline(always)]
fn xlog_ratio_sums_body<V: F8>(x: &[f64], d: &[f64], c: f64) -> LogRatioSums {
    let zero = V::splat(0.0);
    let mut fast = RatioFast {
        st: zero,
        c: V::splat(c),
        out_of_range: zero,
    };
    for_each_block_pair(x, d, &mut fast);
    if fast.out_of_range.max_lane() > 0.0 {
        let mut careful = RatioCareful {
            st: zero,
            c: V::splat(c),
        };
        for_each_block_pair(x, d, &mut careful);
        LogRatioSums {
            sum_terms: careful.st.sum_lanes(),
        }
    } else {
        LogRatioSums {
            sum_terms: fast.st.sum_lanes(),
        }
    }
}

crate::simd::multiversion! {
    /// Σ x·ln(x·c/d) over equally long `x` and `d`, 0 where x = 0, vectorised.
    /// With cell counts x, column sums d and c = n/(row sum) it is n·I(X;Y) of a table's
    /// row; with c = 1 it is −n·H(X|Y) of the row.
    pub fn xlog_ratio_sums<>(x: &[f64], d: &[f64], c: f64) -> LogRatioSums = xlog_ratio_sums_body;
}

/// Scalar reference for [`xlog_ratio_sums`], with `f64::ln` (three logs where the ratio
/// is not a normal number).
pub fn xlog_ratio_reference(x: &[f64], d: &[f64], c: f64) -> LogRatioSums {
    let mut acc = LogRatioSums::EMPTY;
    for (&a, &b) in x.iter().zip(d) {
        let r = a * c / b;
        let t = if a == 0.0 {
            0.0
        } else if (f64::MIN_POSITIVE..f64::INFINITY).contains(&r) {
            a * r.ln()
        } else {
            a * (a.ln() + c.ln() - b.ln())
        };
        acc = acc.combine(LogRatioSums { sum_terms: t });
    }
    acc
}

/// Σ over cells of q·φ(x/q), q = a·b/n (the expected count), φ(r) = r ln r − r + 1 ≥ 0:
/// n·I(X;Y) of a table's row written as a sum of non-negative terms (Σ x = Σ q = n), so
/// nearly independent variables keep full relative precision where the direct form
/// Σ x ln(x n/(a b)) has terms of both signs and an absolute error of ~1e-16·n.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MiCellSums {
    /// Σ q·φ(x/q).
    pub sum: f64,
    /// Some cell's products left the range where they are exact (x·n or a·b below
    /// [`EXACT_PRODUCT_MIN`] after scaling): the caller takes the direct form instead.
    pub inexact: bool,
}

impl Partial for MiCellSums {
    const EMPTY: Self = MiCellSums {
        sum: 0.0,
        inexact: false,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        MiCellSums {
            sum: self.sum + o.sum,
            inexact: self.inexact || o.inexact,
        }
    }
}

/// Below this a product's rounding error (the FMA residual) may itself round: 2^-968.
pub const EXACT_PRODUCT_MIN: f64 = 4.008_336_720_017_946e-292;

/// |f| below which φ takes the form q·(f² + rest(f)·(1 + f)) with f = x/q − 1 from exact
/// products (inside rest's domain [√2/2 − 1, √2 − 1)); above it x·ln r − x + q loses at
/// most ~10 ULP to cancellation (φ(1 ± 1/4) ≥ 0.028 against terms ≤ 0.3).
const MI_NEAR: f64 = 0.25;

/// One lane group of [`mi_cell_sums`]: x counts, b column sums, `a_s` = a·s, `n_s` = n·s
/// for an exact power of two s (so the products stay in range; q and r do not change).
#[inline(always)]
fn mi_cells_lanes<V: F8>(x: V, b: V, a_s: V, n_s: V) -> (V, V::Mask) {
    let zero = V::splat(0.0);
    let one = V::splat(1.0);
    // x·n − a·b as a double-double: both products exact (FMA residuals), the difference
    // of the high parts exact where they are close (Sterbenz)
    let hi1 = x.mul(n_s);
    let lo1 = x.fused_mul_add(n_s, zero.sub(hi1));
    let hi2 = a_s.mul(b);
    let lo2 = a_s.fused_mul_add(b, zero.sub(hi2));
    let q = hi2.div(n_s);
    let f = hi1.sub(hi2).add(lo1.sub(lo2)).div(hi2);
    let near = V::and(f.lt(V::splat(MI_NEAR)), f.gt(V::splat(-MI_NEAR)));
    let fr = V::select(near, f, zero);
    // φ(1 + f) = (1+f)(f + rest) − f = f² + rest·(1 + f)
    let rest = rest_of(fr);
    let g_near = q.mul(fr.mul_add(fr, rest.mul(one.add(fr))));
    let r = hi1.div(hi2);
    let g_far = V::select(x.eq(zero), q, x.mul(ln_finite(r)).sub(x).add(q));
    let g = V::select(hi2.eq(zero), zero, V::select(near, g_near, g_far));
    let tiny = V::splat(EXACT_PRODUCT_MIN);
    let inexact = V::or(
        V::and(x.gt(zero), hi1.lt(tiny)),
        V::and(hi2.gt(zero), hi2.lt(tiny)),
    );
    (g, inexact)
}

/// The row sums `a` of the cells: one for a whole table row, or one per cell.
#[derive(Clone, Copy)]
enum RowSums<'a> {
    Row(f64),
    Each(&'a [f64]),
}

/// Σ q·φ(x/q) over cells `x` with column sums `b` and row sums `a` (see [`MiCellSums`]).
#[inline(always)]
fn mi_cells_body<V: F8>(x: &[f64], b: &[f64], a: RowSums<'_>, n: f64, scale: f64) -> MiCellSums {
    let zero = V::splat(0.0);
    let (n_s, s) = (V::splat(n * scale), V::splat(scale));
    let (mut sum, mut inexact) = (zero, zero);
    let len = match a {
        RowSums::Row(_) => x.len().min(b.len()),
        RowSums::Each(a) => x.len().min(b.len()).min(a.len()),
    };
    let mut i = 0;
    while i < len {
        let end = (i + 8).min(len);
        let (xv, bv) = (V::load_padded(&x[i..end]), V::load_padded(&b[i..end]));
        let av = match a {
            RowSums::Row(a) => V::splat(a),
            RowSums::Each(a) => V::load_padded(&a[i..end]),
        };
        let (g, bad) = mi_cells_lanes(xv, bv, av.mul(s), n_s);
        sum = sum.add(g);
        inexact = V::select(bad, V::splat(1.0), inexact);
        i = end;
    }
    MiCellSums {
        sum: sum.sum_lanes(),
        inexact: inexact.max_lane() > 0.0,
    }
}

#[inline(always)]
fn mi_cell_sums_body<V: F8>(x: &[f64], b: &[f64], a: f64, n: f64, scale: f64) -> MiCellSums {
    mi_cells_body::<V>(x, b, RowSums::Row(a), n, scale)
}

crate::simd::multiversion! {
    /// Σ_j q_j·φ(x_j/q_j) with q_j = a·b_j/n over a table row `x` (row sum `a`) and the
    /// column sums `b`, table total `n`; `scale` is [`unit_scale`]`(n)`, an exact power of
    /// two applied to `a` and `n` so that x·n and a·b stay finite (see [`MiCellSums`]).
    pub fn mi_cell_sums<>(x: &[f64], b: &[f64], a: f64, n: f64, scale: f64) -> MiCellSums = mi_cell_sums_body;
}

#[inline(always)]
fn mi_cell_sums_each_body<V: F8>(
    x: &[f64],
    a: &[f64],
    b: &[f64],
    n: f64,
    scale: f64,
) -> MiCellSums {
    mi_cells_body::<V>(x, b, RowSums::Each(a), n, scale)
}

crate::simd::multiversion! {
    /// [`mi_cell_sums`] with a row sum per cell (`a[i]` for cell `i`): the non-zero cells
    /// of a sparse table, in any order.
    pub fn mi_cell_sums_each<>(x: &[f64], a: &[f64], b: &[f64], n: f64, scale: f64) -> MiCellSums = mi_cell_sums_each_body;
}

/// The power of two that brings a positive finite `n` to [1, 2) (up to the rounding of
/// log₂): the `scale` of [`mi_cell_sums`].
pub fn unit_scale(n: f64) -> f64 {
    2f64.powi(-(n.log2().floor() as i32))
}

/// Scalar reference for [`mi_cell_sums`]: the same formulas with `f64::ln`, `f64::ln_1p`
/// and `f64::mul_add`, cell by cell.
pub fn mi_cell_reference(x: &[f64], b: &[f64], a: f64, n: f64, scale: f64) -> MiCellSums {
    let (a_s, n_s) = (a * scale, n * scale);
    let mut acc = MiCellSums::EMPTY;
    for (&x, &b) in x.iter().zip(b) {
        let (hi1, hi2) = (x * n_s, a_s * b);
        let (lo1, lo2) = (x.mul_add(n_s, -hi1), a_s.mul_add(b, -hi2));
        let q = hi2 / n_s;
        let f = ((hi1 - hi2) + (lo1 - lo2)) / hi2;
        let g = if hi2 == 0.0 {
            0.0
        } else if f.abs() < MI_NEAR {
            // ln(1+f) − f by its series (|f| < 1/4: 60 terms reach far below an ULP)
            let rest: f64 = (2..60).rev().fold(0.0, |acc, k| {
                acc * f + if k % 2 == 0 { -1.0 } else { 1.0 } / k as f64
            }) * f
                * f;
            q * (f * f + rest * (1.0 + f))
        } else if x == 0.0 {
            q
        } else {
            x * (hi1 / hi2).ln() - x + q
        };
        let inexact =
            (x > 0.0 && hi1 < EXACT_PRODUCT_MIN) || (hi2 > 0.0 && hi2 < EXACT_PRODUCT_MIN);
        acc = acc.combine(MiCellSums { sum: g, inexact });
    }
    acc
}

// `V` is unused on purpose: `multiversion!` instantiates the body once per instruction
// set inside a `#[target_feature]` function, which is what lets the loop vectorise.
#[allow(clippy::extra_unused_type_parameters)]
#[inline(always)]
fn class_labels_body<V: F8>(y: &[i64], classes: u64, ignore: i64) -> (u64, u64) {
    let (mut kept, mut bad) = (0u64, 0u64);
    for &v in y {
        // negative labels wrap to huge values: out of range
        let inside = (v as u64) < classes;
        let used = v != ignore;
        kept += (inside & used) as u64;
        bad += (!inside & used) as u64;
    }
    (kept, bad)
}

crate::simd::multiversion! {
    /// (labels in `0..classes` other than `ignore`, labels outside it other than `ignore`)
    /// of `y`: integer work, in a plain branch-free loop that each instruction set's
    /// compilation vectorises (the baseline's SSE2 has no 64-bit compare).
    pub fn class_labels<>(y: &[i64], classes: u64, ignore: i64) -> (u64, u64) = class_labels_body;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive, SPECIALS};

    #[test]
    fn mi_cells_match_the_reference_on_every_tail_and_adversarial_cell() {
        // tails 0..=67 of an ordinary row, and cells of every special size against
        // column sums near them (near independence, far, zero, subnormal, huge)
        for len in 0..=67 {
            let x = positive(len, len as u64 + 3);
            let b: Vec<f64> = x.iter().map(|&v| v * 1.5 + 0.25).collect();
            let a: f64 = x.iter().sum::<f64>() + 1.0;
            let n = a * 3.0;
            let scale = unit_scale(n);
            let (got, want) = (
                mi_cell_sums(&x, &b, a, n, scale),
                mi_cell_reference(&x, &b, a, n, scale),
            );
            assert_eq!(got.inexact, want.inexact);
            assert!(
                close(got.sum, want.sum, 1e-14),
                "{len}: {} vs {}",
                got.sum,
                want.sum
            );
        }
        let mut x = Vec::new();
        let mut b = Vec::new();
        for &v in SPECIALS.iter().filter(|v| v.is_finite() && **v >= 0.0) {
            for ratio in [0.0, 0.5, 1.0 - 1e-9, 1.0, 1.0 + 1e-15, 1.3, 7.0] {
                x.push(v);
                b.push(if ratio == 0.0 { 0.0 } else { v * ratio * 2.0 });
            }
        }
        let (a, n) = (2.0, 4.0);
        let (got, want) = (
            mi_cell_sums(&x, &b, a, n, 0.25),
            mi_cell_reference(&x, &b, a, n, 0.25),
        );
        assert_eq!(got.inexact, want.inexact);
        assert!(
            close(got.sum, want.sum, 1e-14) || (got.sum.is_infinite() && want.sum.is_infinite()),
            "{} vs {}",
            got.sum,
            want.sum
        );
    }

    #[test]
    fn mi_cells_with_a_row_sum_per_cell_equal_the_row_form() {
        // the same cells through both entry points, every tail length: equal to rounding
        // (the lane sums group cells differently), and to the reference
        for len in 0..=67 {
            let x: Vec<f64> = (0..len).map(|i| ((i * 37) % 11) as f64 + 1.0).collect();
            let b: Vec<f64> = (0..len)
                .map(|i| ((i * 13) % 7) as f64 * 3.0 + 20.0)
                .collect();
            let (a, n) = (x.iter().sum::<f64>() + 5.0, 4096.0);
            let scale = 1.0 / 4096.0;
            let each = mi_cell_sums_each(&x, &vec![a; len], &b, n, scale);
            let row = mi_cell_reference(&x, &b, a, n, scale);
            assert_eq!(each.inexact, row.inexact);
            assert!(
                close(each.sum, row.sum, 1e-14),
                "{len}: {} vs {}",
                each.sum,
                row.sum
            );
        }
    }

    #[test]
    fn mi_cells_keep_relative_precision_near_independence() {
        // a 2×2 table of counts 10^6·(outer product) perturbed by ±1: n·I ≈ Σ (x − q)²/(2q)
        let (a0, a1, b0, b1) = (3.0e6f64, 5.0e6, 2.0e6, 6.0e6);
        let n = a0 + a1;
        let q = [[a0 * b0 / n, a0 * b1 / n], [a1 * b0 / n, a1 * b1 / n]];
        let x = [
            [q[0][0] + 1.0, q[0][1] - 1.0],
            [q[1][0] - 1.0, q[1][1] + 1.0],
        ];
        let scale = unit_scale(n);
        let s0 = mi_cell_sums(&x[0], &[b0, b1], a0, n, scale);
        let s1 = mi_cell_sums(&x[1], &[b0, b1], a1, n, scale);
        // the exact value (mpmath, 40 digits) of Σ q φ(x/q) for this table
        let exact = 1.422_222_053_662_800_5e-6;
        let got = s0.sum + s1.sum;
        assert!(!s0.inexact && !s1.inexact);
        assert!(
            ((got - exact) / exact).abs() < 1e-13,
            "{got:e} vs {exact:e}"
        );
    }

    #[test]
    fn sum_min_matches_reference_on_every_tail_length() {
        for len in 0..=67 {
            let x = positive(len, len as u64);
            let (got, want) = (sum_min(&x), sum_min_reference(&x));
            assert!(close(got.sum, want.sum, 1e-13) && got.min == want.min);
        }
        let mut x = positive(67, 1);
        x[30] = -2.0;
        x[31] = f64::NAN;
        let got = sum_min(&x);
        assert!(got.sum.is_nan() && got.min == -2.0);
    }

    #[test]
    fn xlog_ratio_matches_reference_on_every_tail_length() {
        for len in 0..=67 {
            let x = positive(len, len as u64);
            // d ≥ x, as column sums are
            let d: Vec<f64> = x
                .iter()
                .zip(positive(len, 99 + len as u64))
                .map(|(a, b)| a + b + 1e-3)
                .collect();
            for c in [1.0, 2.5, 1e6] {
                let (got, want) = (xlog_ratio_sums(&x, &d, c), xlog_ratio_reference(&x, &d, c));
                let scale: f64 = x
                    .iter()
                    .zip(&d)
                    .map(|(a, b)| (a * (a * c / b).ln()).abs())
                    .filter(|t| t.is_finite())
                    .sum();
                assert!(
                    (got.sum_terms - want.sum_terms).abs() <= 1e-13 * scale.max(1e-300),
                    "{got:?} vs {want:?}"
                );
            }
        }
    }

    #[test]
    fn xlog_ratio_special_values() {
        for &s in &SPECIALS {
            for len in [1, 8, 9, 67] {
                let mut x = positive(len, 3);
                let mut d: Vec<f64> = x.iter().map(|v| v + 1.0).collect();
                x[len / 2] = s;
                d[len / 2] = s.max(1e-300) * 2.0;
                let (got, want) = (
                    xlog_ratio_sums(&x, &d, 3.0),
                    xlog_ratio_reference(&x, &d, 3.0),
                );
                assert!(
                    close(got.sum_terms, want.sum_terms, 1e-12),
                    "{s}: {got:?} vs {want:?}"
                );
            }
        }
        // x = d·/c exactly: every ratio is 1, the sum is exactly 0 (independent table)
        assert_eq!(
            xlog_ratio_sums(&[1.0, 1.0], &[2.0, 2.0], 2.0).sum_terms,
            0.0
        );
        assert_eq!(
            xlog_ratio_sums(&[3.0, 0.0], &[3.0, 0.0], 1.0).sum_terms,
            0.0
        );
    }

    #[test]
    fn class_labels_counts_like_a_plain_filter() {
        let y: Vec<i64> = (0..200)
            .map(|i: i64| match i % 9 {
                0 => -1,
                1 => i64::MIN,
                2 => i64::MAX,
                3 => 10,
                4 => -100,
                _ => i % 10,
            })
            .collect();
        for len in (0..=67).chain([199, 200]) {
            let y = &y[..len];
            for ignore in [-100i64, -1, 0, 3, i64::MIN] {
                let kept = y
                    .iter()
                    .filter(|&&v| v != ignore && (0..10).contains(&v))
                    .count();
                let bad = y
                    .iter()
                    .filter(|&&v| v != ignore && !(0..10).contains(&v))
                    .count();
                let want = (kept as u64, bad as u64);
                assert_eq!(class_labels(y, 10, ignore), want);
                assert_eq!(
                    class_labels_body::<crate::simd::vector::Scalar8>(y, 10, ignore),
                    want
                );
            }
        }
    }
}
