//! Columns of distributions as data pipelines hold them: ragged rows (`values` + CSR
//! `offsets`, as scipy.sparse and Arrow list arrays store them) and fixed-size rows (Arrow
//! fixed-size lists), with Arrow's validity bitmaps — read in place.
//!
//! - [`ListView`] is one chunk of such a column, borrowed: the values, how they are cut
//!   into rows ([`Layout`]), and optional validity of the rows and of the values.
//! - [`arrow_c`] reads the Arrow C data interface (`ArrowSchema` / `ArrowArray` /
//!   `ArrowArrayStream`) into [`ListView`]s without copying, and releases what it takes.
//! - [`csr`] aligns two sparse matrices with different patterns (the one copy).
//! - [`apply`] computes a measure per row of a chunk (or of two chunks read in step): rows
//!   without nulls go straight to the ragged / dense measures, null rows give NaN, rows
//!   holding null values are computed from a small copy with those values left out.
//!
//! Nothing here knows Python; the binding layer (`bindings/ragged.rs`) turns NumPy arrays
//! and Arrow PyCapsules into [`ListView`]s and hands them to [`apply`].

pub mod apply;
pub mod arrow_c;
pub mod csr;

use std::ops::Range;

use crate::error::Error;
use crate::parallel::rows::{Checked, Offsets};

/// The floating-point values of a column, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// float32 values.
    F32(&'a [f32]),
    /// float64 values.
    F64(&'a [f64]),
}

impl<'a> Values<'a> {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values `range`.
    fn slice(&self, range: Range<usize>) -> Values<'a> {
        match self {
            Values::F32(v) => Values::F32(&v[range]),
            Values::F64(v) => Values::F64(&v[range]),
        }
    }
}

/// How the values are cut into rows.
#[derive(Clone, Copy, Debug)]
pub enum Layout<'a> {
    /// Row `r` is `values[offsets[r]..offsets[r + 1]]` (CSR, Arrow list / large list).
    Offsets(Offsets<'a>),
    /// Row `r` is `values[r·w..(r + 1)·w]` (Arrow fixed-size list of width `w`).
    Fixed(usize),
}

/// Entry `i` of CSR offsets, widened (may be negative before validation).
#[inline]
pub(crate) fn offset_at(o: &Offsets<'_>, i: usize) -> i64 {
    match o {
        Offsets::I32(o) => o[i] as i64,
        Offsets::I64(o) => o[i],
    }
}

/// The number of entries of CSR offsets.
#[inline]
pub(crate) fn offsets_len(o: &Offsets<'_>) -> usize {
    match o {
        Offsets::I32(o) => o.len(),
        Offsets::I64(o) => o.len(),
    }
}

/// The entries `range` of CSR offsets.
fn offsets_slice<'a>(o: &Offsets<'a>, range: Range<usize>) -> Offsets<'a> {
    match o {
        Offsets::I32(o) => Offsets::I32(&o[range]),
        Offsets::I64(o) => Offsets::I64(&o[range]),
    }
}

/// An Arrow validity bitmap (least significant bit first): item `i` is valid when bit
/// `offset + i` of `bytes` is set. Only [`arrow_c`] builds them, with `bytes` long
/// enough for every item of the array they describe.
#[derive(Clone, Copy, Debug)]
pub struct Bitmap<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Bitmap<'a> {
    /// A bitmap over `bytes` starting at bit `offset`.
    pub fn new(bytes: &'a [u8], offset: usize) -> Self {
        Bitmap { bytes, offset }
    }

    /// Whether item `i` is valid.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        let bit = self.offset + i;
        self.bytes[bit / 8] >> (bit % 8) & 1 == 1
    }

    /// Whether every item of `range` is valid (whole bytes at a time in the middle).
    pub fn all_valid(&self, range: Range<usize>) -> bool {
        let (mut bit, end) = (self.offset + range.start, self.offset + range.end);
        while bit < end && bit % 8 != 0 {
            if self.bytes[bit / 8] >> (bit % 8) & 1 == 0 {
                return false;
            }
            bit += 1;
        }
        while bit + 8 <= end {
            if self.bytes[bit / 8] != 0xff {
                return false;
            }
            bit += 8;
        }
        while bit < end {
            if self.bytes[bit / 8] >> (bit % 8) & 1 == 0 {
                return false;
            }
            bit += 1;
        }
        true
    }

    /// Whether `keep(i)` holds for every invalid item i of `range` (asked in increasing
    /// order, stopping at the first false): eight bytes at a time over runs of valid items.
    /// PERF: a fixed-size list column of 10^6 rows of 10 with every hundredth row null, its
    /// values null under them: checking each row with [`Self::all_valid`] took 7 ms, about
    /// as long as the entropy of the whole column.
    pub fn invalid_all(&self, range: Range<usize>, mut keep: impl FnMut(usize) -> bool) -> bool {
        let (mut bit, end) = (self.offset + range.start, self.offset + range.end);
        while bit < end {
            if bit % 8 == 0 && bit + 64 <= end {
                let word = u64::from_le_bytes(
                    self.bytes[bit / 8..bit / 8 + 8]
                        .try_into()
                        .expect("eight bytes"),
                );
                if word == u64::MAX {
                    bit += 64;
                    continue;
                }
                let mut holes = !word;
                while holes != 0 {
                    if !keep(bit + holes.trailing_zeros() as usize - self.offset) {
                        return false;
                    }
                    holes &= holes - 1;
                }
                bit += 64;
                continue;
            }
            if self.bytes[bit / 8] >> (bit % 8) & 1 == 0 && !keep(bit - self.offset) {
                return false;
            }
            bit += 1;
        }
        true
    }

    /// The bitmap of the items from `by` on.
    fn shifted(&self, by: usize) -> Bitmap<'a> {
        Bitmap {
            bytes: self.bytes,
            offset: self.offset + by,
        }
    }
}

/// One chunk of a column of distributions, borrowed. Built by [`ListView::ragged`] (NumPy
/// offsets, CSR) or [`arrow_c`]; the offsets are checked by [`ListView::validate`] before
/// any row is read.
#[derive(Clone, Copy, Debug)]
pub struct ListView<'a> {
    /// Every value the rows may index.
    pub values: Values<'a>,
    /// How they are cut into rows.
    pub layout: Layout<'a>,
    /// The number of rows.
    pub rows: usize,
    /// Which rows are valid (None: all); a null row's result is NaN.
    pub row_valid: Option<Bitmap<'a>>,
    /// Which values are valid (None: all), indexed like `values`; a null value is left
    /// out of its distribution.
    pub value_valid: Option<Bitmap<'a>>,
}

impl<'a> ListView<'a> {
    /// Ragged rows `values[offsets[r]..offsets[r + 1]]` without nulls.
    pub fn ragged(values: Values<'a>, offsets: Offsets<'a>) -> Result<Self, Error> {
        let n = offsets_len(&offsets);
        if n == 0 {
            return Err(Error::EmptyOffsets);
        }
        Ok(ListView {
            values,
            layout: Layout::Offsets(offsets),
            rows: n - 1,
            row_valid: None,
            value_valid: None,
        })
    }

    /// Checks that the offsets are non-negative, non-decreasing, at most the number of
    /// values, and one more than the rows (fixed-size rows: that they fit in the values).
    /// Returns the checked offsets (None for fixed-size rows), which the ragged measures
    /// then take without reading every offset again.
    pub fn validate(&self) -> Result<Option<Checked<'a>>, Error> {
        let values = self.values.len();
        match &self.layout {
            Layout::Offsets(o) => {
                if offsets_len(o) != self.rows + 1 {
                    return Err(Error::EmptyOffsets);
                }
                o.check(values).map(Some)
            }
            Layout::Fixed(w) => match self.rows.checked_mul(*w) {
                Some(n) if n <= values => Ok(None),
                _ => Err(Error::InvalidOffsets {
                    position: self.rows,
                    value: (self.rows as i64).saturating_mul(*w as i64),
                    values,
                }),
            },
        }
    }

    /// The value range of row `r` (the view is validated).
    #[inline]
    pub fn row_range(&self, r: usize) -> Range<usize> {
        match &self.layout {
            Layout::Offsets(o) => offset_at(o, r) as usize..offset_at(o, r + 1) as usize,
            Layout::Fixed(w) => r * w..(r + 1) * w,
        }
    }

    /// The length of row `r` (the view is validated).
    #[inline]
    pub fn row_len(&self, r: usize) -> usize {
        self.row_range(r).len()
    }

    /// Whether row `r` is null.
    #[inline]
    pub fn is_null(&self, r: usize) -> bool {
        self.row_valid.is_some_and(|b| !b.get(r))
    }

    /// Whether row `r` is valid and holds no null value.
    #[inline]
    pub fn is_clean(&self, r: usize) -> bool {
        !self.is_null(r)
            && self
                .value_valid
                .is_none_or(|b| b.all_valid(self.row_range(r)))
    }

    /// Whether every null value lies in a row for which `null_row` holds (rows asked in
    /// increasing order).
    pub fn null_values_only_in(&self, mut null_row: impl FnMut(usize) -> bool) -> bool {
        let Some(valid) = self.value_valid else {
            return true;
        };
        if self.rows == 0 {
            return true;
        }
        let values = self.row_range(0).start..self.row_range(self.rows - 1).end;
        let mut r = 0;
        valid.invalid_all(values, |i| {
            // the row holding value i: rows are in value order (the view is validated)
            while self.row_range(r).end <= i {
                r += 1;
            }
            null_row(r)
        })
    }

    /// Whether the view has no validity bitmap at all.
    pub fn has_no_nulls(&self) -> bool {
        self.row_valid.is_none() && self.value_valid.is_none()
    }

    /// The rows `range` (offsets are not re-based: they keep indexing `values`).
    pub fn slice_rows(&self, range: Range<usize>) -> ListView<'a> {
        assert!(range.start <= range.end && range.end <= self.rows);
        let (layout, values, value_valid) = match &self.layout {
            Layout::Offsets(o) => (
                Layout::Offsets(offsets_slice(o, range.start..range.end + 1)),
                self.values,
                self.value_valid,
            ),
            Layout::Fixed(w) => (
                Layout::Fixed(*w),
                self.values.slice(range.start * w..range.end * w),
                self.value_valid.map(|b| b.shifted(range.start * w)),
            ),
        };
        ListView {
            values,
            layout,
            rows: range.len(),
            row_valid: self.row_valid.map(|b| b.shifted(range.start)),
            value_valid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_read_lsb_first_at_any_offset() {
        let bytes = [0b1111_0110u8, 0xff, 0b0000_0001];
        let b = Bitmap::new(&bytes, 0);
        let bits: Vec<bool> = (0..17).map(|i| b.get(i)).collect();
        assert_eq!(
            &bits[..8],
            &[false, true, true, false, true, true, true, true]
        );
        assert!(bits[8..17].iter().all(|&x| x));
        assert!(b.all_valid(4..17));
        assert!(!b.all_valid(3..17));
        assert!(!b.all_valid(0..1));
        assert!(b.all_valid(5..5));
        let s = b.shifted(3);
        assert!(!s.get(0) && s.get(1));
        assert!(s.all_valid(1..14));
        assert!(!Bitmap::new(&bytes, 9).all_valid(0..9));
    }

    /// The invalid items `invalid_all` visits are those of a bit-by-bit scan, in order,
    /// at every bitmap offset and over every range (words of eight bytes and the ends
    /// around them), and it stops at the first refusal.
    #[test]
    fn invalid_items_are_visited_in_order_at_any_offset() {
        // mostly valid bytes, a hole here and there, a fully invalid byte
        let bytes: Vec<u8> = (0..40u32)
            .map(|k| match k % 13 {
                3 => 0b1110_1111,
                7 => 0b0111_1110,
                11 => 0,
                _ => 0xff,
            })
            .collect();
        for offset in [0, 1, 5, 8, 13] {
            let b = Bitmap::new(&bytes, offset);
            let n = bytes.len() * 8 - offset;
            for (start, end) in [(0, n), (3, n - 7), (64, 200), (1, 1), (70, 71), (9, 130)] {
                let want: Vec<usize> = (start..end).filter(|&i| !b.get(i)).collect();
                let mut got = Vec::new();
                assert!(b.invalid_all(start..end, |i| {
                    got.push(i);
                    true
                }));
                assert_eq!(got, want, "offset {offset}, {start}..{end}");
                if let Some(&first) = want.first() {
                    let mut asked = 0;
                    assert!(!b.invalid_all(start..end, |i| {
                        asked += 1;
                        i != first
                    }));
                    assert_eq!(asked, 1);
                }
            }
        }
    }

    #[test]
    fn views_validate_and_slice() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        let view = ListView::ragged(Values::F64(&v), Offsets::I32(&[0, 2, 2, 5])).unwrap();
        view.validate().unwrap();
        assert_eq!(view.rows, 3);
        assert_eq!(
            (0..3).map(|r| view.row_len(r)).collect::<Vec<_>>(),
            [2, 0, 3]
        );
        let tail = view.slice_rows(1..3);
        assert_eq!(tail.rows, 2);
        assert_eq!(tail.row_range(1), 2..5);
        for bad in [&[0, 3, 2][..], &[0, 6], &[-1, 2]] {
            let view = ListView::ragged(Values::F64(&v), Offsets::I32(bad)).unwrap();
            assert!(matches!(view.validate(), Err(Error::InvalidOffsets { .. })));
        }
        assert_eq!(
            ListView::ragged(Values::F64(&v), Offsets::I64(&[])).unwrap_err(),
            Error::EmptyOffsets
        );
        let fixed = ListView {
            values: Values::F64(&v),
            layout: Layout::Fixed(2),
            rows: 2,
            row_valid: None,
            value_valid: None,
        };
        fixed.validate().unwrap();
        let second = fixed.slice_rows(1..2);
        assert_eq!(second.row_range(0), 0..2);
        assert!(matches!(second.values, Values::F64(s) if s == [3.0, 4.0]));
        let too_long = ListView { rows: 3, ..fixed };
        assert!(too_long.validate().is_err());
    }
}
