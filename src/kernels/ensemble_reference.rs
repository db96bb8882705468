//! The scalar reference of [`super::ensemble`]: the same algorithm for one prediction in
//! plain f64 with libm's `ln`, `ln_1p`, `exp` and exact `mul_add` products, always with the
//! double-double differences (no fast path). It is what the vector kernel is tested
//! against, and what the kernel falls back to for the rows its vector path leaves out
//! (zero, NaN or infinite member totals, subnormal or huge counts).

use super::ensemble::{RowUncertainty, PHI_COEF, SERIES_MAX};
use super::Real;

/// Scalar double-double helpers of the reference (exact products by `f64::mul_add`).
mod scalar_dd {
    pub use crate::kernels::two_pass::two_sum;
    pub fn fast_two_sum(a: f64, b: f64) -> (f64, f64) {
        let s = a + b;
        (s, b - (s - a))
    }
    pub fn add(x: (f64, f64), y: (f64, f64)) -> (f64, f64) {
        let (s, e) = two_sum(x.0, y.0);
        fast_two_sum(s, e + (x.1 + y.1))
    }
    pub fn sub(x: (f64, f64), y: (f64, f64)) -> (f64, f64) {
        add(x, (-y.0, -y.1))
    }
    pub fn div_by(a: f64, z: (f64, f64)) -> (f64, f64) {
        let q = a / z.0;
        let r = (-q).mul_add(z.0, a) - q * z.1;
        fast_two_sum(q, r / z.0)
    }
    pub fn div_f64(x: (f64, f64), d: f64) -> (f64, f64) {
        let q = x.0 / d;
        let r = (-q).mul_add(d, x.0) + x.1;
        fast_two_sum(q, r / d)
    }
}

/// φ(f) = (1+f)·ln(1+f) − f, scalar (series up to |f| = 0.1, as the vector code).
pub(crate) fn phi_scalar(f: f64) -> f64 {
    if f.abs() <= SERIES_MAX {
        f * f * PHI_COEF.iter().rev().fold(0.0, |acc, &k| acc * f + k)
    } else {
        let t = (1.0 + f).max(0.0);
        let (lt, fp) = (if t == 0.0 { 0.0 } else { t.ln() }, t - 1.0);
        t * lt - fp + lt * (f - fp)
    }
}

/// Σ p·ln(1/p) of masses `p` (summing to ~1) with the mass above 1/2 via log1p.
fn entropy_scalar(p: impl Iterator<Item = f64>) -> f64 {
    let (mut ent, mut others, mut dominant) = (0.0, 0.0, 0.0);
    for v in p {
        if v > 0.5 {
            dominant = v;
        } else {
            others += v;
            if v > 0.0 {
                ent -= v * v.ln();
            } else if v.is_nan() {
                ent = f64::NAN;
            }
        }
    }
    if dominant > 0.0 {
        ent -= dominant * (-others).ln_1p();
    }
    ent
}

/// 2^e as two factors whose product is exact (e in [−2148, 2046]).
fn pow2_factors(e: i32) -> (f64, f64) {
    let (a, b) = (e / 2, e - e / 2);
    (2f64.powi(a), 2f64.powi(b))
}

/// Scalar reference for one prediction: `rows[s]` is member s (probabilities/counts, or
/// logits with `from_logits`), of length ≥ `classes`. The same algorithm as the vector
/// code in plain f64 with libm's `ln`, `ln_1p`, `exp` and exact `mul_add` products; each
/// member is first scaled by a power of two (exact) that brings its largest value near 1,
/// so it also serves the rows the vector path leaves out (see the module docs).
pub fn reference<T: Real>(rows: &[&[T]], classes: usize, from_logits: bool) -> RowUncertainty {
    let members = rows.len();
    let nan = RowUncertainty {
        total: f64::NAN,
        aleatoric: f64::NAN,
        epistemic: f64::NAN,
        min: 0.0,
    };
    let mut min = 0.0f64;
    let mut x: Vec<Vec<f64>> = Vec::with_capacity(members);
    let mut any_nan = false;
    for r in rows {
        let raw: Vec<f64> = r[..classes].iter().map(|v| v.to_f64()).collect();
        let largest = raw
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        any_nan |= raw.iter().any(|v| v.is_nan());
        let row: Vec<f64> = if from_logits {
            raw.iter().map(|&z| (z - largest).exp()).collect()
        } else {
            min = raw.iter().fold(min, |m, &v| if v < m { v } else { m });
            if largest > 0.0 && largest.is_finite() {
                let (f1, f2) = pow2_factors(-(largest.log2().floor() as i32));
                raw.iter().map(|&v| v * f1 * f2).collect()
            } else {
                raw
            }
        };
        x.push(row);
    }
    if members == 0 || classes == 0 {
        return RowUncertainty {
            total: if members == 0 { f64::NAN } else { 0.0 },
            aleatoric: if members == 0 { f64::NAN } else { 0.0 },
            epistemic: if members == 0 { f64::NAN } else { 0.0 },
            min,
        };
    }
    let mut z = Vec::with_capacity(members);
    for row in &x {
        let (mut s, mut comp) = (0.0, 0.0);
        for &v in row {
            let (t, e) = scalar_dd::two_sum(s, v);
            s = t;
            comp += e;
        }
        let zs = scalar_dd::fast_two_sum(s, comp);
        if any_nan || !(zs.0 > 0.0 && zs.0.is_finite()) {
            return RowUncertainty { min, ..nan };
        }
        z.push(zs);
    }
    let p: Vec<Vec<(f64, f64)>> = x
        .iter()
        .zip(&z)
        .map(|(row, &zs)| row.iter().map(|&v| scalar_dd::div_by(v, zs)).collect())
        .collect();
    let aleatoric = p
        .iter()
        .map(|row| entropy_scalar(row.iter().map(|v| v.0)))
        .sum::<f64>()
        / members as f64;
    let mut pbar = Vec::with_capacity(classes);
    let mut epistemic = 0.0;
    for c in 0..classes {
        let deltas: Vec<(f64, f64)> = p
            .iter()
            .map(|row| scalar_dd::sub(row[c], p[0][c]))
            .collect();
        let dsum = deltas
            .iter()
            .fold((0.0, 0.0), |acc, &d| scalar_dd::add(acc, d));
        let mean_delta = scalar_dd::div_f64(dsum, members as f64);
        let pb = scalar_dd::add(p[0][c], mean_delta).0;
        pbar.push(pb);
        if pb > 0.0 {
            let phis: f64 = deltas
                .iter()
                .map(|&d| phi_scalar(scalar_dd::sub(d, mean_delta).0 / pb))
                .sum();
            epistemic += pb * phis;
        }
    }
    RowUncertainty {
        total: entropy_scalar(pbar.into_iter()),
        aleatoric,
        epistemic: (epistemic / members as f64).max(0.0),
        min,
    }
}
