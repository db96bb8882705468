//! Pure slice kernels: each reduces one contiguous block of a distribution to partial
//! statistics that combine by addition. No Python, no threads: `parallel` decides which
//! blocks exist, `measures` turns the partials into the quantity.
//!
//! Every kernel has a plain scalar `reference` beside its vectorised body, and tests that
//! compare the two on adversarial values and on every tail length 0..=67.

pub mod bce;
pub mod calibration;
pub mod counts;
pub mod double_double;
pub mod ensemble;
pub mod ensemble_reference;
pub mod js;
pub mod kl;
pub mod logits;
pub mod neg_log;
pub mod plogq;
pub mod softmax;
pub mod softmax_f32;
pub mod softmax_rows;
pub mod two_pass;
pub mod xlogx;

use crate::simd::vector::F8;

/// Width of the lane blocks the kernels are written in: one AVX-512 register of f64,
/// two AVX2 registers, four SSE2/NEON registers.
pub const LANES: usize = 8;

/// Rows per vertical group (lane = row): two f64 vectors, one f32 vector. Short rows are
/// handed to the kernels transposed, `[element][row]`, this many rows at a time.
pub const GROUP: usize = 16;

pub use crate::simd::element::Real;

/// Elements per leaf of the pairwise sums (sixteen steps of sixteen lanes).
pub const LEAF: usize = 256;

/// A binary counter of partials: push leaves in order, equal-size neighbours merge. The
/// same combination tree as [`pairwise`], for callers that produce leaves one at a time.
pub struct PairwiseStack<P> {
    stack: [(P, u32); 48],
    depth: usize,
}

impl<P: Partial> PairwiseStack<P> {
    /// An empty counter.
    pub fn new() -> Self {
        PairwiseStack {
            stack: [(P::EMPTY, 0); 48],
            depth: 0,
        }
    }
    /// Adds the next leaf.
    #[inline]
    pub fn push(&mut self, leaf: P) {
        let mut part = (leaf, 0u32);
        while self.depth > 0 && self.stack[self.depth - 1].1 == part.1 {
            self.depth -= 1;
            part = (self.stack[self.depth].0.combine(part.0), part.1 + 1);
        }
        self.stack[self.depth] = part;
        self.depth += 1;
    }
    /// The combination of every leaf pushed.
    pub fn total(&self) -> P {
        let mut total = P::EMPTY;
        for (part, _) in self.stack[..self.depth].iter().rev() {
            total = part.combine(total);
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

    /// A deterministic pseudo-random positive sequence of length `n` with a mix of scales.
    pub fn positive(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                if s.is_multiple_of(5) {
                    0.0
                } else {
                    u * 10f64.powi((s % 7) as i32 - 3)
                }
            })
            .collect()
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
