//! Eight adjacent rows of C ≤ [`MAX_COLUMNS`] float32 values — one run of 8·C values, row
//! after row — as ⌈C/2⌉ sixteen-lane vectors of two columns each: vector j holds column
//! 2j of rows 0–7 in lanes 0–7 and column 2j + 1 in lanes 8–15 (0 past the last column).
//! That is the lane-major layout of the ensemble kernel's float32 logarithms
//! (`kernels::ensemble_f32`), made in registers instead of through a buffer: the run is
//! loaded as ⌈C/2⌉ vectors (the last one masked where C is odd), and each output vector
//! is picked out of them by two-source permutes ([`F16::merge_picked`]), one per pair of
//! loaded vectors its lanes come from — at most four, 1 + 2·3 instructions on AVX-512.
//! The permutes' lane indices depend on C only: [`PLANS`] holds them for every C, built at
//! compile time.

use super::vector_f32::F16;

/// The widest rows this transposition takes (eight loaded vectors, four pairs).
pub const MAX_COLUMNS: usize = 16;

/// Loaded vectors per pair of a permute.
const PAIRS: usize = MAX_COLUMNS.div_ceil(4);

/// Output vectors of the widest rows.
const OUTPUTS: usize = MAX_COLUMNS.div_ceil(2);

/// One permute of a plan: output lane i is lane `index[i]` of the pair's 32 lanes where
/// bit i of `keep` is set.
#[derive(Clone, Copy)]
pub struct Pick {
    pub index: [u32; 16],
    pub keep: u16,
}

/// `PLANS[c][j][t]`: the lanes of output vector j that come from loaded vectors 2t and
/// 2t + 1, for rows of c columns.
pub static PLANS: [[[Pick; PAIRS]; OUTPUTS]; MAX_COLUMNS + 1] = plans();

const fn plans() -> [[[Pick; PAIRS]; OUTPUTS]; MAX_COLUMNS + 1] {
    let none = Pick {
        index: [0; 16],
        keep: 0,
    };
    let mut all = [[[none; PAIRS]; OUTPUTS]; MAX_COLUMNS + 1];
    let mut c = 1;
    while c <= MAX_COLUMNS {
        let mut j = 0;
        while j < c.div_ceil(2) {
            let mut lane = 0;
            while lane < 16 {
                let (half, row) = (lane / 8, lane % 8);
                let column = 2 * j + half;
                if column < c {
                    // position in the run, then (pair, lane of the pair)
                    let at = row * c + column;
                    let pick = &mut all[c][j][at / 32];
                    pick.index[lane] = (at % 32) as u32;
                    pick.keep |= 1 << lane;
                }
                lane += 1;
            }
            j += 1;
        }
        c += 1;
    }
    all
}

/// The ⌈C/2⌉ column-pair vectors of eight adjacent rows of `columns` values, `run` =
/// the rows back to back (8·`columns` values), into `out[..⌈C/2⌉]`. Data movement only:
/// the same bits on every vector type.
#[inline(always)]
pub fn column_pairs<S: F16>(run: &[f32], columns: usize, out: &mut [S; OUTPUTS]) {
    assert!((1..=MAX_COLUMNS).contains(&columns) && run.len() == 8 * columns);
    let vectors = columns.div_ceil(2);
    let zero = S::splat(0.0);
    let mut loaded = [zero; 2 * PAIRS];
    // index loops: no closure or iterator adaptor that could stay out of line
    for (v, slot) in loaded.iter_mut().enumerate().take(vectors) {
        let part = &run[16 * v..(16 * v + 16).min(run.len())];
        *slot = match part.try_into() {
            Ok(full) => S::load(full),
            Err(_) => S::load_padded(part),
        };
    }
    let plan = &PLANS[columns];
    for j in 0..vectors {
        let mut v = zero;
        for t in 0..vectors.div_ceil(2) {
            let pick = &plan[j][t];
            v = v.merge_picked(loaded[2 * t], loaded[2 * t + 1], &pick.index, pick.keep);
        }
        out[j] = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::vector::{on_every_vector_type, LaneOp, F8};

    /// Column-pair vector `part / 2`, half `part % 2`, of eight rows of `columns` values
    /// made from the lanes of the test's input (x[k] = value k of the run).
    struct Part {
        columns: usize,
        part: usize,
    }

    impl LaneOp for Part {
        fn apply<V: F8>(&self, v: V) -> V {
            // the run: value k = 1000 + k + lane 0 of the input (distinct, exact in f32)
            let base = v.to_array()[0];
            let run: Vec<f32> = (0..8 * self.columns)
                .map(|k| (base + 1000.0 + k as f64) as f32)
                .collect();
            let mut out = [V::F32s::splat(-1.0); OUTPUTS];
            column_pairs(&run, self.columns, &mut out);
            let (lo, hi) = out[self.part / 2].widen();
            if self.part.is_multiple_of(2) {
                lo
            } else {
                hi
            }
        }
    }

    #[test]
    fn column_pairs_transpose_every_width_on_every_vector_type() {
        let x: Vec<f64> = vec![5.0; 8];
        for columns in 1..=MAX_COLUMNS {
            for part in 0..2 * columns.div_ceil(2) {
                for (name, got) in on_every_vector_type(&Part { columns, part }, &x) {
                    let column = part;
                    for (row, &g) in got.iter().enumerate() {
                        let want = if column < columns {
                            1005.0 + (row * columns + column) as f64
                        } else {
                            0.0
                        };
                        assert_eq!(g, want, "{name}: C={columns} column {column} row {row}");
                    }
                }
            }
        }
    }
}
