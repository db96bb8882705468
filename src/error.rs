//! The one error type of the core. The binding layer maps every variant to a Python
//! exception (all are `ValueError`s: dtype problems are caught before the core is called).

use std::fmt;

/// Why a computation was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// A probability or count below zero; `value` is the most negative one.
    Negative { arg: &'static str, value: f64 },
    /// Two arrays whose shapes must be equal are not.
    ShapeMismatch {
        first: &'static str,
        second: &'static str,
        first_shape: Vec<usize>,
        second_shape: Vec<usize>,
    },
    /// An array without the axis that holds the distributions.
    NoAxis { arg: &'static str },
    /// A logarithm base that is not positive and different from 1.
    InvalidBase { value: f64 },
    /// A thread count of zero.
    InvalidThreadCount { value: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Negative { arg, value } => {
                write!(f, "`{arg}` must be non-negative (probabilities or counts), got {value:?}")
            }
            Error::ShapeMismatch { first, second, first_shape, second_shape } => write!(
                f,
                "`{first}` and `{second}` must have the same shape, got {first_shape:?} and {second_shape:?}"
            ),
            Error::NoAxis { arg } => write!(f, "`{arg}` must have at least one dimension"),
            Error::InvalidBase { value } => {
                write!(f, "`base` must be positive and different from 1, got {value:?}")
            }
            Error::InvalidThreadCount { value } => {
                write!(f, "the number of threads must be at least 1, got {value}")
            }
        }
    }
}

impl std::error::Error for Error {}
