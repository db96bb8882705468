//! Pure slice kernels: each reduces one contiguous block of a distribution to partial
//! statistics that combine by addition. No Python, no threads: `parallel` decides which
//! blocks exist, `measures` turns the partials into the quantity.
//!
//! Every kernel has a plain scalar `reference` beside its vectorised body, and tests that
//! compare the two on adversarial values and on every tail length 0..=67.

pub mod bce;
pub mod block;
pub mod calibration;
pub mod counts;
pub mod double_double;
pub mod ensemble;
pub mod ensemble_f32;
pub mod ensemble_reference;
pub mod f32_tiles;
pub mod js;
pub mod js_f32;
pub mod js_pairs_f32;
pub mod js_phi_f32;
pub mod js_triples_f32;
pub mod kl;
pub mod kl_f32;
pub mod kl_pairs_f32;
pub mod kl_triples_f32;
pub mod logits;
pub mod logits_kl;
pub mod logits_kl_two;
pub mod logits_wide;
pub mod neg_log;
pub mod pairs_f32;
pub mod plogq;
pub mod plogq_raw;
pub mod short_rows_f32;
pub mod softmax;
pub mod softmax_f32;
pub mod softmax_rows;
pub mod triples_f32;
pub mod two_pass;
pub mod xlogx;

use std::mem::MaybeUninit;

use crate::simd::vector::F8;

/// Width of the lane blocks the kernels are written in: one AVX-512 register of f64,
/// two AVX2 registers, four SSE2/NEON registers.
pub const LANES: usize = 8;

/// Rows per vertical group (lane = row): two f64 vectors, one f32 vector. Short rows are
/// handed to the kernels transposed, `[element][row]`, this many rows at a time.
pub const GROUP: usize = 16;

/// How far ahead (elements) a read of the (C, N) layout along axis 0 asks for each class
/// row, group after group (the engine's fill and [`f32_tiles`]' float32 tiles): two groups
/// — far enough to hide the memory's latency behind a group's arithmetic, near enough that
/// C rows' worth of lines stay in the cache until read.
pub const COLUMNS_AHEAD: usize = 2 * GROUP;

pub use crate::simd::element::Real;

/// Elements per leaf of the pairwise sums (sixteen steps of sixteen lanes).
pub const LEAF: usize = 256;

/// A binary counter of partials: push leaves in order, equal-size neighbours merge. The
/// same combination tree as [`pairwise`], for callers that produce leaves one at a time.
///
/// PERF: the slots start uninitialised. Filled with `P::EMPTY`, creating the counter was a
/// `memcpy` of 48 partials (~5 KiB for KL's `OnePass`) per row: 7–10% of a one-thread
/// (10^5, 256) float32 `kl_divergence` in `perf`, whose rows are one leaf each.
pub struct PairwiseStack<P> {
    /// Slots `..depth` hold the pending partials and their levels; the rest are unwritten.
    stack: [MaybeUninit<(P, u32)>; 48],
    depth: usize,
}

impl<P: Partial> PairwiseStack<P> {
    /// An empty counter.
    #[inline]
    pub fn new() -> Self {
        PairwiseStack {
            stack: [MaybeUninit::uninit(); 48],
            depth: 0,
        }
    }

    /// The pending partial at `i` (below `depth`).
    #[inline(always)]
    fn slot(&self, i: usize) -> (P, u32) {
        assert!(i < self.depth);
        // SAFETY: every slot below `depth` was written by `push` (the only place `depth`
        // grows, right after writing slot `depth`), and `P: Copy`, so reading it out
        // leaves it valid; `i < depth` is asserted above.
        unsafe { self.stack[i].assume_init() }
    }

    /// Adds the next leaf.
    #[inline]
    pub fn push(&mut self, leaf: P) {
        let mut part = (leaf, 0u32);
        while self.depth > 0 && self.slot(self.depth - 1).1 == part.1 {
            let below = self.slot(self.depth - 1);
            self.depth -= 1;
            part = (below.0.combine(part.0), part.1 + 1);
        }
        // 48 levels hold 2^48 leaves: more than any slice has.
        self.stack[self.depth] = MaybeUninit::new(part);
        self.depth += 1;
    }

    /// The combination of every leaf pushed.
    pub fn total(&self) -> P {
        let mut total = P::EMPTY;
        for i in (0..self.depth).rev() {
            total = self.slot(i).0.combine(total);
        }
        total
    }
}

impl<P: Partial> Default for PairwiseStack<P> {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `leaf(start, end)` over `0..len` in leaves of [`LEAF`] elements and combines the
/// leaves pairwise (a binary counter: equal-size neighbours merge), so a sum carries
/// ~(LEAF/16 + log₂ n) roundings instead of ~n/16. The tree depends only on `len`, so
/// feeding the same elements leaf by leaf (gathered pieces) gives the same bits.
#[inline(always)]
pub fn pairwise<P: Partial>(len: usize, mut leaf: impl FnMut(usize, usize) -> P) -> P {
    let mut stack = PairwiseStack::new();
    let mut start = 0;
    while start < len {
        let end = (start + LEAF).min(len);
        stack.push(leaf(start, end));
        start = end;
    }
    stack.total()
}

/// [`pairwise`] as a macro: `$leaf` is a block over `$start..$end`, expanded in place. Kernel
/// bodies must use this form: a closure is compiled as a function of its own, outside the
/// caller's `#[target_feature]` context, so the intrinsics in it would not be inlined
/// (measured: 20x slower).
macro_rules! pairwise_leaves {
    ($len:expr, |$start:ident, $end:ident| $leaf:block) => {{
        let mut stack = $crate::kernels::PairwiseStack::new();
        let len: usize = $len;
        let mut $start = 0usize;
        while $start < len {
            let $end = ($start + $crate::kernels::LEAF).min(len);
            stack.push($leaf);
            $start = $end;
        }
        stack.total()
    }};
}
pub(crate) use pairwise_leaves;

/// Partial statistics of a block: an identity and an exact, fixed-order combination.
pub trait Partial: Copy + Send + Sync {
    /// The statistics of an empty block.
    const EMPTY: Self;
    /// The statistics of two adjacent blocks (`self` first).
    fn combine(self, other: Self) -> Self;
}

/// Smaller of two values, ignoring NaN in `v` (NaN never compares below).
#[inline(always)]
pub(crate) fn min_ignoring_nan(m: f64, v: f64) -> f64 {
    if v < m {
        v
    } else {
        m
    }
}

/// Lane accumulators of a one-input kernel. `add` must be `#[inline(always)]`: it is the
/// loop body and must compile inside the caller's `#[target_feature]` context.
pub(crate) trait Accumulate<V: F8> {
    fn add(&mut self, x: V);
}

/// Lane accumulators of a two-input kernel (see [`Accumulate`]).
pub(crate) trait AccumulatePair<V: F8> {
    fn add(&mut self, p: V, q: V);
}

/// Feeds `x` to `acc` eight values at a time, widened to f64; the last, short block is
/// padded with zeros (every kernel's terms vanish at 0), so tails take the same vector
/// path as the body instead of a scalar loop.
#[inline(always)]
pub(crate) fn for_each_block<V: F8, T: Real>(x: &[T], acc: &mut impl Accumulate<V>) {
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        acc.add(V::load(chunk.try_into().expect("chunks_exact gives 8")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        acc.add(V::load_padded(rest));
    }
}

/// [`for_each_block`] over two equally long slices read in step (the shorter length wins).
#[inline(always)]
pub(crate) fn for_each_block_pair<V: F8, T: Real, U: Real>(
    p: &[T],
    q: &[U],
    acc: &mut impl AccumulatePair<V>,
) {
    debug_assert_eq!(p.len(), q.len());
    let n = p.len().min(q.len());
    let (p, q) = (&p[..n], &q[..n]);
    let mut pc = p.chunks_exact(LANES);
    let mut qc = q.chunks_exact(LANES);
    for (a, b) in (&mut pc).zip(&mut qc) {
        acc.add(
            V::load(a.try_into().expect("8")),
            V::load(b.try_into().expect("8")),
        );
    }
    if !pc.remainder().is_empty() {
        acc.add(
            V::load_padded(pc.remainder()),
            V::load_padded(qc.remainder()),
        );
    }
}

/// Test inputs shared by the kernel tests: zeros, subnormals, ±inf, NaN, huge and tiny
/// values, negatives.
#[cfg(test)]
pub(crate) mod adversarial {
    /// Values that break naive kernels.
    pub const SPECIALS: [f64; 14] = [
        0.0,
        -0.0,
        5e-324,
        1e-310,
        2.2250738585072014e-308,
        1e-300,
        1e-30,
        0.25,
        1.0,
        3.5,
        1e30,
        1e300,
        1.7976931348623157e308,
        f64::INFINITY,
    ];

    /// Rows of `len` float32 values back to back (p and q), read in place and as the
    /// (len, n) arrays of the same rows along axis 0 (`pc`, `qc`: [`column_major`]): the
    /// two [`super::block::Block`] layouts a float32 tile form reads.
    pub fn row_and_column_blocks<'a>(
        (p, q): (&'a [f32], &'a [f32]),
        (pc, qc): (&'a [f32], &'a [f32]),
        n: usize,
    ) -> [(super::block::Block<'a, f32>, super::block::Block<'a, f32>); 2] {
        use super::block::Block;
        [
            (Block::Rows(p), Block::Rows(q)),
            (
                Block::Columns {
                    values: pc,
                    stride: n,
                },
                Block::Columns {
                    values: qc,
                    stride: n,
                },
            ),
        ]
    }

    /// The (len, n) array of `x`'s n rows of `len` values back to back.
    pub fn column_major(x: &[f32], len: usize) -> Vec<f32> {
        let n = x.len() / len;
        (0..len * n).map(|i| x[(i % n) * len + i / n]).collect()
    }

    /// Distance in units in the last place between two finite doubles of the same sign.
    pub fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// The xorshift64 stream the generators below draw from (any seed, 0 included).
    pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    /// Adversarial logits: ties, −inf, huge, tiny gaps, one dominant value.
    pub fn logits(n: usize, seed: u64) -> Vec<f64> {
        let mut next = xorshift(seed);
        (0..n)
            .map(|i| {
                let s = next();
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

    /// A deterministic pseudo-random positive sequence of length `n` with a mix of scales.
    pub fn positive(n: usize, seed: u64) -> Vec<f64> {
        let mut next = xorshift(seed);
        (0..n)
            .map(|_| {
                let s = next();
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                if s.is_multiple_of(5) {
                    0.0
                } else {
                    u * 10f64.powi((s % 7) as i32 - 3)
                }
            })
            .collect()
    }

    /// Group kernels take eight lanes for at most eight rows and sixteen otherwise: the
    /// same row gives the same bits either way (each row alone against all sixteen in one
    /// group), for f64 and f32 data, normalised and raw, rows of 3 to 17 elements with
    /// zeros and special values.
    pub fn check_rows_alone_match_full_groups(
        run: impl Fn(
            bool,
            bool,
            &[[f64; super::GROUP]],
            &[[f64; super::GROUP]],
            &mut [f64],
            &mut [bool],
        ),
    ) {
        const G: usize = super::GROUP;
        for len in [3usize, 5, 10, 17] {
            let rows: Vec<(Vec<f64>, Vec<f64>)> = (0..G)
                .map(|j| {
                    let mut p = positive(len, 7 * j as u64 + len as u64);
                    let q = positive(len, 1000 + j as u64);
                    if j % 5 == 4 {
                        p[j % len] = SPECIALS[j % SPECIALS.len()];
                    }
                    (p, q.iter().map(|&v| v + 1e-3).collect())
                })
                .collect();
            for f32_data in [false, true] {
                let cast = |v: f64| if f32_data { v as f32 as f64 } else { v };
                let tile = |side: usize, js: &[usize]| {
                    let mut t = vec![[0.0; G]; len];
                    for (lane, &j) in js.iter().enumerate() {
                        let row = if side == 0 { &rows[j].0 } else { &rows[j].1 };
                        for c in 0..len {
                            t[c][lane] = cast(row[c]);
                        }
                    }
                    t
                };
                let all: Vec<usize> = (0..G).collect();
                let (pt, qt) = (tile(0, &all), tile(1, &all));
                for normalize in [true, false] {
                    let (mut full, mut full_regular) = (vec![0.0; G], vec![true; G]);
                    run(f32_data, normalize, &pt, &qt, &mut full, &mut full_regular);
                    for j in 0..G {
                        let (pa, qa) = (tile(0, &[j]), tile(1, &[j]));
                        let (mut alone, mut alone_regular) = ([0.0], [true]);
                        run(
                            f32_data,
                            normalize,
                            &pa,
                            &qa,
                            &mut alone,
                            &mut alone_regular,
                        );
                        assert_eq!(alone_regular[0], full_regular[j], "row {j} of {len}");
                        if full_regular[j] {
                            assert_eq!(
                                alone[0].to_bits(),
                                full[j].to_bits(),
                                "row {j} of {len}, f32 {f32_data}, normalize {normalize}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Two-element (p, q) rows for the closed forms: every special value (and NaN, a
    /// negative) in every place, dominant shares on either side, near-equal rows, at
    /// several scales.
    pub fn two_element_rows() -> Vec<([f64; 2], [f64; 2])> {
        let mut values: Vec<f64> = SPECIALS.to_vec();
        values.extend([f64::NAN, -1.0, 0.3, 0.7, 1.0 + 1e-15, 1e-16, 2e-300, 1e150]);
        let mut rows = pairs_of_pairs(&values);
        for i in 0..60 {
            let t = 10f64.powf(-(i as f64) * 0.3);
            for (sp, sq) in [
                (1.0, 1.0),
                (2f64.powi(-470), 2f64.powi(400)),
                (1e140, 1e-140),
            ] {
                rows.push(([sp, t * sp], [t * sq, sq]));
                rows.push(([t * sp, sp], [0.5 * sq, sq]));
                rows.push((
                    [0.3 * sp, 0.7 * sp],
                    [(0.3 + t * 0.1) * sq, (0.7 - t * 0.1) * sq],
                ));
            }
        }
        rows
    }

    /// Two-element (p, q) rows of `values`: every value in both places of p, with q's
    /// pair rotated through the list (so every value meets every place and orientation
    /// without all pairs of pairs).
    pub fn pairs_of_pairs(values: &[f64]) -> Vec<([f64; 2], [f64; 2])> {
        let mut rows = Vec::new();
        for (i, &a) in values.iter().enumerate() {
            for &b in values {
                for k in 0..4 {
                    let c = values[(i + 3 * k) % values.len()];
                    let d = values[(i + 5 * k + 1) % values.len()];
                    rows.push(([a, b], [c, d]));
                }
            }
        }
        rows
    }

    /// The two-element closed form of the cross-entropy in f64 with libm logarithms
    /// (a scalar reference): q's pair oriented so that c ≥ d, s = d/c, w = b/(a + b),
    /// H = log1p(s) + w·ln(1/s); +inf where d = 0 < b. For rows the forms take (no
    /// NaN, negatives or empty totals).
    pub fn two_element_cross_entropy(p: [f64; 2], q: [f64; 2]) -> f64 {
        let ([a, b], [c, d]) = if q[1] > q[0] {
            ([p[1], p[0]], [q[1], q[0]])
        } else {
            (p, q)
        };
        let (s, w) = (d / c, b / (a + b));
        if d == 0.0 && b > 0.0 {
            f64::INFINITY
        } else if b == 0.0 {
            s.ln_1p()
        } else {
            s.ln_1p() - w * s.ln()
        }
    }

    /// Equal two-element distributions (the first of each triple), and one pair of
    /// distributions at two power-of-two scales (the second and third), all inside the
    /// closed forms' range.
    pub fn two_element_scaled_triples() -> Vec<([f64; 2], [f64; 2])> {
        let mut rows = Vec::new();
        for &(x, y) in &[(0.3, 0.7), (1.0, 1e-40), (5.0, 3.0), (1e-30, 1.0)] {
            for k in [-300, -50, 0, 3, 300] {
                let s = 2f64.powi(k);
                rows.push(([x, y], [x * s, y * s]));
                rows.push(([x * s, y * s], [y, x]));
                rows.push(([x, y], [y, x]));
            }
        }
        rows
    }

    /// Whether a two-element row lies in the closed forms' range (finite, non-negative,
    /// non-zero totals, every non-zero value in [1e-144, 1e144]).
    pub fn two_element_in_range(p: [f64; 2], q: [f64; 2]) -> bool {
        p.iter()
            .chain(&q)
            .all(|&v| v == 0.0 || (1e-144..=1e144).contains(&v))
            && p[0] + p[1] > 0.0
            && q[0] + q[1] > 0.0
    }

    /// float32-representable two-element rows: shares 1 → 1e-10 against a fixed q, and
    /// near-equal rows.
    pub fn two_element_f32_rows() -> Vec<([f64; 2], [f64; 2])> {
        let f32_of = |v: f64| (v as f32) as f64;
        let mut rows = Vec::new();
        for i in 0..200 {
            let t = 10f64.powf(-(i as f64) * 0.05);
            let (a, b) = (f32_of(t), f32_of(1.0 - 0.4 * t));
            rows.push(([a, b], [f32_of(0.5 * t + 0.1), 0.5]));
            rows.push(([a, b], [f32_of(a + f32_of(1e-3 * t)), b]));
            // zeros among the other rows of a group (a zero q under mass: +inf; a zero
            // p: a term of its own), and identical rows
            let zeros = [
                ([0.0, 1.0], [f32_of(0.3), f32_of(0.7)]),
                ([f32_of(0.3), f32_of(0.7)], [0.0, 1.0]),
                ([0.0, 1.0], [0.0, 1.0]),
                ([1.0, 0.0], [f32_of(0.2), f32_of(0.8)]),
                ([f32_of(0.2), f32_of(0.8)], [1.0, 0.0]),
                ([a, b], [a, b]),
            ];
            if i % 7 == 3 {
                rows.push(zeros[(i / 7) % zeros.len()]);
            }
        }
        rows
    }

    /// Up to [`super::GROUP`] (p, q) rows of `N` elements as the group kernels take them:
    /// `pt[c][j]` is element `c` of row `j` (lanes past the rows zero).
    pub fn transposed_pairs<const N: usize>(
        rows: &[([f64; N], [f64; N])],
    ) -> (Vec<[f64; super::GROUP]>, Vec<[f64; super::GROUP]>) {
        let (mut pt, mut qt) = (vec![[0.0; super::GROUP]; N], vec![[0.0; super::GROUP]; N]);
        for (j, (pr, qr)) in rows.iter().enumerate() {
            for c in 0..N {
                (pt[c][j], qt[c][j]) = (pr[c], qr[c]);
            }
        }
        (pt, qt)
    }

    /// Runs a group kernel (`group(pt, qt, out, regular)`) over two-element rows, sixteen
    /// at a time: (value, regular) per row. Checks the lowest inputs it reports.
    pub fn through_groups(
        rows: &[([f64; 2], [f64; 2])],
        group: impl Fn(
            &[[f64; super::GROUP]],
            &[[f64; super::GROUP]],
            &mut [f64],
            &mut [bool],
        ) -> super::two_pass::Lowest,
    ) -> Vec<(f64, bool)> {
        let mut got = Vec::new();
        for chunk in rows.chunks(super::GROUP) {
            let (pt, qt) = transposed_pairs(chunk);
            let (mut out, mut regular) = (vec![0.0; chunk.len()], vec![true; chunk.len()]);
            let lo = group(&pt, &qt, &mut out, &mut regular);
            let min_p = chunk.iter().flat_map(|r| r.0).fold(f64::INFINITY, f64::min);
            let min_q = chunk.iter().flat_map(|r| r.1).fold(f64::INFINITY, f64::min);
            assert!(lo.p <= min_p && lo.q <= min_q, "{chunk:?}");
            got.extend(out.into_iter().zip(regular));
        }
        got
    }

    /// The checks every two-element closed form of a pair measure must pass, given its
    /// group form for f64 and f32 data (`group64`, `group32`: `through_groups` runners) and
    /// its general row form (`row`): in range it is taken, matches the row form to 1e-14
    /// (exactly where the value is 0 or ±inf), gives exactly 0 for equal distributions
    /// and the same bits at another power-of-two scale; f32 rows within 1e-6.
    pub fn check_two_element_closed_form(
        group64: impl Fn(&[([f64; 2], [f64; 2])]) -> Vec<(f64, bool)>,
        group32: impl Fn(&[([f64; 2], [f64; 2])]) -> Vec<(f64, bool)>,
        row: impl Fn([f64; 2], [f64; 2]) -> f64,
    ) {
        let rows = two_element_rows();
        let mut closed = 0;
        for (&(pr, qr), (value, regular)) in rows.iter().zip(group64(&rows)) {
            if two_element_in_range(pr, qr) {
                assert!(regular, "{pr:?} {qr:?} should take the closed form");
            }
            if !regular {
                continue;
            }
            closed += 1;
            let exact = row(pr, qr);
            if exact.is_infinite() || exact == 0.0 {
                assert_eq!(value, exact, "{pr:?} {qr:?}");
            } else if exact >= 1e-300 {
                assert!(
                    close(value, exact, 1e-14),
                    "{pr:?} {qr:?}: {value:e} vs row {exact:e}"
                );
            }
        }
        assert!(closed > rows.len() / 6, "{closed} of {}", rows.len());

        let rows = two_element_scaled_triples();
        let got = group64(&rows);
        for (chunk, vals) in rows.chunks(3).zip(got.chunks(3)) {
            assert_eq!(vals[0], (0.0, true), "{:?}", chunk[0]);
            assert!(vals[1].1 && vals[2].1);
            assert_eq!(vals[1].0.to_bits(), vals[2].0.to_bits(), "{chunk:?}");
        }

        let rows = two_element_f32_rows();
        for (&(pr, qr), (value, regular)) in rows.iter().zip(group32(&rows)) {
            assert!(regular, "{pr:?} {qr:?}");
            let exact = row(pr, qr);
            assert!(
                close(value, exact, 1e-6),
                "{pr:?} {qr:?}: {value:e} vs {exact:e}"
            );
        }
    }

    /// [`pairs_of_pairs`] of [`f32_values`] as float32 rows, each (p, q) followed by (p, p).
    pub fn f32_pairs_of_pairs() -> Vec<([f32; 2], [f32; 2])> {
        let v: Vec<f64> = f32_values().into_iter().map(f64::from).collect();
        let to32 = |x: [f64; 2]| x.map(|v| v as f32);
        pairs_of_pairs(&v)
            .into_iter()
            .flat_map(|(p, q)| [(to32(p), to32(q)), (to32(p), to32(p))])
            .collect()
    }

    /// Whether a two-element float32 distribution is regular for the pair forms: no NaN,
    /// negative or infinite element, a positive element.
    pub fn regular_f32_pair(x: [f32; 2]) -> bool {
        x.iter().all(|v| !v.is_nan() && *v >= 0.0 && v.is_finite()) && x[0].max(x[1]) > 0.0
    }

    /// Two-element float32 (p, q) rows for the KL and JS pair forms: pairs of pairs of
    /// [`f32_values`] and each p against itself; random rows against others, nearly equal
    /// (down to one part in 10^8), rescaled and swapped; ratios around the logarithm's
    /// threshold (P/Q near 3 and 1/3) and down past f32's range at every scale; zeros
    /// under mass.
    pub fn divergence_pair_rows() -> Vec<([f32; 2], [f32; 2])> {
        let mut rows = f32_pairs_of_pairs();
        for seed in 0..400u64 {
            let (x, y) = (positive(2, seed), positive(2, seed + 1000));
            let p = [x[0] as f32, x[1] as f32];
            let q = [y[0] as f32, y[1] as f32];
            let eps = 10f64.powi(-((seed % 9) as i32));
            let near = [(x[0] * (1.0 + eps)) as f32, x[1] as f32];
            let r = 3.0 * (1.0 + 0.01 * (seed as f64 - 200.0) / 200.0);
            let around = [(x[0] * r) as f32, x[1] as f32];
            let around5 = [(x[0] * r * 5.0 / 3.0) as f32, x[1] as f32];
            rows.extend([
                (p, q),
                (p, near),
                (near, p),
                (p, [p[0] * 8.0, p[1] * 8.0]),
                (p, [p[1], p[0]]),
                (p, around),
                (around, p),
                (p, around5),
                (around5, p),
            ]);
        }
        for i in 0..120 {
            let t = 10f64.powf(-(i as f64) * 0.4);
            for scale in [1e-30f64, 1e-3, 1.0, 7.0, 1e30] {
                let (x, y) = (scale as f32, (t * scale) as f32);
                rows.push(([x, y], [y, x]));
                rows.push(([y, x], [(0.3 * scale) as f32, x]));
                rows.push(([x, y], [x, (t * scale * 1.001) as f32]));
                rows.push(([0.0, x], [y, x]));
                rows.push(([x, y], [0.0, x]));
            }
        }
        rows
    }

    /// The float32 contract of a KL / JS pair form over `rows` with its group-form results
    /// `got`: rows it holds (`held`) are regular, non-negative and within 5e-7 of the exact
    /// row form (`exact_row`) and of the form's scalar `reference`; the others carry the
    /// exact group form's value and flag (`exact_group`). Both branches ran on more than
    /// 1000 rows (`by_log`: the row takes a logarithm), with an error of the f32 class.
    pub fn check_pair_contract(
        rows: &[([f32; 2], [f32; 2])],
        got: &[(f64, bool)],
        held: impl Fn([f32; 2], [f32; 2]) -> bool,
        by_log: impl Fn([f32; 2], [f32; 2]) -> bool,
        reference: impl Fn([f32; 2], [f32; 2]) -> f64,
        exact_row: impl Fn(&[f64], &[f64]) -> f64,
        exact_group: impl Fn(&[[f64; super::GROUP]], &[[f64; super::GROUP]], &mut [f64], &mut [bool]),
    ) {
        let (mut worst, mut held_rows, mut logs) = (0.0f64, 0, 0);
        for (&(p, q), &(value, regular)) in rows.iter().zip(got) {
            let (p64, q64) = (p.map(f64::from), q.map(f64::from));
            if !held(p, q) {
                let tile = |x: [f64; 2]| x.map(|v| [v; super::GROUP]);
                let (mut v, mut r) = ([0.0], [true]);
                exact_group(&tile(p64), &tile(q64), &mut v, &mut r);
                assert_eq!(regular, r[0], "{p:?} {q:?}");
                if r[0] {
                    assert_eq!(value.to_bits(), v[0].to_bits(), "{p:?} {q:?}");
                }
                continue;
            }
            assert!(regular, "{p:?} {q:?}");
            held_rows += 1;
            logs += usize::from(by_log(p, q));
            assert!(value >= 0.0, "{p:?} {q:?}: {value:e}");
            for want in [exact_row(&p64, &q64), reference(p, q)] {
                if want == value {
                    continue;
                }
                let err = (value - want).abs() / want;
                worst = worst.max(err);
                assert!(err <= 5e-7, "{p:?} {q:?}: {value:e} vs {want:e} ({err:e})");
            }
        }
        assert!(held_rows > rows.len() / 2, "{held_rows} of {}", rows.len());
        assert!(
            logs > 1000 && held_rows - logs > 1000,
            "{logs} of {held_rows}"
        );
        assert!(worst > 1e-8 && worst <= 5e-7, "{worst:e}");
    }

    /// A [`super::pairs_f32::PairForm`]'s adjacent entry point (rows interleaved, and as
    /// two runs) against its group form (`through_group(rows, same)`: values and regular
    /// flags, sixteen rows at a time): for every row count 0..=67 (every tail) of the rows
    /// the form holds (`held`) and for chunks of all of `all`, with q apart and q = p (the
    /// same memory), the rows it computes carry the group form's bits, it stops exactly at
    /// the first group holding a row the form does not hold, and its smallest inputs are
    /// those of the rows it did.
    pub fn check_pair_adjacent_matches_group<F: super::pairs_f32::PairForm>(
        all: &[([f32; 2], [f32; 2])],
        held: impl Fn([f32; 2], [f32; 2]) -> bool,
        through_group: impl Fn(&[([f32; 2], [f32; 2])], bool) -> Vec<(f64, bool)>,
    ) {
        use super::pairs_f32::{adjacent, Pairs};
        let mut cases: Vec<Vec<([f32; 2], [f32; 2])>> = (0..=67)
            .map(|n| {
                all.iter()
                    .filter(|r| held(r.0, r.1))
                    .take(n)
                    .copied()
                    .collect()
            })
            .collect();
        cases.extend(all.chunks(48).map(|c| c.to_vec()));
        for rows in &cases {
            for same in [false, true] {
                let rows: Vec<_> = if same {
                    rows.iter().map(|&(p, _)| (p, p)).collect()
                } else {
                    rows.clone()
                };
                let p: Vec<f32> = rows.iter().flat_map(|r| r.0).collect();
                let q: Vec<f32> = rows.iter().flat_map(|r| r.1).collect();
                let columns = |x: &[f32]| -> (Vec<f32>, Vec<f32>) {
                    (
                        x.iter().step_by(2).copied().collect(),
                        x.iter().skip(1).step_by(2).copied().collect(),
                    )
                };
                let (p1, p2) = columns(&p);
                let (q1, q2) = columns(&q);
                let want = through_group(&rows, same);
                for layout in 0..2 {
                    let mut out = vec![f64::NAN; rows.len()];
                    let (pp, qq) = if layout == 0 {
                        (Pairs::Interleaved(&p), Pairs::Interleaved(&q))
                    } else {
                        (Pairs::Columns(&p1, &p2), Pairs::Columns(&q1, &q2))
                    };
                    let (done, lo) = adjacent::<F>(pp, if same { pp } else { qq }, &mut out);
                    let first_left = rows.iter().position(|r| !held(r.0, r.1));
                    let first_left = first_left.unwrap_or(rows.len());
                    assert_eq!(done, (first_left / super::GROUP) * super::GROUP);
                    for r in 0..done {
                        assert_eq!(out[r].to_bits(), want[r].0.to_bits(), "{:?}", rows[r]);
                    }
                    assert!(
                        out[done..].iter().all(|v| v.is_nan()),
                        "nothing past the groups done"
                    );
                    let min = |side: usize| {
                        rows[..done]
                            .iter()
                            .flat_map(|r| if side == 0 { r.0 } else { r.1 })
                            .fold(0.0f64, |m, v| m.min(f64::from(v)))
                    };
                    assert_eq!((lo.p, lo.q), (min(0), min(1)));
                }
            }
        }
    }

    /// A three-element float32 (p, q) row.
    pub type TripleRow = ([f32; 3], [f32; 3]);

    /// Whether a three-element float32 distribution is regular for the triple forms: no
    /// NaN, negative or infinite element, a positive element.
    pub fn regular_f32_triple(x: [f32; 3]) -> bool {
        x.iter().all(|v| !v.is_nan() && *v >= 0.0 && v.is_finite()) && x.iter().any(|&v| v > 0.0)
    }

    /// `x` rotated left by `k`.
    pub fn rotated(mut x: [f32; 3], k: usize) -> [f32; 3] {
        x.rotate_left(k % 3);
        x
    }

    /// Every triple of [`f32_values`] against a few others, against itself and against
    /// itself rescaled (×2 exactly, ×3 rounded); nearly equal rows (one or two elements
    /// moved by 1e-8 .. 1e-2 relative, at scales 1e-30 .. 1e30); ratios P/Q around the
    /// logarithm's thresholds 1/3 and 3 and around 5; shares down past f32's range;
    /// zeros under mass in p and in q; subnormal and huge values; ratios past f32's range;
    /// random rows.
    pub fn divergence_triple_rows() -> Vec<TripleRow> {
        let v = f32_values();
        let n = v.len();
        let mut rows = Vec::new();
        for i in 0..n {
            for j in 0..n {
                for k in 0..3 {
                    let p = [v[i], v[j], v[(i + j + k) % n]];
                    let q = [
                        v[(i + 3 * k) % n],
                        v[(j + 5 * k + 1) % n],
                        v[(i * 7 + k) % n],
                    ];
                    rows.push((p, q));
                    rows.push((p, p));
                    if k == 0 {
                        rows.push((p, p.map(|x| 2.0 * x)));
                        rows.push((p.map(|x| 3.0 * x), p));
                    }
                }
            }
        }
        let bases: [[f32; 3]; 4] = [
            [0.2, 0.3, 0.5],
            [0.98, 0.015, 0.005],
            [1.0, 1e-6, 0.3],
            [0.45, 0.45, 0.1],
        ];
        for scale in [1e-30f32, 1e-3, 1.0, 7.0, 1e30] {
            for (b, base) in bases.iter().enumerate() {
                let base = base.map(|x| x * scale);
                for e in 0..=24 {
                    let eps = 10f64.powf(-8.0 + f64::from(e) * 0.25);
                    for k in 0..3 {
                        let up = |x: f32, f: f64| (f64::from(x) * (1.0 + f)) as f32;
                        let mut one = base;
                        one[k] = up(one[k], eps);
                        let mut two = base;
                        two[k] = up(two[k], eps);
                        two[(k + 1) % 3] = up(two[(k + 1) % 3], -eps * (1.0 + b as f64));
                        rows.extend([(base, one), (one, base), (base, two), (two, base)]);
                    }
                }
            }
        }
        // P₀/Q₀ through 3 and 5 (and 1/3, 1/5 swapped): p = (0.3f, 0.35, 0.35)·r/3 against
        // q = (0.1, 0.45, 0.45) has P₀/Q₀ ≈ r near f = 1
        for scale in [1e-30f64, 1.0, 1e30] {
            for step in 0..=200 {
                let f = 1.0 + 0.02 * (f64::from(step) - 100.0) / 100.0;
                for r in [3.0, 5.0] {
                    let x = 0.1 * r * f;
                    let p = [x, (1.0 - x) / 2.0, (1.0 - x) / 2.0].map(|v| (v * scale) as f32);
                    let q = [0.1, 0.45, 0.45].map(|v| (v * scale) as f32);
                    for k in 0..3 {
                        rows.push((rotated(p, k), rotated(q, k)));
                        rows.push((rotated(q, k), rotated(p, k)));
                    }
                }
            }
        }
        // shares down past f32's normal range, at every scale
        for i in 0..120 {
            let t = 10f64.powf(-f64::from(i) * 0.4);
            for scale in [1e-30f64, 1e-3, 1.0, 7.0, 1e30] {
                let (x, y, z) = (
                    scale as f32,
                    (t * scale) as f32,
                    (0.5 * t * t * scale) as f32,
                );
                let a = [x, y, z];
                let b = [y, x, (0.3 * scale) as f32];
                for r in 0..3 {
                    let (a, b) = (rotated(a, r), rotated(b, r));
                    rows.extend([(a, b), (b, a), (a, rotated(a, 1))]);
                }
            }
        }
        // zeros under mass: in p (a term Q), in q (+inf), in both (a pair divergence)
        let zeros: [TripleRow; 8] = [
            ([0.0, 0.3, 0.7], [0.2, 0.3, 0.5]),
            ([0.0, 0.0, 1.0], [0.2, 0.3, 0.5]),
            ([0.2, 0.3, 0.5], [0.0, 0.3, 0.7]),
            ([0.0, 0.3, 0.7], [0.0, 0.5, 0.5]),
            ([0.0, 0.3, 0.7], [0.0, 0.3, 0.7]),
            ([0.0, 0.3, 0.7], [0.0, 0.6, 1.4]),
            ([0.0, 1e-40, 0.7], [0.0, 0.5, 0.5]),
            ([0.0, 0.3, 0.7], [1e-3, 0.0, 0.999]),
        ];
        for (p, q) in zeros {
            for k in 0..3 {
                rows.push((rotated(p, k), rotated(q, k)));
            }
        }
        // subnormal and huge values, ratios past f32's range either way
        let extremes: [TripleRow; 8] = [
            ([1e-45, 1.0, 1.0], [1.0, 1e-45, 1.0]),
            ([1e-40, 1e-45, 3e-45], [2e-40, 1e-45, 1e-45]),
            ([3e38, 3e38, 3e38], [1e38, 3e38, 1e-45]),
            ([3e38, 1.0, 1e-45], [1e-45, 1.0, 3e38]),
            ([1.0, 1.0, 1.0], [1.0, 1e-39, 1.0]),
            ([1e-40, 1.0, 1.0], [1.0, 1.0, 1.0]),
            ([1.0, 1e-30, 1e-15], [1e-20, 1.0, 1.0]),
            ([f32::MAX, f32::MAX, f32::MAX], [f32::MAX, 1.0, f32::MAX]),
        ];
        for (p, q) in extremes {
            for k in 0..3 {
                rows.push((rotated(p, k), rotated(q, k)));
                rows.push((rotated(q, k), rotated(p, k)));
            }
        }
        for seed in 0..400u64 {
            let to32 = |x: Vec<f64>| [x[0] as f32, x[1] as f32, x[2] as f32];
            let (p, q) = (to32(positive(3, seed)), to32(positive(3, seed + 1000)));
            rows.extend([(p, q), (p, p), (p, q.map(|x| x * 8.0)), (p, rotated(p, 1))]);
        }
        rows
    }

    /// The float32 contract of a three-element divergence form over `rows` with its
    /// group-form results `got`: rows it holds (`held`) are regular, non-negative, within
    /// 5e-7 of the exact row form (`exact_row`; 0 and +inf exactly) and within
    /// `reference_bound` of the form's scalar `reference`; the others carry the exact group
    /// form's value and flag (`exact_group`). Returns (rows held, rows that took a
    /// logarithm (`takes_the_log`), worst relative error against the exact row form, worst
    /// against the reference).
    #[allow(clippy::too_many_arguments)]
    pub fn check_triple_contract(
        rows: &[TripleRow],
        got: &[(f64, bool)],
        held: impl Fn([f32; 3], [f32; 3]) -> bool,
        takes_the_log: impl Fn([f32; 3], [f32; 3]) -> bool,
        reference: impl Fn([f32; 3], [f32; 3]) -> f64,
        reference_bound: f64,
        exact_row: impl Fn(&[f64], &[f64]) -> f64,
        exact_group: impl Fn(&[[f64; super::GROUP]], &[[f64; super::GROUP]], &mut [f64], &mut [bool]),
    ) -> (usize, usize, f64, f64) {
        let (mut held_rows, mut logs, mut worst_exact, mut worst_reference) = (0, 0, 0.0, 0.0);
        for (&(p, q), &(value, regular)) in rows.iter().zip(got) {
            let (p64, q64) = (p.map(f64::from), q.map(f64::from));
            if !held(p, q) {
                let tile = |x: [f64; 3]| x.map(|v| [v; super::GROUP]);
                let (mut v, mut r) = ([0.0], [true]);
                exact_group(&tile(p64), &tile(q64), &mut v, &mut r);
                assert_eq!(regular, r[0], "{p:?} {q:?}");
                if r[0] {
                    assert_eq!(value.to_bits(), v[0].to_bits(), "{p:?} {q:?}");
                }
                continue;
            }
            assert!(regular, "{p:?} {q:?}");
            held_rows += 1;
            logs += usize::from(takes_the_log(p, q));
            assert!(value >= 0.0, "{p:?} {q:?}: {value:e}");
            let exact = exact_row(&p64, &q64);
            if exact == 0.0 || exact.is_infinite() {
                assert_eq!(value, exact, "{p:?} {q:?}");
                continue;
            }
            let err = (value - exact).abs() / exact;
            assert!(err <= 5e-7, "{p:?} {q:?}: {value:e} vs {exact:e} ({err:e})");
            worst_exact = f64::max(worst_exact, err);
            let want = reference(p, q);
            let err = (value - want).abs() / want;
            assert!(
                err <= reference_bound,
                "{p:?} {q:?}: {value:e} vs {want:e} ({err:e})"
            );
            worst_reference = f64::max(worst_reference, err);
        }
        (held_rows, logs, worst_exact, worst_reference)
    }

    /// [`super::f32_tiles::adjacent`] of a three-element form `G` (float32 tiles, rows back
    /// to back and the (3, N) layout) against its group form on the engine's tile
    /// (`through_group(rows, same)`), on the rows of `all`: for every row count 0..=67 (every
    /// tail) of the rows it keeps regular and for chunks of all rows, with q apart and q = p
    /// (the same memory), the rows done carry the group form's bits, it stops exactly
    /// before the first group holding a row left to the row form, and its smallest inputs
    /// are those of the rows done.
    pub fn check_triple_tiles_match_group<G: super::f32_tiles::FastGroupForm>(
        all: &[TripleRow],
        through_group: impl Fn(&[TripleRow], bool) -> Vec<(f64, bool)>,
    ) {
        let regular: Vec<TripleRow> = all
            .iter()
            .zip(through_group(all, false))
            .filter(|(_, got)| got.1)
            .map(|(&r, _)| r)
            .collect();
        let mut cases: Vec<Vec<TripleRow>> = (0..=67)
            .map(|n| regular.iter().step_by(7).take(n).copied().collect())
            .collect();
        cases.extend(all.chunks(48).map(|c| c.to_vec()));
        let mut rows_done = 0;
        for case in &cases {
            for same in [false, true] {
                let rows: Vec<TripleRow> = if same {
                    case.iter().map(|&(p, _)| (p, p)).collect()
                } else {
                    case.clone()
                };
                let n = rows.len();
                let want = through_group(&rows, same);
                let p: Vec<f32> = rows.iter().flat_map(|r| r.0).collect();
                let q: Vec<f32> = rows.iter().flat_map(|r| r.1).collect();
                let (pc, qc) = (column_major(&p, 3), column_major(&q, 3));
                let layouts = row_and_column_blocks((&p, &q), (&pc, &qc), n);
                for (pb, qb) in layouts {
                    let mut out = vec![f64::NAN; n];
                    let qb = if same { pb } else { qb };
                    let (done, lo) = super::f32_tiles::adjacent::<G>(pb, qb, 3, &mut out);
                    let first_irregular = want.iter().position(|w| !w.1).unwrap_or(n);
                    assert_eq!(
                        done,
                        first_irregular / super::GROUP * super::GROUP,
                        "{n} {same}"
                    );
                    for r in 0..done {
                        assert_eq!(out[r].to_bits(), want[r].0.to_bits(), "{:?}", rows[r]);
                    }
                    let min = |side: usize| {
                        rows[..done]
                            .iter()
                            .flat_map(|r| if side == 0 { r.0 } else { r.1 })
                            .fold(0.0f64, |m, v| m.min(f64::from(v)))
                    };
                    assert_eq!((lo.p, lo.q), (min(0), min(1)), "{n} {same}");
                    rows_done += done;
                }
            }
        }
        assert!(rows_done > 10_000, "{rows_done}");
    }

    /// A three-element form `G` through its kernel and its measure: the kernel's group
    /// form (`kernel_group`, normalised float32 rows) gives `G`'s group bits and flags
    /// ([`super::f32_tiles::group`]) on `rows`, and the measure gives a row its group value
    /// (`through_group`) in every layout — the (N, 3) array (`measure`), its (3, N)
    /// transpose read along axis 0, and ragged rows (`ragged`, offsets 0, 3, 6, …) — or,
    /// for rows the group form leaves to the row form, the exact row form's (`row`). Rows
    /// holding a negative value (an error of the measures) are left out of the layouts.
    pub fn check_triple_measure_layouts<G: super::f32_tiles::FastGroupForm>(
        rows: &[TripleRow],
        through_group: impl Fn(&[TripleRow], bool) -> Vec<(f64, bool)>,
        kernel_group: impl Fn(&[[f64; super::GROUP]], &[[f64; super::GROUP]], &mut [f64], &mut [bool]),
        measure: impl Fn(
            ndarray::ArrayViewD<'_, f32>,
            ndarray::ArrayViewD<'_, f32>,
        ) -> ndarray::ArrayD<f64>,
        ragged: impl Fn(&[f32], &[f32], &[i64]) -> Vec<f64>,
        row: impl Fn(&[f32], &[f32]) -> f64,
    ) {
        use ndarray::Array2;
        const G16: usize = super::GROUP;
        for chunk in rows.chunks(G16) {
            let tile = |side: usize| {
                let mut t = vec![[0.0; G16]; 3];
                for (j, r) in chunk.iter().enumerate() {
                    let x = if side == 0 { r.0 } else { r.1 };
                    for c in 0..3 {
                        t[c][j] = f64::from(x[c]);
                    }
                }
                t
            };
            let (pt, qt) = (tile(0), tile(1));
            let k = chunk.len();
            let (mut a, mut ra) = (vec![0.0; k], vec![true; k]);
            let (mut b, mut rb) = (vec![0.0; k], vec![true; k]);
            kernel_group(&pt, &qt, &mut a, &mut ra);
            super::f32_tiles::group::<G>(&pt, &qt, &mut b, &mut rb);
            assert_eq!(ra, rb);
            for j in 0..k {
                assert!(!ra[j] || a[j].to_bits() == b[j].to_bits(), "{:?}", chunk[j]);
            }
        }
        // the measures report a negative input as an error
        let rows: Vec<TripleRow> = rows
            .iter()
            .filter(|r| r.0.iter().chain(&r.1).all(|&v| v >= 0.0 || v.is_nan()))
            .copied()
            .collect();
        let want = through_group(&rows, false);
        let n = rows.len();
        let p: Vec<f32> = rows.iter().flat_map(|r| r.0).collect();
        let q: Vec<f32> = rows.iter().flat_map(|r| r.1).collect();
        let (pa, qa) = (
            Array2::from_shape_vec((n, 3), p.clone()).unwrap(),
            Array2::from_shape_vec((n, 3), q.clone()).unwrap(),
        );
        let (pt, qt) = (
            pa.t().as_standard_layout().into_owned(),
            qa.t().as_standard_layout().into_owned(),
        );
        assert!(pt.is_standard_layout() && qt.is_standard_layout());
        let dense = measure(pa.view().into_dyn(), qa.view().into_dyn());
        let transposed = measure(pt.t().into_dyn(), qt.t().into_dyn());
        let offsets: Vec<i64> = (0..=n as i64).map(|r| 3 * r).collect();
        let by_offsets = ragged(&p, &q, &offsets);
        let mut regular_rows = 0;
        for (r, &(value, regular)) in want.iter().enumerate() {
            for got in [dense[[r]], transposed[[r]], by_offsets[r]] {
                if regular {
                    assert_eq!(got.to_bits(), value.to_bits(), "{:?}", rows[r]);
                } else {
                    let exact = row(&rows[r].0, &rows[r].1);
                    assert!(
                        got.to_bits() == exact.to_bits() || (got.is_nan() && exact.is_nan()),
                        "{:?}: {got} vs {exact}",
                        rows[r]
                    );
                }
            }
            regular_rows += usize::from(regular);
        }
        assert!(regular_rows > n / 2);
    }

    /// Float32 values for the adversarial rows of the float32 closed forms: every scale,
    /// shares from 1 to past f32's normal range, the special values (as f32: ±inf, NaN,
    /// ±0, subnormals).
    pub fn f32_values() -> Vec<f32> {
        let mut v: Vec<f32> = SPECIALS.iter().map(|&x| x as f32).collect();
        v.extend([
            f32::NAN,
            -1.0,
            0.3,
            0.7,
            1.0,
            1.0 + f32::EPSILON,
            3.0,
            1e-7,
            1e-30,
            1e-38,
            1.1754944e-38,
            1.2e-38,
            1e-40,
            1e-45,
            1e7,
            1e30,
            1.7e38,
            f32::MAX,
        ]);
        v
    }

    /// Rows of N float32 values through the fast group form `G` on the engine's tile
    /// (`width` ≥ N elements, zero padded; `same`: q is p's own tile), sixteen at a time:
    /// each row's (value, regular flag). Checks the smallest inputs the form reports.
    pub fn f32_rows_through_group<G: super::f32_tiles::FastGroupForm, const N: usize>(
        rows: &[([f32; N], [f32; N])],
        same: bool,
        width: usize,
    ) -> Vec<(f64, bool)> {
        let mut got = Vec::new();
        for chunk in rows.chunks(super::GROUP) {
            let (mut pt, mut qt) = (
                vec![[0.0; super::GROUP]; width],
                vec![[0.0; super::GROUP]; width],
            );
            for (j, (p, q)) in chunk.iter().enumerate() {
                for c in 0..N {
                    (pt[c][j], qt[c][j]) = (p[c].into(), q[c].into());
                }
            }
            let (mut out, mut regular) = (vec![0.0; chunk.len()], vec![true; chunk.len()]);
            let qt = if same { &pt } else { &qt };
            let lo = super::f32_tiles::group::<G>(&pt, qt, &mut out, &mut regular);
            let min = |side: usize| {
                chunk
                    .iter()
                    .flat_map(|r| if side == 0 { r.0 } else { r.1 })
                    .fold(0.0f64, |m, v| m.min(f64::from(v)))
            };
            let (want_p, want_q) = (min(0), if same { min(0) } else { min(1) });
            // NaN is ignored by the running minima (a NaN row is not regular anyway)
            assert!(lo.p == want_p || want_p.is_nan(), "{chunk:?}");
            assert!(lo.q == want_q || want_q.is_nan(), "{chunk:?}");
            got.extend(out.into_iter().zip(regular));
        }
        got
    }

    /// The float32 contract of a fast cross-entropy form over `rows` with its results
    /// `got`: rows it holds (`held`) are regular, non-negative and within 5e-7 of the
    /// exact row form and of the form's scalar `reference`; the others carry the general
    /// form's result. Returns (rows held, the worst relative error seen).
    pub fn check_f32_contract<const N: usize>(
        rows: &[([f32; N], [f32; N])],
        got: &[(f64, bool)],
        held: impl Fn([f32; N], [f32; N]) -> bool,
        reference: impl Fn([f32; N], [f32; N]) -> f64,
    ) -> (usize, f64) {
        let (mut worst, mut held_rows) = (0.0f64, 0);
        for (&(p, q), &(value, regular)) in rows.iter().zip(got) {
            if !held(p, q) {
                // left to the general form: its value (or the row form's, if irregular)
                check_left_to_the_general_form(p, q, (value, regular));
                continue;
            }
            assert!(regular, "{p:?} {q:?}");
            held_rows += 1;
            assert!(value >= 0.0, "{p:?} {q:?}: {value:e}");
            let (exact, _) = super::plogq::row(&p.map(f64::from), &q.map(f64::from));
            for want in [exact, reference(p, q)] {
                if want == value {
                    continue;
                }
                let err = (value - want).abs() / want;
                worst = worst.max(err);
                assert!(err <= 5e-7, "{p:?} {q:?}: {value:e} vs {want:e} ({err:e})");
            }
        }
        (held_rows, worst)
    }

    /// A float32 row that a fast cross-entropy form left: `got` (value, regular flag) must
    /// be the general group form's (`plogq::group_of`; irregular: left to the row form).
    pub fn check_left_to_the_general_form<const N: usize>(
        p: [f32; N],
        q: [f32; N],
        (value, regular): (f64, bool),
    ) {
        let tile = |x: [f32; N]| {
            x.map(|v| {
                let mut lane = [0.0; super::GROUP];
                lane[0] = f64::from(v);
                lane
            })
        };
        let (mut v, mut r) = ([0.0], [true]);
        super::plogq::group_of::<f32>(&tile(p), &tile(q), &mut v, &mut r);
        assert_eq!(regular, r[0], "{p:?} {q:?}");
        if r[0] {
            assert_eq!(value.to_bits(), v[0].to_bits(), "{p:?} {q:?}");
        }
    }

    /// Two properties of a short-row group form run through `through_group(rows, same)`
    /// (values and regular flags; `same`: q is p's own tile): each row alone gives the
    /// bits and flag it has in a full group of `rows` (a row never depends on its
    /// neighbours), and with q = p the entropy equals the cross-entropy of a copy bit for
    /// bit.
    pub fn check_alone_and_copies<R: Copy + std::fmt::Debug>(
        rows: &[(R, R)],
        through_group: impl Fn(&[(R, R)], bool) -> Vec<(f64, bool)>,
    ) {
        let full = through_group(rows, false);
        for (r, want) in rows.iter().zip(&full) {
            let alone = through_group(std::slice::from_ref(r), false)[0];
            assert_eq!(alone.1, want.1, "{r:?}");
            if want.1 {
                assert_eq!(alone.0.to_bits(), want.0.to_bits(), "{r:?}");
            }
        }
        let copies: Vec<(R, R)> = rows.iter().map(|&(p, _)| (p, p)).collect();
        let h = through_group(&copies, true);
        let ce = through_group(&copies, false);
        for ((row, h), ce) in copies.iter().zip(&h).zip(&ce) {
            assert_eq!(h.1, ce.1, "{row:?}");
            if h.1 {
                assert_eq!(h.0.to_bits(), ce.0.to_bits(), "{row:?}");
            }
        }
    }

    /// Rows of `len` float32 values (held as f64) for the fast group forms of float32
    /// divergences: normalised far pairs (kept), nearly equal and identical pairs and pairs
    /// at another scale (left to the exact form), zeros, every special value, NaN,
    /// negatives, mixed binades with totals far from 1.
    pub fn f32_group_rows(len: usize, seed: u64) -> Vec<(Vec<f64>, Vec<f64>)> {
        // positive values (a zero q under p > 0 is a case of its own), normalised in f32
        // as a model's outputs are (totals within ~1e-7 of 1)
        let normalised = |seed: u64| -> Vec<f32> {
            let x: Vec<f32> = positive(len, seed)
                .iter()
                .map(|&v| (v + 1e-3) as f32)
                .collect();
            let total: f32 = x.iter().sum();
            x.iter().map(|&v| v / total).collect()
        };
        let mut rows = Vec::new();
        for j in 0..40u64 {
            let mut p = normalised(seed + j);
            let mut q = normalised(seed + 1000 + j);
            let special = SPECIALS[(j as usize / 10 + len) % SPECIALS.len()] as f32;
            match j % 10 {
                // nearly equal, identical, and at another power-of-two scale
                1 => q = p.iter().map(|&x| x * (1.0 + 1e-3 * (j as f32))).collect(),
                2 => q = p.clone(),
                3 => q = p.iter().map(|&x| x * 8.0).collect(),
                // a zero p (a zero term) and a zero q under mass (+inf)
                4 => {
                    q[j as usize % len] = 0.0;
                    p[(j as usize + 1) % len] = 0.0;
                }
                5 => q[len / 2] = special,
                6 => p[len / 2] = special,
                7 => q[0] = f32::NAN,
                8 => q[len - 1] = -0.25,
                9 => {
                    // q's total far above p's, or far below (where 1 + y, y = Σq/Σp − 1,
                    // keeps none of the ratio's digits)
                    let scale = if (j / 10) % 2 == 0 { 1e20 } else { 1e-11 };
                    for (i, (a, b)) in p.iter_mut().zip(q.iter_mut()).enumerate() {
                        *a *= 2f32.powi((i as i32 * 37) % 60 - 30);
                        *b *= 2f32.powi((i as i32 * 11) % 40 - 20) * scale;
                    }
                }
                _ => {}
            }
            let widen = |x: Vec<f32>| -> Vec<f64> { x.into_iter().map(f64::from).collect() };
            rows.push((widen(p), widen(q)));
        }
        rows
    }

    /// Up to [`super::GROUP`] equally long (p, q) rows as the group kernels take them.
    pub fn tile_rows(
        rows: &[(Vec<f64>, Vec<f64>)],
    ) -> (Vec<[f64; super::GROUP]>, Vec<[f64; super::GROUP]>) {
        let len = rows[0].0.len();
        let zero = [0.0; super::GROUP];
        let (mut pt, mut qt) = (vec![zero; len], vec![zero; len]);
        for (j, (pr, qr)) in rows.iter().enumerate() {
            for c in 0..len {
                (pt[c][j], qt[c][j]) = (pr[c], qr[c]);
            }
        }
        (pt, qt)
    }

    /// A group kernel's signature (`group(pt, qt, out, regular)`).
    pub trait GroupFn:
        Fn(
        &[[f64; super::GROUP]],
        &[[f64; super::GROUP]],
        &mut [f64],
        &mut [bool],
    ) -> super::two_pass::Lowest
    {
    }
    impl<F> GroupFn for F where
        F: Fn(
            &[[f64; super::GROUP]],
            &[[f64; super::GROUP]],
            &mut [f64],
            &mut [bool],
        ) -> super::two_pass::Lowest
    {
    }

    /// Checks a fast group form against the exact group form it falls back to, on
    /// [`f32_group_rows`] of every length 3..=67 and 100, 128, sixteen rows at a time: the
    /// same smallest inputs; every row either the exact form's (value bits and regular
    /// flag) or regular in both and within `rtol` of the exact value. Returns (rows that
    /// took the fast form, rows that took the exact one).
    pub fn check_fast_group_form(
        fast: impl GroupFn,
        exact: impl GroupFn,
        rtol: f64,
    ) -> (usize, usize) {
        let (mut fast_rows, mut exact_rows) = (0, 0);
        for len in (3..=67).chain([100, 128]) {
            let rows = f32_group_rows(len, len as u64);
            for chunk in rows.chunks(super::GROUP) {
                let (pt, qt) = tile_rows(chunk);
                let n = chunk.len();
                let (mut out, mut regular) = (vec![0.0; n], vec![true; n]);
                let (mut want, mut want_regular) = (vec![0.0; n], vec![true; n]);
                let lo = fast(&pt, &qt, &mut out, &mut regular);
                assert_eq!(lo, exact(&pt, &qt, &mut want, &mut want_regular), "{len}");
                for (j, (pr, qr)) in chunk.iter().enumerate() {
                    if out[j].to_bits() == want[j].to_bits() && regular[j] == want_regular[j] {
                        exact_rows += 1;
                        continue;
                    }
                    fast_rows += 1;
                    assert!(regular[j] && want_regular[j], "{len} {pr:?} {qr:?}");
                    let err = (out[j] - want[j]).abs() / want[j];
                    assert!(
                        err <= rtol,
                        "{len} {pr:?} {qr:?}: {} vs {}",
                        out[j],
                        want[j]
                    );
                }
            }
        }
        (fast_rows, exact_rows)
    }

    /// A row of [`f32_group_rows`] alone in a group gives the bits (and regular flag) it
    /// gives among sixteen.
    pub fn check_group_rows_alone(group: impl GroupFn) {
        for len in [3usize, 10, 33] {
            let rows = f32_group_rows(len, 77);
            for chunk in rows.chunks(super::GROUP) {
                let (pt, qt) = tile_rows(chunk);
                let (mut all, mut all_regular) = (vec![0.0; chunk.len()], vec![true; chunk.len()]);
                group(&pt, &qt, &mut all, &mut all_regular);
                for (j, row) in chunk.iter().enumerate() {
                    let (pa, qa) = tile_rows(std::slice::from_ref(row));
                    let (mut one, mut one_regular) = ([0.0], [true]);
                    group(&pa, &qa, &mut one, &mut one_regular);
                    assert_eq!(one_regular[0], all_regular[j], "{len} {row:?}");
                    if one_regular[0] {
                        assert_eq!(one[0].to_bits(), all[j].to_bits(), "{len} {row:?}");
                    }
                }
            }
        }
    }

    /// A confident row of `n` values, a mass 1 and n − 1 masses `r`: (the row with the
    /// small masses scaled by `k`, H(P, Q) with Q the row for k = 2, H(P)) in closed form,
    /// a few ULP each: with m = n − 1, S = 1 + k·m·r,
    /// H(P, Q) = ln S_q − (m·r/S_p)·ln(2r), H(P) = log1p(m·r) − (m·r/S_p)·ln r — sums of
    /// non-negative terms, where the textbook ln S − Σ x ln x / S loses the remainder.
    pub fn confident(n: usize, r: f64) -> (impl Fn(f64) -> Vec<f64>, f64, f64) {
        let mr = (n - 1) as f64 * r;
        let row_of = move |k: f64| {
            let mut x = vec![k * r; n];
            x[0] = 1.0;
            x
        };
        let h_pq = (2.0 * mr).ln_1p() - mr / (1.0 + mr) * (2.0 * r).ln();
        let h_pp = mr.ln_1p() - mr / (1.0 + mr) * r.ln();
        (row_of, h_pq, h_pp)
    }

    /// Relative closeness with an absolute floor, treating equal infinities and NaNs as equal.
    pub fn close(a: f64, b: f64, rtol: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a.is_infinite() || b.is_infinite() {
            return a == b;
        }
        (a - b).abs() <= rtol * a.abs().max(b.abs()).max(1e-300)
    }
}

#[cfg(test)]
mod pairwise_stack_tests {
    use super::{PairwiseStack, Partial};

    /// A partial whose combination is neither commutative nor associative, so any other
    /// tree or order gives another value.
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Tree(u64);

    impl Partial for Tree {
        const EMPTY: Self = Tree(0);
        fn combine(self, other: Self) -> Self {
            Tree(self.0.wrapping_mul(3).wrapping_add(other.0.wrapping_mul(7)) + 1)
        }
    }

    /// The binary counter's tree written out: full subtrees of 2^k leaves, largest first,
    /// folded right to left onto `EMPTY`.
    fn reference(leaves: &[Tree]) -> Tree {
        fn full(leaves: &[Tree]) -> Tree {
            match leaves.len() {
                1 => leaves[0],
                n => full(&leaves[..n / 2]).combine(full(&leaves[n / 2..])),
            }
        }
        let mut subtrees = Vec::new();
        let mut start = 0;
        for bit in (0..usize::BITS).rev() {
            let size = 1usize << bit;
            if leaves.len() & size != 0 {
                subtrees.push(full(&leaves[start..start + size]));
                start += size;
            }
        }
        subtrees
            .iter()
            .rev()
            .fold(Tree::EMPTY, |total, &t| t.combine(total))
    }

    #[test]
    fn stack_combines_the_binary_counter_tree() {
        for n in (0..=67).chain([255, 256, 1000, 4097]) {
            let leaves: Vec<Tree> = (1..=n as u64).map(Tree).collect();
            let mut stack = PairwiseStack::new();
            for &leaf in &leaves {
                stack.push(leaf);
            }
            assert_eq!(stack.total(), reference(&leaves), "{n} leaves");
        }
    }
}
