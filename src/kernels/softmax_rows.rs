//! Short rows of the softmax family as vertical groups: up to [`GROUP`] rows transposed
//! into a tile `cols[c][j]` (element c of row j), so one vector lane is one row and every
//! per-row step — the maximum, the sum of exponentials, the finish `m + log1p(rest)`, the
//! row writers — runs sixteen (f32) or eight (f64) rows at once.
//!
//! **Why.** A row of logits costs ~50–150 ns of fixed work in the streaming pass (a
//! state, a finish with a lane combine, a scalar `log1p`, the per-row loop): for
//! (10^6, 2) that is 500× the time of reading the data. Here a group of rows costs what
//! its elements cost: one exponential per element (f32: the native exp on sixteen lanes;
//! f64: the ≤ 1 ULP f64 exp), one vector `log1p` per eight rows.
//!
//! **Same results as the row pass, up to the order of additions.** Per row: m = the
//! largest element (NaN ignored), rest = Σ e^(z − m) over the elements below m plus one
//! for every further element equal to m, so `log1p(rest)` keeps its relative precision
//! for confident rows; f32 exponentials through [`two_diff`] (an exact x − m) with the
//! f64 exp for vectors that underflow the f32 range. −inf elements contribute nothing and
//! are never counted; a row of −inf has m = −inf and rest = 0; NaN propagates.
//!
//! **log1p** of eight f64 lanes: u = 1 + r, log1p(r) = ln(u) + (r − (u − 1))/u (the
//! rounding error of 1 + r, exact, as a first-order correction; musl's log1p does the
//! same), with the ≤ 1 ULP vector ln; r where u rounds to 1. Measured ≤ 1 ULP against
//! `f64::ln_1p` for r ≥ 0 (tests below).

use super::softmax_f32::exp_gap;
use super::{Real, GROUP};
use crate::simd::exp::exp as exp_f64;
use crate::simd::exp_f32::{exp_fast, exp_per_lane, exp_wide, fast_underflows, two_diff};
use crate::simd::log::ln_finite;
use crate::simd::vector::{Scalar8, F8};
use crate::simd::vector_f32::F16;

/// Sixteen f64 lanes as two vectors.
#[inline(always)]
fn halves<V: F8>(x: &[f64]) -> (V, V) {
    (
        V::load_f64(x[..8].try_into().expect("8")),
        V::load_f64(x[8..16].try_into().expect("8")),
    )
}

#[inline(always)]
fn store_halves<V: F8>(a: V, b: V, out: &mut [f64]) {
    a.store_f64((&mut out[..8]).try_into().expect("8"));
    b.store_f64((&mut out[8..16]).try_into().expect("8"));
}

/// rest = s + (cnt − 1) where the maximum was counted (one of its copies is the argmax).
#[inline(always)]
pub(crate) fn rest_of<V: F8>(s: V, cnt: V) -> V {
    let zero = V::splat(0.0);
    V::select(cnt.gt(zero), s.add(cnt.sub(V::splat(1.0))), s)
}

/// log1p(r) of eight lanes for r ≥ 0 (NaN → NaN, +inf → +inf); see the module docs.
#[inline(always)]
pub fn log1p_nonneg<V: F8>(r: V) -> V {
    let one = V::splat(1.0);
    let u = one.add(r);
    let um1 = u.sub(one);
    let corr = r.sub(um1).div(u);
    let l = ln_finite(u).add(corr);
    // u = 1: r below half an ULP of 1, log1p(r) = r to within r²/2. u = inf or NaN: pass r.
    let finite = u.lt(V::splat(f64::INFINITY));
    V::select(V::and(finite, u.gt(one)), l, r)
}

/// Scalar reference of [`log1p_nonneg`] (the same operations on one lane).
pub fn log1p_lane(r: f64) -> f64 {
    log1p_nonneg(Scalar8::splat(r)).0[0]
}

/// The group of sixteen rows starting at row `g` of column `k` of a tile of `r` rows.
#[inline(always)]
fn at(k: usize, r: usize, g: usize) -> std::ops::Range<usize> {
    k * r + g..k * r + g + GROUP
}

#[inline(always)]
fn stats_f64_body<V: F8>(tile: &[f64], r: usize, max: &mut [f64], rest: &mut [f64]) {
    let c = tile.len() / r;
    let ninf = V::splat(f64::NEG_INFINITY);
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    for g in (0..r).step_by(GROUP) {
        let (mut m0, mut m1) = (ninf, ninf);
        for k in 0..c {
            let (a, b) = halves::<V>(&tile[at(k, r, g)]);
            m0 = m0.max_ignoring_nan(a);
            m1 = m1.max_ignoring_nan(b);
        }
        let (mut s0, mut s1, mut c0, mut c1) = (zero, zero, zero, zero);
        for k in 0..c {
            let (a, b) = halves::<V>(&tile[at(k, r, g)]);
            let (at0, at1) = (a.eq(m0), b.eq(m1));
            s0 = s0.add(V::select(at0, zero, exp_f64(a.sub(m0))));
            s1 = s1.add(V::select(at1, zero, exp_f64(b.sub(m1))));
            c0 = c0.add(V::select(V::and(at0, a.gt(ninf)), one, zero));
            c1 = c1.add(V::select(V::and(at1, b.gt(ninf)), one, zero));
        }
        store_halves(m0, m1, &mut max[g..g + GROUP]);
        store_halves(rest_of(s0, c0), rest_of(s1, c1), &mut rest[g..g + GROUP]);
    }
}

crate::simd::multiversion! {
    /// The maxima and rests of the rows of an f64 tile (`tile[k·r + j]`: class k of row j;
    /// r a multiple of [`GROUP`]) into `max[..r]`, `rest[..r]`.
    pub fn tile_stats_f64<>(tile: &[f64], r: usize, max: &mut [f64], rest: &mut [f64]) -> () = stats_f64_body;
}

#[inline(always)]
fn stats_f32_body<V: F8>(tile: &[f32], r: usize, max: &mut [f64], rest: &mut [f64]) {
    let c = tile.len() / r;
    let ninf = V::F32s::splat(f32::NEG_INFINITY);
    let zero = V::splat(0.0);
    let (zero32, one32) = (V::F32s::splat(0.0), V::F32s::splat(1.0));
    for g in (0..r).step_by(GROUP) {
        let mut m = ninf;
        for k in 0..c {
            m = m.max_ignoring_nan(V::F32s::load(tile[at(k, r, g)].try_into().expect("16")));
        }
        let (mut s0, mut s1) = (zero, zero);
        let mut cnt = zero32;
        for k in 0..c {
            let x = V::F32s::load(tile[at(k, r, g)].try_into().expect("16"));
            let at_max = x.eq(m);
            let (d, cc) = two_diff(x, m);
            // each lane is a row: the wide exponential per lane, where the fast one underflows
            let (e0, e1) = exp_per_lane(d, cc);
            let (k0, k1) = V::F32s::widen_mask(at_max);
            s0 = s0.add(V::select(k0, zero, e0));
            s1 = s1.add(V::select(k1, zero, e1));
            // Counts stay exact in f32 (short rows, far below 2^24).
            cnt = cnt.add(V::F32s::select(
                V::F32s::and(at_max, x.gt(ninf)),
                one32,
                zero32,
            ));
        }
        let (c0, c1) = cnt.widen();
        let (mx0, mx1) = m.widen();
        store_halves(mx0, mx1, &mut max[g..g + GROUP]);
        store_halves(rest_of(s0, c0), rest_of(s1, c1), &mut rest[g..g + GROUP]);
    }
}

crate::simd::multiversion! {
    /// [`tile_stats_f64`] for an f32 tile (native f32 exponentials, f64 sums).
    pub fn tile_stats_f32<>(tile: &[f32], r: usize, max: &mut [f64], rest: &mut [f64]) -> () = stats_f32_body;
}

#[inline(always)]
fn finish_body<V: F8>(max: &[f64], rest: &[f64], sub: Option<&[f64]>, out: &mut [f64]) {
    for h in (0..out.len()).step_by(8) {
        let r = h..h + 8;
        let m = V::load_f64(max[r.clone()].try_into().expect("8"));
        let l = log1p_nonneg(V::load_f64(rest[r.clone()].try_into().expect("8")));
        let v = match sub {
            // (m − z_y) + log1p(rest): both ≥ 0, nothing cancels (a confident row's loss
            // keeps its relative precision).
            Some(zy) => m
                .sub(V::load_f64(zy[r.clone()].try_into().expect("8")))
                .add(l),
            None => m.add(l),
        };
        v.store_f64((&mut out[r]).try_into().expect("8"));
    }
}

crate::simd::multiversion! {
    /// Per row (`out.len()` a multiple of 8): `max + log1p(rest)` (the logsumexp), or with
    /// `sub` the loss `(max − sub) + log1p(rest)` = −log softmax(z)\[y\] for `sub` = z_y.
    pub fn tile_finish<>(max: &[f64], rest: &[f64], sub: Option<&[f64]>, out: &mut [f64]) -> () = finish_body;
}

/// The effective target weights u = (t·a + b)·(w_k or 1) of a target tile (`t[k·r + j]`:
/// class k of row j) into `u` (the same operations as the row pass's, so the same values).
pub fn target_weight_tile<U: Real>(
    t: &[U],
    r: usize,
    a: f64,
    b: f64,
    w: Option<&[f64]>,
    u: &mut Vec<f64>,
) {
    u.clear();
    for (k, col) in t.chunks_exact(r).enumerate() {
        let wk = w.map_or(1.0, |w| w[k]);
        u.extend(col.iter().map(|&v| (v.to_f64() * a + b) * wk));
    }
}

#[inline(always)]
fn weighted_loss_body<V: F8, T: Real>(
    tile: &[T],
    u: &[f64],
    r: usize,
    max: &[f64],
    rest: &[f64],
    loss: &mut [f64],
    weight_sum: &mut [f64],
) {
    let c = tile.len() / r;
    let (zero, ninf, inf) = (
        V::splat(0.0),
        V::splat(f64::NEG_INFINITY),
        V::splat(f64::INFINITY),
    );
    for h in (0..r).step_by(8) {
        let lanes = h..h + 8;
        let m = V::load_f64(max[lanes.clone()].try_into().expect("8"));
        let (mut a, mut t) = (zero, zero);
        for k in 0..c {
            let z = V::load::<T>(tile[k * r + h..k * r + h + 8].try_into().expect("8"));
            let uv = V::load_f64(u[k * r + h..k * r + h + 8].try_into().expect("8"));
            // u·(m − z): 0 where u = 0 (even for z = −inf), +inf where z = −inf < u
            let gap = V::select(z.eq(ninf), inf, m.sub(z));
            a = a.add(V::select(uv.eq(zero), zero, uv.mul(gap)));
            t = t.add(uv);
        }
        let l = log1p_nonneg(V::load_f64(rest[lanes.clone()].try_into().expect("8")));
        let v = V::select(t.eq(zero), a, a.add(t.mul(l)));
        // a row without a finite maximum (empty, all −inf, NaN max): NaN
        let finite_max = V::and(m.eq(m), m.gt(ninf));
        V::select(finite_max, v, V::splat(f64::NAN))
            .store_f64((&mut loss[lanes.clone()]).try_into().expect("8"));
        t.store_f64((&mut weight_sum[lanes]).try_into().expect("8"));
    }
}

crate::simd::multiversion! {
    /// Per row of a tile (r a multiple of [`GROUP`]) with effective target weights `u`
    /// (a tile of the same shape): the loss Σ u_k (logsumexp − z_k) = A + U·log1p(rest)
    /// with A = Σ u_k (max − z_k) (every term ≥ 0 for u ≥ 0: nothing cancels), as
    /// [`super::softmax::RowStats::weighted_loss`], into `loss`; U = Σ u_k into `weight_sum`.
    pub fn tile_weighted_loss<T: Real>(tile: &[T], u: &[f64], r: usize, max: &[f64], rest: &[f64], loss: &mut [f64], weight_sum: &mut [f64]) -> () = weighted_loss_body;
}

/// What to write over a tile (per-row constants, one per row of the tile).
#[derive(Clone, Copy, Debug)]
pub enum TileWrite<'a> {
    /// z − max − log1p(rest).
    LogSoftmax,
    /// e^(z − max) / (1 + rest).
    Softmax,
    /// The cross-entropy gradient with class-index targets, before the target's own entry
    /// is fixed: `e^(z − max)·k_j − b_j·w_c` with `k_j = scale_j·U_j / (1 + rest_j)`,
    /// `b_j = scale_j·ε/C` (`w` the class weights, or 1).
    Grad {
        /// k_j per row.
        k: &'a [f64],
        /// b_j per row.
        b: &'a [f64],
        /// The class weights, or None.
        w: Option<&'a [f64]>,
    },
    /// The cross-entropy gradient with class-probability targets:
    /// `e^(z − max)·k_j − scale·u` with `k_j = scale·U_j / (1 + rest_j)`, `u` the
    /// effective target weights (a tile).
    Targets {
        /// k_j per row.
        k: &'a [f64],
        /// The effective target weights, a tile of the logits' shape.
        u: &'a [f64],
        /// The reduction's factor.
        scale: f64,
    },
}

#[inline(always)]
fn write_f64_body<V: F8>(
    tile: &mut [f64],
    r: usize,
    max: &[f64],
    rest: &[f64],
    what: TileWrite<'_>,
) {
    let c = tile.len() / r;
    let one = V::splat(1.0);
    for h in (0..r).step_by(8) {
        let lanes = h..h + 8;
        let m = V::load_f64(max[lanes.clone()].try_into().expect("8"));
        let rs = V::load_f64(rest[lanes.clone()].try_into().expect("8"));
        let (l1p, denom) = (log1p_nonneg(rs), one.add(rs));
        let (kv, bv) = match what {
            TileWrite::Grad { k, b, .. } => (
                V::load_f64(k[lanes.clone()].try_into().expect("8")),
                V::load_f64(b[lanes.clone()].try_into().expect("8")),
            ),
            TileWrite::Targets { k, scale, .. } => (
                V::load_f64(k[lanes.clone()].try_into().expect("8")),
                V::splat(scale),
            ),
            _ => (one, one),
        };
        for col in 0..c {
            let slot: &mut [f64; 8] = (&mut tile[col * r + h..col * r + h + 8])
                .try_into()
                .expect("8");
            let x = V::load_f64(slot);
            let v = match what {
                TileWrite::LogSoftmax => x.sub(m).sub(l1p),
                TileWrite::Softmax => exp_f64(x.sub(m)).div(denom),
                TileWrite::Grad { w, .. } => {
                    let wc = V::splat(w.map_or(1.0, |w| w[col]));
                    exp_f64(x.sub(m)).mul(kv).sub(bv.mul(wc))
                }
                TileWrite::Targets { u, .. } => {
                    let uc = V::load_f64(u[col * r + h..col * r + h + 8].try_into().expect("8"));
                    exp_f64(x.sub(m)).mul(kv).sub(bv.mul(uc))
                }
            };
            v.store_f64(slot);
        }
    }
}

crate::simd::multiversion! {
    /// Overwrites an f64 tile with its rows' log-softmax, softmax or gradient.
    pub fn tile_write_f64<>(tile: &mut [f64], r: usize, max: &[f64], rest: &[f64], what: TileWrite<'_>) -> () = write_f64_body;
}

#[inline(always)]
fn write_f32_body<V: F8>(
    tile: &mut [f32],
    r: usize,
    max: &[f64],
    rest: &[f64],
    what: TileWrite<'_>,
) {
    let c = tile.len() / r;
    let one = V::splat(1.0);
    // The gradient without weights and smoothing is a plain scaled exponential.
    let plain = match what {
        TileWrite::Softmax => true,
        TileWrite::Grad { w: None, b, .. } => b.iter().all(|&v| v == 0.0),
        _ => false,
    };
    for g in (0..r).step_by(GROUP) {
        let (m0, m1) = halves::<V>(&max[g..g + GROUP]);
        let (r0, r1) = halves::<V>(&rest[g..g + GROUP]);
        let m = V::F32s::from_wide(m0, m1); // exact: the maxima are f32 values
        let (l0, l1) = (log1p_nonneg(r0), log1p_nonneg(r1));
        let (k0, k1, b0, b1) = match what {
            TileWrite::Grad { k, b, .. } => {
                let (k0, k1) = halves::<V>(&k[g..g + GROUP]);
                let (b0, b1) = halves::<V>(&b[g..g + GROUP]);
                (k0, k1, b0, b1)
            }
            TileWrite::Targets { k, scale, .. } => {
                let (k0, k1) = halves::<V>(&k[g..g + GROUP]);
                (k0, k1, V::splat(scale), V::splat(scale))
            }
            _ => (
                one.div(one.add(r0)),
                one.div(one.add(r1)),
                V::splat(0.0),
                V::splat(0.0),
            ),
        };
        let k32 = V::F32s::from_wide(k0, k1);
        for col in 0..c {
            let slot: &mut [f32; GROUP] = (&mut tile[at(col, r, g)]).try_into().expect("16");
            let x = V::F32s::load(slot);
            let v = match what {
                TileWrite::LogSoftmax => {
                    // (z − m) − log1p(rest) in f64 (both terms ≤ 0), one rounding to f32.
                    let (x0, x1) = x.widen();
                    V::F32s::from_wide(x0.sub(m0).sub(l0), x1.sub(m1).sub(l1))
                }
                _ if plain => {
                    let (d, cc) = two_diff(x, m);
                    if <V::F32s as F16>::any(fast_underflows(d)) {
                        let (e0, e1) = exp_wide(d, cc);
                        V::F32s::from_wide(e0.mul(k0), e1.mul(k1))
                    } else {
                        exp_fast(d, cc).mul(k32)
                    }
                }
                TileWrite::Softmax => unreachable!("plain"),
                TileWrite::Grad { w, .. } => {
                    let (e0, e1) = exp_gap::<V>(x, m);
                    let wc = V::splat(w.map_or(1.0, |w| w[col]));
                    V::F32s::from_wide(e0.mul(k0).sub(b0.mul(wc)), e1.mul(k1).sub(b1.mul(wc)))
                }
                TileWrite::Targets { u, .. } => {
                    let (e0, e1) = exp_gap::<V>(x, m);
                    let (u0, u1) = halves::<V>(&u[at(col, r, g)]);
                    V::F32s::from_wide(e0.mul(k0).sub(b0.mul(u0)), e1.mul(k1).sub(b1.mul(u1)))
                }
            };
            v.store(slot);
        }
    }
}

crate::simd::multiversion! {
    /// Overwrites an f32 tile with its rows' log-softmax, softmax or gradient (native f32
    /// exponentials; every value rounded once to f32).
    pub fn tile_write_f32<>(tile: &mut [f32], r: usize, max: &[f64], rest: &[f64], what: TileWrite<'_>) -> () = write_f32_body;
}

/// Scalar reference of the tile statistics: per row, (max, rest) with `f64::exp`.
pub fn reference_stats(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    rows.iter()
        .map(|row| {
            let s = super::softmax::reference_stats::<f64, f64>(row, None);
            (s.max, s.rest)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive, ulps};

    const NINF: f64 = f64::NEG_INFINITY;

    #[test]
    fn log1p_is_within_one_ulp_of_libm() {
        let mut r = vec![
            0.0,
            1e-300,
            5e-324,
            1e-20,
            1e-16,
            1.1e-16,
            2.3e-16,
            1e-8,
            0.5,
            1.0,
            2.0,
            1e10,
            1e300,
            f64::MAX,
        ];
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..400_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let e = (s % 80) as i32 - 60;
            r.push((s >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi(e));
        }
        let mut worst = 0;
        for &v in &r {
            let got = log1p_lane(v);
            let e = ulps(got, v.ln_1p());
            worst = worst.max(e);
            assert!(e <= 1, "log1p({v:e}) = {got:e}, libm {:e}", v.ln_1p());
        }
        println!("log1p worst {worst} ULP");
        assert!(log1p_lane(f64::NAN).is_nan());
        assert_eq!(log1p_lane(f64::INFINITY), f64::INFINITY);
    }

    /// Groups of rows of one length with special values, as f64 rows.
    fn groups() -> Vec<Vec<Vec<f64>>> {
        let mut out = Vec::new();
        for len in 1..=67usize {
            let mut rows = Vec::new();
            for j in 0..GROUP {
                let mut row: Vec<f64> = positive(len, (len * 31 + j) as u64)
                    .iter()
                    .map(|&v| ((v - 0.5) * 30.0) as f32 as f64)
                    .collect();
                match j {
                    1 => row.iter_mut().for_each(|v| *v = NINF),
                    2 => row[len / 2] = 1e30,
                    3 if len > 1 => row[0] = -1e30,
                    4 => row[len - 1] = f64::NAN,
                    5 => row.iter_mut().for_each(|v| *v = 2.5),
                    6 => row[0] = f64::INFINITY,
                    7 if len > 1 => {
                        row.iter_mut().for_each(|v| *v -= 100.0);
                        row[0] = 3.0;
                    }
                    8 => row[(len + 1) / 3] = NINF,
                    _ => {}
                }
                rows.push(row);
            }
            // fewer than GROUP rows in some groups
            rows.truncate(if len % 5 == 0 { 7 } else { GROUP });
            out.push(rows);
        }
        out
    }

    /// The rows as a tile of `r` rows (r ≥ rows, a multiple of GROUP), zero padded.
    fn tile<T: Copy + Default>(rows: &[Vec<f64>], r: usize, conv: impl Fn(f64) -> T) -> Vec<T> {
        let len = rows[0].len();
        let mut t = vec![T::default(); len * r];
        for (j, row) in rows.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                t[c * r + j] = conv(v);
            }
        }
        t
    }

    #[test]
    fn tile_statistics_match_the_row_reference() {
        for rows in groups() {
            let r = 32; // two groups: the rows in the first, padding in the second
            let (want_max, want_rest) = reference_stats(&rows);
            let rows32: Vec<Vec<f64>> = rows
                .iter()
                .map(|row| row.iter().map(|&v| v as f32 as f64).collect())
                .collect();
            let (want32_max, want32_rest) = reference_stats(&rows32);
            let (mut m64, mut r64) = (vec![0.0; r], vec![0.0; r]);
            tile_stats_f64(&tile(&rows, r, |v| v), r, &mut m64, &mut r64);
            let (mut m32, mut r32) = (vec![0.0; r], vec![0.0; r]);
            tile_stats_f32(&tile(&rows, r, |v| v as f32), r, &mut m32, &mut r32);
            for j in 0..rows.len() {
                for (name, (m, rr), (wm, wr), tol) in [
                    ("f64", (&m64, &r64), (&want_max, &want_rest), 1e-14),
                    ("f32", (&m32, &r32), (&want32_max, &want32_rest), 4e-7),
                ] {
                    assert_eq!(m[j].to_bits(), wm[j].to_bits(), "{name} max row {j}");
                    assert!(
                        close(rr[j], wr[j], tol) || (rr[j] - wr[j]).abs() < 1e-300,
                        "{name} rest {} vs {} in {:?}",
                        rr[j],
                        wr[j],
                        rows[j]
                    );
                }
            }
            let mut lse = vec![0.0; r];
            tile_finish(&m64, &r64, None, &mut lse);
            for j in 0..rows.len() {
                let w = want_max[j] + want_rest[j].ln_1p();
                assert!(close(lse[j], w, 1e-15) || lse[j] == w, "{} vs {w}", lse[j]);
            }
        }
    }

    #[test]
    fn a_rows_f32_statistics_do_not_depend_on_its_neighbours() {
        // Row 0's gap of 100 underflows the fast f32 exponential (its lane takes the wide
        // one); the other rows' lanes keep the fast one, so their statistics are bitwise
        // those of a tile without row 0.
        let ordinary: Vec<f64> = (0..10).map(|k| 0.37 * k as f64 - 1.1).collect();
        let mut rows = vec![ordinary.clone(); GROUP];
        let alone = {
            let (mut m, mut rest) = (vec![0.0; GROUP], vec![0.0; GROUP]);
            tile_stats_f32(&tile(&rows, GROUP, |v| v as f32), GROUP, &mut m, &mut rest);
            (m, rest)
        };
        rows[0] = (0..10).map(|k| if k == 3 { 0.0 } else { -100.0 }).collect();
        let (mut m, mut rest) = (vec![0.0; GROUP], vec![0.0; GROUP]);
        tile_stats_f32(&tile(&rows, GROUP, |v| v as f32), GROUP, &mut m, &mut rest);
        for j in 1..GROUP {
            assert_eq!(m[j].to_bits(), alone.0[j].to_bits());
            assert_eq!(rest[j].to_bits(), alone.1[j].to_bits(), "row {j}");
        }
        // and row 0's tiny rest (9·e^−100) keeps its relative precision
        assert!(close(rest[0], 9.0 * (-100f64).exp(), 1e-6), "{}", rest[0]);
    }

    #[test]
    fn tile_writers_match_the_row_writers() {
        for rows in groups() {
            let n = rows.len();
            let len = rows[0].len();
            let r = GROUP;
            let (mut m64, mut r64) = (vec![0.0; r], vec![0.0; r]);
            tile_stats_f64(&tile(&rows, r, |v| v), r, &mut m64, &mut r64);
            let (mut m32, mut r32) = (vec![0.0; r], vec![0.0; r]);
            tile_stats_f32(&tile(&rows, r, |v| v as f32), r, &mut m32, &mut r32);
            let k: Vec<f64> = (0..r).map(|j| 0.7 / (1.0 + r64[j])).collect();
            let b: Vec<f64> = (0..r).map(|j| 0.01 * (j % 3) as f64).collect();
            let w: Vec<f64> = (0..len).map(|c| 0.5 + c as f64 * 0.1).collect();
            let u: Vec<f64> = (0..len * r).map(|i| ((i * 7) % 5) as f64 * 0.2).collect();
            for what in [
                TileWrite::Targets {
                    k: &k,
                    u: &u,
                    scale: 0.3,
                },
                TileWrite::LogSoftmax,
                TileWrite::Softmax,
                TileWrite::Grad {
                    k: &k,
                    b: &b,
                    w: None,
                },
                TileWrite::Grad {
                    k: &k,
                    b: &b,
                    w: Some(&w),
                },
            ] {
                let mut t64 = tile(&rows, r, |v| v);
                tile_write_f64(&mut t64, r, &m64, &r64, what);
                let mut t32 = tile(&rows, r, |v| v as f32);
                tile_write_f32(&mut t32, r, &m32, &r32, what);
                for j in 0..n {
                    let (m, rest) = (m64[j], r64[j]);
                    for c in 0..len {
                        let z = rows[j][c];
                        let want = match what {
                            TileWrite::LogSoftmax => (z - m) - rest.ln_1p(),
                            TileWrite::Softmax => (z - m).exp() / (1.0 + rest),
                            TileWrite::Grad { w: ww, .. } => {
                                (z - m).exp() * k[j] - b[j] * ww.map_or(1.0, |w| w[c])
                            }
                            TileWrite::Targets { scale, .. } => {
                                (z - m).exp() * k[j] - scale * u[c * r + j]
                            }
                        };
                        let got = t64[c * r + j];
                        assert!(
                            close(got, want, 1e-13)
                                || (got - want).abs() < 1e-15
                                || (got.is_nan() && want.is_nan()),
                            "f64 {what:?} row {j} col {c}: {got} vs {want}"
                        );
                        let got = t32[c * r + j] as f64;
                        let size = match what {
                            TileWrite::Grad { w: ww, .. } => ((z - m).exp() * k[j])
                                .abs()
                                .max(b[j] * ww.map_or(1.0, |w| w[c])),
                            TileWrite::Targets { scale, .. } => {
                                ((z - m).exp() * k[j]).abs().max(scale * u[c * r + j])
                            }
                            _ => want.abs(),
                        };
                        assert!(
                            (got - want).abs() <= 4e-7 * size + 2e-45
                                || (got.is_nan() && want.is_nan())
                                || got == want,
                            "f32 {what:?} row {j} col {c}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn tile_weighted_losses_match_the_row_reference() {
        // probability targets with zeros (also under −inf logits), class weights, label
        // smoothing (a, b); f64 to 1e-13, f32 (against the rows rounded to f32) to 1e-6
        for rows in groups() {
            let (n, len, r) = (rows.len(), rows[0].len(), 32);
            let targets: Vec<Vec<f64>> = (0..n)
                .map(|j| {
                    let mut t = positive(len, (j * 7 + len) as u64);
                    if j % 3 == 0 {
                        t[j % len] = 0.0;
                    }
                    if j == 1 && len > 1 {
                        t[0] = 0.0; // a zero target under a −inf logit: no term
                    }
                    t
                })
                .collect();
            let w: Vec<f64> = (0..len).map(|c| 0.5 + (c % 4) as f64 * 0.25).collect();
            let t_tile = tile(&targets, r, |v| v);
            for (a, b, weights) in [(1.0, 0.0, None), (0.9, 0.1 / len as f64, Some(&w[..]))] {
                let mut u = Vec::new();
                target_weight_tile(&t_tile, r, a, b, weights, &mut u);
                for f32_data in [false, true] {
                    let rows_t: Vec<Vec<f64>> = if f32_data {
                        rows.iter()
                            .map(|row| row.iter().map(|&v| v as f32 as f64).collect())
                            .collect()
                    } else {
                        rows.clone()
                    };
                    let (mut m, mut rest) = (vec![0.0; r], vec![0.0; r]);
                    let (mut loss, mut total) = (vec![0.0; r], vec![0.0; r]);
                    if f32_data {
                        let z = tile(&rows, r, |v| v as f32);
                        tile_stats_f32(&z, r, &mut m, &mut rest);
                        tile_weighted_loss(&z, &u, r, &m, &rest, &mut loss, &mut total);
                    } else {
                        let z = tile(&rows, r, |v| v);
                        tile_stats_f64(&z, r, &mut m, &mut rest);
                        tile_weighted_loss(&z, &u, r, &m, &rest, &mut loss, &mut total);
                    }
                    let tol = if f32_data { 1e-6 } else { 1e-13 };
                    for j in 0..n {
                        let want = super::super::softmax::reference_stats::<f64, f64>(
                            &rows_t[j],
                            Some((Some(&targets[j]), weights, a, b)),
                        );
                        let (got, wl) = (loss[j], want.weighted_loss());
                        assert!(
                            got == wl || close(got, wl, tol) || (got.is_nan() && wl.is_nan()),
                            "f32 {f32_data} a {a}: {got:e} vs {wl:e} for {:?} / {:?}",
                            rows_t[j],
                            targets[j]
                        );
                        assert!(close(total[j], want.weight_sum, 1e-15), "{j}");
                    }
                }
            }
        }
    }
}
