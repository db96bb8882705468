//! The transpose of a block of f32 or f64 values, `dst[k·dst_stride + j] = src[start_j + k]`
//! with row `j` starting at `start_j`: the tiles of short rows (one row per lane) from rows
//! back to back (`start_j = j·src_stride`) or from ragged rows anywhere in their values
//! ([`transpose_rows`]), and back. Pure data movement, so every instruction set gives the
//! same bits.
//!
//! **Why.** Element by element, every value is a strided load or store; over (10^5, 100)
//! float32 rows that took twice the time of the statistics computed on the tile. A fixed
//! 16 × 16 block through an array was compiled into the same scalar moves. Here 8 × 8
//! (f32) / 4 × 4 (f64) blocks go through AVX registers: B loads, 3·B (f32) or 2·B (f64)
//! shuffles, B stores; a column tail is one more block (overlapping the previous one, or
//! reading past short rows into the values after them); the rest (and the baseline
//! instruction set) takes the element loop [`transpose_scalar`], the reference. On
//! AVX-512, f32 rows go sixteen at a time through 16 × 16 blocks in registers (a masked
//! load per row and block, 64 shuffles, a store per column): one thread, both wheels in
//! one process (`benches/ab.py`, both orders), float32 (N, 10) rows: KL 0.76–0.79 of the
//! time, cross-entropy 0.78, entropy 0.79, JS 0.88–0.90, softmax cross-entropy 0.85;
//! (N, 100) KL and logsumexp 0.88–0.90; the (C, N) layout along axis 0, ragged rows and
//! (N, 1000) unchanged. f64 rows likewise eight at a time through 8 × 8 blocks (24
//! shuffles), also for the engine's tile of 8 and 10 float64 classes (was the element
//! loop there): entropy (N, 8) / (N, 10) / (N, 100) 0.93–0.96, cross-entropy (N, 16)
//! 0.91–0.94, entropy (1000, N) along axis 0 0.93–0.95, KL unchanged. Rows of
//! two or three classes back to back (too narrow for a block) are split into their runs,
//! and joined back, by shuffles of whole vectors ([`narrow_rows`]).

use super::Real;
#[cfg(target_arch = "x86_64")]
use super::{isa, Isa};

/// How far ahead (in elements) the blocked loops ask for the source: the tiles are the
/// first read of the logits, from memory ([`super::PREFETCH_BYTES`] explains why).
const AHEAD_F32: usize = super::PREFETCH_BYTES / 4;
const AHEAD_F64: usize = super::PREFETCH_BYTES / 8;

/// `dst[k·dst_stride + j] = src[j·src_stride + k]` for `j < rows`, `k < cols`, for either
/// element type: two- and three-class rows split or joined by [`narrow_rows`], else
/// [`blocked`].
pub fn transpose<T: Real>(
    src: &[T],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    dst_stride: usize,
) {
    if !narrow_rows(src, src_stride, rows, cols, dst, dst_stride) {
        transpose_ahead(
            src,
            src_stride,
            rows,
            cols,
            dst,
            dst_stride,
            default_ahead::<T>(),
        )
    }
}

/// The look-ahead of the blocked loops (elements): [`super::PREFETCH_BYTES`].
fn default_ahead<T>() -> usize {
    super::PREFETCH_BYTES / std::mem::size_of::<T>()
}

/// [`transpose`] by blocks (no narrow-row forms) with each row asked for the values
/// `ahead` elements past those read. For rows far apart read a few columns at a time,
/// block after block (the (C, N) layout read along axis 0: `rows` = the C class rows,
/// `cols` = a few of the N distributions), `ahead` is the next block's: the hardware
/// follows few such streams at once (C of them here), and the default 8 KiB on each would
/// pull C·8 KiB into the cache before it is read.
pub fn transpose_ahead<T: Real>(
    src: &[T],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    dst_stride: usize,
    ahead: usize,
) {
    blocked(src, |j| j * src_stride, rows, cols, dst, dst_stride, ahead)
}

/// `dst[k·dst_stride + j] = src[starts[j] + k]` for `j < starts.len()`, `k < cols`: rows
/// anywhere in `src` (ragged rows, each at least `cols` long from its start).
pub fn transpose_rows<T: Real>(
    src: &[T],
    starts: &[usize],
    cols: usize,
    dst: &mut [T],
    dst_stride: usize,
) {
    let ahead = default_ahead::<T>();
    blocked(
        src,
        |j| starts[j],
        starts.len(),
        cols,
        dst,
        dst_stride,
        ahead,
    )
}

/// Row `j` starting at `start(j)`: the blocked AVX2 forms for f32 and f64 (each row load
/// asks for the values `ahead` elements further, into L2), else (and on the baseline
/// instruction set) [`transpose_scalar`].
/// PERF: into L2, not L1: the group being transposed, its source rows and the values
/// fetched ahead did not fit L1 together once rows are long. One thread, both wheels
/// loaded in one process and called in turn, minima of eleven calls, (N, C) rows of 10^7
/// values, L1 → L2 hint: float64 entropy C = 64 18.5 → 15.7 ms, C = 100 18.5 → 14.4,
/// C = 200 17.6 → 15.7, cross-entropy C = 100 27.8 → 21.1, KL 43.3 → 36.3; float32 KL
/// C = 100 19.1 → 15.4, logsumexp 10.6 → 8.7, softmax cross-entropy 11.1 → 9.1; rows of
/// 10–16 and (1000, 10^4) along axis 0 within ±5% (as a probe with no change).
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn blocked<T: Real>(
    src: &[T],
    start: impl Fn(usize) -> usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    dst_stride: usize,
    ahead: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if isa() != Isa::Baseline {
        // On AVX-512 the whole register blocks first, then the rest of the rows (row
        // `done + j` is row `j` of `d[done..]`) by the AVX2 blocks.
        macro_rules! avx512_then_avx2 {
            ($s:expr, $d:expr, $blocks:path, $rest:path) => {{
                let (s, d) = ($s, $d);
                let done = if isa() == Isa::Avx512 {
                    // SAFETY: `isa()` is Avx512 only when the CPU has AVX-512F.
                    unsafe { $blocks(s, &start, rows, cols, d, dst_stride, ahead) }
                } else {
                    0
                };
                if done == rows || cols == 0 {
                    return; // (no columns: nothing to write, and `d` may be empty)
                }
                let rest = |j: usize| start(done + j);
                // SAFETY: `isa()` is Avx2 or Avx512 here, only when the CPU has AVX2
                // (every AVX-512 machine it accepts has it too).
                return unsafe {
                    $rest(
                        s,
                        rest,
                        rows - done,
                        cols,
                        &mut d[done..],
                        dst_stride,
                        ahead,
                    )
                };
            }};
        }
        if let (Some(s), Some(d)) = (T::as_f32(src), T::as_f32_mut(dst)) {
            avx512_then_avx2!(s, d, x86::transpose16_f32, x86::transpose_f32);
        }
        if let (Some(s), Some(d)) = (T::as_f64(src), T::as_f64_mut(dst)) {
            avx512_then_avx2!(s, d, x86::transpose8_f64, x86::transpose_f64);
        }
    }
    transpose_scalar(src, start, rows, cols, dst, dst_stride)
}

crate::simd::multiversion! {
    /// `dst[c][j] = src[j·len + c]` for the sixteen rows of `len = dst.len()` elements back
    /// to back in `src`, widened to f64: a group of short rows transposed. Compiled with the
    /// target features (the same loops in the baseline build were 7–16% of entropy over
    /// float32 / float64 rows of 4–16 classes: one thread, 10^7 values, e.g. (10^6, 10)
    /// float32 12.3 → 10.8 ms, (6.25·10^5, 16) 11.8 → 9.9, KL (2.5·10^6, 4) float64 41 →
    /// 35.6; at 20 classes, the generic loop, entropy ±5%); pure data movement, so every
    /// instruction set gives the same bits.
    pub fn widen_rows<T: Real>(src: &[T], dst: &mut [[f64; 16]]) -> () = widen_rows_body;
}

// Plain loops, which the wrapper's target features vectorise, and `V` for two-element rows
#[inline(always)]
fn widen_rows_body<V: super::vector::F8, T: Real>(src: &[T], dst: &mut [[f64; 16]]) {
    if let [first, second] = dst {
        // two-element rows, eight at a time: sixteen values loaded (widened) as two
        // vectors and split into the rows' first and second elements in registers
        // (PERF: through `transpose`'s AVX2 pair split into a float32 tile and
        // `widen_runs`, three dispatched calls per group, the fill was ~16% of (5·10^6, 2)
        // float32 entropy in `perf`)
        let src = &src[..32];
        for j0 in [0, 8] {
            let a: V = T::load_lanes(src[2 * j0..2 * j0 + 8].try_into().expect("8"));
            let b: V = T::load_lanes(src[2 * j0 + 8..2 * j0 + 16].try_into().expect("8"));
            let (even, odd) = V::deinterleave(a, b);
            even.store_f64((&mut first[j0..j0 + 8]).try_into().expect("8"));
            odd.store_f64((&mut second[j0..j0 + 8]).try_into().expect("8"));
        }
        return;
    }
    if let ([first, second, third], true) = (&mut *dst, V::PERMUTE_LOOKUP) {
        // three-element rows the same way where the split is register permutations
        // (AVX-512; elsewhere the paths below). No closure for the loads: one left out
        // of line would turn its intrinsics into calls (tests/test_simd_inlining.py).
        let src = &src[..48];
        for j0 in [0, 8] {
            let at = 3 * j0;
            let a: V = T::load_lanes(src[at..at + 8].try_into().expect("8"));
            let b: V = T::load_lanes(src[at + 8..at + 16].try_into().expect("8"));
            let c: V = T::load_lanes(src[at + 16..at + 24].try_into().expect("8"));
            let (x, y, z) = V::deinterleave3(a, b, c);
            x.store_f64((&mut first[j0..j0 + 8]).try_into().expect("8"));
            y.store_f64((&mut second[j0..j0 + 8]).try_into().expect("8"));
            z.store_f64((&mut third[j0..j0 + 8]).try_into().expect("8"));
        }
        return;
    }
    if let (Some(src), 3) = (T::as_f32(src), dst.len()) {
        // float32 rows of three: the narrow-row shuffles into a float32 tile, then whole
        // runs widened (one thread, 10^7 values: entropy (N, 3) 24 → 20 ms against the
        // unrolled loop, (N, 2) 26 → 23 ms before the split above; for 5 and 10 classes
        // the blocked transpose was 5–15% slower, so they keep the loop)
        let len = dst.len();
        let mut tile = [0f32; 16 * 3];
        let tile = &mut tile[..16 * len];
        transpose(src, len, 16, len, tile, 16);
        return widen_runs(tile, 16, 0, dst);
    }
    if V::LOOPS_BECOME_GATHERS {
        // there the fixed-length loops below for 10 float32 or 8, 10, 16 values become
        // gathers: the element loop for 8 and 10 (one thread, (10^6, 10) float32 entropy
        // 2.50 → 1.73 ns per value), the blocked transposes for 16 (2.38 → 1.62)
        match (dst.len(), T::IS_F32) {
            // (float64 rows of 8 and 10: the 8 × 8 register transposes, 4–7% faster)
            // (rows of 4 and 9 too, where the fixed loop / the element loop were slow:
            // one thread, both orders, entropy (N, 4) float32 0.78–0.92 of the time, float64
            // 0.59, KL float64 0.79–0.81, entropy (N, 9) 0.91–0.98; rows of 5–8 measured
            // 1.26–1.56× slower that way, so they keep `widen_fixed`)
            (16, _) | (8 | 10, false) | (4 | 9, _) if widen_blocked(src, dst) => return,
            (10, _) => return widen_each(src, dst),
            _ => {}
        }
    }
    // a fixed length unrolls into loads and shuffles
    match dst.len() {
        1 => widen_fixed::<T, 1>(src, dst),
        3 => widen_fixed::<T, 3>(src, dst),
        4 => widen_fixed::<T, 4>(src, dst),
        5 => widen_fixed::<T, 5>(src, dst),
        6 => widen_fixed::<T, 6>(src, dst),
        7 => widen_fixed::<T, 7>(src, dst),
        8 => widen_fixed::<T, 8>(src, dst),
        10 => widen_fixed::<T, 10>(src, dst),
        16 => widen_fixed::<T, 16>(src, dst),
        len => {
            if len > 16 && widen_blocked(src, dst) {
                return;
            }
            widen_each(src, dst)
        }
    }
}

/// [`widen_rows`] element by element.
#[inline(always)]
fn widen_each<T: Real>(src: &[T], dst: &mut [[f64; 16]]) {
    // the length hidden from the optimiser: where it knew it (10, from the match in
    // `widen_rows_body`), AVX-512 compiled this loop into the gathers it is there to avoid
    let len = std::hint::black_box(dst.len());
    let dst = &mut dst[..len];
    for (j, row) in src[..16 * len].chunks_exact(len).enumerate() {
        for (slot, &v) in dst.iter_mut().zip(row) {
            slot[j] = v.to_f64();
        }
    }
}

crate::simd::multiversion! {
    /// `dst[c][j] = values[starts[j] + c]` for sixteen rows of `dst.len()` elements
    /// anywhere in `values` (a group of ragged rows of one length), widened to f64: eight
    /// rows by eight columns at a time, loaded as vectors and transposed in registers
    /// ([`super::vector::F8::transpose8`]). Where 8 does not divide the length, the last block overlaps
    /// the one before (rewriting the same values); rows shorter than 8 are read on past
    /// their end (values of later rows, never stored). Where `values` does not hold eight
    /// elements from every start (its last rows), element by element. PERF: the element
    /// loop stored one value at a time, 12–14% of ragged float64 entropy over rows of
    /// 5 … 15 in `perf`. Pure data movement: every instruction set gives the same bits.
    pub fn widen_rows_at<T: Real>(values: &[T], starts: &[usize; 16], dst: &mut [[f64; 16]]) -> () = widen_rows_at_body;
}

#[inline(always)]
fn widen_rows_at_body<V: super::vector::F8, T: Real>(
    values: &[T],
    starts: &[usize; 16],
    dst: &mut [[f64; 16]],
) {
    let len = dst.len();
    let width = len.max(8);
    let mut fits = true;
    for &s in starts {
        fits &= s.checked_add(width).is_some_and(|end| end <= values.len());
    }
    if !fits {
        for (j, &s) in starts.iter().enumerate() {
            for (c, slot) in dst.iter_mut().enumerate() {
                slot[j] = values[s + c].to_f64();
            }
        }
        return;
    }
    for half in [0, 8] {
        let mut next = 0;
        while next < len {
            let start = next.min(width - 8);
            // index loops: no closure or iterator adaptor that could stay out of line
            let mut loaded = [V::splat(0.0); 8];
            for l in 0..8 {
                let at = starts[half + l] + start;
                loaded[l] = T::load_lanes(values[at..at + 8].try_into().expect("8 values"));
            }
            let columns = V::transpose8(loaded);
            for k in 0..(len - start).min(8) {
                let slot: &mut [f64; 8] = (&mut dst[start + k][half..half + 8])
                    .try_into()
                    .expect("8 lanes");
                columns[k].store_f64(slot);
            }
            next = start + 8;
        }
    }
}

/// The longest rows [`widen_rows`] transposes by blocks (float32 through a stack tile of
/// at most 16 KiB); rows of 17 up to this many elements take them (and rows of 16 on
/// AVX-512).
const WIDEN_BLOCKED_MAX: usize = 256;

/// [`widen_rows`] of rows of up to [`WIDEN_BLOCKED_MAX`] elements by blocks (the
/// element loop was a quarter of float32 entropy over (10^5, 100) rows: one strided
/// store per value; rows of 16 on AVX-512, see there); false (nothing written) for
/// longer rows.
#[inline(always)]
fn widen_blocked<T: Real>(src: &[T], dst: &mut [[f64; 16]]) -> bool {
    let len = dst.len();
    if len > WIDEN_BLOCKED_MAX {
        return false;
    }
    let src = &src[..16 * len];
    if let Some(src) = T::as_f64(src) {
        transpose(src, len, 16, len, dst.as_flattened_mut(), 16);
        return true;
    }
    if let Some(src) = T::as_f32(src) {
        // a tile at most twice the size needed: it is zeroed on every call (16 KiB for
        // every group, whatever its rows' length, before)
        match len {
            0..=16 => widen_through(src, &mut [0f32; 16 * 16][..16 * len], dst),
            17..=32 => widen_through(src, &mut [0f32; 16 * 32][..16 * len], dst),
            33..=64 => widen_through(src, &mut [0f32; 16 * 64][..16 * len], dst),
            65..=128 => widen_through(src, &mut [0f32; 16 * 128][..16 * len], dst),
            _ => widen_through(src, &mut [0f32; 16 * WIDEN_BLOCKED_MAX][..16 * len], dst),
        }
        return true;
    }
    false
}

/// Sixteen float32 rows of `dst.len()` values transposed into `tile`, then widened.
#[inline(always)]
fn widen_through(src: &[f32], tile: &mut [f32], dst: &mut [[f64; 16]]) {
    let len = dst.len();
    transpose(src, len, 16, len, tile, 16);
    widen_runs(tile, 16, 0, dst);
}

/// [`widen_rows`] for rows of `L` elements.
#[inline(always)]
fn widen_fixed<T: Real, const L: usize>(src: &[T], dst: &mut [[f64; 16]]) {
    let (src, dst) = (&src[..16 * L], &mut dst[..L]);
    for j in 0..16 {
        let row: &[T; L] = src[j * L..j * L + L].try_into().expect("L elements");
        for c in 0..L {
            dst[c][j] = row[c].to_f64();
        }
    }
}

crate::simd::multiversion! {
/// `dst[c][j] = src[c·stride + j]` for `c < dst.len()`, `j < 16`, widened to f64: sixteen
/// adjacent values of each of `dst.len()` runs `stride` apart (the group of sixteen
/// `(C, N)` columns read along axis 0: one run per class row), each run asked for the values
/// `ahead` elements further (see [`transpose_ahead`]; into L2 from
/// [`super::L2_FROM_STREAMS`] runs, [`super::prefetch_streams`]). Whole vectors on
/// AVX-512/AVX2 (the element loop of the baseline build was a quarter of float32 entropy
/// over (100, 10^5) along axis 0; this is 16–20% faster); pure data movement, so every
/// instruction set gives the same bits.
    pub fn widen_runs<T: Real>(src: &[T], stride: usize, ahead: usize, dst: &mut [[f64; 16]]) -> () = widen_runs_body;
}

#[inline(always)]
fn widen_runs_body<V: super::vector::F8, T: Real>(
    src: &[T],
    stride: usize,
    ahead: usize,
    dst: &mut [[f64; 16]],
) {
    let line = 64 / std::mem::size_of::<T>();
    let streams = dst.len();
    for (c, slot) in dst.iter_mut().enumerate() {
        let at = c * stride;
        for l in (0..16).step_by(line) {
            super::prefetch_streams(src.as_ptr().wrapping_add(at + ahead + l), streams);
        }
        let run: &[T; 16] = src[at..at + 16].try_into().expect("16 values");
        let (lo, hi) = run.split_at(8);
        let (out_lo, out_hi) = slot.split_at_mut(8);
        let lo: V = T::load_lanes(lo.try_into().expect("8"));
        let hi: V = T::load_lanes(hi.try_into().expect("8"));
        lo.store_f64(out_lo.try_into().expect("8"));
        hi.store_f64(out_hi.try_into().expect("8"));
    }
}

/// Two- or three-class rows back to back (`src_stride` 2 or 3) split into their runs, or
/// the runs joined back into rows (`dst_stride` 2 or 3), with AVX2 shuffles (the blocks of
/// [`blocked`] need eight or four rows and columns); false where none applies.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn narrow_rows<T: Real>(
    src: &[T],
    ss: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    ds: usize,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if isa() != Isa::Baseline {
        // SAFETY (all four): as in `blocked`.
        if let (Some(s), Some(d)) = (T::as_f32(src), T::as_f32_mut(dst)) {
            match (cols, ss, rows, ds) {
                (2, 2, 8.., _) => unsafe { x86::split_pairs_f32(s, rows, d, ds) },
                (3, 3, 8.., _) => unsafe { x86::split_triples_f32(s, rows, d, ds) },
                (8.., _, 2, 2) => unsafe { x86::join_pairs_f32(s, ss, cols, d) },
                (8.., _, 3, 3) => unsafe { x86::join_triples_f32(s, ss, cols, d) },
                _ => return false,
            }
            return true;
        }
        if let (Some(s), Some(d)) = (T::as_f64(src), T::as_f64_mut(dst)) {
            match (cols, ss, rows, ds) {
                (2, 2, 4.., _) => unsafe { x86::split_pairs_f64(s, rows, d, ds) },
                (3, 3, 4.., _) => unsafe { x86::split_triples_f64(s, rows, d, ds) },
                (4.., _, 2, 2) => unsafe { x86::join_pairs_f64(s, ss, cols, d) },
                (4.., _, 3, 3) => unsafe { x86::join_triples_f64(s, ss, cols, d) },
                _ => return false,
            }
            return true;
        }
    }
    false
}

/// The reference: element by element.
fn transpose_scalar<T: Copy>(
    src: &[T],
    start: impl Fn(usize) -> usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    dst_stride: usize,
) {
    for k in 0..cols {
        for j in 0..rows {
            dst[k * dst_stride + j] = src[start(j) + k];
        }
    }
}

/// The edges of a two-class split or join: columns `whole_cols..cols` of every row, and
/// rows `whole_rows..rows` of the other columns.
#[inline(always)]
fn edges<T: Copy>(
    src: &[T],
    start: impl Fn(usize) -> usize,
    (rows, whole_rows): (usize, usize),
    (cols, whole_cols): (usize, usize),
    dst: &mut [T],
    dst_stride: usize,
) {
    for k in 0..cols {
        let first = if k < whole_cols { whole_rows } else { 0 };
        for j in first..rows {
            dst[k * dst_stride + j] = src[start(j) + k];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Eight values at `src[at..at + 8]` (bounds-checked by the slice).
    #[inline(always)]
    unsafe fn load8(src: &[f32], at: usize) -> __m256 {
        let s: &[f32; 8] = src[at..at + 8].try_into().expect("8");
        // SAFETY: `s` is eight readable f32; loadu has no alignment requirement.
        unsafe { _mm256_loadu_ps(s.as_ptr()) }
    }

    #[inline(always)]
    unsafe fn store8(dst: &mut [f32], at: usize, v: __m256) {
        let d: &mut [f32; 8] = (&mut dst[at..at + 8]).try_into().expect("8");
        // SAFETY: `d` is eight writable f32; storeu has no alignment requirement.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), v) }
    }

    #[inline(always)]
    unsafe fn load4(src: &[f64], at: usize) -> __m256d {
        let s: &[f64; 4] = src[at..at + 4].try_into().expect("4");
        // SAFETY: `s` is four readable f64; loadu has no alignment requirement.
        unsafe { _mm256_loadu_pd(s.as_ptr()) }
    }

    #[inline(always)]
    unsafe fn store4(dst: &mut [f64], at: usize, v: __m256d) {
        let d: &mut [f64; 4] = (&mut dst[at..at + 4]).try_into().expect("4");
        // SAFETY: `d` is four writable f64; storeu has no alignment requirement.
        unsafe { _mm256_storeu_pd(d.as_mut_ptr(), v) }
    }

    /// The 8 × 8 block of f32 rows `j0..j0 + 8`, columns `k0..k0 + 8`, as its eight
    /// columns (column `k`: element `k0 + k` of the eight rows); the caller guarantees AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn block8(
        src: &[f32],
        start: &impl Fn(usize) -> usize,
        j0: usize,
        k0: usize,
        ahead: usize,
    ) -> [__m256; 8] {
        // SAFETY: the caller guarantees AVX2; the loads are bounds-checked slices.
        unsafe {
            // (a loop, not `array::from_fn`: a closure would not carry AVX2)
            let mut r = [_mm256_setzero_ps(); 8];
            for (i, v) in r.iter_mut().enumerate() {
                let at = start(j0 + i) + k0;
                super::super::prefetch_l2(src.as_ptr().wrapping_add(at + ahead));
                *v = load8(src, at);
            }
            // rows (0,1) (2,3) ... interleaved: [a0 b0 a1 b1 | a4 b4 a5 b5] and the highs
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            // columns c and c + 4 of four rows: [c of rows 0-3 | c+4 of rows 0-3]
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ]
        }
    }

    /// The block loop of the two blocked transposes: rows in blocks of `$b`; in each,
    /// whole `$b`-column blocks, then the last columns as one more block — overlapping the
    /// previous one when there are at least `$b` columns (its values are written twice,
    /// the same), else reading past the rows' ends when every row of the block has `$b`
    /// values left in `src` (the columns past `cols` are not stored) — or element by
    /// element where neither holds (the last rows of `src`). The rows past the last whole
    /// row block, and the baseline, take the element loop. `$block(j0, k0, keep)` moves the
    /// block at row `j0`, column `k0`, storing its first `keep` columns.
    macro_rules! blocked {
        ($b:expr, $src:expr, $start:expr, $rows:expr, $cols:expr, $dst:expr, $ds:expr,
         |$j0:ident, $k0:ident, $keep:ident| $block:block) => {{
            let (rows, cols, b) = ($rows, $cols, $b);
            let whole_rows = rows / b * b;
            for $j0 in (0..whole_rows).step_by(b) {
                // one expansion of the block (so that it inlines): whole blocks, then the tail
                let mut next = 0;
                while next < cols {
                    let ($k0, $keep) = if next + b <= cols {
                        (next, b)
                    } else if cols >= b {
                        (cols - b, b)
                    } else if (0..b).all(|i| $start($j0 + i) + b <= $src.len()) {
                        (0, cols)
                    } else {
                        for k in 0..cols {
                            for j in $j0..$j0 + b {
                                $dst[k * $ds + j] = $src[$start(j) + k];
                            }
                        }
                        break;
                    };
                    $block
                    next = $k0 + $keep;
                }
            }
            for k in 0..cols {
                for j in whole_rows..rows {
                    $dst[k * $ds + j] = $src[$start(j) + k];
                }
            }
        }};
    }

    /// [`super::blocked`] for f32; the caller guarantees AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transpose_f32(
        src: &[f32],
        start: impl Fn(usize) -> usize,
        rows: usize,
        cols: usize,
        dst: &mut [f32],
        ds: usize,
        ahead: usize,
    ) {
        blocked!(8, src, start, rows, cols, dst, ds, |j0, k0, keep| {
            // SAFETY: AVX2 is enabled on this function; bounds-checked loads and stores.
            unsafe {
                let columns = block8(src, &start, j0, k0, ahead);
                for (k, &v) in columns[..keep].iter().enumerate() {
                    store8(dst, (k0 + k) * ds + j0, v);
                }
            }
        });
    }

    /// Defines `$name`, the blocked transpose of whole blocks of `$b` rows on AVX-512: `$b`
    /// columns of a row in one load (masked past the last column), the block transposed in
    /// registers by `$transpose`, a column a store. It returns the rows it took (a multiple
    /// of `$b`); its caller guarantees AVX-512F.
    macro_rules! register_blocks {
        ($(#[$doc:meta])* $name:ident, $t:ty, $b:expr, $mask:ty, $zero:ident, $load:ident,
         $transpose:ident, $store:ident) => {
            $(#[$doc])*
            #[target_feature(enable = "avx512f")]
            pub(super) unsafe fn $name(
                src: &[$t],
                start: &impl Fn(usize) -> usize,
                rows: usize,
                cols: usize,
                dst: &mut [$t],
                ds: usize,
                ahead: usize,
            ) -> usize {
                let whole = rows / $b * $b;
                for j0 in (0..whole).step_by($b) {
                    for k0 in (0..cols).step_by($b) {
                        let keep = (cols - k0).min($b);
                        let mask: $mask = if keep == $b {
                            <$mask>::MAX
                        } else {
                            (1 << keep) - 1
                        };
                        let mut r = [$zero(); $b];
                        for (i, v) in r.iter_mut().enumerate() {
                            let at = start(j0 + i) + k0;
                            let row = &src[at..at + keep];
                            super::super::prefetch_l2(src.as_ptr().wrapping_add(at + ahead));
                            // SAFETY: AVX-512F is enabled on this function; the mask
                            // enables the first `keep` lanes only, and `row` holds those
                            // `keep` values (a masked-off lane is not read).
                            *v = unsafe { $load(mask, row.as_ptr()) };
                        }
                        for (k, v) in $transpose(r).into_iter().take(keep).enumerate() {
                            let at = (k0 + k) * ds + j0;
                            let d: &mut [$t; $b] =
                                (&mut dst[at..at + $b]).try_into().expect("a block");
                            // SAFETY: `d` is `$b` writable values; storeu has no alignment
                            // requirement.
                            unsafe { $store(d.as_mut_ptr(), v) };
                        }
                    }
                }
                whole
            }
        };
    }

    /// The 16 × 16 block `r` (row `j`: columns `k0..k0 + 16`) as its sixteen columns, in
    /// registers: pairs of rows interleaved, then pairs of pairs (64-bit unpacks) — four
    /// rows' columns c, c + 4, c + 8, c + 12 in the four 128-bit lanes — then the lanes
    /// gathered by two rounds of 128-bit shuffles: 64 shuffles.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        let pd_lo = |a: __m512, b: __m512| {
            _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
        };
        let pd_hi = |a: __m512, b: __m512| {
            _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
        };
        // rows (2i, 2i + 1) interleaved: [a0 b0 a1 b1 | a4 b4 a5 b5 | …] and the highs
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // u[4g + c]: rows 4g..4g + 4, columns c, c + 4, c + 8, c + 12 in its 128-bit lanes
        let mut u = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            u[4 * g] = pd_lo(a, c);
            u[4 * g + 1] = pd_hi(a, c);
            u[4 * g + 2] = pd_lo(b, d);
            u[4 * g + 3] = pd_hi(b, d);
        }
        let mut out = [_mm512_setzero_ps(); 16];
        for c in 0..4 {
            // lanes 0, 1 of the first two row quads, then of the last two; likewise 2, 3
            let v0 = _mm512_shuffle_f32x4::<0x44>(u[c], u[4 + c]);
            let v1 = _mm512_shuffle_f32x4::<0xEE>(u[c], u[4 + c]);
            let w0 = _mm512_shuffle_f32x4::<0x44>(u[8 + c], u[12 + c]);
            let w1 = _mm512_shuffle_f32x4::<0xEE>(u[8 + c], u[12 + c]);
            out[c] = _mm512_shuffle_f32x4::<0x88>(v0, w0);
            out[c + 4] = _mm512_shuffle_f32x4::<0xDD>(v0, w0);
            out[c + 8] = _mm512_shuffle_f32x4::<0x88>(v1, w1);
            out[c + 12] = _mm512_shuffle_f32x4::<0xDD>(v1, w1);
        }
        out
    }

    register_blocks!(
        /// [`transpose_f32`] for the whole blocks of sixteen rows ([`transpose16`]).
        /// PERF: the 8 × 8 AVX2 blocks of a group of sixteen ten-class rows are four blocks
        /// (the column tail one overlapping the first), each load asking for the values
        /// ahead: `perf` of float32 KL over (10^6, 10) rows, one thread: the transpose 29%
        /// of the call.
        transpose16_f32,
        f32,
        16,
        __mmask16,
        _mm512_setzero_ps,
        _mm512_maskz_loadu_ps,
        transpose16,
        _mm512_storeu_ps
    );

    /// The 8 × 8 f64 block `r` (row `j`: columns `k0..k0 + 8`) as its eight columns, in
    /// registers: pairs of rows interleaved (columns 2m, 2m + 1 of two rows in 128-bit
    /// lane m), then the lanes gathered by two rounds of 128-bit shuffles: 24 shuffles.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn transpose8(r: [__m512d; 8]) -> [__m512d; 8] {
        let mut t = [_mm512_setzero_pd(); 8];
        for i in 0..4 {
            t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]); // [a0 b0 | a2 b2 | …]
            t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]); // [a1 b1 | a3 b3 | …]
        }
        let mut out = [_mm512_setzero_pd(); 8];
        for odd in 0..2 {
            let (a, b, c, d) = (t[odd], t[2 + odd], t[4 + odd], t[6 + odd]);
            let x0 = _mm512_shuffle_f64x2::<0x44>(a, b);
            let x1 = _mm512_shuffle_f64x2::<0xEE>(a, b);
            let y0 = _mm512_shuffle_f64x2::<0x44>(c, d);
            let y1 = _mm512_shuffle_f64x2::<0xEE>(c, d);
            out[odd] = _mm512_shuffle_f64x2::<0x88>(x0, y0);
            out[2 + odd] = _mm512_shuffle_f64x2::<0xDD>(x0, y0);
            out[4 + odd] = _mm512_shuffle_f64x2::<0x88>(x1, y1);
            out[6 + odd] = _mm512_shuffle_f64x2::<0xDD>(x1, y1);
        }
        out
    }

    register_blocks!(
        /// [`transpose_f64`] for the whole blocks of eight rows ([`transpose8`]).
        transpose8_f64,
        f64,
        8,
        __mmask8,
        _mm512_setzero_pd,
        _mm512_maskz_loadu_pd,
        transpose8,
        _mm512_storeu_pd
    );

    /// Two-class rows back to back (`src[2j + k]`) into two runs `dst[k·ds + j]`, eight
    /// rows at a time (the evens and the odds of two vectors); the caller guarantees AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn split_pairs_f32(src: &[f32], rows: usize, dst: &mut [f32], ds: usize) {
        let whole = rows / 8 * 8;
        for j0 in (0..whole).step_by(8) {
            // SAFETY: AVX2 is enabled on this function; bounds-checked slices.
            unsafe {
                super::super::prefetch(src.as_ptr().wrapping_add(2 * j0 + super::AHEAD_F32));
                let (a, b) = (load8(src, 2 * j0), load8(src, 2 * j0 + 8));
                // [a0 a2 b0 b2 | a4 a6 b4 b6] → 64-bit pairs in the order 0, 2, 1, 3
                let even = _mm256_shuffle_ps::<0x88>(a, b);
                let odd = _mm256_shuffle_ps::<0xDD>(a, b);
                let order = |v: __m256| {
                    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
                };
                store8(dst, j0, order(even));
                store8(dst, ds + j0, order(odd));
            }
        }
        super::edges(src, |j| 2 * j, (rows, whole), (2, 2), dst, ds);
    }

    /// The inverse of [`split_pairs_f32`]: two runs `src[k·ss + j]` into pairs `dst[2j + k]`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn join_pairs_f32(src: &[f32], ss: usize, cols: usize, dst: &mut [f32]) {
        let whole = cols / 8 * 8;
        for k0 in (0..whole).step_by(8) {
            // SAFETY: AVX2 is enabled on this function; bounds-checked slices.
            unsafe {
                let (e, o) = (load8(src, k0), load8(src, ss + k0));
                let lo = _mm256_unpacklo_ps(e, o); // [e0 o0 e1 o1 | e4 o4 e5 o5]
                let hi = _mm256_unpackhi_ps(e, o); // [e2 o2 e3 o3 | e6 o6 e7 o7]
                store8(dst, 2 * k0, _mm256_permute2f128_ps::<0x20>(lo, hi));
                store8(dst, 2 * k0 + 8, _mm256_permute2f128_ps::<0x31>(lo, hi));
            }
        }
        super::edges(src, |j| j * ss, (2, 2), (cols, whole), dst, 2);
    }

    /// [`split_pairs_f32`] for f64, four rows at a time.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn split_pairs_f64(src: &[f64], rows: usize, dst: &mut [f64], ds: usize) {
        let whole = rows / 4 * 4;
        for j0 in (0..whole).step_by(4) {
            // SAFETY: AVX2 is enabled on this function; bounds-checked slices.
            unsafe {
                super::super::prefetch(src.as_ptr().wrapping_add(2 * j0 + super::AHEAD_F64));
                let (a, b) = (load4(src, 2 * j0), load4(src, 2 * j0 + 4));
                // [a0 b0 a2 b2] → the order 0, 2, 1, 3
                let even = _mm256_unpacklo_pd(a, b);
                let odd = _mm256_unpackhi_pd(a, b);
                store4(dst, j0, _mm256_permute4x64_pd::<0b11_01_10_00>(even));
                store4(dst, ds + j0, _mm256_permute4x64_pd::<0b11_01_10_00>(odd));
            }
        }
        super::edges(src, |j| 2 * j, (rows, whole), (2, 2), dst, ds);
    }

    /// [`join_pairs_f32`] for f64, four rows at a time.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn join_pairs_f64(src: &[f64], ss: usize, cols: usize, dst: &mut [f64]) {
        let whole = cols / 4 * 4;
        for k0 in (0..whole).step_by(4) {
            // SAFETY: AVX2 is enabled on this function; bounds-checked slices.
            unsafe {
                let (e, o) = (load4(src, k0), load4(src, ss + k0));
                let lo = _mm256_unpacklo_pd(e, o); // [e0 o0 e2 o2]
                let hi = _mm256_unpackhi_pd(e, o); // [e1 o1 e3 o3]
                store4(dst, 2 * k0, _mm256_permute2f128_pd::<0x20>(lo, hi));
                store4(dst, 2 * k0 + 4, _mm256_permute2f128_pd::<0x31>(lo, hi));
            }
        }
        super::edges(src, |j| j * ss, (2, 2), (cols, whole), dst, 2);
    }

    // Three-class rows: eight rows of three f32 (four of f64) are three vectors, and each
    // run's values already sit at distinct lanes of them (run k at the lanes ≡ k, k + 1,
    // k + 2 mod 3 of the first, second and third vector): two blends gather a run into
    // one vector, one permutation puts it in row order. Joining is the inverse: each run
    // permuted once into the lanes it takes in all three outputs, then two blends per
    // output. (Lane masks below: bit i set takes lane i from the second operand.)

    /// Lanes ≡ 0, 1, 2 (mod 3) of eight.
    const LANES_0: i32 = 0b0100_1001;
    const LANES_1: i32 = 0b1001_0010;
    const LANES_2: i32 = 0b0010_0100;

    #[inline(always)]
    unsafe fn order8(v: __m256, idx: [i32; 8]) -> __m256 {
        // SAFETY: AVX2 (the callers' target feature); the index array is read in place.
        unsafe { _mm256_permutevar8x32_ps(v, _mm256_loadu_si256(idx.as_ptr().cast())) }
    }

    /// Three-class rows back to back (`src[3j + k]`) into three runs `dst[k·ds + j]`,
    /// eight rows at a time; the caller guarantees AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn split_triples_f32(src: &[f32], rows: usize, dst: &mut [f32], ds: usize) {
        let whole = rows / 8 * 8;
        for j0 in (0..whole).step_by(8) {
            // SAFETY: AVX2 is enabled on this function; bounds-checked slices.
            unsafe {
                super::super::prefetch(src.as_ptr().wrapping_add(3 * j0 + super::AHEAD_F32));
                let (a, b, c) = (
                    load8(src, 3 * j0),
                    load8(src, 3 * j0 + 8),
                    load8(src, 3 * j0 + 16),
                );
                // run 0: a at lanes ≡ 0, b at ≡ 1, c at ≡ 2 — values 0 9 18 3 12 21 6 15
                let r0 = _mm256_blend_ps::<LANES_2>(_mm256_blend_ps::<LANES_1>(a, b), c);
                // run 1: values 16 1 10 19 4 13 22 7
                let r1 = _mm256_blend_ps::<LANES_0>(_mm256_blend_ps::<LANES_2>(a, b), c);
                // run 2: values 8 17 2 11 20 5 14 23
                let r2 = _mm256_blend_ps::<LANES_1>(_mm256_blend_ps::<LANES_0>(a, b), c);
                store8(dst, j0, order8(r0, [0, 3, 6, 1, 4, 7, 2, 5]));
                store8(dst, ds + j0, order8(r1, [1, 4, 7, 2, 5, 0, 3, 6]));
                store8(dst, 2 * ds + j0, order8(r2, [2, 5, 0, 3, 6, 1, 4, 7]));
            }
        }
        super::edges(src, |j| 3 * j, (rows, whole), (3, 3), dst, ds);
    }

    /// The inverse of [`split_triples_f32`]: three runs `src[k·ss + j]` into rows
    /// `dst[3j + k]`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn join_triples_f32(src: &[f32], ss: usize, cols: usize, dst: &mut [f32]) {
        let whole = cols / 8 * 8;
        for k0 in (0..whole).step_by(8) {
            // SAFETY: AVX2 is enabled on this function; bounds-checked slices.
            unsafe {
                // each run in the lanes it takes in the three outputs (disjoint sets)
                let e = order8(load8(src, k0), [0, 3, 6, 1, 4, 7, 2, 5]);
                let f = order8(load8(src, ss + k0), [5, 0, 3, 6, 1, 4, 7, 2]);
                let g = order8(load8(src, 2 * ss + k0), [2, 5, 0, 3, 6, 1, 4, 7]);
                let a = _mm256_blend_ps::<LANES_2>(_mm256_blend_ps::<LANES_1>(e, f), g);
                let b = _mm256_blend_ps::<LANES_0>(_mm256_blend_ps::<LANES_2>(e, f), g);
                let c = _mm256_blend_ps::<LANES_1>(_mm256_blend_ps::<LANES_0>(e, f), g);
                store8(dst, 3 * k0, a);
                store8(dst, 3 * k0 + 8, b);
                store8(dst, 3 * k0 + 16, c);
            }
        }
        super::edges(src, |j| j * ss, (3, 3), (cols, whole), dst, 3);
    }

    /// [`split_triples_f32`] for f64, four rows at a time (four lanes: the lane masks and
    /// orders of four).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn split_triples_f64(src: &[f64], rows: usize, dst: &mut [f64], ds: usize) {
        let whole = rows / 4 * 4;
        for j0 in (0..whole).step_by(4) {
            // SAFETY: AVX2 is enabled on this function; bounds-checked slices.
            unsafe {
                super::super::prefetch(src.as_ptr().wrapping_add(3 * j0 + super::AHEAD_F64));
                let (a, b, c) = (
                    load4(src, 3 * j0),
                    load4(src, 3 * j0 + 4),
                    load4(src, 3 * j0 + 8),
                );
                // run 0: values 0 9 6 3; run 1: 4 1 10 7; run 2: 8 5 2 11
                let r0 = _mm256_blend_pd::<0b0010>(_mm256_blend_pd::<0b0100>(a, b), c);
                let r1 = _mm256_blend_pd::<0b0100>(_mm256_blend_pd::<0b1001>(a, b), c);
                let r2 = _mm256_blend_pd::<0b1001>(_mm256_blend_pd::<0b0010>(a, b), c);
                store4(dst, j0, _mm256_permute4x64_pd::<0b01_10_11_00>(r0));
                store4(dst, ds + j0, _mm256_permute4x64_pd::<0b10_11_00_01>(r1));
                store4(dst, 2 * ds + j0, _mm256_permute4x64_pd::<0b11_00_01_10>(r2));
            }
        }
        super::edges(src, |j| 3 * j, (rows, whole), (3, 3), dst, ds);
    }

    /// [`join_triples_f32`] for f64, four rows at a time.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn join_triples_f64(src: &[f64], ss: usize, cols: usize, dst: &mut [f64]) {
        let whole = cols / 4 * 4;
        for k0 in (0..whole).step_by(4) {
            // SAFETY: AVX2 is enabled on this function; bounds-checked slices.
            unsafe {
                let e = _mm256_permute4x64_pd::<0b01_10_11_00>(load4(src, k0));
                let f = _mm256_permute4x64_pd::<0b10_11_00_01>(load4(src, ss + k0));
                let g = _mm256_permute4x64_pd::<0b11_00_01_10>(load4(src, 2 * ss + k0));
                let a = _mm256_blend_pd::<0b0100>(_mm256_blend_pd::<0b0010>(e, f), g);
                let b = _mm256_blend_pd::<0b0010>(_mm256_blend_pd::<0b1001>(e, f), g);
                let c = _mm256_blend_pd::<0b1001>(_mm256_blend_pd::<0b0100>(e, f), g);
                store4(dst, 3 * k0, a);
                store4(dst, 3 * k0 + 4, b);
                store4(dst, 3 * k0 + 8, c);
            }
        }
        super::edges(src, |j| j * ss, (3, 3), (cols, whole), dst, 3);
    }

    /// [`super::blocked`] for f64; the caller guarantees AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transpose_f64(
        src: &[f64],
        start: impl Fn(usize) -> usize,
        rows: usize,
        cols: usize,
        dst: &mut [f64],
        ds: usize,
        ahead: usize,
    ) {
        blocked!(4, src, start, rows, cols, dst, ds, |j0, k0, keep| {
            // SAFETY: AVX2 is enabled on this function; bounds-checked loads and stores.
            unsafe {
                let mut r = [_mm256_setzero_pd(); 4];
                for (i, v) in r.iter_mut().enumerate() {
                    let at = start(j0 + i) + k0;
                    super::super::prefetch_l2(src.as_ptr().wrapping_add(at + ahead));
                    *v = load4(src, at);
                }
                let t0 = _mm256_unpacklo_pd(r[0], r[1]); // [a0 b0 | a2 b2]
                let t1 = _mm256_unpackhi_pd(r[0], r[1]); // [a1 b1 | a3 b3]
                let t2 = _mm256_unpacklo_pd(r[2], r[3]);
                let t3 = _mm256_unpackhi_pd(r[2], r[3]);
                let columns = [
                    _mm256_permute2f128_pd::<0x20>(t0, t2),
                    _mm256_permute2f128_pd::<0x20>(t1, t3),
                    _mm256_permute2f128_pd::<0x31>(t0, t2),
                    _mm256_permute2f128_pd::<0x31>(t1, t3),
                ];
                for (k, &v) in columns[..keep].iter().enumerate() {
                    store4(dst, (k0 + k) * ds + j0, v);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values whose widening must keep every bit: ±0, ±inf, a NaN with a payload,
    /// subnormals, huge and ordinary values.
    const SPECIALS: [f64; 11] = [
        0.0,
        -0.0,
        1.0,
        0.1,
        -3.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(0x7ff8_0000_0000_1234), // a NaN with a payload
        5e-324,
        f64::MIN_POSITIVE / 3.0,
        1e300,
    ];

    /// [`SPECIALS`] as f32, with float32's own subnormals and a NaN payload.
    fn specials_f32() -> Vec<f32> {
        SPECIALS
            .iter()
            .map(|&v| v as f32)
            .chain([
                1e-45f32,
                f32::MIN_POSITIVE / 3.0,
                f32::from_bits(0x7fc0_0042),
            ])
            .collect()
    }

    /// `F8::deinterleave` and `F8::deinterleave3` on every vector type this CPU has: pairs
    /// and triples split into their elements, lane for lane.
    #[test]
    fn deinterleave_splits_pairs_and_triples_on_every_vector_type() {
        use crate::simd::vector::{on_every_vector_type, LaneOp, F8};
        // a = the eight lanes, b = a + 100; first + 10^6·second, exact for these values
        struct Split;
        impl LaneOp for Split {
            fn apply<V: F8>(&self, v: V) -> V {
                let (even, odd) = V::deinterleave(v, v.add(V::splat(100.0)));
                even.add(odd.mul(V::splat(1e6)))
            }
        }
        let x: Vec<f64> = (0..64).map(|i| (i * 7 % 61) as f64).collect();
        for (name, got) in on_every_vector_type(&Split, &x) {
            for (block, lanes) in x.chunks(8).zip(got.chunks(8)) {
                let values: Vec<f64> = block
                    .iter()
                    .copied()
                    .chain(block.iter().map(|v| v + 100.0))
                    .collect();
                for (i, &g) in lanes.iter().enumerate() {
                    let want = values[2 * i] + 1e6 * values[2 * i + 1];
                    assert_eq!(g, want, "{name}: lane {i} of {block:?}");
                }
            }
        }
        // triples: a, a + 100, a + 200; first + 10^3·second + 10^6·third
        struct Split3;
        impl LaneOp for Split3 {
            fn apply<V: F8>(&self, v: V) -> V {
                let (b, c) = (v.add(V::splat(100.0)), v.add(V::splat(200.0)));
                let (x, y, z) = V::deinterleave3(v, b, c);
                x.add(y.mul(V::splat(1e3))).add(z.mul(V::splat(1e6)))
            }
        }
        for (name, got) in on_every_vector_type(&Split3, &x) {
            for (block, lanes) in x.chunks(8).zip(got.chunks(8)) {
                let values: Vec<f64> = [0.0, 100.0, 200.0]
                    .iter()
                    .flat_map(|d| block.iter().map(move |v| v + d))
                    .collect();
                for (i, &g) in lanes.iter().enumerate() {
                    let (x, y, z) = (values[3 * i], values[3 * i + 1], values[3 * i + 2]);
                    assert_eq!(g, x + 1e3 * y + 1e6 * z, "{name}: lane {i} of {block:?}");
                }
            }
        }
    }

    /// `F8::transpose8` on every vector type this CPU has: row j = the eight lanes + 100·j,
    /// so column c's lane j must be lane c + 100·j (each column checked on its own).
    #[test]
    fn transpose8_turns_rows_into_columns_on_every_vector_type() {
        use crate::simd::vector::{on_every_vector_type, LaneOp, F8};
        struct Column(usize);
        impl LaneOp for Column {
            fn apply<V: F8>(&self, v: V) -> V {
                let rows: [V; 8] = std::array::from_fn(|j| v.add(V::splat(100.0 * j as f64)));
                V::transpose8(rows)[self.0]
            }
        }
        let x: Vec<f64> = (0..64).map(|i| (i * 7 % 61) as f64 - 30.5).collect();
        for c in 0..8 {
            for (name, got) in on_every_vector_type(&Column(c), &x) {
                for (block, lanes) in x.chunks(8).zip(got.chunks(8)) {
                    for (j, &g) in lanes.iter().enumerate() {
                        assert_eq!(
                            g,
                            block[c] + 100.0 * j as f64,
                            "{name}: column {c}, lane {j}"
                        );
                    }
                }
            }
        }
    }

    /// Widened runs equal the element-by-element widening bit for bit (NaN payloads,
    /// ±inf, ±0, subnormals of both types), for any run count and stride ≥ 16, on the
    /// instruction set the tests run with (`FASTENTROPY_SIMD`).
    #[test]
    fn widened_runs_match_the_reference() {
        fn check<T: Real>(values: &[T]) {
            for runs in [0, 1, 2, 7, 33] {
                for stride in [16, 17, 40] {
                    let src: Vec<T> = (0..runs * stride + 16)
                        .map(|i| values[(i * 7 + i / 5) % values.len()])
                        .collect();
                    let mut got = vec![[1.5; 16]; runs];
                    widen_runs(&src, stride, 32, &mut got);
                    for (c, slot) in got.iter().enumerate() {
                        for (j, v) in slot.iter().enumerate() {
                            assert_eq!(v.to_bits(), src[c * stride + j].to_f64().to_bits());
                        }
                    }
                }
            }
        }
        check::<f64>(&SPECIALS);
        check::<f32>(&specials_f32());
    }

    /// `widen_rows_at` equals the element-by-element widening bit for bit (NaN payloads,
    /// ±inf, ±0, subnormals of both types) for every length 0..=67, with rows anywhere in
    /// `values`, overlapping, and ending at its last element (the element-by-element
    /// fallback), on the instruction set the tests run with (`FASTENTROPY_SIMD`).
    #[test]
    fn widened_rows_at_starts_match_the_reference() {
        fn check<T: Real>(specials: &[T]) {
            let values: Vec<T> = (0..400)
                .map(|i| specials[(i * 7 + i / 5) % specials.len()])
                .collect();
            for len in 0..=67usize {
                let last = values.len() - len;
                let layouts: [[usize; 16]; 3] = [
                    std::array::from_fn(|j| (j * 37 + len) % (last + 1)),
                    std::array::from_fn(|j| j * len.min(20)),
                    std::array::from_fn(|j| if j % 5 == 2 { last } else { j * 3 }),
                ];
                for starts in layouts {
                    let mut got = vec![[1.5; 16]; len];
                    widen_rows_at(&values, &starts, &mut got);
                    for (c, slot) in got.iter().enumerate() {
                        for (j, v) in slot.iter().enumerate() {
                            let want = values[starts[j] + c].to_f64();
                            assert_eq!(
                                v.to_bits(),
                                want.to_bits(),
                                "len {len}, row {j}, column {c}"
                            );
                        }
                    }
                }
            }
        }
        check::<f64>(&SPECIALS);
        check::<f32>(&specials_f32());
    }

    /// Every edge: no whole block, whole blocks plus edges in either direction, strides
    /// longer than the block; bitwise the reference, on the instruction set the tests run
    /// with (`FASTENTROPY_SIMD`).
    #[test]
    fn blocked_transpose_matches_the_reference() {
        let shapes = [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100];
        for (rows, cols, pad) in shapes
            .iter()
            .flat_map(|&r| shapes.iter().flat_map(move |&c| [(r, c, 0), (r, c, 3)]))
        {
            {
                // pad 0: rows back to back (the two-class paths need exactly that)
                let (ss, ds) = (cols + pad, rows + pad);
                let src: Vec<f32> = (0..rows * ss).map(|i| i as f32 * 0.5 - 7.0).collect();
                let mut want = vec![f32::NAN; cols * ds];
                transpose_scalar(&src, |j| j * ss, rows, cols, &mut want, ds);
                let mut got = vec![f32::NAN; cols * ds];
                transpose(&src, ss, rows, cols, &mut got, ds);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "f32 {rows} x {cols}");
                let src: Vec<f64> = src.iter().map(|&x| x as f64 + 1e-12).collect();
                let mut want = vec![f64::NAN; cols * ds];
                transpose_scalar(&src, |j| j * ss, rows, cols, &mut want, ds);
                let mut got = vec![f64::NAN; cols * ds];
                transpose(&src, ss, rows, cols, &mut got, ds);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "f64 {rows} x {cols}");
            }
        }
    }

    /// Values of every kind (NaN payloads, infinities, subnormals, signed zeros).
    fn odd_values(n: usize) -> Vec<f32> {
        let special = [
            f32::NAN,
            f32::from_bits(0x7f80_0001), // a signalling NaN
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            f32::from_bits(1),
            f32::MIN_POSITIVE,
            f32::MAX,
            -1e-30,
        ];
        (0..n)
            .map(|i| {
                if i % 7 == 3 {
                    special[i / 7 % special.len()]
                } else {
                    i as f32 * 0.25 - 9.0
                }
            })
            .collect()
    }

    /// Rows anywhere in the values (ragged rows: unordered, overlapping, at the very end):
    /// bitwise the element loop, every edge, special values included.
    #[test]
    fn ragged_transposes_match_the_reference() {
        let sizes = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33];
        let src32 = odd_values(1200);
        let src64: Vec<f64> = src32.iter().map(|&x| x as f64 * (1.0 + 1e-12)).collect();
        let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let bits64 = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for &rows in &sizes {
            for &cols in &sizes {
                let ds = rows + 2;
                // row j starts anywhere, the last one ending at the last value
                let starts: Vec<usize> = (0..rows)
                    .map(|j| {
                        if j + 1 == rows {
                            1200 - cols
                        } else {
                            (j * 389 + 17) % (1200 - cols)
                        }
                    })
                    .collect();
                let start = |j: usize| starts[j];

                let mut want = vec![f32::NAN; cols * ds];
                transpose_scalar(&src32, start, rows, cols, &mut want, ds);
                let mut got = vec![f32::NAN; cols * ds];
                transpose_rows(&src32, &starts, cols, &mut got, ds);
                assert_eq!(bits32(&got), bits32(&want), "rows f32 {rows} x {cols}");

                let mut want = vec![f64::NAN; cols * ds];
                transpose_scalar(&src64, start, rows, cols, &mut want, ds);
                let mut got = vec![f64::NAN; cols * ds];
                transpose_rows(&src64, &starts, cols, &mut got, ds);
                assert_eq!(bits64(&got), bits64(&want), "rows f64 {rows} x {cols}");
            }
        }
    }
}
