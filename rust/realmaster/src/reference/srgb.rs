//! The sRGB transfer functions (IEC 61966-2-1) over whole images at the model's size, without a
//! `powf` per value: the model colour's encoding (preprocess) and the model output's decoding
//! (composite) ran ~590K `powf` calls a frame at 256x256 (~2.4 ms on one core).
//!
//! The powers come from square roots and Newton steps on small roots (branch-free lane loops
//! that compile to SIMD, the same operations in the baseline and the AVX2 build, so both give the
//! same bits), as close to the exact functions as the `powf` versions (relative error 5.2e-7 and
//! 6.8e-7 against f64 over [0, 1], `powf` 3.9e-7 and 6.8e-7; tested).

use rayon::prelude::*;

/// x^(1/n) for x in [1e-4, 1]: a first guess from the float's bits (its exponent divided by n,
/// within ~10 %), then Newton steps on y^n = x, each squaring the relative error.
#[inline(always)]
fn root<const N: i32, const STEPS: usize>(x: f32) -> f32 {
    let n = N as f32;
    let one = 1.0f32.to_bits() as i32 as f32;
    let mut y = f32::from_bits((x.to_bits() as i32 as f32 / n + one * (n - 1.0) / n) as i32 as u32);
    for _ in 0..STEPS {
        let mut p = y;
        for _ in 2..N {
            p *= y;
        }
        // y <- ((n - 1) y + x / y^(n-1)) / n
        y = ((n - 1.0) * y + x / p) * (1.0 / n);
    }
    y
}

/// sRGB-encoded `c` (clamped to [0, 1]) to linear light.
#[inline(always)]
pub fn decode(c: f32) -> f32 {
    // `max` then `min` so NaN ends at 0, as `clamp` on a NaN-free value would; a select per
    // lane instead of `f32::clamp` (whose NaN rule keeps it scalar).
    let c = if c > 0.0 { c } else { 0.0 };
    let c = if c < 1.0 { c } else { 1.0 };
    let z = (c + 0.055) * (1.0 / 1.055); // >= 0.052
    let z2 = z * z;
    // z^2.4 = z^2 * (z^2)^(1/5)
    let curve = z2 * root::<5, 3>(z2);
    if c <= 0.04045 {
        c * (1.0 / 12.92)
    } else {
        curve
    }
}

/// Linear `c` (clamped to [0, 1]) to sRGB encoding.
#[inline(always)]
pub fn encode(c: f32) -> f32 {
    let c = if c > 0.0 { c } else { 0.0 };
    let c = if c < 1.0 { c } else { 1.0 };
    // c^(1/2.4) = c^(5/12) = sqrt(sqrt(c)) * cbrt(sqrt(c)); the curve's own range keeps the root's
    // input away from 0.
    let s = (if c > 0.0031308 { c } else { 0.0031308 }).sqrt();
    let curve = 1.055 * (s.sqrt() * root::<3, 3>(s)) - 0.055;
    if c <= 0.0031308 {
        c * 12.92
    } else {
        curve
    }
}

/// Values per lane group (two RGBA pixels).
const GROUP: usize = 8;

/// What a lane map does: decode or encode the colour of RGBA pixels (alpha copied), or encode
/// every value.
#[derive(Clone, Copy)]
enum Op {
    DecodeRgba,
    EncodeRgba,
    Encode,
}

/// `f` on each value of `src` into `dst`, 8 at a time; with `RGBA`, every fourth value (alpha)
/// copied instead.
#[inline(always)]
fn map_lanes<const RGBA: bool>(src: &[f32], dst: &mut [f32], f: impl Fn(f32) -> f32) {
    let keep = |k: usize| RGBA && k % 4 == 3;
    let mut s = src.chunks_exact(GROUP);
    let mut d = dst.chunks_exact_mut(GROUP);
    for (s, d) in (&mut s).zip(&mut d) {
        let mut v = [0.0f32; GROUP];
        for l in 0..GROUP {
            v[l] = if keep(l) { s[l] } else { f(s[l]) };
        }
        d.copy_from_slice(&v);
    }
    for (k, (s, d)) in s.remainder().iter().zip(d.into_remainder()).enumerate() {
        *d = if keep(k) { *s } else { f(*s) };
    }
}

#[inline(always)]
fn map_op(src: &[f32], dst: &mut [f32], op: Op) {
    match op {
        Op::DecodeRgba => map_lanes::<true>(src, dst, decode),
        Op::EncodeRgba => map_lanes::<true>(src, dst, encode),
        Op::Encode => map_lanes::<false>(src, dst, encode),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_op_avx2(src: &[f32], dst: &mut [f32], op: Op) {
    map_op(src, dst, op)
}

/// [`map_op`] in the build the CPU runs (`avx2`: only where it has AVX2).
fn map_with(src: &[f32], dst: &mut [f32], op: Op, avx2: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: only where the CPU has AVX2 (the callers pass `use_avx2()` or false).
        return unsafe { map_op_avx2(src, dst, op) };
    }
    let _ = avx2;
    map_op(src, dst, op)
}

/// [`encode`] of every value of `values`, in place, 8 at a time (one thread: for rows a caller
/// already runs in parallel).
pub fn encode_in_place(values: &mut [f32]) {
    let avx2 = super::blend::use_avx2();
    let mut buf = [0.0f32; 256];
    for chunk in values.chunks_mut(buf.len()) {
        let src = &mut buf[..chunk.len()];
        src.copy_from_slice(chunk);
        map_with(src, chunk, Op::Encode, avx2);
    }
}

/// Rows per parallel task (in values: 1024 RGBA pixels).
const CHUNK: usize = 4096;

fn map_par(src: &[f32], dst: &mut [f32], op: Op, avx2: bool) {
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(d, s)| map_with(s, d, op, avx2));
}

/// RGBA sRGB values to linear light into `dst` (resized to `src`'s length, whole pixels): colour
/// clamped to [0, 1] and decoded, alpha copied. In parallel chunks.
pub fn decode_rgba_into(src: &[f32], dst: &mut Vec<f32>) {
    let n = src.len() / 4 * 4;
    dst.clear();
    dst.resize(n, 0.0);
    map_par(&src[..n], dst, Op::DecodeRgba, super::blend::use_avx2());
}

/// RGBA linear values to sRGB encoding into `dst` (of `src`'s length): colour clamped to [0, 1]
/// and encoded, alpha copied. In parallel chunks.
pub fn encode_rgba_into(src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "encode_rgba_into: lengths differ");
    map_par(src, dst, Op::EncodeRgba, super::blend::use_avx2());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_decode(c: f64) -> f64 {
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }

    fn exact_encode(c: f64) -> f64 {
        if c <= 0.0031308 {
            c * 12.92
        } else {
            1.055 * c.powf(1.0 / 2.4) - 0.055
        }
    }

    /// Every 61st float in [0, 1] (~17M values) and the ends of each branch.
    fn sweep() -> impl Iterator<Item = f32> {
        (0..=1.0f32.to_bits())
            .step_by(61)
            .map(f32::from_bits)
            .chain([0.0, 1.0, 0.04045, 0.0031308, 1e-30, 0.5])
    }

    #[test]
    fn decode_and_encode_match_the_exact_functions() {
        let (mut worst_d, mut worst_e) = (0.0f64, 0.0f64);
        for c in sweep() {
            let (d, e) = (exact_decode(c as f64), exact_encode(c as f64));
            // relative, with an absolute floor at the bottom of the linear segment
            worst_d = worst_d.max((decode(c) as f64 - d).abs() / d.max(1e-6));
            worst_e = worst_e.max((encode(c) as f64 - e).abs() / e.max(1e-6));
        }
        let (mut pd, mut pe) = (0.0f64, 0.0f64);
        for c in sweep() {
            let (d, e) = (exact_decode(c as f64), exact_encode(c as f64));
            pd = pd.max((crate::frame::srgb_to_linear(c) as f64 - d).abs() / d.max(1e-6));
            pe = pe.max((crate::frame::linear_to_srgb(c) as f64 - e).abs() / e.max(1e-6));
        }
        // Measured: decode 5.2e-7 (powf 3.9e-7), encode 6.8e-7 (powf 6.8e-7: the curve's
        // `- 0.055` near its foot costs both the same).
        assert!(
            worst_d < 6e-7 && worst_d < 1.5 * pd,
            "decode: relative error {worst_d:e} (powf {pd:e})"
        );
        assert!(
            worst_e < 7e-7 && worst_e < 1.5 * pe,
            "encode: relative error {worst_e:e} (powf {pe:e})"
        );
        // against the scalar `powf` definitions the runtime's tables use
        for c in sweep() {
            let (d, e) = (
                crate::frame::srgb_to_linear(c),
                crate::frame::linear_to_srgb(c),
            );
            assert!(
                (decode(c) - d).abs() <= 1e-6 * d.max(1e-6),
                "{c}: {} vs {d}",
                decode(c)
            );
            assert!(
                (encode(c) - e).abs() <= 1e-6 * e.max(1e-6),
                "{c}: {} vs {e}",
                encode(c)
            );
        }
    }

    #[test]
    fn out_of_range_and_nan_clamp() {
        for (c, to) in [
            (-1.0f32, 0.0f32),
            (f32::NAN, 0.0),
            (2.0, 1.0),
            (f32::INFINITY, 1.0),
        ] {
            assert_eq!(decode(c), decode(to), "decode({c})");
            assert_eq!(encode(c), encode(to), "encode({c})");
        }
        assert_eq!(decode(0.0), 0.0);
        assert_eq!(encode(0.0), 0.0);
        assert!((decode(1.0) - 1.0).abs() < 2e-7 && (encode(1.0) - 1.0).abs() < 2e-7);
    }

    /// The image functions: alpha copied, colour mapped; the AVX2 build gives the baseline's bits;
    /// encode then decode returns the clamped value.
    #[test]
    fn rgba_images_keep_alpha_and_both_builds_agree() {
        let n = 3 * CHUNK + 4 * 5; // several chunks and a partial lane group
        let src: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1201) as f32 / 1000.0 - 0.05)
            .collect();
        let mut lin = Vec::new();
        decode_rgba_into(&src, &mut lin);
        for (k, (&s, &l)) in src.iter().zip(&lin).enumerate() {
            let want = if k % 4 == 3 { s } else { decode(s) };
            assert_eq!(l.to_bits(), want.to_bits(), "value {k}");
        }
        let mut base = vec![0.0; n];
        map_with(&src, &mut base, Op::DecodeRgba, false);
        assert_eq!(base, lin);
        let mut enc = vec![0.0; n];
        encode_rgba_into(&lin, &mut enc);
        let mut base = vec![0.0; n];
        map_with(&lin, &mut base, Op::EncodeRgba, false);
        assert_eq!(base, enc);
        let mut flat = src.clone();
        encode_in_place(&mut flat);
        assert!(flat
            .iter()
            .zip(&src)
            .all(|(f, s)| f.to_bits() == encode(*s).to_bits()));
        for (k, (&s, &e)) in src.iter().zip(&enc).enumerate() {
            let want = if k % 4 == 3 { s } else { s.clamp(0.0, 1.0) };
            assert!((e - want).abs() < 1e-6, "value {k}: {e} vs {want}");
        }
    }
}
