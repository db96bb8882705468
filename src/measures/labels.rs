//! Class-index targets of the loss family: the integer element types read without a
//! converted copy, and the (rows, classes) view of a batch that the row loops run over.

use ndarray::{ArrayView1, ArrayView2, ArrayViewD, Axis, Ix1, Ix2};

/// An integer element type of class-index targets, read as its true value. (uint64 is not
/// one: values above 2^63 − 1 have no i64; the Python layer converts that dtype.)
pub trait Label: Copy + Default + Send + Sync + std::fmt::Debug + 'static {
    /// The label's value.
    fn value(self) -> i64;
}

macro_rules! label {
    ($($t:ty),*) => {$(
        impl Label for $t {
            #[inline(always)]
            fn value(self) -> i64 {
                self as i64
            }
        }
    )*};
}
label!(i8, i16, i32, i64, u8, u16, u32);

/// Merges axes `0..n` of `x` (its leading `n` axes) into one, in logical (row-major) order,
/// when their strides allow it without a copy; returns the view with those `n` axes
/// replaced by one. `None` when some pair of axes cannot be merged.
fn merge_leading<T>(x: ArrayViewD<'_, T>, n: usize) -> Option<ArrayViewD<'_, T>> {
    let mut x = x;
    if n == 0 {
        return Some(x.insert_axis(Axis(0)));
    }
    for k in 0..n - 1 {
        if !x.merge_axes(Axis(k), Axis(k + 1)) {
            return None;
        }
    }
    // Axes 0..n−1 now have length 1 (the array is not empty: checked by the caller).
    for _ in 0..n - 1 {
        x = x.index_axis_move(Axis(0), 0);
    }
    Some(x)
}

/// One group of rows: the logits (rows, classes), their labels, the index of its first row.
pub(crate) type RowGroup<'a, T, L> = (ArrayView2<'a, T>, ArrayView1<'a, L>, usize);

/// `x` (batch axes, then the class axis) and `y` (the batch axes) as groups of rows, each a
/// (rows, classes) view and its labels, in logical order. The trailing batch axes that
/// merge without a copy in both arrays form one group per index of the leading ones: a
/// C- or F-ordered array or a transposed (C, N) one is a single group, torch's (N, C, d)
/// layout with the classes moved last is N groups of (d, C). `y` must have `x`'s shape
/// without its last axis; neither may be empty.
pub(crate) fn row_groups<'a, T, L>(
    x: &ArrayViewD<'a, T>,
    y: &ArrayViewD<'a, L>,
) -> Vec<RowGroup<'a, T, L>> {
    let n = x.ndim() - 1;
    debug_assert_eq!(y.ndim(), n);
    if x.is_empty() || y.ndim() != n {
        return Vec::new();
    }
    // The first batch axis k from which the trailing axes merge in both arrays.
    let merged = |k: usize| {
        let xs = merge_leading(strip_leading(x.clone(), k), n - k)?
            .into_dimensionality::<Ix2>()
            .ok()?;
        let ys = merge_leading(strip_leading(y.clone(), k), n - k)?
            .into_dimensionality::<Ix1>()
            .ok()?;
        Some((xs, ys))
    };
    let k = (0..=n).find(|&k| merged(k).is_some()).unwrap_or(n);
    let lead = &x.shape()[..k];
    let groups: usize = lead.iter().product();
    let mut out = Vec::with_capacity(groups);
    let mut first = 0;
    for g in 0..groups {
        let idx = unravel(g, lead);
        let (mut xg, mut yg) = (x.clone(), y.clone());
        for &i in &idx {
            xg = xg.index_axis_move(Axis(0), i);
            yg = yg.index_axis_move(Axis(0), i);
        }
        let xs = merge_leading(xg, n - k).and_then(|v| v.into_dimensionality::<Ix2>().ok());
        let ys = merge_leading(yg, n - k).and_then(|v| v.into_dimensionality::<Ix1>().ok());
        if let (Some(xs), Some(ys)) = (xs, ys) {
            let rows = xs.nrows();
            out.push((xs, ys, first));
            first += rows;
        }
    }
    out
}

/// `x` with its axes 0..k of length 1 (as after indexing) — for testing mergeability of
/// the trailing axes, whose strides do not depend on the index.
fn strip_leading<T>(x: ArrayViewD<'_, T>, k: usize) -> ArrayViewD<'_, T> {
    let mut x = x;
    for _ in 0..k {
        x = x.index_axis_move(Axis(0), 0);
    }
    x
}

/// The multi-index of row `r` in a batch of shape `batch` (row-major), for error messages.
pub(crate) fn unravel(mut r: usize, batch: &[usize]) -> Vec<usize> {
    let mut pos = vec![0; batch.len()];
    for (p, &d) in pos.iter_mut().zip(batch).rev() {
        if d > 0 {
            *p = r % d;
            r /= d;
        }
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, Array3, IxDyn};

    #[test]
    fn rows_follow_the_logical_order() {
        let x = Array3::from_shape_fn((2, 3, 4), |(a, b, c)| (a * 100 + b * 10 + c) as f64);
        let y = Array::from_shape_fn((2, 3), |(a, b)| (a * 3 + b) as i32);
        let g = row_groups(&x.view().into_dyn(), &y.view().into_dyn());
        assert_eq!(g.len(), 1);
        let (r, l, _) = &g[0];
        assert_eq!(r.shape(), &[6, 4]);
        assert_eq!(r[[4, 2]], 112.0);
        assert_eq!(l[4], 4);
        // the class axis moved last from the middle (torch's (N, C, d)): N groups of (d, C)
        let t = x.view().permuted_axes([0, 2, 1]); // shape (2, 4, 3): classes = 3
        let yt = Array::from_shape_fn((2, 4), |(a, b)| (a * 4 + b) as i64);
        let g = row_groups(&t.into_dyn(), &yt.view().into_dyn());
        assert_eq!(g.len(), 2);
        assert_eq!((g[1].0.shape(), g[1].2), (&[4usize, 3][..], 4));
        assert_eq!((g[1].0[[1, 2]], g[1].1[1]), (121.0, 5));
        // a transposed (C, N) array, classes along the old first axis
        let m = Array::from_shape_fn((5, 7), |(c, n)| (c * 10 + n) as f32);
        let yy = Array::from_shape_fn(7, |n| n as u8);
        let g = row_groups(&m.t().into_dyn(), &yy.view().into_dyn());
        assert_eq!((g.len(), g[0].0[[3, 4]], g[0].1[3]), (1, 43.0, 3));
        // one row, a 0-d target
        let one = Array::from_shape_vec(IxDyn(&[3]), vec![1.0, 2.0, 3.0]).unwrap();
        let y0 = Array::from_elem(IxDyn(&[]), 2i64);
        let g = row_groups(&one.view(), &y0.view());
        assert_eq!((g[0].0.shape(), g[0].1[0]), (&[1usize, 3][..], 2));
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
    }
}
