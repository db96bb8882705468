//! Integer labels read in place, whatever their dtype, byte order and strides: the
//! sources the label measures count from ([`super::label_counting`],
//! [`super::label_entropy`], [`super::label_pairs`]).
//!
//! Every label is read as an order-preserving `u64` key ([`Label::key`]: unsigned values as
//! they are, signed ones with the sign bit flipped, booleans as 0/1), so labels are
//! compared by their true value and sorted keys are sorted labels — a uint64 above 2^63
//! stays above every other uint64. A [`KeySource`] fills a small buffer with the keys of a
//! range of samples, straight from the NumPy buffer: contiguous, strided, reversed or
//! broadcast (zero stride), byte-swapped or not. No converted copy of the input is made.

use ndarray::{s, ArrayView1, ArrayViewD, Axis, Ix1};

/// An integer element type of NumPy label arrays.
pub trait Label: Copy + Send + Sync + 'static {
    /// The label as an order-preserving key: `a < b` ⇔ `a.key() < b.key()`.
    fn key(self) -> u64;
    /// [`Label::key`] of a value stored in the opposite byte order.
    fn key_swapped(self) -> u64;
    /// Whether the value is non-zero (NumPy's truth value of a `bool` byte).
    fn nonzero(self) -> bool;
}

macro_rules! signed_label {
    ($($t:ty),*) => {$(
        impl Label for $t {
            #[inline(always)]
            fn key(self) -> u64 {
                (self as i64 as u64) ^ (1 << 63)
            }
            #[inline(always)]
            fn key_swapped(self) -> u64 {
                self.swap_bytes().key()
            }
            #[inline(always)]
            fn nonzero(self) -> bool {
                self != 0
            }
        }
    )*};
}
macro_rules! unsigned_label {
    ($($t:ty),*) => {$(
        impl Label for $t {
            #[inline(always)]
            fn key(self) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn key_swapped(self) -> u64 {
                self.swap_bytes().key()
            }
            #[inline(always)]
            fn nonzero(self) -> bool {
                self != 0
            }
        }
    )*};
}
signed_label!(i8, i16, i32, i64);
unsigned_label!(u8, u16, u32, u64);

/// How the stored values become keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// Native byte order.
    Native,
    /// Stored in the opposite byte order (a big-endian array on a little-endian machine).
    Swapped,
    /// NumPy `bool` bytes (read as `u8`): any non-zero byte is True, key 1.
    Boolean,
}

#[inline(always)]
fn decode<T: Label>(d: Decode, v: T) -> u64 {
    match d {
        Decode::Native => v.key(),
        Decode::Swapped => v.key_swapped(),
        Decode::Boolean => v.nonzero() as u64,
    }
}

/// Samples read as keys, by index.
pub trait KeySource: Sync {
    /// The number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes the keys of samples `start..start + out.len()` (within `0..len`) into `out`.
    fn fill(&self, start: usize, out: &mut [u64]);
}

/// A 1-D array of labels (any strides).
pub struct LaneKeys<'a, T> {
    lane: ArrayView1<'a, T>,
    decode: Decode,
}

impl<'a, T: Label> LaneKeys<'a, T> {
    /// The samples of `lane`.
    pub fn new(lane: ArrayView1<'a, T>, decode: Decode) -> Self {
        LaneKeys { lane, decode }
    }
}

impl<T: Label> KeySource for LaneKeys<'_, T> {
    fn len(&self) -> usize {
        self.lane.len()
    }

    #[inline]
    fn fill(&self, start: usize, out: &mut [u64]) {
        let end = (start + out.len()).min(self.lane.len());
        let part = self.lane.slice(s![start.min(end)..end]);
        let d = self.decode;
        // PERF: the match is outside the loops, so each loop is a plain (vectorisable) map.
        match (part.as_slice(), d) {
            (Some(src), Decode::Native) => out.iter_mut().zip(src).for_each(|(o, &v)| *o = v.key()),
            (Some(src), _) => out
                .iter_mut()
                .zip(src)
                .for_each(|(o, &v)| *o = decode(d, v)),
            (None, _) => out
                .iter_mut()
                .zip(part.iter())
                .for_each(|(o, &v)| *o = decode(d, v)),
        }
    }
}

/// All elements of an n-dimensional array that cannot be viewed as one strided axis (a
/// broadcast or a sliced n-d view), in logical order: read lane by lane along the last axis.
pub struct NdKeys<'a, T> {
    view: ArrayViewD<'a, T>,
    decode: Decode,
}

impl<T: Label> NdKeys<'_, T> {
    /// Lane `i` along the last axis (logical order of the other axes).
    fn lane(&self, mut i: usize) -> ArrayView1<'_, T> {
        let ndim = self.view.ndim();
        let mut v = self.view.view();
        let mut index = vec![0; ndim - 1];
        for (slot, &len) in index.iter_mut().zip(&self.view.shape()[..ndim - 1]).rev() {
            *slot = i % len.max(1);
            i /= len.max(1);
        }
        for ix in index {
            v = v.index_axis_move(Axis(0), ix);
        }
        v.into_dimensionality::<Ix1>()
            .unwrap_or_else(|_| ArrayView1::from(&[][..]))
    }
}

impl<T: Label> KeySource for NdKeys<'_, T> {
    fn len(&self) -> usize {
        self.view.len()
    }

    fn fill(&self, start: usize, out: &mut [u64]) {
        let lane_len = self.view.shape().last().copied().unwrap_or(1).max(1);
        let mut filled = 0;
        while filled < out.len() {
            let pos = start + filled;
            let (lane, offset) = (pos / lane_len, pos % lane_len);
            let take = (lane_len - offset).min(out.len() - filled);
            LaneKeys::new(self.lane(lane), self.decode)
                .fill(offset, &mut out[filled..filled + take]);
            filled += take;
        }
    }
}

/// Every element of `view` as one sample set (the order does not matter to counting): a
/// [`LaneKeys`] over one strided axis when the axes merge into one (after reversing
/// negative strides and ordering them by size), else an [`NdKeys`].
pub fn pooled<'a, T: Label>(view: ArrayViewD<'a, T>, decode: Decode) -> Box<dyn KeySource + 'a> {
    let mut v = view;
    for axis in 0..v.ndim() {
        if v.strides()[axis] < 0 {
            v.invert_axis(Axis(axis));
        }
    }
    let mut order: Vec<usize> = (0..v.ndim()).collect();
    order.sort_by_key(|&a| std::cmp::Reverse(v.strides()[a]));
    let mut v = v.permuted_axes(order);
    if v.ndim() == 0 {
        v = v.insert_axis(Axis(0));
    }
    let last = Axis(v.ndim() - 1);
    for axis in (0..v.ndim() - 1).rev() {
        if !v.merge_axes(Axis(axis), last) {
            break;
        }
    }
    if v.shape()[..v.ndim() - 1].iter().all(|&len| len == 1) && !v.is_empty() {
        while v.ndim() > 1 {
            v = v.index_axis_move(Axis(0), 0);
        }
        if let Ok(lane) = v.clone().into_dimensionality::<Ix1>() {
            return Box::new(LaneKeys::new(lane, decode));
        }
    }
    Box::new(NdKeys { view: v, decode })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array2};

    fn keys_of(src: &dyn KeySource) -> Vec<u64> {
        let mut out = vec![0; src.len()];
        src.fill(0, &mut out);
        out
    }

    #[test]
    fn keys_preserve_order_across_types() {
        let signed = [i64::MIN, -1, 0, 1, i64::MAX];
        let k: Vec<u64> = signed.iter().map(|&v| v.key()).collect();
        assert!(k.windows(2).all(|w| w[0] < w[1]));
        let unsigned = [0u64, 1, 1 << 63, u64::MAX];
        let k: Vec<u64> = unsigned.iter().map(|&v| v.key()).collect();
        assert!(k.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((-3i8).key(), (-3i64).key());
        assert_eq!(0x0102u16.swap_bytes().key_swapped(), 0x0102);
        assert_eq!((-5i32).swap_bytes().key_swapped(), (-5i32).key());
        let bools = arr1(&[0u8, 1, 2, 255]);
        assert_eq!(
            keys_of(&LaneKeys::new(bools.view(), Decode::Boolean)),
            vec![0, 1, 1, 1]
        );
    }

    #[test]
    fn strided_and_pooled_sources() {
        let a = Array2::from_shape_fn((4, 5), |(i, j)| (i * 10 + j) as i32);
        let rev = a.slice(s![..;-1, ..;2]);
        let lane = LaneKeys::new(rev.column(1), Decode::Native);
        let want: Vec<u64> = [32i32, 22, 12, 2].iter().map(|v| v.key()).collect();
        assert_eq!(keys_of(&lane), want);
        let mut partial = vec![0; 2];
        lane.fill(1, &mut partial);
        assert_eq!(partial, want[1..3]);
        // pooled: the same multiset whatever the layout
        let mut expect: Vec<u64> = rev.iter().map(|v| v.key()).collect();
        expect.sort_unstable();
        for view in [
            rev.into_dyn(),
            rev.t().into_dyn(),
            a.view().into_dyn(),
            a.t().into_dyn(),
        ] {
            let src = pooled(view.clone(), Decode::Native);
            let mut got = keys_of(src.as_ref());
            got.sort_unstable();
            let mut want: Vec<u64> = view.iter().map(|v| v.key()).collect();
            want.sort_unstable();
            assert_eq!(got, want);
        }
        let b = arr1(&[7i64]);
        let bc = b.broadcast((3, 4)).unwrap().into_dyn();
        assert_eq!(
            keys_of(pooled(bc, Decode::Native).as_ref()),
            vec![7i64.key(); 12]
        );
    }
}
