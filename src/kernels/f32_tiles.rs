//! The float32 fast group forms (KL: [`super::kl_f32`], JS: [`super::js_f32`]) and the
//! cross-entropy / entropy group form ([`super::plogq`], whose float32 logarithms run in
//! f32 lanes) on either kind of group tile (`tile[c][j]`: element c of row j, one row per
//! lane): the engine's tile, widened to f64 for every measure's group form, or a float32
//! tile transposed straight from rows back to back ([`adjacent`], the engine's
//! `RowMeasure::adjacent`).
//!
//! **Why.** The fast forms compute in f32 lanes: on the engine's tile every value was
//! widened into it and narrowed back out of it. `perf` of float32 KL over (10^5, 100)
//! rows, one thread: the kernel 45%, the float32 transpose 27%, the widening 13%. On the
//! float32 tile only groups holding a row the fast form does not keep are widened, for the
//! exact group form. Both tiles hold the same values, so a row gets the same bits from
//! either (tested: [`adjacent`] against the group form on every shape it takes).

use super::block::Block;
// (`TileRow` lives beside the tile helpers its impls use; re-exported for the forms here)
pub use super::two_pass::TileRow;
use super::two_pass::{exact_where_not_fast, Lowest};
use super::{COLUMNS_AHEAD, GROUP};
use crate::simd::transpose::{transpose, widen_runs};
use crate::simd::vector::F8;

/// Rows at least this long take the float32 tiles ([`adjacent`]); shorter ones (but rows
/// of three, see [`take`]) have too few columns for the transpose's 8 × 8 blocks (its
/// element loop moves them), and keep the engine's tile. Measured (KL, (N, C) float32,
/// N·C = 10^7, one thread, ms a call, minimum of three alternated rounds, engine tile →
/// float32 tile): C = 5 36.5 → 44.2, C = 6 39.8 → 36.1, C = 8 31.7 → 25.9, C = 10 30.0 →
/// 27.6, C = 12 32.2 → 24.6, C = 16 27.3 → 21.6, C = 32 36.0 → 20.2, C = 100 28.8 → 23.4,
/// C = 128 28.0 → 20.6. (Measured with the AVX2 blocks; on AVX-512 the transpose takes
/// sixteen rows of any length in registers since 2026-12-08 — not measured again here.)
const FROM: usize = 8;

/// Whether rows of `len` float32 values take the float32 tiles: from [`FROM`], and rows of
/// three (the transpose splits triples with shuffles, no element loop). Measured with
/// float32 entropy / cross-entropy over (3.3·10^6, 3), one thread, minima of three
/// alternated rounds: 21.6 → 20.2 ms, 29.7 → 26.9 ms.
pub(crate) fn take(len: usize) -> bool {
    len == 3 || len >= FROM
}

/// A fast float32 group form and the exact group form it falls back on.
pub trait FastGroupForm {
    /// The fast form of up to sixteen rows (`out.len()`; lanes past them are zeros):
    /// values into `out`, `fast[j] = false` for rows it does not keep; the smallest inputs.
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest;
    /// A second fast form for the rows the first does not keep (`fast[j] == false`): their
    /// values into `out` and `fast[j] = true` where it keeps them. None by default.
    #[inline(always)]
    fn second<V: F8, R: TileRow>(_p: &[R], _q: &[R], _out: &mut [f64], _fast: &mut [bool]) {}
    /// The exact group form on the widened tile (values into `out`, `regular[j] = false`
    /// for rows the engine must redo with the row form).
    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]);
}

/// Both fast forms: the first, then the second for the rows the first leaves.
#[inline(always)]
fn fast_forms<V: F8, G: FastGroupForm, R: TileRow>(
    p: &[R],
    q: &[R],
    out: &mut [f64],
    fast: &mut [bool],
) -> Lowest {
    let lowest = G::fast::<V, R>(p, q, out, fast);
    if !fast.iter().all(|&kept| kept) {
        G::second::<V, R>(p, q, out, fast);
    }
    lowest
}

/// The group form on the engine's tile: the fast forms, the exact form for the rows they
/// do not keep.
#[inline(always)]
fn on_tile<V: F8, G: FastGroupForm>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let n = out.len();
    let mut fast = [true; GROUP];
    let lowest = fast_forms::<V, G, _>(p, q, out, &mut fast[..n]);
    exact_where_not_fast(&fast[..n], out, regular, |values, flags| {
        G::exact(p, q, values, flags)
    });
    lowest
}

/// Whole groups of sixteen rows of `len` float32 values in one of the [`Block`] layouts
/// (`q` may be `p`, the same memory), `out.len() / 16` of them, through float32 tiles: the
/// values into `out` until a group holds a row the engine must redo with its row form
/// (that group's slots are left written: the engine's group form overwrites them).
/// Returns (rows done, a multiple of sixteen; their smallest inputs). Each row equals
/// [`on_tile`]'s bit for bit.
#[inline(always)]
fn adjacent_body<V: F8, G: FastGroupForm>(
    p: Block<'_, f32>,
    q: Block<'_, f32>,
    len: usize,
    out: &mut [f64],
) -> (usize, Lowest) {
    let groups = out.len() / GROUP;
    assert!(len > 0 && p.holds(groups, len) && q.holds(groups, len));
    let same = p.same_values(&q);
    let mut pt = vec![[0f32; GROUP]; len];
    let mut qt = vec![[0f32; GROUP]; if same { 0 } else { len }];
    // the widened tiles, made for the first group the fast form does not keep whole
    let (mut wide_p, mut wide_q): (Vec<[f64; GROUP]>, Vec<[f64; GROUP]>) = (vec![], vec![]);
    let mut lowest = Lowest::NONE;
    for g in 0..groups {
        p.fill(g, &mut pt);
        if !same {
            q.fill(g, &mut qt);
        }
        let qt: &[[f32; GROUP]] = if same { &pt } else { &qt };
        let slots = &mut out[g * GROUP..(g + 1) * GROUP];
        let mut fast = [true; GROUP];
        let lo = fast_forms::<V, G, _>(&pt, qt, slots, &mut fast);
        if !fast.iter().all(|&kept| kept) {
            wide_p.resize(len, [0.0; GROUP]);
            widen_runs(pt.as_flattened(), GROUP, 0, &mut wide_p);
            if !same {
                wide_q.resize(len, [0.0; GROUP]);
                widen_runs(qt.as_flattened(), GROUP, 0, &mut wide_q);
            }
            let wq: &[[f64; GROUP]] = if same { &wide_p } else { &wide_q };
            let mut regular = [true; GROUP];
            exact_where_not_fast(&fast, slots, &mut regular, |values, flags| {
                G::exact(&wide_p, wq, values, flags)
            });
            if !regular.iter().all(|&r| r) {
                return (g * GROUP, lowest);
            }
        }
        lowest = lowest.min(lo);
    }
    (groups * GROUP, lowest)
}

crate::simd::multiversion! {
    /// The group form `G` of up to sixteen rows of float32 data in the engine's tile
    /// (`p[c][j]`: element c of row j, zero padded): its fast forms lane by lane, its exact
    /// group form for the rows they leave. Rows left `regular[j] == false` must be redone
    /// with the row form.
    pub fn group<G: FastGroupForm>(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) -> Lowest = on_tile;
}

crate::simd::multiversion! {
    /// [`group`] on whole groups of sixteen rows of `len` float32 values in one of the
    /// [`Block`] layouts (`q` may be `p`, the same memory; `out.len() / 16` groups), read
    /// through float32 tiles ([`adjacent_body`]): the values into `out` until a group holds
    /// a row the engine must redo with the row form. Returns (rows done, their smallest
    /// inputs); each row equals [`group`]'s bit for bit.
    pub fn adjacent<G: FastGroupForm>(p: Block<'_, f32>, q: Block<'_, f32>, len: usize, out: &mut [f64]) -> (usize, Lowest) = adjacent_body;
}

impl Block<'_, f32> {
    /// Whether `groups` groups of sixteen rows of `len` values lie in the slice.
    fn holds(&self, groups: usize, len: usize) -> bool {
        match *self {
            Block::Rows(x) => x.len() >= groups * GROUP * len,
            Block::Columns { values, stride } => {
                groups == 0 || values.len() >= (len - 1) * stride + groups * GROUP
            }
        }
    }

    /// Whether both read the same memory.
    fn same_values(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Block::Rows(a), Block::Rows(b)) => std::ptr::eq(a, b),
            (
                Block::Columns { values: a, stride },
                Block::Columns {
                    values: b,
                    stride: s,
                },
            ) => std::ptr::eq(a, b) && stride == s,
            _ => false,
        }
    }

    /// Group `g`'s rows transposed into `tile` (`tile[c][j]`: element c of row 16g + j).
    #[inline(always)]
    fn fill(&self, g: usize, tile: &mut [[f32; GROUP]]) {
        let len = tile.len();
        match *self {
            Block::Rows(x) => {
                let rows = &x[g * GROUP * len..(g + 1) * GROUP * len];
                transpose(rows, len, GROUP, len, tile.as_flattened_mut(), GROUP);
            }
            Block::Columns { values, stride } => {
                for (c, slot) in tile.iter_mut().enumerate() {
                    let at = c * stride + g * GROUP;
                    // the next groups' values of this element: the class rows are `len`
                    // streams, more than the hardware prefetcher follows
                    crate::simd::prefetch_streams(
                        values.as_ptr().wrapping_add(at + COLUMNS_AHEAD),
                        len,
                    );
                    *slot = values[at..at + GROUP].try_into().expect("16");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::adversarial::{
        column_major, f32_group_rows, row_and_column_blocks, tile_rows, GroupFn,
    };
    use super::super::{js, js_f32, kl, kl_f32, plogq};
    use super::*;

    /// `adjacent` (rows back to back, float32 tiles) against the group form on the
    /// engine's tile, for every row length in `lens`: rows the group form keeps regular
    /// (counts around every group boundary, and up to 67: every tail) followed by all of
    /// [`f32_group_rows`] (nearly equal, identical and rescaled rows for the exact
    /// fallback, zeros, specials, NaN, negatives), with q apart and q = p (the same
    /// memory). The rows done carry the group form's bits; it stops exactly before the
    /// first group holding an irregular row; its smallest inputs are those rows'.
    fn check_adjacent_matches_group(
        adjacent: impl Fn(Block<'_, f32>, Block<'_, f32>, usize, &mut [f64]) -> (usize, Lowest),
        group: impl GroupFn,
        lens: impl Iterator<Item = usize>,
    ) {
        let mut rows_done = 0;
        for len in lens {
            let mut rows = f32_group_rows(len, len as u64);
            rows.extend(f32_group_rows(len, 500 + len as u64));
            for same in [false, true] {
                let rows: Vec<(Vec<f64>, Vec<f64>)> = rows
                    .iter()
                    .map(|(p, q)| (p.clone(), if same { p.clone() } else { q.clone() }))
                    .collect();
                // each row alone (a row's group value does not depend on its neighbours)
                let alone = |row: &(Vec<f64>, Vec<f64>)| {
                    let (pt, qt) = tile_rows(std::slice::from_ref(row));
                    let (mut v, mut regular) = ([0.0], [true]);
                    group(&pt, &qt, &mut v, &mut regular);
                    (v[0], regular[0])
                };
                let regular: Vec<_> = rows.iter().filter(|r| alone(r).1).cloned().collect();
                let mut cases: Vec<Vec<(Vec<f64>, Vec<f64>)>> = [0, 1, 15, 16, 17, 32, 33, 67]
                    .iter()
                    .map(|&n| regular.iter().cycle().take(n).cloned().collect())
                    .collect();
                cases.push(regular.iter().take(32).chain(&rows).cloned().collect());
                cases.push(rows.clone());
                for case in &cases {
                    let want: Vec<_> = case.iter().map(alone).collect();
                    let flat = |side: usize| -> Vec<f32> {
                        let side = |r: &(Vec<f64>, Vec<f64>)| {
                            if side == 0 {
                                r.0.clone()
                            } else {
                                r.1.clone()
                            }
                        };
                        case.iter().flat_map(side).map(|v| v as f32).collect()
                    };
                    let (p, q) = (flat(0), flat(1));
                    let n = case.len();
                    let (pc, qc) = (column_major(&p, len), column_major(&q, len));
                    let layouts = row_and_column_blocks((&p, &q), (&pc, &qc), n);
                    for (pr, qr) in layouts {
                        let mut out = vec![f64::NAN; n];
                        let (done, lo) = adjacent(pr, if same { pr } else { qr }, len, &mut out);
                        let first_irregular = want.iter().position(|w| !w.1).unwrap_or(n);
                        assert_eq!(done, first_irregular / GROUP * GROUP, "{len} {same}");
                        for r in 0..done {
                            assert_eq!(
                                out[r].to_bits(),
                                want[r].0.to_bits(),
                                "{len} {:?}",
                                case[r]
                            );
                        }
                        let min = |x: &[f32]| {
                            x[..done * len].iter().fold(0.0f64, |m, &v| m.min(v.into()))
                        };
                        assert_eq!((lo.p, lo.q), (min(&p), min(&q)), "{len} {same}");
                        rows_done += done;
                    }
                }
            }
        }
        assert!(rows_done > 0);
    }

    #[test]
    fn kl_rows_through_float32_tiles_equal_the_group_form() {
        check_adjacent_matches_group(
            kl_f32::adjacent,
            |pt, qt, out, regular| kl::group::<f32, f32>(pt, qt, true, out, regular),
            (kl::F32_FAST_GROUP_FROM..=40).chain([63, 64, 100, kl::F32_ROWS_ABOVE]),
        );
    }

    #[test]
    fn js_rows_through_float32_tiles_equal_the_group_form() {
        check_adjacent_matches_group(
            js_f32::adjacent,
            |pt, qt, out, regular| js::group::<f32, f32>(pt, qt, true, out, regular),
            (js::F32_FAST_GROUP_FROM..=40).chain([63, 64, js::F32_ROWS_ABOVE]),
        );
    }

    #[test]
    fn cross_entropy_rows_through_float32_tiles_equal_the_group_form() {
        // entropy too: the checker runs every case with q = p (the same memory)
        check_adjacent_matches_group(
            plogq::adjacent,
            plogq::group::<f32, f32>,
            (3..=40).chain([63, 64, 100, 128, 255, 256]),
        );
    }
}
