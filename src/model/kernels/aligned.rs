//! Buffers whose first element sits on a 64-byte boundary: a cache line, one AMX tile row,
//! one 512-bit vector. The bf16 products' weights, inputs and outputs live in them, so that
//! no tile row or vector load of the kernels straddles two cache lines (with the 16-byte
//! alignment `Vec` gets from the allocator, every 64-byte tile row touched two lines and the
//! AMX product ran at less than half its rate: measured 0.67 against 1.58 TFLOP/s on one
//! core, [1024,384]×[384,1536], Intel Xeon family 6 model 167).
//!
//! It holds plain numbers only ([`Plain`]: `u16` and `f32`) and knows nothing of layouts:
//! the row strides that keep every row aligned are the kernels' business.

use std::marker::PhantomData;

/// One cache line, the unit of allocation.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u8; 64]);

const LINE: usize = std::mem::size_of::<Line>();

/// Element types an [`AlignedBuf`] may hold: every bit pattern of their size is a value
/// (all zero bytes included), and their size divides a line.
pub trait Plain: Copy + Default + Send + Sync + 'static + private::Sealed {}
impl Plain for u16 {}
impl Plain for f32 {}
mod private {
    pub trait Sealed {}
    impl Sealed for u16 {}
    impl Sealed for f32 {}
}

/// A growable buffer of `T`, 64-byte aligned, with the part of `Vec`'s interface the
/// kernels use (`resize`, `truncate`, `clear`; slices through `Deref`).
pub struct AlignedBuf<T: Plain> {
    lines: Vec<Line>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Plain> AlignedBuf<T> {
    const PER_LINE: usize = LINE / std::mem::size_of::<T>();

    /// An empty buffer (no allocation).
    pub const fn new() -> AlignedBuf<T> {
        AlignedBuf {
            lines: Vec::new(),
            len: 0,
            _t: PhantomData,
        }
    }

    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> AlignedBuf<T> {
        let mut b = AlignedBuf::new();
        b.resize(len, value);
        b
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[T]) -> AlignedBuf<T> {
        let mut b = AlignedBuf::filled(values.len(), T::default());
        b.copy_from_slice(values);
        b
    }

    /// As `Vec::resize`: elements past the old length become `value`, the others stay.
    pub fn resize(&mut self, len: usize, value: T) {
        let lines = len.div_ceil(Self::PER_LINE);
        if lines > self.lines.len() {
            self.lines.resize(lines, Line([0; LINE]));
        }
        let old = self.len;
        self.len = len;
        if len > old {
            self[old..].fill(value);
        }
    }

    /// Shortens to `len` elements (no effect when already shorter).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Length zero; the allocation is kept.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<T: Plain> Default for AlignedBuf<T> {
    fn default() -> Self {
        AlignedBuf::new()
    }
}

impl<T: Plain> Clone for AlignedBuf<T> {
    fn clone(&self) -> Self {
        AlignedBuf::from_slice(self)
    }
}

impl<T: Plain> std::fmt::Debug for AlignedBuf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .finish()
    }
}

impl<T: Plain> std::ops::Deref for AlignedBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lines hold at least `len` values of `T` (resize keeps `lines` long
        // enough), every byte is initialised, any bit pattern is a `T` (`Plain`), and a
        // line's alignment (64) is a multiple of `T`'s.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const T, self.len) }
    }
}

impl<T: Plain> std::ops::DerefMut for AlignedBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, with the unique borrow of the lines.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut T, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vec_and_stays_aligned() {
        let mut b: AlignedBuf<u16> = AlignedBuf::new();
        assert!(b.is_empty());
        b.resize(5, 7);
        assert_eq!(&b[..], &[7; 5]);
        b[1] = 3;
        b.resize(40, 1);
        assert_eq!(b.len(), 40);
        assert_eq!(&b[..6], &[7, 3, 7, 7, 7, 1]);
        assert!(b[5..].iter().all(|&x| x == 1));
        assert_eq!(b.as_ptr() as usize % 64, 0);
        b.truncate(2);
        assert_eq!(&b[..], &[7, 3]);
        // Grown again, the elements past the old length take the new value (as Vec).
        b.resize(4, 9);
        assert_eq!(&b[..], &[7, 3, 9, 9]);
        let f = AlignedBuf::from_slice(&[1.5f32, -2.0, 0.25]);
        assert_eq!(&f.clone()[..], &[1.5, -2.0, 0.25]);
        assert_eq!(f.as_ptr() as usize % 64, 0);
        let mut big: AlignedBuf<f32> = AlignedBuf::filled(1 << 20, 0.5);
        assert_eq!(big.as_ptr() as usize % 64, 0);
        big.clear();
        assert!(big.is_empty());
    }
}
