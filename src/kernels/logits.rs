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

use super::{Real, GROUP, LANES};
use crate::simd::exp::exp;
use crate::simd::vector::{Scalar8, F8};

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

    /// KL(softmax a ‖ softmax b) = log1p(rest_b) − log1p(rest_a) + G/(1 + rest_a), ≥ 0.
    pub fn kl(&self) -> f64 {
        if !self.defined() {
            return f64::NAN;
        }
        let v = (self.b.rest.ln_1p() - self.a.rest.ln_1p()) + self.g / (1.0 + self.a.rest);
        if self.zero_q && !v.is_nan() {
            f64::INFINITY
        } else if v < 0.0 {
            0.0
        } else {
            v
        }
    }
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
fn load_tail<V: F8, T: Real>(x: &[T]) -> V {
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
        let (m, s, cnt, w) = (m.to_array(), s.to_array(), cnt.to_array(), w.to_array());
        #[allow(clippy::needless_range_loop)] // parallel arrays: an index reads clearest
        for l in 0..LANES {
            let stats = OneStats {
                max: m[l],
                rest: rest(s[l], cnt[l]),
                w: w[l],
            };
            out[h * LANES + l] = stats.entropy();
        }
    }
}

crate::simd::multiversion! {
    /// Entropy (nats) of softmax of each of the [`GROUP`] rows of `z[c][j]` (zero-padded
    /// lanes give values the caller ignores; every row has `z.len()` elements).
    pub fn one_group<>(z: &[[f64; GROUP]], out: &mut [f64; GROUP]) -> () = one_group_body;
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
    out: &mut [f64; GROUP],
) {
    let ninf = V::splat(f64::NEG_INFINITY);
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
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
        let arr = |v: V| v.to_array();
        let (ma, mb, sa, ca, sb, cb) = (arr(ma), arr(mb), arr(sa), arr(ca), arr(sb), arr(cb));
        let (c_sum, g_sum, zq) = (arr(c_sum), arr(g_sum), arr(zq));
        #[allow(clippy::needless_range_loop)] // parallel arrays: an index reads clearest
        for l in 0..LANES {
            let stats = PairStats {
                a: OneStats {
                    max: ma[l],
                    rest: rest(sa[l], ca[l]),
                    w: 0.0,
                },
                b: OneStats {
                    max: mb[l],
                    rest: rest(sb[l], cb[l]),
                    w: 0.0,
                },
                c: c_sum[l],
                g: g_sum[l],
                zero_q: zq[l] > 0.0,
            };
            out[h * LANES + l] = match value {
                PairValue::CrossEntropy => stats.cross_entropy(),
                PairValue::Kl => stats.kl(),
            };
        }
    }
}

crate::simd::multiversion! {
    /// Cross-entropy or KL (nats) of softmax of each of the [`GROUP`] pairs of rows of
    /// `a[c][j]`, `b[c][j]` (as [`one_group`]).
    pub fn pair_group<>(a: &[[f64; GROUP]], b: &[[f64; GROUP]], value: PairValue, out: &mut [f64; GROUP]) -> () = pair_group_body;
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

    /// Adversarial logits: ties, −inf, huge, tiny gaps, one dominant value.
    fn adversarial(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match (s >> 60) % 8 {
                    0 => f64::NEG_INFINITY,
                    1 => 3.0,
                    2 => -700.0 - (s % 50) as f64,
                    3 => 1e-300 * (i as f64),
                    4 => ((s >> 20) % 1000) as f64 / 37.0 - 10.0,
                    5 => -40.0,
                    6 => 1e4 + (s % 7) as f64,
                    _ => -(((s >> 11) % 90) as f64),
                }
            })
            .collect()
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
            pair_group(&za, &zb, PairValue::CrossEntropy, &mut ce);
            pair_group(&za, &zb, PairValue::Kl, &mut kl);
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
