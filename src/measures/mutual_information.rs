//! Measures of two discrete variables X, Y from their joint counts: joint entropy
//! H(X,Y), conditional entropy H(X|Y), mutual information I(X;Y) and normalised mutual
//! information (sklearn's `average_method`s). The counts come either from a contingency
//! table N (rows: values of X, columns: values of Y; non-negative, not necessarily
//! integers) or from two equally long integer label arrays (sklearn's
//! `mutual_info_score(labels_true, labels_pred)`: X = the first array).
//!
//! With n = Σ N, row sums a_i and column sums b_j:
//! - H(X,Y): the exact entropy of the cells ([`super::entropy`]: any dominant cell, any
//!   total; a single cell gives exactly 0); from labels with a sparse table of pairs,
//!   (n ln n − Σ N ln N)/n over the integer counts;
//! - H(X|Y) = Σ_j (b_j/n)·H(X | Y = j), the exact entropies of the columns weighed by
//!   their shares (not H(X,Y) − H(Y), which cancels), so a function X = f(Y) gives
//!   exactly 0; from labels, −Σ (N_ij/n) ln(N_ij/b_j) over the counted pairs;
//! - I(X;Y) = Σ (N_ij/n) ln(N_ij·(n/a_i)/b_j), the direct form sklearn also uses, rather
//!   than H(X) + H(Y) − H(X,Y), which cancels catastrophically for nearly independent
//!   variables; an exactly independent table gives exactly 0 where the ratios round to 1;
//! - NMI = I / avg(H(X), H(Y)), with sklearn's special cases: 1.0 when both variables have
//!   a single class, 0.0 when I = 0 (and 1.0 for no samples: empty labels or table).
//!
//! Negative rounding results of these non-negative quantities are clamped to 0; NaN
//! propagates. A table summing to 0 gives NaN, an empty one 0.0 (NMI 1.0). A table whose
//! total overflows or lies outside [2^-600, 2^600] (finite cells such as 1e308 or 1e-310)
//! is first scaled by an exact power of two (a scaled copy of the table: every measure
//! here depends only on the proportions N/n), so extreme totals give finite results.
//!
//! Parallel and deterministic: the table's row and column sums are lane reductions of
//! [`crate::parallel`]; the Σ over cells is a per-row kernel call whose results are
//! combined by the fixed tree [`tree_combine`] in row order. Label pairs are counted by
//! [`super::label_pairs`] (exact integer counts, then fixed-order sums).

use ndarray::{Array2, ArrayView1, ArrayView2, Zip};
use rayon::prelude::*;

use super::entropy::{entropy, entropy_whole};
use super::label_counting::Work;
use super::label_keys::KeySource;
use super::label_pairs::{count_pairs, CellSum, Counted};
use super::{Options, RowStop};
use crate::error::Error;
use crate::kernels::counts::{
    mi_cell_sums, sum_min, unit_scale, xlog_ratio_sums, MiCellSums, SumMin,
};
use crate::kernels::Partial;
use crate::parallel::{reduce_blocks, run, tree_combine, with_slice, Ctx};
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

/// A dense table and its column sums.
struct TableRows<'a> {
    table: ArrayView2<'a, f64>,
    b: Vec<f64>,
}

impl TableRows<'_> {
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

/// `kernel(i, row i, column sums)` over every row, the partials combined by the fixed
/// tree; rows stop being summed (the result is then discarded) once `ctx` is stopped.
fn cell_sum<P: Partial + Send>(
    cells: &TableRows<'_>,
    kernel: impl Fn(usize, &[f64], &[f64]) -> P + Sync,
    ctx: Ctx<'_>,
) -> P {
    let part = |i: usize| {
        if ctx.stopped() {
            return P::EMPTY;
        }
        cells.with_row(i, |x, d| kernel(i, x, d))
    };
    let parts: Vec<P> = if ctx.fork {
        (0..cells.rows()).into_par_iter().map(part).collect()
    } else {
        (0..cells.rows()).map(part).collect()
    };
    tree_combine(&parts)
}

/// The number of classes of a marginal: its non-zero sums (a NaN sum counts, so NaN
/// input reaches the NaN result).
fn classes(marginal: &[f64]) -> usize {
    marginal.iter().filter(|&&s| s != 0.0).count()
}

/// Everything a measure is computed from, in nats.
struct Joint<'c> {
    cells: &'c TableRows<'c>,
    n: f64,
    a: Vec<f64>,
    b: Vec<f64>,
}

/// (n ln n − Σ x ln x)/n, clamped at 0.
fn entropy_of(n: f64, sum_xlogx: f64) -> f64 {
    clamp0((n * ln_lane(n) - sum_xlogx) / n)
}

impl Joint<'_> {
    fn mutual_information(&self, ctx: Ctx<'_>) -> f64 {
        let n = self.n;
        // One class on either side: I = 0 exactly (sklearn too); the ratios
        // N·(n/a)/b would round to 1 ± ULP, leaving a residue that NMI divides by 0.
        if n > 0.0 && n.is_finite() && (classes(&self.a) <= 1 || classes(&self.b) <= 1) {
            return 0.0;
        }
        if n.is_finite() && n > 0.0 {
            // Σ q·φ(N/q): non-negative terms, full relative precision near independence;
            // n is brought to [1, 2) by an exact power of two so that N·n and a·b are
            // finite (the table's total is within 2^±600 here, see `rescaled`)
            let scale = unit_scale(n);
            let phi = cell_sum(
                self.cells,
                |i, x, b| {
                    let a = self.a[i];
                    if a > 0.0 && a * scale < f64::MIN_POSITIVE {
                        // a·scale would round: not an exact product any more
                        return MiCellSums {
                            sum: 0.0,
                            inexact: true,
                        };
                    }
                    mi_cell_sums(x, b, a, n, scale)
                },
                ctx,
            );
            if !phi.inexact {
                return clamp0(phi.sum / n);
            }
        }
        // the direct form Σ N ln(N·(n/a)/b): cells too small for exact products, NaN
        let direct = cell_sum(
            self.cells,
            |i, x, b| xlog_ratio_sums(x, b, n / self.a[i]),
            ctx,
        );
        clamp0(direct.sum_terms / n)
    }

    fn compute(&self, measure: Measure, ln_base: f64, exact: &Exact, ctx: Ctx<'_>) -> f64 {
        match measure {
            Measure::Joint => exact.joint / ln_base,
            Measure::Conditional => exact.conditional / ln_base,
            Measure::Mutual => self.mutual_information(ctx) / ln_base,
            Measure::Normalized(avg) => {
                let (kx, ky) = (classes(&self.a), classes(&self.b));
                if self.n.is_nan() {
                    return f64::NAN; // NaN counts: NaN, before any special case
                }
                if kx == 1 && ky == 1 {
                    return 1.0;
                }
                let mi = self.mutual_information(ctx);
                if mi == 0.0 {
                    return 0.0;
                }
                mi / avg.of(exact.x, exact.y)
            }
        }
    }
}

/// The entropies of a table that the exact entropy kernels give ([`super::entropy`]): no
/// cancellation with a dominant cell, any total.
struct Exact {
    /// H(X, Y): the entropy of all cells.
    joint: f64,
    /// H(X | Y) = Σ_j (b_j/n)·H(column j): non-negative parts, exactly 0 for X = f(Y).
    conditional: f64,
    /// H(X), H(Y): the entropies of the marginals.
    x: f64,
    y: f64,
}

impl Exact {
    fn of(
        table: ArrayView2<'_, f64>,
        measure: Measure,
        a: &[f64],
        b: &[f64],
    ) -> Result<Exact, Error> {
        let nats = Options::default();
        let vector = |v: &[f64]| entropy_whole(ndarray::aview1(v).into_dyn(), &nats);
        let mut out = Exact {
            joint: f64::NAN,
            conditional: f64::NAN,
            x: f64::NAN,
            y: f64::NAN,
        };
        match measure {
            Measure::Joint => out.joint = entropy_whole(table.into_dyn(), &nats)?,
            Measure::Conditional => {
                let columns = entropy(table.t().into_dyn(), &nats)?;
                let n: f64 = b.iter().sum();
                // a zero column weighs 0 (its entropy is NaN: 0/0); a zero table is NaN
                let weighted: f64 = b
                    .iter()
                    .zip(columns.iter())
                    .map(|(&w, &h)| if w == 0.0 { 0.0 } else { (w / n) * h })
                    .sum();
                out.conditional = if n == 0.0 { f64::NAN } else { weighted };
            }
            Measure::Mutual => {}
            Measure::Normalized(_) => {
                out.x = vector(a)?;
                out.y = vector(b)?;
            }
        }
        Ok(out)
    }
}

/// The partials of every row of `t`: [`crate::parallel::reduce_lanes`]'s blocks and
/// combine tree (so the same values), plus Ctrl-C checks between rows ([`RowStop`]) — a
/// table of many short rows (a broadcast one) is interruptible too.
fn reduce_rows<P: Partial>(
    t: ArrayView2<'_, f64>,
    kernel: impl Fn(&[f64]) -> P + Sync,
) -> Result<Vec<P>, Error> {
    let len = t.ncols();
    let out = run(t.len(), |ctx| {
        let stop = RowStop::new(ctx, len);
        let one = |lane: ArrayView1<'_, f64>| {
            if stop.skip() {
                return P::EMPTY;
            }
            reduce_blocks(len, ctx, |r| with_slice(&lane, r, &kernel))
        };
        crate::zip_map_collect!(ctx.fork, Zip::from(t.rows()), one)
    })?;
    Ok(out.into_raw_vec_and_offset().0)
}

/// Totals outside [2^-600, 2^600] are rescaled first (see the module docs).
const SCALE_LIMIT: f64 = 4.149515568880993e180; // 2^600

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
    // Row sums and column sums: lane reductions.
    let parts: Vec<SumMin> = reduce_rows(table, sum_min)?;
    let row_sums: Vec<f64> = parts.iter().map(|p| p.sum).collect();
    let row_min = tree_combine(&parts).min;
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
    if !(n.is_nan() || n == 0.0 || (1.0 / SCALE_LIMIT..=SCALE_LIMIT).contains(&n)) {
        if let Some(scaled) = rescaled(table)? {
            return from_table(scaled.view(), measure, base);
        }
    }
    let col_sums: Vec<f64> = reduce_rows(table.t(), sum_min)?
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
    };
    let exact = Exact::of(table, measure, &joint.a, &joint.b)?;
    run(table.len(), |ctx| {
        joint.compute(measure, ln_base, &exact, ctx)
    })
}

/// `table` times the power of two that brings its largest cell to [1, 2), when every cell
/// is finite (an infinite count stays NaN, as before); None otherwise. The products are
/// exact except for cells below 2^-1022 of the largest, whose terms are negligible.
fn rescaled(table: ArrayView2<'_, f64>) -> Result<Option<Array2<f64>>, Error> {
    let max = run(table.len(), |ctx| {
        let mut max = 0.0f64;
        for row in table.rows() {
            if ctx.stopped() {
                break;
            }
            max = row
                .iter()
                .fold(max, |m, &v| if v > m || v.is_nan() { v } else { m });
        }
        max
    })?;
    if !max.is_finite() || max <= 0.0 {
        return Ok(None);
    }
    // 2^-e with e the exponent of max: one multiplication, exact (no rounding) per cell.
    let e = max.log2().floor() as i32;
    let scale = 2f64.powi(-e.clamp(-1022, 1023));
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        return Ok(None);
    };
    let mut scaled = Array2::zeros(table.raw_dim());
    scaled.zip_mut_with(&table, |s, &v| *s = v * scale);
    Ok(Some(scaled))
}

/// The measure of two equally long label arrays (X = `x`, Y = `y`), in the unit of
/// `base` (ignored by [`Measure::Normalized`]).
pub fn from_labels(
    x: &dyn KeySource,
    y: &dyn KeySource,
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
    let sum = match measure {
        Measure::Joint => CellSum::NLogN,
        Measure::Conditional => CellSum::Conditional,
        Measure::Mutual | Measure::Normalized(_) => CellSum::Mutual,
    };
    let cells = match run(x.len(), |ctx| count_pairs(x, y, sum, Work::whole(ctx)))?? {
        Counted::Table(table) => return from_table(table.view(), measure, base),
        Counted::Cells(cells) => cells,
    };
    let n = x.len() as f64;
    let (kx, ky) = (cells.x_clogc.classes, cells.y_clogc.classes);
    // The same special cases as the table path (`Joint::compute`); counts are finite.
    let mutual = || {
        if kx <= 1 || ky <= 1 {
            0.0
        } else {
            clamp0(cells.sum / n)
        }
    };
    Ok(match measure {
        Measure::Joint => entropy_of(n, cells.sum) / ln_base,
        Measure::Conditional => clamp0(-cells.sum / n) / ln_base,
        Measure::Mutual => mutual() / ln_base,
        Measure::Normalized(avg) => {
            if kx == 1 && ky == 1 {
                1.0
            } else {
                let mi = mutual();
                if mi == 0.0 {
                    0.0
                } else {
                    let samples = x.len() as u64;
                    mi / avg.of(
                        cells.x_clogc.entropy(samples),
                        cells.y_clogc.entropy(samples),
                    )
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measures::label_keys::{Decode, LaneKeys};
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
            labels(&[1], &[1, 2], Measure::Mutual),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(Average::parse("mean").is_err());
        assert!(Measure::parse("entropy", "min").is_err());
    }

    /// The measure of two i64 label slices.
    fn labels(x: &[i64], y: &[i64], m: Measure) -> Result<f64, Error> {
        let (xa, ya) = (ndarray::arr1(x), ndarray::arr1(y));
        from_labels(
            &LaneKeys::new(xa.view(), Decode::Native),
            &LaneKeys::new(ya.view(), Decode::Native),
            m,
            None,
        )
    }

    /// Pseudo-random labels 0..m.
    fn draws(n: usize, m: u64, seed: u64) -> Vec<i64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % m) as i64
            })
            .collect()
    }

    fn table_of(x: &[i64], y: &[i64]) -> Array2<f64> {
        let kx = *x.iter().max().unwrap() as usize + 1;
        let ky = *y.iter().max().unwrap() as usize + 1;
        let mut table = Array2::<f64>::zeros((kx, ky));
        for (&a, &b) in x.iter().zip(y) {
            table[[a as usize, b as usize]] += 1.0;
        }
        table
    }

    const MEASURES: [Measure; 4] = [
        Measure::Joint,
        Measure::Conditional,
        Measure::Mutual,
        Measure::Normalized(Average::Geometric),
    ];

    #[test]
    fn labels_dense_agree_with_the_table_bitwise() {
        let x = draws(300_001, 40, 99);
        let y: Vec<i64> = x
            .iter()
            .zip(draws(300_001, 5, 7))
            .map(|(&v, e)| (v * 7 + e) % 60)
            .collect();
        let table = table_of(&x, &y);
        // spread labels in the same order: coded by rank, the same 40 × 60 table
        let xs: Vec<i64> = x.iter().map(|&v| v * (1 << 45) + 3).collect();
        let ys: Vec<i64> = y.iter().map(|&v| v * (1 << 44) - (1 << 60)).collect();
        let mut seen = Vec::new();
        for threads in [1, 2, 3] {
            set_num_threads(threads).unwrap();
            for m in MEASURES {
                let t = from_table(table.view(), m, None).unwrap();
                let d = labels(&x, &y, m).unwrap();
                let sp = labels(&xs, &ys, m).unwrap();
                assert_eq!(t.to_bits(), d.to_bits(), "{m:?}");
                assert_eq!(t.to_bits(), sp.to_bits(), "{m:?}");
                seen.push(t.to_bits());
            }
        }
        assert!(seen.chunks(4).all(|c| c == &seen[..4]));
    }

    #[test]
    fn labels_sparse_agree_with_the_table_and_threads_do_not_matter() {
        // 900 × 700 classes over 300 001 samples: more cells than samples, the CSR path,
        // with X as the rows (more classes) and, swapped, Y as the rows.
        let x = draws(300_001, 900, 5);
        let y: Vec<i64> = x
            .iter()
            .zip(draws(300_001, 50, 11))
            .map(|(&v, e)| (v * 3 + e) % 700)
            .collect();
        let spread_y: Vec<i64> = y.iter().map(|&v| (v << 40) ^ (1 << 62)).collect();
        let mut seen = Vec::new();
        for threads in [1, 2, 3] {
            set_num_threads(threads).unwrap();
            let mut bits = Vec::new();
            for (a, b, table) in [
                (&x, &y, table_of(&x, &y)),
                (&y, &x, table_of(&y, &x)),
                (&x, &spread_y, table_of(&x, &y)),
            ] {
                for m in MEASURES {
                    let t = from_table(table.view(), m, None).unwrap();
                    let got = labels(a, b, m).unwrap();
                    assert!(
                        (got - t).abs() <= 1e-13 * t.abs().max(1e-300),
                        "{m:?}: {got} vs {t}"
                    );
                    bits.push(got.to_bits());
                }
            }
            seen.push(bits);
        }
        assert!(seen.iter().all(|b| b == &seen[0]));
    }

    #[test]
    fn all_distinct_labels() {
        let n = 200_000;
        let x: Vec<i64> = (0..n as i64).collect();
        let y: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % n as i64).collect();
        let ln_n = (n as f64).ln();
        assert!((labels(&x, &y, Measure::Mutual).unwrap() - ln_n).abs() < 1e-12);
        assert!((labels(&x, &y, Measure::Joint).unwrap() - ln_n).abs() < 1e-12);
        assert_eq!(labels(&x, &y, Measure::Conditional).unwrap(), 0.0);
        assert!(
            (labels(&x, &y, Measure::Normalized(Average::Arithmetic)).unwrap() - 1.0).abs() < 1e-14
        );
        // one side constant: I = 0, H(X|Y) = H(X)
        let c = vec![3i64; n];
        assert_eq!(labels(&x, &c, Measure::Mutual).unwrap(), 0.0);
        assert!((labels(&x, &c, Measure::Conditional).unwrap() - ln_n).abs() < 1e-12);
    }

    #[test]
    fn extreme_totals_are_rescaled() {
        let base = arr2(&[[1.0, 3.0], [2.0, 5.0]]);
        // cells finite, totals overflowing (2^1020·11), huge, tiny or subnormal
        for scale in [
            2f64.powi(1020),
            1e307,
            1e-310,
            2f64.powi(700),
            2f64.powi(-700),
        ] {
            let t = base.mapv(|v| v * scale);
            for m in MEASURES {
                let want = from_table(base.view(), m, None).unwrap();
                let got = from_table(t.view(), m, None).unwrap();
                assert!(
                    got.is_finite() && (got - want).abs() <= 1e-13 * want.abs(),
                    "{m:?} {scale}: {got} vs {want}"
                );
            }
        }
        // an infinite count stays NaN
        let inf = arr2(&[[1.0, f64::INFINITY], [1.0, 1.0]]);
        assert!(from_table(inf.view(), Measure::Mutual, None)
            .unwrap()
            .is_nan());
    }
}
