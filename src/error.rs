//! The one error type of the core. The binding layer maps every variant to a Python
//! exception: `Interrupted` to the signal handler's exception (KeyboardInterrupt),
//! `OutOfMemory` to MemoryError, `Internal` (a caught panic) to RuntimeError, all others to
//! ValueError (dtype problems are caught before the core is called).

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
    /// An additive smoothing (pseudocount) that is negative, NaN or infinite.
    InvalidSmoothing { value: f64 },
    /// A class label outside `[0, classes)` that is not `ignore_index`; `position` indexes `target`.
    LabelOutOfRange {
        label: i64,
        position: Vec<usize>,
        classes: usize,
    },
    /// A label smoothing outside [0, 1].
    InvalidLabelSmoothing { value: f64 },
    /// A reduction other than "none", "mean" and "sum".
    InvalidReduction { value: String },
    /// A per-class `weight` whose length is not the number of classes.
    WeightLength { expected: usize, got: usize },
    /// A class axis of length 0: no label can be in range.
    NoClasses { arg: &'static str },
    /// Class-index targets whose shape is not the logits' shape without the class axis.
    TargetShape {
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// An option outside its set of names; `expected` lists them.
    InvalidOption {
        arg: &'static str,
        value: String,
        expected: &'static str,
    },
    /// An array with the wrong number of dimensions.
    WrongDimensions {
        arg: &'static str,
        expected: usize,
        got: usize,
    },
    /// More distinct labels than the counting supports (fewer than 2^32 per variable).
    TooManyClasses { count: usize },
    /// An `offsets` array without entries (it needs rows + 1 of them).
    EmptyOffsets,
    /// CSR/Arrow offsets that are negative, decreasing or past the values; `position`
    /// indexes `offsets`.
    InvalidOffsets {
        position: usize,
        value: i64,
        values: usize,
    },
    /// An axis of length 0 where at least one entry is needed (`arg`'s `axis`).
    EmptyAxis {
        arg: &'static str,
        axis: &'static str,
    },
    /// A class label outside `[0, classes)`; `position` indexes `arg` (scorers' labels).
    LabelOutOfRangeIn {
        arg: &'static str,
        label: i64,
        position: Vec<usize>,
        classes: usize,
    },
    /// A probability above 1 where probabilities are required (`value` is the largest).
    AboveOne { arg: &'static str, value: f64 },
    /// More bins than can be allocated.
    TooManyBins { value: usize },
    /// The call was stopped by the interrupt hook (Ctrl-C); its partial result is discarded.
    Interrupted,
    /// An Arrow C structure that was already released (consumed): `what` names its type.
    ArrowReleased {
        arg: &'static str,
        what: &'static str,
    },
    /// An Arrow C stream whose callback failed with `code` (an errno) and `message`.
    ArrowStream {
        arg: &'static str,
        code: i32,
        message: String,
    },
    /// An Arrow type (`format`, the C data interface's type string) that is not read.
    ArrowType {
        arg: &'static str,
        format: String,
        reason: String,
    },
    /// An Arrow array that breaks the C data interface's rules (or is unaligned).
    ArrowLayout { arg: &'static str, reason: String },
    /// Two ragged inputs read in step whose row `row` differs in length.
    RowLengths {
        row: usize,
        p_len: usize,
        q_len: usize,
    },
    /// Two inputs read in step with different numbers of rows.
    RowCount {
        first: &'static str,
        second: &'static str,
        first_rows: usize,
        second_rows: usize,
    },
    /// A class label outside `[0, len)` of its ragged row `row` (and not `ignore_index`).
    RaggedLabel { label: i64, row: usize, len: usize },
    /// An input changed while it was being read (another thread wrote to it): a label read
    /// twice gave two different values.
    ModifiedDuringCall { arg: &'static str },
    /// A working buffer of `bytes` bytes could not be allocated.
    OutOfMemory { bytes: usize },
    /// A panic inside the core — a bug — caught by [`catch_panic`]; its message.
    Internal { message: String },
}

/// Runs `f`, turning a panic into [`Error::Internal`]: the bindings run every core call
/// through it, so a bug reaches Python as a RuntimeError (an `Exception`) instead of
/// pyo3's PanicException, a BaseException that escapes `except Exception` (issue #12). The
/// inputs of a call that panicked are not used again, and the shared state (the thread
/// pool's configuration) recovers from a poisoned lock.
pub fn catch_panic<R>(f: impl FnOnce() -> Result<R, Error>) -> Result<R, Error> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            Err(Error::Internal { message })
        }
    }
}

/// `(3,)` / `(1, 2)`: an index as Python prints a tuple.
fn tuple(ix: &[usize]) -> String {
    match ix {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            ix.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
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
            Error::InvalidSmoothing { value } => write!(
                f,
                "`smoothing` must be a finite number >= 0 (a pseudocount added to every element), got {value:?}"
            ),
            Error::InvalidThreadCount { value } => {
                write!(f, "the number of threads must be at least 1, got {value}")
            }
            Error::LabelOutOfRange { label, position, classes } => write!(
                f,
                "`target` has label {label} at position {}, outside [0, {classes}) (and not `ignore_index`)",
                tuple(position)
            ),
            Error::InvalidLabelSmoothing { value } => {
                write!(f, "`label_smoothing` must be between 0 and 1, got {value:?}")
            }
            Error::InvalidReduction { value } => {
                write!(f, "`reduction` must be 'none', 'mean' or 'sum', got {value:?}")
            }
            Error::WeightLength { expected, got } => {
                write!(f, "`weight` must have one entry per class ({expected}), got {got}")
            }
            Error::NoClasses { arg } => write!(f, "`{arg}` has no classes (the class axis has length 0)"),
            Error::TargetShape { expected, got } => write!(
                f,
                "`target` (class indices) must have the shape of `logits` without the class axis, {}, got {}",
                tuple(expected),
                tuple(got)
            ),
            Error::InvalidOption { arg, value, expected } => {
                write!(f, "`{arg}` must be one of {expected}, got {value:?}")
            }
            Error::WrongDimensions { arg, expected, got } => {
                write!(f, "`{arg}` must be a {expected}-D array, got {got}-D")
            }
            Error::TooManyClasses { count } => {
                write!(f, "fewer than 2^32 distinct labels per variable are supported, got {count}")
            }
            Error::EmptyOffsets => {
                write!(f, "`offsets` must hold rows + 1 entries, got an empty array")
            }
            Error::InvalidOffsets { position, value, values } => write!(
                f,
                "`offsets` must be non-decreasing, non-negative and at most the number of values ({values}), got {value} at position {position}"
            ),
            Error::EmptyAxis { arg, axis } => {
                write!(f, "`{arg}` must have at least one entry along `{axis}`, got length 0")
            }
            Error::LabelOutOfRangeIn { arg, label, position, classes } => write!(
                f,
                "`{arg}` has label {label} at position {}, outside [0, {classes})",
                tuple(position)
            ),
            Error::AboveOne { arg, value } => write!(
                f,
                "`{arg}` must hold probabilities in [0, 1], got {value:?} (pass from_logits=True for logits)"
            ),
            Error::TooManyBins { value } => {
                write!(f, "`n_bins` is too large to allocate, got {value}")
            }
            Error::Interrupted => write!(f, "interrupted"),
            Error::ArrowReleased { arg, what } => write!(
                f,
                "`{arg}`: its {what} was already consumed (released); export the data again"
            ),
            Error::ArrowStream { arg, code, message } => {
                write!(f, "`{arg}`: reading its Arrow stream failed (error {code}): {message}")
            }
            Error::ArrowType { arg, format, reason } => write!(
                f,
                "`{arg}` must be a list, large list or fixed-size list of float32 or float64, got Arrow type {format:?}: {reason}"
            ),
            Error::ArrowLayout { arg, reason } => {
                write!(f, "`{arg}` is not a valid Arrow array: {reason}")
            }
            Error::RowLengths { row, p_len, q_len } => write!(
                f,
                "`p` and `q` must have rows of equal lengths, got {p_len} and {q_len} at row {row}"
            ),
            Error::RowCount { first, second, first_rows, second_rows } => write!(
                f,
                "`{first}` and `{second}` must have the same number of rows, got {first_rows} and {second_rows}"
            ),
            Error::RaggedLabel { label, row, len } => write!(
                f,
                "`target` has label {label} at row {row}, outside [0, {len}) (the row's length; and not `ignore_index`)"

            ),
            Error::ModifiedDuringCall { arg } => write!(
                f,
                "`{arg}` was modified by another thread during the call; pass an array no other thread writes to"
            ),
            Error::OutOfMemory { bytes } => {
                write!(f, "unable to allocate a working buffer of {bytes} bytes")
            }
            Error::Internal { message } => write!(
                f,
                "internal error (a bug in fastentropy, please report it with the input's shape, dtype and strides): {message}"
            ),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal_errors() {
        let r: Result<(), Error> = catch_panic(|| panic!("boom {}", 7));
        assert_eq!(
            r,
            Err(Error::Internal {
                message: "boom 7".into()
            })
        );
        let r: Result<(), Error> = catch_panic(|| {
            let v: Vec<u8> = Vec::new();
            let i = v.len() + 3;
            Err(Error::NoAxis {
                arg: ["p"][v[i] as usize],
            })
        });
        assert!(
            matches!(r, Err(Error::Internal { ref message }) if message.contains("index out of bounds"))
        );
        assert_eq!(catch_panic(|| Ok(5)), Ok(5));
        assert_eq!(
            catch_panic::<()>(|| Err(Error::Interrupted)),
            Err(Error::Interrupted)
        );
    }
}
