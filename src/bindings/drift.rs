//! Bindings of the measures of logits (`from_logits=True`) and of the smoothed measures
//! (`smoothing=α`, the population stability index). The measure is named by a string
//! (checked here); options are positional, as in `measures.rs`.

use pyo3::prelude::*;

use super::arrays::{reduce_one, reduce_pair, whole_one, whole_pair};
use crate::error::Error;
use crate::measures::from_logits::{self, One, Two};
use crate::measures::smoothing::{self, Smoothed};
use crate::measures::Options;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_logits_measure, m)?)?;
    m.add_function(wrap_pyfunction!(py_logits_pair_measure, m)?)?;
    m.add_function(wrap_pyfunction!(py_smoothed_measure, m)?)?;
    Ok(())
}

fn ln_base(base: Option<f64>) -> Result<f64, Error> {
    Options {
        normalize: true,
        base,
    }
    .ln_base()
}

fn bad(value: &str, expected: &'static str) -> PyErr {
    Error::InvalidOption {
        arg: "measure",
        value: value.to_string(),
        expected,
    }
    .into()
}

/// Entropy or perplexity of softmax(p) along `axis` (`None`: the whole array).
#[pyfunction(name = "logits_measure")]
#[pyo3(signature = (p, axis, base, measure))]
fn py_logits_measure<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    measure: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = match measure {
        "entropy" => One::Entropy,
        "perplexity" => One::Perplexity,
        other => return Err(bad(other, "'entropy', 'perplexity'")),
    };
    let lb = ln_base(base)?;
    match axis {
        Some(axis) => reduce_one!(py, p, axis, |pv| from_logits::one(pv, kind, lb)),
        None => whole_one!(py, p, |pv| from_logits::one_whole(pv, kind, lb)),
    }
}

/// Cross-entropy, KL, JS divergence or distance of softmax(p) and softmax(q).
#[pyfunction(name = "logits_pair_measure")]
#[pyo3(signature = (p, q, axis, base, measure))]
fn py_logits_pair_measure<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    measure: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = match measure {
        "cross_entropy" => Two::CrossEntropy,
        "kl_divergence" => Two::Kl,
        "js_divergence" => Two::Js,
        "js_distance" => Two::JsDistance,
        other => {
            return Err(bad(
                other,
                "'cross_entropy', 'kl_divergence', 'js_divergence', 'js_distance'",
            ))
        }
    };
    let lb = ln_base(base)?;
    match axis {
        Some(axis) => reduce_pair!(py, p, q, axis, |pv, qv| from_logits::two(pv, qv, kind, lb)),
        None => whole_pair!(py, p, q, |pv, qv| from_logits::two_whole(pv, qv, kind, lb)),
    }
}

/// A normalised measure with every element of p (and q) read as `x + smoothing`; `q` is
/// ignored by "entropy" (pass `p` again).
#[pyfunction(name = "smoothed_measure")]
#[pyo3(signature = (p, q, axis, base, measure, smoothing))]
fn py_smoothed_measure<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    measure: &str,
    smoothing: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = match measure {
        "entropy" => Smoothed::Entropy,
        "cross_entropy" => Smoothed::CrossEntropy,
        "kl_divergence" => Smoothed::Kl,
        "js_divergence" => Smoothed::Js,
        "js_distance" => Smoothed::JsDistance,
        "psi" => Smoothed::Psi,
        other => return Err(bad(
            other,
            "'entropy', 'cross_entropy', 'kl_divergence', 'js_divergence', 'js_distance', 'psi'",
        )),
    };
    let lb = ln_base(base)?;
    match axis {
        Some(axis) => reduce_pair!(py, p, q, axis, |pv, qv| smoothing::rows(
            pv, qv, kind, smoothing, lb
        )),
        None => whole_pair!(py, p, q, |pv, qv| smoothing::whole(
            pv, qv, kind, smoothing, lb
        )),
    }
}
