//! Rows of logits whose gaps overflow: finite logits of both signs beyond ±8.9e307, so
//! that `m − z` is +inf for some element. Its weight e^{z−m} is 0 there, and the vector
//! kernels' terms e^{z−m}·(m − z) (entropy's W, cross-entropy's C, KL's G) become
//! 0·∞ = NaN. A term whose weight underflows to 0 contributes nothing at any gap (as it
//! does for the kernels below the overflow), so these rows are recomputed here, by plain
//! scalar code that skips such terms: the measures call it for a row whose value came out
//! NaN although its logits are neither NaN nor without a finite maximum (rare rows:
//! simplicity beats speed).
//!
//! Two passes over a row, each in pieces ([`Partial`] sums, so a long row combines its
//! blocks in the engine's fixed order): the maxima ([`Maxima`]), then the sums ([`Sums`]).
//! KL's term takes e^{x−m_a}·((x − m_a) − (y − m_b)): each gap is ≤ 0 and the weight is
//! positive only where x − m_a ≥ −746, so it overflows only to the +∞ of a divergence
//! beyond the largest double.

use super::{Partial, Real};

/// The maxima of a piece of one or two rows, and whether it holds a NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Maxima {
    pub a: f64,
    pub b: f64,
    pub nan: bool,
}

impl Partial for Maxima {
    const EMPTY: Self = Maxima {
        a: f64::NEG_INFINITY,
        b: f64::NEG_INFINITY,
        nan: false,
    };

    fn combine(self, other: Self) -> Self {
        Maxima {
            a: self.a.max(other.a),
            b: self.b.max(other.b),
            nan: self.nan || other.nan,
        }
    }
}

impl Maxima {
    /// Of the pieces `a` and `b` (`b` may be empty: one row).
    pub fn of<T: Real, U: Real>(a: &[T], b: &[U]) -> Self {
        let mut m = Self::EMPTY;
        for v in a.iter().map(|v| v.to_f64()) {
            m.nan |= v.is_nan();
            m.a = m.a.max(v);
        }
        for v in b.iter().map(|v| v.to_f64()) {
            m.nan |= v.is_nan();
            m.b = m.b.max(v);
        }
        m
    }

    /// Whether the sums can give a value: no NaN, finite maxima (`pair`: both sides).
    pub fn usable(&self, pair: bool) -> bool {
        let finite = |m: f64| m.is_finite();
        !self.nan && finite(self.a) && (!pair || finite(self.b))
    }
}

/// The sums of a piece given the rows' maxima: for each side the count of elements at its
/// maximum and Σ e^{z−m} over the others; C = Σ e^{x−m_a}·(m_b − y) and
/// G = Σ e^{x−m_a}·((x − m_a) − (y − m_b)) over the terms of positive weight; W (entropy)
/// = Σ e^{z−m}·(m − z).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sums {
    at_max_a: f64,
    rest_a: f64,
    at_max_b: f64,
    rest_b: f64,
    w: f64,
    c: f64,
    g: f64,
}

impl Partial for Sums {
    const EMPTY: Self = Sums {
        at_max_a: 0.0,
        rest_a: 0.0,
        at_max_b: 0.0,
        rest_b: 0.0,
        w: 0.0,
        c: 0.0,
        g: 0.0,
    };

    fn combine(self, o: Self) -> Self {
        Sums {
            at_max_a: self.at_max_a + o.at_max_a,
            rest_a: self.rest_a + o.rest_a,
            at_max_b: self.at_max_b + o.at_max_b,
            rest_b: self.rest_b + o.rest_b,
            w: self.w + o.w,
            c: self.c + o.c,
            g: self.g + o.g,
        }
    }
}

/// (counted at the maximum, e^{z−m}) of one logit: (1, 1) at the maximum, (0, 0) for −inf.
fn weight(z: f64, m: f64) -> (f64, f64) {
    if z == m {
        (1.0, 1.0)
    } else if z == f64::NEG_INFINITY {
        (0.0, 0.0)
    } else {
        (0.0, (z - m).exp())
    }
}

impl Sums {
    /// Of a piece of one row with maximum `m` (entropy).
    pub fn one<T: Real>(z: &[T], m: f64) -> Self {
        let mut s = Self::EMPTY;
        for z in z.iter().map(|v| v.to_f64()) {
            let (at, e) = weight(z, m);
            s.at_max_a += at;
            if at == 0.0 && e > 0.0 {
                s.rest_a += e;
                s.w += e * (m - z);
            }
        }
        s
    }

    /// Of pieces of two rows with maxima `m` (cross-entropy, KL).
    pub fn pair<T: Real, U: Real>(a: &[T], b: &[U], m: &Maxima) -> Self {
        let mut s = Self::EMPTY;
        for (x, y) in a.iter().zip(b).map(|(x, y)| (x.to_f64(), y.to_f64())) {
            let (at_b, eb) = weight(y, m.b);
            s.at_max_b += at_b;
            if at_b == 0.0 {
                s.rest_b += eb;
            }
            let (at_a, ea) = weight(x, m.a);
            s.at_max_a += at_a;
            if at_a == 0.0 {
                s.rest_a += ea;
            }
            if ea > 0.0 {
                // y = −inf (Q = 0 where P > 0) makes both +inf, as the kernels report it
                s.c += ea * (m.b - y);
                s.g += ea * ((x - m.a) - (y - m.b));
            }
        }
        s
    }

    /// Σ e^{z−m} − 1 of side a / b: the other elements at the maximum count 1 each.
    fn rests(&self) -> (f64, f64) {
        (
            (self.at_max_a - 1.0) + self.rest_a,
            (self.at_max_b - 1.0) + self.rest_b,
        )
    }

    /// H(softmax z) = log1p(rest) + W/(1 + rest) (non-negative terms).
    pub fn entropy(&self) -> f64 {
        let (rest, _) = self.rests();
        rest.ln_1p() + self.w / (1.0 + rest)
    }

    /// H(P, Q) = log1p(rest_b) + C/(1 + rest_a).
    pub fn cross_entropy(&self) -> f64 {
        let (ra, rb) = self.rests();
        rb.ln_1p() + self.c / (1.0 + ra)
    }

    /// D(P‖Q) = log1p(rest_b) − log1p(rest_a) + G/(1 + rest_a), at least 0.
    pub fn kl(&self) -> f64 {
        let (ra, rb) = self.rests();
        let v = (rb.ln_1p() - ra.ln_1p()) + self.g / (1.0 + ra);
        if v.is_nan() {
            v
        } else {
            v.max(0.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::logits::{entropy_reference, pair_reference};

    const BIG: f64 = 1e308;

    fn entropy(z: &[f64]) -> f64 {
        let m = Maxima::of::<f64, f64>(z, &[]);
        assert!(m.usable(false));
        Sums::one(z, m.a).entropy()
    }

    fn pair(a: &[f64], b: &[f64]) -> (f64, f64) {
        let m = Maxima::of(a, b);
        assert!(m.usable(true));
        let s = Sums::pair(a, b, &m);
        (s.cross_entropy(), s.kl())
    }

    #[test]
    fn rows_whose_gaps_overflow_get_the_values_of_their_probabilities() {
        // softmax([1e308, −1e308, …]) puts every mass on the maxima
        assert_eq!(entropy(&[BIG, -BIG]), 0.0);
        assert_eq!(entropy(&[-BIG, BIG, -BIG]), 0.0);
        assert_eq!(entropy(&[BIG, BIG, -BIG]), 2f64.ln());
        // P = (1, 0), Q = (0, 1): ln Q₁ = −2e308 overflows: +inf, as the exact value is
        assert_eq!(
            pair(&[BIG, -BIG], &[-BIG, BIG]),
            (f64::INFINITY, f64::INFINITY)
        );
        // P = (1, 0, 0), Q = (0, 0, 1) with ln Q₁ = −1e308: finite
        assert_eq!(pair(&[BIG, -BIG, 0.0], &[0.0, -BIG, BIG]), (BIG, BIG));
        // P = (1, 0), Q = (½, ½)
        let (ce, kl) = pair(&[BIG, -BIG], &[0.0, 0.0]);
        assert_eq!((ce, kl), (2f64.ln(), 2f64.ln()));
        assert_eq!(pair(&[BIG, -BIG], &[BIG, -BIG]), (0.0, 0.0));
        // a −inf q where p > 0
        assert_eq!(
            pair(&[BIG, -BIG], &[f64::NEG_INFINITY, 0.0]).0,
            f64::INFINITY
        );
    }

    #[test]
    fn rows_without_overflow_agree_with_the_references() {
        let rows: [&[f64]; 5] = [
            &[0.3, -1.2, 2.5, 0.0],
            &[0.0, -80.0],
            &[5.0, 5.0, f64::NEG_INFINITY, 1.0],
            &[1e10, 1e10 - 3.0, 1e10 + 0.5],
            &[-700.0, -745.5, -740.0],
        ];
        for a in rows {
            let h = entropy(a);
            let want = entropy_reference(a);
            assert!(
                (h - want).abs() <= 1e-15 * want.abs().max(1e-300),
                "{a:?}: {h} vs {want}"
            );
            for b in rows.iter().filter(|b| b.len() == a.len()) {
                let (ce, kl) = pair(a, b);
                let (wce, wkl) = pair_reference(a, b);
                let close = |v: f64, w: f64, rtol: f64, floor: f64| {
                    v == w || (v - w).abs() <= rtol * w.abs().max(floor)
                };
                assert!(close(ce, wce, 1e-14, 1e-300), "{a:?} {b:?}: {ce} vs {wce}");
                assert!(close(kl, wkl, 1e-13, 1e-15), "{a:?} {b:?}: {kl} vs {wkl}");
            }
        }
    }

    #[test]
    fn pieces_combine_to_the_whole_row() {
        let a: Vec<f64> = (0..37)
            .map(|i| {
                if i % 3 == 0 {
                    BIG
                } else {
                    -BIG * (i as f64 / 40.0)
                }
            })
            .collect();
        let b: Vec<f64> = a.iter().rev().map(|&v| v * 0.5).collect();
        let m = Maxima::of(&a, &b);
        let whole = Sums::pair(&a, &b, &m);
        for cut in [0, 1, 5, 36, 37] {
            let parts = Maxima::of(&a[..cut], &b[..cut]).combine(Maxima::of(&a[cut..], &b[cut..]));
            assert_eq!(parts, m);
            let s =
                Sums::pair(&a[..cut], &b[..cut], &m).combine(Sums::pair(&a[cut..], &b[cut..], &m));
            assert_eq!(
                (s.cross_entropy(), s.kl()),
                (whole.cross_entropy(), whole.kl())
            );
        }
        assert!(!Maxima::of(&[f64::NAN, 1.0], &[0.0]).usable(true));
        assert!(!Maxima::of::<f64, f64>(&[f64::NEG_INFINITY], &[]).usable(false));
        assert!(!Maxima::of::<f64, f64>(&[f64::INFINITY, 0.0], &[]).usable(false));
    }
}
