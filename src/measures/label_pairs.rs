//! Joint counts of two label arrays, for [`super::mutual_information`]: O(n) passes and
//! O(n) memory for any labels, with the sums over the cells of the contingency table.
//!
//! Each variable is first given class codes in ascending label order
//! (`label_counting::coding`: by offset for compact label ranges, by rank
//! otherwise), k_x and k_y classes. Then:
//! - **dense** (k_x·k_y ≤ max(n, 2^16) and ≤ 2^22 cells): a count per cell, and the table
//!   goes through the contingency-table path (bitwise its result);
//! - **sparse** (anything larger, e.g. all-distinct labels, k = n): the table in compressed
//!   rows (CSR), built by a counting sort — one pass counts the margins (row and column
//!   sums), a prefix sum gives each row's slot range, a second pass drops every sample's
//!   column code into its row's range (4 bytes per sample), then each row's column codes
//!   are sorted (rows are short: the rows are the variable with more classes; a long row
//!   over few columns is counted in a small table instead, a row of more than 2^16 samples
//!   is radix-sorted with Ctrl-C checks) and their runs are the non-zero cells of the row.
//!   The cells' terms are summed row block by row block (boundaries fixed by the data), in
//!   buffers of [`CELL_BUF`] cells through the vector kernels, and the blocks are combined
//!   by the fixed tree: bitwise the same for any thread count.
//!
//! Parallel passes split the counters, not the samples: each part owns a range of rows
//! (and of columns) and scans every sample (`label_counting::part_count`), so the
//! counts need no atomics and each row's slots are filled in sample order by one thread.
//!
//! PERF: this replaced a `std::collections::HashMap` of the cells (SipHash, one map per
//! rayon split, merged): 6.7 s for 10^7 all-distinct pairs here, and worse than linear as
//! the maps outgrew the caches (0.47 s at 10^6, 5.4 s at 4·10^6, 311 s at 5·10^7 in the
//! issue). The counting sort touches each sample a fixed number of times with no hashing
//! and no merge: ~110 ns of CPU per sample for 10^7 all-distinct pairs (of which most are
//! the cache misses of the random counter and slot accesses), ~350 ns with 64-bit ids
//! (plus the radix sort and rank lookups of the coding). Memory: 4 bytes of slots per
//! sample plus 4 bytes per class and variable. Tried and rejected: shared counters with
//! atomic adds (1.8× slower on 2 threads than 1 thread without: a locked add drains the
//! store buffer, so the misses stop overlapping); MADV_HUGEPAGE on the buffers (no
//! measurable gain on this VM, and with THP defrag in "madvise" mode it can stall in direct
//! compaction); sorting (row, column) pairs as `u64` by radix (16 bytes per sample).
//! Ratios against sklearn: `benches/mutual_information.py`.

use std::ops::Range;

use ndarray::Array2;
use rayon::prelude::*;

use super::label_counting::{
    coding, even_ranges, fill_codes, for_parts, part_count, split_by, sum_clogc, try_zeroed,
    try_zeroed_touched, Coding, Count, CountSums, Work, COUNT_BLOCK, KEY_BUF,
};
use super::label_keys::KeySource;
use super::radix_sort::radix_sort;
use crate::error::Error;
use crate::kernels::counts::{mi_cell_sums_each, unit_scale, xlog_ratio_sums};
use crate::kernels::xlogx::xlogx_sums;
use crate::kernels::Partial;
use crate::parallel::{tree_combine, Sum};

/// Largest table counted densely: 2^22 cells (32 MiB of `u64` counts).
pub const DENSE_MAX: u64 = 1 << 22;

/// Cells per call of the float kernels in the sparse path.
pub const CELL_BUF: usize = 1024;

/// Whether a table of `cells` cells for `n` samples is counted densely.
pub(crate) fn dense(cells: u64, n: usize) -> bool {
    cells <= DENSE_MAX && cells <= (n as u64).max(1 << 16)
}

/// Which sum over the cells a measure needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CellSum {
    /// Σ N ln N (joint entropy).
    NLogN,
    /// Σ N ln(N / b_Y), b_Y the count of the cell's Y class (conditional entropy H(X|Y)).
    Conditional,
    /// Σ N ln(N n / (a_X b_Y)) (mutual information).
    Mutual,
}

/// The sparse path's results: the cell sum and the margins' statistics.
pub(crate) struct CellSums {
    /// The requested sum over the non-zero cells.
    pub sum: f64,
    /// The counts of X's classes, reduced for its entropy.
    pub x_clogc: CountSums,
    /// The same for Y.
    pub y_clogc: CountSums,
}

/// The joint counts of two label arrays.
pub(crate) enum Counted {
    /// A dense k_x × k_y table of counts.
    Table(Array2<f64>),
    /// The sums of the sparse path.
    Cells(CellSums),
}

/// Counts the pairs (x_i, y_i) and, for a sparse table, computes `sum`.
pub(crate) fn count_pairs(
    x: &dyn KeySource,
    y: &dyn KeySource,
    sum: CellSum,
    w: Work<'_>,
) -> Result<Counted, Error> {
    let n = x.len();
    let cx = coding(x, "x", w)?;
    let cy = coding(y, "y", w)?;
    let (kx, ky) = (cx.classes(), cy.classes());
    let cells = (kx as u128 * ky as u128).min(u64::MAX as u128) as u64;
    let px = Coded {
        src: x,
        coding: &cx,
        arg: "x",
    };
    let py = Coded {
        src: y,
        coding: &cy,
        arg: "y",
    };
    let small = n < u32::MAX as usize; // counts fit u32
    if dense(cells, n) {
        let table = if small {
            dense_table::<u32>(px, py, (kx, ky), w)
        } else {
            dense_table::<u64>(px, py, (kx, ky), w)
        };
        return table.map(Counted::Table);
    }
    // Rows: the variable with more classes, so rows hold few samples each.
    let (rows, cols, y_is_rows) = if kx >= ky {
        (px, py, false)
    } else {
        (py, px, true)
    };
    let (sums, row_clogc, col_clogc) = if small {
        sparse_sums::<u32>(rows, cols, sum, y_is_rows, w)?
    } else {
        sparse_sums::<u64>(rows, cols, sum, y_is_rows, w)?
    };
    let (x_clogc, y_clogc) = if y_is_rows {
        (col_clogc, row_clogc)
    } else {
        (row_clogc, col_clogc)
    };
    Ok(Counted::Cells(CellSums {
        sum: sums,
        x_clogc,
        y_clogc,
    }))
}

/// A label array with its coding.
#[derive(Clone, Copy)]
struct Coded<'a> {
    src: &'a dyn KeySource,
    coding: &'a Coding,
    arg: &'static str,
}

/// Calls `f(codes_a, codes_b)` on the codes of every piece of samples of `a` and `b` read
/// in step, in order, on this thread. `Err(Interrupted)` once the call is stopped; a label
/// that is not one of its classes any more (rewritten during the call) is
/// [`Error::ModifiedDuringCall`].
fn scan_pairs(
    a: Coded<'_>,
    b: Coded<'_>,
    w: Work<'_>,
    mut f: impl FnMut(&[u32], &[u32]),
) -> Result<(), Error> {
    let n = a.src.len();
    let mut keys = [0u64; KEY_BUF];
    let (mut ca, mut cb) = ([0u32; KEY_BUF], [0u32; KEY_BUF]);
    for start in (0..n).step_by(KEY_BUF) {
        if start % COUNT_BLOCK == 0 && w.stopped() {
            return Err(Error::Interrupted);
        }
        let len = KEY_BUF.min(n - start);
        let (ca, cb) = (&mut ca[..len], &mut cb[..len]);
        if !fill_codes(a.src, a.coding, start, &mut keys, ca) {
            return Err(Error::ModifiedDuringCall { arg: a.arg });
        }
        if !fill_codes(b.src, b.coding, start, &mut keys, cb) {
            return Err(Error::ModifiedDuringCall { arg: b.arg });
        }
        f(ca, cb);
    }
    Ok(())
}

/// Adds 1 to `counts[c − first]` for the codes `c` in this part's range.
#[inline]
fn bump_range<C: Count>(counts: &mut [C], first: usize, codes: &[u32]) {
    for &c in codes {
        if let Some(slot) = counts.get_mut((c as usize).wrapping_sub(first)) {
            slot.bump();
        }
    }
}

/// The dense k_x × k_y table of counts (each part owns a range of cells).
fn dense_table<C: Count>(
    x: Coded<'_>,
    y: Coded<'_>,
    (kx, ky): (usize, usize),
    w: Work<'_>,
) -> Result<Array2<f64>, Error> {
    let mut counts = try_zeroed_touched::<C>(kx * ky, w)?;
    let ranges = even_ranges(kx * ky, part_count(w));
    for_parts(&mut counts, &ranges, |mine, counts| {
        let mut cell = [0u32; KEY_BUF];
        scan_pairs(x, y, w, |a, b| {
            let cell = &mut cell[..a.len()];
            for ((c, &i), &j) in cell.iter_mut().zip(a).zip(b) {
                // < kx·ky ≤ DENSE_MAX: fits u32, and within the table
                *c = i * ky as u32 + j;
            }
            bump_range(counts, mine.start, cell);
        })
    })?;
    let table: Vec<f64> = counts
        .iter()
        .map(|&c| Into::<u64>::into(c) as f64)
        .collect();
    Array2::from_shape_vec((kx, ky), table).map_err(|_| Error::OutOfMemory { bytes: 0 })
}

/// The sparse path: the cell sum, and Σ c ln c (with the class count) of the row and
/// column margins.
#[allow(clippy::type_complexity)]
fn sparse_sums<C: Count>(
    rows: Coded<'_>,
    cols: Coded<'_>,
    sum: CellSum,
    y_is_rows: bool,
    w: Work<'_>,
) -> Result<(f64, CountSums, CountSums), Error> {
    let n = rows.src.len();
    let (kr, kc) = (rows.coding.classes(), cols.coding.classes());
    let parts = part_count(w);
    // 1. Margins: each part owns a range of rows and a range of columns.
    let mut cursor = try_zeroed_touched::<C>(kr + 1, w)?;
    let mut col_counts = try_zeroed_touched::<C>(kc, w)?;
    {
        let (rr, cr) = (even_ranges(kr, parts), even_ranges(kc, parts));
        let jobs: Vec<_> = rr
            .iter()
            .cloned()
            .zip(split_by(&mut cursor[..kr], &rr))
            .zip(cr.iter().cloned().zip(split_by(&mut col_counts, &cr)))
            .collect();
        let job = |((r_own, r_counts), (c_own, c_counts)): (
            (Range<usize>, &mut [C]),
            (Range<usize>, &mut [C]),
        )| {
            scan_pairs(rows, cols, w, |r, c| {
                bump_range(r_counts, r_own.start, r);
                bump_range(c_counts, c_own.start, c);
            })
        };
        if jobs.len() > 1 {
            jobs.into_par_iter().try_for_each(job)?;
        } else {
            jobs.into_iter().try_for_each(job)?;
        }
    }
    let count = |c: &C| -> u64 { (*c).into() };
    let row_clogc = sum_clogc(cursor[..kr].iter().map(count), n as u64, w)?;
    let col_clogc = sum_clogc(col_counts.iter().map(count), n as u64, w)?;
    // 2. cursor[i] = the end of row i's slots.
    let mut end = 0u64;
    for (i, c) in cursor[..kr].iter_mut().enumerate() {
        if i % COUNT_BLOCK == COUNT_BLOCK - 1 && w.stopped() {
            return Err(Error::Interrupted);
        }
        end += Into::<u64>::into(*c);
        *c = C::of(end);
    }
    cursor[kr] = C::of(n as u64);
    // 3. Every sample's column code into its row's slots, from the end, so the cursor
    //    finishes at the row's start. Each part owns a range of rows holding about n/parts
    //    samples, hence a contiguous range of the slots.
    let mut slots = try_zeroed_touched::<u32>(n, w)?;
    {
        let row_ranges = balanced_rows(&cursor[..kr], n, parts);
        let slot_ranges: Vec<Range<usize>> = row_ranges
            .iter()
            .map(|r| start_of(&cursor, r.start)..start_of(&cursor, r.end))
            .collect();
        let jobs: Vec<_> = row_ranges
            .iter()
            .cloned()
            .zip(split_by(&mut cursor[..kr], &row_ranges))
            .zip(
                slot_ranges
                    .iter()
                    .cloned()
                    .zip(split_by(&mut slots, &slot_ranges)),
            )
            .collect();
        let job = |((own, cur), (slot_range, part)): (
            (Range<usize>, &mut [C]),
            (Range<usize>, &mut [u32]),
        )| {
            let mut bad = false;
            scan_pairs(rows, cols, w, |r, c| {
                for (&i, &j) in r.iter().zip(c) {
                    let Some(end) = cur.get_mut((i as usize).wrapping_sub(own.start)) else {
                        continue; // another part's row
                    };
                    // The slot just below the row's cursor; bounds-checked: when the labels
                    // changed since the margins were counted it may be outside the part.
                    let pos = Into::<u64>::into(*end).wrapping_sub(1) as usize;
                    match part.get_mut(pos.wrapping_sub(slot_range.start)) {
                        Some(slot) => {
                            *slot = j;
                            *end = C::of(pos as u64);
                        }
                        None => bad = true,
                    }
                }
            })?;
            if bad {
                return Err(Error::ModifiedDuringCall { arg: rows.arg });
            }
            Ok(())
        };
        if jobs.len() > 1 {
            jobs.into_par_iter().try_for_each(job)?;
        } else {
            jobs.into_iter().try_for_each(job)?;
        }
    }
    // cursor[i] is now the start of row i's slots (cursor[kr] = n) — unless the labels
    // changed between the passes.
    let starts = cursor;
    let consistent =
        count(&starts[0]) == 0 && starts.windows(2).all(|s| count(&s[0]) <= count(&s[1]));
    if !consistent {
        return Err(Error::ModifiedDuringCall { arg: rows.arg });
    }
    // 4. The cells, row block by row block.
    let ctx = CellCtx {
        sum,
        n: n as f64,
        scale: unit_scale(n.max(1) as f64),
        col_sums: &col_counts,
        rows_are_y: y_is_rows,
        classes: kc,
    };
    if w.stopped() {
        return Err(Error::Interrupted);
    }
    let blocks = row_blocks(&starts);
    let bounds: Vec<Range<usize>> = blocks
        .iter()
        .map(|rb| count(&starts[rb.start]) as usize..count(&starts[rb.end]) as usize)
        .collect();
    let pieces: Vec<(Range<usize>, &mut [u32])> = blocks
        .into_iter()
        .zip(split_by(&mut slots, &bounds))
        .collect();
    let block_sum = |(rb, piece): (Range<usize>, &mut [u32])| -> Result<BlockSum, Error> {
        if w.stopped() {
            return Err(Error::Interrupted);
        }
        ctx.block(&starts, rb, piece, w)
    };
    let parts: Vec<BlockSum> = if w.parallel {
        pieces
            .into_par_iter()
            .map(block_sum)
            .collect::<Result<_, _>>()?
    } else {
        pieces
            .into_iter()
            .map(block_sum)
            .collect::<Result<_, _>>()?
    };
    let total = tree_combine(&parts);
    let sum = if sum == CellSum::Mutual {
        // n·I = Σ over every cell of q·φ(N/q): the zero cells (never visited) add their
        // expected counts q = a·b/n, n² − Σ_(non-zero cells) a·b in all — exact integers
        let n = n as u128;
        let zero_cells = (n * n).saturating_sub(total.expected) as f64 / n as f64;
        total.sum + zero_cells
    } else {
        total.sum
    };
    Ok((sum, row_clogc, col_clogc))
}

/// Where row `i`'s slots start, from the row ends `cursor` (before the scatter).
fn start_of<C: Count>(ends: &[C], i: usize) -> usize {
    if i == 0 {
        0
    } else {
        Into::<u64>::into(ends[i - 1]) as usize
    }
}

/// `parts` consecutive row ranges holding about n/parts samples each, from the row ends.
fn balanced_rows<C: Count>(ends: &[C], n: usize, parts: usize) -> Vec<Range<usize>> {
    let mut cuts = vec![0];
    for t in 1..parts {
        let target = (n as u64) * t as u64 / parts as u64;
        let at = ends.partition_point(|&e| Into::<u64>::into(e) <= target);
        cuts.push(at.max(*cuts.last().unwrap_or(&0)));
    }
    cuts.push(ends.len());
    cuts.windows(2).map(|c| c[0]..c[1]).collect()
}

/// Consecutive rows holding about [`COUNT_BLOCK`] samples (or that many empty rows): the
/// fixed units of the cell sums.
fn row_blocks<C: Count>(starts: &[C]) -> Vec<Range<usize>> {
    let at = |i: usize| -> u64 { starts[i].into() };
    let rows = starts.len() - 1;
    let mut blocks = Vec::new();
    let mut first = 0;
    for i in 0..rows {
        if at(i + 1) - at(first) >= COUNT_BLOCK as u64 || i + 1 - first >= COUNT_BLOCK {
            blocks.push(first..i + 1);
            first = i + 1;
        }
    }
    if first < rows {
        blocks.push(first..rows);
    }
    blocks
}

/// What a row block needs to sum its cells.
struct CellCtx<'a, C> {
    sum: CellSum,
    n: f64,
    /// The power of two that brings n to [1, 2) (for [`mi_cell_sums_each`]).
    scale: f64,
    col_sums: &'a [C],
    rows_are_y: bool,
    classes: usize,
}

/// Cell terms waiting for a kernel call, and the sums of the calls so far (combined by
/// the fixed tree: O(log) rounding growth, as the table path's tree over rows).
struct Pending {
    x: Vec<f64>,
    d: Vec<f64>,
    /// The cells' row sums (mutual information only).
    a: Vec<f64>,
    sums: Vec<Sum>,
    /// Σ a·b over the pushed cells, exact (mutual information only).
    expected: u128,
}

/// A block's sum of cell terms and, for mutual information, Σ a·b over its non-zero cells
/// (the zero cells' expected counts are n² minus all of these, see [`sparse_sums`]).
#[derive(Clone, Copy, Debug, PartialEq)]
struct BlockSum {
    sum: f64,
    expected: u128,
}

impl Partial for BlockSum {
    const EMPTY: Self = BlockSum {
        sum: 0.0,
        expected: 0,
    };
    fn combine(self, o: Self) -> Self {
        BlockSum {
            sum: self.sum + o.sum,
            expected: self.expected + o.expected,
        }
    }
}

impl<C: Count> CellCtx<'_, C> {
    /// Σ of the terms of the cells of rows `rb`, whose column codes are `slots`.
    fn block(
        &self,
        starts: &[C],
        rb: Range<usize>,
        slots: &mut [u32],
        w: Work<'_>,
    ) -> Result<BlockSum, Error> {
        let at = |i: usize| -> u64 { starts[i].into() };
        let mut pending = Pending {
            x: Vec::with_capacity(CELL_BUF),
            d: Vec::with_capacity(CELL_BUF),
            a: Vec::new(),
            sums: Vec::new(),
            expected: 0,
        };
        let mut scratch: Vec<u32> = Vec::new();
        let base = at(rb.start);
        for i in rb {
            let seg = &mut slots[(at(i) - base) as usize..(at(i + 1) - base) as usize];
            if seg.is_empty() {
                continue;
            }
            let a = seg.len() as f64;
            self.row_cells(seg, &mut scratch, w, |col, count| {
                self.push(&mut pending, a, col, count)
            })?;
        }
        self.flush(&mut pending);
        Ok(BlockSum {
            sum: tree_combine(&pending.sums).0,
            expected: pending.expected,
        })
    }

    /// Calls `cell(column, count)` for the non-zero cells of a row, in column order.
    fn row_cells(
        &self,
        seg: &mut [u32],
        scratch: &mut Vec<u32>,
        w: Work<'_>,
        mut cell: impl FnMut(usize, u64),
    ) -> Result<(), Error> {
        let kc = self.classes;
        if let [j] = seg {
            cell(*j as usize, 1);
            return Ok(());
        }
        if kc <= 1 << 16 && seg.len() * 8 >= kc {
            // A long row over few columns: count them in a small table (in L2).
            if scratch.len() != kc {
                *scratch = try_zeroed(kc)?;
            }
            for &j in seg.iter() {
                scratch[j as usize] += 1;
            }
            for (j, c) in scratch.iter_mut().enumerate() {
                if *c > 0 {
                    cell(j, *c as u64);
                    *c = 0;
                }
            }
            return Ok(());
        }
        if seg.len() <= COUNT_BLOCK {
            seg.sort_unstable();
        } else {
            let bits = 64 - ((kc.max(1) - 1) as u64).leading_zeros();
            radix_sort(seg, bits, w)?;
        }
        let mut at = 0;
        while at < seg.len() {
            let j = seg[at];
            let run = seg[at..]
                .iter()
                .position(|&v| v != j)
                .unwrap_or(seg.len() - at);
            cell(j as usize, run as u64);
            at += run;
        }
        Ok(())
    }

    /// Queues the term of a cell of `count` samples in column `col` of a row of `a`.
    #[inline]
    fn push(&self, p: &mut Pending, a: f64, col: usize, count: u64) {
        let b = self
            .col_sums
            .get(col)
            .map_or(f64::NAN, |&c| Into::<u64>::into(c) as f64);
        p.x.push(count as f64);
        p.d.push(match self.sum {
            CellSum::NLogN => 0.0,
            CellSum::Conditional if self.rows_are_y => a,
            CellSum::Conditional => b,
            CellSum::Mutual => b,
        });
        if self.sum == CellSum::Mutual {
            p.a.push(a);
            // counts are integers below 2^64: the product and the sum are exact
            p.expected += a as u128 * b as u128;
        }
        if p.x.len() == CELL_BUF {
            self.flush(p);
        }
    }

    /// Adds the queued terms to the block's total.
    fn flush(&self, p: &mut Pending) {
        if p.x.is_empty() {
            return;
        }
        p.sums.push(Sum(match self.sum {
            CellSum::NLogN => xlogx_sums(&p.x).sum_xlogx,
            CellSum::Conditional => xlog_ratio_sums(&p.x, &p.d, 1.0).sum_terms,
            CellSum::Mutual => {
                // Σ q·φ(N/q) over these cells (non-negative terms, see `mi_cell_sums`);
                // integer counts keep every product in the exact range
                let terms = mi_cell_sums_each(&p.x, &p.a, &p.d, self.n, self.scale);
                debug_assert!(!terms.inexact);
                terms.sum
            }
        }));
        p.x.clear();
        p.d.clear();
        p.a.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_blocks_cover_every_row_once() {
        let starts: Vec<u32> = vec![0, 0, 70_000, 70_001, 70_001, 140_000, 140_000];
        assert_eq!(row_blocks(&starts), vec![0..2, 2..5, 5..6]);
        assert_eq!(row_blocks(&[0u32]), Vec::<Range<usize>>::new());
    }

    #[test]
    fn balanced_rows_split_by_samples() {
        let ends: Vec<u64> = vec![10, 10, 60, 61, 100];
        assert_eq!(balanced_rows(&ends, 100, 2), vec![0..2, 2..5]);
        assert_eq!(balanced_rows(&ends, 100, 1), vec![0..5]);
        assert_eq!(balanced_rows(&[] as &[u64], 0, 3), vec![0..0, 0..0, 0..0]);
    }
}
