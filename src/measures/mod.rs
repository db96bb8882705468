//! The measures, one per file, each built from a slice kernel and the deterministic lane
//! reduction in [`crate::parallel`]. Inputs are strided views whose **last axis** holds
//! one distribution (the binding layer moves the user's `axis` there without copying).

pub mod bce;
pub mod calibration_error;
pub mod cross_entropy;
pub mod ensemble_uncertainty;
pub mod entropy;
pub mod js;
pub mod kl;
pub mod label_entropy;
pub mod logsumexp;
pub mod mutual_information;
pub mod nll_loss;
pub mod perplexity;
pub mod ragged_divergences;
pub mod ragged_loss;
pub mod self_information;
pub mod softmax_cross_entropy;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

use crate::error::Error;

/// Options shared by the distribution measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Divide each distribution by its sum first (scipy.stats.entropy semantics).
    pub normalize: bool,
    /// Logarithm base; `None` for nats.
    pub base: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            normalize: true,
            base: None,
        }
    }
}

impl Options {
    /// ln(base), the divisor that converts nats to the requested unit (1 for nats).
    pub(crate) fn ln_base(&self) -> Result<f64, Error> {
        match self.base {
            None => Ok(1.0),
            Some(b) if b > 0.0 && b != 1.0 && b.is_finite() => Ok(b.ln()),
            Some(b) => Err(Error::InvalidBase { value: b }),
        }
    }
}

/// Checks that `x` has a distribution axis; returns the shape of the result.
pub(crate) fn batch_shape<T>(
    arg: &'static str,
    x: &ArrayViewD<'_, T>,
) -> Result<Vec<usize>, Error> {
    match x.shape().split_last() {
        Some((_, batch)) => Ok(batch.to_vec()),
        None => Err(Error::NoAxis { arg }),
    }
}

/// Checks that `p` and `q` have equal shapes (the binding layer has broadcast them).
pub(crate) fn same_shape<T, U>(p: &ArrayViewD<'_, T>, q: &ArrayViewD<'_, U>) -> Result<(), Error> {
    if p.shape() == q.shape() {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            first: "p",
            second: "q",
            first_shape: p.shape().to_vec(),
            second_shape: q.shape().to_vec(),
        })
    }
}

/// The result for empty distributions: 0.0 everywhere (an empty sum, as scipy.stats.entropy).
pub(crate) fn zeros_for_empty_lanes(batch: &[usize]) -> ArrayD<f64> {
    ArrayD::zeros(IxDyn(batch))
}

/// Rejects the most negative value found in `mins`, naming `arg`.
pub(crate) fn check_non_negative<P>(
    arg: &'static str,
    partials: &ArrayD<P>,
    min: impl Fn(&P) -> f64,
) -> Result<(), Error> {
    let lowest = partials
        .iter()
        .map(min)
        .fold(f64::INFINITY, |m, v| if v < m { v } else { m });
    if lowest < 0.0 {
        Err(Error::Negative { arg, value: lowest })
    } else {
        Ok(())
    }
}

/// Length of the distribution axis (the last).
pub(crate) fn lane_len<T>(x: &ArrayViewD<'_, T>) -> usize {
    x.len_of(Axis(x.ndim() - 1))
}
