//! Entropy, cross-entropy and KL divergence straight from logits: the softmax is taken
//! inside one streaming pass (the online maximum of [`super::softmax`]), so no
//! probability array is ever formed.
//!
//! **Entropy.** With `m = max z`, `rest = Σ_{i≠argmax} e^{z_i−m}`, `S = 1 + rest` and
//! `W = Σ_i e^{z_i−m}·(m − z_i)`,
//! `H = Σ p_i (lse − z_i) = log1p(rest) + W/S` —
//! two sums of **non-negative** terms (the argmax's own term is 0), so nothing cancels:
//! a confident row keeps its tiny entropy with full relative precision
//! (`[0, −80]` → `81·e^{−80}` to the last bits, where `lse − Σ softmax·z` gives 0 or noise).
//!
//! **Online maximum.** Each of the eight lanes keeps `m`, `s = Σ e^{z−m}` over its values
//! below `m`, the count `cnt` of values equal to `m`, and `W` relative to `m`. When a
//! vector raises a lane's maximum by `d`, `W ← r·(W + (s + cnt)·d)` and
//! `s ← r·(s + cnt)` with `r = e^{−d}` — again only non-negative terms. The lanes are
//! combined in a fixed order the same way, so the bits do not depend on anything but
//! the row.
//!
//! **Two inputs** (logits `a` of P and `b` of Q). Beside both rows' statistics:
//! `C = Σ e^{a_i−m_a}·(m_b − b_i)` (≥ 0): cross-entropy `H(P,Q) = log1p(rest_b) + C/S_a`;
//! `G = Σ e^{a_i−m_a}·((a_i − b_i) − (m_a − m_b))`: KL
//! `D(P‖Q) = log1p(rest_b) − log1p(rest_a) + G/S_a`, exactly 0 for equal logits
//! (every `G` term is 0 and both `rest` are bitwise equal). The KL terms have both signs —
//! as `Σ p (log p − log q)` has — so for nearly equal P and Q the result carries an
//! absolute error of a few ULP of the terms (as scipy's `rel_entr` of softmax outputs); it is
//! clamped at 0. A raise of `m_a` by `d_a` and of `m_b` by `d_b` maps
//! `G ← r_a·(G + S_a·(d_b − d_a))` and `C ← r_a·(C + S_a·d_b)`.
//!
//! Special values: a `−inf` logit is probability 0 (it contributes nothing, also where the
//! other side's logit is `−inf`); a row without a finite logit gives NaN; NaN propagates;
//! a `+inf` logit gives NaN (∞ − ∞, as torch and scipy's softmax); a finite `a_i` against
//! `b_i = −inf` gives `+inf` cross-entropy and KL.

use super::logits_kl::KlNorm;
use super::softmax_rows::{log1p_nonneg, rest_of};
use super::{Real, GROUP, LANES};
use crate::simd::exp::{exp, exp_in_domain, DOMAIN_MIN};
use crate::simd::exp_f32::{
    exp_fast, exp_fast_in_domain, exp_per_lane, exp_wide, fast_underflows, two_diff, FAST_MIN,
};
use crate::simd::log1p::log1p_g16;
use crate::simd::vector::{Scalar8, F8};
use crate::simd::vector_f32::F16;

/// `2^−48 / 1e-13`: the smallest D/S for which [`PairStats::kl_one_pass`] keeps the one
/// pass.
const KL_ONE_PASS_MIN_RATIO: f64 = 3.552713678800501e-15 / 1e-13;

/// Per-lane streaming state of one row of logits (entropy).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneLanes {
    /// Running maximum per lane.
    pub m: [f64; LANES],
    /// Σ e^{z−m} over the lane's values below `m`.
    pub s: [f64; LANES],
    /// Count of the lane's values equal to `m`.
    pub cnt: [f64; LANES],
    /// Σ e^{z−m}·(m − z).
    pub w: [f64; LANES],
}

impl OneLanes {
    /// The state before any value.
    pub const EMPTY: Self = OneLanes {
        m: [f64::NEG_INFINITY; LANES],
        s: [0.0; LANES],
        cnt: [0.0; LANES],
        w: [0.0; LANES],
    };

    /// The row's statistics (lanes combined in a fixed order).
    pub fn finish(&self) -> OneStats {
        let max = lane_max(&self.m);
        let f = factors(&self.m, max);
        let (mut below, mut at_max, mut w) = (0.0, 0.0, 0.0);
        #[allow(clippy::needless_range_loop)] // parallel arrays: an index reads clearest
        for l in 0..LANES {
            if self.m[l] == max {
                below += self.s[l];
                at_max += self.cnt[l];
                w += self.w[l];
            } else {
                let total = self.s[l] + self.cnt[l];
                if total > 0.0 || total.is_nan() {
                    below += total * f[l];
                    w += f[l] * (self.w[l] + total * (max - self.m[l]));
                } else {
                    w += self.w[l];
                }
            }
        }
        OneStats {
            max,
            rest: rest(below, at_max),
            w,
        }
    }
}

/// The statistics of one row of logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneStats {
    /// max z (−inf for a row without a finite logit).
    pub max: f64,
    /// Σ_{i≠argmax} e^{z_i − max}.
    pub rest: f64,
    /// Σ e^{z_i − max}·(max − z_i).
    pub w: f64,
}

impl OneStats {
    /// Shannon entropy (nats) of softmax(z): log1p(rest) + W/(1 + rest); NaN for a row
    /// without a finite logit (or with NaN / +inf).
    pub fn entropy(&self) -> f64 {
        if !self.max.is_finite() {
            return f64::NAN;
        }
        self.rest.ln_1p() + self.w / (1.0 + self.rest)
    }

    /// log Σ e^z.
    pub fn logsumexp(&self) -> f64 {
        self.max + self.rest.ln_1p()
    }
}

/// Per-lane streaming state of two rows of logits read in step (cross-entropy, KL).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairLanes {
    /// Maximum of `a` per lane.
    pub ma: [f64; LANES],
    /// Σ e^{a−m_a} below the maximum.
    pub sa: [f64; LANES],
    /// Count of `a` values equal to `m_a`.
    pub ca: [f64; LANES],
    /// Maximum of `b` per lane.
    pub mb: [f64; LANES],
    /// Σ e^{b−m_b} below the maximum.
    pub sb: [f64; LANES],
    /// Count of `b` values equal to `m_b`.
    pub cb: [f64; LANES],
    /// Σ e^{a−m_a}·(m_b − b).
    pub c: [f64; LANES],
    /// Σ e^{a−m_a}·((a − b) − (m_a − m_b)).
    pub g: [f64; LANES],
    /// How many finite `a` meet `b = −inf` (q = 0 < p: +inf); kept out of `c` and `g`,
    /// where an infinite term would turn into NaN when a later maximum rescales it by 0.
    pub zq: [f64; LANES],
}

impl PairLanes {
    /// The state before any value.
    pub const EMPTY: Self = PairLanes {
        ma: [f64::NEG_INFINITY; LANES],
        sa: [0.0; LANES],
        ca: [0.0; LANES],
        mb: [f64::NEG_INFINITY; LANES],
        sb: [0.0; LANES],
        cb: [0.0; LANES],
        c: [0.0; LANES],
        g: [0.0; LANES],
        zq: [0.0; LANES],
    };

    /// The rows' statistics (lanes combined in a fixed order).
    pub fn finish(&self) -> PairStats {
        let (max_a, max_b) = (lane_max(&self.ma), lane_max(&self.mb));
        let (fa, fb) = (factors(&self.ma, max_a), factors(&self.mb, max_b));
        let (mut below_a, mut at_a, mut below_b, mut at_b) = (0.0, 0.0, 0.0, 0.0);
        let (mut c, mut g, mut zq) = (0.0, 0.0, 0.0);
        #[allow(clippy::needless_range_loop)] // parallel arrays: an index reads clearest
        for l in 0..LANES {
            zq += self.zq[l];
            let total_a = self.sa[l] + self.ca[l];
            if self.ma[l] == max_a {
                below_a += self.sa[l];
                at_a += self.ca[l];
            } else if total_a > 0.0 || total_a.is_nan() {
                below_a += total_a * fa[l];
            }
            if self.mb[l] == max_b {
                below_b += self.sb[l];
                at_b += self.cb[l];
            } else {
                let total_b = self.sb[l] + self.cb[l];
                if total_b > 0.0 || total_b.is_nan() {
                    below_b += total_b * fb[l];
                }
            }
            // shift the lane's sums to the row's maxima (d ≥ 0; no term when the lane
            // holds no mass of P)
            let da = if self.ma[l] == max_a {
                0.0
            } else {
                max_a - self.ma[l]
            };
            // (a lane whose b are all −inf has its mass of P counted in `zq`)
            let db = if self.mb[l] == max_b || self.mb[l] == f64::NEG_INFINITY {
                0.0
            } else {
                max_b - self.mb[l]
            };
            if total_a > 0.0 || total_a.is_nan() {
                let r = if da == 0.0 { 1.0 } else { fa[l] };
                c += r
                    * (if db == 0.0 {
                        self.c[l]
                    } else {
                        self.c[l] + total_a * db
                    });
                g += r
                    * (if db == da {
                        self.g[l]
                    } else {
                        self.g[l] + total_a * (db - da)
                    });
            } else {
                c += self.c[l];
                g += self.g[l];
            }
        }
        PairStats {
            a: OneStats {
                max: max_a,
                rest: rest(below_a, at_a),
                w: 0.0,
            },
            b: OneStats {
                max: max_b,
                rest: rest(below_b, at_b),
                w: 0.0,
            },
            c,
            g,
            zero_q: zq > 0.0,
        }
    }
}

/// The statistics of two rows of logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairStats {
    /// Row `a` (its `w` is not kept).
    pub a: OneStats,
    /// Row `b` (its `w` is not kept).
    pub b: OneStats,
    /// Σ e^{a−max_a}·(max_b − b).
    pub c: f64,
    /// Σ e^{a−max_a}·((a − b) − (max_a − max_b)).
    pub g: f64,
    /// Some finite `a` meets `b = −inf`: cross-entropy and KL are +inf (unless NaN).
    pub zero_q: bool,
}

impl PairStats {
    fn defined(&self) -> bool {
        self.a.max.is_finite() && self.b.max.is_finite()
    }

    /// Cross-entropy H(softmax a, softmax b) = log1p(rest_b) + C/(1 + rest_a).
    pub fn cross_entropy(&self) -> f64 {
        if !self.defined() {
            return f64::NAN;
        }
        let v = self.b.rest.ln_1p() + self.c / (1.0 + self.a.rest);
        if self.zero_q && !v.is_nan() {
            f64::INFINITY
        } else {
            v
        }
    }

    /// KL from this one pass where it can vouch for it (rows of length `n`), else `None`:
    /// the row needs the non-negative terms of [`super::logits_kl`]; with the constants of
    /// those terms. The one pass adds terms of both signs whose rounding stays within a
    /// few ULP of their size
    /// `S = 1 + l_a + l_b + (C + |G|)/S_a + |m_a − m_b| + ln n` (ln n bounds Σ P·(m_a − a),
    /// the other gap inside G's terms; taken from n's bit length); the value is kept where
    /// `2^−48·S ≤ 1e-13·D`.
    /// NaN, ±inf and rows without a finite logit are final.
    pub fn kl_one_pass(&self, n: usize) -> (Option<f64>, KlNorm) {
        self.kl_one_pass_with(n, self.a.rest.ln_1p(), self.b.rest.ln_1p())
    }

    /// [`Self::kl_one_pass`] given `l_a = log1p(rest_a)`, `l_b = log1p(rest_b)` (a group's
    /// vector logarithms, ≤ 1 ULP from libm's (`softmax_rows`): far inside the vouching
    /// margin).
    fn kl_one_pass_with(&self, n: usize, la: f64, lb: f64) -> (Option<f64>, KlNorm) {
        let norm = KlNorm {
            ma: self.a.max,
            la,
            mb: self.b.max,
            lb,
        };
        let v = self.kl_with(norm.la, norm.lb);
        if !v.is_finite() || !self.defined() {
            return (Some(v), norm);
        }
        let size = 1.0
            + norm.la
            + norm.lb
            + (self.c + self.g.abs()) / (1.0 + self.a.rest)
            + (self.a.max - self.b.max).abs()
            + ln_bound(n);
        let vouched = !size.is_finite() || v >= size * KL_ONE_PASS_MIN_RATIO;
        (vouched.then_some(v), norm)
    }

    /// KL(softmax a ‖ softmax b) = log1p(rest_b) − log1p(rest_a) + G/(1 + rest_a), ≥ 0.
    pub fn kl(&self) -> f64 {
        self.kl_with(self.a.rest.ln_1p(), self.b.rest.ln_1p())
    }

    /// [`Self::kl`] given `l_a = log1p(rest_a)`, `l_b = log1p(rest_b)`.
    fn kl_with(&self, la: f64, lb: f64) -> f64 {
        if !self.defined() {
            return f64::NAN;
        }
        let v = (lb - la) + self.g / (1.0 + self.a.rest);
        if self.zero_q && !v.is_nan() {
            f64::INFINITY
        } else if v < 0.0 {
            0.0
        } else {
            v
        }
    }
}

/// An upper bound of ln n, within ln 2 of it (from the bit length: no logarithm).
#[inline]
fn ln_bound(n: usize) -> f64 {
    (usize::BITS - n.leading_zeros()) as f64 * std::f64::consts::LN_2
}

fn lane_max(m: &[f64; LANES]) -> f64 {
    m.iter()
        .fold(f64::NEG_INFINITY, |a, &v| if v > a { v } else { a })
}

/// e^{m_l − max} per lane with the crate's exp (bitwise what the vector paths compute).
fn factors(m: &[f64; LANES], max: f64) -> [f64; LANES] {
    let gaps: [f64; LANES] = std::array::from_fn(|l| {
        if m[l] == max || m[l] == f64::NEG_INFINITY {
            0.0
        } else {
            m[l] - max
        }
    });
    exp(Scalar8(gaps)).0
}

/// One of the values equal to the maximum is the argmax: the others count 1 each.
fn rest(below: f64, at_max: f64) -> f64 {
    if at_max > 0.0 {
        below + (at_max - 1.0)
    } else {
        below
    }
}

/// Eight values of `x` padded with −inf (a row's tail).
#[inline(always)]
pub(super) fn load_tail<V: F8, T: Real>(x: &[T]) -> V {
    let mut padded = [T::from_f64(f64::NEG_INFINITY); LANES];
    padded[..x.len()].copy_from_slice(x);
    V::load(&padded)
}

struct One<V> {
    m: V,
    s: V,
    cnt: V,
    w: V,
}

impl<V: F8> One<V> {
    #[inline(always)]
    fn step(&mut self, x: V) {
        let zero = V::splat(0.0);
        let raised = x.gt(self.m);
        // PERF: taken for the first vectors of a row and rarely afterwards.
        if V::any(raised) {
            let m_new = V::select(raised, x, self.m);
            let d = V::select(raised, m_new.sub(self.m), zero);
            let total = self.s.add(self.cnt);
            let empty = total.eq(zero);
            let r = exp(V::select(empty, zero, zero.sub(d)));
            let w = self.w.add(V::select(empty, zero, total.mul(d)));
            self.w = V::select(raised, w.mul(r), self.w);
            self.s = V::select(raised, total.mul(r), self.s);
            self.cnt = V::select(raised, zero, self.cnt);
            self.m = m_new;
        }
        let at_max = x.eq(self.m);
        let absent = x.eq(V::splat(f64::NEG_INFINITY));
        let gap = self.m.sub(x);
        let e = exp(zero.sub(gap));
        let skip = V::or(at_max, absent);
        self.s = self.s.add(V::select(skip, zero, e));
        self.w = self.w.add(V::select(skip, zero, e.mul(gap)));
        self.cnt = self.cnt.add(V::select(
            absent,
            zero,
            V::select(at_max, V::splat(1.0), zero),
        ));
    }
}

#[inline(always)]
fn one_feed_body<V: F8, T: Real>(st: &mut OneLanes, x: &[T]) {
    let mut o = One {
        m: V::from_array(st.m),
        s: V::from_array(st.s),
        cnt: V::from_array(st.cnt),
        w: V::from_array(st.w),
    };
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        o.step(V::load(c.try_into().expect("chunks_exact gives 8")));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        o.step(load_tail::<V, T>(tail));
    }
    st.m = o.m.to_array();
    st.s = o.s.to_array();
    st.cnt = o.cnt.to_array();
    st.w = o.w.to_array();
}

crate::simd::multiversion! {
    /// Feeds logits `x` (a row, or a piece of one whose length is a multiple of 8 except
    /// the last) into the entropy state.
    pub fn one_feed<T: Real>(st: &mut OneLanes, x: &[T]) -> () = one_feed_body;
}

struct Pair<V> {
    ma: V,
    sa: V,
    ca: V,
    mb: V,
    sb: V,
    cb: V,
    c: V,
    g: V,
    zq: V,
}

impl<V: F8> Pair<V> {
    #[inline(always)]
    fn step(&mut self, a: V, b: V) {
        let zero = V::splat(0.0);
        let one = V::splat(1.0);
        let ninf = V::splat(f64::NEG_INFINITY);
        let raised_a = a.gt(self.ma);
        let raised_b = b.gt(self.mb);
        // PERF: taken for the first vectors of a row and rarely afterwards.
        if V::any(V::or(raised_a, raised_b)) {
            let ma_new = V::select(raised_a, a, self.ma);
            let mb_new = V::select(raised_b, b, self.mb);
            let total_a = self.sa.add(self.ca);
            let empty_a = total_a.eq(zero);
            let total_b = self.sb.add(self.cb);
            let empty_b = total_b.eq(zero);
            let da = V::select(raised_a, ma_new.sub(self.ma), zero);
            let db = V::select(raised_b, mb_new.sub(self.mb), zero);
            let ra = exp(V::select(empty_a, zero, zero.sub(da)));
            // no shift where P has no mass yet, nor where b were all −inf (that mass is in zq)
            let none = V::or(empty_a, empty_b);
            let c = self.c.add(V::select(none, zero, total_a.mul(db)));
            let g = self.g.add(V::select(
                V::or(none, db.eq(da)),
                zero,
                total_a.mul(db.sub(da)),
            ));
            self.c = c.mul(ra);
            self.g = g.mul(ra);
            self.sa = V::select(raised_a, total_a.mul(ra), self.sa);
            self.ca = V::select(raised_a, zero, self.ca);
            let rb = exp(V::select(empty_b, zero, zero.sub(db)));
            self.sb = V::select(raised_b, total_b.mul(rb), self.sb);
            self.cb = V::select(raised_b, zero, self.cb);
            self.ma = ma_new;
            self.mb = mb_new;
        }
        // a: weights e^{a − m_a}
        let at_a = a.eq(self.ma);
        let absent_a = a.eq(ninf);
        let gap_a = self.ma.sub(a);
        let ea = exp(zero.sub(gap_a));
        self.sa = self.sa.add(V::select(V::or(at_a, absent_a), zero, ea));
        self.ca = self
            .ca
            .add(V::select(absent_a, zero, V::select(at_a, one, zero)));
        let wa = V::select(at_a, one, ea);
        // b
        let at_b = b.eq(self.mb);
        let absent_b = b.eq(ninf);
        let gap_b = self.mb.sub(b);
        let eb = exp(zero.sub(gap_b));
        self.sb = self.sb.add(V::select(V::or(at_b, absent_b), zero, eb));
        self.cb = self
            .cb
            .add(V::select(absent_b, zero, V::select(at_b, one, zero)));
        // the pair terms, 0 where a = −inf (probability 0 of P)
        let t = a.sub(b).sub(self.ma.sub(self.mb));
        let off = V::or(absent_a, absent_b);
        self.c = self.c.add(V::select(off, zero, wa.mul(gap_b)));
        self.g = self.g.add(V::select(off, zero, wa.mul(t)));
        self.zq = self.zq.add(V::select(
            V::and(absent_b, V::select(absent_a, zero, one).eq(one)),
            one,
            zero,
        ));
    }
}

#[inline(always)]
fn pair_feed_body<V: F8, T: Real, U: Real>(st: &mut PairLanes, a: &[T], b: &[U]) {
    let mut o = Pair {
        ma: V::from_array(st.ma),
        sa: V::from_array(st.sa),
        ca: V::from_array(st.ca),
        mb: V::from_array(st.mb),
        sb: V::from_array(st.sb),
        cb: V::from_array(st.cb),
        c: V::from_array(st.c),
        g: V::from_array(st.g),
        zq: V::from_array(st.zq),
    };
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + LANES <= n {
        o.step(
            V::load(a[i..i + LANES].try_into().expect("8")),
            V::load(b[i..i + LANES].try_into().expect("8")),
        );
        i += LANES;
    }
    if i < n {
        o.step(load_tail::<V, T>(&a[i..n]), load_tail::<V, U>(&b[i..n]));
    }
    st.ma = o.ma.to_array();
    st.sa = o.sa.to_array();
    st.ca = o.ca.to_array();
    st.mb = o.mb.to_array();
    st.sb = o.sb.to_array();
    st.cb = o.cb.to_array();
    st.c = o.c.to_array();
    st.g = o.g.to_array();
    st.zq = o.zq.to_array();
}

crate::simd::multiversion! {
    /// Feeds two rows of logits read in step (equal lengths; pieces as for
    /// [`one_feed`]) into the cross-entropy / KL state.
    pub fn pair_feed<T: Real, U: Real>(st: &mut PairLanes, a: &[T], b: &[U]) -> () = pair_feed_body;
}

// ------------------------------------------------------------ blocked entropy rows

/// Elements per block of the blocked entropy pass ([`one_row_f64`] / [`one_row_f32`]), =
/// [`crate::parallel::CHUNK`]: pieces that are multiples of it give bitwise one call.
pub const BLOCK: usize = 256;

/// Lanes of the blocked entropy pass (sixteen f64 sums: two vectors of eight for f64 rows,
/// one f32 vector widened for f32 rows).
pub const ROW_LANES: usize = 16;

/// The state of the blocked entropy pass over a row (as
/// [`crate::kernels::softmax::lse_feed_f64`]): **one maximum for the row so far**, the sums
/// `s = Σ e^{z−m}` over the values below `m` and `W = Σ e^{z−m}·(m − z)` in sixteen f64
/// lanes. A block of [`BLOCK`] values is read twice — its maximum and minimum (pure loads),
/// then its terms from L1 — and when a block raises `m` by `d` the sums are moved once:
/// `W ← e^{−d}·(W + S·d)`, `s ← e^{−d}·s` (non-negative terms only, as the per-lane form).
/// A block whose maximum is below `m` and whose gaps stay in the exp's normal range (every
/// block of ordinary logits but the one holding the maximum) runs a lean loop: no clamp,
/// no count of values equal to `m`, no test for −inf.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneRow {
    /// The row's maximum so far (−inf before any value other than −inf/NaN).
    pub m: f64,
    /// Σ e^{z−m} per lane over the values below `m`.
    pub s: [f64; ROW_LANES],
    /// Σ e^{z−m}·(m − z) per lane.
    pub w: [f64; ROW_LANES],
    /// Earlier counts of values equal to an earlier maximum, moved to `m`: part of `s`.
    pub extra: f64,
    /// Their part of `W`.
    pub extra_w: f64,
    /// How many values equal `m` (−inf never counted).
    pub cnt: f64,
}

/// Sixteen lanes summed in a fixed tree.
#[inline]
fn tree16(s: &[f64; ROW_LANES]) -> f64 {
    let tree8 = |o: usize| {
        ((s[o] + s[o + 4]) + (s[o + 2] + s[o + 6]))
            + ((s[o + 1] + s[o + 5]) + (s[o + 3] + s[o + 7]))
    };
    tree8(0) + tree8(8)
}

impl OneRow {
    /// The state before any value.
    pub const EMPTY: Self = OneRow {
        m: f64::NEG_INFINITY,
        s: [0.0; ROW_LANES],
        w: [0.0; ROW_LANES],
        extra: 0.0,
        extra_w: 0.0,
        cnt: 0.0,
    };

    /// The row's statistics (a fixed lane tree, no exponential).
    pub fn finish(&self) -> OneStats {
        OneStats {
            max: self.m,
            rest: rest(tree16(&self.s) + self.extra, self.cnt),
            w: tree16(&self.w) + self.extra_w,
        }
    }

    /// The state moved to the maximum `to` ≥ `self.m` (scalar form of the blocks' raise).
    fn moved_to(&self, to: f64) -> Self {
        if self.m == to || self.m == f64::NEG_INFINITY {
            // nothing to move (an empty state's sums are 0, or NaN that must stay NaN)
            return *self;
        }
        let d = to - self.m;
        let f = (self.m - to).exp();
        let mut r = *self;
        r.m = to;
        for l in 0..ROW_LANES {
            (r.s[l], r.w[l]) = raise_sums(self.s[l], self.w[l], d, f);
        }
        let total = self.extra + self.cnt;
        (r.extra, r.extra_w) = raise_sums(total, self.extra_w, d, f);
        r.cnt = 0.0;
        r
    }
}

/// (s, W) moved up by `d` with `f = e^{−d}`: (s·f, (W + s·d)·f); where f underflows to 0
/// both are 0 (NaN stays NaN), never ∞·0.
#[inline]
fn raise_sums(s: f64, w: f64, d: f64, f: f64) -> (f64, f64) {
    if f == 0.0 {
        (s * 0.0, (w + s) * 0.0)
    } else {
        (s * f, (w + s * d) * f)
    }
}

impl crate::kernels::Partial for OneRow {
    const EMPTY: Self = OneRow::EMPTY;
    /// Both moved to the larger maximum, then added lane by lane.
    fn combine(self, o: Self) -> Self {
        let to = if o.m > self.m { o.m } else { self.m };
        let (a, b) = (self.moved_to(to), o.moved_to(to));
        let mut r = OneRow::EMPTY;
        r.m = to;
        for l in 0..ROW_LANES {
            r.s[l] = a.s[l] + b.s[l];
            r.w[l] = a.w[l] + b.w[l];
        }
        r.extra = a.extra + b.extra;
        r.extra_w = a.extra_w + b.extra_w;
        // a state whose maximum is below `to` has moved its count into `extra`
        r.cnt = a.cnt + b.cnt;
        r
    }
}

/// The sixteen lane sums of an [`OneRow`] as four vectors (s lo/hi, w lo/hi).
#[inline(always)]
fn row_vectors<V: F8>(st: &OneRow) -> [V; 4] {
    [
        V::load_f64(st.s[..8].try_into().expect("8")),
        V::load_f64(st.s[8..].try_into().expect("8")),
        V::load_f64(st.w[..8].try_into().expect("8")),
        V::load_f64(st.w[8..].try_into().expect("8")),
    ]
}

#[inline(always)]
fn store_row_vectors<V: F8>(v: [V; 4], st: &mut OneRow) {
    v[0].store_f64((&mut st.s[..8]).try_into().expect("8"));
    v[1].store_f64((&mut st.s[8..]).try_into().expect("8"));
    v[2].store_f64((&mut st.w[..8]).try_into().expect("8"));
    v[3].store_f64((&mut st.w[8..]).try_into().expect("8"));
}

/// Moves the vector sums and the scalars of a row state up to the block maximum `to`.
#[inline(always)]
fn raise_row<V: F8>(
    v: &mut [V; 4],
    m: &mut f64,
    extra: &mut f64,
    extra_w: &mut f64,
    cnt: &mut f64,
    to: f64,
) {
    if *m > f64::NEG_INFINITY {
        let d = to - *m;
        let f = (*m - to).exp();
        let zero = V::splat(0.0);
        if f == 0.0 {
            v[2] = v[2].add(v[0]).mul(zero);
            v[3] = v[3].add(v[1]).mul(zero);
            v[0] = v[0].mul(zero);
            v[1] = v[1].mul(zero);
        } else {
            let (fv, dv) = (V::splat(f), V::splat(d));
            v[2] = v[2].add(v[0].mul(dv)).mul(fv);
            v[3] = v[3].add(v[1].mul(dv)).mul(fv);
            v[0] = v[0].mul(fv);
            v[1] = v[1].mul(fv);
        }
        (*extra, *extra_w) = raise_sums(*extra + *cnt, *extra_w, d, f);
    }
    *cnt = 0.0;
    *m = to;
}

/// Largest and smallest of a block of f64, NaN ignored (−inf, +inf when there is none).
#[inline(always)]
fn block_max_min64<V: F8>(block: &[f64]) -> (f64, f64) {
    let (ninf, inf) = (V::splat(f64::NEG_INFINITY), V::splat(f64::INFINITY));
    let (mut hi0, mut hi1, mut lo0, mut lo1) = (ninf, ninf, inf, inf);
    let mut pairs = block.chunks_exact(2 * LANES);
    for c in &mut pairs {
        let a = V::load_f64(c[..8].try_into().expect("8"));
        let b = V::load_f64(c[8..].try_into().expect("8"));
        hi0 = hi0.max_ignoring_nan(a);
        lo0 = lo0.min_ignoring_nan(a);
        hi1 = hi1.max_ignoring_nan(b);
        lo1 = lo1.min_ignoring_nan(b);
    }
    for c in pairs.remainder().chunks(LANES) {
        let mut hp = [f64::NEG_INFINITY; LANES];
        let mut lp = [f64::INFINITY; LANES];
        hp[..c.len()].copy_from_slice(c);
        lp[..c.len()].copy_from_slice(c);
        hi0 = hi0.max_ignoring_nan(V::load_f64(&hp));
        lo0 = lo0.min_ignoring_nan(V::load_f64(&lp));
    }
    (
        hi0.max_ignoring_nan(hi1).max_lane(),
        lo0.min_ignoring_nan(lo1).min_lane(),
    )
}

/// Adds the terms of eight values that may hold anything (the maximum, −inf, gaps beyond
/// the exp's normal range, NaN) to (s, W); returns the count of values equal to `m`.
#[inline(always)]
fn add_checked64<V: F8>(v: V, mv: V, s: &mut V, w: &mut V) -> V {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let ninf = V::splat(f64::NEG_INFINITY);
    let at = v.eq(mv);
    let absent = v.eq(ninf);
    let g = v.sub(mv);
    let e = exp(g);
    let skip = V::or(at, absent);
    *s = s.add(V::select(skip, zero, e));
    *w = w.sub(V::select(skip, zero, e.mul(g)));
    V::select(V::and(at, v.gt(ninf)), one, zero)
}

#[inline(always)]
fn one_row_f64_body<V: F8>(st: &mut OneRow, x: &[f64]) {
    let mut v = row_vectors::<V>(st);
    let (mut m, mut extra, mut extra_w, mut cnt) = (st.m, st.extra, st.extra_w, st.cnt);
    for block in x.chunks(BLOCK) {
        let (bmax, bmin) = block_max_min64::<V>(block);
        if bmax > m {
            raise_row(&mut v, &mut m, &mut extra, &mut extra_w, &mut cnt, bmax);
        }
        let mv = V::splat(m);
        let clean = bmax < m && bmin - m >= DOMAIN_MIN;
        let mut pairs = block.chunks_exact(2 * LANES);
        if clean {
            let [mut s0, mut s1, mut w0, mut w1] = v;
            for c in &mut pairs {
                let g0 = V::load_f64(c[..8].try_into().expect("8")).sub(mv);
                let g1 = V::load_f64(c[8..].try_into().expect("8")).sub(mv);
                let (e0, e1) = (exp_in_domain(g0), exp_in_domain(g1));
                s0 = s0.add(e0);
                s1 = s1.add(e1);
                w0 = w0.sub(e0.mul(g0));
                w1 = w1.sub(e1.mul(g1));
            }
            v = [s0, s1, w0, w1];
        } else {
            let [mut s0, mut s1, mut w0, mut w1] = v;
            let mut counted = V::splat(0.0);
            for c in &mut pairs {
                let a = V::load_f64(c[..8].try_into().expect("8"));
                let b = V::load_f64(c[8..].try_into().expect("8"));
                counted = counted.add(add_checked64(a, mv, &mut s0, &mut w0));
                counted = counted.add(add_checked64(b, mv, &mut s1, &mut w1));
            }
            cnt += counted.sum_lanes();
            v = [s0, s1, w0, w1];
        }
        let tail = pairs.remainder();
        if !tail.is_empty() {
            let [mut s0, mut s1, mut w0, mut w1] = v;
            let mut padded = [f64::NEG_INFINITY; 2 * LANES];
            padded[..tail.len()].copy_from_slice(tail);
            let a = V::load_f64(padded[..8].try_into().expect("8"));
            let b = V::load_f64(padded[8..].try_into().expect("8"));
            let counted =
                add_checked64(a, mv, &mut s0, &mut w0).add(add_checked64(b, mv, &mut s1, &mut w1));
            cnt += counted.sum_lanes();
            v = [s0, s1, w0, w1];
        }
    }
    store_row_vectors(v, st);
    (st.m, st.extra, st.extra_w, st.cnt) = (m, extra, extra_w, cnt);
}

crate::simd::multiversion! {
    /// Feeds f64 logits `x` (a row, or a piece of one whose length is a multiple of
    /// [`BLOCK`] except the last) into the blocked entropy state (see [`OneRow`]).
    /// Exponentials ≤ 1 ULP; pieces give bitwise the result of one call.
    pub fn one_row_f64<>(st: &mut OneRow, x: &[f64]) -> () = one_row_f64_body;
}

/// Sixteen f32 values of `x` padded with `pad`.
#[inline(always)]
fn load16_padded<H: F16>(x: &[f32], pad: f32) -> H {
    let mut padded = [pad; 16];
    padded[..x.len()].copy_from_slice(x);
    H::load(&padded)
}

#[inline(always)]
fn load16<H: F16>(x: &[f32]) -> H {
    H::load(x[..16].try_into().expect("16"))
}

/// Largest and smallest of a block of f32, NaN ignored.
#[inline(always)]
fn block_max_min32<H: F16>(block: &[f32]) -> (f32, f32) {
    let (ninf, inf) = (H::splat(f32::NEG_INFINITY), H::splat(f32::INFINITY));
    let (mut hi0, mut hi1, mut lo0, mut lo1) = (ninf, ninf, inf, inf);
    let mut pairs = block.chunks_exact(32);
    for c in &mut pairs {
        let (a, b): (H, H) = (load16(&c[..16]), load16(&c[16..]));
        hi0 = hi0.max_ignoring_nan(a);
        lo0 = lo0.min_ignoring_nan(a);
        hi1 = hi1.max_ignoring_nan(b);
        lo1 = lo1.min_ignoring_nan(b);
    }
    for c in pairs.remainder().chunks(16) {
        hi0 = hi0.max_ignoring_nan(load16_padded(c, f32::NEG_INFINITY));
        lo0 = lo0.min_ignoring_nan(load16_padded(c, f32::INFINITY));
    }
    let (hi, lo) = (
        hi0.max_ignoring_nan(hi1).to_array(),
        lo0.min_ignoring_nan(lo1).to_array(),
    );
    let mut mx = f32::NEG_INFINITY;
    let mut mn = f32::INFINITY;
    for l in 0..16 {
        if hi[l] > mx {
            mx = hi[l];
        }
        if lo[l] < mn {
            mn = lo[l];
        }
    }
    (mx, mn)
}

/// Sixteen f32 values that may hold anything, added to (s, W) in f64: e^{x−m} by the fast
/// f32 exp of the exact gap d + c ([`two_diff`]), the f64 exp for vectors with a lane
/// below the f32 normal range; the gap itself in f64 (exact). Returns the count of values
/// equal to `m` (as eight f64 lanes).
#[inline(always)]
fn add_checked32<V: F8>(x: V::F32s, m: V::F32s, v: &mut [V; 4]) -> V {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let (d, c) = two_diff(x, m);
    let (e0, e1) = if <V::F32s as F16>::any(fast_underflows(d)) {
        exp_wide(d, c)
    } else {
        exp_fast(d, c).widen()
    };
    let (d0, d1) = d.widen();
    let (c0, c1) = c.widen();
    // c is NaN where d is infinite: the gap is d there
    let g0 = V::select(c0.eq(c0), d0.add(c0), d0);
    let g1 = V::select(c1.eq(c1), d1.add(c1), d1);
    let ninf = V::F32s::splat(f32::NEG_INFINITY);
    let at = x.eq(m);
    let skip = V::F32s::or(at, x.eq(ninf));
    let (k0, k1) = V::F32s::widen_mask(skip);
    v[0] = v[0].add(V::select(k0, zero, e0));
    v[1] = v[1].add(V::select(k1, zero, e1));
    v[2] = v[2].sub(V::select(k0, zero, e0.mul(g0)));
    v[3] = v[3].sub(V::select(k1, zero, e1.mul(g1)));
    let (a0, a1) = V::F32s::widen_mask(V::F32s::and(at, x.gt(ninf)));
    V::select(a0, one, zero).add(V::select(a1, one, zero))
}

#[inline(always)]
fn one_row_f32_body<V: F8>(st: &mut OneRow, x: &[f32]) {
    let mut v = row_vectors::<V>(st);
    let (mut m, mut extra, mut extra_w, mut cnt) = (st.m, st.extra, st.extra_w, st.cnt);
    for block in x.chunks(BLOCK) {
        let (bmax, bmin) = block_max_min32::<V::F32s>(block);
        let (bmax, bmin) = (bmax as f64, bmin as f64);
        if bmax > m {
            raise_row(&mut v, &mut m, &mut extra, &mut extra_w, &mut cnt, bmax);
        }
        // m is an f32 value (a block's maximum) or −inf: the cast is exact
        let mv = V::F32s::splat(m as f32);
        let clean = bmax < m && bmin - m >= FAST_MIN as f64;
        let mut singles = block.chunks_exact(16);
        if clean {
            // PERF: four vectors' terms summed in f32 (two roundings, ≤ 1.2e−7 of the sum,
            // all terms ≥ 0) before one widening. W's terms e·(x − m) take the f32 gap
            // (relative error ≤ 2^−24; its correction c only matters inside the exp).
            let mut quads = block.chunks_exact(64);
            let [mut s0, mut s1, mut w0, mut w1] = v;
            for q in &mut quads {
                let (d0, c0) = two_diff(load16::<V::F32s>(&q[..16]), mv);
                let (d1, c1) = two_diff(load16::<V::F32s>(&q[16..32]), mv);
                let (d2, c2) = two_diff(load16::<V::F32s>(&q[32..48]), mv);
                let (d3, c3) = two_diff(load16::<V::F32s>(&q[48..]), mv);
                let e0 = exp_fast_in_domain(d0, c0);
                let e1 = exp_fast_in_domain(d1, c1);
                let e2 = exp_fast_in_domain(d2, c2);
                let e3 = exp_fast_in_domain(d3, c3);
                let (sa, sb) = e0.add(e1).add(e2.add(e3)).widen();
                let t = e0.mul(d0).add(e1.mul(d1)).add(e2.mul(d2).add(e3.mul(d3)));
                let (ta, tb) = t.widen();
                s0 = s0.add(sa);
                s1 = s1.add(sb);
                w0 = w0.sub(ta);
                w1 = w1.sub(tb);
            }
            for c in quads.remainder().chunks_exact(16) {
                let (d, cc) = two_diff(load16::<V::F32s>(c), mv);
                let e = exp_fast_in_domain(d, cc);
                let (sa, sb) = e.widen();
                let (ta, tb) = e.mul(d).widen();
                s0 = s0.add(sa);
                s1 = s1.add(sb);
                w0 = w0.sub(ta);
                w1 = w1.sub(tb);
            }
            v = [s0, s1, w0, w1];
            singles = block[block.len() / 16 * 16..].chunks_exact(16);
        } else {
            let mut counted = V::splat(0.0);
            for c in &mut singles {
                counted = counted.add(add_checked32::<V>(load16(c), mv, &mut v));
            }
            cnt += counted.sum_lanes();
        }
        let tail = singles.remainder();
        if !tail.is_empty() {
            let counted = add_checked32::<V>(load16_padded(tail, f32::NEG_INFINITY), mv, &mut v);
            cnt += counted.sum_lanes();
        }
    }
    store_row_vectors(v, st);
    (st.m, st.extra, st.extra_w, st.cnt) = (m, extra, extra_w, cnt);
}

crate::simd::multiversion! {
    /// Feeds f32 logits into the blocked entropy state (as [`one_row_f64`]) with the native
    /// f32 exp (DESIGN §2b: float32 results within 1e−6 relative of the exact value): the
    /// terms e^{x−m} ≤ 8.2e−8 relative, W's terms ≤ 2e−7, sums in f64.
    pub fn one_row_f32<>(st: &mut OneRow, x: &[f32]) -> () = one_row_f32_body;
}

/// Feeds a row (or a piece, as [`one_row_f64`]) of either float type.
#[inline]
pub fn one_row<T: Real>(st: &mut OneRow, x: &[T]) {
    if let Some(x) = T::as_f32(x) {
        one_row_f32(st, x);
    } else if let Some(x) = T::as_f64(x) {
        one_row_f64(st, x);
    } else {
        let x: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        one_row_f64(st, &x);
    }
}

// ------------------------------------------------------------- blocked pair rows

/// The state of the blocked pass over two rows of logits read in step (cross-entropy, KL;
/// the log-normalisers of Jensen–Shannon): as [`OneRow`], one maximum per row so far
/// (`m_a`, `m_b`), sixteen f64 lanes of `s_a`, `s_b`, `C = Σ w_a·(m_b − b)` and
/// `G = Σ w_a·((a − m_a) − (b − m_b))` with `w_a = e^{a−m_a}` (1 at the maximum, whose
/// count lives in `cnt_a`). When blocks raise the maxima by `d_a`, `d_b`:
/// `C ← e^{−d_a}·(C + S_a·d_b)`, `G ← e^{−d_a}·(G + S_a·(d_b − d_a))` (the scalar parts
/// `xc`, `xg` carry the share of the counted mass). A pair of blocks both clean (see
/// [`OneRow`]) runs the lean loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairRow {
    /// Maximum of `a` so far.
    pub ma: f64,
    /// Maximum of `b` so far.
    pub mb: f64,
    /// Σ e^{a−m_a} below `m_a`, per lane.
    pub sa: [f64; ROW_LANES],
    /// Σ e^{b−m_b} below `m_b`, per lane.
    pub sb: [f64; ROW_LANES],
    /// Σ w_a·(m_b − b), per lane.
    pub c: [f64; ROW_LANES],
    /// Σ w_a·((a − m_a) − (b − m_b)), per lane.
    pub g: [f64; ROW_LANES],
    /// Earlier counts of `a` at an earlier maximum, moved: part of `s_a`.
    pub extra_a: f64,
    /// How many `a` equal `m_a`.
    pub cnt_a: f64,
    /// Earlier counts of `b` at an earlier maximum, moved: part of `s_b`.
    pub extra_b: f64,
    /// How many `b` equal `m_b`.
    pub cnt_b: f64,
    /// The counted mass's share of the shifts of `C`.
    pub xc: f64,
    /// The counted mass's share of the shifts of `G`.
    pub xg: f64,
    /// How many finite `a` meet `b = −inf` (+inf cross-entropy and KL).
    pub zq: f64,
}

/// The scalings of a raise: (d_a, f_a, d_b, f_b) — 0 and 1 where a maximum does not
/// rise or rises from −inf (nothing was summed relative to it).
#[inline]
fn pair_raise(ma: f64, mb: f64, to_a: f64, to_b: f64) -> (f64, f64, f64, f64) {
    let (da, fa) = if to_a > ma && ma > f64::NEG_INFINITY {
        (to_a - ma, (ma - to_a).exp())
    } else {
        (0.0, 1.0)
    };
    let (db, fb) = if to_b > mb && mb > f64::NEG_INFINITY {
        (to_b - mb, (mb - to_b).exp())
    } else {
        (0.0, 1.0)
    };
    (da, fa, db, fb)
}

/// (s_a, C, G) moved by a raise: scaled by f_a after the shifts (all 0 where f_a
/// underflows; NaN stays NaN).
#[inline]
fn pair_moved(sa: f64, c: f64, g: f64, da: f64, fa: f64, db: f64) -> (f64, f64, f64) {
    if fa == 0.0 {
        (sa * 0.0, (c + sa) * 0.0, (g + sa) * 0.0)
    } else {
        (sa * fa, (c + sa * db) * fa, (g + sa * (db - da)) * fa)
    }
}

impl PairRow {
    /// The state before any value.
    pub const EMPTY: Self = PairRow {
        ma: f64::NEG_INFINITY,
        mb: f64::NEG_INFINITY,
        sa: [0.0; ROW_LANES],
        sb: [0.0; ROW_LANES],
        c: [0.0; ROW_LANES],
        g: [0.0; ROW_LANES],
        extra_a: 0.0,
        cnt_a: 0.0,
        extra_b: 0.0,
        cnt_b: 0.0,
        xc: 0.0,
        xg: 0.0,
        zq: 0.0,
    };

    /// The rows' statistics (fixed lane trees, no exponential).
    pub fn finish(&self) -> PairStats {
        PairStats {
            a: OneStats {
                max: self.ma,
                rest: rest(tree16(&self.sa) + self.extra_a, self.cnt_a),
                w: 0.0,
            },
            b: OneStats {
                max: self.mb,
                rest: rest(tree16(&self.sb) + self.extra_b, self.cnt_b),
                w: 0.0,
            },
            c: tree16(&self.c) + self.xc,
            g: tree16(&self.g) + self.xg,
            zero_q: self.zq > 0.0,
        }
    }

    /// The state moved to the maxima `to_a` ≥ `ma`, `to_b` ≥ `mb` (scalar form of the
    /// blocks' raise).
    fn moved_to(&self, to_a: f64, to_b: f64) -> Self {
        let (da, fa, db, fb) = pair_raise(self.ma, self.mb, to_a, to_b);
        let mut r = *self;
        for l in 0..ROW_LANES {
            (r.sa[l], r.c[l], r.g[l]) = pair_moved(self.sa[l], self.c[l], self.g[l], da, fa, db);
            r.sb[l] = self.sb[l] * fb;
        }
        let ta = self.extra_a + self.cnt_a;
        let (ta, xc, xg) = pair_moved(ta, self.xc, self.xg, da, fa, db);
        (r.xc, r.xg) = (xc, xg);
        if to_a > self.ma {
            (r.extra_a, r.cnt_a, r.ma) = (ta, 0.0, to_a);
        }
        if to_b > self.mb {
            (r.extra_b, r.cnt_b, r.mb) = ((self.extra_b + self.cnt_b) * fb, 0.0, to_b);
        }
        r
    }
}

impl crate::kernels::Partial for PairRow {
    const EMPTY: Self = PairRow::EMPTY;
    /// Both moved to the larger maxima, then added lane by lane.
    fn combine(self, o: Self) -> Self {
        let ta = if o.ma > self.ma { o.ma } else { self.ma };
        let tb = if o.mb > self.mb { o.mb } else { self.mb };
        let (x, y) = (self.moved_to(ta, tb), o.moved_to(ta, tb));
        let mut r = PairRow::EMPTY;
        (r.ma, r.mb) = (ta, tb);
        for l in 0..ROW_LANES {
            r.sa[l] = x.sa[l] + y.sa[l];
            r.sb[l] = x.sb[l] + y.sb[l];
            r.c[l] = x.c[l] + y.c[l];
            r.g[l] = x.g[l] + y.g[l];
        }
        r.extra_a = x.extra_a + y.extra_a;
        r.cnt_a = x.cnt_a + y.cnt_a;
        r.extra_b = x.extra_b + y.extra_b;
        r.cnt_b = x.cnt_b + y.cnt_b;
        r.xc = x.xc + y.xc;
        r.xg = x.xg + y.xg;
        r.zq = x.zq + y.zq;
        r
    }
}

/// The vector part of a [`PairRow`]: sa, sb, c, g as lo/hi halves (index 2k, 2k + 1).
struct PairVec<V> {
    v: [V; 8],
    ma: f64,
    mb: f64,
    extra_a: f64,
    cnt_a: f64,
    extra_b: f64,
    cnt_b: f64,
    xc: f64,
    xg: f64,
    zq: f64,
}

impl<V: F8> PairVec<V> {
    #[inline(always)]
    fn load(st: &PairRow) -> Self {
        let h = |x: &[f64; ROW_LANES], k: usize| {
            V::load_f64(x[8 * k..8 * k + 8].try_into().expect("8"))
        };
        PairVec {
            v: [
                h(&st.sa, 0),
                h(&st.sa, 1),
                h(&st.sb, 0),
                h(&st.sb, 1),
                h(&st.c, 0),
                h(&st.c, 1),
                h(&st.g, 0),
                h(&st.g, 1),
            ],
            ma: st.ma,
            mb: st.mb,
            extra_a: st.extra_a,
            cnt_a: st.cnt_a,
            extra_b: st.extra_b,
            cnt_b: st.cnt_b,
            xc: st.xc,
            xg: st.xg,
            zq: st.zq,
        }
    }

    #[inline(always)]
    fn store(&self, st: &mut PairRow) {
        let arrays: [&mut [f64; ROW_LANES]; 4] = [&mut st.sa, &mut st.sb, &mut st.c, &mut st.g];
        for (k, arr) in arrays.into_iter().enumerate() {
            self.v[2 * k].store_f64((&mut arr[..8]).try_into().expect("8"));
            self.v[2 * k + 1].store_f64((&mut arr[8..]).try_into().expect("8"));
        }
        (st.ma, st.mb) = (self.ma, self.mb);
        (st.extra_a, st.cnt_a, st.extra_b, st.cnt_b) =
            (self.extra_a, self.cnt_a, self.extra_b, self.cnt_b);
        (st.xc, st.xg, st.zq) = (self.xc, self.xg, self.zq);
    }

    /// Raises the maxima to the blocks' (rare: a few times per row).
    #[inline(always)]
    fn raise(&mut self, to_a: f64, to_b: f64) {
        let to_a = if to_a > self.ma { to_a } else { self.ma };
        let to_b = if to_b > self.mb { to_b } else { self.mb };
        let (da, fa, db, fb) = pair_raise(self.ma, self.mb, to_a, to_b);
        let zero = V::splat(0.0);
        for h in 0..2 {
            let (sa, c, g) = (self.v[h], self.v[4 + h], self.v[6 + h]);
            if fa == 0.0 {
                self.v[h] = sa.mul(zero);
                self.v[4 + h] = c.add(sa).mul(zero);
                self.v[6 + h] = g.add(sa).mul(zero);
            } else {
                let f = V::splat(fa);
                self.v[h] = sa.mul(f);
                self.v[4 + h] = c.add(sa.mul(V::splat(db))).mul(f);
                self.v[6 + h] = g.add(sa.mul(V::splat(db - da))).mul(f);
            }
            self.v[2 + h] = self.v[2 + h].mul(V::splat(fb));
        }
        let ta = self.extra_a + self.cnt_a;
        let (ta, xc, xg) = pair_moved(ta, self.xc, self.xg, da, fa, db);
        (self.xc, self.xg) = (xc, xg);
        if to_a > self.ma {
            (self.extra_a, self.cnt_a, self.ma) = (ta, 0.0, to_a);
        }
        if to_b > self.mb {
            (self.extra_b, self.cnt_b, self.mb) = ((self.extra_b + self.cnt_b) * fb, 0.0, to_b);
        }
    }
}

/// The terms of one half (eight lanes, `h` = 0 or 1) of values that may hold anything,
/// given e^{a−m_a}, e^{b−m_b} and the gaps a − m_a, b − m_b in f64; returns the counts
/// (a at its maximum, b at its maximum, finite a against b = −inf).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pair_checked_half<V: F8>(
    v: &mut [V; 8],
    h: usize,
    ea: V,
    ga: V,
    eb: V,
    gb: V,
    at_a: V::Mask,
    absent_a: V::Mask,
    at_b: V::Mask,
    absent_b: V::Mask,
) -> (V, V, V) {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    v[h] = v[h].add(V::select(V::or(at_a, absent_a), zero, ea));
    v[2 + h] = v[2 + h].add(V::select(V::or(at_b, absent_b), zero, eb));
    let wa = V::select(at_a, one, ea);
    let off = V::or(absent_a, absent_b);
    v[4 + h] = v[4 + h].sub(V::select(off, zero, wa.mul(gb)));
    let t = V::select(at_a, zero.sub(gb), ga.sub(gb));
    v[6 + h] = v[6 + h].add(V::select(off, zero, wa.mul(t)));
    let ca = V::select(absent_a, zero, V::select(at_a, one, zero));
    let cb = V::select(absent_b, zero, V::select(at_b, one, zero));
    let z = V::select(absent_b, V::select(absent_a, zero, one), zero);
    (ca, cb, z)
}

#[inline(always)]
fn pair_checked64<V: F8>(pv: &mut PairVec<V>, a: [V; 2], b: [V; 2], counts: &mut [V; 3]) {
    let ninf = V::splat(f64::NEG_INFINITY);
    let (mav, mbv) = (V::splat(pv.ma), V::splat(pv.mb));
    for h in 0..2 {
        let (x, y) = (a[h], b[h]);
        let (ga, gb) = (x.sub(mav), y.sub(mbv));
        let (ea, eb) = (exp(ga), exp(gb));
        let (ca, cb, z) = pair_checked_half(
            &mut pv.v,
            h,
            ea,
            ga,
            eb,
            gb,
            x.eq(mav),
            x.eq(ninf),
            y.eq(mbv),
            y.eq(ninf),
        );
        counts[0] = counts[0].add(ca);
        counts[1] = counts[1].add(cb);
        counts[2] = counts[2].add(z);
    }
}

#[inline(always)]
fn pair_row_f64_body<V: F8>(st: &mut PairRow, a: &[f64], b: &[f64]) {
    let mut pv = PairVec::<V>::load(st);
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    for (ba, bb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let ((amax, amin), (bmax, bmin)) = (block_max_min64::<V>(ba), block_max_min64::<V>(bb));
        if amax > pv.ma || bmax > pv.mb {
            pv.raise(amax, bmax);
        }
        let clean = amax < pv.ma
            && amin - pv.ma >= DOMAIN_MIN
            && bmax < pv.mb
            && bmin - pv.mb >= DOMAIN_MIN;
        let (mav, mbv) = (V::splat(pv.ma), V::splat(pv.mb));
        let mut pa = ba.chunks_exact(2 * LANES);
        let mut pb = bb.chunks_exact(2 * LANES);
        if clean {
            let mut v = pv.v;
            for (x, y) in (&mut pa).zip(&mut pb) {
                for h in 0..2 {
                    let ga = V::load_f64(x[8 * h..8 * h + 8].try_into().expect("8")).sub(mav);
                    let gb = V::load_f64(y[8 * h..8 * h + 8].try_into().expect("8")).sub(mbv);
                    let (ea, eb) = (exp_in_domain(ga), exp_in_domain(gb));
                    v[h] = v[h].add(ea);
                    v[2 + h] = v[2 + h].add(eb);
                    v[4 + h] = v[4 + h].sub(ea.mul(gb));
                    v[6 + h] = v[6 + h].add(ea.mul(ga.sub(gb)));
                }
            }
            pv.v = v;
        } else {
            let zero = V::splat(0.0);
            let mut counts = [zero; 3];
            for (x, y) in (&mut pa).zip(&mut pb) {
                let xa = [
                    V::load_f64(x[..8].try_into().expect("8")),
                    V::load_f64(x[8..].try_into().expect("8")),
                ];
                let yb = [
                    V::load_f64(y[..8].try_into().expect("8")),
                    V::load_f64(y[8..].try_into().expect("8")),
                ];
                pair_checked64(&mut pv, xa, yb, &mut counts);
            }
            pv.cnt_a += counts[0].sum_lanes();
            pv.cnt_b += counts[1].sum_lanes();
            pv.zq += counts[2].sum_lanes();
        }
        let (ta, tb) = (pa.remainder(), pb.remainder());
        if !ta.is_empty() {
            let mut x = [f64::NEG_INFINITY; 2 * LANES];
            let mut y = [f64::NEG_INFINITY; 2 * LANES];
            x[..ta.len()].copy_from_slice(ta);
            y[..tb.len()].copy_from_slice(tb);
            let xa = [
                V::load_f64(x[..8].try_into().expect("8")),
                V::load_f64(x[8..].try_into().expect("8")),
            ];
            let yb = [
                V::load_f64(y[..8].try_into().expect("8")),
                V::load_f64(y[8..].try_into().expect("8")),
            ];
            let mut counts = [V::splat(0.0); 3];
            pair_checked64(&mut pv, xa, yb, &mut counts);
            pv.cnt_a += counts[0].sum_lanes();
            pv.cnt_b += counts[1].sum_lanes();
            pv.zq += counts[2].sum_lanes();
        }
    }
    pv.store(st);
}

crate::simd::multiversion! {
    /// Feeds two f64 rows of logits read in step (equal lengths; pieces multiples of
    /// [`BLOCK`] except the last give bitwise one call) into the blocked pair state.
    pub fn pair_row_f64<>(st: &mut PairRow, a: &[f64], b: &[f64]) -> () = pair_row_f64_body;
}

/// e^{x−m} (fast f32 exp of the exact gap, f64 where it underflows) and the exact gap, as
/// f64 halves.
#[inline(always)]
fn side32<V: F8>(x: V::F32s, m: V::F32s) -> ([V; 2], [V; 2]) {
    let (d, c) = two_diff(x, m);
    let (e0, e1) = if <V::F32s as F16>::any(fast_underflows(d)) {
        exp_wide(d, c)
    } else {
        exp_fast(d, c).widen()
    };
    let (d0, d1) = d.widen();
    let (c0, c1) = c.widen();
    let g0 = V::select(c0.eq(c0), d0.add(c0), d0);
    let g1 = V::select(c1.eq(c1), d1.add(c1), d1);
    ([e0, e1], [g0, g1])
}

#[inline(always)]
fn pair_checked32<V: F8>(pv: &mut PairVec<V>, x: V::F32s, y: V::F32s, counts: &mut [V; 3]) {
    let ninf = V::F32s::splat(f32::NEG_INFINITY);
    // the maxima are f32 values (or −inf): exact
    let (ma, mb) = (V::F32s::splat(pv.ma as f32), V::F32s::splat(pv.mb as f32));
    let (ea, ga) = side32::<V>(x, ma);
    let (eb, gb) = side32::<V>(y, mb);
    let (at_a, absent_a) = (
        V::F32s::widen_mask(x.eq(ma)),
        V::F32s::widen_mask(x.eq(ninf)),
    );
    let (at_b, absent_b) = (
        V::F32s::widen_mask(y.eq(mb)),
        V::F32s::widen_mask(y.eq(ninf)),
    );
    let halves = [
        (at_a.0, absent_a.0, at_b.0, absent_b.0),
        (at_a.1, absent_a.1, at_b.1, absent_b.1),
    ];
    for (h, &(p, q, r, s)) in halves.iter().enumerate() {
        let (ca, cb, z) = pair_checked_half(&mut pv.v, h, ea[h], ga[h], eb[h], gb[h], p, q, r, s);
        counts[0] = counts[0].add(ca);
        counts[1] = counts[1].add(cb);
        counts[2] = counts[2].add(z);
    }
}

#[inline(always)]
fn pair_row_f32_body<V: F8>(st: &mut PairRow, a: &[f32], b: &[f32]) {
    let mut pv = PairVec::<V>::load(st);
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    for (ba, bb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let (amax, amin) = block_max_min32::<V::F32s>(ba);
        let (bmax, bmin) = block_max_min32::<V::F32s>(bb);
        let (amax, amin, bmax, bmin) = (amax as f64, amin as f64, bmax as f64, bmin as f64);
        if amax > pv.ma || bmax > pv.mb {
            pv.raise(amax, bmax);
        }
        let fast_min = FAST_MIN as f64;
        let clean =
            amax < pv.ma && amin - pv.ma >= fast_min && bmax < pv.mb && bmin - pv.mb >= fast_min;
        let whole = ba.len() / 16 * 16;
        let mut done = 0;
        if clean {
            // PERF: the terms of four vectors summed in f32 before one widening (as
            // [`one_row_f32`]); s and C terms are ≥ 0, G's terms are those of the KL sum.
            let (ma, mb) = (V::F32s::splat(pv.ma as f32), V::F32s::splat(pv.mb as f32));
            let mut v = pv.v;
            let quads = whole / 64 * 64;
            while done < quads {
                let mut es = [V::F32s::splat(0.0); 4];
                for k in 0..4 {
                    let i = done + 16 * k;
                    let (da, ca) = two_diff(load16::<V::F32s>(&ba[i..]), ma);
                    let (db, cb) = two_diff(load16::<V::F32s>(&bb[i..]), mb);
                    let ea = exp_fast_in_domain(da, ca);
                    let eb = exp_fast_in_domain(db, cb);
                    es[0] = es[0].add(ea);
                    es[1] = es[1].add(eb);
                    es[2] = es[2].add(ea.mul(db));
                    es[3] = es[3].add(ea.mul(da.sub(db)));
                }
                for (k, e) in es.into_iter().enumerate() {
                    let (lo, hi) = e.widen();
                    if k == 2 {
                        v[4] = v[4].sub(lo);
                        v[5] = v[5].sub(hi);
                    } else {
                        let j = [0, 2, 0, 6][k];
                        v[j] = v[j].add(lo);
                        v[j + 1] = v[j + 1].add(hi);
                    }
                }
                done += 64;
            }
            pv.v = v;
        }
        let zero = V::splat(0.0);
        let mut counts = [zero; 3];
        while done < whole {
            pair_checked32(
                &mut pv,
                load16(&ba[done..]),
                load16(&bb[done..]),
                &mut counts,
            );
            done += 16;
        }
        if done < ba.len() {
            let ninf = f32::NEG_INFINITY;
            pair_checked32(
                &mut pv,
                load16_padded(&ba[done..], ninf),
                load16_padded(&bb[done..], ninf),
                &mut counts,
            );
        }
        pv.cnt_a += counts[0].sum_lanes();
        pv.cnt_b += counts[1].sum_lanes();
        pv.zq += counts[2].sum_lanes();
    }
    pv.store(st);
}

crate::simd::multiversion! {
    /// Feeds two f32 rows of logits into the blocked pair state with the native f32 exp
    /// (DESIGN §2b): as [`pair_row_f64`].
    pub fn pair_row_f32<>(st: &mut PairRow, a: &[f32], b: &[f32]) -> () = pair_row_f32_body;
}

/// Feeds two rows (or pieces) of either float types: both f32 take the f32 pass, both f64
/// the f64 pass, mixed types are widened to f64 in pieces.
#[inline]
pub fn pair_row<T: Real, U: Real>(st: &mut PairRow, a: &[T], b: &[U]) {
    if let (Some(x), Some(y)) = (T::as_f32(a), U::as_f32(b)) {
        pair_row_f32(st, x, y);
    } else if let (Some(x), Some(y)) = (T::as_f64(a), U::as_f64(b)) {
        pair_row_f64(st, x, y);
    } else {
        let mut xa = [0.0f64; BLOCK];
        let mut yb = [0.0f64; BLOCK];
        for (x, y) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
            for (d, v) in xa.iter_mut().zip(x) {
                *d = v.to_f64();
            }
            for (d, v) in yb.iter_mut().zip(y) {
                *d = v.to_f64();
            }
            pair_row_f64(st, &xa[..x.len()], &yb[..y.len()]);
        }
    }
}

// ------------------------------------------------------------------ vertical groups

/// Short rows read as vertical groups (lane = row, [`GROUP`] rows, `z[c][j]`: element `c`
/// of row `j`): the maximum first (the group sits in L1), then one pass of sums — no
/// online rescaling and no per-row lane combination, which dominate rows of a few dozen
/// logits. The same non-negative terms as the streaming form.
#[inline(always)]
fn one_group_body<V: F8>(z: &[[f64; GROUP]], out: &mut [f64; GROUP]) {
    let ninf = V::splat(f64::NEG_INFINITY);
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    for h in 0..GROUP / LANES {
        let lanes = h * LANES..(h + 1) * LANES;
        let mut m = ninf;
        for c in z {
            let v = V::load_f64(c[lanes.clone()].try_into().expect("8"));
            m = V::select(v.gt(m), v, m);
        }
        let (mut s, mut cnt, mut w) = (zero, zero, zero);
        for c in z {
            let v = V::load_f64(c[lanes.clone()].try_into().expect("8"));
            let at = v.eq(m);
            let absent = v.eq(ninf);
            let gap = m.sub(v);
            let e = exp(zero.sub(gap));
            let skip = V::or(at, absent);
            s = s.add(V::select(skip, zero, e));
            w = w.add(V::select(skip, zero, e.mul(gap)));
            cnt = cnt.add(V::select(absent, zero, V::select(at, one, zero)));
        }
        entropy_finish(m, s, cnt, w, &mut out[lanes]);
    }
}

crate::simd::multiversion! {
    /// Entropy (nats) of softmax of each of the [`GROUP`] rows of `z[c][j]` (zero-padded
    /// lanes give values the caller ignores; every row has `z.len()` elements).
    pub fn one_group<>(z: &[[f64; GROUP]], out: &mut [f64; GROUP]) -> () = one_group_body;
}

/// [`one_group_body`] for rows of float32 values (held as f64 in the group, exactly): the
/// maximum and the exponentials in sixteen f32 lanes (the fast f32 exp from the exact
/// two-term gap, the f64 one in the lanes where it underflows, as `logsumexp`'s f32
/// tiles), the sums and the gaps' weights m − z in f64 (exact: two f32 values). Every term
/// is non-negative, so the f32 exponential's ≤ 1 ULP (6e-8) stays the result's relative
/// error bound — within DESIGN §2b's 1e-6 for float32 input. PERF: the eight-lane f64
/// exponentials were most of a (10^6, 10) float32 call.
#[inline(always)]
fn one_group_f32_body<V: F8>(z: &[[f64; GROUP]], out: &mut [f64; GROUP]) {
    type S<V> = <V as F8>::F32s;
    let load = |c: &[f64; GROUP]| {
        let ([lo, hi], x) = load_f32_column::<V>(c);
        (lo, hi, x)
    };
    let ninf = S::<V>::splat(f32::NEG_INFINITY);
    let (zero, zero32, one32) = (V::splat(0.0), S::<V>::splat(0.0), S::<V>::splat(1.0));
    let mut m = ninf;
    for c in z {
        m = m.max_ignoring_nan(load(c).2);
    }
    let (m0, m1) = m.widen();
    let (mut s0, mut s1, mut w0, mut w1) = (zero, zero, zero, zero);
    let mut cnt = zero32;
    for c in z {
        let (lo, hi, x) = load(c);
        let (at, absent) = (x.eq(m), x.eq(ninf));
        let (d, cc) = two_diff(x, m);
        let (e0, e1) = exp_per_lane(d, cc); // lanes are rows: per-lane choice
        let (k0, k1) = S::<V>::widen_mask(S::<V>::or(at, absent));
        s0 = s0.add(V::select(k0, zero, e0));
        s1 = s1.add(V::select(k1, zero, e1));
        w0 = w0.add(V::select(k0, zero, e0.mul(m0.sub(lo))));
        w1 = w1.add(V::select(k1, zero, e1.mul(m1.sub(hi))));
        // Counts stay exact in f32 (short rows, far below 2^24).
        cnt = cnt.add(S::<V>::select(S::<V>::and(at, x.gt(ninf)), one32, zero32));
    }
    let (c0, c1) = cnt.widen();
    entropy_finish(m0, s0, c0, w0, &mut out[..8]);
    entropy_finish(m1, s1, c1, w1, &mut out[8..]);
}

crate::simd::multiversion! {
    /// [`one_group`] for groups holding float32 values (f32 exponentials, f64 sums).
    pub fn one_group_f32<>(z: &[[f64; GROUP]], out: &mut [f64; GROUP]) -> () = one_group_f32_body;
}

/// A group column holding float32 values: its two f64 halves and the same sixteen values
/// narrowed to f32 lanes (exactly).
#[inline(always)]
fn load_f32_column<V: F8>(c: &[f64; GROUP]) -> ([V; 2], V::F32s) {
    let lo = V::load_f64(c[..8].try_into().expect("8"));
    let hi = V::load_f64(c[8..].try_into().expect("8"));
    ([lo, hi], V::F32s::from_wide(lo, hi))
}

/// `OneStats::entropy` of eight lanes: log1p(rest) + W/(1 + rest), NaN where the maximum
/// is not finite. PERF: libm's scalar log1p per row was 22% of a (10^6, 10) float32 call.
#[inline(always)]
fn entropy_finish<V: F8>(m: V, s: V, cnt: V, w: V, out: &mut [f64]) {
    let r = rest_of(s, cnt);
    let h = log1p_nonneg(r).add(w.div(V::splat(1.0).add(r)));
    V::select(finite(m), h, V::splat(f64::NAN)).store_f64(out.try_into().expect("8"));
}

/// The lanes whose row maximum is finite (a row without a finite logit, a NaN or a +inf
/// logit gives NaN).
#[inline(always)]
fn finite<V: F8>(m: V) -> V::Mask {
    V::and(
        m.gt(V::splat(f64::NEG_INFINITY)),
        m.lt(V::splat(f64::INFINITY)),
    )
}

/// Which value [`pair_group`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairValue {
    /// H(P, Q).
    CrossEntropy,
    /// D(P‖Q).
    Kl,
}

#[inline(always)]
fn pair_group_body<V: F8>(
    a: &[[f64; GROUP]],
    b: &[[f64; GROUP]],
    value: PairValue,
    f32_terms: bool,
    out: &mut [f64; GROUP],
) {
    let ninf = V::splat(f64::NEG_INFINITY);
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    // KL rows the one pass cannot vouch for, and their constants (redone after the loop)
    let (mut redo, mut norms) = ([false; GROUP], [KlNorm::default(); GROUP]);
    for h in 0..GROUP / LANES {
        let lanes = h * LANES..(h + 1) * LANES;
        let load = |c: &[f64; GROUP]| V::load_f64(c[lanes.clone()].try_into().expect("8"));
        let (mut ma, mut mb) = (ninf, ninf);
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (load(x), load(y));
            ma = V::select(x.gt(ma), x, ma);
            mb = V::select(y.gt(mb), y, mb);
        }
        let shift = ma.sub(mb);
        let (mut sa, mut ca, mut sb, mut cb) = (zero, zero, zero, zero);
        let (mut c_sum, mut g_sum, mut zq) = (zero, zero, zero);
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (load(x), load(y));
            let (at_a, absent_a) = (x.eq(ma), x.eq(ninf));
            let gap_a = ma.sub(x);
            let ea = exp(zero.sub(gap_a));
            sa = sa.add(V::select(V::or(at_a, absent_a), zero, ea));
            ca = ca.add(V::select(absent_a, zero, V::select(at_a, one, zero)));
            let wa = V::select(at_a, one, ea);
            let (at_b, absent_b) = (y.eq(mb), y.eq(ninf));
            let gap_b = mb.sub(y);
            let eb = exp(zero.sub(gap_b));
            sb = sb.add(V::select(V::or(at_b, absent_b), zero, eb));
            cb = cb.add(V::select(absent_b, zero, V::select(at_b, one, zero)));
            let off = V::or(absent_a, absent_b);
            c_sum = c_sum.add(V::select(off, zero, wa.mul(gap_b)));
            g_sum = g_sum.add(V::select(off, zero, wa.mul(x.sub(y).sub(shift))));
            let counted = V::select(absent_a, zero, one).eq(one);
            zq = zq.add(V::select(V::and(absent_b, counted), one, zero));
        }
        let (rest_a, rest_b) = (rest_of(sa, ca), rest_of(sb, cb));
        if value == PairValue::CrossEntropy {
            cross_entropy_finish(ma, mb, rest_a, rest_b, c_sum, zq, &mut out[lanes]);
            continue;
        }
        // The normalisers' logarithms of the eight lanes at once (libm's log1p per row
        // was 22% of a short-row entropy call; here it is two per row).
        let arr = |v: V| v.to_array();
        let (la, lb) = (arr(log1p_nonneg(rest_a)), arr(log1p_nonneg(rest_b)));
        let (ma, mb, rest_a, rest_b) = (arr(ma), arr(mb), arr(rest_a), arr(rest_b));
        let (c_sum, g_sum, zq) = (arr(c_sum), arr(g_sum), arr(zq));
        #[allow(clippy::needless_range_loop)] // parallel arrays: an index reads clearest
        for l in 0..LANES {
            let j = h * LANES + l;
            let stats = PairStats {
                a: OneStats {
                    max: ma[l],
                    rest: rest_a[l],
                    w: 0.0,
                },
                b: OneStats {
                    max: mb[l],
                    rest: rest_b[l],
                    w: 0.0,
                },
                c: c_sum[l],
                g: g_sum[l],
                zero_q: zq[l] > 0.0,
            };
            let (v, norm) = stats.kl_one_pass_with(a.len(), la[l], lb[l]);
            norms[j] = norm;
            out[j] = v.unwrap_or_else(|| {
                redo[j] = true;
                f64::NAN
            });
        }
    }
    // nearly equal rows: their divergence again from non-negative terms (the other lanes'
    // sums are computed alongside and discarded) — float32 groups all sixteen rows at once
    // in f32 terms, others each half of eight with f64 terms where it has such a row
    let mut sums = [f64::NAN; GROUP];
    if f32_terms {
        if redo.iter().any(|&r| r) {
            sums = super::logits_kl::group_f32::<V>(a, b, &norms);
        }
    } else {
        for h in 0..GROUP / LANES {
            let half = h * LANES..(h + 1) * LANES;
            if redo[half.clone()].iter().any(|&r| r) {
                let k = norms[half.clone()].try_into().expect("8");
                sums[half].copy_from_slice(&super::logits_kl::group_half::<V>(a, b, h, k));
            }
        }
    }
    for ((o, &r), s) in out.iter_mut().zip(&redo).zip(sums) {
        if r {
            *o = s;
        }
    }
}

crate::simd::multiversion! {
    /// Cross-entropy or KL (nats) of softmax of each of the [`GROUP`] pairs of rows of
    /// `a[c][j]`, `b[c][j]` (as [`one_group`]); `f32_terms`: the rows hold float32 values,
    /// whose KL second pass may take f32 terms (DESIGN §2b).
    pub fn pair_group<>(a: &[[f64; GROUP]], b: &[[f64; GROUP]], value: PairValue, f32_terms: bool, out: &mut [f64; GROUP]) -> () = pair_group_body;
}

/// `PairStats::cross_entropy` of eight lanes: log1p(rest_b) + C/(1 + rest_a); NaN where
/// either maximum is not finite, +inf where a finite `a` meets `b = −inf` (`zq` > 0)
/// unless the value is NaN.
#[inline(always)]
fn cross_entropy_finish<V: F8>(ma: V, mb: V, rest_a: V, rest_b: V, c: V, zq: V, out: &mut [f64]) {
    let v = log1p_nonneg(rest_b).add(c.div(V::splat(1.0).add(rest_a)));
    let v = V::select(
        V::and(zq.gt(V::splat(0.0)), v.eq(v)),
        V::splat(f64::INFINITY),
        v,
    );
    let v = V::select(V::and(finite(ma), finite(mb)), v, V::splat(f64::NAN));
    v.store_f64(out.try_into().expect("8"));
}

/// Cross-entropy of groups of float32 rows (held as f64 in the group, exactly), as
/// [`one_group_f32_body`]: the maxima and both sides' exponentials in sixteen f32 lanes,
/// the sums, the gaps m_b − b and the finish in f64. Every term is non-negative (C's
/// weights e^{a−m_a}, its gaps, both rests), so the f32 exponential's relative error
/// (≤ 8.2e-8, `exp_f32`) bounds the result's to about twice that — DESIGN §2b's 1e-6 for
/// float32 input. KL keeps f64 exponentials: its one pass adds terms of both signs, and an
/// f32 bound on them would send most realistic rows to the second pass (benches/README).
#[inline(always)]
fn cross_entropy_group_f32_body<V: F8>(
    a: &[[f64; GROUP]],
    b: &[[f64; GROUP]],
    out: &mut [f64; GROUP],
) {
    type S<V> = <V as F8>::F32s;
    let load = load_f32_column::<V>;
    let ninf = S::<V>::splat(f32::NEG_INFINITY);
    let (zero, zero32, one32) = (V::splat(0.0), S::<V>::splat(0.0), S::<V>::splat(1.0));
    let (mut ma, mut mb) = (ninf, ninf);
    for (x, y) in a.iter().zip(b) {
        ma = ma.max_ignoring_nan(load(x).1);
        mb = mb.max_ignoring_nan(load(y).1);
    }
    let mbw = mb.widen();
    let mbw = [mbw.0, mbw.1];
    let (mut sa, mut sb, mut c_sum) = ([zero; 2], [zero; 2], [zero; 2]);
    let (mut ca, mut cb, mut zq) = (zero32, zero32, zero32);
    for (x, y) in a.iter().zip(b) {
        let ((_, x), (yw, y)) = (load(x), load(y));
        let (at_a, absent_a) = (x.eq(ma), x.eq(ninf));
        let (at_b, absent_b) = (y.eq(mb), y.eq(ninf));
        let (da, ea_c) = two_diff(x, ma);
        let (db, eb_c) = two_diff(y, mb);
        // lanes are rows: per-lane choice of the exponential
        let (ea, eb) = (exp_per_lane(da, ea_c), exp_per_lane(db, eb_c));
        let (ea, eb) = ([ea.0, ea.1], [eb.0, eb.1]);
        let skip_a = S::<V>::widen_mask(S::<V>::or(at_a, absent_a));
        let skip_b = S::<V>::widen_mask(S::<V>::or(at_b, absent_b));
        let weight_one = S::<V>::widen_mask(at_a);
        let off = S::<V>::widen_mask(S::<V>::or(absent_a, absent_b));
        for h in 0..2 {
            let pick = |m: (_, _)| if h == 0 { m.0 } else { m.1 };
            sa[h] = sa[h].add(V::select(pick(skip_a), zero, ea[h]));
            sb[h] = sb[h].add(V::select(pick(skip_b), zero, eb[h]));
            let wa = V::select(pick(weight_one), V::splat(1.0), ea[h]);
            c_sum[h] = c_sum[h].add(V::select(pick(off), zero, wa.mul(mbw[h].sub(yw[h]))));
        }
        // Counts stay exact in f32 (short rows, far below 2^24).
        ca = ca.add(S::<V>::select(S::<V>::and(at_a, x.gt(ninf)), one32, zero32));
        cb = cb.add(S::<V>::select(S::<V>::and(at_b, y.gt(ninf)), one32, zero32));
        // a finite (or NaN) `a` against b = −inf
        let counted = S::<V>::select(absent_a, zero32, one32).eq(one32);
        zq = zq.add(S::<V>::select(
            S::<V>::and(absent_b, counted),
            one32,
            zero32,
        ));
    }
    let (maw, (ca, cb, zq)) = (ma.widen(), (ca.widen(), cb.widen(), zq.widen()));
    let halves = [(maw.0, ca.0, cb.0, zq.0), (maw.1, ca.1, cb.1, zq.1)];
    for (h, (ma, ca, cb, zq)) in halves.into_iter().enumerate() {
        let (rest_a, rest_b) = (rest_of(sa[h], ca), rest_of(sb[h], cb));
        let lanes = h * LANES..(h + 1) * LANES;
        cross_entropy_finish(ma, mbw[h], rest_a, rest_b, c_sum[h], zq, &mut out[lanes]);
    }
}

crate::simd::multiversion! {
    /// [`pair_group`]'s cross-entropy for groups holding float32 values (f32 exponentials,
    /// f64 sums).
    pub fn cross_entropy_group_f32<>(a: &[[f64; GROUP]], b: &[[f64; GROUP]], out: &mut [f64; GROUP]) -> () = cross_entropy_group_f32_body;
}

// ------------------------------------------------------------ combining lane states

/// One lane of a row's state moved to the maximum `to` (≥ its own): (s + cnt)·e^{m−to}
/// and the sums' shift, `None` when the lane holds no mass (nothing to move).
#[inline]
fn moved(m: f64, s: f64, cnt: f64, to: f64) -> Option<(f64, f64)> {
    let total = s + cnt;
    if !(total > 0.0 || total.is_nan()) {
        return None;
    }
    if m == to {
        return Some((1.0, 0.0));
    }
    Some(((m - to).exp(), to - m))
}

impl crate::kernels::Partial for OneLanes {
    const EMPTY: Self = OneLanes::EMPTY;
    /// Lane by lane: both moved to the larger maximum (the streaming raise, in one step).
    fn combine(self, o: Self) -> Self {
        let mut r = OneLanes::EMPTY;
        #[allow(clippy::needless_range_loop)] // parallel arrays: an index reads clearest
        for l in 0..LANES {
            let to = if o.m[l] > self.m[l] {
                o.m[l]
            } else {
                self.m[l]
            };
            r.m[l] = to;
            for x in [&self, &o] {
                match moved(x.m[l], x.s[l], x.cnt[l], to) {
                    None => r.w[l] += x.w[l],
                    Some(_) if x.m[l] == to => {
                        r.s[l] += x.s[l];
                        r.cnt[l] += x.cnt[l];
                        r.w[l] += x.w[l];
                    }
                    Some((f, d)) => {
                        let total = x.s[l] + x.cnt[l];
                        r.s[l] += total * f;
                        r.w[l] += f * (x.w[l] + total * d);
                    }
                }
            }
        }
        r
    }
}

impl crate::kernels::Partial for PairLanes {
    const EMPTY: Self = PairLanes::EMPTY;
    /// Lane by lane: both moved to the larger maxima of `a` and of `b`.
    fn combine(self, o: Self) -> Self {
        let mut r = PairLanes::EMPTY;
        #[allow(clippy::needless_range_loop)] // parallel arrays: an index reads clearest
        for l in 0..LANES {
            let ta = if o.ma[l] > self.ma[l] {
                o.ma[l]
            } else {
                self.ma[l]
            };
            let tb = if o.mb[l] > self.mb[l] {
                o.mb[l]
            } else {
                self.mb[l]
            };
            r.ma[l] = ta;
            r.mb[l] = tb;
            for x in [&self, &o] {
                r.zq[l] += x.zq[l];
                // b's own sums
                match moved(x.mb[l], x.sb[l], x.cb[l], tb) {
                    None => {}
                    Some(_) if x.mb[l] == tb => {
                        r.sb[l] += x.sb[l];
                        r.cb[l] += x.cb[l];
                    }
                    Some((f, _)) => r.sb[l] += (x.sb[l] + x.cb[l]) * f,
                }
                // a's sums and the pair sums, weighted by e^{a − m_a}
                let total_a = x.sa[l] + x.ca[l];
                let db = if x.mb[l] == tb || x.mb[l] == f64::NEG_INFINITY {
                    0.0
                } else {
                    tb - x.mb[l]
                };
                match moved(x.ma[l], x.sa[l], x.ca[l], ta) {
                    None => {
                        r.c[l] += x.c[l];
                        r.g[l] += x.g[l];
                    }
                    Some(_) if x.ma[l] == ta => {
                        r.sa[l] += x.sa[l];
                        r.ca[l] += x.ca[l];
                        r.c[l] += if db == 0.0 {
                            x.c[l]
                        } else {
                            x.c[l] + total_a * db
                        };
                        r.g[l] += if db == 0.0 {
                            x.g[l]
                        } else {
                            x.g[l] + total_a * db
                        };
                    }
                    Some((f, da)) => {
                        r.sa[l] += total_a * f;
                        r.c[l] += f
                            * (if db == 0.0 {
                                x.c[l]
                            } else {
                                x.c[l] + total_a * db
                            });
                        r.g[l] += f
                            * (if db == da {
                                x.g[l]
                            } else {
                                x.g[l] + total_a * (db - da)
                            });
                    }
                }
            }
        }
        r
    }
}

/// Jensen–Shannon divergence (nats) of softmax(a) and softmax(b) given both rows'
/// maxima and log1p(rest) `(m_a, l_a, m_b, l_b)` (p_i = exp((a_i − m_a) − l_a)): Σ m_i·f(δ_i), m = (p + q)/2, δ = (p − q)/(p + q),
/// f(δ) = ½[(1+δ)ln(1+δ) + (1−δ)ln(1−δ)] = Σ_k δ^{2k}/(2k(2k−1)) ≥ 0 — non-negative terms,
/// the series where the closed form would cancel. Scalar (a second pass over the row).
pub fn js_terms<T: Real, U: Real>(a: &[T], b: &[U], norm: (f64, f64, f64, f64)) -> f64 {
    let (ma, la, mb, lb) = norm;
    let mut sum = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x.to_f64(), y.to_f64());
        if x.is_nan() || y.is_nan() {
            return f64::NAN;
        }
        let p = if x == f64::NEG_INFINITY {
            0.0
        } else {
            ((x - ma) - la).exp()
        };
        let q = if y == f64::NEG_INFINITY {
            0.0
        } else {
            ((y - mb) - lb).exp()
        };
        sum += js_term(p, q);
    }
    sum
}

/// 2^600: scales tiny probability pairs before the division (as [`super::js`]).
const TWO_600: f64 = 4.149_515_568_880_993e180;

/// ¼·Σ (p + q)·[g(δ) + g(−δ)] of sixteen lanes (two halves) added to `acc`, with
/// p = e^{(a − m_a) − l_a}, q = e^{(b − m_b) − l_b} and g(f) = (1 + f)·ln(1 + f) − f from
/// [`crate::simd::log1p::log1p_g16`] (1 ± δ passed as their own quotients 2p/(p+q),
/// 2q/(p+q), so neither side loses digits where p ≪ q).
#[inline(always)]
fn js_step<V: F8>(acc: &mut [V; 2], x: [V; 2], y: [V; 2], k: [[V; 4]; 2], f32_logs: bool) {
    // Written out, not `std::array::from_fn(|h| …)`: that closure was not inlined, and a
    // closure is compiled without the SIMD caller's target features, so every vector
    // operation in it was a call — rows of more than 16 logits ran at ~200 ns a logit
    // (60–110× logsumexp; `tests/test_simd_inlining.py` now watches for such calls).
    let p = [
        exp(x[0].sub(k[0][0]).sub(k[0][1])),
        exp(x[1].sub(k[1][0]).sub(k[1][1])),
    ];
    let q = [
        exp(y[0].sub(k[0][2]).sub(k[0][3])),
        exp(y[1].sub(k[1][2]).sub(k[1][3])),
    ];
    js_pair_terms(acc, p, q, f32_logs);
}

/// Whether JS terms of rows of `T` against rows of `U` take [`log1p_g16`]'s f32 form: float32
/// logits on both sides (DESIGN §2b). p, q, δ and the weights stay f64; only g(±δ) is
/// evaluated with the f32 rest polynomial, within 2e-7 of its value, and every term is
/// non-negative, so the sum is within 2e-7 of the f64 form's (the kernel tests allow 4e-7).
#[inline(always)]
fn js_f32_logs<T: Real, U: Real>() -> bool {
    T::IS_F32 && U::IS_F32
}

/// The terms of [`js_step`] from sixteen lanes' probabilities p, q; `f32_logs`: g in its f32
/// form ([`js_f32_logs`]; a constant where inlined).
#[inline(always)]
fn js_pair_terms<V: F8>(acc: &mut [V; 2], p: [V; 2], q: [V; 2], f32_logs: bool) {
    let (zero, two) = (V::splat(0.0), V::splat(2.0));
    let mut d = [zero; 2];
    let mut ra = [zero; 2];
    let mut rb = [zero; 2];
    let mut w = [zero; 2];
    for h in 0..2 {
        let (p, q) = (p[h], q[h]);
        w[h] = p.add(q);
        // tiny pairs (far tails) scaled up so 1/(p + q) stays finite
        let up = V::select(
            w[h].lt(V::splat(f64::MIN_POSITIVE * 1e16)),
            V::splat(TWO_600),
            V::splat(1.0),
        );
        let (p, q) = (p.mul(up), q.mul(up));
        let inv = V::splat(1.0).div(p.add(q));
        d[h] = p.sub(q).mul(inv);
        ra[h] = two.mul(p).mul(inv);
        rb[h] = two.mul(q).mul(inv);
    }
    let (da, db) = ((d[0], d[1]), (zero.sub(d[0]), zero.sub(d[1])));
    let ((_, (ga0, ga1)), (_, (gb0, gb1))) = if f32_logs {
        (
            log1p_g16::<V, true>(da, (ra[0], ra[1])),
            log1p_g16::<V, true>(db, (rb[0], rb[1])),
        )
    } else {
        (
            log1p_g16::<V, false>(da, (ra[0], ra[1])),
            log1p_g16::<V, false>(db, (rb[0], rb[1])),
        )
    };
    let g = [ga0.add(gb0), ga1.add(gb1)];
    for h in 0..2 {
        // p = q = 0 contributes 0 (δ is 0/0 there); NaN propagates through w
        acc[h] = acc[h].add(V::select(w[h].eq(zero), zero, w[h].mul(g[h])));
    }
}

#[inline(always)]
fn js_sum_body<V: F8, T: Real, U: Real>(a: &[T], b: &[U], norm: (f64, f64, f64, f64)) -> f64 {
    let k1 = [
        V::splat(norm.0),
        V::splat(norm.1),
        V::splat(norm.2),
        V::splat(norm.3),
    ];
    let k = [k1, k1];
    let n = a.len().min(b.len());
    let mut acc = [V::splat(0.0); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        let x = [
            V::load(a[i..i + 8].try_into().expect("8")),
            V::load(a[i + 8..i + 16].try_into().expect("8")),
        ];
        let y = [
            V::load(b[i..i + 8].try_into().expect("8")),
            V::load(b[i + 8..i + 16].try_into().expect("8")),
        ];
        js_step(&mut acc, x, y, k, js_f32_logs::<T, U>());
        i += 2 * LANES;
    }
    if i < n {
        let mut xs = [f64::NEG_INFINITY; 2 * LANES];
        let mut ys = [f64::NEG_INFINITY; 2 * LANES];
        for (j, (u, v)) in a[i..n].iter().zip(&b[i..n]).enumerate() {
            xs[j] = u.to_f64();
            ys[j] = v.to_f64();
        }
        let x = [
            V::load_f64(xs[..8].try_into().expect("8")),
            V::load_f64(xs[8..].try_into().expect("8")),
        ];
        let y = [
            V::load_f64(ys[..8].try_into().expect("8")),
            V::load_f64(ys[8..].try_into().expect("8")),
        ];
        js_step(&mut acc, x, y, k, js_f32_logs::<T, U>());
    }
    0.25 * acc[0].add(acc[1]).sum_lanes()
}

crate::simd::multiversion! {
    /// The Jensen–Shannon terms (nats) of two rows (or pieces) of logits given both rows'
    /// `(m_a, log1p(rest_a), m_b, log1p(rest_b))`: the vector form of [`js_terms`] (its
    /// scalar reference), the same non-negative terms, g from the cancellation-free
    /// [`crate::simd::log1p::log1p_g16`].
    pub fn js_sum<T: Real, U: Real>(a: &[T], b: &[U], norm: (f64, f64, f64, f64)) -> f64 = js_sum_body;
}

/// Lanes `8h..8h + 8` of a group's column.
#[inline(always)]
fn half_of<V: F8>(c: &[f64; GROUP], h: usize) -> V {
    V::load_f64(c[h * LANES..(h + 1) * LANES].try_into().expect("8"))
}

/// Rows up to this long keep their exponentials e^{x − m} from the sums pass for the terms
/// pass ([`js_group_kept`]: two exponentials per pair instead of four); longer rows
/// recompute them (their tiles would not fit a stack buffer).
const JS_KEPT_MAX: usize = 16;

/// The maxima of half `h` (lanes `8h..8h + 8`) of a group's rows of `a` and of `b`.
#[inline(always)]
fn half_maxima<V: F8>(a: &[[f64; GROUP]], b: &[[f64; GROUP]], h: usize) -> (V, V) {
    let ninf = V::splat(f64::NEG_INFINITY);
    let (mut ma, mut mb) = (ninf, ninf);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (half_of::<V>(x, h), half_of::<V>(y, h));
        ma = V::select(x.gt(ma), x, ma);
        mb = V::select(y.gt(mb), y, mb);
    }
    (ma, mb)
}

#[inline(always)]
fn js_group_body<V: F8, T: Real, U: Real>(
    a: &[[f64; GROUP]],
    b: &[[f64; GROUP]],
    out: &mut [f64; GROUP],
) {
    let f32_logs = js_f32_logs::<T, U>();
    if a.len() <= JS_KEPT_MAX && b.len() == a.len() {
        return js_group_kept::<V>(a, b, out, f32_logs);
    }
    let ninf = V::splat(f64::NEG_INFINITY);
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let mut acc = [zero; 2];
    let mut k = [[zero; 4]; 2];
    for (h, kh) in k.iter_mut().enumerate() {
        let (ma, mb) = half_maxima::<V>(a, b, h);
        let (mut sa, mut ca, mut sb, mut cb) = (zero, zero, zero, zero);
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (half_of::<V>(x, h), half_of::<V>(y, h));
            let (at_a, absent_a) = (x.eq(ma), x.eq(ninf));
            sa = sa.add(V::select(V::or(at_a, absent_a), zero, exp(x.sub(ma))));
            ca = ca.add(V::select(absent_a, zero, V::select(at_a, one, zero)));
            let (at_b, absent_b) = (y.eq(mb), y.eq(ninf));
            sb = sb.add(V::select(V::or(at_b, absent_b), zero, exp(y.sub(mb))));
            cb = cb.add(V::select(absent_b, zero, V::select(at_b, one, zero)));
        }
        // (vector log1p, ≤ 1 ULP from libm's: not one scalar call per row and side)
        let (la, lb) = (log1p_nonneg(rest_of(sa, ca)), log1p_nonneg(rest_of(sb, cb)));
        *kh = [ma, la, mb, lb];
    }
    for (x, y) in a.iter().zip(b) {
        let xs = [
            V::load_f64(x[..8].try_into().expect("8")),
            V::load_f64(x[8..16].try_into().expect("8")),
        ];
        let ys = [
            V::load_f64(y[..8].try_into().expect("8")),
            V::load_f64(y[8..16].try_into().expect("8")),
        ];
        js_step(&mut acc, xs, ys, k, f32_logs);
    }
    for h in 0..2 {
        let v = acc[h].to_array();
        for l in 0..LANES {
            out[h * LANES + l] = 0.25 * v[l];
        }
    }
}

/// [`js_group_body`] for rows of at most [`JS_KEPT_MAX`] logits: the sums pass stores each
/// e^{x − m_a}, e^{y − m_b} (as the sums take them), and the terms pass reads
/// p = e^{x − m_a} / Z_a, Z_a = 1 + rest_a, instead of exp((x − m_a) − log1p(rest_a)) —
/// the same argument's rounding, ≤ 1.5 ULP more from the quotient, and half the
/// exponentials. A row without a finite logit still gives NaN (e^{−inf − (−inf)}), −inf
/// gives p = 0.
#[inline(always)]
fn js_group_kept<V: F8>(
    a: &[[f64; GROUP]],
    b: &[[f64; GROUP]],
    out: &mut [f64; GROUP],
    f32_logs: bool,
) {
    let ninf = V::splat(f64::NEG_INFINITY);
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let n = a.len();
    let mut ea = [[0.0; GROUP]; JS_KEPT_MAX];
    let mut eb = [[0.0; GROUP]; JS_KEPT_MAX];
    // 1/Z of each half, a's and b's
    let (mut inv_a, mut inv_b) = ([zero; 2], [zero; 2]);
    for (h, (inv_a, inv_b)) in inv_a.iter_mut().zip(&mut inv_b).enumerate() {
        let (ma, mb) = half_maxima::<V>(a, b, h);
        let (mut sa, mut ca, mut sb, mut cb) = (zero, zero, zero, zero);
        let kept = ea[..n].iter_mut().zip(&mut eb[..n]);
        for ((x, y), (ea, eb)) in a.iter().zip(b).zip(kept) {
            let (x, y) = (half_of::<V>(x, h), half_of::<V>(y, h));
            let (xa, yb) = (exp(x.sub(ma)), exp(y.sub(mb)));
            let lanes = h * LANES..(h + 1) * LANES;
            xa.store_f64((&mut ea[lanes.clone()]).try_into().expect("8"));
            yb.store_f64((&mut eb[lanes]).try_into().expect("8"));
            let (at_a, absent_a) = (x.eq(ma), x.eq(ninf));
            sa = sa.add(V::select(V::or(at_a, absent_a), zero, xa));
            ca = ca.add(V::select(absent_a, zero, V::select(at_a, one, zero)));
            let (at_b, absent_b) = (y.eq(mb), y.eq(ninf));
            sb = sb.add(V::select(V::or(at_b, absent_b), zero, yb));
            cb = cb.add(V::select(absent_b, zero, V::select(at_b, one, zero)));
        }
        *inv_a = one.div(one.add(rest_of(sa, ca)));
        *inv_b = one.div(one.add(rest_of(sb, cb)));
    }
    let mut acc = [zero; 2];
    for (x, y) in ea[..n].iter().zip(&eb[..n]) {
        let p = [
            half_of::<V>(x, 0).mul(inv_a[0]),
            half_of::<V>(x, 1).mul(inv_a[1]),
        ];
        let q = [
            half_of::<V>(y, 0).mul(inv_b[0]),
            half_of::<V>(y, 1).mul(inv_b[1]),
        ];
        js_pair_terms(&mut acc, p, q, f32_logs);
    }
    for h in 0..2 {
        let v = acc[h].to_array();
        for l in 0..LANES {
            out[h * LANES + l] = 0.25 * v[l];
        }
    }
}

crate::simd::multiversion! {
    /// Jensen–Shannon divergence (nats) of the softmaxes of each of the [`GROUP`] pairs of
    /// rows of `a[c][j]`, `b[c][j]` (as [`pair_group`]): the maxima, then the sums (L1),
    /// then the terms of [`js_sum`] (rows of at most [`JS_KEPT_MAX`] logits reuse the
    /// sums' exponentials: [`js_group_kept`]). A row without a finite logit gives NaN.
    /// `T`, `U`: the element types the rows came in (float32 on both sides: the f32 form
    /// of g, [`js_f32_logs`]).
    pub fn js_group<T: Real, U: Real>(a: &[[f64; GROUP]], b: &[[f64; GROUP]], out: &mut [f64; GROUP]) -> () = js_group_body;
}

/// A partial sum of Jensen–Shannon terms (blocks of a long row, combined in order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JsSum(pub f64);

impl crate::kernels::Partial for JsSum {
    const EMPTY: Self = JsSum(0.0);
    fn combine(self, o: Self) -> Self {
        JsSum(self.0 + o.0)
    }
}

/// m·f(δ) for one pair of probabilities (see [`js_terms`]).
#[inline]
pub fn js_term(p: f64, q: f64) -> f64 {
    let s = p + q;
    if s == 0.0 {
        return 0.0;
    }
    let d = (p - q) / s;
    let m = 0.5 * s;
    let f = if d.abs() < 0.5 {
        // Σ_k δ^{2k}/(2k(2k−1)): terms fall by ≥ 4 per step; 26 terms reach 2^-53 at |δ| = 0.5.
        let d2 = d * d;
        let mut k = 26.0f64;
        let mut acc = 0.0;
        while k >= 1.0 {
            acc = d2 * (1.0 / (2.0 * k * (2.0 * k - 1.0)) + acc);
            k -= 1.0;
        }
        acc
    } else {
        // |δ| ≥ 1/2: the two halves cancel by at most a factor 4.
        // p = 0 (δ = −1) or q = 0 (δ = 1): that half is 0·log 0 = 0
        let hi = if d == -1.0 {
            0.0
        } else {
            (1.0 + d) * d.ln_1p()
        };
        let lo = if d == 1.0 {
            0.0
        } else {
            (1.0 - d) * (-d).ln_1p()
        };
        0.5 * (hi + lo)
    };
    m * f
}

/// Scalar reference of [`one_feed`] + [`OneStats::entropy`]: two passes, the same
/// non-negative terms (tests).
pub fn entropy_reference<T: Real>(z: &[T]) -> f64 {
    if z.is_empty() {
        return 0.0;
    }
    let z: Vec<f64> = z.iter().map(|v| v.to_f64()).collect();
    if z.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
    if !m.is_finite() {
        return f64::NAN;
    }
    let arg = z.iter().position(|&v| v == m).expect("a maximum");
    let (mut rest, mut w) = (0.0, 0.0);
    for (i, &v) in z.iter().enumerate() {
        if i == arg || v == f64::NEG_INFINITY {
            continue;
        }
        let e = (v - m).exp();
        rest += e;
        w += e * (m - v);
    }
    rest.ln_1p() + w / (1.0 + rest)
}

/// Scalar reference of the pair statistics: (cross-entropy, KL) (tests).
pub fn pair_reference<T: Real, U: Real>(a: &[T], b: &[U]) -> (f64, f64) {
    let a: Vec<f64> = a.iter().map(|v| v.to_f64()).collect();
    let b: Vec<f64> = b.iter().map(|v| v.to_f64()).collect();
    if a.iter().chain(&b).any(|v| v.is_nan()) {
        return (f64::NAN, f64::NAN);
    }
    let stats = |z: &[f64]| {
        let m = z.iter().fold(f64::NEG_INFINITY, |x, &v| x.max(v));
        let arg = z.iter().position(|&v| v == m).unwrap_or(0);
        let rest: f64 = z
            .iter()
            .enumerate()
            .filter(|&(i, &v)| i != arg && v != f64::NEG_INFINITY)
            .map(|(_, &v)| (v - m).exp())
            .sum();
        (m, rest)
    };
    let ((ma, ra), (mb, rb)) = (stats(&a), stats(&b));
    if !ma.is_finite() || !mb.is_finite() {
        return (f64::NAN, f64::NAN);
    }
    let (mut c, mut g) = (0.0, 0.0);
    for (&x, &y) in a.iter().zip(&b) {
        if x == f64::NEG_INFINITY {
            continue;
        }
        let e = (x - ma).exp();
        if y == f64::NEG_INFINITY {
            return (f64::INFINITY, f64::INFINITY);
        }
        c += e * (mb - y);
        g += e * ((x - y) - (ma - mb));
    }
    let ce = rb.ln_1p() + c / (1.0 + ra);
    let kl = (rb.ln_1p() - ra.ln_1p()) + g / (1.0 + ra);
    (ce, kl.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::logits as adversarial;

    fn entropy_of<T: Real>(z: &[T]) -> f64 {
        if z.is_empty() {
            return 0.0;
        }
        let mut st = OneLanes::EMPTY;
        one_feed(&mut st, z);
        st.finish().entropy()
    }

    fn pair_of<T: Real, U: Real>(a: &[T], b: &[U]) -> (f64, f64) {
        let mut st = PairLanes::EMPTY;
        pair_feed(&mut st, a, b);
        let s = st.finish();
        (s.cross_entropy(), s.kl())
    }

    fn close(got: f64, want: f64, tol: f64) -> bool {
        (got.is_nan() && want.is_nan())
            || got == want
            || ((got - want).abs() <= tol * want.abs().max(1e-300))
    }

    #[test]
    fn entropy_matches_the_reference_on_every_tail_length() {
        for n in 0..=67 {
            for seed in 0..20 {
                let z = adversarial(n, seed);
                let (got, want) = (entropy_of(&z), entropy_reference(&z));
                assert!(
                    close(got, want, 1e-13),
                    "n={n} seed={seed}: {got} vs {want} {z:?}"
                );
                let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
                let (got, want) = (entropy_of(&z32), entropy_reference(&z32));
                assert!(close(got, want, 1e-13), "f32 n={n}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn pair_matches_the_reference_on_every_tail_length() {
        for n in 0..=67 {
            for seed in 0..20 {
                let a = adversarial(n, seed);
                let b = adversarial(n, seed + 1000);
                if n == 0 {
                    continue;
                }
                let (ce, kl) = pair_of(&a, &b);
                let (ce_r, kl_r) = pair_reference(&a, &b);
                assert!(
                    close(ce, ce_r, 1e-12),
                    "ce n={n} seed={seed}: {ce} vs {ce_r}"
                );
                // KL: absolute error relative to the size of the terms
                let scale = ce_r.abs().max(1.0);
                assert!(
                    (kl.is_nan() && kl_r.is_nan())
                        || kl == kl_r
                        || (kl - kl_r).abs() <= 1e-12 * scale,
                    "kl n={n} seed={seed}: {kl} vs {kl_r}"
                );
            }
        }
    }

    #[test]
    fn confident_rows_keep_their_tiny_entropy() {
        // H([0, −t]) = p2(t + L) + p1·L with L = log1p(e^{−t}), p2 = e^{−t}/(1+e^{−t})
        for t in [40.0f64, 80.0, 300.0, 700.0] {
            let e = (-t).exp();
            let l = e.ln_1p();
            let p2 = e / (1.0 + e);
            let want = p2 * (t + l) + (1.0 - p2) * l;
            let got = entropy_of(&[0.0, -t]);
            assert!(close(got, want, 1e-14), "t={t}: {got} vs {want}");
        }
        // beyond the range of f64 the exact value underflows: 0
        assert_eq!(entropy_of(&[0.0, -800.0]), 0.0);
        assert_eq!(entropy_of(&[5.0]), 0.0);
        assert_eq!(entropy_of(&[5.0, f64::NEG_INFINITY]), 0.0);
    }

    #[test]
    fn special_rows() {
        let ninf = f64::NEG_INFINITY;
        assert!(entropy_of(&[ninf, ninf]).is_nan());
        assert!(entropy_of(&[0.0, f64::NAN]).is_nan());
        assert!(entropy_of(&[0.0, f64::INFINITY]).is_nan());
        assert_eq!(entropy_of(&[1.0, 1.0]), std::f64::consts::LN_2);
        let (ce, kl) = pair_of(&[0.0, 0.0], &[0.0, ninf]);
        assert_eq!((ce, kl), (f64::INFINITY, f64::INFINITY));
        let (ce, kl) = pair_of(&[0.0, ninf], &[0.0, 0.0]);
        assert_eq!(ce, std::f64::consts::LN_2);
        assert_eq!(kl, std::f64::consts::LN_2);
        let (_, kl) = pair_of(&[ninf, ninf], &[0.0, 0.0]);
        assert!(kl.is_nan());
        let z = adversarial(67, 3);
        assert_eq!(pair_of(&z, &z).1, 0.0);
    }

    #[test]
    fn pieces_give_the_same_bits_as_one_call() {
        let z = adversarial(1000, 9);
        let y = adversarial(1000, 10);
        let mut st = OneLanes::EMPTY;
        let mut sp = PairLanes::EMPTY;
        for (a, b) in z.chunks(256).zip(y.chunks(256)) {
            one_feed(&mut st, a);
            pair_feed(&mut sp, a, b);
        }
        assert_eq!(st.finish().entropy(), entropy_of(&z));
        let s = sp.finish();
        let (ce, kl) = pair_of(&z, &y);
        assert_eq!(s.cross_entropy().to_bits(), ce.to_bits());
        assert_eq!(s.kl().to_bits(), kl.to_bits());
        // and with b finite everywhere (finite values)
        let y2: Vec<f64> = y
            .iter()
            .map(|&v| if v.is_finite() { v } else { -3.0 })
            .collect();
        let mut sp = PairLanes::EMPTY;
        for (a, b) in z.chunks(256).zip(y2.chunks(256)) {
            pair_feed(&mut sp, a, b);
        }
        let (ce, kl) = pair_of(&z, &y2);
        assert!(ce.is_finite() && kl.is_finite());
        assert_eq!(sp.finish().cross_entropy(), ce);
        assert_eq!(sp.finish().kl(), kl);
    }

    #[test]
    fn float32_groups_are_within_the_f32_contract() {
        // Entropy and cross-entropy of float32 rows (ties, −inf, gaps beyond either
        // exponential's range, tiny and huge logits) plus a NaN row, an all −inf row and
        // confident rows (entropy ~1e-12 and ~1e-30, where only the relative precision of
        // the terms counts).
        for n in 1..=40 {
            let mut rows: Vec<Vec<f32>> = (0..GROUP as u64)
                .map(|j| {
                    adversarial(n, j * 13 + n as u64)
                        .iter()
                        .map(|&v| v as f32)
                        .collect()
                })
                .collect();
            rows[3][n / 2] = f32::NAN;
            rows[4].fill(f32::NEG_INFINITY);
            rows[5].fill(-30.0);
            rows[5][0] = 0.0;
            rows[6].fill(-70.0);
            rows[6][n - 1] = 0.0;
            let z: Vec<[f64; GROUP]> = (0..n)
                .map(|c| std::array::from_fn(|j| rows[j][c] as f64))
                .collect();
            let mut h = [0.0; GROUP];
            one_group_f32(&z, &mut h);
            for (j, row) in rows.iter().enumerate() {
                let want = entropy_reference(row);
                assert!(close(h[j], want, 4e-7), "n={n} j={j}: {} vs {want}", h[j]);
            }
            // cross-entropy against the rows seven places on (every special row meets
            // ordinary ones on both sides), and a −inf in `b` under a finite `a`
            let mut other: Vec<Vec<f32>> =
                (0..GROUP).map(|j| rows[(j + 7) % GROUP].clone()).collect();
            other[9][0] = f32::NEG_INFINITY;
            let y: Vec<[f64; GROUP]> = (0..n)
                .map(|c| std::array::from_fn(|j| other[j][c] as f64))
                .collect();
            let mut ce = [0.0; GROUP];
            cross_entropy_group_f32(&z, &y, &mut ce);
            for (j, (a, b)) in rows.iter().zip(&other).enumerate() {
                let want = pair_reference(a, b).0;
                assert!(close(ce[j], want, 4e-7), "n={n} j={j}: {} vs {want}", ce[j]);
            }
        }
    }

    #[test]
    fn groups_and_combined_pieces_match_the_streaming_form() {
        use crate::kernels::Partial;
        for n in 1..=40 {
            let rows: Vec<Vec<f64>> = (0..GROUP as u64)
                .map(|j| adversarial(n, j * 7 + n as u64))
                .collect();
            let other: Vec<Vec<f64>> = (0..GROUP as u64)
                .map(|j| adversarial(n, j * 11 + 500))
                .collect();
            let t = |r: &Vec<Vec<f64>>| -> Vec<[f64; GROUP]> {
                (0..n).map(|c| std::array::from_fn(|j| r[j][c])).collect()
            };
            let (za, zb) = (t(&rows), t(&other));
            let mut h = [0.0; GROUP];
            one_group(&za, &mut h);
            let (mut ce, mut kl) = ([0.0; GROUP], [0.0; GROUP]);
            pair_group(&za, &zb, PairValue::CrossEntropy, false, &mut ce);
            pair_group(&za, &zb, PairValue::Kl, false, &mut kl);
            for j in 0..GROUP {
                let want = entropy_reference(&rows[j]);
                assert!(close(h[j], want, 1e-13), "n={n} j={j}: {} vs {want}", h[j]);
                let (c, k) = pair_reference(&rows[j], &other[j]);
                assert!(close(ce[j], c, 1e-12), "ce n={n} j={j}: {} vs {c}", ce[j]);
                assert!(
                    (kl[j].is_nan() && k.is_nan())
                        || kl[j] == k
                        || (kl[j] - k).abs() <= 1e-12 * c.abs().max(1.0),
                    "kl n={n} j={j}: {} vs {k}",
                    kl[j]
                );
                // pieces of 8 fed separately and combined as partials
                let (mut one, mut pair) = (OneLanes::EMPTY, PairLanes::EMPTY);
                for (x, y) in rows[j].chunks(8).zip(other[j].chunks(8)) {
                    let (mut o, mut p) = (OneLanes::EMPTY, PairLanes::EMPTY);
                    one_feed(&mut o, x);
                    pair_feed(&mut p, x, y);
                    one = one.combine(o);
                    pair = pair.combine(p);
                }
                assert!(close(one.finish().entropy(), want, 1e-13), "combined n={n}");
                let s = pair.finish();
                assert!(
                    close(s.cross_entropy(), c, 1e-12),
                    "combined ce n={n}: {} vs {c}",
                    s.cross_entropy()
                );
                assert!(
                    (s.kl().is_nan() && k.is_nan())
                        || s.kl() == k
                        || (s.kl() - k).abs() <= 1e-12 * c.abs().max(1.0),
                    "combined kl n={n}: {} vs {k}",
                    s.kl()
                );
            }
        }
    }

    fn blocked_entropy<T: Real>(z: &[T]) -> f64 {
        if z.is_empty() {
            return 0.0;
        }
        let mut st = OneRow::EMPTY;
        one_row(&mut st, z);
        st.finish().entropy()
    }

    /// Long adversarial rows: maxima rising block after block, clean and checked blocks.
    fn long_rows() -> Vec<Vec<f64>> {
        let mut rows = Vec::new();
        for (k, n) in [300usize, 700, 1000, 2049].into_iter().enumerate() {
            rows.push(adversarial(n, 40 + k as u64));
            // ordinary logits with a slowly rising maximum (every block raises it)
            rows.push(
                (0..n)
                    .map(|i| (i as f64) * 0.01 + ((i * 7919) % 13) as f64 * 0.3)
                    .collect(),
            );
            // a confident row: one dominant value late, far tails
            let mut r: Vec<f64> = (0..n).map(|i| -60.0 - (i % 5) as f64).collect();
            r[n - 3] = 30.0;
            rows.push(r);
            // gaps straddling the f32 and f64 normal ranges
            rows.push((0..n).map(|i| -((i % 200) as f64) * 4.0).collect());
        }
        rows
    }

    #[test]
    fn blocked_entropy_matches_the_reference() {
        let mut all: Vec<Vec<f64>> = Vec::new();
        for n in 0..=67 {
            for seed in 0..20 {
                all.push(adversarial(n, seed));
            }
        }
        all.extend(long_rows());
        let ninf = f64::NEG_INFINITY;
        all.push(vec![ninf; 40]);
        all.push(vec![ninf, ninf, 1.0, f64::NAN]);
        all.push(vec![0.0, f64::INFINITY]);
        all.push(vec![-1e308, 1e308, 0.0]);
        for z in &all {
            let (got, want) = (blocked_entropy(z), entropy_reference(z));
            assert!(
                close(got, want, 1e-13),
                "f64 n={}: {got} vs {want} {z:?}",
                z.len()
            );
            // float32: within 1e−6 of the exact value of the f32 data (DESIGN §2b)
            let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
            let (got, want) = (blocked_entropy(&z32), entropy_reference(&z32));
            assert!(
                close(got, want, 1e-6),
                "f32 n={}: {got} vs {want} {z32:?}",
                z.len()
            );
        }
        let special = |z: &[f64]| {
            let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
            (blocked_entropy(z), blocked_entropy(&z32))
        };
        let (a, b) = special(&[ninf; 70]);
        assert!(a.is_nan() && b.is_nan());
        let (a, b) = special(&[0.0, f64::INFINITY, 1.0]);
        assert!(a.is_nan() && b.is_nan());
        let (a, b) = special(&[1.0, 1.0]);
        assert_eq!((a, b), (std::f64::consts::LN_2, std::f64::consts::LN_2));
        // a confident row keeps its tiny entropy in both types
        for t in [40.0f64, 80.0] {
            let want = entropy_reference(&[0.0, -t]);
            let (a, b) = special(&[0.0, -t]);
            assert!(
                close(a, want, 1e-14) && close(b, want, 1e-6),
                "t={t}: {a} {b} vs {want}"
            );
        }
    }

    #[test]
    fn blocked_entropy_pieces_and_partials() {
        use crate::kernels::Partial;
        for z in long_rows() {
            let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
            // pieces that are multiples of BLOCK: bitwise one call
            let (mut a, mut b) = (OneRow::EMPTY, OneRow::EMPTY);
            for (p, q) in z.chunks(BLOCK).zip(z32.chunks(BLOCK)) {
                one_row(&mut a, p);
                one_row(&mut b, q);
            }
            assert_eq!(
                a.finish().entropy().to_bits(),
                blocked_entropy(&z).to_bits()
            );
            assert_eq!(
                b.finish().entropy().to_bits(),
                blocked_entropy(&z32).to_bits()
            );
            // any pieces combined as partials: the reference to rounding
            for piece in [1usize, 7, 100, 333] {
                let (mut a, mut b) = (OneRow::EMPTY, OneRow::EMPTY);
                for (p, q) in z.chunks(piece).zip(z32.chunks(piece)) {
                    let (mut x, mut y) = (OneRow::EMPTY, OneRow::EMPTY);
                    one_row(&mut x, p);
                    one_row(&mut y, q);
                    a = a.combine(x);
                    b = b.combine(y);
                }
                let want = entropy_reference(&z);
                assert!(close(a.finish().entropy(), want, 1e-13), "piece {piece}");
                assert!(
                    close(b.finish().entropy(), entropy_reference(&z32), 1e-6),
                    "f32 piece {piece}"
                );
            }
        }
    }

    fn blocked_pair<T: Real>(a: &[T], b: &[T]) -> (f64, f64) {
        let mut st = PairRow::EMPTY;
        pair_row(&mut st, a, b);
        let s = st.finish();
        (s.cross_entropy(), s.kl())
    }

    fn pair_close(got: (f64, f64), want: (f64, f64), tol: f64) -> bool {
        let scale = want.0.abs().max(1.0);
        close(got.0, want.0, tol)
            && ((got.1.is_nan() && want.1.is_nan())
                || got.1 == want.1
                || (got.1 - want.1).abs() <= tol * scale)
    }

    #[test]
    fn blocked_pairs_match_the_reference() {
        let mut all: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
        for n in 1..=67 {
            for seed in 0..20 {
                all.push((adversarial(n, seed), adversarial(n, seed + 1000)));
            }
        }
        let long = long_rows();
        for (i, z) in long.iter().enumerate() {
            let other = &long[(i + 1) % long.len()];
            if other.len() == z.len() {
                all.push((z.clone(), other.clone()));
            }
            let shifted: Vec<f64> = z.iter().map(|&v| v * 0.9 - 1.0).collect();
            all.push((z.clone(), shifted));
        }
        let ninf = f64::NEG_INFINITY;
        all.push((vec![0.0, 0.0], vec![0.0, ninf]));
        all.push((vec![0.0, ninf], vec![0.0, 0.0]));
        all.push((vec![ninf; 40], vec![0.0; 40]));
        all.push((vec![0.0, f64::NAN], vec![0.0, 1.0]));
        all.push((vec![0.0, 1.0], vec![f64::INFINITY, 1.0]));
        for (a, b) in &all {
            let (got, want) = (blocked_pair(a, b), pair_reference(a, b));
            assert!(
                pair_close(got, want, 1e-12),
                "f64 n={}: {got:?} vs {want:?}",
                a.len()
            );
            let (a32, b32): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|&v| v as f32).collect(),
                b.iter().map(|&v| v as f32).collect(),
            );
            let (got, want) = (blocked_pair(&a32, &b32), pair_reference(&a32, &b32));
            assert!(
                pair_close(got, want, 1e-6),
                "f32 n={}: {got:?} vs {want:?}",
                a.len()
            );
        }
        // equal logits: KL exactly 0, in both types
        for z in long.iter().chain([adversarial(67, 3)].iter()) {
            assert_eq!(blocked_pair(z, z).1, 0.0);
            let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
            assert_eq!(blocked_pair(&z32, &z32).1, 0.0);
        }
    }

    #[test]
    fn blocked_pair_pieces_and_partials() {
        use crate::kernels::Partial;
        let long = long_rows();
        for z in &long {
            let y: Vec<f64> = z.iter().rev().map(|&v| v * 0.5 + 0.25).collect();
            let (z32, y32): (Vec<f32>, Vec<f32>) = (
                z.iter().map(|&v| v as f32).collect(),
                y.iter().map(|&v| v as f32).collect(),
            );
            let mut st = PairRow::EMPTY;
            let mut st32 = PairRow::EMPTY;
            for ((p, q), (p32, q32)) in z
                .chunks(BLOCK)
                .zip(y.chunks(BLOCK))
                .zip(z32.chunks(BLOCK).zip(y32.chunks(BLOCK)))
            {
                pair_row(&mut st, p, q);
                pair_row(&mut st32, p32, q32);
            }
            let one = blocked_pair(z, &y);
            assert_eq!(st.finish().cross_entropy().to_bits(), one.0.to_bits());
            assert_eq!(st.finish().kl().to_bits(), one.1.to_bits());
            let one32 = blocked_pair(&z32, &y32);
            assert_eq!(st32.finish().cross_entropy().to_bits(), one32.0.to_bits());
            for piece in [1usize, 9, 100, 333] {
                let (mut a, mut b) = (PairRow::EMPTY, PairRow::EMPTY);
                for ((p, q), (p32, q32)) in z
                    .chunks(piece)
                    .zip(y.chunks(piece))
                    .zip(z32.chunks(piece).zip(y32.chunks(piece)))
                {
                    let (mut x, mut w) = (PairRow::EMPTY, PairRow::EMPTY);
                    pair_row(&mut x, p, q);
                    pair_row(&mut w, p32, q32);
                    a = a.combine(x);
                    b = b.combine(w);
                }
                let (sa, sb) = (a.finish(), b.finish());
                let want = pair_reference(z, &y);
                assert!(
                    pair_close((sa.cross_entropy(), sa.kl()), want, 1e-12),
                    "piece {piece}"
                );
                let want32 = pair_reference(&z32, &y32);
                assert!(
                    pair_close((sb.cross_entropy(), sb.kl()), want32, 1e-6),
                    "f32 piece {piece}"
                );
            }
        }
    }

    #[test]
    fn js_sum_matches_the_scalar_terms() {
        let norm = |a: &[f64], b: &[f64]| {
            let s = blocked_pair(a, b);
            let _ = s;
            let mut st = PairRow::EMPTY;
            pair_row(&mut st, a, b);
            let f = st.finish();
            (f.a.max, f.a.rest.ln_1p(), f.b.max, f.b.rest.ln_1p())
        };
        let mut cases: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
        for n in 1..=67 {
            for seed in 0..20 {
                cases.push((adversarial(n, seed), adversarial(n, seed + 1000)));
                let z = adversarial(n, seed + 7);
                let near: Vec<f64> = z
                    .iter()
                    .map(|&v| if v.is_finite() { v + 1e-9 } else { v })
                    .collect();
                cases.push((z, near));
            }
        }
        for z in long_rows() {
            let y: Vec<f64> = z.iter().rev().copied().collect();
            cases.push((z, y));
        }
        for (a, b) in &cases {
            let k = norm(a, b);
            if !(k.0.is_finite() && k.2.is_finite()) {
                continue;
            }
            // p and q carry their exponentials' roundings (1 ULP, different in the two
            // implementations); for p ≈ q that is an absolute error ε in δ, so JS ≈ Σ s·δ²/4
            // moves by ~ √(JS·Σs)·ε: allowed on top of the relative bound.
            let tol = |want: f64| 1e-13 * want + 1e-15 * (want * a.len() as f64).sqrt() + 1e-300;
            let want = js_terms(a, b, k);
            let got = js_sum(a, b, k);
            assert!(
                (got - want).abs() <= tol(want),
                "n={}: {got} vs {want}",
                a.len()
            );
            let (a32, b32): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|&v| v as f32).collect(),
                b.iter().map(|&v| v as f32).collect(),
            );
            // float32 rows take g's f32 form (each non-negative term within 2e-7)
            let got = js_sum(&a32, &b32, k);
            let want = js_terms(&a32, &b32, k);
            assert!(
                (got - want).abs() <= tol(want) + 4e-7 * want,
                "f32 n={}: {got} vs {want}",
                a.len()
            );
        }
        // NaN propagates; equal rows give exactly 0
        let k = (0.0, 0.0, 0.0, 0.0);
        assert!(js_sum(&[0.0, f64::NAN], &[0.0, 0.0], k).is_nan());
        let z = adversarial(67, 5);
        let kz = norm(&z, &z);
        assert_eq!(js_sum(&z, &z, kz), 0.0);
    }

    #[test]
    fn js_groups_match_the_scalar_terms() {
        for n in 1..=40 {
            let rows: Vec<Vec<f64>> = (0..GROUP as u64)
                .map(|j| adversarial(n, j * 5 + n as u64))
                .collect();
            let other: Vec<Vec<f64>> = (0..GROUP as u64)
                .map(|j| adversarial(n, j * 13 + 900))
                .collect();
            let t = |r: &Vec<Vec<f64>>| -> Vec<[f64; GROUP]> {
                (0..n).map(|c| std::array::from_fn(|j| r[j][c])).collect()
            };
            let mut out = [0.0; GROUP];
            js_group::<f64, f64>(&t(&rows), &t(&other), &mut out);
            let to32 = |r: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
                r.iter()
                    .map(|row| row.iter().map(|&v| v as f32 as f64).collect())
                    .collect()
            };
            let (rows32, other32) = (to32(&rows), to32(&other));
            let mut out32 = [0.0; GROUP];
            js_group::<f32, f32>(&t(&rows32), &t(&other32), &mut out32);
            // float32 rows: g's f32 form, each non-negative term within 2e-7
            let checks = [
                (&rows, &other, &out, 0.0),
                (&rows32, &other32, &out32, 4e-7),
            ];
            for (j, (rows, other, out, rel)) in (0..GROUP).flat_map(|j| checks.map(|c| (j, c))) {
                let (a, b) = (&rows[j], &other[j]);
                let (ce, _) = pair_reference(a, b);
                let mut st = PairRow::EMPTY;
                pair_row(&mut st, a, b);
                let f = st.finish();
                let want = if f.a.max.is_finite() && f.b.max.is_finite() && !ce.is_nan() {
                    js_terms(a, b, (f.a.max, f.a.rest.ln_1p(), f.b.max, f.b.rest.ln_1p()))
                } else {
                    f64::NAN
                };
                let tol = (1e-12 + rel) * want + 1e-15 * (want * n as f64).sqrt() + 1e-300;
                assert!(
                    (out[j].is_nan() && want.is_nan()) || (out[j] - want).abs() <= tol,
                    "n={n} j={j} (f32 form: {}): {} vs {want} {a:?} {b:?}",
                    rel > 0.0,
                    out[j]
                );
            }
        }
    }

    #[test]
    fn js_terms_are_exact_near_equal_and_far() {
        // f(δ) by both forms agree where both are accurate
        for d in [0.5f64, 0.6, 0.9, 0.999] {
            let (p, q) = (1.0 + d, 1.0 - d);
            let closed = 0.5 * ((1.0 + d) * d.ln_1p() + (1.0 - d) * (-d).ln_1p());
            assert!(close(js_term(p, q), closed, 1e-14));
        }
        // small δ: δ²/2 leading
        let d = 1.0 / (1u64 << 30) as f64;
        assert!(close(js_term(1.0 + d, 1.0 - d), d * d / 2.0, 1e-15));
        assert_eq!(js_term(0.3, 0.3), 0.0);
        assert!(close(
            js_term(1.0, 0.0),
            0.5 * std::f64::consts::LN_2,
            1e-15
        ));
        assert!(close(
            js_term(0.0, 1.0),
            0.5 * std::f64::consts::LN_2,
            1e-15
        ));
        assert_eq!(js_term(0.0, 0.0), 0.0);
    }
}
