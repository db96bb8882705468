//! The float32 form of [`super::softmax`]: the streaming max / sum-of-exponentials pass and
//! the exp-writing row writers (softmax, the cross-entropy gradient) on sixteen f32 lanes
//! with the native f32 exp ([`crate::simd::exp_f32`]), sums accumulated in f64.
//!
//! **Why.** The f64 path widens every f32 logit and pays a f64 exp per element (~50 vector
//! instructions per eight elements), so float32 cost as much per element as float64 while
//! `np.sum` reads half the bytes. Here one f32 exp serves sixteen elements (~35 instructions
//! per sixteen, the TwoSum included); DESIGN §2b allows it for float32 input (results within
//! 1e−6 relative).
//!
//! **Two passes per block.** A row is read in blocks of [`BLOCK32`] = 256 values (1 KiB):
//! first the block's maximum and minimum (pure loads, which the prefetcher streams), then
//! its terms e^(z − m) from L1, relative to one maximum m for the whole row so far; when a
//! block raises m (a few times per row) the sums are rescaled once. One m per row, not
//! one per lane, makes the finish a plain sum (no exponential per row: short rows gain),
//! and a block whose maximum is below m and whose minimum is within 87 of it — every block
//! of ordinary logits but the one holding the maximum — runs a lean loop without the
//! clamp, the underflow check and the count of values equal to m. (The per-vector
//! online maximum of the f64 pass was tried first here: ~50 instructions per sixteen
//! values against ~31, and its branch mispredicted a few hundred times per long row.)
//!
//! **Precision.** Everything the f64 pass keeps is kept: the values equal to the maximum
//! stay out of the sums (counted in `cnt`), so `rest = Σ_{i≠argmax} e^(z_i − m)` and
//! `log1p(rest)` keep full relative precision for confident rows. Each term is
//! e^(x − m) with x − m taken exactly as an unevaluated sum d + c ([`two_diff`]), so a term
//! far below the maximum (x − m = −40, where the f32 difference alone is off by 2.4e−6
//! relative) is still within 8.2e−8; four terms are summed in f32 (≤ 1.2e−7 of their sum)
//! and then widened exactly and summed in f64.
//! Vectors with a lane in the fast exp's underflow (−inf < x − m < −87, e^(x − m) below
//! the normal f32 range) are redone with the f64 exp — never for ordinary logits, and it
//! keeps a confident row's loss of 1e−40 at full relative precision instead of 0.
//! The rescale when the maximum rises is an f64 exp of the exact f64 difference of two f32.
//!
//! Special values behave as in the f64 pass: −inf contributes nothing and is never counted
//! (tails are padded with −inf), NaN propagates, +inf makes the maximum +inf.
//! AVX2 and AVX-512 give bitwise the same results (same lanes, same fused operations).

use super::softmax::{GradRow, RowStats};
use crate::simd::exp_f32::{
    exp_fast, exp_fast_in_domain, exp_wide, fast_underflows, two_diff, FAST_MIN,
};
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// Lanes of the f32 pass.
pub const LANES32: usize = 16;

/// Elements per block of the two-pass scheme (see [`lse_feed_f32`]); the strided path
/// gathers pieces of this size ([`crate::parallel::CHUNK`]), so pieces and whole rows give
/// the same bits.
pub const BLOCK32: usize = 256;

/// The state of the f32 pass over a row, carried between pieces: one maximum for the whole
/// row so far, the sums of e^(z − m) in sixteen f64 lanes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LseLanes32 {
    /// The row's maximum so far (−inf before any value other than −inf/NaN).
    pub m: f32,
    /// Σ e^(z − m) per lane over the values below `m`.
    pub s: [f64; LANES32],
    /// Earlier counts of values equal to an earlier maximum, rescaled: part of the sum.
    pub extra: f64,
    /// How many values equal `m` (−inf never counted).
    pub cnt: f64,
}

impl LseLanes32 {
    /// The state before any value.
    pub const EMPTY: Self = LseLanes32 {
        m: f32::NEG_INFINITY,
        s: [0.0; LANES32],
        extra: 0.0,
        cnt: 0.0,
    };

    /// The row's statistics: the sixteen lane sums in a fixed tree, no exponential (every
    /// lane is relative to the same maximum).
    pub fn finish(&self) -> RowStats {
        let s = &self.s;
        let tree8 = |o: usize| {
            ((s[o] + s[o + 4]) + (s[o + 2] + s[o + 6]))
                + ((s[o + 1] + s[o + 5]) + (s[o + 3] + s[o + 7]))
        };
        let below = (tree8(0) + tree8(8)) + self.extra;
        // One of the values equal to the maximum is the argmax itself.
        let rest = if self.cnt > 0.0 {
            below + (self.cnt - 1.0)
        } else {
            below
        };
        RowStats {
            max: self.m as f64,
            rest,
            weighted_gap: 0.0,
            weight_sum: 0.0,
        }
    }
}

/// Sixteen f64 lanes as two vectors (lanes 0–7, 8–15).
#[inline(always)]
fn halves<V: F8>(x: &[f64; LANES32]) -> (V, V) {
    (
        V::load_f64(x[..8].try_into().expect("8")),
        V::load_f64(x[8..].try_into().expect("8")),
    )
}

/// Sixteen values of `x` padded with `pad` (a row's tail).
#[inline(always)]
fn load_tail<H: F16>(x: &[f32], pad: f32) -> H {
    let mut padded = [pad; LANES32];
    padded[..x.len()].copy_from_slice(x);
    H::load(&padded)
}

/// The `i`-th group of sixteen values of `x`.
#[inline(always)]
fn load16<H: F16>(x: &[f32], i: usize) -> H {
    H::load(x[i * LANES32..(i + 1) * LANES32].try_into().expect("16"))
}

/// The largest of sixteen lanes, NaN ignored.
#[inline(always)]
fn max_of(a: [f32; LANES32]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for v in a {
        if v > m {
            m = v;
        }
    }
    m
}

/// The smallest of sixteen lanes, NaN ignored.
#[inline(always)]
fn min_of(a: [f32; LANES32]) -> f32 {
    let mut m = f32::INFINITY;
    for v in a {
        if v < m {
            m = v;
        }
    }
    m
}

/// The largest and smallest value of a block, NaN ignored (−inf, +inf when there is none).
#[inline(always)]
fn block_max_min<H: F16>(block: &[f32]) -> (f32, f32) {
    let (ninf, inf) = (H::splat(f32::NEG_INFINITY), H::splat(f32::INFINITY));
    // Two accumulators each: the max/min latency would otherwise chain the loads.
    let (mut hi0, mut hi1, mut lo0, mut lo1) = (ninf, ninf, inf, inf);
    let mut pairs = block.chunks_exact(2 * LANES32);
    for p in &mut pairs {
        let (a, b): (H, H) = (load16(p, 0), load16(p, 1));
        hi0 = hi0.max_ignoring_nan(a);
        lo0 = lo0.min_ignoring_nan(a);
        hi1 = hi1.max_ignoring_nan(b);
        lo1 = lo1.min_ignoring_nan(b);
    }
    let rest = pairs.remainder();
    let mut singles = rest.chunks_exact(LANES32);
    for c in &mut singles {
        let a: H = load16(c, 0);
        hi0 = hi0.max_ignoring_nan(a);
        lo0 = lo0.min_ignoring_nan(a);
    }
    let tail = singles.remainder();
    if !tail.is_empty() {
        hi1 = hi1.max_ignoring_nan(load_tail(tail, f32::NEG_INFINITY));
        lo1 = lo1.min_ignoring_nan(load_tail(tail, f32::INFINITY));
    }
    (
        max_of(hi0.max_ignoring_nan(hi1).to_array()),
        min_of(lo0.min_ignoring_nan(lo1).to_array()),
    )
}

/// e^(x − m) of a vector that may hold anything (the maximum itself, −inf, gaps beyond
/// the fast exp's domain, NaN), added to the f64 sums; values equal to `m` are counted.
#[inline(always)]
fn add_checked<V: F8>(x: V::F32s, m: V::F32s, mut s: (V, V), cnt: &mut f64) -> (V, V) {
    let (d, c) = two_diff(x, m);
    let (e0, e1) = if <V::F32s as F16>::any(fast_underflows(d)) {
        // Rare: some e^(x − m) is below the normal f32 range; f64 for the vector.
        exp_wide(d, c)
    } else {
        exp_fast(d, c).widen()
    };
    let at_max = x.eq(m);
    let zero = V::splat(0.0);
    if <V::F32s as F16>::any(at_max) {
        // The values equal to the maximum stay out of the sums (−inf equals the maximum
        // only while the row has had nothing else, and is never counted).
        let (k0, k1) = V::F32s::widen_mask(at_max);
        s.0 = s.0.add(V::select(k0, zero, e0));
        s.1 = s.1.add(V::select(k1, zero, e1));
        let counted = V::F32s::and(at_max, x.gt(V::F32s::splat(f32::NEG_INFINITY)));
        let ones = V::F32s::select(counted, V::F32s::splat(1.0), V::F32s::splat(0.0));
        for v in ones.to_array() {
            *cnt += v as f64;
        }
    } else {
        s.0 = s.0.add(e0);
        s.1 = s.1.add(e1);
    }
    s
}

/// e^(x − m) of a vector whose gaps are all in [FAST_MIN, 0) (the block's maximum is
/// below m and its minimum within 87 of it): no clamp, no checks.
#[inline(always)]
fn exp_clean<V: F8>(x: V::F32s, m: V::F32s) -> V::F32s {
    let (d, c) = two_diff(x, m);
    exp_fast_in_domain(d, c)
}

/// The sums with the block's terms added; see [`lse_feed_f32`].
#[inline(always)]
fn add_block<V: F8>(block: &[f32], m: f32, clean: bool, s: (V, V), cnt: &mut f64) -> (V, V) {
    let mv = V::F32s::splat(m);
    let whole = block.len() / LANES32 * LANES32;
    let (body, rest) = block.split_at(whole);
    let (mut s0, mut s1) = s;
    if clean {
        // PERF: four vectors summed in f32 (two roundings, ≤ 1.2e−7 of their sum) before
        // one widening: the conversions were a fifth of the loop.
        let mut quads = body.chunks_exact(4 * LANES32);
        for q in &mut quads {
            // (No closure here: a closure is not compiled with the target features of the
            // multiversioned body, and its vector operations would become calls.)
            let e0 = exp_clean::<V>(load16(q, 0), mv);
            let e1 = exp_clean::<V>(load16(q, 1), mv);
            let e2 = exp_clean::<V>(load16(q, 2), mv);
            let e3 = exp_clean::<V>(load16(q, 3), mv);
            let (w0, w1) = e0.add(e1).add(e2.add(e3)).widen();
            s0 = s0.add(w0);
            s1 = s1.add(w1);
        }
        for c in quads.remainder().chunks_exact(LANES32) {
            let (w0, w1) = exp_clean::<V>(load16(c, 0), mv).widen();
            s0 = s0.add(w0);
            s1 = s1.add(w1);
        }
    } else {
        for c in body.chunks_exact(LANES32) {
            (s0, s1) = add_checked::<V>(load16(c, 0), mv, (s0, s1), cnt);
        }
    }
    if !rest.is_empty() {
        (s0, s1) = add_checked::<V>(load_tail(rest, f32::NEG_INFINITY), mv, (s0, s1), cnt);
    }
    (s0, s1)
}

#[inline(always)]
fn lse_feed_f32_body<V: F8>(st: &mut LseLanes32, x: &[f32]) {
    let mut s = halves::<V>(&st.s);
    let (mut m, mut extra, mut cnt) = (st.m, st.extra, st.cnt);
    for block in x.chunks(BLOCK32) {
        let (bmax, bmin) = block_max_min::<V::F32s>(block);
        if bmax > m {
            // The maximum rises (a few times per row): rescale everything once, by the
            // exact f64 gap of two f32 values.
            // (libm's exp, ≤ 1 ULP and the same code on every instruction set: the
            // portable vector type here was ~1 µs a row without inlining.)
            let f = (m as f64 - bmax as f64).exp();
            let fv = V::splat(f);
            s = (s.0.mul(fv), s.1.mul(fv));
            extra = (extra + cnt) * f;
            cnt = 0.0;
            m = bmax;
        }
        // Clean: nothing equal to m, no −inf, every gap inside the fast exp's domain.
        let clean = bmax < m && (bmin as f64 - m as f64) >= FAST_MIN as f64;
        s = add_block::<V>(block, m, clean, s, &mut cnt);
    }
    st.m = m;
    st.extra = extra;
    st.cnt = cnt;
    let mut out = [0.0; LANES32];
    s.0.store_f64((&mut out[..8]).try_into().expect("8"));
    s.1.store_f64((&mut out[8..]).try_into().expect("8"));
    st.s = out;
}

crate::simd::multiversion! {
    /// Feeds `x` (a row, or a piece of one whose length is a multiple of [`BLOCK32`]
    /// except the last) into the f32 state; pieces give bitwise the result of one call.
    ///
    /// Two passes per block of 256 (1 KiB, L1-resident after the first): the block's
    /// maximum and minimum, then its terms e^(z − m) relative to the row's maximum so far.
    /// A block whose maximum is below m and whose minimum is within 87 of it — every block
    /// of ordinary logits but the one holding the maximum — takes the lean loop without a
    /// clamp, an underflow check or a count of values equal to m.
    pub fn lse_feed_f32<>(st: &mut LseLanes32, x: &[f32]) -> () = lse_feed_f32_body;
}

/// e^(x − max) of sixteen lanes as two f64 halves (fast f32 exp, f64 where it underflows).
#[inline(always)]
pub(crate) fn exp_gap<V: F8>(x: V::F32s, max: V::F32s) -> (V, V) {
    let (d, c) = two_diff(x, max);
    if <V::F32s as F16>::any(fast_underflows(d)) {
        exp_wide(d, c)
    } else {
        exp_fast(d, c).widen()
    }
}

/// e^(x − max)·scale of sixteen lanes in f32: one rounding of the f32 exp's product, the
/// f64 exp (then one rounding to f32) for vectors with an underflowing lane.
#[inline(always)]
fn exp_gap_scaled<V: F8>(x: V::F32s, max: V::F32s, scale32: V::F32s, scale: f64) -> V::F32s {
    let (d, c) = two_diff(x, max);
    if <V::F32s as F16>::any(fast_underflows(d)) {
        let (a, b) = exp_wide(d, c);
        let s = V::splat(scale);
        V::F32s::from_wide(a.mul(s), b.mul(s))
    } else {
        exp_fast(d, c).mul(scale32)
    }
}

/// Sixteen values at `i` of `src`, or of `x` itself (in place); a short block padded with −inf.
#[inline(always)]
fn load_from<H: F16>(src: Option<&[f32]>, x: &[f32], i: usize, n: usize) -> H {
    let from = src.unwrap_or(x);
    if n == LANES32 {
        load16(&from[i..i + LANES32], 0)
    } else {
        load_tail(&from[i..i + n], f32::NEG_INFINITY)
    }
}

/// Stores the first `n` lanes of `v` at `x[i..]`.
#[inline(always)]
fn store_at<H: F16>(v: H, x: &mut [f32], i: usize, n: usize) {
    if n == LANES32 {
        v.store((&mut x[i..i + LANES32]).try_into().expect("16"));
    } else {
        x[i..i + n].copy_from_slice(&v.to_array()[..n]);
    }
}

#[inline(always)]
fn softmax_f32_body<V: F8>(src: Option<&[f32]>, x: &mut [f32], max: f64, denom: f64) {
    // max is an f32 value (the row's largest element), so the cast is exact.
    let m = V::F32s::splat(max as f32);
    let inv = 1.0 / denom;
    let inv32 = V::F32s::splat(inv as f32);
    let n = x.len();
    let mut i = 0;
    while i < n {
        let k = (n - i).min(LANES32);
        let v: V::F32s = load_from(src, x, i, k);
        store_at(exp_gap_scaled::<V>(v, m, inv32, inv), x, i, k);
        i += LANES32;
    }
}

crate::simd::multiversion! {
    /// `x[j] ← e^(z[j] − max) / denom` (as e^(z − max)·(1/denom), one rounding of the
    /// product): the softmax of an f32 row given its statistics; `z` = `src`, or `x` itself
    /// when `src` is None (in place).
    pub fn softmax_write_f32<>(src: Option<&[f32]>, x: &mut [f32], max: f64, denom: f64) -> () = softmax_f32_body;
}

/// Eight class weights from `start` (zero-padded at `end`), or ones without weights.
#[inline(always)]
fn weights8<V: F8>(w: Option<&[f64]>, start: usize, end: usize) -> V {
    let count = end.saturating_sub(start).min(8);
    match w {
        Some(w) if count == 8 => V::load(w[start..start + 8].try_into().expect("8")),
        Some(w) if count > 0 => V::load_padded(&w[start..start + count]),
        Some(_) => V::splat(0.0),
        None => V::splat(1.0),
    }
}

#[inline(always)]
fn ce_grad_f32_body<V: F8>(src: Option<&[f32]>, x: &mut [f32], w: Option<&[f64]>, g: GradRow) {
    let m = V::F32s::splat(g.max as f32);
    // g_j = scale·(p_j·U − b·w_j) = e^(z_j − max)·K − B·w_j.
    let k = g.scale * g.total / g.denom;
    let b = g.scale * g.b;
    let k32 = V::F32s::splat(k as f32);
    let plain = w.is_none() && b == 0.0;
    let n = x.len();
    let mut i = 0;
    while i < n {
        let len = (n - i).min(LANES32);
        let v: V::F32s = load_from(src, x, i, len);
        let out = if plain {
            exp_gap_scaled::<V>(v, m, k32, k)
        } else {
            // u_j = b·w_j: the product and the difference in f64, one rounding to f32.
            let (e0, e1) = exp_gap::<V>(v, m);
            let (kv, bv) = (V::splat(k), V::splat(-b));
            V::F32s::from_wide(
                e0.mul(kv).add(weights8::<V>(w, i, i + len).mul(bv)),
                e1.mul(kv).add(weights8::<V>(w, i + 8, i + len).mul(bv)),
            )
        };
        store_at(out, x, i, len);
        i += LANES32;
    }
}

crate::simd::multiversion! {
    /// The cross-entropy gradient `scale·(softmax(z)_j·U − b·w_j)` of an f32 row with
    /// class-index targets (`t = None`, `a = 0` in [`GradRow`]; the target's own entry is
    /// fixed by the caller), `w` the class weights or None; `z` = `src`, or `x` itself when
    /// `src` is None (in place).
    pub fn ce_grad_write_f32<>(src: Option<&[f32]>, x: &mut [f32], w: Option<&[f64]>, g: GradRow) -> () = ce_grad_f32_body;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive};
    use crate::kernels::softmax::{grad_at, reference_stats};
    use crate::simd::vector::Scalar8;

    const NINF: f32 = f32::NEG_INFINITY;

    fn stats(x: &[f32]) -> RowStats {
        let mut st = LseLanes32::EMPTY;
        lse_feed_f32(&mut st, x);
        st.finish()
    }

    /// Rows of every length 0..=67 with the special values of the f64 tests, plus the
    /// adversarial families of the float32 contract.
    fn rows() -> Vec<Vec<f32>> {
        let mut rows = Vec::new();
        for len in 0..=67usize {
            let base: Vec<f32> = positive(len, 3 + len as u64)
                .iter()
                .enumerate()
                .map(|(i, &v)| ((v - 0.5) * 20.0 + (i % 3) as f64) as f32)
                .collect();
            rows.push(base.clone());
            for (k, &sp) in [
                0.0,
                NINF,
                1e30,
                -1e30,
                80.0,
                -100.0,
                1e-30,
                f32::MAX,
                1e-45,
                f32::INFINITY,
            ]
            .iter()
            .enumerate()
            {
                let mut r = base.clone();
                for (i, v) in r.iter_mut().enumerate() {
                    if (i + k) % 4 == 0 {
                        *v = sp;
                    }
                }
                rows.push(r);
            }
            rows.push(vec![NINF; len]);
            rows.push(vec![1e30; len]);
            rows.push(vec![0.0; len]);
            if len > 0 {
                // one huge and many tiny; a confident row of gap 46.x; gaps past the fast domain
                let mut r = vec![0.123_456_7f32; len];
                r[len / 2] = 46.654_32;
                rows.push(r);
                let mut r: Vec<f32> = (0..len).map(|i| -90.0 - i as f32 * 7.3).collect();
                r[len - 1] = 3.25;
                rows.push(r);
            }
        }
        rows.push(vec![0.0, -40.0]);
        rows.push(vec![0.3, -110.7]);
        // Several blocks: the maximum rising in later blocks, a block of −inf, a block of
        // deep gaps, a NaN late in the row, duplicates of the maximum in two blocks.
        for len in [255usize, 256, 257, 600, 1000, 3001] {
            let up: Vec<f32> = (0..len)
                .map(|i| (i as f32 * 0.37).sin() * 5.0 + i as f32 * 0.01)
                .collect();
            rows.push(up.clone());
            let mut r = up.clone();
            r[len.min(256)..len.min(512)].fill(NINF);
            rows.push(r);
            let mut r = up.clone();
            r[..len / 3].iter_mut().for_each(|v| *v -= 120.0);
            rows.push(r);
            let mut r = up.clone();
            r[len - 2] = f32::NAN;
            rows.push(r);
            let mut r = up;
            r[3] = 99.5;
            r[len - 1] = 99.5;
            rows.push(r);
        }
        rows
    }

    #[test]
    fn f32_pass_matches_the_f64_reference_within_the_float32_contract() {
        for row in rows() {
            let got = stats(&row);
            let want = reference_stats::<f32, f64>(&row, None);
            assert_eq!(got.max.to_bits(), want.max.to_bits(), "{row:?}");
            assert!(
                close(got.rest, want.rest, 4e-7) || (got.rest - want.rest).abs() < 1e-300,
                "rest {} vs {} in {row:?}",
                got.rest,
                want.rest
            );
            let (l, lw) = (got.logsumexp(), want.logsumexp());
            assert!(close(l, lw, 4e-7) || l == lw, "{l} vs {lw}");
            if let Some(&z) = row.first() {
                let (a, b) = (
                    got.neg_log_softmax_at(z as f64),
                    want.neg_log_softmax_at(z as f64),
                );
                assert!(
                    close(a, b, 4e-7) || a == b || (a.is_nan() && b.is_nan()),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn confident_losses_keep_relative_precision() {
        // Loss of the argmax = log1p(rest): tiny, and exact to 1e−7 relative.
        for (row, want) in [
            (vec![0.0f32, -46.0], (-46f64).exp()),
            (
                vec![0.3f32, -110.7],
                ((-110.7f32) as f64 - 0.3f32 as f64).exp(),
            ),
            (
                vec![12.5f32, -33.25, -40.125],
                ((-45.75f64).exp() + (-52.625f64).exp()),
            ),
        ] {
            let s = stats(&row);
            let got = s.neg_log_softmax_at(s.max);
            assert!(close(got, want, 2e-7), "{got:e} vs {want:e}");
        }
    }

    #[test]
    fn feeding_in_pieces_is_bitwise_identical() {
        for row in rows() {
            let whole = stats(&row);
            let mut st = LseLanes32::EMPTY;
            for piece in row.chunks(BLOCK32) {
                lse_feed_f32(&mut st, piece);
            }
            let p = st.finish();
            assert!(
                whole == p || (whole.rest.is_nan() && p.rest.is_nan()),
                "{row:?}"
            );
        }
    }

    #[test]
    fn writers_match_the_f64_reference() {
        for row in rows() {
            let s = stats(&row);
            let mut out = row.clone();
            softmax_write_f32(Some(&row), &mut out, s.max, 1.0 + s.rest);
            for (j, &o) in out.iter().enumerate() {
                let want = (row[j] as f64 - s.max).exp() / (1.0 + s.rest);
                assert!(
                    close(o as f64, want, 3e-7)
                        || (o as f64 - want).abs() < 1.5e-45
                        || (o.is_nan() && want.is_nan()),
                    "softmax {o:e} vs {want:e} in {row:?}"
                );
            }
            let n = row.len();
            let w: Vec<f64> = positive(n, 29).iter().map(|v| v + 0.5).collect();
            for (weights, b) in [
                (None, 0.0),
                (Some(&w[..]), 0.0),
                (None, 0.01),
                (Some(&w[..]), 0.02),
            ] {
                let g = GradRow {
                    max: s.max,
                    denom: 1.0 + s.rest,
                    total: 1.3,
                    a: 0.0,
                    b,
                    scale: 0.5,
                };
                let mut out = row.clone();
                ce_grad_write_f32(None, &mut out, weights, g);
                for j in 0..n {
                    let u = b * weights.map_or(1.0, |w| w[j]);
                    let want = grad_at(row[j] as f64, u, &g);
                    let o = out[j] as f64;
                    // one f32 rounding of a difference: relative to the larger of its terms
                    let size = ((row[j] as f64 - s.max).exp() / g.denom * g.total)
                        .abs()
                        .max(u)
                        * g.scale;
                    assert!(
                        (o - want).abs() <= 3e-7 * size + 1.5e-45 || (o.is_nan() && want.is_nan()),
                        "grad {o:e} vs {want:e} (b={b}) in {row:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        // The multiversioned entry points run the detected ISA; the portable type is
        // compared through the generic body directly.
        let row: Vec<f32> = positive(1000, 77)
            .iter()
            .map(|v| (v * 30.0 - 12.0) as f32)
            .collect();
        let mut st = LseLanes32::EMPTY;
        lse_feed_f32_body::<Scalar8>(&mut st, &row);
        let portable = st.finish();
        let fast = stats(&row);
        assert!(close(portable.rest, fast.rest, 1e-12));
        #[cfg(target_arch = "x86_64")]
        {
            use crate::simd::vector::x86::{Avx2x8, Avx512x8};
            #[target_feature(enable = "avx2,fma")]
            fn avx2(x: &[f32]) -> RowStats {
                let mut st = LseLanes32::EMPTY;
                lse_feed_f32_body::<Avx2x8>(&mut st, x);
                st.finish()
            }
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            fn avx512(x: &[f32]) -> RowStats {
                let mut st = LseLanes32::EMPTY;
                lse_feed_f32_body::<Avx512x8>(&mut st, x);
                st.finish()
            }
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the CPU has the features both functions enable.
                let (a, b) = unsafe { (avx2(&row), avx512(&row)) };
                assert_eq!(a, b);
            }
        }
    }
}
