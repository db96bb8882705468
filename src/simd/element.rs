//! The element types the kernels read: f32 and f64, widened exactly to f64 lanes.
//!
//! It lives in `simd` (the bottom layer) because loading and storing lanes is a vector
//! operation; `kernels` re-exports it.

use super::vector::F8;

/// An element type the kernels read: f32 or f64, widened to f64 for arithmetic.
pub trait Real: Copy + Default + PartialOrd + std::fmt::Debug + Send + Sync + 'static {
    /// Whether this is f32 (kernels then may use the native f32 paths, DESIGN §2b).
    const IS_F32: bool;
    /// The value as f64 (exact for both types).
    fn to_f64(self) -> f64;
    /// The nearest value of this type (round to nearest even).
    fn from_f64(v: f64) -> Self;
    /// Eight values widened into a vector.
    fn load_lanes<V: F8>(x: &[Self; 8]) -> V;
    /// A vector's eight lanes stored as this type (rounded to nearest for f32).
    fn store_lanes<V: F8>(v: V, out: &mut [Self; 8]);
    /// The slice as f32, when `Self` is f32.
    fn as_f32(x: &[Self]) -> Option<&[f32]>;
    /// The mutable slice as f32, when `Self` is f32.
    fn as_f32_mut(x: &mut [Self]) -> Option<&mut [f32]>;
    /// The slice as f64, when `Self` is f64.
    fn as_f64(x: &[Self]) -> Option<&[f64]>;
    /// The mutable slice as f64, when `Self` is f64.
    fn as_f64_mut(x: &mut [Self]) -> Option<&mut [f64]>;
}

impl Real for f64 {
    const IS_F32: bool = false;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn load_lanes<V: F8>(x: &[Self; 8]) -> V {
        V::load_f64(x)
    }
    #[inline(always)]
    fn store_lanes<V: F8>(v: V, out: &mut [Self; 8]) {
        v.store_f64(out)
    }
    #[inline(always)]
    fn as_f32(_: &[Self]) -> Option<&[f32]> {
        None
    }
    #[inline(always)]
    fn as_f32_mut(_: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
    #[inline(always)]
    fn as_f64(x: &[Self]) -> Option<&[f64]> {
        Some(x)
    }
    #[inline(always)]
    fn as_f64_mut(x: &mut [Self]) -> Option<&mut [f64]> {
        Some(x)
    }
}

impl Real for f32 {
    const IS_F32: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn load_lanes<V: F8>(x: &[Self; 8]) -> V {
        V::load_f32(x)
    }
    #[inline(always)]
    fn store_lanes<V: F8>(v: V, out: &mut [Self; 8]) {
        v.store_f32(out)
    }
    #[inline(always)]
    fn as_f32(x: &[Self]) -> Option<&[f32]> {
        Some(x)
    }
    #[inline(always)]
    fn as_f32_mut(x: &mut [Self]) -> Option<&mut [f32]> {
        Some(x)
    }
    #[inline(always)]
    fn as_f64(_: &[Self]) -> Option<&[f64]> {
        None
    }
    #[inline(always)]
    fn as_f64_mut(_: &mut [Self]) -> Option<&mut [f64]> {
        None
    }
}
