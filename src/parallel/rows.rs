//! The distributions ("rows") of an input as the kernels see them, without copying it.
//!
//! A [`Rows`] is a base pointer plus, for each row, the offset of its first element, its
//! length, and one element stride shared by all rows. It describes:
//! - the lanes along the last axis of any strided n-d view (C- or Fortran-ordered,
//!   reversed, sliced, broadcast with zero strides): row `r` is the `r`-th lane in C order
//!   of the other axes, which are coalesced first where their strides allow;
//! - ragged rows (CSR `values` + `offsets`, Arrow list arrays): row `r` is
//!   `values[offsets[r]..offsets[r + 1]]`.
//!
//! Reading goes through [`Rows::slice`] (a borrowed slice when the element stride is 1)
//! or [`Rows::gather`] (a copy of a range of a row into a caller's buffer), so the unsafe
//! pointer arithmetic is in this file only.
//!
//! [`Whole`] describes an n-d view read as **one** distribution (`axis=None`): its
//! elements, in memory order, as a list of equally long strided runs, so no copy is made
//! whatever the layout (issue: a Fortran-ordered, reversed or broadcast input used to be
//! copied whole).

use std::marker::PhantomData;
use std::ops::Range;

use ndarray::ArrayViewD;

use super::output::{Finish, Slots};
use super::{reduce_blocks, Ctx};
use crate::error::Error;
pub use crate::kernels::block::Block;
use crate::kernels::two_pass::Lowest;
use crate::kernels::{PairwiseStack, Partial, Real, COLUMNS_AHEAD, GROUP, LEAF};
use crate::simd::transpose::{
    transpose_ahead, transpose_rows, widen_rows, widen_rows_at, widen_runs,
};

/// One row: where it starts (in elements from the base pointer) and how long it is.
/// Only a [`Rows`] makes them, so its reads stay in bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    base: isize,
    len: usize,
}

impl Row {
    /// No elements.
    pub const EMPTY: Row = Row { base: 0, len: 0 };

    /// The number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the row has no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The values still to be asked for by [`Rows::prefetch_step`] (element positions).
pub struct LookAhead {
    span: Range<usize>,
    lines_per_step: usize,
}

/// CSR row boundaries as Arrow and scipy.sparse store them.
#[derive(Clone, Copy, Debug)]
pub enum Offsets<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl<'a> Offsets<'a> {
    /// Whether `other` is this very array (same type, start and length).
    fn is(&self, other: &Offsets<'_>) -> bool {
        match (self, other) {
            (Offsets::I32(x), Offsets::I32(y)) => std::ptr::eq(*x, *y),
            (Offsets::I64(x), Offsets::I64(y)) => std::ptr::eq(*x, *y),
            _ => false,
        }
    }

    fn len(&self) -> usize {
        match self {
            Offsets::I32(o) => o.len(),
            Offsets::I64(o) => o.len(),
        }
    }
    #[inline]
    fn at(&self, i: usize) -> usize {
        // Validated non-negative at construction.
        match self {
            Offsets::I32(o) => o[i] as usize,
            Offsets::I64(o) => o[i] as usize,
        }
    }
    /// The offsets checked against `values` values (see [`Checked`]).
    pub fn check(self, values: usize) -> Result<Checked<'a>, Error> {
        if self.len() == 0 {
            return Err(Error::EmptyOffsets);
        }
        self.validate(values)?;
        Ok(Checked {
            end: self.at(self.len() - 1),
            offsets: self,
        })
    }

    /// Checks that the offsets are ≥ 0, non-decreasing and at most `values` (which they index).
    fn validate(&self, values: usize) -> Result<(), Error> {
        let bad = |position: usize, value: i64| {
            Err(Error::InvalidOffsets {
                position,
                value,
                values,
            })
        };
        let mut previous = 0i64;
        for i in 0..self.len() {
            let v = match self {
                Offsets::I32(o) => o[i] as i64,
                Offsets::I64(o) => o[i],
            };
            if v < previous || v as u64 > values as u64 {
                return bad(i, v);
            }
            previous = v;
        }
        Ok(())
    }
}

/// CSR offsets known to be valid: at least one entry, ≥ 0, non-decreasing, the last
/// one `end`. Only [`Offsets::check`] (which reads every entry) makes one, so rows over
/// any `values` of at least `end` elements stay in bounds: [`Rows::ragged`] then checks
/// that one length instead of every offset again.
#[derive(Clone, Copy, Debug)]
pub struct Checked<'a> {
    offsets: Offsets<'a>,
    end: usize,
}

impl<'a> Checked<'a> {
    /// The offsets.
    pub fn offsets(&self) -> Offsets<'a> {
        self.offsets
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The entries of rows `range` (a sub-range of valid offsets is valid, with an end
    /// no larger).
    pub fn slice_rows(&self, range: Range<usize>) -> Checked<'a> {
        assert!(range.start <= range.end && range.end <= self.rows());
        let offsets = match self.offsets {
            Offsets::I32(o) => Offsets::I32(&o[range.start..range.end + 1]),
            Offsets::I64(o) => Offsets::I64(&o[range.start..range.end + 1]),
        };
        Checked {
            end: offsets.at(range.end - range.start),
            offsets,
        }
    }
}

/// Offsets as the ragged entry points take them: unchecked [`Offsets`] (validated on
/// the way in) or [`Checked`] ones (only their end compared with the values).
pub trait IntoChecked<'a> {
    /// The offsets checked against `values` values.
    fn into_checked(self, values: usize) -> Result<Checked<'a>, Error>;
}

impl<'a> IntoChecked<'a> for Offsets<'a> {
    fn into_checked(self, values: usize) -> Result<Checked<'a>, Error> {
        self.check(values)
    }
}

impl<'a> IntoChecked<'a> for Checked<'a> {
    fn into_checked(self, values: usize) -> Result<Checked<'a>, Error> {
        if self.end > values {
            return Err(Error::InvalidOffsets {
                position: self.rows(),
                value: self.end as i64,
                values,
            });
        }
        Ok(self)
    }
}

#[derive(Clone, Debug)]
enum Shape<'a> {
    /// Every row has `len` elements; row bases follow the (coalesced) batch axes.
    Strided {
        len: usize,
        batch_shape: Vec<usize>,
        batch_strides: Vec<isize>,
    },
    /// CSR rows (element stride 1).
    Ragged { offsets: Offsets<'a> },
}

/// `a == b` for the short shape and stride lists of a [`Shape`], without calling
/// `memcmp` on an empty one: an empty `Vec` points at a dangling address, and glibc's
/// AVX-512 `memcmp` reads it with a masked load whose fault suppression costs ~100 ns
/// (measured on a Xeon VM: two such compares were a fifth of a 10-element call).
fn equal_small<E: PartialEq>(a: &[E], b: &[E]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The rows of one input. See the module docs.
#[derive(Clone, Debug)]
pub struct Rows<'a, T> {
    ptr: *const T,
    elem_stride: isize,
    n_rows: usize,
    shape: Shape<'a>,
    _data: PhantomData<&'a [T]>,
}

// SAFETY: a `Rows` is a read-only view of data borrowed for 'a (like `&'a [T]`, which is
// Send + Sync for T: Sync); the raw pointer is only read through the bounds-checked
// methods below.
unsafe impl<T: Sync> Send for Rows<'_, T> {}
// SAFETY: see above.
unsafe impl<T: Sync> Sync for Rows<'_, T> {}

/// Merges adjacent axes that step through memory as one (numpy's iterator coalescing):
/// axis `d` and `d + 1` merge when `stride[d] == stride[d+1]·shape[d+1]`; axes of length
/// 1 are dropped. Returns the merged shape and strides (possibly empty: one row).
fn coalesce(shape: &[usize], strides: &[isize]) -> (Vec<usize>, Vec<isize>) {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<isize> = Vec::new();
    for (&n, &s) in shape.iter().zip(strides) {
        if n == 1 {
            continue;
        }
        match (out_shape.last_mut(), out_strides.last_mut()) {
            (Some(last_n), Some(last_s)) if *last_s == s * n as isize => {
                *last_n *= n;
                *last_s = s;
            }
            _ => {
                out_shape.push(n);
                out_strides.push(s);
            }
        }
    }
    (out_shape, out_strides)
}

impl<'a, T: Copy> Rows<'a, T> {
    /// The lanes along the last axis of `x` (which must have at least one axis).
    pub fn from_view(x: &ArrayViewD<'a, T>) -> Self {
        let ndim = x.ndim();
        assert!(ndim >= 1, "a view with a distribution axis");
        let len = x.shape()[ndim - 1];
        let elem_stride = if len > 1 { x.strides()[ndim - 1] } else { 1 };
        let n_rows: usize = x.shape()[..ndim - 1].iter().product();
        let (batch_shape, batch_strides) =
            coalesce(&x.shape()[..ndim - 1], &x.strides()[..ndim - 1]);
        Rows {
            ptr: x.as_ptr(),
            elem_stride,
            n_rows,
            shape: Shape::Strided {
                len,
                batch_shape,
                batch_strides,
            },
            _data: PhantomData,
        }
    }

    /// One contiguous distribution (a 1-D array read as a slice): the rows
    /// [`Rows::from_view`] gives for the 1-D view of `values`, without the view.
    pub fn contiguous(values: &'a [T]) -> Self {
        Rows {
            ptr: values.as_ptr(),
            elem_stride: 1,
            n_rows: 1,
            shape: Shape::Strided {
                len: values.len(),
                batch_shape: Vec::new(),
                batch_strides: Vec::new(),
            },
            _data: PhantomData,
        }
    }

    /// Ragged rows `values[offsets[r]..offsets[r+1]]`; the offsets are validated (once:
    /// [`Checked`] offsets only have their end compared with `values`).
    pub fn ragged(values: &'a [T], offsets: impl IntoChecked<'a>) -> Result<Self, Error> {
        let offsets = offsets.into_checked(values.len())?.offsets;
        Ok(Rows {
            ptr: values.as_ptr(),
            elem_stride: 1,
            n_rows: offsets.len() - 1,
            shape: Shape::Ragged { offsets },
            _data: PhantomData,
        })
    }

    /// The number of rows.
    #[inline]
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The common row length, if every row has the same.
    #[inline]
    pub fn uniform_len(&self) -> Option<usize> {
        match &self.shape {
            Shape::Strided { len, .. } => Some(*len),
            Shape::Ragged { .. } => None,
        }
    }

    /// The total number of elements.
    pub fn elements(&self) -> usize {
        match &self.shape {
            Shape::Strided { len, .. } => len * self.n_rows,
            Shape::Ragged { offsets } => offsets.at(self.n_rows) - offsets.at(0),
        }
    }

    /// Whether `other` has rows of the same lengths (so the two can be read in step).
    pub fn same_rows<U: Copy>(&self, other: &Rows<'_, U>) -> bool {
        if self.n_rows != other.n_rows {
            return false;
        }
        match (&self.shape, &other.shape) {
            (Shape::Strided { len: a, .. }, Shape::Strided { len: b, .. }) => a == b,
            (Shape::Ragged { offsets: a }, Shape::Ragged { offsets: b }) => {
                a.is(b) || (0..self.n_rows).all(|r| a.at(r + 1) - a.at(r) == b.at(r + 1) - b.at(r))
            }
            _ => false,
        }
    }

    /// Whether `other` reads exactly the values this does, row for row (one input passed
    /// as both p and q, as entropy does): the same element type, start, strides and row
    /// layout. Equal starts alone are not enough: `x[::2]` and `x[:n]` share a start.
    pub fn reads_same_values<U: Copy>(&self, other: &Rows<'_, U>) -> bool {
        let layout = match (&self.shape, &other.shape) {
            (
                Shape::Strided {
                    len: a,
                    batch_shape: sa,
                    batch_strides: ta,
                },
                Shape::Strided {
                    len: b,
                    batch_shape: sb,
                    batch_strides: tb,
                },
            ) => a == b && equal_small(sa, sb) && equal_small(ta, tb),
            (Shape::Ragged { offsets: a }, Shape::Ragged { offsets: b }) => a.is(b),
            _ => false,
        };
        layout
            && std::ptr::eq(self.ptr.cast::<u8>(), other.ptr.cast::<u8>())
            && self.elem_stride == other.elem_stride
            && self.n_rows == other.n_rows
            && std::mem::size_of::<T>() == std::mem::size_of::<U>()
    }

    /// `(row stride, element stride)` when every row has the same length and row `r`
    /// starts at `r·row_stride` (at most one batch axis after coalescing).
    fn regular(&self) -> Option<(isize, isize)> {
        match &self.shape {
            Shape::Strided { batch_strides, .. } if batch_strides.len() <= 1 => Some((
                batch_strides.first().copied().unwrap_or(0),
                self.elem_stride,
            )),
            _ => None,
        }
    }

    /// Calls `f(r, row)` for the rows `range`, in order.
    pub fn for_rows(&self, range: Range<usize>, mut f: impl FnMut(usize, Row)) {
        match &self.shape {
            // the offsets' type matched once, not per row
            Shape::Ragged {
                offsets: Offsets::I32(o),
            } => ragged_walk(o, range, f),
            Shape::Ragged {
                offsets: Offsets::I64(o),
            } => ragged_walk(o, range, f),
            Shape::Strided {
                len,
                batch_shape,
                batch_strides,
            } => {
                let len = *len;
                if range.is_empty() {
                    return;
                }
                match batch_shape.len() {
                    0 => {
                        for r in range {
                            f(r, Row { base: 0, len });
                        }
                    }
                    1 => {
                        let s = batch_strides[0];
                        for r in range {
                            f(
                                r,
                                Row {
                                    base: r as isize * s,
                                    len,
                                },
                            );
                        }
                    }
                    dims => {
                        // An odometer over the batch axes, started at range.start.
                        let mut index = vec![0usize; dims];
                        let mut rest = range.start;
                        for d in (0..dims).rev() {
                            index[d] = rest % batch_shape[d];
                            rest /= batch_shape[d];
                        }
                        let mut base: isize = index
                            .iter()
                            .zip(batch_strides)
                            .map(|(&i, &s)| i as isize * s)
                            .sum();
                        for r in range {
                            f(r, Row { base, len });
                            for d in (0..dims).rev() {
                                index[d] += 1;
                                base += batch_strides[d];
                                if index[d] < batch_shape[d] {
                                    break;
                                }
                                base -= batch_strides[d] * batch_shape[d] as isize;
                                index[d] = 0;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> Row {
        let mut out = Row { base: 0, len: 0 };
        self.for_rows(r..r + 1, |_, row| out = row);
        out
    }

    /// The row as a slice, when its elements are adjacent (element stride 1, or one element).
    #[inline]
    pub fn slice(&self, row: Row) -> Option<&'a [T]> {
        if self.elem_stride == 1 || row.len <= 1 {
            // SAFETY: `row` came from this `Rows`, whose rows are lanes of the borrowed view
            // (or validated ranges of `values`): elements base..base+len at stride 1 are
            // in the allocation and live for 'a. A 0-length row gives an empty slice.
            Some(unsafe {
                std::slice::from_raw_parts(
                    if row.len == 0 {
                        std::ptr::NonNull::dangling().as_ptr()
                    } else {
                        self.ptr.offset(row.base)
                    },
                    row.len,
                )
            })
        } else {
            None
        }
    }

    /// Copies the elements `range` of `row` into `out[..range.len()]`.
    #[inline]
    pub fn gather(&self, row: Row, range: Range<usize>, out: &mut [T]) {
        assert!(range.end <= row.len && range.len() <= out.len());
        let s = self.elem_stride;
        let mut at = row.base + range.start as isize * s;
        for slot in &mut out[..range.len()] {
            // SAFETY: element `at` is element `i < row.len` of the row (asserted above),
            // a valid index of the borrowed view.
            *slot = unsafe { *self.ptr.offset(at) };
            at += s;
        }
    }

    /// Calls `f` with the elements `range` of `row` as a slice: borrowed when adjacent,
    /// else gathered into `buf` (which grows to `range.len()`).
    #[inline]
    pub fn with_slice<R>(
        &self,
        row: Row,
        range: Range<usize>,
        buf: &mut Vec<T>,
        f: impl FnOnce(&[T]) -> R,
    ) -> R
    where
        T: Default,
    {
        match self.slice(row) {
            Some(s) => f(&s[range]),
            None => {
                buf.resize(range.len().max(buf.len()), T::default());
                self.gather(row, range.clone(), buf);
                f(&buf[..range.len()])
            }
        }
    }
}

impl<T: Real> Rows<'_, T> {
    /// The values of ragged rows as one slice (row `r` is its range `base..base + len`).
    fn ragged_values(&self) -> Option<&[T]> {
        match &self.shape {
            // SAFETY: `Rows::ragged` made `ptr` the start of a borrowed `values` slice and
            // checked that the offsets end within it, so its first `end` elements are
            // readable for 'a (an empty slice's pointer is dangling but aligned, non-null).
            Shape::Ragged { offsets } => {
                Some(unsafe { std::slice::from_raw_parts(self.ptr, offsets.at(self.n_rows)) })
            }
            Shape::Strided { .. } => None,
        }
    }

    /// A look-ahead over the values of the ragged rows `range` (the next task's, usually
    /// this thread's next: its rows are read out of order, sorted by length, where the
    /// hardware prefetcher cannot follow), asked for `steps` times a few cache lines by
    /// [`Rows::prefetch_step`], so they arrive while this task computes. Empty for other
    /// layouts.
    pub fn look_ahead(&self, range: Range<usize>, steps: usize) -> LookAhead {
        let span = match (&self.shape, range.is_empty()) {
            (Shape::Ragged { offsets }, false) => offsets.at(range.start)..offsets.at(range.end),
            _ => 0..0,
        };
        let lines = span.len() * std::mem::size_of::<T>() / 64 + 1;
        LookAhead {
            span,
            lines_per_step: lines.div_ceil(steps.max(1)),
        }
    }

    /// The next few cache lines of a [`LookAhead`].
    #[inline]
    pub fn prefetch_step(&self, ahead: &mut LookAhead) {
        let step = (64 / std::mem::size_of::<T>()).max(1);
        for _ in 0..ahead.lines_per_step {
            if ahead.span.is_empty() {
                return;
            }
            crate::simd::prefetch(self.ptr.wrapping_add(ahead.span.start));
            ahead.span.start += step;
        }
    }

    /// `dst[k·ds + j]` = element `k < cols` of `rows[j]` (at most [`GROUP`] rows of this
    /// `Rows`, each at least `cols` long): for ragged rows the blocked AVX transposes of
    /// [`crate::simd::transpose`], else element by element.
    pub fn transpose_rows_into(&self, rows: &[Row], cols: usize, dst: &mut [T], ds: usize) {
        assert!(rows.len() <= GROUP && rows.iter().all(|r| r.len >= cols));
        if let Some(values) = self.ragged_values() {
            let mut starts = [0usize; GROUP];
            for (s, r) in starts.iter_mut().zip(rows) {
                *s = r.base as usize; // ragged rows start at an offset ≥ 0
            }
            return transpose_rows(values, &starts[..rows.len()], cols, dst, ds);
        }
        for (j, &row) in rows.iter().enumerate() {
            for k in 0..cols {
                self.gather(row, k..k + 1, &mut dst[k * ds + j..k * ds + j + 1]);
            }
        }
    }

    /// All values as one slice when the rows are adjacent and their elements `n_rows`
    /// apart — the C-ordered (C, N) array read along axis 0 — so that the view is one
    /// contiguous block (element c of row r at r + c·n_rows); else None.
    fn column_block(&self) -> Option<&[T]> {
        let len = self.uniform_len()?;
        let (rs, es) = self.regular()?;
        if rs != 1 || es != self.n_rows as isize || len == 0 {
            return None;
        }
        // SAFETY: with row stride 1 and element stride n_rows, the view's n_rows·len
        // elements are exactly the positions 0 .. n_rows·len from `ptr`: one borrowed,
        // live, read-only block.
        Some(unsafe { std::slice::from_raw_parts(self.ptr, self.n_rows * len) })
    }

    /// Copies rows `first..first + n` (each `len` long, on a [regular](Rows::regular)
    /// layout) into `buf[j·len..(j + 1)·len]`, reading element `c` of all `n` rows before
    /// element `c + 1`: in the (C, N) layout read along axis 0 the `n` rows share each
    /// cache line, where gathering one row at a time reads a line per element. That
    /// layout (adjacent rows, `n` ≤ [`GROUP`]) goes through the blocked transposes, asking
    /// for the next groups' lines as it reads (measured: the element loop was 40% of
    /// float32 entropy over (1000, 10^4) along axis 0, one thread).
    fn gather_rows(&self, first: usize, n: usize, len: usize, buf: &mut Vec<T>) {
        let (rs, es) = self.regular().expect("a regular layout");
        assert!(first + n <= self.n_rows);
        assert_eq!(self.uniform_len(), Some(len));
        // every slot is overwritten below: no zeroing
        buf.resize(n * len, T::default());
        if let (Some(all), true) = (self.column_block(), n > 0) {
            // element c of row first + j at first + j + c·n_rows; the last one read is
            // element len − 1 of row first + n − 1
            let src = &all[first..first + (len - 1) * self.n_rows + n];
            transpose_ahead(src, self.n_rows, len, n, buf, len, COLUMNS_AHEAD);
            return;
        }
        let first_base = first as isize * rs;
        for c in 0..len {
            let at = first_base + c as isize * es;
            for j in 0..n {
                // SAFETY: element c < len of row first + j (< n_rows, asserted) is at
                // (first + j)·rs + c·es: an element of the borrowed view.
                buf[j * len + c] = unsafe { *self.ptr.offset(at + j as isize * rs) };
            }
        }
    }

    /// Rows `first..first + n` as a [`Block`] where they lie in one of its layouts.
    fn block(&self, first: usize, n: usize) -> Option<Block<'_, T>> {
        if self.uniform_len()? == 0 || first + n > self.n_rows {
            return None;
        }
        if let Some(all) = self.column_block() {
            // element c of row first + j at all[first + j + c·n_rows]
            return Some(Block::Columns {
                values: &all[first..],
                stride: self.n_rows,
            });
        }
        self.adjacent_rows(first, n).map(Block::Rows)
    }

    /// Rows `first..first + n` as one slice where they lie back to back (a C-ordered
    /// (N, len) block: element stride 1, row stride len).
    fn adjacent_rows(&self, first: usize, n: usize) -> Option<&[T]> {
        let (rs, es) = self.regular()?;
        let len = self.uniform_len()?;
        if es != 1 || rs != len as isize || len == 0 || first + n > self.n_rows {
            return None;
        }
        // SAFETY: rows first..first + n (≤ n_rows, checked) are adjacent runs of `len`
        // elements (row stride len, element stride 1): n·len adjacent elements of the
        // borrowed view from row `first`'s first element, live as long as `self`.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.offset(first as isize * rs), n * len) })
    }

    /// Writes rows `first..first + n` (each `len` long, on a [regular](Rows::regular)
    /// layout) transposed into `buf[c][j]`, widened; lanes `n..GROUP` are zeroed.
    /// Two layouts are read without per-element index arithmetic: lanes adjacent in
    /// memory (the (C, N) array read along axis 0: each `buf[c]` is one contiguous run)
    /// and rows adjacent in memory (the C-ordered (N, C) array: one contiguous block).
    #[inline]
    fn fill_group(&self, first: usize, n: usize, len: usize, buf: &mut [[f64; GROUP]]) {
        let (rs, es) = self.regular().expect("a regular layout");
        assert!(first + n <= self.n_rows && n <= GROUP && len <= buf.len());
        assert_eq!(self.uniform_len(), Some(len));
        let first_base = first as isize * rs;
        // float32 always, float64 below [`F64_RUNS_BELOW`] classes (where whole vectors
        // beat the element loop)
        let runs = T::IS_F32 || len < F64_RUNS_BELOW;
        if let (Some(all), true) = (self.column_block(), runs && n == GROUP) {
            // element c of rows first..first + GROUP: all[first + c·n_rows ..][..GROUP]
            return widen_runs(&all[first..], self.n_rows, COLUMNS_AHEAD, &mut buf[..len]);
        }
        if n == GROUP && rs == 1 {
            for (c, slot) in buf[..len].iter_mut().enumerate() {
                let at = first_base + c as isize * es;
                // the next groups' values of this element: the C class rows are C
                // streams, more than the hardware follows
                for line in (0..GROUP * std::mem::size_of::<T>()).step_by(64) {
                    crate::simd::prefetch_streams(
                        self.ptr
                            .wrapping_offset(at + COLUMNS_AHEAD as isize)
                            .cast::<u8>()
                            .wrapping_add(line),
                        len,
                    );
                }
                // SAFETY: element c < len of rows first..first + GROUP (< n_rows, asserted)
                // is at (first + j)·1 + c·es for j < GROUP: GROUP adjacent elements of
                // the borrowed view, live for its lifetime.
                let src = unsafe { std::slice::from_raw_parts(self.ptr.offset(at), GROUP) };
                for (lane, &v) in slot.iter_mut().zip(src) {
                    *lane = v.to_f64();
                }
            }
            return;
        }
        if let (true, Some(src)) = (n == GROUP, self.adjacent_rows(first, n)) {
            widen_rows(src, &mut buf[..len]);
            return;
        }
        for (c, slot) in buf[..len].iter_mut().enumerate() {
            let at = first_base + c as isize * es;
            for (j, lane) in slot[..n].iter_mut().enumerate() {
                // SAFETY: element c < len of row first + j (< n_rows) is at
                // (first + j)·rs + c·es: an element of the borrowed view (asserted above).
                *lane = unsafe { *self.ptr.offset(at + j as isize * rs) }.to_f64();
            }
            slot[n..].fill(0.0);
        }
    }
}

/// An n-d view read as one distribution (`axis=None`): its elements as equally long
/// strided runs — the rows of a [`Rows`] — in memory order (axes sorted by stride,
/// reversed axes flipped, mergeable axes coalesced). The order differs from C order only
/// in which element is added first: the value is a sum over all elements either way.
pub struct Whole;

impl Whole {
    /// The runs of `x` (any shape, any strides).
    #[allow(clippy::new_ret_no_self)] // a constructor of rows over the whole array
    pub fn new<'a, T: Copy>(x: &ArrayViewD<'a, T>) -> Rows<'a, T> {
        Self::pair(x, x).0
    }

    /// The runs of `p` and `q` (equal shapes) in the same element order: `p`'s memory
    /// order, axes merged only where both allow it.
    pub fn pair<'a, 'b, T: Copy, U: Copy>(
        p: &ArrayViewD<'a, T>,
        q: &ArrayViewD<'b, U>,
    ) -> (Rows<'a, T>, Rows<'b, U>) {
        assert_eq!(p.shape(), q.shape());
        let (mut pv, mut qv) = (p.clone(), q.clone());
        for d in 0..pv.ndim() {
            if pv.strides()[d] < 0 {
                pv.invert_axis(ndarray::Axis(d));
                qv.invert_axis(ndarray::Axis(d));
            }
        }
        let mut order: Vec<usize> = (0..pv.ndim()).collect();
        order.sort_by_key(|&d| std::cmp::Reverse(pv.strides()[d]));
        let (pv, qv) = (pv.permuted_axes(order.clone()), qv.permuted_axes(order));
        // joint coalescing: merge axis d+1 into d only where both views allow it
        let (mut shape, mut ps, mut qs): (Vec<usize>, Vec<isize>, Vec<isize>) =
            (Vec::new(), Vec::new(), Vec::new());
        for d in 0..pv.ndim() {
            let (n, a, b) = (pv.shape()[d], pv.strides()[d], qv.strides()[d]);
            if n == 1 {
                continue;
            }
            match (shape.last_mut(), ps.last_mut(), qs.last_mut()) {
                (Some(ln), Some(la), Some(lb))
                    if *la == a * n as isize && *lb == b * n as isize =>
                {
                    *ln *= n;
                    *la = a;
                    *lb = b;
                }
                _ => {
                    shape.push(n);
                    ps.push(a);
                    qs.push(b);
                }
            }
        }
        let empty = p.is_empty();
        (
            Self::runs(pv.as_ptr(), &shape, &ps, empty),
            Self::runs(qv.as_ptr(), &shape, &qs, empty),
        )
    }

    fn runs<'a, T>(ptr: *const T, shape: &[usize], strides: &[isize], empty: bool) -> Rows<'a, T> {
        let (run_len, elem_stride, batch_shape, batch_strides) = match shape.split_last() {
            None => (usize::from(!empty), 1, Vec::new(), Vec::new()),
            Some((&n, rest)) => (
                n,
                *strides.last().expect("as many strides as axes"),
                rest.to_vec(),
                strides[..strides.len() - 1].to_vec(),
            ),
        };
        let n_rows = if empty {
            0
        } else {
            batch_shape.iter().product()
        };
        Rows {
            ptr,
            elem_stride,
            n_rows,
            shape: Shape::Strided {
                len: run_len,
                batch_shape,
                batch_strides,
            },
            _data: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array, Array2, Array3, IxDyn};

    fn collect<T: Copy + Default>(rows: &Rows<'_, T>) -> Vec<Vec<T>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        rows.for_rows(0..rows.n_rows(), |_, row| {
            out.push(rows.with_slice(row, 0..row.len(), &mut buf, |s| s.to_vec()));
        });
        out
    }

    #[test]
    fn rows_of_any_layout_are_the_lanes_in_c_order() {
        let a = Array3::from_shape_fn((3, 4, 5), |(i, j, k)| (i * 100 + j * 10 + k) as f64);
        let views = [
            a.view().into_dyn(),
            a.slice(s![..;-1, 1.., ..;2]).into_dyn(),
            a.view().reversed_axes().into_dyn(),
            a.slice(s![.., .., 3..4]).into_dyn(),
        ];
        for v in views {
            let want: Vec<Vec<f64>> = v
                .lanes(ndarray::Axis(v.ndim() - 1))
                .into_iter()
                .map(|l| l.to_vec())
                .collect();
            assert_eq!(collect(&Rows::from_view(&v)), want);
            // any starting row: the odometer resumes correctly
            let rows = Rows::from_view(&v);
            #[allow(clippy::needless_range_loop)] // `start` is a row index of `rows` too
            for start in 0..rows.n_rows() {
                let mut buf = Vec::new();
                let row = rows.row(start);
                assert_eq!(
                    rows.with_slice(row, 0..row.len(), &mut buf, |s| s.to_vec()),
                    want[start]
                );
            }
        }
        let b = Array::from_shape_vec(IxDyn(&[4]), vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let bc = b.broadcast(IxDyn(&[3, 2, 4])).unwrap();
        assert_eq!(
            collect(&Rows::from_view(&bc)),
            vec![vec![1.0, 2.0, 3.0, 4.0]; 6]
        );
    }

    /// Sixteen (or fewer) rows gathered together equal the rows read one at a time, on
    /// the (C, N) layout read along axis 0 (the blocked transposes, any group size and
    /// length, both element types) and on a sliced one (the element loop).
    #[test]
    fn gathered_rows_are_the_rows() {
        fn check<T: Real + From<u16>>() {
            for (classes, n_rows) in [(1, 1), (3, 5), (9, 16), (17, 33), (300, 40)] {
                let a = Array2::from_shape_fn((classes, n_rows + 3), |(c, r)| {
                    T::from((c * 97 + r) as u16)
                });
                let whole = a.slice(s![.., 3..]).to_owned(); // contiguous
                for v in [whole.view(), a.slice(s![.., ..n_rows])] {
                    let v = v.reversed_axes().into_dyn(); // rows along axis 0
                    let rows = Rows::from_view(&v);
                    let want = collect(&rows);
                    let mut buf = vec![T::default(); 7]; // stale contents are overwritten
                    for first in 0..n_rows {
                        for n in 1..=GROUP.min(n_rows - first) {
                            rows.gather_rows(first, n, classes, &mut buf);
                            for j in 0..n {
                                let got = &buf[j * classes..(j + 1) * classes];
                                assert_eq!(got, &want[first + j][..], "{classes} {first} {n} {j}");
                            }
                        }
                    }
                }
            }
        }
        check::<f32>();
        check::<f64>();
    }

    /// A group of rows back to back is transposed (and widened) element for element, bit
    /// for bit, whichever way (float32 tiles, fixed-length unrolls, the generic loop), with
    /// −0.0, ±inf, NaN and subnormals among the values; lanes past `n` rows are zero.
    #[test]
    fn fill_group_transposes_rows_exactly() {
        fn check<T: Real + std::fmt::Debug>(values: &[f64]) {
            for len in (1..=20usize).chain([31, 33, 64, 100, 255, 256, 257]) {
                let rows = 40;
                let data: Vec<T> = (0..rows * len)
                    .map(|i| T::from_f64(values[i % values.len()] * (1.0 + i as f64)))
                    .collect();
                let a = Array2::from_shape_vec((rows, len), data.clone()).unwrap();
                let view = a.view().into_dyn();
                let r = Rows::from_view(&view);
                for (first, n) in [(16, GROUP), (0, GROUP), (24, GROUP), (32, 5)] {
                    let mut buf = vec![[7.0; GROUP]; len];
                    r.fill_group(first, n, len, &mut buf);
                    for (c, lanes) in buf.iter().enumerate() {
                        for (j, &v) in lanes.iter().enumerate() {
                            let want = if j < n {
                                data[(first + j) * len + c].to_f64()
                            } else {
                                0.0
                            };
                            assert_eq!(v.to_bits(), want.to_bits(), "len {len} row {j} col {c}");
                        }
                    }
                }
            }
        }
        let values = [
            0.25,
            -0.0,
            f64::INFINITY,
            f64::NAN,
            1e-40,
            3.5,
            f64::NEG_INFINITY,
            7e-310,
            1e30,
        ];
        check::<f32>(&values);
        check::<f64>(&values);
    }

    /// A slice's rows are those of its 1-D view, field for field (the small-call path
    /// relies on it for the same bits), and read the same values as that view.
    #[test]
    fn a_slice_gives_the_rows_of_its_one_dimensional_view() {
        for len in [0, 1, 2, 3, 10, 67] {
            let values: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let view = ndarray::ArrayView1::from(&values[..]).into_dyn();
            let (from_slice, from_view) = (Rows::contiguous(&values), Rows::from_view(&view));
            assert_eq!(format!("{from_slice:?}"), format!("{from_view:?}"));
            assert!(from_slice.reads_same_values(&from_view));
        }
    }

    /// One input read as both p and q only when the views are the same rows: a shared
    /// start and element stride are not enough.
    #[test]
    fn views_read_the_same_values_only_when_their_rows_are_the_same() {
        let a = Array2::from_shape_fn((10, 3), |(i, j)| (i * 3 + j) as f64);
        let all = a.view().into_dyn();
        let (even, head) = (
            a.slice(s![..;2, ..]).into_dyn(),
            a.slice(s![..5, ..]).into_dyn(),
        );
        fn rows<'a>(v: &ndarray::ArrayViewD<'a, f64>) -> Rows<'a, f64> {
            Rows::from_view(v)
        }
        assert!(rows(&all).reads_same_values(&rows(&all)));
        assert!(rows(&even).reads_same_values(&rows(&a.slice(s![..;2, ..]).into_dyn())));
        assert!(!rows(&even).reads_same_values(&rows(&head)));
        let values = [1.0, 2.0, 3.0, 4.0];
        let (o1, o2): ([i64; 3], [i64; 3]) = ([0, 1, 2], [1, 2, 3]);
        let (r1, r2) = (
            Rows::ragged(&values[..], Offsets::I64(&o1)).unwrap(),
            Rows::ragged(&values[..], Offsets::I64(&o2)).unwrap(),
        );
        assert!(r1.same_rows(&r2) && !r1.reads_same_values(&r2));
        assert!(r1.reads_same_values(&r1.clone()));
    }

    #[test]
    fn ragged_rows_and_bad_offsets() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        let rows = Rows::ragged(&values[..], Offsets::I64(&[0, 2, 2, 5])).unwrap();
        assert_eq!(
            collect(&rows),
            vec![vec![1.0, 2.0], vec![], vec![3.0, 4.0, 5.0]]
        );
        assert!(Rows::ragged(&values[..], Offsets::I32(&[0, 3, 2])).is_err());
        assert!(Rows::ragged(&values[..], Offsets::I32(&[0, 6])).is_err());
        assert!(Rows::ragged(&values[..], Offsets::I32(&[-1, 2])).is_err());
        assert!(Rows::ragged(&values[..], Offsets::I32(&[])).is_err());
    }

    #[test]
    fn whole_array_runs_cover_every_element_once() {
        let a = Array3::from_shape_fn((3, 4, 5), |(i, j, k)| (i * 100 + j * 10 + k) as f64);
        let f = a.t().to_owned();
        let row = Array::from_shape_vec(IxDyn(&[5]), (0..5).map(|v| v as f64).collect()).unwrap();
        let views = [
            a.view().into_dyn(),
            a.slice(s![..;-1, .., ..;-2]).into_dyn(),
            f.view().into_dyn(),
            f.t().into_dyn(),
            row.broadcast(IxDyn(&[7, 3, 5])).unwrap(),
        ];
        for v in views {
            let whole = Whole::new(&v);
            let mut got: Vec<f64> = collect(&whole).concat();
            let mut want: Vec<f64> = v.iter().copied().collect();
            got.sort_by(f64::total_cmp);
            want.sort_by(f64::total_cmp);
            assert_eq!(got, want);
        }
        // contiguous in any order: one run
        assert_eq!(Whole::new(&f.view().into_dyn()).n_rows(), 1);
        assert_eq!(
            Whole::new(&a.slice(s![..;-1, ..;-1, ..;-1]).into_dyn()).n_rows(),
            1
        );
    }
}

// ------------------------------------------------------------------------ the engine

/// A short row: the loss engine ([`crate::measures::loss_rows`]) sizes its transposed
/// tiles from it.
pub const SHORT: usize = 64;

/// Rows of at most this many elements share a vertical group only with rows of their own
/// length (ragged rows are the only layout that mixes lengths), so a measure's group
/// form may take a closed form for them: a ragged row then equals the dense row bit for
/// bit (see `plogq::group` for one- and two-element entropy rows; measures with closed
/// forms for longer rows say so in `RowMeasure::own_length_up_to`).
pub const TINY: usize = 2;
/// Rows up to this long are read as vertical groups of [`GROUP`] rows (lane = row), on
/// any layout (ragged rows included, so a row's value does not depend on it). Measured
/// (entropy, 10^7 elements, f32): C = 100 took 39× `np.sum` one row at a time and 13×
/// as vertical groups — the per-row costs (dispatch, constants, horizontal reductions,
/// tails) are shared by sixteen rows, and in the (C, N) layout sixteen rows share each
/// cache line, where one row at a time reads a whole line per element. The lane sums of
/// a group run over up to 256 elements in order (≤ 255u relative for the sums of
/// non-negative terms the measures take).
pub const VERTICAL: usize = 256;
/// Rows up to this long take a measure's two-pass per-row form (a row stays in L2
/// between its passes); longer ones are "long": partials over fixed blocks, in parallel.
pub const MEDIUM: usize = 1 << 15;
/// Elements per chunk of rows handed to one task (rows of one chunk run in order).
const CHUNK_ELEMENTS: usize = 1 << 15;
/// Float64 (C, N) groups of fewer classes than this are filled by whole vectors
/// ([`widen_runs`]), more by the element loop. One thread, both wheels in one process
/// called in turn, minima of eleven calls, 10^7 values along axis 0, element loop →
/// vectors: entropy C = 3 22.5 → 20.7 ms, C = 10 15.8 → 14.4, C = 16 14.7 → 13.0, C = 24
/// 14.7 → 13.2, KL C = 3 40.2 → 37.3, C = 10 36.9 → 33.5; at C = 32 mixed (entropy 15.4
/// → 14.5, KL 39.7 → 43.6), C = 50 cross-entropy 26.9 → 29.3, C = 100 entropy 18.4 → 21.3.
const F64_RUNS_BELOW: usize = 32;

/// A distribution too long for the per-row form: the concatenation of the rows `runs`
/// of `p` and `q` (one row, or the runs of a [`Whole`] array), reduced over fixed blocks.
pub struct Long<'r, 'a, T, U> {
    p: &'r Rows<'a, T>,
    q: &'r Rows<'a, U>,
    runs: Range<usize>,
    len: usize,
    ctx: Ctx<'r>,
}

impl<'r, 'a, T: Real, U: Real> Long<'r, 'a, T, U> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `f` on the first `n` elements (at most [`LEAF`]) of the distribution, gathered into
    /// buffers (a cheap look at the data before choosing a form).
    pub fn head<R>(&self, n: usize, f: impl FnOnce(&[T], &[U]) -> R) -> R {
        let take = n.min(LEAF).min(self.len);
        let mut pbuf = [T::default(); LEAF];
        let mut qbuf = [U::default(); LEAF];
        self.gather_leaf((self.runs.start, 0), &mut pbuf[..take], &mut qbuf[..take]);
        f(&pbuf[..take], &qbuf[..take])
    }

    /// Fills `pbuf` and `qbuf` (one length) with the elements from position `(run, offset)`
    /// on, across runs; returns the position after them.
    fn gather_leaf(
        &self,
        (mut r, mut at): (usize, usize),
        pbuf: &mut [T],
        qbuf: &mut [U],
    ) -> (usize, usize) {
        let take = pbuf.len();
        let mut filled = 0;
        while filled < take {
            let (pr, qr) = (self.p.row(r), self.q.row(r));
            let n = (pr.len() - at).min(take - filled);
            self.p.gather(pr, at..at + n, &mut pbuf[filled..]);
            self.q.gather(qr, at..at + n, &mut qbuf[filled..]);
            filled += n;
            at += n;
            if at == pr.len() {
                r += 1;
                at = 0;
            }
        }
        (r, at)
    }

    /// The same distribution with `p` and `q` swapped (a measure of both directions).
    pub fn swapped(&self) -> Long<'r, 'a, U, T> {
        Long {
            p: self.q,
            q: self.p,
            runs: self.runs.clone(),
            len: self.len,
            ctx: self.ctx,
        }
    }

    /// `f` on every run of the distribution in order, as contiguous slices of `p` and `q`
    /// (a strided run is copied into a buffer first).
    pub fn for_each_run(&self, mut f: impl FnMut(&[T], &[U]))
    where
        T: Default,
        U: Default,
    {
        let (mut pbuf, mut qbuf) = (Vec::new(), Vec::new());
        for r in self.runs.clone() {
            let (pr, qr) = (self.p.row(r), self.q.row(r));
            self.p.with_slice(pr, 0..pr.len(), &mut pbuf, |ps| {
                self.q
                    .with_slice(qr, 0..qr.len(), &mut qbuf, |qs| f(ps, qs))
            });
        }
    }

    /// `f` over blocks of [`super::BLOCK`] elements, combined by the fixed tree of
    /// [`reduce_blocks`], blocks in parallel when the call may fork. A block that is not
    /// one contiguous piece of both inputs is fed to `f` in gathered leaves of
    /// [`LEAF`] elements combined pairwise — for kernels built on
    /// [`crate::kernels::pairwise`] that is the same tree, so the bits do not depend on
    /// the layout.
    pub fn reduce<P: Partial>(&self, f: impl Fn(&[T], &[U]) -> P + Sync) -> P {
        let run_len = |r: usize| self.p.row(r).len();
        let uniform = self.p.uniform_len();
        // the run holding element `e`, and the offset in it
        let locate = |e: usize| -> (usize, usize) {
            match uniform {
                Some(n) if n > 0 => (self.runs.start + e / n, e % n),
                _ => {
                    let (mut r, mut e) = (self.runs.start, e);
                    while e >= run_len(r) {
                        e -= run_len(r);
                        r += 1;
                    }
                    (r, e)
                }
            }
        };
        reduce_blocks(self.len, self.ctx, |range: Range<usize>| {
            let (r, at) = locate(range.start);
            let (pr, qr) = (self.p.row(r), self.q.row(r));
            if at + range.len() <= pr.len() {
                if let (Some(ps), Some(qs)) = (self.p.slice(pr), self.q.slice(qr)) {
                    let piece = at..at + range.len();
                    return f(&ps[piece.clone()], &qs[piece]);
                }
            }
            // gathered leaves
            let mut stack = PairwiseStack::new();
            let mut pbuf = [T::default(); LEAF];
            let mut qbuf = [U::default(); LEAF];
            let mut position = (r, at);
            let mut left = range.len();
            while left > 0 {
                let take = left.min(LEAF);
                position = self.gather_leaf(position, &mut pbuf[..take], &mut qbuf[..take]);
                stack.push(f(&pbuf[..take], &qbuf[..take]));
                left -= take;
            }
            stack.total()
        })
    }
}

/// What a measure computes per row, in the three forms the engine asks for.
pub trait RowMeasure<T, U>: Sync {
    /// Up to [`GROUP`] short rows transposed (`p[c][j]`: element `c` of row `j`, zero
    /// padded): writes `out[j]`, sets `regular[j] = false` for rows the engine must redo
    /// with [`RowMeasure::row`], returns the smallest inputs seen.
    fn group(
        &self,
        p: &[[f64; GROUP]],
        q: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest;
    /// One row as slices: (value, smallest inputs).
    fn row(&self, p: &[T], q: &[U]) -> (f64, Lowest);
    /// One long distribution: (value, smallest inputs).
    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest);
    /// Rows whose elements lie in one of the [`Block`] layouts (`q` is `p` itself where
    /// they are the same values): the values of whole groups of [`GROUP`] rows computed
    /// straight from memory into `out` (one per row), stopping before the first group
    /// holding a row the measure leaves to its row form. Returns (rows done, a multiple
    /// of [`GROUP`]; their smallest inputs), or None where the measure has no such form
    /// for `len` (the engine then fills groups as usual). The values must equal the group
    /// form's bit for bit: a row's value may not depend on its layout.
    fn adjacent(
        &self,
        _p: Block<'_, T>,
        _q: Block<'_, U>,
        _len: usize,
        _out: &mut [f64],
    ) -> Option<(usize, Lowest)> {
        None
    }
    /// Whether a row's group value is unchanged by zeros after its end (probabilities:
    /// yes; logits: no — such a measure's groups hold rows of one length only).
    fn pads(&self) -> bool {
        true
    }
    /// Rows up to this long (at most [`VERTICAL`]) take the group form, longer ones the row
    /// form — in every layout, so a row's value does not depend on it.
    fn vertical(&self) -> usize {
        VERTICAL
    }
    /// Rows up to this long share a vertical group only with rows of their own length
    /// (ragged rows are the only layout that mixes lengths): [`TINY`], or more for a
    /// measure whose group form changes with the tile's length from some length on (a
    /// fast form for longer rows) — one below that length, so a shorter row never rides
    /// in a longer row's tile and its value does not depend on its neighbours.
    fn own_length_up_to(&self) -> usize {
        TINY
    }
}

/// Transposes up to [`GROUP`] rows into `buf[c][j]`, widened to f64, zero-padded to the
/// longest (lanes without a row are all zeros); returns that length. Every slot is
/// written once: a row's values, then zeros below the longest row (rows grouped by
/// length pad little), so no pass zeroes the whole buffer first.
fn transpose<T: Real>(rows: &Rows<'_, T>, group: &[Row], buf: &mut Vec<[f64; GROUP]>) -> usize {
    let steps = group.iter().map(|r| r.len()).max().unwrap_or(0);
    // the length `steps`; every slot kept is overwritten below
    buf.resize(steps, [0.0; GROUP]);
    let buf = &mut buf[..steps];
    for (j, &row) in group.iter().enumerate() {
        let len = row.len();
        let (filled, tail) = buf.split_at_mut(len);
        match rows.slice(row) {
            Some(values) => {
                for (slot, &v) in filled.iter_mut().zip(values) {
                    slot[j] = v.to_f64();
                }
            }
            None => {
                let mut tmp = [T::default(); VERTICAL];
                rows.gather(row, 0..len, &mut tmp);
                for (slot, &v) in filled.iter_mut().zip(&tmp[..len]) {
                    slot[j] = v.to_f64();
                }
            }
        }
        for slot in tail {
            slot[j] = 0.0;
        }
    }
    let n = group.len();
    if n < GROUP {
        for slot in buf.iter_mut() {
            slot[n..].fill(0.0);
        }
    }
    steps
}

/// Buffers reused across the rows of one chunk.
#[derive(Default)]
struct Scratch<T, U> {
    pt: Vec<[f64; GROUP]>,
    qt: Vec<[f64; GROUP]>,
    pbuf: Vec<T>,
    qbuf: Vec<U>,
}

/// One vertical group of short rows (see [`RowMeasure::group`]); rows the measure calls
/// irregular are redone with [`RowMeasure::row`].
fn group_rows<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    rows: &[(Row, Row)],
    same: bool,
    s: &mut Scratch<T, U>,
    out: &mut [f64],
) -> Lowest {
    let prows: [Row; GROUP] =
        std::array::from_fn(|j| rows.get(j).map_or(Row { base: 0, len: 0 }, |r| r.0));
    let qrows: [Row; GROUP] =
        std::array::from_fn(|j| rows.get(j).map_or(Row { base: 0, len: 0 }, |r| r.1));
    let n = rows.len();
    transpose(p, &prows[..n], &mut s.pt);
    if !same {
        transpose(q, &qrows[..n], &mut s.qt);
    }
    let qt: &[[f64; GROUP]] = if same { &s.pt } else { &s.qt };
    let mut regular = [true; GROUP];
    let mut min = m.group(&s.pt, qt, out, &mut regular[..n]);
    if all_regular(&regular) {
        return min;
    }
    for (j, &(pr, qr)) in rows.iter().enumerate() {
        if !regular[j] {
            let (v, lo) = p.with_slice(pr, 0..pr.len(), &mut s.pbuf, |ps| {
                q.with_slice(qr, 0..qr.len(), &mut s.qbuf, |qs| m.row(ps, qs))
            });
            out[j] = v;
            min = min.min(lo);
        }
    }
    min
}

/// Whether a group's kernel left every lane regular (the usual case; lanes past the
/// group's rows stay `true`): a branch-free fold the compiler turns into one vector test,
/// instead of a test and branch per lane (that loop was ~5% of (5·10^6, 2) float32
/// entropy, `perf`).
#[inline(always)]
fn all_regular(regular: &[bool; GROUP]) -> bool {
    regular.iter().fold(true, |all, &r| all & r)
}

/// Computes `m` for every row of `p` and `q` (rows of equal lengths), writing `out[r]`;
/// returns the smallest inputs seen (negative: the caller reports an error). Rows
/// are cut into fixed chunks run in parallel when `ctx.fork`; a row's value depends only
/// on the row, never on the chunking, the thread count or its neighbours.
pub fn map_rows<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    ctx: Ctx<'_>,
    out: impl Slots,
) -> Lowest {
    map_rows_then(p, q, m, ctx, out, Finish::Keep)
}

/// [`map_rows`], each chunk of values then mapped by `finish` on its thread.
pub fn map_rows_then<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    ctx: Ctx<'_>,
    out: impl Slots,
    finish: Finish,
) -> Lowest {
    assert!(p.same_rows(q) && out.len() == p.n_rows());
    let same = p.reads_same_values(q);
    let rows_per_chunk = match p.uniform_len() {
        Some(n) if n > MEDIUM => 1,
        Some(n) => (CHUNK_ELEMENTS / n.max(1)).div_ceil(GROUP).max(1) * GROUP,
        None => 1024,
    };
    if let (Shape::Ragged { .. }, Shape::Ragged { .. }) = (&p.shape, &q.shape) {
        return map_ragged(p, q, m, ctx, out, same, finish);
    }
    if let (Some(len), Some((_, pe)), Some((_, qe))) = (p.uniform_len(), p.regular(), q.regular()) {
        if len <= m.vertical() {
            return map_short_regular(p, q, m, ctx, out, len, same, rows_per_chunk, finish);
        }
        if len <= MEDIUM && (pe != 1 || qe != 1) {
            return map_strided_medium(p, q, m, ctx, out, len, same, rows_per_chunk, finish);
        }
    }
    let chunk = |first: usize, out: &mut [f64]| -> Lowest {
        let mut rows: Vec<(Row, Row)> = Vec::with_capacity(out.len());
        q.for_rows(first..first + out.len(), |_, qr| {
            rows.push((Row { base: 0, len: 0 }, qr))
        });
        p.for_rows(first..first + out.len(), |r, pr| rows[r - first].0 = pr);
        let mut s = Scratch::default();
        let mut min = Lowest::NONE;
        let mut start = 0;
        while start < rows.len() {
            if ctx.stopped() {
                break;
            }
            let n = rows[start].0.len();
            if n > m.vertical() {
                let (v, lo) = one_row(p, q, m, ctx, first + start, rows[start], &mut s);
                out[start] = v;
                min = min.min(lo);
                start += 1;
                continue;
            }
            // the next run of at most GROUP short rows
            let mut end = start;
            while end < rows.len() && end - start < GROUP && rows[end].0.len() <= m.vertical() {
                end += 1;
            }
            let lo = group_rows(
                p,
                q,
                m,
                &rows[start..end],
                same,
                &mut s,
                &mut out[start..end],
            );
            min = min.min(lo);
            start = end;
        }
        min
    };
    out.map_chunks(
        ctx.fork,
        rows_per_chunk,
        Lowest::NONE,
        Lowest::min,
        |i, o| {
            let lowest = chunk(i * rows_per_chunk, o);
            finish.apply(o);
            lowest
        },
    )
}

/// Row `r` (longer than [`VERTICAL`]) on its own: the per-row form, or the long form.
fn one_row<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    ctx: Ctx<'_>,
    r: usize,
    (pr, qr): (Row, Row),
    s: &mut Scratch<T, U>,
) -> (f64, Lowest) {
    let n = pr.len();
    if n <= MEDIUM {
        p.with_slice(pr, 0..n, &mut s.pbuf, |ps| {
            q.with_slice(qr, 0..n, &mut s.qbuf, |qs| m.row(ps, qs))
        })
    } else {
        m.long(&Long {
            p,
            q,
            runs: r..r + 1,
            len: n,
            ctx,
        })
    }
}

/// Calls `f(r, row)` for the ragged rows `range` of `offsets`, in order.
#[inline(always)]
fn ragged_walk<O: OffsetInt>(offsets: &[O], range: Range<usize>, mut f: impl FnMut(usize, Row)) {
    if range.is_empty() {
        return;
    }
    for (i, w) in offsets[range.start..range.end + 1].windows(2).enumerate() {
        let (a, b) = (w[0].at(), w[1].at());
        f(
            range.start + i,
            Row {
                base: a as isize,
                len: b - a,
            },
        );
    }
}

/// A ragged row's offsets of either integer type, widened.
trait OffsetInt: Copy + Sync {
    fn at(self) -> usize;
}

impl OffsetInt for i32 {
    #[inline(always)]
    fn at(self) -> usize {
        // validated non-negative (a `Rows` is made from checked offsets)
        self as usize
    }
}

impl OffsetInt for i64 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}

/// [`map_rows`] for ragged rows (CSR offsets). Each chunk of rows is walked twice: once
/// to compute the long rows one at a time and count the short ones by length, once to
/// list the short ones in order of length (a counting sort), so that a group of
/// [`GROUP`] rows is padded to little more than its rows' lengths — taken in row order, a
/// group of rows of lengths 1 … 19 would be padded to about 18, nearly twice the work.
/// Groups are then filled straight from the values and the offsets (no row list, no
/// per-row bookkeeping). The lanes of a group never interact (a row's value is the same
/// in any group, with any zero padding), so the order changes no value; the smallest
/// inputs are a min, in any order. A measure whose rows cannot be padded
/// ([`RowMeasure::pads`] false: logits) gets groups of one length only.
/// Tried and left out (2026-12-08): one walk binning the short rows by length, a bin's
/// sixteen rows computed as soon as it fills (the rest grouped at the chunk's end), so no
/// counting sort and the values read nearly in order. Same bits; the values, first read
/// when a bin fills, then wait on memory (29.9 ms against 17.3 for ragged float64 entropy
/// over 10^6 rows of 5–15, one thread), and with the values asked for 1–8 KiB ahead of
/// the walk (L1 or L2 hint) it was still 6–26% slower than this form in `benches/ab.py`
/// (both orders; entropy, KL, cross-entropy, float64 and float32): the walk's per-row
/// bookkeeping cost more than the two counting passes it replaced. Also left out: whole
/// groups of one float32 length handed to `RowMeasure::adjacent` (float32 tiles, as the
/// dense rows take them; a `Block` of rows listed by their starts): same bits, but the
/// general float32 transpose of sixteen scattered rows cost more than the kernel time it
/// saved (none: `perf`, KL float32, one thread, kernel 2584 → 2583 samples, fill 1426 →
/// 3472), 1.2–1.5× slower for entropy, KL, cross-entropy and JS float32.
fn map_ragged<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    ctx: Ctx<'_>,
    out: impl Slots,
    same: bool,
    finish: Finish,
) -> Lowest {
    let (Shape::Ragged { offsets: po }, Shape::Ragged { offsets: qo }) = (&p.shape, &q.shape)
    else {
        unreachable!("ragged rows")
    };
    match (*po, *qo) {
        (Offsets::I32(a), Offsets::I32(b)) => ragged_typed(p, q, a, b, m, ctx, out, same, finish),
        (Offsets::I64(a), Offsets::I64(b)) => ragged_typed(p, q, a, b, m, ctx, out, same, finish),
        (Offsets::I32(a), Offsets::I64(b)) => ragged_typed(p, q, a, b, m, ctx, out, same, finish),
        (Offsets::I64(a), Offsets::I32(b)) => ragged_typed(p, q, a, b, m, ctx, out, same, finish),
    }
}

/// Writes `src` (widened) into lane `j` of `buf[..src.len()]` and zeros into lane `j` of
/// the rest of `buf`.
#[inline(always)]
fn fill_lane<T: Real>(src: &[T], buf: &mut [[f64; GROUP]], j: usize) {
    assert!(j < GROUP && src.len() <= buf.len());
    let (filled, tail) = buf.split_at_mut(src.len());
    for (slot, &v) in filled.iter_mut().zip(src) {
        slot[j] = v.to_f64();
    }
    for slot in tail {
        slot[j] = 0.0;
    }
}

#[allow(clippy::too_many_arguments)]
fn ragged_typed<T: Real, U: Real, M: RowMeasure<T, U>, A: OffsetInt, B: OffsetInt>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    po: &[A],
    qo: &[B],
    m: &M,
    ctx: Ctx<'_>,
    out: impl Slots,
    same: bool,
    finish: Finish,
) -> Lowest {
    assert!(po.len() == out.len() + 1 && qo.len() == po.len());
    let prow = |r: usize| -> Row {
        let (a, b) = (po[r].at(), po[r + 1].at());
        Row {
            base: a as isize,
            len: b - a,
        }
    };
    let qrow = |r: usize| -> Row {
        let (a, b) = (qo[r].at(), qo[r + 1].at());
        Row {
            base: a as isize,
            len: b - a,
        }
    };
    let (p_values, q_values) = (
        p.ragged_values().expect("ragged rows"),
        q.ragged_values().expect("ragged rows"),
    );
    let slice_p = |row: Row| p.slice(row).expect("ragged rows are adjacent");
    let slice_q = |row: Row| q.slice(row).expect("ragged rows are adjacent");
    let pads = m.pads();
    let rows = out.len();
    // p and q share one offsets array (the usual case): q's rows start where p's do
    let same_offsets = std::mem::size_of::<A>() == std::mem::size_of::<B>()
        && std::ptr::eq(po.as_ptr().cast::<u8>(), qo.as_ptr().cast::<u8>());
    let chunk = |first: usize, out: &mut [f64]| -> Lowest {
        let n = out.len();
        let mut min = Lowest::NONE;
        let mut s = Scratch::<T, U>::default();
        // counts[len + 1]: short rows of length len; then (prefix sums) counts[len] is
        // where they begin in `order`
        let mut counts = [0u32; VERTICAL + 2];
        let mut longest = 0;
        for (i, slot) in out.iter_mut().enumerate() {
            let r = first + i;
            let len = po[r + 1].at() - po[r].at();
            if len <= m.vertical() {
                counts[len + 1] += 1;
                longest = longest.max(len);
            } else {
                if ctx.stopped() {
                    return min;
                }
                let (v, lo) = one_row(p, q, m, ctx, r, (prow(r), qrow(r)), &mut s);
                *slot = v;
                min = min.min(lo);
            }
        }
        for len in 1..=longest + 1 {
            counts[len] += counts[len - 1];
        }
        // `order[k]`: the chunk's row in slot k, `p_at[k]` / `q_at[k]` where its values
        // start; afterwards `counts[len]` is the end of the slots of length `len`, so a
        // slot's length is known from the runs, without its offsets again.
        let slots = counts[longest + 1] as usize;
        let mut order = vec![0u32; slots];
        let mut p_at = vec![0usize; slots];
        let mut q_at = vec![0usize; if same_offsets { 0 } else { slots }];
        for i in 0..n {
            let r = first + i;
            let at = po[r].at();
            let len = po[r + 1].at() - at;
            if len <= m.vertical() {
                let k = counts[len] as usize;
                order[k] = i as u32;
                p_at[k] = at;
                if !same_offsets {
                    q_at[k] = qo[r].at();
                }
                counts[len] += 1;
            }
        }
        let q_at = if same_offsets { &p_at } else { &q_at };
        // the length of the rows in slot `k` (≥ `from`, the length of an earlier slot)
        let len_at = |k: usize, from: usize| -> usize {
            let mut len = from;
            while counts[len] as usize <= k {
                len += 1;
            }
            len
        };
        let mut run_len = 0;
        let mut pt = vec![[0.0; GROUP]; longest];
        let mut qt = vec![[0.0; GROUP]; if same { 0 } else { longest }];
        let mut values = [0.0f64; GROUP];
        // The groups read this chunk's rows out of order, where the hardware prefetcher
        // cannot follow: the values of the next chunk (usually this thread's next) are
        // requested a few cache lines per group, sequentially, so they arrive while this
        // chunk computes.
        let (next, next_end) = (first + n, (first + 2 * n).min(rows));
        let groups = order.len() / GROUP + 1;
        let mut p_ahead = p.look_ahead(next..next_end, groups);
        let mut q_ahead = q.look_ahead(if same { 0..0 } else { next..next_end }, groups);
        // offsets per cache line (a group reads sixteen rows: sixteen offsets ahead)
        let o_per_line = (64 / std::mem::size_of::<A>()).max(1);
        // ask about interrupts every ~4096 elements
        let mut since = 0usize;
        let mut start = 0;
        while start < order.len() {
            if next < next_end {
                // and the next chunk's offsets
                for o in (next + start..next + start + GROUP).step_by(o_per_line) {
                    let o = o.min(next_end);
                    crate::simd::prefetch(po.as_ptr().wrapping_add(o));
                    if !same {
                        crate::simd::prefetch(qo.as_ptr().wrapping_add(o));
                    }
                }
            }
            p.prefetch_step(&mut p_ahead);
            q.prefetch_step(&mut q_ahead);
            run_len = len_at(start, run_len);
            let l0 = run_len;
            let mut end = (start + GROUP).min(order.len());
            if !pads || l0 <= m.own_length_up_to() {
                end = end.min(counts[l0] as usize);
            }
            let members = &order[start..end];
            let steps = len_at(end - 1, l0);
            since += GROUP * steps.max(1);
            if since >= 4096 {
                since = 0;
                if ctx.stopped() {
                    break;
                }
            }
            let k = members.len();
            if k == GROUP && l0 == steps {
                // sixteen rows of one length (the common case once sorted)
                // the slots' starts in place: a copy's sixteen fresh stores would hold up
                // the fill's vector loads of them (no store forwarding), 16% of the fill
                let slots = start..start + GROUP;
                let p_starts: &[usize; GROUP] = p_at[slots.clone()].try_into().expect("16");
                widen_rows_at(p_values, p_starts, &mut pt[..steps]);
                if !same {
                    let q_starts: &[usize; GROUP] = q_at[slots].try_into().expect("16");
                    widen_rows_at(q_values, q_starts, &mut qt[..steps]);
                }
            } else {
                for (j, &i) in members.iter().enumerate() {
                    let r = first + i as usize;
                    fill_lane(slice_p(prow(r)), &mut pt[..steps], j);
                    if !same {
                        fill_lane(slice_q(qrow(r)), &mut qt[..steps], j);
                    }
                }
            }
            if k < GROUP {
                for slot in &mut pt[..steps] {
                    slot[k..].fill(0.0);
                }
                for slot in qt.iter_mut().take(steps) {
                    slot[k..].fill(0.0);
                }
            }
            let qref = if same { &pt[..steps] } else { &qt[..steps] };
            let mut regular = [true; GROUP];
            min = min.min(m.group(&pt[..steps], qref, &mut values[..k], &mut regular[..k]));
            for (j, &i) in members.iter().enumerate() {
                let i = i as usize;
                if regular[j] {
                    out[i] = values[j];
                } else {
                    let r = first + i;
                    let (v, lo) = m.row(slice_p(prow(r)), slice_q(qrow(r)));
                    out[i] = v;
                    min = min.min(lo);
                }
            }
            start = end;
        }
        min
    };
    // rows per task: about CHUNK_ELEMENTS values at the mean row length
    let elements = po.last().map_or(0, |e| e.at()) - po.first().map_or(0, |e| e.at());
    let mean = elements.div_ceil(rows.max(1)).max(1);
    let rows_per_chunk = (CHUNK_ELEMENTS / mean).div_ceil(GROUP).clamp(1, 1 << 12) * GROUP;
    out.map_chunks(
        ctx.fork,
        rows_per_chunk,
        Lowest::NONE,
        Lowest::min,
        |i, o| {
            let lowest = chunk(i * rows_per_chunk, o);
            finish.apply(o);
            lowest
        },
    )
}

/// [`map_rows`] for rows of one length up to [`VERTICAL`] on regular layouts (the common
/// (N, C) and (C, N) arrays): groups are filled straight from the arrays, no row list is
/// built.
#[allow(clippy::too_many_arguments)]
fn map_short_regular<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    ctx: Ctx<'_>,
    out: impl Slots,
    len: usize,
    same: bool,
    rows_per_chunk: usize,
    finish: Finish,
) -> Lowest {
    let chunk = |first: usize, out: &mut [f64]| -> Lowest {
        with_group_buffers(len, |pt, qt| {
            short_regular_chunk(p, q, m, ctx, first, out, len, same, pt, qt)
        })
    };
    out.map_chunks(
        ctx.fork,
        rows_per_chunk,
        Lowest::NONE,
        Lowest::min,
        |i, o| {
            let lowest = chunk(i * rows_per_chunk, o);
            finish.apply(o);
            lowest
        },
    )
}

/// One chunk of [`map_short_regular`]: rows `first..first + out.len()`, sixteen at a time
/// through the transposition buffers `pt` and `qt` (`len` rows each).
#[allow(clippy::too_many_arguments)]
fn short_regular_chunk<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    ctx: Ctx<'_>,
    first: usize,
    out: &mut [f64],
    len: usize,
    same: bool,
    pt: &mut [[f64; GROUP]],
    qt: &mut [[f64; GROUP]],
) -> Lowest {
    let mut min = Lowest::NONE;
    let mut pbuf: Vec<T> = Vec::new();
    let mut qbuf: Vec<U> = Vec::new();
    // ask about interrupts every ~4096 elements, not every group of tiny rows
    let every = (4096 / (GROUP * len.max(1))).max(1);
    // whole groups of rows stored back to back go straight from memory where the measure
    // can (`RowMeasure::adjacent`); a group it stops at takes the filled form below
    let rows = out.len();
    let whole = rows / GROUP * GROUP;
    let mut blocks = match (p.block(first, whole), q.block(first, whole)) {
        (Some(pb), Some(qb)) if whole > 0 => Some((pb, qb)),
        _ => None,
    };
    let mut g = 0;
    while g * GROUP < rows {
        if g % every == 0 && ctx.stopped() {
            break;
        }
        if let (Some((pb, qb)), true) = (blocks, g * GROUP < whole) {
            let at = g * GROUP;
            let (pb, qb) = (pb.skip_rows(at, len), qb.skip_rows(at, len));
            match m.adjacent(pb, qb, len, &mut out[at..whole]) {
                None => blocks = None,
                Some((done, lo)) => {
                    min = min.min(lo);
                    g += done / GROUP;
                    if at + done == whole {
                        continue;
                    }
                }
            }
        }
        let start = first + g * GROUP;
        let out = &mut out[g * GROUP..rows.min(g * GROUP + GROUP)];
        let n = out.len();
        p.fill_group(start, n, len, pt);
        if !same {
            q.fill_group(start, n, len, qt);
        }
        let qref: &[[f64; GROUP]] = if same { pt } else { qt };
        let mut regular = [true; GROUP];
        min = min.min(m.group(&pt[..len], &qref[..len], out, &mut regular[..n]));
        g += 1;
        if all_regular(&regular) {
            continue;
        }
        for j in (0..n).filter(|&j| !regular[j]) {
            let (pr, qr) = (p.row(start + j), q.row(start + j));
            let (v, lo) = p.with_slice(pr, 0..len, &mut pbuf, |ps| {
                q.with_slice(qr, 0..len, &mut qbuf, |qs| m.row(ps, qs))
            });
            out[j] = v;
            min = min.min(lo);
        }
    }
    min
}

/// A transposition buffer: `buf[element][lane]` for a group of short rows.
type GroupBuffer = Vec<[f64; GROUP]>;

thread_local! {
    /// This thread's transposition buffers for groups of short rows, kept between calls:
    /// allocating them per call took a tenth of a 10-element call (the allocator
    /// consolidates its free lists for every request of a kilobyte or more).
    static GROUP_BUFFERS: std::cell::Cell<(GroupBuffer, GroupBuffer)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with two transposition buffers of `len` rows from this thread's pool. Their
/// contents are stale: [`Rows::fill_group`] writes every lane a kernel reads.
fn with_group_buffers<R>(
    len: usize,
    f: impl FnOnce(&mut [[f64; GROUP]], &mut [[f64; GROUP]]) -> R,
) -> R {
    let (mut pt, mut qt) = GROUP_BUFFERS.take();
    for buf in [&mut pt, &mut qt] {
        if buf.len() < len {
            buf.resize(len, [0.0; GROUP]);
        }
    }
    let result = f(&mut pt[..len], &mut qt[..len]);
    GROUP_BUFFERS.set((pt, qt));
    result
}

/// [`map_rows`] for rows of one medium length whose elements are not adjacent (the
/// (C, N) array read along axis 0): sixteen rows at a time are copied out together
/// ([`Rows::gather_rows`]) and each takes the measure's per-row form — the same values,
/// bit for bit, as one row gathered at a time, from a fraction of the memory traffic.
#[allow(clippy::too_many_arguments)]
fn map_strided_medium<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    ctx: Ctx<'_>,
    out: impl Slots,
    len: usize,
    same: bool,
    rows_per_chunk: usize,
    finish: Finish,
) -> Lowest {
    let chunk = |first: usize, out: &mut [f64]| -> Lowest {
        let mut min = Lowest::NONE;
        let mut pbuf: Vec<T> = Vec::new();
        let mut qbuf: Vec<U> = Vec::new();
        for (g, out) in out.chunks_mut(GROUP).enumerate() {
            if ctx.stopped() {
                break;
            }
            let start = first + g * GROUP;
            let n = out.len();
            p.gather_rows(start, n, len, &mut pbuf);
            // one input read as both (entropy): its copy serves as q's
            let same_buf = (&pbuf as &dyn std::any::Any).downcast_ref::<Vec<U>>();
            let qs: &[U] = match same_buf {
                Some(buf) if same => buf,
                _ => {
                    q.gather_rows(start, n, len, &mut qbuf);
                    &qbuf
                }
            };
            for (j, slot) in out.iter_mut().enumerate() {
                let piece = j * len..(j + 1) * len;
                let (v, lo) = m.row(&pbuf[piece.clone()], &qs[piece]);
                *slot = v;
                min = min.min(lo);
            }
        }
        min
    };
    out.map_chunks(
        ctx.fork,
        rows_per_chunk,
        Lowest::NONE,
        Lowest::min,
        |i, o| {
            let lowest = chunk(i * rows_per_chunk, o);
            finish.apply(o);
            lowest
        },
    )
}

/// One row of at most [`VERTICAL`] elements by the measure's group form (lane 0), as
/// [`map_rows`] computes every row of that length; rows it leaves take the row form.
fn one_in_group<T: Real, U: Real, M: RowMeasure<T, U>>(m: &M, p: &[T], q: &[U]) -> (f64, Lowest) {
    let len = p.len().min(q.len());
    let mut pt = vec![[0.0; GROUP]; len];
    let mut qt = vec![[0.0; GROUP]; len];
    for c in 0..len {
        pt[c][0] = p[c].to_f64();
        qt[c][0] = q[c].to_f64();
    }
    let same = std::ptr::eq(p.as_ptr().cast::<u8>(), q.as_ptr().cast::<u8>())
        && std::mem::size_of::<T>() == std::mem::size_of::<U>();
    let mut out = [0.0];
    let mut regular = [true];
    let lo = m.group(&pt, if same { &pt } else { &qt }, &mut out, &mut regular);
    if regular[0] {
        (out[0], lo)
    } else {
        m.row(p, q)
    }
}

/// Computes `m` over the whole of `p` and `q` (equal shapes, any strides) as one
/// distribution (`axis=None`). Up to [`MEDIUM`] elements are gathered in C order into a
/// buffer and take the per-row form, so the value does not depend on the layout at all;
/// larger arrays are read in place in memory order (the runs of [`Whole::pair`]), which
/// changes only the order of the additions.
pub fn map_whole<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &ArrayViewD<'_, T>,
    q: &ArrayViewD<'_, U>,
    m: &M,
    ctx: Ctx<'_>,
) -> (f64, Lowest) {
    let len = p.len();
    if len <= MEDIUM {
        let ps: Vec<T> = p.iter().copied().collect();
        let qs: Vec<U> = q.iter().copied().collect();
        if len <= m.vertical() {
            // as every row of this length is computed (a vertical group), so the whole
            // array gives the bits of its flattened copy
            return one_in_group(m, &ps, &qs);
        }
        return m.row(&ps, &qs);
    }
    let (pr, qr) = Whole::pair(p, q);
    m.long(&Long {
        p: &pr,
        q: &qr,
        runs: 0..pr.n_rows(),
        len,
        ctx,
    })
}

#[cfg(test)]
mod by_length_tests {
    use super::{Offsets, RowMeasure, Rows};
    use crate::kernels::Real;
    use crate::measures::per_row;
    use crate::measures::{cross_entropy, entropy, js, kl, Options};
    use ndarray::{ArrayD, IxDyn};

    /// Rows of a few lengths (5 … 15, with empty, one-element and long rows among them),
    /// many per chunk, so that most groups hold sixteen rows of one length (filled by the
    /// register transposes) and a few mix lengths: every row equals the row alone as a
    /// dense (1, len) array, bitwise — with p's offsets int32 and q's int64 at other
    /// positions (q's values after three others), and sharing p's; f64 and f32.
    #[test]
    fn whole_groups_and_rows_left_equal_each_row_alone() {
        let mut lengths = Vec::new();
        let mut state = 777u64;
        for r in 0..30_000usize {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lengths.push(match r {
                _ if r % 997 == 5 => 300,
                _ if r % 613 == 7 => 0,
                _ if r % 401 == 3 => 1,
                _ => 5 + ((state >> 33) % 11) as usize,
            });
        }
        let mut p_offsets = vec![0i32];
        for &l in &lengths {
            p_offsets.push(p_offsets.last().unwrap() + l as i32);
        }
        let n = *p_offsets.last().unwrap() as usize;
        let q_offsets: Vec<i64> = p_offsets.iter().map(|&o| o as i64 + 3).collect();
        let mut p = crate::kernels::adversarial::positive(n, 11);
        for i in (0..n).step_by(89) {
            p[i] = 0.0;
        }
        let mut q = vec![0.5, 0.25, 0.125];
        q.extend(crate::kernels::adversarial::positive(n, 12));
        let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
        let q32: Vec<f32> = q.iter().map(|&v| v as f32).collect();
        let opts = Options::default();
        let (po, qo) = (Offsets::I32(&p_offsets), Offsets::I64(&q_offsets));
        // p's rows with p_offsets against q's with q_offsets, by the measure `m`
        fn ragged_pair<T: Real, M: RowMeasure<T, T>>(
            (p, q): (&[T], &[T]),
            (po, qo): (Offsets<'_>, Offsets<'_>),
            m: &M,
        ) -> Vec<f64> {
            let (pr, qr) = (Rows::ragged(p, po).unwrap(), Rows::ragged(q, qo).unwrap());
            per_row(&pr, &qr, m, p.len(), &Options::default(), "q").unwrap()
        }
        let d = ragged_pair((&p, &q), (po, qo), &kl::Divergence { normalize: true });
        let j = ragged_pair(
            (&p32, &q32),
            (po, qo),
            &js::JensenShannon { normalize: true },
        );
        let c32 = ragged_pair(
            (&p32, &q32),
            (po, qo),
            &cross_entropy::CrossEntropy { normalize: true },
        );
        // p and q sharing p's offsets
        let d32 = kl::kl_divergence_ragged(&p32, &q32[3..], po, &opts).unwrap();
        let h = entropy::entropy_ragged(&p, po, &opts).unwrap();
        let h32 = entropy::entropy_ragged(&p32, po, &opts).unwrap();
        fn dense<T: Clone>(x: &[T], a: usize, b: usize) -> ArrayD<T> {
            ArrayD::from_shape_vec(IxDyn(&[1, b - a]), x[a..b].to_vec()).unwrap()
        }
        for (r, w) in p_offsets.windows(2).enumerate() {
            let (a, b) = (w[0] as usize, w[1] as usize);
            let same = |got: f64, want: f64, what: &str| {
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{what} row {r} (length {}): {got} != {want}",
                    b - a
                )
            };
            let (pr, qr) = (dense(&p, a, b), dense(&q, a + 3, b + 3));
            let (pr32, qr32) = (dense(&p32, a, b), dense(&q32, a + 3, b + 3));
            let want = kl::kl_divergence(pr.view(), qr.view(), &opts).unwrap()[[0]];
            same(d[r], want, "kl");
            let want = js::js_divergence(pr32.view(), qr32.view(), &opts).unwrap()[[0]];
            same(j[r], want, "js f32");
            let want = cross_entropy::cross_entropy(pr32.view(), qr32.view(), &opts).unwrap()[[0]];
            same(c32[r], want, "cross-entropy f32");
            let want = kl::kl_divergence(pr32.view(), qr32.view(), &opts).unwrap()[[0]];
            same(d32[r], want, "kl f32");
            same(
                h[r],
                entropy::entropy(pr.view(), &opts).unwrap()[[0]],
                "entropy",
            );
            let want = entropy::entropy(pr32.view(), &opts).unwrap()[[0]];
            same(h32[r], want, "entropy f32");
        }
    }

    /// Ragged rows of lengths 0 … 70 in an irregular order (short rows grouped by length,
    /// long ones alone) give bitwise the value of each row computed on its own as a dense
    /// (1, len) array — with zeros, a NaN and a huge value among them, f64 and f32 (and
    /// float32 pairs, whose fast forms decide by row length).
    #[test]
    fn ragged_rows_grouped_by_length_equal_each_row_alone() {
        let mut lengths = Vec::new();
        let mut state = 12345u64;
        for _ in 0..5000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lengths.push(((state >> 33) % 71) as usize);
        }
        let mut offsets = vec![0i64];
        for &l in &lengths {
            offsets.push(offsets.last().unwrap() + l as i64);
        }
        let n = *offsets.last().unwrap() as usize;
        let mut p = crate::kernels::adversarial::positive(n, 7);
        let q = crate::kernels::adversarial::positive(n, 8);
        for i in (0..n).step_by(97) {
            p[i] = 0.0;
        }
        p[n / 2] = f64::NAN;
        p[n / 3] = 1e300;
        let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
        let q32: Vec<f32> = q.iter().map(|&v| v as f32).collect();
        let o = Offsets::I64(&offsets);
        for opts in [
            Options::default(),
            Options {
                normalize: false,
                base: Some(2.0),
            },
        ] {
            let h = entropy::entropy_ragged(&p, o, &opts).unwrap();
            let h32 = entropy::entropy_ragged(&p32, o, &opts).unwrap();
            let d = kl::kl_divergence_ragged(&p, &q, o, &opts).unwrap();
            let c = cross_entropy::cross_entropy_ragged(&p32, &q, o, &opts).unwrap();
            let j = js::js_divergence_ragged(&p, &q, o, &opts).unwrap();
            // float32 pairs (their own fast and closed forms)
            let d32 = kl::kl_divergence_ragged(&p32, &q32, o, &opts).unwrap();
            let c32 = cross_entropy::cross_entropy_ragged(&p32, &q32, o, &opts).unwrap();
            let j32 = js::js_divergence_ragged(&p32, &q32, o, &opts).unwrap();
            for (r, w) in offsets.windows(2).enumerate() {
                let (a, b) = (w[0] as usize, w[1] as usize);
                // row r alone as a dense (1, len) array, of either element type
                fn dense<T: Clone>(x: &[T], a: usize, b: usize) -> ArrayD<T> {
                    ArrayD::from_shape_vec(IxDyn(&[1, b - a]), x[a..b].to_vec()).unwrap()
                }
                let (pr32, qr32) = (dense(&p32, a, b), dense(&q32, a, b));
                let (pr, qr) = (dense(&p, a, b), dense(&q, a, b));
                let same = |got: f64, want: f64, what: &str| {
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "{what} row {r} (length {}): {got} != {want}",
                        b - a
                    )
                };
                same(
                    h[r],
                    entropy::entropy(pr.view(), &opts).unwrap()[[0]],
                    "entropy",
                );
                same(
                    h32[r],
                    entropy::entropy(pr32.view(), &opts).unwrap()[[0]],
                    "entropy f32",
                );
                same(
                    d32[r],
                    kl::kl_divergence(pr32.view(), qr32.view(), &opts).unwrap()[[0]],
                    "kl f32",
                );
                same(
                    c32[r],
                    cross_entropy::cross_entropy(pr32.view(), qr32.view(), &opts).unwrap()[[0]],
                    "cross-entropy f32",
                );
                same(
                    j32[r],
                    js::js_divergence(pr32.view(), qr32.view(), &opts).unwrap()[[0]],
                    "js f32",
                );
                same(
                    d[r],
                    kl::kl_divergence(pr.view(), qr.view(), &opts).unwrap()[[0]],
                    "kl",
                );
                let ce = cross_entropy::cross_entropy(pr32.view(), qr.view(), &opts).unwrap()[[0]];
                same(c[r], ce, "cross-entropy");
                same(
                    j[r],
                    js::js_divergence(pr.view(), qr.view(), &opts).unwrap()[[0]],
                    "js",
                );
            }
        }
    }
}
