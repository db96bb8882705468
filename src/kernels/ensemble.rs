//! Ensemble / MC-dropout uncertainty of one prediction: S member distributions over C
//! classes → total = H(P̄), aleatoric = mean_s H(P_s), epistemic = mean_s KL(P_s ‖ P̄)
//! (= total − aleatoric mathematically; BALD's mutual information), P_s = x_s / Σx_s.
//!
//! **Layout.** Eight predictions (rows) are processed together, one per lane, so every
//! per-row quantity (a member's total, P̄, the dominant-mass bookkeeping) is a lane-wise
//! vector with no horizontal operation, and nothing is wasted when C is small (C = 10
//! would fill 10 of 16 lanes if a row were vectorised along its classes). The group's S×8
//! rows are read twice: pass 1 sums each member row (the first read, from memory), pass 2
//! (classes outer, members inner) computes everything else from the same bytes, now in
//! L1/L2. No per-member temporary of the row's size is made.
//!
//! **Exactness.** Three pieces, each cancellation-free (measured against mpmath in
//! `tests/test_ensemble_uncertainty.py`; see the README's table):
//! - *Entropies* are Σ p·ln(1/p), a sum of non-negative terms. The one mass above 1/2
//!   (there is at most one) is taken as p_m·(−log1p(−r)), r = Σ_{c≠m} p_c summed from the
//!   other masses, so a confident row's tiny entropy (1e-20) keeps its relative precision;
//!   ln p_m of a rounded p_m ≈ 1 would lose it.
//! - *Epistemic* is mean_s Σ_c P̄_c·φ(f_sc) with f = P_s/P̄ − 1 and
//!   φ(f) = (1+f)·ln(1+f) − f ≥ 0. That is KL(P_s‖P̄) with Σ_c (P̄_c − P_sc) = 0 added, and
//!   makes every term non-negative: the plain Σ p·ln(p/P̄) has terms of first order in the
//!   members' disagreement summing to a second-order result, and total − aleatoric
//!   subtracts two nearly equal entropies; both lose all digits for members differing by
//!   1e-8. φ is its Taylor polynomial f²·Σ_{j<15} (−f)^j/((j+1)(j+2)) for |f| ≤ 0.1 (no
//!   cancellation, no division), t·ln t − (t − 1) + ln t·(f − (t − 1)) above (t = fl(1 + f);
//!   the last term corrects the rounding of 1 + f; ≤ 3e-15 relative at the switch).
//! - *The differences* P_s − P̄ are where near-agreement bites: normalisation rounds each
//!   P_s to 1e-16, which is 1e-8 of a 1e-8 disagreement. So P_s = x_s/Z_s is computed in
//!   double-double (Z_s by a compensated sum, the quotient with one Newton correction;
//!   [`super::double_double`]), the members are anchored on member 0 (δ_s = P_s − P_0, so
//!   identical members give exactly 0), P̄ = P_0 + mean δ, and P_s − P̄ = δ_s − mean δ is
//!   rounded to f64 only then. Relative error of the epistemic part: ~1e-32/(members'
//!   relative disagreement), below 1e-15 for disagreements down to 1e-17.
//!
//! With `from_logits`, x_sc = exp(z_sc − max_c z_sc) (so Z_s ∈ [1, C] and the member's
//! argmax has x = 1 exactly); the probabilities are never stored. In the double-double
//! pass, x_sc is anchored on member 0 as x_0c·(1 + expm1(Δ)) (see [`logit_value`]), so
//! logits differing by 1e-8 keep the epistemic part exact too.
//!
//! **Special rows.** The vector path requires every member total Z_s in [2^−500, 2^500]
//! (the range where the double-double products cannot overflow or underflow). Other rows
//! — a zero, NaN or infinite total, subnormal or huge counts — are recomputed by the scalar
//! [`reference()`] (`ensemble_reference.rs`), which scales each member by a power of two
//! first (exact) and propagates NaN. A member summing to 0 gives NaN (as `entropy`); NaN
//! gives NaN for its row.
//!
//! **Two passes.** The fast pass (f64 probabilities x·(1/Z), ~37 vector operations per
//! eight elements for float32 input, ~45 with float64's compensated sums, one of them the
//! division inside `ln`) gives the entropies and epistemic = total − aleatoric; a rounding
//! bound, γ·(total + aleatoric) with γ = (4B + 40)ε, decides per row whether that
//! difference is exact to 1e-12 (float64 input; 1e-7 for float32; [`accept_fast`]). B is
//! C up to 32 classes; above, the sums over classes are taken in blocks of 8 with the
//! block sums compensated ([`BlockSums`]), so B = 8 whatever C (with B = C every random row
//! at C = 1000 was rejected). Only groups with a rejected row run the double-double pass
//! (~4× the cost), and use it for those rows only.
//!
//! PERF ((30, 10^5, 10) f32, one thread, wall time on this project's 2-core AVX-512 Xeon
//! (Sapphire Rapids) under load; `benches/scorers.py` for the side-by-side ratios):
//! 78 ms → 56 ms for this revision (two threads on a quiet machine: 31.6 ms, numpy's
//! expression 147 ms, torch 107 ms with its own threads). Found with
//! `perf annotate`: (1) pass 1's running minimum lived on the stack (store → load → vminpd
//! → store per vector, 20% of a call); it is now per member, in a register; (2) each
//! member's sums loaded vectors whose eight lane stores (the lane-major copy) were still
//! in the store buffer, so every load waited for them to drain (~15%); every member is
//! now copied before any is summed; (3) the fast pass's compensated P̄ sums were 8 of its
//! ~45 vector operations per element; float32 input (tolerance 1e-7) sums plainly,
//! float64 keeps them; one fused q·ln p per element replaces mul, sub and two selects
//! (the loop is now 37 operations, one of them the `ln`'s division, whose 16-cycle
//! throughput per eight lanes is about what the other 36 take on two vector ports).
//! (4) a member row's dominant-mass term (a logarithm and a division) is skipped where no
//! lane has a mass above 1/2 (~7% at C = 10).
//! Measured on the way before: the double-double pass for every row ran at 0.5× numpy;
//! the classes-outer order for the fast pass (three accumulators per member in memory)
//! ~25% slower; zeroing the scratch per group ~10%; locating each of a group's S×8 rows
//! separately instead of cutting one chunk per member ~25%; gathering each vector from
//! eight rows instead of the lane-major copy slower again.
//! Rejected: vectorising along the classes (horizontal sums per row, 6 of 16 lanes idle
//! for C = 10); float32 logarithms in the fast pass: their 6e-8 relative error enters
//! total − aleatoric as ~5e-8·(total + aleatoric), so the 1e-6 contract on the epistemic
//! part would hold only where it exceeds ~0.1·(total + aleatoric) (random Dirichlet
//! members: 0.09), sending nearly every row to the double-double pass.
//! (5) On AVX-512 the member entropies' logarithm is [`ln_by_table`] (a 16-entry table
//! looked up by `vpermt2pd` and a degree-10 polynomial, no division): only terms with
//! p ≤ ½ use it, where it is ≤ 1 ULP as `ln_finite` (so the rounding bound below is
//! unchanged). (30, 10^5, 10) f32, one thread, the two LTO wheels in turn, four rounds:
//! 49–56 → 42–50 ms (12–14%). AVX2 looks the table up by gathers, and there it was the
//! slower one: `ln_finite` instead, 161–166 → 133–135 ms (Zen 4 VM without AVX-512, three
//! rounds). So this kernel's AVX-512 and AVX2 results agree to the logarithms' rounding,
//! not bit for bit ([`F8::PERMUTE_LOOKUP`]).
//! (6) From eight classes up, pass 1's lane-major copy loads 8×8 blocks as vectors and
//! transposes them in registers ([`copy_lane_major`]); the element loop had become
//! 64-byte-strided scatters (~20% of the call in `perf`). One thread, the two wheels in
//! turn, minimum of three rounds (2026-12-05): (30, 10^5, 10) float32 65.1 → 54.5 ms,
//! float64 74.1 → 70.8; (10, 10^4, 1000) float32 297 → 189, float64 337 → 233. Data
//! movement only: the same bits.
//! (7) Float32 probabilities (two classes or more) take the member entropies from
//! float32 logarithm parts first ([`ensemble_f32`]: ln x = k·ln 2 + f + rest, only rest
//! from the f32 polynomial, sixteen lanes = two classes of the eight rows), kept per row
//! on a bound that holds aleatoric and epistemic parts to 2.5e-7 (DESIGN §2b allows 1e-6).
//! The attempt rejected above took the whole ln x in f32, whose error grows with |ln x|;
//! here only rest's does (≤ 2^−21·|rest|, |rest| ≤ 0.07), ~10× less on random rows. The
//! rows it does not keep (members that nearly agree) take the f64 pass as before. One
//! thread, float32, the session's first wheel and this one alternated, minima of four
//! rounds (2026-12-06): (30, 10^5, 10) 62.9 → 60.0 ms, (100, 10^4, 10) 22.3 → 20.9,
//! (10, 10^4, 1000) 217.5 → 190.0, (20, 5·10^4, 50) 97.7 → 91.1. Pass 2 is now about half
//! of the kernel at (30, 10^5, 10) in `perf`; the copy and the member totals of pass 1
//! the other half. A group of eight rows pays both passes when one row's epistemic part
//! is below the bound's reach (~0.04 nats): for Dirichlet(1) members, by the bound
//! computed in NumPy, 1.1% of (8, ·, 2) rows and 8.6% of their groups, none at (10, ·, 3)
//! or (30, ·, 10). Short members gain too (a first build started at eight classes; the
//! two builds alternated, one thread, minima of four rounds, faster in every round):
//! (8, 10^6, 2) 99.9 → 94.7 ms, (10, 3·10^5, 3) 42.0 → 37.2, (30, 6·10^4, 5) 31.7 →
//! 27.5.
//! (8) On AVX-512, float32 probabilities of 2 … 16 classes in full groups of adjacent rows
//! skip the lane-major buffer: each member's eight rows (one run of 8·C values) are
//! loaded as ⌈C/2⌉ vectors and permuted in registers into class-pair vectors
//! ([`crate::simd::column_pairs`], ≤ 7 permutes and blends per vector), and the member's
//! total, smallest value, entropy and P_s are taken from them at once
//! ([`ensemble_f32::from_registers`]). The copy (an 8×8 transpose per eight classes,
//! widened and stored: 16 columns for C = 10), the member sums' reloads and the
//! logarithms' narrowing of the f64 buffer are gone; the same values in the same order,
//! so the same bits (every test group runs both ways). The buffer is filled only for a
//! group a row of which the float32 bound refuses. One thread, `benches/ab.py` (both
//! builds in one process, minima of nine alternated calls, 2026-12-07): (30, 10^5, 10)
//! 44.7 → 37.5 ms, (100, 10^4, 10) 17.1 → 12.5, (8, 10^6, 2) 66.7 → 59.4, (10, 3·10^5, 3)
//! 27.5 → 24.8, (30, 6·10^4, 5) 19.1 → 15.1, (20, 5·10^4, 16) 22.5 → 19.8; members that
//! nearly agree (the fill, then the f64 passes) 19.1 → 18.4. Then the caller stopped cutting
//! 8·S row slices per group for this path (the kernel cuts them where a row needs them;
//! ~3% in `perf`), and a member total's logarithm near 1 became a series
//! ([`ensemble_f32`]'s `ln_total`): (30, 10^5, 10) 36.3 → 33.2, (100, 10^4, 10) 12.8 → 11.7
//! (four alternated `ab.py` runs, seven of eight in favour). Tried and left out: each next
//! member's rows prefetched into L1 (the first load of a member waited on L2 in `perf`,
//! ~6%): no change measured. Prefetching the next group into L2 (the caller) stays best
//! without the buffer too: one thread, (30, 10^5, 10) none 50.1, L2 38.7, L1 42.8 ms, two
//! groups ahead 38.6 / 44.3. Also left out: the register path monomorphised on the number
//! of class pairs (loops unrolled, the P̄ sums in registers until the last member; same
//! bits): four alternated `ab.py` runs gave (100, 10^4, 10) 6–8% faster, (8, 10^6, 2) ~2%,
//! (30, 10^5, 10) unchanged, but (20, 5·10^4, 16) and (30, 6·10^4, 5) ~8% slower.

use super::double_double::{self as dd, Dd};
use super::ensemble_f32;
pub use super::ensemble_reference::reference;
use super::two_pass::abs;
use super::Real;
use crate::simd::exp::exp;
use crate::simd::log::ln_finite;
use crate::simd::log_table::ln_by_table;
use crate::simd::vector::F8;

/// Rows processed together: one per lane.
pub const GROUP: usize = 8;

/// Member totals in this range take the vector path (see the module docs).
const Z_MIN: f64 = 3.054_936_363_499_605e-151; // 2^-500
const Z_MAX: f64 = 3.273_390_607_896_142e150; // 2^500

/// Up to this |f| = |P_s/P̄ − 1|, φ(f) is evaluated by its series; above, directly (where
/// t·ln t − f cancels at most 21×, ~5e-15 relative).
pub(crate) const SERIES_MAX: f64 = 0.1;

/// (−1)^j / ((j+1)(j+2)), j = 0..15: φ(f) = f²·Σ_j c_j f^j (truncation < 1e-17 relative
/// at |f| ≤ 0.1). A polynomial in f has no division; the atanh form 2s²(A + sB)/(1 − s),
/// s = f/(2+f), has two, each costing as much as ten fused multiply-adds on AVX-512.
pub(crate) const PHI_COEF: [f64; 15] = {
    let mut c = [0.0; 15];
    let mut j = 0;
    while j < 15 {
        let v = 1.0 / ((j + 1) * (j + 2)) as f64;
        c[j] = if j % 2 == 0 { v } else { -v };
        j += 1;
    }
    c
};

/// Above this many elements per member row group (S·C), pass 2 gathers from the input
/// again instead of keeping the group's values in a lane-major buffer (8·S·C f64 =
/// 1 MiB at the limit, L2-sized).
const TRANSPOSE_MAX: usize = 16_384;

/// Above this many classes, the fast pass's sums over classes are taken in blocks of
/// [`CLASS_BLOCK`] (see [`BlockSums`]); up to it, in one plain sum, as before the blocks
/// existed (the results there are unchanged, bit for bit).
const PLAIN_CLASSES_MAX: usize = 32;

/// Classes per plainly summed block where `classes > PLAIN_CLASSES_MAX`.
const CLASS_BLOCK: usize = 8;

/// The block length of the sums over `classes` classes: all of them, or [`CLASS_BLOCK`].
/// The fast pass's rounding bound grows with it, not with C ([`accept_fast`]).
#[inline(always)]
fn class_block(classes: usize) -> usize {
    if classes <= PLAIN_CLASSES_MAX {
        classes.max(1)
    } else {
        CLASS_BLOCK
    }
}

/// A sum over classes of non-negative terms, taken block by block: each block of
/// [`class_block`] terms is summed plainly (relative error ≤ (B − 1)ε), the block sums are
/// added by `two_sum` with their rounding errors collected (≤ 2ε + O(Cε²) more). So the
/// relative error is ≤ (B + 1)ε whatever C; a plain sum's (C − 1)ε made the acceptance
/// bound reject every random row at C = 1000 (all went to the double-double pass, 4× the
/// cost). One block: `two_sum(0, b)` = (b, 0), so `value` is the plain sum exactly.
#[derive(Clone, Copy)]
pub(super) struct BlockSums<V> {
    sum: V,
    comp: V,
}

impl<V: F8> BlockSums<V> {
    #[inline(always)]
    fn zero() -> Self {
        BlockSums {
            sum: V::splat(0.0),
            comp: V::splat(0.0),
        }
    }

    /// The value of a sum of one block, `part` (what [`blocked_sum`] gives for up to
    /// [`class_block`] classes).
    #[inline(always)]
    pub(super) fn of_block(part: V) -> V {
        let mut sum = Self::zero();
        sum.add_block(part);
        sum.value()
    }

    #[inline(always)]
    fn add_block(&mut self, block: V) {
        let (t, e) = dd::two_sum(self.sum, block);
        self.sum = t;
        self.comp = self.comp.add(e);
    }

    #[inline(always)]
    fn value(self) -> V {
        self.sum.add(self.comp)
    }
}

/// The class ranges of the blocks of a sum over `classes` classes.
#[inline(always)]
fn class_blocks(classes: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let block = class_block(classes);
    (0..classes)
        .step_by(block)
        .map(move |start| start..(start + block).min(classes))
}

/// Σ_c term(c) over `classes` classes in the blocks of [`class_blocks`] (each block plainly,
/// the block sums by [`BlockSums`]); `term` is called once per class, in class order.
#[inline(always)]
fn blocked_sum<V: F8>(classes: usize, mut term: impl FnMut(usize) -> V) -> V {
    let mut sum = BlockSums::zero();
    for range in class_blocks(classes) {
        let mut part = V::splat(0.0);
        for c in range {
            part = part.add(term(c));
        }
        sum.add_block(part);
    }
    sum.value()
}

/// The three results of one prediction, in nats, and the smallest input value (probability
/// input: below 0 means an input error; 0 for logits).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RowUncertainty {
    /// H(P̄).
    pub total: f64,
    /// mean_s H(P_s).
    pub aleatoric: f64,
    /// mean_s KL(P_s ‖ P̄), ≥ 0.
    pub epistemic: f64,
    /// min(0, smallest x), NaN ignored.
    pub min: f64,
}

/// Per-member lane state of a group, reused between groups (no allocation per group).
#[derive(Default)]
pub struct Scratch {
    x: Vec<[f64; GROUP]>,
    pbar: Vec<[f64; GROUP]>,
    pbar_comp: Vec<[f64; GROUP]>,
    shift: Vec<[f64; GROUP]>,
    z_hi: Vec<[f64; GROUP]>,
    z_lo: Vec<[f64; GROUP]>,
    z_inv: Vec<[f64; GROUP]>,
    ent: Vec<[f64; GROUP]>,
    others: Vec<[f64; GROUP]>,
    dominant: Vec<[f64; GROUP]>,
    d_hi: Vec<[f64; GROUP]>,
    d_lo: Vec<[f64; GROUP]>,
}

impl Scratch {
    /// Sizes the buffers for `members` members. Nothing is zeroed on reuse: every entry
    /// is written before it is read, and the entropy accumulators are reset by
    /// [`mean_member_entropy`] (zeroing ~40 KiB per group of 8 rows cost 10% of a call).
    fn resize(&mut self, members: usize) {
        if self.shift.len() == members {
            return;
        }
        for v in [
            &mut self.shift,
            &mut self.z_hi,
            &mut self.z_lo,
            &mut self.z_inv,
            &mut self.ent,
            &mut self.others,
            &mut self.dominant,
            &mut self.d_hi,
            &mut self.d_lo,
        ] {
            v.clear();
            v.resize(members, [0.0; GROUP]);
        }
    }
}

/// ln(1 + y) for y ∈ (−1/2, 0]: ln u + (y − (u − 1))/u with u = fl(1 + y); u − 1 is exact,
/// and the quotient restores what rounding 1 + y lost. ≤ 2 ULP.
#[inline(always)]
fn log1p_neg<V: F8>(y: V) -> V {
    let u = V::splat(1.0).add(y);
    ln_finite(u).add(y.sub(u.sub(V::splat(1.0))).div(u))
}

/// φ(f) = (1+f)·ln(1+f) − f ≥ 0 for f ≥ −1 (see the module docs).
#[inline(always)]
fn phi<V: F8>(f: V) -> V {
    let small = abs(f).le(V::splat(SERIES_MAX));
    let mut out = V::splat(0.0);
    if V::any(small) {
        let mut poly = V::splat(PHI_COEF[14]);
        for &k in PHI_COEF[..14].iter().rev() {
            poly = poly.mul_add(f, V::splat(k));
        }
        out = V::select(small, f.mul(f).mul(poly), out);
    }
    if !V::all(small) {
        let t = V::splat(1.0).add(f);
        let t = V::select(t.lt(V::splat(0.0)), V::splat(0.0), t);
        // φ at the rounded point t = fl(1 + f), t·ln t − (t − 1), plus the first-order
        // correction ln t·(f − (t − 1)) for the rounding of 1 + f (~2e-15 relative, against
        // 2e-14 for t·ln t − f). ln_finite(0) is finite, so t = 0 (P_sc = 0) gives 0·ln 0.
        let lt = ln_finite(t);
        let fp = t.sub(V::splat(1.0));
        let direct = t.mul(lt).sub(fp).add(lt.mul(f.sub(fp)));
        out = V::select(small, out, direct);
    }
    out
}

/// Lane l of the vector: member row `rows[l]`, class `c`, as f64.
#[inline(always)]
fn gather<V: F8, T: Real>(rows: &[&[T]; GROUP], c: usize) -> V {
    V::from_array(std::array::from_fn(|l| rows[l][c].to_f64()))
}

/// `block[c][l] = rows[l][c]` (widened) for the `block.len()` classes of eight member
/// rows: the lane-major copy of pass 1. From eight classes up, 8×8 blocks loaded as vectors
/// and transposed in registers ([`F8::transpose8`]), the last block overlapping the one
/// before where 8 does not divide C (it rewrites the same values). Two or three classes
/// whose rows are `adjacent` (the eight rows back to back, row l = `rows[l]`; empty when
/// they are not) are split in registers ([`F8::deinterleave`], and [`F8::deinterleave3`]
/// where that is permutations); other short rows element by element. PERF: the element
/// loop (rows outer) became 64-byte-strided scatters (`vscatterqpd`), ~20% of
/// (30, 10^5, 10) float32 in `perf`.
#[inline(always)]
fn copy_lane_major<V: F8, T: Real>(
    rows: &[&[T]; GROUP],
    adjacent: &[T],
    block: &mut [[f64; GROUP]],
) {
    let classes = block.len();
    if adjacent.len() == GROUP * classes {
        // the eight rows back to back: two- and three-class rows split in registers
        // (PERF: the element loop was the copy of (8, 10^6, 2), the weakest shape)
        if let [first, second] = block {
            let a: V = T::load_lanes(adjacent[..8].try_into().expect("8 values"));
            let b: V = T::load_lanes(adjacent[8..16].try_into().expect("8 values"));
            let (x, y) = V::deinterleave(a, b);
            x.store_f64(first);
            y.store_f64(second);
            return;
        }
        if let ([first, second, third], true) = (&mut *block, V::PERMUTE_LOOKUP) {
            let a: V = T::load_lanes(adjacent[..8].try_into().expect("8 values"));
            let b: V = T::load_lanes(adjacent[8..16].try_into().expect("8 values"));
            let c: V = T::load_lanes(adjacent[16..24].try_into().expect("8 values"));
            let (x, y, z) = V::deinterleave3(a, b, c);
            x.store_f64(first);
            y.store_f64(second);
            z.store_f64(third);
            return;
        }
    }
    if classes < GROUP {
        for (l, row) in rows.iter().enumerate() {
            let row = &row[..classes];
            // PERF: an index loop; `iter_mut().zip(..)` was not inlined into the
            // target-feature function (15% of a call at C = 2).
            for c in 0..classes {
                block[c][l] = row[c].to_f64();
            }
        }
        return;
    }
    let mut next = 0;
    while next < classes {
        let start = next.min(classes - GROUP);
        // index loops, as above
        let mut loaded = [V::splat(0.0); GROUP];
        for l in 0..GROUP {
            loaded[l] = T::load_lanes(rows[l][start..start + GROUP].try_into().expect("8 values"));
        }
        let columns = V::transpose8(loaded);
        for k in 0..GROUP {
            columns[k].store_f64(&mut block[start + k]);
        }
        next = start + GROUP;
    }
}

#[inline(always)]
fn group_body<V: F8, T: Real>(
    rows: &[[&[T]; GROUP]],
    blocks: &[&[T]],
    classes: usize,
    from_logits: bool,
    scratch: &mut Scratch,
    out: &mut [RowUncertainty; GROUP],
) {
    if dd::fused::<V>() {
        group_impl::<V, T, true>(rows, blocks, classes, from_logits, scratch, out)
    } else {
        group_impl::<V, T, false>(rows, blocks, classes, from_logits, scratch, out)
    }
}

#[inline(always)]
fn group_impl<V: F8, T: Real, const FMA: bool>(
    rows: &[[&[T]; GROUP]],
    blocks: &[&[T]],
    classes: usize,
    from_logits: bool,
    scratch: &mut Scratch,
    out: &mut [RowUncertainty; GROUP],
) {
    let members = rows.len().max(blocks.len());
    scratch.resize(members);
    let buffered = members * classes <= TRANSPOSE_MAX;
    if buffered && scratch.x.len() < members * classes {
        scratch.x.resize(members * classes, [0.0; GROUP]);
    }
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let mut min = zero;
    let mut bad = zero;

    // Float32 probabilities of full groups of adjacent rows: pass 1 and the member
    // entropies from registers (module docs, (8)); the buffer is filled, and the rows cut
    // from `blocks` where the caller left them out, only should a row need them.
    let registers = register_path::<T>(V::PERMUTE_LOOKUP, members, classes, from_logits)
        && blocks.len() == members
        && blocks.iter().all(|b| b.len() == GROUP * classes);
    let cut: Vec<[&[T]; GROUP]>;
    let rows = if rows.len() < members && !registers {
        cut = rows_of(blocks, classes);
        &cut[..]
    } else {
        rows
    };
    if registers {
        scratch.pbar.clear();
        scratch.pbar.resize(classes, [0.0; GROUP]);
        let Scratch {
            z_hi,
            z_inv,
            shift,
            pbar,
            ..
        } = &mut *scratch;
        let r = ensemble_f32::from_registers::<V, T>(
            blocks,
            classes,
            (Z_MIN, Z_MAX),
            &mut z_hi[..members],
            &mut z_inv[..members],
            &mut pbar[..classes],
        );
        shift[..members].fill([0.0; GROUP]);
        (min, bad) = (r.min, r.bad);
        #[cfg(test)]
        tests::REGISTER_GROUPS.with(|n| n.set(n.get() + 1));
        let skip = bad.eq(one);
        let (mut total, mut aleatoric, mut accept) =
            f32_log_kept::<V, T>(classes, members, r.entropies, scratch);
        let cut: Vec<[&[T]; GROUP]>;
        let rows = if V::all(accept) && !V::any(skip) {
            #[cfg(test)]
            tests::F32_LOG_GROUPS.with(|n| n.set(n.get() + 1));
            // every row kept: no f64 pass and no reference row, nothing reads `rows`
            rows
        } else {
            let rows = if rows.len() < members {
                cut = rows_of(blocks, classes);
                &cut[..]
            } else {
                rows
            };
            if !V::all(V::or(accept, skip)) {
                for (s, r) in rows.iter().enumerate() {
                    let block = &mut scratch.x[s * classes..(s + 1) * classes];
                    copy_lane_major::<V, T>(r, blocks[s], block);
                }
                (total, aleatoric, accept) =
                    f32_log_fallback::<V, T>(rows, classes, (total, aleatoric, accept), scratch);
            } else {
                #[cfg(test)]
                tests::F32_LOG_GROUPS.with(|n| n.set(n.get() + 1));
            }
            rows
        };
        return finish_group::<V, T, FMA>(
            rows,
            classes,
            from_logits,
            buffered,
            scratch,
            total,
            aleatoric,
            accept,
            bad,
            min,
            out,
        );
    }

    // Pass 1 (the one read from memory): each member's total Z_s; its max logit first
    // with `from_logits`. The values (exponentials for logits) are kept lane-major for
    // pass 2: each lane's row is copied in order (contiguous reads), which costs less than
    // gathering eight rows per vector.
    // PERF: every member is copied before any is summed. Summing each member right after
    // its copy loaded each vector while its eight lane stores were still in the store
    // buffer (a wide load cannot be forwarded from narrow stores, so each waited for them
    // to drain): 15% of a call at (30, 10^5, 10).
    if buffered {
        for (s, r) in rows.iter().enumerate() {
            let adjacent = blocks.get(s).copied().unwrap_or(&[]);
            copy_lane_major::<V, T>(r, adjacent, &mut scratch.x[s * classes..(s + 1) * classes]);
        }
    }
    for (s, r) in rows.iter().enumerate() {
        let (shift, sum) = if buffered {
            let block = &mut scratch.x[s * classes..(s + 1) * classes];
            if from_logits {
                member_total_logits::<V>(block)
            } else {
                // PERF: the smallest value in a local register per member (as one
                // accumulator across members LLVM kept it on the stack: a store-to-load
                // round trip per vector, 20% of a call).
                let (sum, low) = member_total(block);
                min = min.min_ignoring_nan(low);
                (zero, sum)
            }
        } else {
            let shift = if from_logits {
                let mut m = V::splat(f64::NEG_INFINITY);
                for c in 0..classes {
                    m = m.max_ignoring_nan(gather::<V, T>(r, c));
                }
                m
            } else {
                zero
            };
            let sum = blocked_sum(classes, |c| {
                let x = gather::<V, T>(r, c);
                if from_logits {
                    exp(x.sub(shift))
                } else {
                    min = min.min_ignoring_nan(x);
                    x
                }
            });
            (shift, sum)
        };
        // Blocked sums (relative error ≤ (B + 1)ε, in the fast pass's bound); the exact
        // pass recomputes them compensated.
        let ok = V::and(sum.ge(V::splat(Z_MIN)), sum.le(V::splat(Z_MAX)));
        bad = V::select(ok, bad, one);
        scratch.shift[s] = shift.to_array();
        scratch.z_hi[s] = sum.to_array();
        scratch.z_inv[s] = one.div(sum).to_array();
    }

    // Pass 2, fast: f64 probabilities, entropies, epistemic = total − aleatoric. Exact
    // wherever that difference does not cancel; the bound below decides.
    let skip = bad.eq(one);
    let (total, aleatoric, accept) =
        fast_results::<V, T>(rows, classes, from_logits, buffered, skip, scratch);
    finish_group::<V, T, FMA>(
        rows,
        classes,
        from_logits,
        buffered,
        scratch,
        total,
        aleatoric,
        accept,
        bad,
        min,
        out,
    )
}

/// The end of a group: the double-double pass for the lanes the fast results are not
/// exact enough for (`accept`), the clamp of epistemic at 0, and the results — the scalar
/// reference for the `bad` lanes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn finish_group<V: F8, T: Real, const FMA: bool>(
    rows: &[[&[T]; GROUP]],
    classes: usize,
    from_logits: bool,
    buffered: bool,
    scratch: &mut Scratch,
    total: V,
    aleatoric: V,
    accept: V::Mask,
    bad: V,
    min: V,
    out: &mut [RowUncertainty; GROUP],
) {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let epi = total.sub(aleatoric);
    let (mut total, mut aleatoric, mut epi) = (total, aleatoric, epi);
    if !V::all(V::or(accept, bad.eq(one))) {
        #[cfg(test)]
        tests::EXACT_PASSES.with(|n| n.set(n.get() + 1));
        let (t, a, e) = exact_pass::<V, T, FMA>(rows, classes, from_logits, buffered, scratch);
        total = V::select(accept, total, t);
        aleatoric = V::select(accept, aleatoric, a);
        epi = V::select(accept, epi, e);
    }
    let epi = V::select(epi.lt(zero), zero, epi);
    let (total, aleatoric, epi) = (total.to_array(), aleatoric.to_array(), epi.to_array());
    let (bad, min) = (bad.to_array(), min.to_array());
    for l in 0..GROUP {
        out[l] = if bad[l] != 0.0 {
            let member_rows: Vec<&[T]> = rows.iter().map(|r| r[l]).collect();
            reference(&member_rows, classes, from_logits)
        } else {
            RowUncertainty {
                total: total[l],
                aleatoric: aleatoric[l],
                epistemic: epi[l],
                min: min[l],
            }
        };
    }
}

/// Float32 probabilities take [`ensemble_f32`]'s member entropies from this many classes
/// up (one class keeps the f64 pass: every entropy is 0; module docs, (7)).
const F32_LOGS_FROM: usize = 2;

/// Up to this many classes, full groups of adjacent float32 rows take pass 1 and the member
/// entropies from registers ([`ensemble_f32::from_registers`]; module docs, (8)).
const REGISTER_CLASSES_MAX: usize = crate::simd::column_pairs::MAX_COLUMNS;

/// The fast pass's (total, aleatoric) and the lanes they are exact enough for (the others,
/// unless `skip`ped, take the double-double pass). Buffered float32 probabilities of at
/// least [`F32_LOGS_FROM`] classes first take the member entropies from float32 logarithm
/// parts ([`ensemble_f32`], kept per row on its bound); the rows it does not keep, and
/// every other input, take [`fast_pass`] and [`accept_fast`]. The total is the same either
/// way (the same sums of P̄ in the same order).
#[inline(always)]
fn fast_results<V: F8, T: Real>(
    rows: &[[&[T]; GROUP]],
    classes: usize,
    from_logits: bool,
    buffered: bool,
    skip: V::Mask,
    scratch: &mut Scratch,
) -> (V, V, V::Mask) {
    let members = rows.len();
    if T::IS_F32 && buffered && !from_logits && classes >= F32_LOGS_FROM {
        scratch.pbar.clear();
        scratch.pbar.resize(classes, [0.0; GROUP]);
        let Scratch {
            x,
            z_hi,
            z_inv,
            pbar,
            ..
        } = &mut *scratch;
        let m = ensemble_f32::member_entropies::<V>(
            &x[..members * classes],
            classes,
            &z_hi[..members],
            &z_inv[..members],
            &mut pbar[..classes],
        );
        let (total, aleatoric, kept) = f32_log_kept::<V, T>(classes, members, m, scratch);
        if V::all(V::or(kept, skip)) {
            #[cfg(test)]
            tests::F32_LOG_GROUPS.with(|n| n.set(n.get() + 1));
            return (total, aleatoric, kept);
        }
        return f32_log_fallback::<V, T>(rows, classes, (total, aleatoric, kept), scratch);
    }
    let (total, aleatoric) = fast_pass::<V, T>(rows, classes, from_logits, buffered, scratch);
    let accept = accept_fast::<V, T>(total, aleatoric, classes, members);
    (total, aleatoric, accept)
}

/// (total, aleatoric, kept) of a buffered float32 group from its members' float32-logarithm
/// entropies `m` and the P̄ sums in `scratch.pbar`: a row is kept where [`ensemble_f32`]'s
/// bound holds (see [`f32_log_fallback`] for the others).
#[inline(always)]
fn f32_log_kept<V: F8, T: Real>(
    classes: usize,
    members: usize,
    m: ensemble_f32::MemberEntropies<V>,
    scratch: &Scratch,
) -> (V, V, V::Mask) {
    let total = mean_entropy::<V>(scratch, classes, members, false);
    let aleatoric = m.aleatoric;
    let tolerance = V::splat(ensemble_f32::TOLERANCE);
    let bound = fast_bound::<V, T>(total, aleatoric, classes, members).add(m.error);
    let kept = V::and(
        m.in_domain,
        V::and(
            bound.le(tolerance.mul(total.sub(aleatoric))),
            m.error.le(tolerance.mul(aleatoric)),
        ),
    );
    (total, aleatoric, kept)
}

/// A float32 group a row of which [`f32_log_kept`] refused (the buffer filled): the whole
/// group takes [`fast_pass`], the refused rows its results and [`accept_fast`].
#[inline(always)]
fn f32_log_fallback<V: F8, T: Real>(
    rows: &[[&[T]; GROUP]],
    classes: usize,
    (total, aleatoric, kept): (V, V, V::Mask),
    scratch: &mut Scratch,
) -> (V, V, V::Mask) {
    let (t, a) = fast_pass::<V, T>(rows, classes, false, true, scratch);
    let accept = accept_fast::<V, T>(t, a, classes, rows.len());
    (
        V::select(kept, total, t),
        V::select(kept, aleatoric, a),
        V::or(kept, accept),
    )
}

/// Whether [`uncertainty_group`] takes full groups of adjacent rows through registers
/// (module docs, (8)): float32 probabilities of [`F32_LOGS_FROM`] … [`REGISTER_CLASSES_MAX`]
/// classes, buffered, where the permutes are single instructions (`permute`:
/// [`F8::PERMUTE_LOOKUP`], AVX-512).
#[inline(always)]
fn register_path<T: Real>(
    permute: bool,
    members: usize,
    classes: usize,
    from_logits: bool,
) -> bool {
    T::IS_F32
        && permute
        && !from_logits
        && members * classes <= TRANSPOSE_MAX
        && (F32_LOGS_FROM..=REGISTER_CLASSES_MAX).contains(&classes)
}

/// Whether [`uncertainty_group`], on this CPU, needs no `rows` for a full group of adjacent
/// rows given as `blocks`: it takes the register path and cuts the rows from the blocks
/// itself should one need them (the caller's cutting was ~3% of (30, 10^5, 10) float32).
pub fn cuts_its_rows<T: Real>(members: usize, classes: usize, from_logits: bool) -> bool {
    register_path::<T>(
        crate::simd::isa() == crate::simd::Isa::Avx512,
        members,
        classes,
        from_logits,
    )
}

/// The eight rows of each member from its rows back to back.
fn rows_of<'a, T>(blocks: &[&'a [T]], classes: usize) -> Vec<[&'a [T]; GROUP]> {
    blocks
        .iter()
        .map(|b| std::array::from_fn(|l| &b[l * classes..(l + 1) * classes]))
        .collect()
}

/// The fast pass's rounding bound on total and aleatoric, γ·(total + aleatoric) (and the
/// plain P̄ sums' Sε·(total + 1) for float32 input); see [`accept_fast`].
#[inline(always)]
fn fast_bound<V: F8, T: Real>(total: V, aleatoric: V, classes: usize, members: usize) -> V {
    let gamma = (4 * class_block(classes) + 40) as f64 * f64::EPSILON;
    let bound = V::splat(gamma).mul(total.add(aleatoric));
    // float32 input sums P̄ plainly (see `fast_pass`): each P̄_c is then off by up to
    // Sε relative, which moves H(P̄) by at most Σ_c |δP̄_c|·|ln P̄_c + 1| ≤ Sε·(total + 1).
    if T::IS_F32 {
        bound.add(V::splat(members as f64 * f64::EPSILON).mul(total.add(V::splat(1.0))))
    } else {
        bound
    }
}

/// The lanes whose fast-pass epistemic part, total − aleatoric, is exact to the tolerance
/// (1e-12 relative for float64 input, 1e-7 for float32): where a bound on the rounding
/// error of the two entropies, γ·(total + aleatoric), is at most tolerance × the difference.
///
/// γ = (4B + 40)ε, B = [`class_block`]`(C)` ≤ 32, ε = 2^−53, from:
/// - a member total Z_s is a blocked sum, relative error ≤ (B + 1)ε ([`BlockSums`]); the
///   reciprocal and x·(1/Z_s) add 2ε, so each p has relative error ρ ≤ (B + 3)ε;
/// - a term p·ln(1/p) with p ≤ ½ (|ln p| ≥ ln 2): ρ moves ln p by ρ, ≤ 1.45ρ relative, and
///   the logarithm rounds by ≤ 1 ULP (2ε): the term is within (2.45ρ + 2ε); the dominant
///   mass's p_m·(−log1p(−r)) is within 2ρ + (B + 6)ε; the blocked sum of the terms adds
///   (B + 1)ε. So a member's entropy is within (3.5B + 11)ε, their compensated mean 2ε
///   more; S does not enter (with plain sums over members the bound grew by 3Sε, and at
///   S = 100 7% of random rows went to the double-double pass);
/// - P̄ (a compensated sum over members, times 1/S) has ρ + 3ε, so H(P̄) is within
///   (3.5B + 18)ε.
///
/// Before the blocked sums B was C: at C = 1000 the bound rejected every random row (a
/// Dirichlet(1) ensemble's epistemic part is ~3% of total + aleatoric, the bound 4040ε ≈
/// 9e-13 of it).
#[inline(always)]
fn accept_fast<V: F8, T: Real>(total: V, aleatoric: V, classes: usize, members: usize) -> V::Mask {
    let zero = V::splat(0.0);
    let tolerance = if T::IS_F32 { 1e-7 } else { 1e-12 };
    let bound = fast_bound::<V, T>(total, aleatoric, classes, members);
    V::or(
        bound.le(V::splat(tolerance).mul(total.sub(aleatoric))),
        total.add(aleatoric).eq(zero),
    )
}

/// (Σ x, min(0, x)) of one member's lane-major values.
#[inline(always)]
fn member_total<V: F8>(block: &[[f64; GROUP]]) -> (V, V) {
    let mut low = V::splat(0.0);
    let sum = blocked_sum(block.len(), |c| {
        let x = V::from_array(block[c]);
        low = low.min_ignoring_nan(x);
        x
    });
    (sum, low)
}

/// (max z, Σ exp(z − max z)) of one member's lane-major logits, which it replaces by
/// their exponentials.
#[inline(always)]
fn member_total_logits<V: F8>(block: &mut [[f64; GROUP]]) -> (V, V) {
    let mut m = V::splat(f64::NEG_INFINITY);
    for v in block.iter() {
        m = m.max_ignoring_nan(V::from_array(*v));
    }
    // blocked_sum's loop written out: its closure, holding `exp`, was not inlined and so
    // ran without the caller's target features (a call per vector operation; see
    // `tests/test_simd_inlining.py`). The same sums in the same order.
    let mut sum = BlockSums::zero();
    for range in class_blocks(block.len()) {
        let mut part = V::splat(0.0);
        for slot in &mut block[range] {
            let e = exp(V::from_array(*slot).sub(m));
            *slot = e.to_array();
            part = part.add(e);
        }
        sum.add_block(part);
    }
    (m, sum.value())
}

/// Member s's value for class c: from the lane-major buffer, or gathered again.
#[inline(always)]
fn value<V: F8, T: Real>(
    rows: &[[&[T]; GROUP]],
    s: usize,
    c: usize,
    classes: usize,
    from_logits: bool,
    buffered: bool,
    scratch: &Scratch,
) -> V {
    if buffered {
        V::from_array(scratch.x[s * classes + c])
    } else if from_logits {
        exp(gather::<V, T>(&rows[s], c).sub(V::from_array(scratch.shift[s])))
    } else {
        gather::<V, T>(&rows[s], c)
    }
}

/// Adds p's entropy term to member s's accumulators (the mass above 1/2 kept aside).
#[inline(always)]
fn add_entropy_term<V: F8>(scratch: &mut Scratch, s: usize, p: V) {
    let (zero, half) = (V::splat(0.0), V::splat(0.5));
    let big = p.gt(half);
    let term = p.mul(zero.sub(ln_finite(p)));
    let ent = V::from_array(scratch.ent[s]).add(V::select(big, zero, term));
    scratch.ent[s] = ent.to_array();
    let oth = V::from_array(scratch.others[s]).add(V::select(big, zero, p));
    scratch.others[s] = oth.to_array();
    let dom = V::select(big, p, V::from_array(scratch.dominant[s]));
    scratch.dominant[s] = dom.to_array();
}

/// Σ p·ln(1/p) from the accumulators: the non-dominant terms plus p_m·(−log1p(−r)).
#[inline(always)]
fn finish_entropy<V: F8>(ent: V, others: V, dominant: V) -> V {
    let zero = V::splat(0.0);
    // PERF: the dominant term costs a logarithm and a division per member row, ~7% of a
    // call at C = 10; skipped (with the same result, ent + 0) where no lane has a mass
    // above 1/2.
    if !V::any(dominant.gt(zero)) {
        return ent.add(zero);
    }
    let dom_term = V::select(
        dominant.gt(zero),
        dominant.mul(zero.sub(log1p_neg(zero.sub(others)))),
        zero,
    );
    ent.add(dom_term)
}

/// Mean of the members' entropies from their accumulators (which it resets).
#[inline(always)]
fn mean_member_entropy<V: F8>(scratch: &mut Scratch, members: usize) -> V {
    let mut sum = V::splat(0.0);
    for s in 0..members {
        sum = sum.add(finish_entropy(
            V::from_array(scratch.ent[s]),
            V::from_array(scratch.others[s]),
            V::from_array(scratch.dominant[s]),
        ));
        scratch.ent[s] = [0.0; GROUP];
        scratch.others[s] = [0.0; GROUP];
        scratch.dominant[s] = [0.0; GROUP];
    }
    sum.div(V::splat(members as f64))
}

/// exp(z_sc − max_c z_sc) in double-double, for the exact pass with `from_logits`: as
/// x_0c·(1 + expm1(Δ)), Δ = (z_sc − z_0c) − (max z_s − max z_0) (exact differences where
/// the members are close), so the members' differences keep their digits where the exp
/// of each member's logits would round them away (1 ULP = 1e-16, against differences of
/// 1e-8). expm1 is libm's, lane by lane (this pass is rare). Where member 0 has −inf, or
/// Δ is not finite, the plain exp.
#[inline(always)]
fn logit_value<V: F8, T: Real, const FMA: bool>(
    rows: &[[&[T]; GROUP]],
    s: usize,
    c: usize,
    scratch: &Scratch,
) -> Dd<V> {
    let zs = gather::<V, T>(&rows[s], c);
    let shift_s = V::from_array(scratch.shift[s]);
    let direct = exp(zs.sub(shift_s));
    if s == 0 {
        return Dd {
            hi: direct,
            lo: V::splat(0.0),
        };
    }
    let z0 = gather::<V, T>(&rows[0], c);
    let shift_0 = V::from_array(scratch.shift[0]);
    let x0 = exp(z0.sub(shift_0));
    let delta = zs.sub(z0).sub(shift_s.sub(shift_0));
    let g = V::from_array(delta.to_array().map(f64::exp_m1));
    // x0 + x0·g, the product exact.
    let (p, e) = dd::two_prod::<V, FMA>(x0, g);
    let (hi, lo) = dd::two_sum(x0, p);
    let (hi, lo) = dd::fast_two_sum(hi, lo.add(e));
    let finite = abs(delta).lt(V::splat(f64::INFINITY));
    let ok = V::and(finite, z0.gt(V::splat(f64::NEG_INFINITY)));
    Dd {
        hi: V::select(ok, hi, direct),
        lo: V::select(ok, lo, V::splat(0.0)),
    }
}

/// One probability's share of a member's entropy: `neg += q·ln p` and `others += q` with
/// q = p for p ≤ 1/2, 0 for the (at most one) mass above 1/2, which is kept in `dominant`.
#[inline(always)]
fn entropy_step<V: F8>(p: V, neg: &mut V, others: &mut V, dominant: &mut V) {
    let big = p.gt(V::splat(0.5));
    let q = V::select(big, V::splat(0.0), p);
    // q > 0 only where p ≤ ½: there the table logarithm is ≤ 1 ULP, as `ln_finite`,
    // without its division (the divider bounded this loop on AVX-512); where the table
    // is looked up by gathers (AVX2) the division is the cheaper of the two
    let ln_p = if V::PERMUTE_LOOKUP {
        ln_by_table(p)
    } else {
        ln_finite(p)
    };
    *neg = q.mul_add(ln_p, *neg);
    *others = others.add(q);
    *dominant = V::select(big, p, *dominant);
}

/// Pass 2 in f64: (total, aleatoric). Each entropy is accurate to ~(3.5B + 11)ε relative,
/// B = [`class_block`] (see [`accept_fast`]).
#[inline(always)]
fn fast_pass<V: F8, T: Real>(
    rows: &[[&[T]; GROUP]],
    classes: usize,
    from_logits: bool,
    buffered: bool,
    scratch: &mut Scratch,
) -> (V, V) {
    let members = rows.len();
    let zero = V::splat(0.0);
    // Members outer, classes inner: a member's entropy accumulators stay in registers,
    // P̄'s sums are the only per-class state (one load and store per element).
    // PERF: the class-outer order kept three accumulators per member in memory (six
    // memory operations per element) and ran ~25% slower.
    // PERF: float32 input sums P̄ plainly: its acceptance tolerance (1e-7) leaves room
    // for the Sε of a plain sum over members, and the compensation (two_sum, a second
    // accumulator in memory) was 8 of the loop's ~45 vector operations per element.
    // float64 input keeps it (with plain sums the bound grew by 3Sε, and at S = 100 7% of
    // random rows were sent to the double-double pass).
    let compensate = !T::IS_F32;
    scratch.pbar.clear();
    scratch.pbar.resize(classes, [0.0; GROUP]);
    if compensate {
        scratch.pbar_comp.clear();
        scratch.pbar_comp.resize(classes, [0.0; GROUP]);
    }
    let (mut ent_sum, mut ent_comp) = (zero, zero);
    for s in 0..members {
        let inv = V::from_array(scratch.z_inv[s]);
        // `neg` accumulates Σ q·ln p ≤ 0 (one fused operation per element), block by block.
        let (mut neg, mut others, mut dominant) = (BlockSums::zero(), BlockSums::zero(), zero);
        for range in class_blocks(classes) {
            let (mut neg_part, mut others_part) = (zero, zero);
            if buffered {
                let Scratch {
                    x, pbar, pbar_comp, ..
                } = &mut *scratch;
                let xs = &x[s * classes..(s + 1) * classes];
                let pbar = &mut pbar[..classes];
                for c in range {
                    let p = V::from_array(xs[c]).mul(inv);
                    if compensate {
                        let (t, e) = dd::two_sum(V::from_array(pbar[c]), p);
                        pbar[c] = t.to_array();
                        pbar_comp[c] = V::from_array(pbar_comp[c]).add(e).to_array();
                    } else {
                        pbar[c] = V::from_array(pbar[c]).add(p).to_array();
                    }
                    entropy_step(p, &mut neg_part, &mut others_part, &mut dominant);
                }
            } else {
                for c in range {
                    let x = value::<V, T>(rows, s, c, classes, from_logits, buffered, scratch);
                    let p = x.mul(inv);
                    if compensate {
                        let (t, e) = dd::two_sum(V::from_array(scratch.pbar[c]), p);
                        scratch.pbar[c] = t.to_array();
                        scratch.pbar_comp[c] =
                            V::from_array(scratch.pbar_comp[c]).add(e).to_array();
                    } else {
                        scratch.pbar[c] = V::from_array(scratch.pbar[c]).add(p).to_array();
                    }
                    entropy_step(p, &mut neg_part, &mut others_part, &mut dominant);
                }
            }
            neg.add_block(neg_part);
            others.add_block(others_part);
        }
        let entropy = finish_entropy(zero.sub(neg.value()), others.value(), dominant);
        let (t, e) = dd::two_sum(ent_sum, entropy);
        ent_sum = t;
        ent_comp = ent_comp.add(e);
    }
    let ent_sum = ent_sum.add(ent_comp);
    (
        mean_entropy(scratch, classes, members, compensate),
        ent_sum.div(V::splat(members as f64)),
    )
}

/// H(P̄) from the members' sums Σ_s P_s in `scratch.pbar` (and their compensations with
/// `compensate`), accurate to ~(3.5B + 18)ε relative ([`accept_fast`]).
#[inline(always)]
fn mean_entropy<V: F8>(scratch: &Scratch, classes: usize, members: usize, compensate: bool) -> V {
    let (zero, half) = (V::splat(0.0), V::splat(0.5));
    let inv_count = V::splat(1.0 / members as f64);
    let (mut ent_bar, mut others_bar, mut dominant_bar) =
        (BlockSums::zero(), BlockSums::zero(), zero);
    for range in class_blocks(classes) {
        let (mut ent_part, mut others_part) = (zero, zero);
        for c in range {
            let sum = V::from_array(scratch.pbar[c]);
            let sum = if compensate {
                sum.add(V::from_array(scratch.pbar_comp[c]))
            } else {
                sum
            };
            let pbar = sum.mul(inv_count);
            let big = pbar.gt(half);
            let term = pbar.mul(zero.sub(ln_finite(pbar)));
            ent_part = ent_part.add(V::select(big, zero, term));
            others_part = others_part.add(V::select(big, zero, pbar));
            dominant_bar = V::select(big, pbar, dominant_bar);
        }
        ent_bar.add_block(ent_part);
        others_bar.add_block(others_part);
    }
    finish_entropy(ent_bar.value(), others_bar.value(), dominant_bar)
}

/// Member s's value for class c in the exact pass, as a double-double (logits: anchored on
/// member 0, [`logit_value`]). A function, not a closure inside [`exact_pass`]: a closure is
/// compiled without the SIMD caller's target features, and every vector operation in it
/// was a call (see `tests/test_simd_inlining.py`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn exact_value<V: F8, T: Real, const FMA: bool>(
    rows: &[[&[T]; GROUP]],
    s: usize,
    c: usize,
    classes: usize,
    from_logits: bool,
    buffered: bool,
    scratch: &Scratch,
) -> Dd<V> {
    if from_logits {
        logit_value::<V, T, FMA>(rows, s, c, scratch)
    } else {
        Dd {
            hi: value::<V, T>(rows, s, c, classes, from_logits, buffered, scratch),
            lo: V::splat(0.0),
        }
    }
}

/// Pass 2 with double-double differences: (total, aleatoric, epistemic) for rows whose
/// members nearly agree (see the module docs).
#[inline(always)]
fn exact_pass<V: F8, T: Real, const FMA: bool>(
    rows: &[[&[T]; GROUP]],
    classes: usize,
    from_logits: bool,
    buffered: bool,
    scratch: &mut Scratch,
) -> (V, V, V) {
    let members = rows.len();
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    // The member totals, compensated (Z_s to ~2^−104).
    for s in 0..members {
        let mut sum = Dd::zero();
        for c in 0..classes {
            sum = dd::add(
                sum,
                exact_value::<V, T, FMA>(rows, s, c, classes, from_logits, buffered, scratch),
            );
        }
        scratch.z_hi[s] = sum.hi.to_array();
        scratch.z_lo[s] = sum.lo.to_array();
        scratch.z_inv[s] = one.div(sum.hi).to_array();
    }
    let count = V::splat(members as f64);
    let (mut ent_bar, mut others_bar, mut dominant_bar, mut epistemic) = (zero, zero, zero, zero);
    for c in 0..classes {
        let mut p0 = Dd::zero();
        let mut dsum = Dd::zero();
        for s in 0..members {
            let x = exact_value::<V, T, FMA>(rows, s, c, classes, from_logits, buffered, scratch);
            let z = Dd {
                hi: V::from_array(scratch.z_hi[s]),
                lo: V::from_array(scratch.z_lo[s]),
            };
            let inv = V::from_array(scratch.z_inv[s]);
            let p = dd::div_by::<V, FMA>(x.hi, z, inv);
            let p = if from_logits {
                dd::add_f64(p, x.lo.mul(inv))
            } else {
                p
            };
            add_entropy_term(scratch, s, p.hi);
            // Differences from member 0.
            let delta = if s == 0 {
                p0 = p;
                Dd::zero()
            } else {
                dd::sub(p, p0)
            };
            dsum = dd::add(dsum, delta);
            scratch.d_hi[s] = delta.hi.to_array();
            scratch.d_lo[s] = delta.lo.to_array();
        }
        let mean_delta = dd::div_f64::<V, FMA>(dsum, count);
        let pbar = dd::add(p0, mean_delta).hi;
        let big = pbar.gt(V::splat(0.5));
        let term = pbar.mul(zero.sub(ln_finite(pbar)));
        ent_bar = ent_bar.add(V::select(big, zero, term));
        others_bar = others_bar.add(V::select(big, zero, pbar));
        dominant_bar = V::select(big, pbar, dominant_bar);

        // Σ_s φ(f_sc), f = (δ_s − mean δ)/P̄. A subnormal P̄ has no finite reciprocal.
        let tiny = pbar.lt(V::splat(f64::MIN_POSITIVE));
        let inv = one.div(pbar);
        let mut phis = zero;
        for s in 0..members {
            let delta = Dd {
                hi: V::from_array(scratch.d_hi[s]),
                lo: V::from_array(scratch.d_lo[s]),
            };
            let d = dd::sub(delta, mean_delta).to_f64();
            let f = if V::any(tiny) {
                V::select(tiny, d.div(pbar), d.mul(inv))
            } else {
                d.mul(inv)
            };
            phis = phis.add(phi(f));
        }
        let contrib = V::select(pbar.eq(zero), zero, pbar.mul(phis));
        epistemic = epistemic.add(contrib);
    }
    let aleatoric = mean_member_entropy(scratch, members);
    (
        finish_entropy(ent_bar, others_bar, dominant_bar),
        aleatoric,
        epistemic.div(count),
    )
}

crate::simd::multiversion! {
    /// The uncertainty of eight predictions: `rows[s][l]` is member s's distribution (or
    /// logits) for prediction l, each of length at least `classes`; results into `out`.
    /// Pad a short group by repeating a row.
    /// `blocks[s]`, where given (else empty), is member s's eight rows back to back
    /// (`8·classes` values, row l equal to `rows[s][l]`): short rows are then copied by
    /// whole vectors.
    pub fn uncertainty_group<T: Real>(rows: &[[&[T]; GROUP]], blocks: &[&[T]], classes: usize, from_logits: bool, scratch: &mut Scratch, out: &mut [RowUncertainty; GROUP]) -> () = group_body;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::xorshift;
    use crate::kernels::adversarial::{close, positive};
    use crate::kernels::ensemble_reference::phi_scalar;

    thread_local! {
        /// Groups this thread sent to the double-double pass.
        pub(super) static EXACT_PASSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Groups this thread finished with float32 member entropies alone.
        pub(super) static F32_LOG_GROUPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Groups this thread took through pass 1 from registers.
        pub(super) static REGISTER_GROUPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Runs the dispatched kernel on `preds` (each a list of S member rows), in groups.
    fn run<T: Real>(preds: &[Vec<Vec<T>>], classes: usize, logits: bool) -> Vec<RowUncertainty> {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        for group in preds.chunks(GROUP) {
            let members = group[0].len();
            let rows: Vec<[&[T]; GROUP]> = (0..members)
                .map(|s| std::array::from_fn(|l| &group[l.min(group.len() - 1)][s][..]))
                .collect();
            let mut res = [RowUncertainty::default(); GROUP];
            uncertainty_group(&rows, &[], classes, logits, &mut scratch, &mut res);
            // and with each member's rows back to back (the copy by whole vectors where
            // C is 2 or 3): the same bits
            let backing: Vec<Vec<T>> = rows
                .iter()
                .map(|r| {
                    r.iter()
                        .flat_map(|row| row[..classes].iter().copied())
                        .collect()
                })
                .collect();
            let blocks: Vec<&[T]> = backing.iter().map(|b| &b[..]).collect();
            let mut again = [RowUncertainty::default(); GROUP];
            // counted once per group
            let passes = (
                EXACT_PASSES.with(|n| n.get()),
                F32_LOG_GROUPS.with(|n| n.get()),
            );
            let registers = REGISTER_GROUPS.with(|n| n.get());
            uncertainty_group(&rows, &blocks, classes, logits, &mut scratch, &mut again);
            EXACT_PASSES.with(|n| n.set(passes.0));
            F32_LOG_GROUPS.with(|n| n.set(passes.1));
            // the comparison below covers the register path where it runs: AVX-512,
            // float32 probabilities of 2 … 16 classes
            let register_path = crate::simd::isa() == crate::simd::Isa::Avx512
                && T::IS_F32
                && !logits
                && (2..=16).contains(&classes)
                && rows.len() * classes <= TRANSPOSE_MAX;
            assert_eq!(
                REGISTER_GROUPS.with(|n| n.get()) - registers,
                usize::from(register_path),
                "C = {classes}"
            );
            // and with the blocks alone (the kernel cuts the rows where it needs them)
            let passes = (
                EXACT_PASSES.with(|n| n.get()),
                F32_LOG_GROUPS.with(|n| n.get()),
            );
            let mut alone = [RowUncertainty::default(); GROUP];
            uncertainty_group(&[], &blocks, classes, logits, &mut scratch, &mut alone);
            EXACT_PASSES.with(|n| n.set(passes.0));
            F32_LOG_GROUPS.with(|n| n.set(passes.1));
            for ((a, b), c) in res.iter().zip(&again).zip(&alone) {
                let bits = |r: &RowUncertainty| {
                    [r.total, r.aleatoric, r.epistemic, r.min].map(f64::to_bits)
                };
                assert_eq!(bits(a), bits(b), "adjacent rows, C = {classes}");
                assert_eq!(bits(a), bits(c), "blocks alone, C = {classes}");
            }
            out.extend_from_slice(&res[..group.len()]);
        }
        out
    }

    fn reference_of<T: Real>(pred: &[Vec<T>], classes: usize, logits: bool) -> RowUncertainty {
        let rows: Vec<&[T]> = pred.iter().map(|r| &r[..]).collect();
        reference(&rows, classes, logits)
    }

    fn same(got: &RowUncertainty, want: &RowUncertainty, rtol: f64) -> bool {
        same_within(got, want, rtol, 1e-11)
    }

    /// float32 input: the total as float64's (the same sums and logarithms); the aleatoric
    /// and epistemic parts to [`ensemble_f32::TOLERANCE`] (the member entropies may come
    /// from float32 logarithms; the f64 fast pass keeps 1e-7).
    fn same_f32(got: &RowUncertainty, want: &RowUncertainty) -> bool {
        let tolerance = ensemble_f32::TOLERANCE;
        close(got.total, want.total, 1e-13) && same_within(got, want, tolerance, tolerance)
    }

    /// The predictions as float32.
    fn to_f32(preds: &[Vec<Vec<f64>>]) -> Vec<Vec<Vec<f32>>> {
        preds
            .iter()
            .map(|m| {
                m.iter()
                    .map(|r| r.iter().map(|&v| v as f32).collect())
                    .collect()
            })
            .collect()
    }

    /// Each float32 prediction's result against the exact reference ([`same_f32`]).
    fn assert_f32_results(
        got: &[RowUncertainty],
        preds: &[Vec<Vec<f32>>],
        classes: usize,
        what: &str,
    ) {
        for (g, p) in got.iter().zip(preds) {
            let want = reference_of(p, classes, false);
            assert!(same_f32(g, &want), "{what}: {g:?} vs {want:?}");
        }
    }

    fn same_within(got: &RowUncertainty, want: &RowUncertainty, rtol: f64, etol: f64) -> bool {
        // The epistemic part is a difference-based quantity: compare it relatively, with
        // an absolute floor at the rounding level of the entropies.
        close(got.total, want.total, rtol)
            && close(got.aleatoric, want.aleatoric, rtol)
            && (close(got.epistemic, want.epistemic, etol)
                || (got.epistemic - want.epistemic).abs() <= 1e-15 * want.total.abs())
            && got.min == want.min
    }

    /// Predictions of `members` members over `classes` classes from a seed, with zeros,
    /// near-agreement and dominant masses mixed in.
    fn predictions(n: usize, members: usize, classes: usize, seed: u64) -> Vec<Vec<Vec<f64>>> {
        (0..n)
            .map(|i| {
                let base = positive(classes, seed + i as u64);
                (0..members)
                    .map(|s| {
                        let noise = positive(classes, seed * 31 + (i * members + s) as u64);
                        base.iter()
                            .zip(&noise)
                            .map(|(&b, &e)| match i % 4 {
                                0 => b + e,
                                1 => b * (1.0 + 1e-8 * e),
                                2 => {
                                    if b > 0.05 {
                                        1e6 * b
                                    } else {
                                        b * e
                                    }
                                }
                                _ => b,
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn matches_reference_on_every_class_count_and_member_count() {
        for classes in 0..=67 {
            for members in [1, 2, 3, 9] {
                let preds = predictions(11, members, classes, classes as u64 * 7 + members as u64);
                let got = run(&preds, classes, false);
                for (g, p) in got.iter().zip(&preds) {
                    let want = reference_of(p, classes, false);
                    assert!(
                        same(g, &want, 1e-13),
                        "C={classes} S={members}: {g:?} vs {want:?}"
                    );
                }
                let p32 = to_f32(&preds);
                let what = format!("f32 C={classes} S={members}");
                assert_f32_results(&run(&p32, classes, false), &p32, classes, &what);
                // The same values as logits.
                let logits: Vec<Vec<Vec<f64>>> = preds
                    .iter()
                    .map(|m| {
                        m.iter()
                            .map(|r| r.iter().map(|&v| (v + 1e-3).ln()).collect())
                            .collect()
                    })
                    .collect();
                for (g, p) in run(&logits, classes, true).iter().zip(&logits) {
                    let want = reference_of(p, classes, true);
                    assert!(
                        same(g, &want, 1e-12),
                        "logits C={classes} S={members}: {g:?} vs {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn float32_with_many_members_keeps_the_contract() {
        // float32 sums P̄ plainly; the acceptance bound carries its Sε·(total + 1), so
        // rows whose members agree to a few float32 ULP still meet 2e-7 on the epistemic
        // part (the reference is exact).
        for members in [64, 300] {
            for classes in [2, 10, 33] {
                let preds: Vec<Vec<Vec<f32>>> = (0..16)
                    .map(|i| {
                        let base = positive(classes, 100 + i as u64);
                        (0..members)
                            .map(|s| {
                                let noise = positive(classes, 7 * (i * members + s) as u64);
                                base.iter()
                                    .zip(&noise)
                                    .map(|(&b, &e)| {
                                        let scale = [1e-6, 1e-4, 1e-2, 1.0][i % 4];
                                        (b * (1.0 + scale * e) + 1e-3) as f32
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .collect();
                let what = format!("S={members} C={classes}");
                assert_f32_results(&run(&preds, classes, false), &preds, classes, &what);
            }
        }
    }

    /// Members drawn independently from Dirichlet(1) over `classes` classes (each value
    /// −ln u, a row normalised), as `benches/scorers.py` draws them.
    fn dirichlet_members(
        n: usize,
        members: usize,
        classes: usize,
        seed: u64,
    ) -> Vec<Vec<Vec<f64>>> {
        let mut next = xorshift(seed);
        (0..n)
            .map(|_| {
                (0..members)
                    .map(|_| {
                        let row: Vec<f64> = (0..classes)
                            .map(|_| -(((next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64).ln())
                            .collect();
                        let total: f64 = row.iter().sum();
                        row.iter().map(|v| v / total).collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn many_classes_take_the_fast_pass_and_stay_exact() {
        // The blocked class sums keep the acceptance bound at (4·8 + 40)ε for C > 32: random
        // members at C = 1000 no longer need the double-double pass (with a bound growing
        // as 4C they all did), and the fast results still meet the reference.
        for (classes, members) in [(33, 3), (67, 5), (257, 10), (1000, 10), (1000, 40)] {
            let preds = dirichlet_members(16, members, classes, classes as u64 + members as u64);
            EXACT_PASSES.with(|n| n.set(0));
            let got = run(&preds, classes, false);
            assert_eq!(EXACT_PASSES.with(|n| n.get()), 0, "C={classes} S={members}");
            for (g, p) in got.iter().zip(&preds) {
                let want = reference_of(p, classes, false);
                assert!(
                    same(g, &want, 1e-13),
                    "C={classes} S={members}: {g:?} vs {want:?}"
                );
                assert!(
                    close(g.epistemic, want.epistemic, 1e-12),
                    "{g:?} vs {want:?}"
                );
            }
        }
        // Members that nearly agree still go to the double-double pass, and are exact there.
        let near: Vec<Vec<Vec<f64>>> = dirichlet_members(8, 1, 1000, 9)
            .into_iter()
            .map(|m| {
                (0..4)
                    .map(|s| {
                        m[0].iter()
                            .enumerate()
                            .map(|(c, &v)| v * (1.0 + 1e-9 * ((c * s) % 7) as f64))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        EXACT_PASSES.with(|n| n.set(0));
        let got = run(&near, 1000, false);
        assert_eq!(EXACT_PASSES.with(|n| n.get()), 1);
        for (g, p) in got.iter().zip(&near) {
            let want = reference_of(p, 1000, false);
            assert!(same(g, &want, 1e-13), "near: {g:?} vs {want:?}");
        }
    }

    #[test]
    fn float32_members_far_apart_take_float32_logarithms_and_keep_the_contract() {
        // Dirichlet(1) members (as the benchmark draws them): every group is finished by
        // the float32 member entropies, within the tolerance of the exact reference;
        // members that nearly agree are not, and keep the f64 passes' exactness.
        for (classes, members) in [(2, 8), (3, 5), (10, 30), (33, 4), (100, 10), (1000, 10)] {
            let preds = to_f32(&dirichlet_members(16, members, classes, 3 + classes as u64));
            F32_LOG_GROUPS.with(|n| n.set(0));
            let got = run(&preds, classes, false);
            if classes >= 10 {
                // (at C = 2 or 3 a random row's epistemic part may be too small for the
                // bound: those rows take the f64 pass, which the comparison covers too)
                assert_eq!(
                    F32_LOG_GROUPS.with(|n| n.get()),
                    2,
                    "C={classes} S={members}"
                );
            }
            assert_f32_results(&got, &preds, classes, &format!("C={classes} S={members}"));
            let near: Vec<Vec<Vec<f32>>> = preds
                .iter()
                .map(|m| {
                    (0..members)
                        .map(|s| {
                            m[0].iter()
                                .enumerate()
                                .map(|(c, &v)| v * (1.0 + 1e-6 * ((c + s) % 3) as f32))
                                .collect()
                        })
                        .collect()
                })
                .collect();
            F32_LOG_GROUPS.with(|n| n.set(0));
            let got = run(&near, classes, false);
            assert_eq!(F32_LOG_GROUPS.with(|n| n.get()), 0, "near C={classes}");
            assert_f32_results(&got, &near, classes, &format!("near C={classes}"));
        }
    }

    #[test]
    fn identical_members_have_exactly_zero_epistemic_uncertainty() {
        for classes in [1, 2, 7, 8, 9, 33] {
            let row = positive(classes, 5);
            let pred = vec![row.clone(); 5];
            let r = run(std::slice::from_ref(&pred), classes, false)[0];
            assert_eq!(r.epistemic, 0.0);
            assert!(close(r.total, r.aleatoric, 1e-15));
            let r = run(&[pred], classes, true)[0];
            assert_eq!(r.epistemic, 0.0);
            let single = vec![row];
            assert_eq!(run(&[single], classes, false)[0].epistemic, 0.0);
        }
    }

    #[test]
    fn special_rows_take_the_reference() {
        let preds = vec![
            vec![vec![0.0, 0.0], vec![1.0, 1.0]], // a member summing to 0 → NaN
            vec![vec![f64::NAN, 1.0], vec![1.0, 1.0]], // NaN → NaN
            vec![vec![f64::INFINITY, 1.0], vec![1.0, 1.0]], // inf → NaN
            vec![vec![5e-324, 5e-324], vec![1e-310, 3e-310]], // subnormal totals
            vec![vec![1e308, 1e308], vec![1e300, 3e300]], // totals that overflow
            vec![vec![1.0, -0.5], vec![1.0, 1.0]], // negative: min reported
        ];
        let got = run(&preds, 2, false);
        for r in &got[..3] {
            assert!(
                r.total.is_nan() && r.aleatoric.is_nan() && r.epistemic.is_nan(),
                "{r:?}"
            );
        }
        let h = |p: f64| -(p * p.ln() + (1.0 - p) * (1.0 - p).ln());
        let want_alea = (std::f64::consts::LN_2 + h(0.25)) / 2.0;
        assert!(close(got[3].aleatoric, want_alea, 1e-14), "{:?}", got[3]);
        assert!(close(got[3].total, h(0.375), 1e-14), "{:?}", got[3]);
        assert!(close(got[4].aleatoric, want_alea, 1e-14), "{:?}", got[4]);
        assert_eq!(got[5].min, -0.5);
        let logits = vec![vec![vec![f64::NEG_INFINITY; 3], vec![0.0; 3]]];
        assert!(run(&logits, 3, true)[0].total.is_nan());
    }

    #[test]
    fn float32_special_rows_among_regular_ones_take_the_reference() {
        // one special member row in a group of regular rows, at every class count of the
        // register path (and one beyond): the group's other rows keep the float32 results
        // (`run` compares the buffered, adjacent and blocks-alone calls bit for bit)
        for classes in [2, 3, 5, 10, 16, 17] {
            for (kind, value) in [
                ("zero total", 0.0f32),
                ("NaN", f32::NAN),
                ("inf", f32::INFINITY),
                ("negative", -0.5),
                ("subnormal", 1e-40),
            ] {
                let mut preds = to_f32(&dirichlet_members(16, 4, classes, 9));
                if kind == "zero total" {
                    preds[3][2].fill(0.0);
                } else {
                    preds[3][2][classes - 1] = value;
                }
                let got = run(&preds, classes, false);
                let what = format!("{kind} C={classes}");
                let r = got[3];
                match kind {
                    "negative" => assert_eq!(r.min, -0.5, "{what}"),
                    "subnormal" => assert_f32_results(&got[3..4], &preds[3..4], classes, &what),
                    _ => assert!(r.total.is_nan() && r.aleatoric.is_nan(), "{what}: {r:?}"),
                }
                let mut others = got.clone();
                others.remove(3);
                let mut rest = preds.clone();
                rest.remove(3);
                assert_f32_results(&others, &rest, classes, &what);
            }
        }
    }

    #[test]
    fn confident_rows_keep_their_relative_precision() {
        // Members [1, 1e-20·k]: entropy ≈ 1e-20·k·(ln(1/(1e-20 k)) + 1).
        let preds: Vec<Vec<Vec<f64>>> = (1..=9)
            .map(|k| vec![vec![1.0, 1e-20 * k as f64], vec![1.0, 2e-20 * k as f64]])
            .collect();
        for (r, k) in run(&preds, 2, false).iter().zip(1..) {
            let h = |e: f64| e * (1.0 / e).ln() + e;
            let (e1, e2) = (1e-20 * k as f64, 2e-20 * k as f64);
            assert!(close(r.aleatoric, (h(e1) + h(e2)) / 2.0, 1e-14), "{r:?}");
            assert!(close(r.total, h(1.5e-20 * k as f64), 1e-14), "{r:?}");
            // KL(P_1‖P̄) + KL(P_2‖P̄) ≈ Σ (e_s ln(e_s/ē) − e_s + ē) to first order.
            let ebar = 1.5e-20 * k as f64;
            let kl = |e: f64| e * (e / ebar).ln() - e + ebar;
            assert!(close(r.epistemic, (kl(e1) + kl(e2)) / 2.0, 1e-10), "{r:?}");
        }
    }

    #[test]
    fn phi_is_accurate_on_both_sides_of_the_switch() {
        for &f in &[
            -1.0f64, -0.9, -0.2, -0.1000001, -0.1, -1e-5, -1e-12, 0.0, 1e-12, 1e-5, 0.1, 0.1000001,
            0.2, 1.0, 29.0,
        ] {
            let want = if f == -1.0 {
                1.0
            } else {
                // (1+f)·ln(1+f) − f by the plain series to high order where small.
                let mut s = 0.0;
                if f.abs() < 0.25 {
                    for k in 2..200 {
                        s += (-1f64).powi(k) * f.powi(k) / (k * (k - 1)) as f64;
                    }
                    s
                } else {
                    (1.0 + f) * (1.0 + f).ln() - f
                }
            };
            assert!(
                close(phi_scalar(f), want, 3e-15),
                "phi({f}) = {} vs {want}",
                phi_scalar(f)
            );
            let v = phi(crate::simd::vector::Scalar8::splat(f)).0[0];
            assert!(close(v, want, 3e-15), "vector phi({f}) = {v} vs {want}");
        }
    }
}
