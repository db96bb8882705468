//! Softmax rows: the streaming max / sum-of-exponentials pass and the row writers
//! (log-softmax, softmax, the cross-entropy gradient).
//!
//! **One streaming pass.** Each of the eight lanes keeps a running maximum `m`, the sum
//! `s = Σ exp(z − m)` over the values *below* `m`, and the count `cnt` of values equal to
//! `m`. When a vector raises some lane's maximum, that lane is rescaled once,
//! `s ← (s + cnt)·exp(m_old − m_new)`; a branch on "any lane raised" skips the rescale for
//! all but the first few vectors of a row, so the pass costs one `exp` per element. (The
//! two-pass form, max then sum, reads the row twice; the per-element online form
//! `s·exp(m−m') + exp(z−m')` costs two exps per element. Both rejected.)
//!
//! **Precision.** Keeping the values equal to the maximum out of `s` gives
//! `rest = Σ_{i≠argmax} exp(z_i − m)` without cancellation, so
//! `logsumexp = m + log1p(rest)` keeps full relative precision when it is near 0
//! (`logsumexp([0, −40]) = 4.25e−18`, scipy gh-18295), and so does the cross-entropy
//! loss `(m − z_y) + log1p(rest)` of a confidently correct prediction.
//!
//! **Weighted sums.** The cross-entropy with class-probability targets (and label
//! smoothing) needs `A = Σ u_c (m − z_c)` and `U = Σ u_c` for effective target weights
//! `u_c = ((t_c or 1)·a + b)·(w_c or 1)`; then `Σ u_c (logsumexp − z_c) = A + U·log1p(rest)`.
//! `A` is kept relative to each lane's maximum (shifted by `U·(m_new − m_old)` when it
//! rises), never as `m·U − Σ u z`, which cancels catastrophically for logits of 1e30.
//! A zero `u_c` contributes 0 even where `z_c = −inf` (0·log 0 = 0), a positive one +inf.
//!
//! Special values: `−inf` elements contribute nothing (tails are padded with `−inf`); a
//! row that is empty or all `−inf` has `max = −inf`, `rest = 0`; NaN propagates into `rest`.
//! No fused multiply-add anywhere: every instruction set gives bitwise the same result.
//!
//! The state is carried between calls ([`LseLanes`]), so a row can be fed in pieces (a
//! strided row is gathered 256 elements at a time); pieces whose lengths are multiples of
//! eight give bitwise the same result as one call on the whole row.

use super::{Real, LANES};
use crate::simd::exp::{exp, exp_in_domain};
use crate::simd::vector::{Scalar8, F8};

/// Per-lane state of the streaming pass (see the module docs), carried between calls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LseLanes {
    /// Running maximum per lane (`−inf` before any finite value).
    pub m: [f64; LANES],
    /// Σ exp(z − m) over the lane's values below `m`.
    pub s: [f64; LANES],
    /// How many of the lane's values equal `m` (values of `−inf` are never counted).
    pub cnt: [f64; LANES],
    /// Σ u·(m − z) (weighted pass only).
    pub a: [f64; LANES],
    /// Σ u (weighted pass only).
    pub t: [f64; LANES],
}

impl LseLanes {
    /// The state before any value.
    pub const EMPTY: Self = LseLanes {
        m: [f64::NEG_INFINITY; LANES],
        s: [0.0; LANES],
        cnt: [0.0; LANES],
        a: [0.0; LANES],
        t: [0.0; LANES],
    };

    /// Combines the eight lanes in a fixed order into one row's statistics.
    pub fn finish(&self) -> RowStats {
        let max = self
            .m
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        // exp(m_l − max) with the crate's exp (bitwise what the vector paths compute).
        let gaps: [f64; LANES] = std::array::from_fn(|l| {
            if self.m[l] == max {
                0.0
            } else {
                self.m[l] - max
            }
        });
        // libm's exp (≤ 1 ULP, the same code on every instruction set); the portable
        // vector exp cost ~1 µs a row where it was not inlined.
        let factor = gaps.map(f64::exp);
        let (mut below, mut at_max, mut a, mut t) = (0.0, 0.0, 0.0, 0.0);
        #[allow(clippy::needless_range_loop)] // five parallel arrays: an index reads clearest
        for l in 0..LANES {
            if self.m[l] == max {
                below += self.s[l];
                at_max += self.cnt[l];
                a += self.a[l];
            } else {
                below += (self.s[l] + self.cnt[l]) * factor[l];
                a += if self.t[l] == 0.0 {
                    self.a[l]
                } else {
                    self.a[l] + self.t[l] * (max - self.m[l])
                };
            }
            t += self.t[l];
        }
        // One of the values equal to the maximum is the argmax itself: the others count 1 each.
        let rest = if at_max > 0.0 {
            below + (at_max - 1.0)
        } else {
            below
        };
        RowStats {
            max,
            rest,
            weighted_gap: a,
            weight_sum: t,
        }
    }
}

/// The statistics of one row of logits `z`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowStats {
    /// max z (−inf for an empty or all −inf row).
    pub max: f64,
    /// Σ_{i≠argmax} exp(z_i − max) (the argmax is one index holding the maximum).
    pub rest: f64,
    /// Σ u_c (max − z_c) (weighted pass; 0 otherwise).
    pub weighted_gap: f64,
    /// Σ u_c (weighted pass; 0 otherwise).
    pub weight_sum: f64,
}

impl RowStats {
    /// log(Σ exp z) = max + log1p(rest).
    pub fn logsumexp(&self) -> f64 {
        self.max + self.rest.ln_1p()
    }

    /// −log softmax(z)\[j\] = (max − z_j) + log1p(rest): full relative precision when small.
    pub fn neg_log_softmax_at(&self, z_j: f64) -> f64 {
        (self.max - z_j) + self.rest.ln_1p()
    }

    /// Σ u_c (logsumexp − z_c) = A + U·log1p(rest); NaN for a row without a finite logit.
    pub fn weighted_loss(&self) -> f64 {
        if self.max == f64::NEG_INFINITY || self.max.is_nan() {
            f64::NAN
        } else if self.weight_sum == 0.0 {
            self.weighted_gap
        } else {
            self.weighted_gap + self.weight_sum * self.rest.ln_1p()
        }
    }
}

/// Eight values of `x` padded with `pad` (a row's tail).
#[inline(always)]
fn load_tail<V: F8, T: Real>(x: &[T], pad: f64) -> V {
    let mut padded = [T::from_f64(pad); LANES];
    padded[..x.len()].copy_from_slice(x);
    V::load(&padded)
}

/// Lanes with index below `n` (the valid part of a tail).
#[inline(always)]
fn valid_lanes<V: F8>(n: usize) -> V::Mask {
    let idx = V::from_array(std::array::from_fn(|i| i as f64));
    idx.lt(V::splat(n as f64))
}

struct State<V> {
    m: V,
    s: V,
    cnt: V,
    a: V,
    t: V,
}

impl<V: F8> State<V> {
    #[inline(always)]
    fn load(st: &LseLanes) -> Self {
        State {
            m: V::from_array(st.m),
            s: V::from_array(st.s),
            cnt: V::from_array(st.cnt),
            a: V::from_array(st.a),
            t: V::from_array(st.t),
        }
    }

    #[inline(always)]
    fn store(self, st: &mut LseLanes) {
        st.m = self.m.to_array();
        st.s = self.s.to_array();
        st.cnt = self.cnt.to_array();
        st.a = self.a.to_array();
        st.t = self.t.to_array();
    }

    /// Raises the lanes' maxima to `x` where it is larger, rescaling their sums.
    // PERF: the branch is taken for the first vectors of a row and rarely afterwards.
    #[inline(always)]
    fn raise_max(&mut self, x: V, weighted: bool) {
        let raised = x.gt(self.m);
        if V::any(raised) {
            let zero = V::splat(0.0);
            let m_new = V::select(raised, x, self.m);
            let r = exp(V::select(raised, self.m.sub(m_new), zero));
            self.s = V::select(raised, self.s.add(self.cnt).mul(r), self.s);
            self.cnt = V::select(raised, zero, self.cnt);
            if weighted {
                let shifted = self.a.add(self.t.mul(m_new.sub(self.m)));
                let shift = V::select(self.t.eq(zero), self.a, shifted);
                self.a = V::select(raised, shift, self.a);
            }
            self.m = m_new;
        }
    }

    /// Adds exp(x − m) of the values below the maximum, counts those equal to it.
    #[inline(always)]
    fn add_exp(&mut self, x: V) {
        let (zero, one) = (V::splat(0.0), V::splat(1.0));
        let at_max = x.eq(self.m);
        let absent = x.eq(V::splat(f64::NEG_INFINITY));
        let e = exp(x.sub(self.m));
        self.s = self.s.add(V::select(V::or(at_max, absent), zero, e));
        self.cnt = self
            .cnt
            .add(V::select(absent, zero, V::select(at_max, one, zero)));
    }

    /// Adds u·(m − x) (0 where u = 0, +inf where x = −inf < u) and u.
    #[inline(always)]
    fn add_weighted(&mut self, x: V, u: V) {
        let zero = V::splat(0.0);
        let gap = V::select(
            x.eq(V::splat(f64::NEG_INFINITY)),
            V::splat(f64::INFINITY),
            self.m.sub(x),
        );
        self.a = self.a.add(V::select(u.eq(zero), zero, u.mul(gap)));
        self.t = self.t.add(u);
    }
}

#[inline(always)]
fn lse_feed_body<V: F8, T: Real>(st: &mut LseLanes, x: &[T]) {
    let mut state = State::<V>::load(st);
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        let v = V::load(c.try_into().expect("chunks_exact gives 8"));
        state.raise_max(v, false);
        state.add_exp(v);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let v = load_tail::<V, T>(rest, f64::NEG_INFINITY);
        state.raise_max(v, false);
        state.add_exp(v);
    }
    state.store(st);
}

crate::simd::multiversion! {
    /// Feeds `x` (a row or a piece of one whose length is a multiple of 8, except the
    /// last) into the streaming max / sum-of-exp state.
    pub fn lse_feed<T: Real>(st: &mut LseLanes, x: &[T]) -> () = lse_feed_body;
}

/// Elements per block of the blocked f64 pass ([`lse_feed_f64`]), = [`crate::parallel::CHUNK`].
pub const BLOCK64: usize = 256;

/// The state of the blocked f64 pass over a row: one maximum for the row so far, the sums
/// of e^(z − m) in eight lanes (see [`lse_feed_f64`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LseRow64 {
    /// The row's maximum so far (−inf before any value other than −inf/NaN).
    pub m: f64,
    /// Σ e^(z − m) per lane over the values below `m`.
    pub s: [f64; LANES],
    /// Earlier counts of values equal to an earlier maximum, rescaled: part of the sum.
    pub extra: f64,
    /// How many values equal `m` (−inf never counted).
    pub cnt: f64,
}

impl LseRow64 {
    /// The state before any value.
    pub const EMPTY: Self = LseRow64 {
        m: f64::NEG_INFINITY,
        s: [0.0; LANES],
        extra: 0.0,
        cnt: 0.0,
    };

    /// The row's statistics (a fixed lane tree, no exponential).
    pub fn finish(&self) -> RowStats {
        let below = Scalar8(self.s).sum_lanes() + self.extra;
        let rest = if self.cnt > 0.0 {
            below + (self.cnt - 1.0)
        } else {
            below
        };
        RowStats {
            max: self.m,
            rest,
            weighted_gap: 0.0,
            weight_sum: 0.0,
        }
    }
}

#[inline(always)]
fn block_max_min64<V: F8>(block: &[f64]) -> (f64, f64) {
    let (mut hi, mut lo) = (V::splat(f64::NEG_INFINITY), V::splat(f64::INFINITY));
    let mut chunks = block.chunks_exact(LANES);
    for c in &mut chunks {
        let v = V::load_f64(c.try_into().expect("8"));
        hi = hi.max_ignoring_nan(v);
        lo = lo.min_ignoring_nan(v);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        hi = hi.max_ignoring_nan(load_tail::<V, f64>(rest, f64::NEG_INFINITY));
        lo = lo.min_ignoring_nan(load_tail::<V, f64>(rest, f64::INFINITY));
    }
    (hi.max_lane(), lo.min_lane())
}

#[inline(always)]
fn lse_feed_f64_body<V: F8>(st: &mut LseRow64, x: &[f64]) {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let ninf = V::splat(f64::NEG_INFINITY);
    let mut s = V::from_array(st.s);
    let (mut m, mut extra, mut cnt) = (st.m, st.extra, st.cnt);
    for block in x.chunks(BLOCK64) {
        let (bmax, bmin) = block_max_min64::<V>(block);
        if bmax > m {
            let f = (m - bmax).exp();
            s = s.mul(V::splat(f));
            extra = (extra + cnt) * f;
            cnt = 0.0;
            m = bmax;
        }
        let mv = V::splat(m);
        let clean = bmax < m && bmin - m >= crate::simd::exp::DOMAIN_MIN;
        let mut chunks = block.chunks_exact(LANES);
        if clean {
            for c in &mut chunks {
                let v = V::load_f64(c.try_into().expect("8"));
                s = s.add(exp_in_domain(v.sub(mv)));
            }
        } else {
            let mut counted = zero;
            for c in &mut chunks {
                let v = V::load_f64(c.try_into().expect("8"));
                let at_max = v.eq(mv);
                s = s.add(V::select(at_max, zero, exp(v.sub(mv))));
                counted = counted.add(V::select(V::and(at_max, v.gt(ninf)), one, zero));
            }
            cnt += counted.sum_lanes();
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let v = load_tail::<V, f64>(rest, f64::NEG_INFINITY);
            let at_max = v.eq(mv);
            s = s.add(V::select(at_max, zero, exp(v.sub(mv))));
            cnt += V::select(V::and(at_max, v.gt(ninf)), one, zero).sum_lanes();
        }
    }
    st.s = s.to_array();
    (st.m, st.extra, st.cnt) = (m, extra, cnt);
}

crate::simd::multiversion! {
    /// The f64 rows' pass: as [`crate::kernels::softmax_f32::lse_feed_f32`] — two passes
    /// per block of [`BLOCK64`] values (its maximum and minimum, then its terms relative to
    /// one row maximum), the sums rescaled once when a block raises the maximum, a lean loop
    /// (the in-domain exp, no counting) for blocks whose maximum is below m and whose gaps
    /// stay in the exp's normal range. Pieces must be multiples of [`BLOCK64`] except the
    /// last; they give bitwise the result of one call. ≤ 1 ULP exponentials.
    pub fn lse_feed_f64<>(st: &mut LseRow64, x: &[f64]) -> () = lse_feed_f64_body;
}

/// Effective target weights u = ((t or 1)·a + b)·(w or 1) of eight lanes starting at `i`.
#[inline(always)]
fn target_weights<V: F8, U: Real>(
    t: Option<&[U]>,
    w: Option<&[f64]>,
    i: usize,
    n: usize,
    a: f64,
    b: f64,
) -> V {
    let tv = match t {
        Some(t) if n == LANES => V::load(t[i..i + LANES].try_into().expect("8")),
        Some(t) => load_tail::<V, U>(&t[i..i + n], 0.0),
        None => V::splat(1.0),
    };
    let u = tv.mul(V::splat(a)).add(V::splat(b));
    let u = match w {
        Some(w) if n == LANES => u.mul(V::load(w[i..i + LANES].try_into().expect("8"))),
        Some(w) => u.mul(load_tail::<V, f64>(&w[i..i + n], 0.0)),
        None => u,
    };
    if n == LANES {
        u
    } else {
        V::select(valid_lanes::<V>(n), u, V::splat(0.0))
    }
}

#[inline(always)]
fn lse_weighted_feed_body<V: F8, T: Real, U: Real>(
    st: &mut LseLanes,
    x: &[T],
    t: Option<&[U]>,
    w: Option<&[f64]>,
    a: f64,
    b: f64,
) {
    let n = x.len();
    let t = t.map(|t| &t[..n]);
    let w = w.map(|w| &w[..n]);
    let mut state = State::<V>::load(st);
    let mut i = 0;
    while i + LANES <= n {
        let v = V::load(x[i..i + LANES].try_into().expect("8"));
        let u = target_weights::<V, U>(t, w, i, LANES, a, b);
        state.raise_max(v, true);
        state.add_exp(v);
        state.add_weighted(v, u);
        i += LANES;
    }
    if i < n {
        let v = load_tail::<V, T>(&x[i..], f64::NEG_INFINITY);
        let u = target_weights::<V, U>(t, w, i, n - i, a, b);
        state.raise_max(v, true);
        state.add_exp(v);
        state.add_weighted(v, u);
    }
    state.store(st);
}

crate::simd::multiversion! {
    /// [`lse_feed`] that also accumulates Σ u·(m − z) and Σ u for the effective target
    /// weights u = ((t or 1)·a + b)·(w or 1); `t` and `w` are at least as long as `x`.
    pub fn lse_weighted_feed<T: Real, U: Real>(st: &mut LseLanes, x: &[T], t: Option<&[U]>, w: Option<&[f64]>, a: f64, b: f64) -> () = lse_weighted_feed_body;
}

/// Eight values at `i` of `src`, or of `x` itself when there is no source (in place);
/// a short block (`n < 8`) is padded with `pad`.
#[inline(always)]
fn load_from<V: F8, T: Real>(src: Option<&[T]>, x: &[T], i: usize, n: usize, pad: f64) -> V {
    let from = src.unwrap_or(x);
    if n == LANES {
        V::load(from[i..i + LANES].try_into().expect("8"))
    } else {
        load_tail::<V, T>(&from[i..i + n], pad)
    }
}

#[inline(always)]
fn log_softmax_body<V: F8, T: Real>(src: Option<&[T]>, x: &mut [T], max: f64, log1p_rest: f64) {
    let (m, c) = (V::splat(max), V::splat(log1p_rest));
    let n = x.len();
    let mut i = 0;
    while i < n {
        let k = (n - i).min(LANES);
        let v: V = load_from(src, x, i, k, 0.0);
        v.sub(m).sub(c).store(&mut x[i..i + k]);
        i += LANES;
    }
}

crate::simd::multiversion! {
    /// `x[j] ← (z[j] − max) − log1p_rest`, the log-softmax of a row given its stats, with
    /// `z` = `src` (as long as `x`), or `x` itself when `src` is None (in place).
    pub fn log_softmax_write<T: Real>(src: Option<&[T]>, x: &mut [T], max: f64, log1p_rest: f64) -> () = log_softmax_body;
}

#[inline(always)]
fn softmax_body<V: F8, T: Real>(src: Option<&[T]>, x: &mut [T], max: f64, denom: f64) {
    let (m, d) = (V::splat(max), V::splat(denom));
    let n = x.len();
    let mut i = 0;
    while i < n {
        let k = (n - i).min(LANES);
        let v: V = load_from(src, x, i, k, 0.0);
        exp(v.sub(m)).div(d).store(&mut x[i..i + k]);
        i += LANES;
    }
}

crate::simd::multiversion! {
    /// `x[j] ← exp(z[j] − max) / denom` with `denom = 1 + rest`: the softmax of a row, `z`
    /// = `src` or `x` itself (in place).
    pub fn softmax_write<T: Real>(src: Option<&[T]>, x: &mut [T], max: f64, denom: f64) -> () = softmax_body;
}

/// The per-row constants of the cross-entropy gradient `g_j = scale·(p_j·U − u_j)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradRow {
    /// The row's maximum logit.
    pub max: f64,
    /// 1 + rest: p_j = exp(z_j − max) / denom.
    pub denom: f64,
    /// U = Σ u_c.
    pub total: f64,
    /// u_j = ((t_j or 1)·a + b)·(w_j or 1).
    pub a: f64,
    /// See `a`.
    pub b: f64,
    /// The reduction's factor (1, or 1/denominator for "mean").
    pub scale: f64,
}

#[inline(always)]
fn ce_grad_body<V: F8, T: Real, U: Real>(
    src: Option<&[T]>,
    x: &mut [T],
    t: Option<&[U]>,
    w: Option<&[f64]>,
    g: GradRow,
) {
    let n = x.len();
    let (m, d, total, scale) = (
        V::splat(g.max),
        V::splat(g.denom),
        V::splat(g.total),
        V::splat(g.scale),
    );
    let mut i = 0;
    while i < n {
        let k = (n - i).min(LANES);
        let v: V = load_from(src, x, i, k, f64::NEG_INFINITY);
        let u = target_weights::<V, U>(t, w, i, k, g.a, g.b);
        let p = exp(v.sub(m)).div(d);
        p.mul(total).sub(u).mul(scale).store(&mut x[i..i + k]);
        i += LANES;
    }
}

crate::simd::multiversion! {
    /// `x[j] ← scale·(softmax(z)_j·U − u_j)`, the cross-entropy gradient of a row, `z` =
    /// `src` or `x` itself (in place) (class-index targets: `t = None, a = 0`, the target's
    /// own entry fixed by the caller).
    pub fn ce_grad_write<T: Real, U: Real>(src: Option<&[T]>, x: &mut [T], t: Option<&[U]>, w: Option<&[f64]>, g: GradRow) -> () = ce_grad_body;
}

/// p_j·U − u_j at one index, computed as the vector writer does it (tests; the target fix-up).
pub fn grad_at(z_j: f64, u_j: f64, g: &GradRow) -> f64 {
    let p = exp(Scalar8::splat(z_j - g.max)).0[0] / g.denom;
    (p * g.total - u_j) * g.scale
}

/// Effective target weights of the reference: (t, w, a, b) for u = ((t or 1)·a + b)·(w or 1).
pub type ReferenceWeights<'a, U> = (Option<&'a [U]>, Option<&'a [f64]>, f64, f64);

/// Scalar reference for the streaming pass: two passes with `f64::exp`.
pub fn reference_stats<T: Real, U: Real>(
    x: &[T],
    weights: Option<ReferenceWeights<'_, U>>,
) -> RowStats {
    let z: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
    let max = z
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let argmax = z.iter().position(|&v| v == max && v > f64::NEG_INFINITY);
    let mut rest = 0.0;
    for (i, &v) in z.iter().enumerate() {
        if Some(i) != argmax && v != f64::NEG_INFINITY {
            rest += if v == max { 1.0 } else { (v - max).exp() };
        }
    }
    let (mut a, mut tsum) = (0.0, 0.0);
    if let Some((t, w, ca, cb)) = weights {
        for (i, &v) in z.iter().enumerate() {
            let u = (t.map_or(1.0, |t| t[i].to_f64()) * ca + cb) * w.map_or(1.0, |w| w[i]);
            tsum += u;
            if u != 0.0 {
                a += if v == f64::NEG_INFINITY {
                    f64::INFINITY
                } else {
                    u * (max - v)
                };
            }
        }
    }
    RowStats {
        max,
        rest,
        weighted_gap: a,
        weight_sum: tsum,
    }
}

/// Scalar reference for the writers: log-softmax (`log = true`) or softmax of a row.
pub fn reference_softmax(z: &[f64], log: bool) -> Vec<f64> {
    let s = reference_stats::<f64, f64>(z, None);
    z.iter()
        .map(|&v| {
            if log {
                (v - s.max) - s.rest.ln_1p()
            } else {
                (v - s.max).exp() / (1.0 + s.rest)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive};

    const NINF: f64 = f64::NEG_INFINITY;

    fn logits(len: usize, seed: u64) -> Vec<f64> {
        positive(len, seed)
            .iter()
            .enumerate()
            .map(|(i, &v)| (v - 0.5) * 20.0 + (i % 3) as f64)
            .collect()
    }

    fn special_rows() -> Vec<Vec<f64>> {
        let mut rows = Vec::new();
        for len in 0..=67 {
            let base = logits(len, 3 + len as u64);
            rows.push(base.clone());
            for (k, &sp) in [
                0.0,
                NINF,
                1e30,
                -1e30,
                700.0,
                -745.5,
                1e-300,
                f64::MAX,
                5e-324,
            ]
            .iter()
            .enumerate()
            {
                let mut r = base.clone();
                if len > 0 {
                    for (i, v) in r.iter_mut().enumerate() {
                        if (i + k) % 4 == 0 {
                            *v = sp;
                        }
                    }
                }
                rows.push(r);
            }
            rows.push(vec![NINF; len]);
            rows.push(vec![1e30; len]);
            rows.push(vec![0.0; len]);
        }
        rows.push(vec![0.0, -40.0]);
        rows
    }

    fn stats_of(x: &[f64]) -> RowStats {
        let mut st = LseLanes::EMPTY;
        lse_feed(&mut st, x);
        st.finish()
    }

    fn same_stats(got: &RowStats, want: &RowStats) -> bool {
        got.max.to_bits() == want.max.to_bits()
            && close(got.rest, want.rest, 1e-13)
            && close(got.weighted_gap, want.weighted_gap, 1e-12)
            && close(got.weight_sum, want.weight_sum, 1e-13)
    }

    #[test]
    fn streaming_pass_matches_reference_on_every_tail_and_special_value() {
        for row in special_rows() {
            let got = stats_of(&row);
            let want = reference_stats::<f64, f64>(&row, None);
            assert!(same_stats(&got, &want), "{got:?} vs {want:?} for {row:?}");
            let r32: Vec<f32> = row.iter().map(|&v| v as f32).collect();
            let mut st = LseLanes::EMPTY;
            lse_feed(&mut st, &r32);
            let want32 = reference_stats::<f32, f64>(&r32, None);
            assert!(same_stats(&st.finish(), &want32), "f32 {row:?}");
        }
    }

    fn blocked(x: &[f64]) -> RowStats {
        let mut st = LseRow64::EMPTY;
        lse_feed_f64(&mut st, x);
        st.finish()
    }

    #[test]
    fn blocked_f64_pass_matches_reference_and_pieces() {
        let mut rows = special_rows();
        // several blocks: the maximum rising late, a block of −inf, deep gaps, duplicates
        for len in [255usize, 256, 257, 600, 3001] {
            let up: Vec<f64> = (0..len)
                .map(|i| (i as f64 * 0.37).sin() * 5.0 + i as f64 * 0.01)
                .collect();
            rows.push(up.clone());
            let mut r = up.clone();
            r[len.min(256)..len.min(512)].fill(NINF);
            rows.push(r);
            let mut r = up.clone();
            r[..len / 3].iter_mut().for_each(|v| *v -= 800.0);
            rows.push(r);
            let mut r = up;
            r[3] = 99.5;
            r[len - 1] = 99.5;
            rows.push(r);
        }
        for row in rows {
            let got = blocked(&row);
            let want = reference_stats::<f64, f64>(&row, None);
            assert!(same_stats(&got, &want), "{got:?} vs {want:?} for {row:?}");
            let mut st = LseRow64::EMPTY;
            for piece in row.chunks(BLOCK64) {
                lse_feed_f64(&mut st, piece);
            }
            let p = st.finish();
            assert!(p == got || (p.rest.is_nan() && got.rest.is_nan()));
        }
        assert!(close(
            blocked(&[0.0, -40.0]).logsumexp(),
            (-40f64).exp(),
            1e-15
        ));
        assert!(blocked(&[1.0, f64::NAN, 2.0]).logsumexp().is_nan());
        assert_eq!(blocked(&[]).logsumexp(), NINF);
        assert_eq!(blocked(&[f64::INFINITY, 1.0]).logsumexp(), f64::INFINITY);
    }

    #[test]
    fn nan_propagates_and_precision_near_zero_is_kept() {
        let s = stats_of(&[1.0, f64::NAN, 2.0]);
        assert!(s.logsumexp().is_nan());
        let s = stats_of(&[0.0, -40.0]);
        assert!(
            close(s.logsumexp(), (-40f64).exp(), 1e-15),
            "{}",
            s.logsumexp()
        );
        assert_eq!(stats_of(&[]).logsumexp(), NINF);
        assert_eq!(stats_of(&[NINF, NINF]).logsumexp(), NINF);
        assert_eq!(stats_of(&[1e30, 1e30]).logsumexp(), 1e30);
        assert!(close(
            stats_of(&[3.0, 3.0, 3.0]).logsumexp(),
            3.0 + 3f64.ln(),
            1e-15
        ));
        assert_eq!(stats_of(&[f64::INFINITY, 1.0]).logsumexp(), f64::INFINITY);
    }

    #[test]
    fn feeding_in_pieces_is_bitwise_identical() {
        for row in special_rows() {
            let whole = stats_of(&row);
            let mut st = LseLanes::EMPTY;
            for piece in row.chunks(16) {
                lse_feed(&mut st, piece);
            }
            let pieces = st.finish();
            assert!(
                whole == pieces || (whole.rest.is_nan() && pieces.rest.is_nan()),
                "{row:?}"
            );
        }
    }

    #[test]
    fn weighted_pass_matches_reference() {
        for row in special_rows() {
            let n = row.len();
            let t = positive(n, 17 + n as u64);
            let w: Vec<f64> = positive(n, 29).iter().map(|v| v + 0.5).collect();
            for (tt, ww, a, b) in [
                (Some(&t[..]), Some(&w[..]), 0.9, 0.1 / n.max(1) as f64),
                (Some(&t[..]), None, 1.0, 0.0),
                (None, Some(&w[..]), 1.0, 0.0),
                (None, None, 1.0, 0.0),
            ] {
                let mut st = LseLanes::EMPTY;
                lse_weighted_feed(&mut st, &row, tt, ww, a, b);
                let got = st.finish();
                let want = reference_stats(&row, Some((tt, ww, a, b)));
                assert!(same_stats(&got, &want), "{got:?} vs {want:?} for {row:?}");
                let mut st2 = LseLanes::EMPTY;
                for start in (0..n).step_by(24) {
                    let end = (start + 24).min(n);
                    lse_weighted_feed(
                        &mut st2,
                        &row[start..end],
                        tt.map(|t| &t[start..end]),
                        ww.map(|w| &w[start..end]),
                        a,
                        b,
                    );
                }
                let p = st2.finish();
                assert!(
                    p == got || p.rest.is_nan() || p.weighted_gap.is_nan(),
                    "pieces"
                );
            }
        }
    }

    #[test]
    fn zero_target_on_minus_inf_logit_contributes_nothing() {
        let z = [NINF, 0.0, 1.0];
        let mut st = LseLanes::EMPTY;
        lse_weighted_feed(&mut st, &z, Some(&[0.0, 0.5, 0.5][..]), None, 1.0, 0.0);
        let s = st.finish();
        let want = 0.5 * (1.0 + (-1f64).exp()).ln() + 0.5 * ((1.0 + (-1f64).exp()).ln() + 1.0);
        assert!(close(s.weighted_loss(), want, 1e-15));
        let mut st = LseLanes::EMPTY;
        lse_weighted_feed(&mut st, &z, Some(&[0.1, 0.4, 0.5][..]), None, 1.0, 0.0);
        assert_eq!(st.finish().weighted_loss(), f64::INFINITY);
        let mut st = LseLanes::EMPTY;
        lse_weighted_feed(
            &mut st,
            &[NINF, NINF],
            Some(&[0.0, 1.0][..]),
            None,
            1.0,
            0.0,
        );
        assert!(st.finish().weighted_loss().is_nan());
    }

    #[test]
    fn writers_match_reference() {
        for row in special_rows() {
            let s = stats_of(&row);
            for log in [true, false] {
                let mut out = row.clone();
                if log {
                    log_softmax_write(None, &mut out, s.max, s.rest.ln_1p());
                } else {
                    softmax_write(None, &mut out, s.max, 1.0 + s.rest);
                }
                let want = reference_softmax(&row, log);
                for (a, b) in out.iter().zip(&want) {
                    assert!(
                        close(*a, *b, 1e-13) || (a - b).abs() < 1e-300,
                        "{a} vs {b} (log={log}) in {row:?}"
                    );
                }
            }
            let n = row.len();
            let t = positive(n, 5);
            let g = GradRow {
                max: s.max,
                denom: 1.0 + s.rest,
                total: 1.3,
                a: 0.9,
                b: 0.01,
                scale: 0.5,
            };
            let mut out = row.clone();
            ce_grad_write(None, &mut out, Some(&t[..]), None, g);
            for j in 0..n {
                let want = grad_at(row[j], t[j] * 0.9 + 0.01, &g);
                let refv =
                    ((row[j] - s.max).exp() / (1.0 + s.rest) * 1.3 - (t[j] * 0.9 + 0.01)) * 0.5;
                assert!(out[j].to_bits() == want.to_bits() || (out[j].is_nan() && want.is_nan()));
                assert!(
                    close(out[j], refv, 1e-13) || (out[j] - refv).abs() < 1e-15,
                    "{} vs {refv}",
                    out[j]
                );
            }
        }
    }
}
