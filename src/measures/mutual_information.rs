//! Measures of two discrete variables X, Y from their joint counts: joint entropy
//! H(X,Y), conditional entropy H(X|Y), mutual information I(X;Y) and normalised mutual
//! information (sklearn's `average_method`s). The counts come either from a contingency
//! table N (rows: values of X, columns: values of Y; non-negative, not necessarily
//! integers) or from two equally long integer label arrays (sklearn's
//! `mutual_info_score(labels_true, labels_pred)`: X = the first array).
//!
//! With n = Σ N, row sums a_i and column sums b_j:
//! - H(X,Y) = (n ln n − Σ N ln N)/n (as [`super::entropy`]: a single cell gives exactly 0);
//! - H(X|Y) = −Σ (N_ij/n) ln(N_ij/b_j), computed directly (not H(X,Y) − H(Y)), so a
//!   function X = f(Y) gives exactly 0;
//! - I(X;Y) = Σ (N_ij/n) ln(N_ij·(n/a_i)/b_j), the direct form sklearn also uses, rather
//!   than H(X) + H(Y) − H(X,Y), which cancels catastrophically for nearly independent
//!   variables; an exactly independent table gives exactly 0 where the ratios round to 1;
//! - NMI = I / avg(H(X), H(Y)), with sklearn's special cases: 1.0 when both variables have
//!   a single class, 0.0 when I = 0 (and 1.0 for no samples: empty labels or table).
//!
//! Negative rounding results of these non-negative quantities are clamped to 0; NaN
//! propagates. A table summing to 0 gives NaN, an empty one 0.0 (NMI 1.0).
//!
//! Parallel and deterministic: the table's row and column sums are lane reductions of
//! [`crate::parallel`]; the Σ over cells is a per-row kernel call whose results are
//! combined by the fixed tree [`tree_combine`] in row order. Label pairs are first turned
//! into integer counts (exact, so split-independent): a dense k_x × k_y table when it is
//! small (see [`super::label_entropy::dense`]), else a hash map per block of samples,
//! merged, then sorted by (row, column) — the float sums run over that sorted order.

use std::collections::HashMap;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::label_entropy::{class_codes, dense, sum_clogc, COUNT_BLOCK};
use super::Options;
use crate::error::Error;
use crate::kernels::counts::{
    pair_bincount, pair_hashcount, sum_min, xlog_ratio_sums, LogRatioSums, SumMin,
};
use crate::kernels::xlogx::{xlogx_sums, XLogXSums};
use crate::parallel::{reduce_lanes, run, tree_combine};
use crate::simd::log::ln_lane;

/// sklearn's `average_method` of normalized_mutual_info_score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Average {
    /// min(H(X), H(Y)).
    Min,
    /// √(H(X)·H(Y)).
    Geometric,
    /// (H(X) + H(Y))/2 (sklearn's default).
    Arithmetic,
    /// max(H(X), H(Y)).
    Max,
}

impl Average {
    /// Parses sklearn's names: "min", "geometric", "arithmetic", "max".
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "min" => Ok(Average::Min),
            "geometric" => Ok(Average::Geometric),
            "arithmetic" => Ok(Average::Arithmetic),
            "max" => Ok(Average::Max),
            _ => Err(Error::InvalidOption {
                arg: "average_method",
                value: name.to_string(),
                expected: "'min', 'geometric', 'arithmetic' or 'max'",
            }),
        }
    }

    fn of(self, u: f64, v: f64) -> f64 {
        match self {
            Average::Min => u.min(v),
            Average::Geometric => (u * v).sqrt(),
            Average::Arithmetic => (u + v) / 2.0,
            Average::Max => u.max(v),
        }
    }
}

/// Which quantity to compute (only the passes it needs run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// H(X,Y).
    Joint,
    /// H(X|Y).
    Conditional,
    /// I(X;Y).
    Mutual,
    /// I(X;Y) / avg(H(X), H(Y)) (unitless: `base` does not apply).
    Normalized(Average),
}

impl Measure {
    /// Parses "joint_entropy", "conditional_entropy", "mutual_information" and
    /// "normalized_mutual_information" (with `average`).
    pub fn parse(name: &str, average: &str) -> Result<Self, Error> {
        match name {
            "joint_entropy" => Ok(Measure::Joint),
            "conditional_entropy" => Ok(Measure::Conditional),
            "mutual_information" => Ok(Measure::Mutual),
            "normalized_mutual_information" => Ok(Measure::Normalized(Average::parse(average)?)),
            _ => Err(Error::InvalidOption {
                arg: "measure",
                value: name.to_string(),
                expected: "'joint_entropy', 'conditional_entropy', 'mutual_information' or 'normalized_mutual_information'",
            }),
        }
    }

    /// The value for no samples at all: 0.0 (an empty sum), NMI 1.0 (sklearn).
    fn empty(self) -> f64 {
        if let Measure::Normalized(_) = self {
            1.0
        } else {
            0.0
        }
    }
}

/// `v`, or +0.0 where rounding made a non-negative quantity ≤ 0 (NaN passes).
fn clamp0(v: f64) -> f64 {
    if v <= 0.0 {
        0.0
    } else {
        v
    }
}

/// The cells of a joint count, row by row: each row's counts with the column sums b_j
/// of the same cells.
trait CellRows: Sync {
    fn rows(&self) -> usize;
    fn with_row<R>(&self, i: usize, f: impl FnOnce(&[f64], &[f64]) -> R) -> R;
}

/// A dense table and its column sums.
struct TableRows<'a> {
    table: ArrayView2<'a, f64>,
    b: Vec<f64>,
}

impl CellRows for TableRows<'_> {
    fn rows(&self) -> usize {
        self.table.nrows()
    }
    fn with_row<R>(&self, i: usize, f: impl FnOnce(&[f64], &[f64]) -> R) -> R {
        let row = self.table.row(i);
        match row.as_slice() {
            Some(s) => f(s, &self.b),
            None => f(&row.to_vec(), &self.b),
        }
    }
}

/// Non-zero cells sorted by (row, column): counts, the column sum of each cell, and
/// where each row starts (`starts[i]..starts[i + 1]`).
struct SparseRows {
    counts: Vec<f64>,
    col_sums: Vec<f64>,
    starts: Vec<usize>,
}

impl CellRows for SparseRows {
    fn rows(&self) -> usize {
        self.starts.len() - 1
    }
    fn with_row<R>(&self, i: usize, f: impl FnOnce(&[f64], &[f64]) -> R) -> R {
        let r = self.starts[i]..self.starts[i + 1];
        f(&self.counts[r.clone()], &self.col_sums[r])
    }
}

/// Σ over all cells of N·ln(N·c_i/b_j), row partials combined by the fixed tree.
fn cell_sum(cells: &impl CellRows, c: impl Fn(usize) -> f64 + Sync, fork: bool) -> f64 {
    let part = |i: usize| cells.with_row(i, |x, d| xlog_ratio_sums(x, d, c(i)));
    let parts: Vec<LogRatioSums> = if fork {
        (0..cells.rows()).into_par_iter().map(part).collect()
    } else {
        (0..cells.rows()).map(part).collect()
    };
    tree_combine(&parts).sum_terms
}

/// The number of classes of a marginal: its non-zero sums (a NaN sum counts, so NaN
/// input reaches the NaN result).
fn classes(marginal: &[f64]) -> usize {
    marginal.iter().filter(|&&s| s != 0.0).count()
}

/// Everything a measure is computed from, in nats.
struct Joint<'c, C: CellRows> {
    cells: &'c C,
    n: f64,
    a: Vec<f64>,
    b: Vec<f64>,
    /// Σ N ln N over the cells, when the measure needs it.
    sum_nlogn: Option<f64>,
}

impl<C: CellRows> Joint<'_, C> {
    fn entropy_of(&self, sum_xlogx: f64) -> f64 {
        clamp0((self.n * ln_lane(self.n) - sum_xlogx) / self.n)
    }

    fn mutual_information(&self, fork: bool) -> f64 {
        let n = self.n;
        // One class on either side: I = 0 exactly (sklearn too); the ratios
        // N·(n/a)/b would round to 1 ± ULP, leaving a residue that NMI divides by 0.
        if n > 0.0 && n.is_finite() && (classes(&self.a) <= 1 || classes(&self.b) <= 1) {
            return 0.0;
        }
        clamp0(cell_sum(self.cells, |i| n / self.a[i], fork) / n)
    }

    fn compute(&self, measure: Measure, ln_base: f64, fork: bool) -> f64 {
        match measure {
            Measure::Joint => self.entropy_of(self.sum_nlogn.unwrap_or(f64::NAN)) / ln_base,
            Measure::Conditional => clamp0(-cell_sum(self.cells, |_| 1.0, fork) / self.n) / ln_base,
            Measure::Mutual => self.mutual_information(fork) / ln_base,
            Measure::Normalized(avg) => {
                let (kx, ky) = (classes(&self.a), classes(&self.b));
                if self.n.is_nan() {
                    return f64::NAN; // NaN counts: NaN, before any special case
                }
                if kx == 1 && ky == 1 {
                    return 1.0;
                }
                let mi = self.mutual_information(fork);
                if mi == 0.0 {
                    return 0.0;
                }
                let (hx, hy) = (
                    self.entropy_of(sum_clogc(&self.a)),
                    self.entropy_of(sum_clogc(&self.b)),
                );
                mi / avg.of(hx, hy)
            }
        }
    }
}

/// The measure of a contingency table (rows: X, columns: Y), in the unit of `base`
/// (ignored by [`Measure::Normalized`]).
pub fn from_table(
    table: ArrayView2<'_, f64>,
    measure: Measure,
    base: Option<f64>,
) -> Result<f64, Error> {
    let ln_base = Options {
        normalize: true,
        base,
    }
    .ln_base()?;
    if table.is_empty() {
        return Ok(measure.empty());
    }
    let rows = table.view().into_dyn();
    // Row sums (and Σ N ln N for the joint entropy), column sums: lane reductions.
    let (row_sums, sum_nlogn, row_min) = if measure == Measure::Joint {
        let parts = reduce_lanes(rows, xlogx_sums)?;
        let parts: Vec<XLogXSums> = parts.iter().copied().collect();
        let all = tree_combine(&parts);
        (
            parts.iter().map(|p| p.sum).collect::<Vec<_>>(),
            Some(all.sum_xlogx),
            all.min,
        )
    } else {
        let parts: Vec<SumMin> = reduce_lanes(rows, sum_min)?.iter().copied().collect();
        (
            parts.iter().map(|p| p.sum).collect(),
            None,
            tree_combine(&parts).min,
        )
    };
    if row_min < 0.0 {
        return Err(Error::Negative {
            arg: "contingency",
            value: row_min,
        });
    }
    let n = tree_combine(
        &row_sums
            .iter()
            .map(|&s| SumMin { sum: s, min: 0.0 })
            .collect::<Vec<_>>(),
    )
    .sum;
    let col_sums: Vec<f64> = reduce_lanes(table.t().into_dyn(), sum_min)?
        .iter()
        .map(|p| p.sum)
        .collect();
    let cells = TableRows {
        table,
        b: col_sums.clone(),
    };
    let joint = Joint {
        cells: &cells,
        n,
        a: row_sums,
        b: col_sums,
        sum_nlogn,
    };
    run(table.len(), |ctx| {
        let fork = ctx.fork;
        joint.compute(measure, ln_base, fork)
    })
}

/// Joint counts of two label arrays: a dense table when small, else sparse rows.
enum Counted {
    Dense(Array2<f64>),
    Sparse {
        cells: SparseRows,
        a: Vec<f64>,
        b: Vec<f64>,
    },
}

fn count_pairs(x: &[i64], y: &[i64], fork: bool) -> Result<Counted, Error> {
    let (cx, kx) = class_codes(x, fork)?;
    let (cy, ky) = class_codes(y, fork)?;
    let cells = (kx as u128 * ky as u128).min(u64::MAX as u128) as u64;
    let n = x.len();
    if dense(cells, n) {
        let cells = cells as usize;
        let count = |a: &[u32], b: &[u32]| {
            let mut c = vec![0u64; cells];
            pair_bincount(a, b, ky, &mut c);
            c
        };
        let counts = if fork && n > COUNT_BLOCK {
            cx.par_chunks(COUNT_BLOCK)
                .zip(cy.par_chunks(COUNT_BLOCK))
                .fold(
                    || vec![0u64; cells],
                    |mut acc, (a, b)| {
                        pair_bincount(a, b, ky, &mut acc);
                        acc
                    },
                )
                .reduce_with(|mut s, t| {
                    s.iter_mut().zip(&t).for_each(|(u, v)| *u += v);
                    s
                })
                .unwrap_or_else(|| vec![0u64; cells])
        } else {
            count(&cx, &cy)
        };
        let table =
            Array2::from_shape_vec((kx, ky), counts.into_iter().map(|v| v as f64).collect())
                .expect("kx·ky counts");
        return Ok(Counted::Dense(table));
    }
    let merge = |mut s: HashMap<u64, u64>, t: HashMap<u64, u64>| {
        let (mut big, small) = if s.len() >= t.len() {
            (std::mem::take(&mut s), t)
        } else {
            (t, s)
        };
        for (k, v) in small {
            *big.entry(k).or_insert(0) += v;
        }
        big
    };
    let ky64 = ky as u64;
    let map = if fork && n > COUNT_BLOCK {
        cx.par_chunks(COUNT_BLOCK)
            .zip(cy.par_chunks(COUNT_BLOCK))
            .fold(HashMap::new, |mut m, (a, b)| {
                pair_hashcount(a, b, ky64, &mut m);
                m
            })
            .reduce_with(merge)
            .unwrap_or_default()
    } else {
        let mut m = HashMap::new();
        pair_hashcount(&cx, &cy, ky64, &mut m);
        m
    };
    // Integer counts do not depend on the merge order; sorting fixes the float order.
    let mut sorted: Vec<(u64, u64)> = map.into_iter().collect();
    if fork {
        sorted.par_sort_unstable_by_key(|c| c.0);
    } else {
        sorted.sort_unstable_by_key(|c| c.0);
    }
    let (mut a, mut b) = (vec![0u64; kx], vec![0u64; ky]);
    let mut starts = vec![0usize; kx + 1];
    for &(key, count) in &sorted {
        let (i, j) = ((key / ky64) as usize, (key % ky64) as usize);
        a[i] += count;
        b[j] += count;
        starts[i + 1] += 1;
    }
    for i in 0..kx {
        starts[i + 1] += starts[i];
    }
    let counts = sorted.iter().map(|&(_, c)| c as f64).collect();
    let col_sums = sorted
        .iter()
        .map(|&(key, _)| b[(key % ky64) as usize] as f64)
        .collect();
    let to_f64 = |v: Vec<u64>| v.into_iter().map(|c| c as f64).collect::<Vec<f64>>();
    Ok(Counted::Sparse {
        cells: SparseRows {
            counts,
            col_sums,
            starts,
        },
        a: to_f64(a),
        b: to_f64(b),
    })
}

/// The measure of two equally long label arrays (X = `x`, Y = `y`), in the unit of
/// `base` (ignored by [`Measure::Normalized`]).
pub fn from_labels(
    x: &[i64],
    y: &[i64],
    measure: Measure,
    base: Option<f64>,
) -> Result<f64, Error> {
    let ln_base = Options {
        normalize: true,
        base,
    }
    .ln_base()?;
    if x.len() != y.len() {
        return Err(Error::ShapeMismatch {
            first: "x",
            second: "y",
            first_shape: vec![x.len()],
            second_shape: vec![y.len()],
        });
    }
    if x.is_empty() {
        return Ok(measure.empty());
    }
    match run(x.len(), |ctx| count_pairs(x, y, ctx.fork))?? {
        Counted::Dense(table) => from_table(table.view(), measure, base),
        Counted::Sparse { cells, a, b } => {
            let n = x.len() as f64;
            let sum_nlogn = (measure == Measure::Joint).then(|| sum_clogc(&cells.counts));
            let joint = Joint {
                cells: &cells,
                n,
                a,
                b,
                sum_nlogn,
            };
            Ok(run(x.len(), |ctx| {
                joint.compute(measure, ln_base, ctx.fork)
            })?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::set_num_threads;
    use ndarray::{arr2, Axis};

    const LN2: f64 = std::f64::consts::LN_2;

    /// Row and column sums, plainly.
    fn margins(table: ArrayView2<'_, f64>) -> (Vec<f64>, Vec<f64>) {
        (
            table.map_axis(Axis(1), |row| row.sum()).to_vec(),
            table.map_axis(Axis(0), |col| col.sum()).to_vec(),
        )
    }

    /// Textbook formulas with f64::ln, from a dense table.
    fn naive(table: ArrayView2<'_, f64>) -> (f64, f64, f64, f64, f64) {
        let (a, b) = margins(table);
        let n: f64 = a.iter().sum();
        let h = |v: &mut dyn Iterator<Item = f64>| {
            -v.filter(|&x| x > 0.0)
                .map(|x| x / n * (x / n).ln())
                .sum::<f64>()
        };
        let (hx, hy, hxy) = (
            h(&mut a.iter().copied()),
            h(&mut b.iter().copied()),
            h(&mut table.iter().copied()),
        );
        (hxy, hxy - hy, hx + hy - hxy, hx, hy)
    }

    fn all(table: ArrayView2<'_, f64>) -> [f64; 4] {
        [
            Measure::Joint,
            Measure::Conditional,
            Measure::Mutual,
            Measure::Normalized(Average::Arithmetic),
        ]
        .map(|m| from_table(table, m, None).unwrap())
    }

    #[test]
    fn known_tables() {
        // independent: I = 0 exactly, H(X|Y) = H(X) = ln 2
        let t = arr2(&[[1.0, 1.0], [1.0, 1.0]]);
        assert_eq!(all(t.view()), [2.0 * LN2, LN2, 0.0, 0.0]);
        // X = Y: I = H = ln 2, H(X|Y) = 0 exactly, NMI = 1
        let t = arr2(&[[3.0, 0.0], [0.0, 3.0]]);
        let got = all(t.view());
        assert_eq!(got[1..3], [0.0, LN2]);
        // (n ln n − Σ N ln N)/n rounds: within a few ULP of ln 2 and of 1
        assert!(
            (got[0] - LN2).abs() < 1e-15 && (got[3] - 1.0).abs() < 1e-15,
            "{got:?}"
        );
        // one class each: NMI 1 (sklearn), the rest 0
        assert_eq!(all(arr2(&[[5.0]]).view()), [0.0, 0.0, 0.0, 1.0]);
        // one class of X, two of Y: I = 0 → NMI 0
        assert_eq!(all(arr2(&[[2.0, 2.0]]).view())[2..], [0.0, 0.0]);
        let bits = from_table(
            arr2(&[[1.0, 1.0], [1.0, 1.0]]).view(),
            Measure::Joint,
            Some(2.0),
        )
        .unwrap();
        assert_eq!(bits, 2.0);
    }

    #[test]
    fn matches_the_textbook_formulas() {
        let x = crate::kernels::adversarial::positive(7 * 13, 3);
        let t = Array2::from_shape_vec((7, 13), x).unwrap();
        let (hxy, hxgy, mi, hx, hy) = naive(t.view());
        let got = all(t.view());
        for (g, w) in got.iter().zip([hxy, hxgy, mi, mi / ((hx + hy) / 2.0)]) {
            assert!((g - w).abs() < 1e-13, "{got:?}");
        }
        for (avg, w) in [
            (Average::Min, hx.min(hy)),
            (Average::Max, hx.max(hy)),
            (Average::Geometric, (hx * hy).sqrt()),
        ] {
            let g = from_table(t.view(), Measure::Normalized(avg), None).unwrap();
            assert!((g - mi / w).abs() < 1e-13);
        }
        // a Fortran-ordered (transposed) view is the transposed table: I is symmetric
        let tt = t.t();
        let g = from_table(tt, Measure::Mutual, None).unwrap();
        assert!((g - mi).abs() < 1e-13);
    }

    #[test]
    fn edge_cases_and_errors() {
        let empty = Array2::<f64>::zeros((0, 3));
        assert_eq!(all(empty.view()), [0.0, 0.0, 0.0, 1.0]);
        let zero = Array2::<f64>::zeros((2, 3));
        assert!(all(zero.view())[..3].iter().all(|v| v.is_nan()));
        let nan = arr2(&[[1.0, f64::NAN], [1.0, 1.0]]);
        assert!(all(nan.view()).iter().all(|v| v.is_nan()));
        // found by tests/test_fuzz.py: a single NaN cell is one class per side, still NaN
        assert!(all(arr2(&[[f64::NAN]]).view()).iter().all(|v| v.is_nan()));
        let neg = arr2(&[[1.0, -2.0]]);
        assert_eq!(
            from_table(neg.view(), Measure::Mutual, None),
            Err(Error::Negative {
                arg: "contingency",
                value: -2.0
            })
        );
        assert!(matches!(
            from_labels(&[1], &[1, 2], Measure::Mutual, None),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(Average::parse("mean").is_err());
        assert!(Measure::parse("entropy", "min").is_err());
    }

    #[test]
    fn labels_dense_and_sparse_agree_with_the_table() {
        let mut s = 99u64;
        let mut next = |m: u64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % m) as i64
        };
        let x: Vec<i64> = (0..300_001).map(|_| next(40)).collect();
        let y: Vec<i64> = x.iter().map(|&v| (v * 7 + next(5)) % 60).collect();
        let mut table = Array2::<f64>::zeros((40, 60));
        for (&a, &b) in x.iter().zip(&y) {
            table[[a as usize, b as usize]] += 1.0;
        }
        // spread labels: counted by the sparse path (hash map + sort)
        let xs: Vec<i64> = x.iter().map(|&v| v * (1 << 45) + 3).collect();
        let ys: Vec<i64> = y.iter().map(|&v| -v * (1 << 44)).collect();
        let ms = [
            Measure::Joint,
            Measure::Conditional,
            Measure::Mutual,
            Measure::Normalized(Average::Geometric),
        ];
        let mut seen = Vec::new();
        for threads in [1, 2, 3] {
            set_num_threads(threads).unwrap();
            for m in ms {
                let t = from_table(table.view(), m, None).unwrap();
                let d = from_labels(&x, &y, m, None).unwrap();
                let sp = from_labels(&xs, &ys, m, None).unwrap();
                assert_eq!(t.to_bits(), d.to_bits(), "{m:?}");
                // the sparse path sums the same cells in another lane order: equal to rounding
                assert!(
                    (sp - t).abs() <= 1e-14 * t.abs().max(1.0),
                    "{m:?}: {sp} vs {t}"
                );
                seen.push((t.to_bits(), d.to_bits(), sp.to_bits()));
            }
        }
        assert!(seen.chunks(4).all(|c| c == &seen[..4]));
    }
}
