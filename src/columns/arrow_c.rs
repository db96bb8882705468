//! The Arrow C data interface (`ArrowSchema`, `ArrowArray`) and C stream interface
//! (`ArrowArrayStream`), as far as columns of float lists need them — so any producer
//! (pyarrow, polars, nanoarrow, duckdb, …) is read without pyarrow and without copying.
//!
//! Ownership follows the specification ("Moving an array", "Released structure"): a
//! structure is taken over with [`OwnedArray::take`] (and friends) by a bitwise move that
//! marks the source released, and its `release` callback is called exactly once, when the
//! owner is dropped. Views ([`list_view`]) borrow the owner, so the producer's buffers
//! outlive every read of them.
//!
//! Types read: `+l` (list, int32 offsets), `+L` (large list, int64 offsets), `+w:N`
//! (fixed-size list) of `f` (float32) or `g` (float64). Supported layouts: any
//! `offset` on the list and on its values (sliced arrays), validity bitmaps on both
//! (null rows, null values), null buffer pointers where the specification allows them.
//! Refused with an error naming the reason: other types (list views, dictionary-encoded
//! values, integers, nested lists), released structures, malformed structures (wrong
//! buffer or child counts, negative lengths) and buffers not aligned for their type
//! (the specification lets consumers refuse them; no producer we know emits them).

use std::ffi::{c_char, c_int, c_void, CStr};

use super::{Bitmap, Layout, ListView, Values};
use crate::error::Error;
use crate::parallel::rows::Offsets;

/// `struct ArrowSchema` of the C data interface.
#[repr(C)]
#[derive(Debug)]
pub struct FfiSchema {
    /// The type, e.g. `"+l"`, `"g"` (null-terminated).
    pub format: *const c_char,
    /// The field name (optional).
    pub name: *const c_char,
    /// Metadata (optional).
    pub metadata: *const c_char,
    /// `ARROW_FLAG_*` bits.
    pub flags: i64,
    /// The number of child types.
    pub n_children: i64,
    /// The child types.
    pub children: *mut *mut FfiSchema,
    /// The dictionary's value type (dictionary-encoded types only).
    pub dictionary: *mut FfiSchema,
    /// The producer's release callback; NULL marks a released structure.
    pub release: Option<unsafe extern "C" fn(*mut FfiSchema)>,
    /// The producer's bookkeeping.
    pub private_data: *mut c_void,
}

/// `struct ArrowArray` of the C data interface.
#[repr(C)]
#[derive(Debug)]
pub struct FfiArray {
    /// The number of items.
    pub length: i64,
    /// The number of null items (−1: not computed).
    pub null_count: i64,
    /// The logical offset of item 0 in the buffers.
    pub offset: i64,
    /// The number of buffers.
    pub n_buffers: i64,
    /// The number of children.
    pub n_children: i64,
    /// The buffers (validity bitmap first).
    pub buffers: *mut *const c_void,
    /// The child arrays.
    pub children: *mut *mut FfiArray,
    /// The dictionary (dictionary-encoded arrays only).
    pub dictionary: *mut FfiArray,
    /// The producer's release callback; NULL marks a released structure.
    pub release: Option<unsafe extern "C" fn(*mut FfiArray)>,
    /// The producer's bookkeeping.
    pub private_data: *mut c_void,
}

/// `struct ArrowArrayStream` of the C stream interface.
#[repr(C)]
#[derive(Debug)]
pub struct FfiStream {
    /// Writes the stream's schema into `out`; 0 or an errno.
    pub get_schema: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiSchema) -> c_int>,
    /// Writes the next array into `out` (a released one at the end); 0 or an errno.
    pub get_next: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiArray) -> c_int>,
    /// The description of the last error (valid until the next call).
    pub get_last_error: Option<unsafe extern "C" fn(*mut FfiStream) -> *const c_char>,
    /// The producer's release callback; NULL marks a released structure.
    pub release: Option<unsafe extern "C" fn(*mut FfiStream)>,
    /// The producer's bookkeeping.
    pub private_data: *mut c_void,
}

impl FfiSchema {
    /// A released (empty) structure, for a producer to fill.
    pub fn released() -> Self {
        FfiSchema {
            format: std::ptr::null(),
            name: std::ptr::null(),
            metadata: std::ptr::null(),
            flags: 0,
            n_children: 0,
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

impl FfiArray {
    /// A released (empty) structure, for a producer to fill.
    pub fn released() -> Self {
        FfiArray {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: std::ptr::null_mut(),
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

/// Takes a C structure over: the three owners below differ only in their type.
macro_rules! owner {
    ($(#[$doc:meta])* $owner:ident, $ffi:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $owner(Box<$ffi>);

        impl $owner {
            /// Moves the structure out of `*src` (a bitwise copy) and marks `*src`
            /// released without calling its callback, as the specification's "moving"
            /// rule says: from now on only this owner releases it, once, when dropped.
            ///
            /// # Safety
            /// `src` must point to an initialised structure of this type that nothing else
            /// reads or writes during the call (e.g. the content of a capsule, read with
            /// the GIL held).
            pub unsafe fn take(src: *mut $ffi, arg: &'static str) -> Result<Self, Error> {
                // SAFETY: `src` is valid and exclusively ours for this call (caller's contract).
                let slot = unsafe { &mut *src };
                if slot.release.is_none() {
                    return Err(Error::ArrowReleased { arg, what: $what });
                }
                // SAFETY: a bitwise move of a `#[repr(C)]` struct of plain pointers and
                // integers; the source is marked released right after, so exactly one live
                // copy remains (the specification's "Moving an array").
                let moved = unsafe { std::ptr::read(src) };
                slot.release = None;
                Ok($owner(Box::new(moved)))
            }

            /// The structure (live until this owner is dropped).
            pub fn get(&self) -> &$ffi {
                &self.0
            }
        }

        impl Drop for $owner {
            fn drop(&mut self) {
                if let Some(release) = self.0.release {
                    // SAFETY: the structure is live (release is set) and owned by us alone;
                    // the callback is the producer's, called once: it marks the structure
                    // released, and we clear the pointer too so a faulty producer cannot
                    // make us call it twice.
                    unsafe { release(&mut *self.0) };
                    self.0.release = None;
                }
            }
        }
    };
}

owner!(
    /// An `ArrowSchema` this crate owns (released once, when dropped).
    OwnedSchema,
    FfiSchema,
    "ArrowSchema"
);
owner!(
    /// An `ArrowArray` this crate owns (released once, when dropped); views borrow it.
    OwnedArray,
    FfiArray,
    "ArrowArray"
);
owner!(
    /// An `ArrowArrayStream` this crate owns (released once, when dropped).
    OwnedStream,
    FfiStream,
    "ArrowArrayStream"
);

impl OwnedStream {
    /// The stream's schema (`get_schema`).
    pub fn schema(&mut self, arg: &'static str) -> Result<OwnedSchema, Error> {
        let get = self.0.get_schema.ok_or(Error::ArrowLayout {
            arg,
            reason: "the stream has no get_schema callback".into(),
        })?;
        let mut out = FfiSchema::released();
        // SAFETY: the stream is live and ours; `out` is a released structure the producer
        // fills (the callback contract of the C stream interface).
        let code = unsafe { get(&mut *self.0, &mut out) };
        if code != 0 {
            return Err(self.error(code, arg));
        }
        // SAFETY: `out` is a local initialised structure nothing else references.
        unsafe { OwnedSchema::take(&mut out, arg) }
    }

    /// The next array (`get_next`), or None at the end of the stream.
    pub fn next_array(&mut self, arg: &'static str) -> Result<Option<OwnedArray>, Error> {
        let get = self.0.get_next.ok_or(Error::ArrowLayout {
            arg,
            reason: "the stream has no get_next callback".into(),
        })?;
        let mut out = FfiArray::released();
        // SAFETY: as in `schema`.
        let code = unsafe { get(&mut *self.0, &mut out) };
        if code != 0 {
            return Err(self.error(code, arg));
        }
        if out.release.is_none() {
            return Ok(None); // the end of the stream: a released array
        }
        // SAFETY: `out` is a local initialised structure nothing else references.
        unsafe { OwnedArray::take(&mut out, arg) }.map(Some)
    }

    fn error(&mut self, code: c_int, arg: &'static str) -> Error {
        let message = match self.0.get_last_error {
            None => String::new(),
            Some(f) => {
                // SAFETY: the stream is live; the callback returns NULL or a
                // null-terminated string valid until the next call on the stream, and we
                // copy it at once.
                let ptr = unsafe { f(&mut *self.0) };
                if ptr.is_null() {
                    String::new()
                } else {
                    // SAFETY: non-null, null-terminated (the callback's contract).
                    unsafe { CStr::from_ptr(ptr) }
                        .to_string_lossy()
                        .into_owned()
                }
            }
        };
        Error::ArrowStream { arg, code, message }
    }
}

/// How the rows of a list type are delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// `+l`: int32 offsets.
    List,
    /// `+L`: int64 offsets.
    LargeList,
    /// `+w:N`: every row has N values.
    Fixed(usize),
}

/// The value type of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// `f`: float32.
    F32,
    /// `g`: float64.
    F64,
}

/// A list type this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListType {
    /// The list's kind.
    pub kind: ListKind,
    /// Its values' type.
    pub value: ValueKind,
}

/// The format string of a schema ("" when missing).
pub fn format_of(s: &FfiSchema) -> String {
    if s.format.is_null() {
        return String::new();
    }
    // SAFETY: a non-null format is a null-terminated string owned by the live schema.
    unsafe { CStr::from_ptr(s.format) }
        .to_string_lossy()
        .into_owned()
}

/// The format string of `schema`: `"+l"`, `"g"`, `"+s"`, … (what the caller checks
/// before treating an object as a list column).
pub fn format(schema: &OwnedSchema) -> String {
    format_of(schema.get())
}

/// A readable name for an Arrow C format string as the errors here print it: a type code
/// (`"l"` → `int64`, `"vu"` → `utf8_view`), a list kind (`"+l"` → `list`), or a list with
/// its value type (`"+L<vu>"` → `large_list<utf8_view>`, `"+w:4<g>"` →
/// `fixed_size_list<float64>[4]`). Formats it does not know are named `unknown`.
pub fn type_name(format: &str) -> String {
    if let Some((outer, inner)) = format
        .split_once('<')
        .and_then(|(o, rest)| Some((o, rest.strip_suffix('>')?)))
    {
        let inner = type_name(inner);
        return match outer.strip_prefix("+w:") {
            Some(n) => format!("fixed_size_list<{inner}>[{n}]"),
            None => format!("{}<{inner}>", type_name(outer)),
        };
    }
    let name = match format {
        "n" => "null",
        "b" => "bool",
        "c" => "int8",
        "C" => "uint8",
        "s" => "int16",
        "S" => "uint16",
        "i" => "int32",
        "I" => "uint32",
        "l" => "int64",
        "L" => "uint64",
        "e" => "float16",
        "f" => "float32",
        "g" => "float64",
        "u" => "utf8",
        "U" => "large_utf8",
        "vu" => "utf8_view",
        "z" => "binary",
        "Z" => "large_binary",
        "vz" => "binary_view",
        "+l" => "list",
        "+L" => "large_list",
        "+vl" => "list_view",
        "+vL" => "large_list_view",
        "+s" => "struct",
        "+m" => "map",
        "+r" => "run_end_encoded",
        "tdD" => "date32",
        "tdm" => "date64",
        f if f.starts_with("+w:") => return format!("fixed_size_list[{}]", &f[3..]),
        f if f.starts_with("w:") => return format!("fixed_size_binary[{}]", &f[2..]),
        f if f.starts_with("d:") => return format!("decimal({})", &f[2..]),
        f if f.starts_with("+u") => "union",
        f if f.starts_with("tt") => "time",
        f if f.starts_with("ts") => "timestamp",
        f if f.starts_with("tD") => "duration",
        f if f.starts_with("ti") => "interval",
        _ => "unknown",
    };
    name.to_string()
}

/// The list type of `schema`, or an error naming what it is instead.
pub fn list_type(schema: &OwnedSchema, arg: &'static str) -> Result<ListType, Error> {
    let s = schema.get();
    let format = format_of(s);
    // the reason, then the type in words (the raw format is quoted before it)
    let unsupported = |reason: &str| Error::ArrowType {
        arg,
        format: format.clone(),
        reason: format!("{reason} (the column is {})", type_name(&format)),
    };
    let kind = match format.as_str() {
        "+l" => ListKind::List,
        "+L" => ListKind::LargeList,
        f if f.starts_with("+w:") => match f[3..].parse::<usize>() {
            Ok(n) => ListKind::Fixed(n),
            Err(_) => return Err(unsupported("a fixed-size list without a valid size")),
        },
        "+vl" | "+vL" => return Err(unsupported("list views are not supported; cast to a list")),
        _ => {
            return Err(unsupported(
                "expected a list, large list or fixed-size list",
            ))
        }
    };
    if !s.dictionary.is_null() {
        return Err(unsupported("dictionary-encoded lists are not supported"));
    }
    if s.n_children != 1 || s.children.is_null() {
        return Err(unsupported("a list type needs exactly one child type"));
    }
    // SAFETY: `children` holds n_children (= 1) pointers to the live schema's children.
    let child_ptr = unsafe { *s.children };
    if child_ptr.is_null() {
        return Err(unsupported("a list type needs exactly one child type"));
    }
    // SAFETY: a non-null child of the live schema, owned by it.
    let child = unsafe { &*child_ptr };
    let value_format = format_of(child);
    if !child.dictionary.is_null() {
        return Err(unsupported(
            "dictionary-encoded values are not supported; cast them to float64",
        ));
    }
    let value = match value_format.as_str() {
        "f" => ValueKind::F32,
        "g" => ValueKind::F64,
        other => {
            let full = format!("{format}<{other}>");
            return Err(Error::ArrowType {
                arg,
                reason: format!(
                    "the values must be float32 or float64 (the column is {}); cast them first",
                    type_name(&full)
                ),
                format: full,
            });
        }
    };
    Ok(ListType { kind, value })
}

/// A malformed-array error.
fn layout(arg: &'static str, reason: impl Into<String>) -> Error {
    Error::ArrowLayout {
        arg,
        reason: reason.into(),
    }
}

/// `length` and `offset` of an array, checked non-negative and with `offset + length`
/// (and the byte size of that many `elem`-byte items) within `isize`.
fn extent(a: &FfiArray, elem: usize, arg: &'static str) -> Result<(usize, usize), Error> {
    if a.length < 0 || a.offset < 0 {
        return Err(layout(arg, "negative length or offset"));
    }
    let (len, off) = (a.length as usize, a.offset as usize);
    match off
        .checked_add(len)
        .and_then(|n| n.checked_add(1))
        .and_then(|n| n.checked_mul(elem.max(1)))
    {
        Some(bytes) if bytes <= isize::MAX as usize => Ok((len, off)),
        _ => Err(layout(arg, "length and offset overflow")),
    }
}

/// Buffer `i` of `a` (null when the producer left it out).
fn buffer_ptr(a: &FfiArray, i: usize, arg: &'static str) -> Result<*const c_void, Error> {
    if (a.n_buffers as usize) <= i || a.buffers.is_null() {
        return Err(layout(arg, format!("missing buffer {i}")));
    }
    // SAFETY: `buffers` holds n_buffers (> i) pointers, owned by the live array.
    Ok(unsafe { *a.buffers.add(i) })
}

/// Items `start..start + len` of buffer `i` of `a` as a typed slice.
///
/// The specification obliges the producer to make each buffer large enough for
/// `offset + length` items; callers only ask for items within that.
fn typed<'a, T>(
    a: &'a FfiArray,
    i: usize,
    start: usize,
    len: usize,
    arg: &'static str,
) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    let ptr = buffer_ptr(a, i, arg)? as *const T;
    if ptr.is_null() {
        return Err(layout(arg, format!("buffer {i} is null")));
    }
    if !(ptr as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return Err(layout(
            arg,
            format!("buffer {i} is not aligned for its type (unaligned buffers are not supported)"),
        ));
    }
    // SAFETY: the buffer holds at least start + len items of T (the producer's contract,
    // see above; callers stay within offset + length, whose byte size `extent` checked to
    // fit in isize); the pointer is non-null and aligned; the memory is immutable while
    // the array is live (the specification's "Mutability"), which the returned lifetime,
    // tied to the array's owner, guarantees.
    Ok(unsafe { std::slice::from_raw_parts(ptr.add(start), len) })
}

/// The validity bitmap of `a` covering items `0..len` from bit `bit_offset`, or None
/// when every item is valid.
fn validity<'a>(
    a: &'a FfiArray,
    bit_offset: usize,
    len: usize,
    arg: &'static str,
) -> Result<Option<Bitmap<'a>>, Error> {
    if a.null_count == 0 || len == 0 {
        return Ok(None);
    }
    let ptr = buffer_ptr(a, 0, arg)? as *const u8;
    if ptr.is_null() {
        return Ok(None); // allowed only without nulls: every item is valid
    }
    let bytes = (bit_offset + len).div_ceil(8);
    // SAFETY: the bitmap holds a bit for each of the offset + length items (the
    // producer's contract); bit_offset + len stays within that; u8 needs no alignment;
    // immutable while the array is live, as in `typed`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, bytes) };
    Ok(Some(Bitmap::new(bytes, bit_offset)))
}

/// The rows of a list array of type `ty`, borrowed from `array` (no copy). The offsets
/// are not validated here: [`ListView::validate`] does it before any row is read.
pub fn list_view<'a>(
    array: &'a OwnedArray,
    ty: &ListType,
    arg: &'static str,
) -> Result<ListView<'a>, Error> {
    let a = array.get();
    let offset_size = match ty.kind {
        ListKind::List => 4,
        ListKind::LargeList => 8,
        ListKind::Fixed(_) => 0,
    };
    let (rows, off) = extent(a, offset_size, arg)?;
    let expected_buffers = if matches!(ty.kind, ListKind::Fixed(_)) {
        1
    } else {
        2
    };
    if a.n_buffers != expected_buffers || a.n_children != 1 || a.children.is_null() {
        return Err(layout(
            arg,
            format!(
                "a list array has {expected_buffers} buffer(s) and one child, got {} and {}",
                a.n_buffers, a.n_children
            ),
        ));
    }
    // SAFETY: `children` holds n_children (= 1) pointers, owned by the live array.
    let child_ptr = unsafe { *a.children };
    if child_ptr.is_null() {
        return Err(layout(arg, "the list's child array is null"));
    }
    // SAFETY: a non-null child of the live array; the parent owns and releases it.
    let child = unsafe { &*child_ptr };
    let value_size = match ty.value {
        ValueKind::F32 => 4,
        ValueKind::F64 => 8,
    };
    let (c_len, c_off) = extent(child, value_size, arg)?;
    if child.n_buffers != 2 {
        return Err(layout(
            arg,
            format!("the values array has 2 buffers, got {}", child.n_buffers),
        ));
    }
    let row_valid = validity(a, off, rows, arg)?;
    let (layout_, values_start, values_len, value_bits) = match ty.kind {
        ListKind::Fixed(w) => {
            let need = (off + rows)
                .checked_mul(w)
                .filter(|&n| n <= c_len)
                .ok_or_else(|| {
                    layout(arg, "the values array is shorter than the fixed-size rows")
                })?;
            let start = off * w;
            (Layout::Fixed(w), c_off + start, need - start, c_off + start)
        }
        ListKind::List => {
            let o: &[i32] = typed(a, 1, off, rows + 1, arg).or_else(|e| {
                if rows == 0 {
                    Ok(&[0][..])
                } else {
                    Err(e)
                }
            })?;
            (Layout::Offsets(Offsets::I32(o)), c_off, c_len, c_off)
        }
        ListKind::LargeList => {
            let o: &[i64] = typed(a, 1, off, rows + 1, arg).or_else(|e| {
                if rows == 0 {
                    Ok(&[0][..])
                } else {
                    Err(e)
                }
            })?;
            (Layout::Offsets(Offsets::I64(o)), c_off, c_len, c_off)
        }
    };
    let values = match ty.value {
        ValueKind::F32 => Values::F32(typed(child, 1, values_start, values_len, arg)?),
        ValueKind::F64 => Values::F64(typed(child, 1, values_start, values_len, arg)?),
    };
    let value_valid = validity(child, value_bits, values_len, arg)?;
    Ok(ListView {
        values,
        layout: layout_,
        rows,
        row_valid,
        value_valid,
    })
}

#[cfg(test)]
pub(crate) mod testing {
    //! Arrow structures built in Rust, with release callbacks that count their calls: a
    //! stand-in producer for the tests here and in `apply`.

    use super::*;
    use std::ffi::CString;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// What one exported array owns.
    struct Holder {
        _buffers: Vec<Vec<u8>>,
        ptrs: Vec<*const c_void>,
        child: Option<Box<FfiArray>>,
        child_ptrs: Vec<*mut FfiArray>,
        /// Release calls seen (for the exactly-once checks).
        released: Arc<AtomicUsize>,
    }

    /// The release counter of an exported (not yet released) list array.
    pub fn release_counter(a: &FfiArray) -> Arc<AtomicUsize> {
        // SAFETY: test producer: private_data is the Box<Holder> made in `list`.
        unsafe { &*(a.private_data as *const Holder) }
            .released
            .clone()
    }

    unsafe extern "C" fn release_array(a: *mut FfiArray) {
        // SAFETY: test producer: private_data is the Box<Holder> made in `export`.
        let a = unsafe { &mut *a };
        let mut holder = unsafe { Box::from_raw(a.private_data as *mut Holder) };
        if let Some(child) = holder.child.as_mut() {
            if let Some(r) = child.release {
                unsafe { r(&mut **child) };
            }
        }
        holder.released.fetch_add(1, Ordering::SeqCst);
        drop(holder);
        a.release = None;
    }

    unsafe extern "C" fn release_child(a: *mut FfiArray) {
        // SAFETY: test producer: children own a Box<Holder> as well.
        let a = unsafe { &mut *a };
        drop(unsafe { Box::from_raw(a.private_data as *mut Holder) });
        a.release = None;
    }

    fn bytes_of<T: Copy>(v: &[T]) -> Vec<u8> {
        let mut out = vec![0u8; std::mem::size_of_val(v) + 8];
        // Keep the copy 8-byte aligned: Vec<u8> is not, so over-allocate and shift.
        let shift = out.as_ptr().align_offset(8);
        out.truncate(shift + std::mem::size_of_val(v));
        // SAFETY: test helper: copies the bytes of a slice of plain numbers.
        unsafe {
            std::ptr::copy_nonoverlapping(
                v.as_ptr() as *const u8,
                out.as_mut_ptr().add(shift),
                std::mem::size_of_val(v),
            )
        };
        out
    }

    fn aligned_ptr(b: &[u8]) -> *const c_void {
        let shift = b.as_ptr().align_offset(8);
        // SAFETY: test helper: `bytes_of` put the data at this shift.
        unsafe { b.as_ptr().add(shift) as *const c_void }
    }

    /// A bitmap from bools.
    pub fn bits(valid: &[bool]) -> Vec<u8> {
        let mut out = vec![0u8; valid.len().div_ceil(8)];
        for (i, &v) in valid.iter().enumerate() {
            if v {
                out[i / 8] |= 1 << (i % 8);
            }
        }
        out
    }

    /// A primitive float64 array (with `offset` and optional validity).
    pub fn primitive(values: &[f64], offset: i64, valid: Option<&[bool]>) -> Box<FfiArray> {
        let data = bytes_of(values);
        let (vbuf, nulls) = match valid {
            Some(v) => (bits(v), v.iter().filter(|&&b| !b).count() as i64),
            None => (Vec::new(), 0),
        };
        let ptrs = vec![
            if valid.is_some() {
                vbuf.as_ptr() as *const c_void
            } else {
                std::ptr::null()
            },
            aligned_ptr(&data),
        ];
        let mut holder = Box::new(Holder {
            _buffers: vec![vbuf, data],
            ptrs,
            child: None,
            child_ptrs: Vec::new(),
            released: Arc::default(),
        });
        let buffers = holder.ptrs.as_mut_ptr();
        Box::new(FfiArray {
            length: values.len() as i64 - offset,
            null_count: nulls,
            offset,
            n_buffers: 2,
            n_children: 0,
            buffers,
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: Some(release_child),
            private_data: Box::into_raw(holder) as *mut c_void,
        })
    }

    /// A list array (`offsets` as i32, or None for fixed-size) over `child`.
    pub fn list(
        offsets: Option<&[i32]>,
        length: i64,
        offset: i64,
        valid: Option<&[bool]>,
        child: Box<FfiArray>,
    ) -> FfiArray {
        let obuf = offsets.map(bytes_of).unwrap_or_default();
        let (vbuf, nulls) = match valid {
            Some(v) => (bits(v), v.iter().filter(|&&b| !b).count() as i64),
            None => (Vec::new(), 0),
        };
        let mut ptrs = vec![if valid.is_some() {
            vbuf.as_ptr() as *const c_void
        } else {
            std::ptr::null()
        }];
        if offsets.is_some() {
            ptrs.push(aligned_ptr(&obuf));
        }
        let mut holder = Box::new(Holder {
            _buffers: vec![vbuf, obuf],
            ptrs,
            child: Some(child),
            child_ptrs: Vec::new(),
            released: Arc::default(),
        });
        let child_ptr: *mut FfiArray = &mut **holder.child.as_mut().unwrap();
        holder.child_ptrs.push(child_ptr);
        FfiArray {
            length,
            null_count: nulls,
            offset,
            n_buffers: holder.ptrs.len() as i64,
            n_children: 1,
            buffers: holder.ptrs.as_mut_ptr(),
            children: holder.child_ptrs.as_mut_ptr(),
            dictionary: std::ptr::null_mut(),
            release: Some(release_array),
            private_data: Box::into_raw(holder) as *mut c_void,
        }
    }

    struct SchemaHolder {
        _formats: Vec<CString>,
        child: Box<FfiSchema>,
        child_ptr: Vec<*mut FfiSchema>,
    }

    unsafe extern "C" fn release_schema(s: *mut FfiSchema) {
        // SAFETY: test producer: private_data is the Box<SchemaHolder> made in `schema`.
        let s = unsafe { &mut *s };
        drop(unsafe { Box::from_raw(s.private_data as *mut SchemaHolder) });
        s.release = None;
    }

    /// A list schema `format` with child `child_format`.
    pub fn schema(format: &str, child_format: &str) -> FfiSchema {
        let f = CString::new(format).unwrap();
        let c = CString::new(child_format).unwrap();
        let mut child = Box::new(FfiSchema::released());
        child.format = c.as_ptr();
        let mut holder = Box::new(SchemaHolder {
            _formats: vec![f, c],
            child,
            child_ptr: Vec::new(),
        });
        let child_ptr: *mut FfiSchema = &mut *holder.child;
        holder.child_ptr.push(child_ptr);
        FfiSchema {
            format: holder._formats[0].as_ptr(),
            name: std::ptr::null(),
            metadata: std::ptr::null(),
            flags: 0,
            n_children: 1,
            children: holder.child_ptr.as_mut_ptr(),
            dictionary: std::ptr::null_mut(),
            release: Some(release_schema),
            private_data: Box::into_raw(holder) as *mut c_void,
        }
    }
    /// A stream over `arrays` (then the end, or error 5 when `fail`), with a list<double>
    /// schema; the counter counts the stream's release calls.
    pub fn stream(arrays: Vec<FfiArray>, fail: bool) -> (FfiStream, Arc<AtomicUsize>) {
        struct State {
            arrays: std::collections::VecDeque<FfiArray>,
            fail: bool,
            released: Arc<AtomicUsize>,
            error: CString,
        }
        unsafe extern "C" fn get_schema(_: *mut FfiStream, out: *mut FfiSchema) -> c_int {
            // SAFETY: test producer: `out` is the consumer's released structure.
            unsafe { std::ptr::write(out, schema("+l", "g")) };
            0
        }
        unsafe extern "C" fn get_next(s: *mut FfiStream, out: *mut FfiArray) -> c_int {
            // SAFETY: test producer: private_data is the Box<State> made below.
            let state = unsafe { &mut *((*s).private_data as *mut State) };
            match state.arrays.pop_front() {
                // SAFETY: `out` is the consumer's released structure.
                Some(a) => unsafe { std::ptr::write(out, a) },
                None if state.fail => return 5,
                None => unsafe { std::ptr::write(out, FfiArray::released()) },
            }
            0
        }
        unsafe extern "C" fn last_error(s: *mut FfiStream) -> *const c_char {
            // SAFETY: as above.
            unsafe { &*((*s).private_data as *const State) }
                .error
                .as_ptr()
        }
        unsafe extern "C" fn release(s: *mut FfiStream) {
            // SAFETY: as above; the arrays never handed out are released with the state.
            let s = unsafe { &mut *s };
            let mut state = unsafe { Box::from_raw(s.private_data as *mut State) };
            for a in state.arrays.iter_mut() {
                if let Some(r) = a.release {
                    unsafe { r(a) };
                }
            }
            state.released.fetch_add(1, Ordering::SeqCst);
            s.release = None;
        }
        let released = Arc::new(AtomicUsize::new(0));
        let state = Box::new(State {
            arrays: arrays.into(),
            fail,
            released: released.clone(),
            error: CString::new("boom").unwrap(),
        });
        (
            FfiStream {
                get_schema: Some(get_schema),
                get_next: Some(get_next),
                get_last_error: Some(last_error),
                release: Some(release),
                private_data: Box::into_raw(state) as *mut c_void,
            },
            released,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use std::sync::atomic::Ordering;

    fn rows_of(v: &ListView<'_>) -> Vec<Option<Vec<f64>>> {
        v.validate().unwrap();
        let Values::F64(values) = v.values else {
            panic!("f64")
        };
        (0..v.rows)
            .map(|r| {
                if v.is_null(r) {
                    None
                } else {
                    let range = v.row_range(r);
                    Some(
                        range
                            .clone()
                            .map(|i| {
                                if v.value_valid.is_none_or(|b| b.get(i)) {
                                    values[i]
                                } else {
                                    f64::NAN
                                }
                            })
                            .collect(),
                    )
                }
            })
            .collect()
    }

    #[test]
    fn take_moves_and_drop_releases_exactly_once() {
        let mut slot = list(
            Some(&[0, 1, 3]),
            2,
            0,
            None,
            primitive(&[1.0, 2.0, 3.0], 0, None),
        );
        let released = release_counter(&slot);
        // SAFETY: a local structure.
        let owned = unsafe { OwnedArray::take(&mut slot, "p") }.unwrap();
        assert!(slot.release.is_none(), "the source is marked released");
        // SAFETY: as above.
        let again = unsafe { OwnedArray::take(&mut slot, "p") };
        assert!(matches!(again, Err(Error::ArrowReleased { .. })));
        assert_eq!(released.load(Ordering::SeqCst), 0);
        drop(owned);
        assert_eq!(released.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn streams_yield_their_arrays_then_end_and_release_once() {
        let arrays = vec![
            list(Some(&[0, 1]), 1, 0, None, primitive(&[1.0], 0, None)),
            list(
                Some(&[0, 2, 3]),
                2,
                0,
                None,
                primitive(&[1.0, 2.0, 3.0], 0, None),
            ),
        ];
        let counters: Vec<_> = arrays.iter().map(release_counter).collect();
        let (mut slot, released) = stream(arrays, false);
        // SAFETY: a local structure.
        let mut s = unsafe { OwnedStream::take(&mut slot, "p") }.unwrap();
        let ty = list_type(&s.schema("p").unwrap(), "p").unwrap();
        assert_eq!(ty.kind, ListKind::List);
        let first = s.next_array("p").unwrap().unwrap();
        assert_eq!(list_view(&first, &ty, "p").unwrap().rows, 1);
        drop(first);
        assert_eq!(counters[0].load(Ordering::SeqCst), 1);
        let second = s.next_array("p").unwrap().unwrap();
        assert_eq!(list_view(&second, &ty, "p").unwrap().rows, 2);
        assert!(s.next_array("p").unwrap().is_none());
        drop(s);
        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert_eq!(
            counters[1].load(Ordering::SeqCst),
            0,
            "still owned by `second`"
        );
        drop(second);
        assert_eq!(counters[1].load(Ordering::SeqCst), 1);
        // a failing stream reports the producer's message
        let (mut slot, released) = stream(Vec::new(), true);
        // SAFETY: a local structure.
        let mut s = unsafe { OwnedStream::take(&mut slot, "q") }.unwrap();
        let err = s.next_array("q").unwrap_err();
        assert_eq!(
            err,
            Error::ArrowStream {
                arg: "q",
                code: 5,
                message: "boom".into()
            }
        );
        drop(s);
        assert_eq!(released.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn schemas_name_their_list_type() {
        for (f, c, want) in [
            ("+l", "g", Some((ListKind::List, ValueKind::F64))),
            ("+L", "f", Some((ListKind::LargeList, ValueKind::F32))),
            ("+w:4", "g", Some((ListKind::Fixed(4), ValueKind::F64))),
            ("+w:x", "g", None),
            ("+vl", "g", None),
            ("+l", "l", None),
            ("+s", "g", None),
        ] {
            let mut s = schema(f, c);
            // SAFETY: a local structure.
            let owned = unsafe { OwnedSchema::take(&mut s, "p") }.unwrap();
            assert_eq!(format(&owned), f);
            let got = list_type(&owned, "p").ok().map(|t| (t.kind, t.value));
            assert_eq!(got, want, "{f}<{c}>");
        }
        let mut s = schema("+l", "l");
        // SAFETY: a local structure.
        let owned = unsafe { OwnedSchema::take(&mut s, "q") }.unwrap();
        let msg = list_type(&owned, "q").unwrap_err().to_string();
        assert!(msg.contains("`q`") && msg.contains("+l<l>"), "{msg}");
        assert!(msg.contains("(the column is list<int64>)"), "{msg}");
        for (f, c, words) in [
            (
                "+L",
                "vu",
                "(the column is large_list<utf8_view>); cast them first",
            ),
            (
                "+w:3",
                "n",
                "(the column is fixed_size_list<null>[3]); cast them first",
            ),
            (
                "+vl",
                "g",
                "list views are not supported; cast to a list (the column is list_view)",
            ),
            (
                "+s",
                "g",
                "expected a list, large list or fixed-size list (the column is struct)",
            ),
        ] {
            let mut s = schema(f, c);
            // SAFETY: a local structure.
            let owned = unsafe { OwnedSchema::take(&mut s, "p") }.unwrap();
            let msg = list_type(&owned, "p").unwrap_err().to_string();
            assert!(msg.contains(words), "{f}<{c}>: {msg}");
        }
    }

    #[test]
    fn type_names_in_words() {
        for (f, want) in [
            ("n", "null"),
            ("b", "bool"),
            ("c", "int8"),
            ("C", "uint8"),
            ("s", "int16"),
            ("S", "uint16"),
            ("i", "int32"),
            ("I", "uint32"),
            ("l", "int64"),
            ("L", "uint64"),
            ("e", "float16"),
            ("f", "float32"),
            ("g", "float64"),
            ("u", "utf8"),
            ("U", "large_utf8"),
            ("vu", "utf8_view"),
            ("z", "binary"),
            ("Z", "large_binary"),
            ("+l", "list"),
            ("+L", "large_list"),
            ("+w:4", "fixed_size_list[4]"),
            ("+vl", "list_view"),
            ("+vL", "large_list_view"),
            ("+s", "struct"),
            ("+l<l>", "list<int64>"),
            ("+L<vu>", "large_list<utf8_view>"),
            ("+w:4<g>", "fixed_size_list<float64>[4]"),
            ("+vL<f>", "large_list_view<float32>"),
            ("+l<+l>", "list<list>"),
            ("+l<n>", "list<null>"),
            ("d:10,2", "decimal(10,2)"),
            ("tss:UTC", "timestamp"),
            ("", "unknown"),
            ("?", "unknown"),
            ("+l<", "unknown"),
        ] {
            assert_eq!(type_name(f), want, "{f:?}");
        }
    }

    #[test]
    fn sliced_lists_with_null_rows_and_values() {
        // values 0..8 with value 7 null; the child itself sliced by 1
        let values: Vec<f64> = (0..9).map(|v| v as f64).collect();
        let valid: Vec<bool> = (0..9).map(|i| i != 7).collect();
        let child = primitive(&values, 1, Some(&valid));
        // rows over the child's items: [0,2) [2,2) [2,5) [5,8); list offset 1, 3 rows
        let row_valid = [true, true, false, true];
        let mut slot = list(Some(&[0, 2, 2, 5, 8]), 3, 1, Some(&row_valid), child);
        // SAFETY: a local structure.
        let owned = unsafe { OwnedArray::take(&mut slot, "p") }.unwrap();
        let ty = ListType {
            kind: ListKind::List,
            value: ValueKind::F64,
        };
        let v = list_view(&owned, &ty, "p").unwrap();
        assert_eq!(v.rows, 3);
        let rows = rows_of(&v);
        assert_eq!(rows[0], Some(vec![]));
        assert_eq!(rows[1], None);
        let last = rows[2].clone().unwrap();
        assert_eq!(last[0], 6.0);
        assert!(last[1].is_nan(), "child item 6 is value 7, null");
        assert_eq!(last[2], 8.0);
    }

    #[test]
    fn fixed_size_lists_with_an_offset() {
        // values 0..12, the child sliced by 2: child items are the values 2..12
        let values: Vec<f64> = (0..12).map(|v| v as f64).collect();
        let child = primitive(&values, 2, None);
        // two rows of three from list row 1: child items 3..9
        let mut slot = list(None, 2, 1, None, child);
        // SAFETY: a local structure.
        let owned = unsafe { OwnedArray::take(&mut slot, "p") }.unwrap();
        let ty = ListType {
            kind: ListKind::Fixed(3),
            value: ValueKind::F64,
        };
        let v = list_view(&owned, &ty, "p").unwrap();
        assert_eq!(
            rows_of(&v),
            vec![Some(vec![5.0, 6.0, 7.0]), Some(vec![8.0, 9.0, 10.0])]
        );
    }

    #[test]
    fn malformed_arrays_are_errors() {
        let ty = ListType {
            kind: ListKind::Fixed(5),
            value: ValueKind::F64,
        };
        let mut slot = list(None, 3, 0, None, primitive(&[1.0; 10], 0, None));
        // SAFETY: a local structure.
        let owned = unsafe { OwnedArray::take(&mut slot, "p") }.unwrap();
        let err = list_view(&owned, &ty, "p").unwrap_err();
        assert!(err.to_string().contains("shorter"), "{err}");
        let ty = ListType {
            kind: ListKind::List,
            value: ValueKind::F64,
        };
        let err = list_view(&owned, &ty, "p").unwrap_err();
        assert!(matches!(err, Error::ArrowLayout { .. }), "{err}");
    }
}
