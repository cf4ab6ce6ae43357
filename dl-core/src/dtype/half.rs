//! bf16 and f16: conversions from and to `f32`, rounding to nearest, ties
//! to even (through the [`half`](https://docs.rs/half) crate).
//!
//! These are the storage formats of mixed-precision training and of
//! low-precision checkpoints. Kernels on the CPU backend compute in `f32`
//! and `f64` only; these functions convert at the boundaries (checkpoint
//! loading, master-weight copies). Values are passed as raw bits (`u16`),
//! the layout safetensors and GPU buffers use.
//!
//! | format | exponent bits | mantissa bits | largest finite | smallest normal |
//! |---|---|---|---|---|
//! | bf16 | 8 | 7 | ~3.39e38 | ~1.18e-38 |
//! | f16 | 5 | 10 | 65504 | ~6.10e-5 |
//!
//! ```
//! use dl_core::dtype::half::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};
//! // 1 + 2^-8 is halfway between the bf16 neighbours 1 and 1 + 2^-7: ties go to the even one.
//! assert_eq!(bf16_to_f32(f32_to_bf16(1.0 + 1.0 / 256.0)), 1.0);
//! // f16 overflows to infinity above 65504 (plus half an ulp).
//! assert_eq!(f16_to_f32(f32_to_f16(70000.0)), f32::INFINITY);
//! ```

use ::half::{bf16, f16};

/// `x` rounded to `f32` toward zero, with the last bit set when that is
/// inexact ("round to odd"). Rounding the result to nearest-even in a format
/// of at least two bits less precision (bf16, f16) gives `x` correctly
/// rounded in that format: the odd bit keeps the lost part from looking
/// like a tie. Overflow gives `±f32::MAX` (odd), which then rounds to
/// infinity in both formats, as `x` itself would.
fn round_to_odd_f32(x: f64) -> f32 {
    let r = x as f32;
    if r.is_nan() || f64::from(r) == x {
        return r;
    }
    let mut bits = r.to_bits();
    if f64::from(r).abs() > x.abs() {
        // Sign and magnitude: one step down in the bits is one step toward zero.
        bits -= 1;
    }
    f32::from_bits(bits | 1)
}

/// The conversions of one 16-bit format `$t` (a type of the `half`
/// crate): from `f32` (documented by the caller: the rounding differs by
/// format), back to `f32`, both over slices, and the round trip.
macro_rules! conversions {
    ($t:ident: $(#[$to_doc:meta])* $to:ident, $to64:ident, $from:ident, $to_slice:ident, $from_slice:ident, $round:ident) => {
        $(#[$to_doc])*
        #[inline]
        pub fn $to(x: f32) -> u16 {
            $t::from_f32(x).to_bits()
        }

        #[doc = concat!("[`", stringify!($to), "`] from an `f64`, correctly rounded (not through a rounded `f32`, which could move a value onto a tie).")]
        #[inline]
        pub fn $to64(x: f64) -> u16 {
            $t::from_f32(round_to_odd_f32(x)).to_bits()
        }

        #[doc = concat!("The `f32` value of ", stringify!($t), " bits (exact: every ", stringify!($t), " is an `f32`).")]
        #[inline]
        pub fn $from(bits: u16) -> f32 {
            $t::from_bits(bits).to_f32()
        }

        #[doc = concat!("Converts a slice to ", stringify!($t), " bits ([`", stringify!($to), "`] element by element).")]
        pub fn $to_slice(src: &[f32]) -> Vec<u16> {
            src.iter().map(|&x| $to(x)).collect()
        }

        #[doc = concat!("Converts ", stringify!($t), " bits to `f32` ([`", stringify!($from), "`] element by element).")]
        pub fn $from_slice(src: &[u16]) -> Vec<f32> {
            src.iter().map(|&b| $from(b)).collect()
        }

        #[doc = concat!("`x` rounded to ", stringify!($t), " and back: the value a ", stringify!($t), " tensor would hold.")]
        #[inline]
        pub fn $round(x: f32) -> f32 {
            $from($to(x))
        }
    };
}

conversions!(bf16:
    /// `x` rounded to the nearest bf16 (ties to even), as raw bits. NaN stays
    /// NaN (quiet), infinities stay infinite, values beyond the largest finite
    /// bf16 round to infinity.
    f32_to_bf16, f64_to_bf16, bf16_to_f32, f32_slice_to_bf16, bf16_slice_to_f32, round_bf16
);

conversions!(f16:
    /// `x` rounded to the nearest f16 (ties to even), as raw bits. Values below
    /// the smallest normal f16 become f16 subnormals (or zero, keeping the
    /// sign); values at or beyond 65520 round to infinity; NaN stays NaN.
    f32_to_f16, f64_to_f16, f16_to_f32, f32_slice_to_f16, f16_slice_to_f32, round_f16
);

#[cfg(test)]
mod tests {
    //! Expected bit patterns are worked out by hand from the IEEE layouts:
    //! bf16 = sign | 8 exponent bits (bias 127) | 7 mantissa bits, the top
    //! half of an `f32`; f16 = sign | 5 exponent bits (bias 15) | 10
    //! mantissa bits.
    use super::*;

    #[test]
    fn bf16_exact_values() {
        assert_eq!(f32_to_bf16(0.0), 0x0000);
        assert_eq!(f32_to_bf16(-0.0), 0x8000);
        assert_eq!(f32_to_bf16(1.0), 0x3F80);
        assert_eq!(f32_to_bf16(-2.0), 0xC000);
        assert_eq!(f32_to_bf16(0.5), 0x3F00);
        assert_eq!(bf16_to_f32(0x3F80), 1.0);
        assert_eq!(bf16_to_f32(0x4049), 3.140625); // 1.5703125 * 2
    }

    #[test]
    fn f64_values_are_rounded_once() {
        // Just above the bf16 tie between 1 and 1 + 2^-7: through f32 the
        // 2^-40 is lost, the value lands on the tie and goes to 1 (even).
        let x = 1.0 + 2f64.powi(-8) + 2f64.powi(-40);
        assert_eq!(f32_to_bf16(x as f32), 0x3F80);
        assert_eq!(f64_to_bf16(x), 0x3F81);
        // The same for f16 (ulp 2^-10 at 1): the tie is 1 + 2^-11.
        let y = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        assert_eq!(f32_to_f16(y as f32), 0x3C00);
        assert_eq!(f64_to_f16(y), 0x3C01);
        assert_eq!(f64_to_f16(70000.0), 0x7C00);
        assert_eq!(f64_to_bf16(-0.0), 0x8000);
        assert!(bf16_to_f32(f64_to_bf16(f64::NAN)).is_nan());
        assert_eq!(f64_to_bf16(1e300), 0x7F80);
        assert_eq!(f64_to_bf16(-1e-300), 0x8000);
        // Against an exact reference: the nearest of the two bf16
        // neighbours, ties to even, for values across binades and signs.
        let mut rng = crate::Rng::new(7);
        for _ in 0..20_000 {
            let x = rng.normal() * 2f64.powi((rng.uniform() * 60.0) as i32 - 30);
            let lo_bits = f32_to_bf16(x as f32);
            let (a, b) = [lo_bits.wrapping_sub(1), lo_bits, lo_bits.wrapping_add(1)]
                .iter()
                .map(|&c| (f64::from(bf16_to_f32(c)), c))
                .fold(
                    ((f64::INFINITY, 0u16), (f64::INFINITY, 0u16)),
                    |(best, second), (v, c)| {
                        let d = (v - x).abs();
                        if d < best.0 {
                            ((d, c), best)
                        } else if d < second.0 {
                            (best, (d, c))
                        } else {
                            (best, second)
                        }
                    },
                );
            let want = if a.0 == b.0 {
                if a.1 % 2 == 0 {
                    a.1
                } else {
                    b.1
                }
            } else {
                a.1
            };
            assert_eq!(f64_to_bf16(x), want, "x = {x:e}");
        }
    }

    #[test]
    fn bf16_round_to_nearest_even() {
        // f32 1.0 = 0x3F80_0000; one bf16 ulp at 1 is 2^-7 = 0x1_0000 in f32 bits.
        // Exactly half an ulp above 1 (0x3F80_8000): tie, 1.0 has an even
        // mantissa (0), so it stays 0x3F80.
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_8000)), 0x3F80);
        // Half an ulp above 1 + 2^-7 (odd mantissa 1): tie rounds up to mantissa 2.
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F81_8000)), 0x3F82);
        // Just above the tie rounds up, just below rounds down.
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_8001)), 0x3F81);
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_7FFF)), 0x3F80);
        // Negative values round the magnitude the same way.
        assert_eq!(f32_to_bf16(f32::from_bits(0xBF81_8000)), 0xBF82);
        // Not truncation: 1 + 3*2^-9 (0x3F80_C000) is above the tie, so up.
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 512.0), 0x3F81);
        // Carry into the exponent: the largest mantissa plus a tie-up
        // (0x3FFF_8000, odd mantissa 0x7F) gives 2.0 (0x4000).
        assert_eq!(f32_to_bf16(f32::from_bits(0x3FFF_8000)), 0x4000);
    }

    #[test]
    fn bf16_subnormals_inf_nan_overflow() {
        // The smallest f32 subnormal (2^-149) is below half the smallest bf16
        // subnormal (2^-133): it rounds to zero.
        assert_eq!(f32_to_bf16(f32::from_bits(1)), 0x0000);
        // bf16 subnormal 2^-133 = bits 0x0001, exact both ways.
        assert_eq!(f32_to_bf16(f32::from_bits(0x0001_0000)), 0x0001);
        assert_eq!(bf16_to_f32(0x0001), 2f32.powi(-133));
        // Tie between subnormals 0x0000 and 0x0001 (0x0000_8000) goes to even 0;
        // between 0x0001 and 0x0002 (0x0001_8000) goes to even 2.
        assert_eq!(f32_to_bf16(f32::from_bits(0x0000_8000)), 0x0000);
        assert_eq!(f32_to_bf16(f32::from_bits(0x0001_8000)), 0x0002);
        assert_eq!(f32_to_bf16(f32::INFINITY), 0x7F80);
        assert_eq!(f32_to_bf16(f32::NEG_INFINITY), 0xFF80);
        assert_eq!(bf16_to_f32(0x7F80), f32::INFINITY);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
        // A NaN whose payload sits only in the low 16 bits must not become
        // infinity by truncation.
        let nan = f32::from_bits(0x7F80_0001);
        assert!(nan.is_nan());
        assert!(bf16_to_f32(f32_to_bf16(nan)).is_nan());
        // f32::MAX (0x7F7F_FFFF) is above the largest bf16 (0x7F7F) by more
        // than half an ulp: rounds to infinity.
        assert_eq!(f32_to_bf16(f32::MAX), 0x7F80);
        // Just below that halfway point (0x7F7F_7FFF) stays the largest finite.
        assert_eq!(f32_to_bf16(f32::from_bits(0x7F7F_7FFF)), 0x7F7F);
    }

    #[test]
    fn f16_exact_values() {
        assert_eq!(f32_to_f16(1.0), 0x3C00);
        assert_eq!(f32_to_f16(-2.0), 0xC000);
        assert_eq!(f32_to_f16(65504.0), 0x7BFF);
        assert_eq!(f32_to_f16(-0.0), 0x8000);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95); // 1.333..*2^-2 rounded: 1365/4096
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
    }

    #[test]
    fn f16_round_to_nearest_even() {
        // One f16 ulp at 1 is 2^-10.
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3C00); // tie, even stays
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3C02); // tie from odd 0x3C01 goes up
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11) + 2f32.powi(-20)), 0x3C01); // above the tie
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11) - 2f32.powi(-20)), 0x3C00); // below the tie
                                                                               // 2049 is a tie between 2048 and 2050 (ulp 2 there): to even 2048.
        assert_eq!(f16_to_f32(f32_to_f16(2049.0)), 2048.0);
        assert_eq!(f16_to_f32(f32_to_f16(2051.0)), 2052.0);
    }

    #[test]
    fn f16_subnormals() {
        // Smallest f16 subnormal 2^-24 = 0x0001; largest subnormal 0x03FF.
        assert_eq!(f32_to_f16(2f32.powi(-24)), 0x0001);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03FF), 1023.0 * 2f32.powi(-24));
        // 2^-25 is exactly half the smallest subnormal: tie to even zero.
        assert_eq!(f32_to_f16(2f32.powi(-25)), 0x0000);
        assert_eq!(f32_to_f16(-(2f32.powi(-25))), 0x8000);
        // Slightly above the tie rounds up to 0x0001.
        assert_eq!(f32_to_f16(2f32.powi(-25) * 1.01), 0x0001);
        // 3 * 2^-25 is a tie between 0x0001 and 0x0002: even 0x0002.
        assert_eq!(f32_to_f16(3.0 * 2f32.powi(-25)), 0x0002);
        // Below 2^-25 it is zero.
        assert_eq!(f32_to_f16(1e-10), 0x0000);
    }

    #[test]
    fn f16_inf_nan_overflow() {
        assert_eq!(f32_to_f16(f32::INFINITY), 0x7C00);
        assert_eq!(f32_to_f16(f32::NEG_INFINITY), 0xFC00);
        assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
        assert!(f16_to_f32(f32_to_f16(f32::NAN)).is_nan());
        assert!(f16_to_f32(0x7E00).is_nan());
        // 65504 + 16 = 65520 is halfway to 2^16 (the next step after 65504,
        // ulp 32): a tie from odd mantissa 0x3FF rounds up to infinity.
        assert_eq!(f32_to_f16(65519.0), 0x7BFF);
        assert_eq!(f32_to_f16(65520.0), 0x7C00);
        assert_eq!(f32_to_f16(1e6), 0x7C00);
        assert_eq!(f32_to_f16(-1e6), 0xFC00);
    }

    #[test]
    fn slices_and_round_trips() {
        let xs = [0.0, 1.0, -1.5, 3.0e38, 1e-3, f32::INFINITY];
        let b = f32_slice_to_bf16(&xs);
        let back = bf16_slice_to_f32(&b);
        for (x, y) in xs.iter().zip(&back) {
            assert_eq!(*y, round_bf16(*x));
            // bf16 keeps 8 significant bits: relative error at most 2^-9.
            if x.is_finite() {
                assert!((x - y).abs() <= x.abs() * 2f32.powi(-9), "{x} -> {y}");
            }
        }
        let h = f32_slice_to_f16(&[0.1, 65504.0, 1e5]);
        assert_eq!(f16_slice_to_f32(&h), vec![round_f16(0.1), 65504.0, f32::INFINITY]);
        // 0.1 in f16: 0x2E66 = 1.599609375 * 2^-4 = 0.0999755859375.
        assert_eq!(h[0], 0x2E66);
        // Every one of the 65536 bf16 and f16 bit patterns round-trips
        // through f32 exactly (NaNs stay NaN).
        for bits in 0..=u16::MAX {
            let v = bf16_to_f32(bits);
            if v.is_nan() {
                assert!(bf16_to_f32(f32_to_bf16(v)).is_nan());
            } else {
                assert_eq!(f32_to_bf16(v), bits);
            }
            let v = f16_to_f32(bits);
            if v.is_nan() {
                assert!(f16_to_f32(f32_to_f16(v)).is_nan());
            } else {
                assert_eq!(f32_to_f16(v), bits);
            }
        }
    }
}
