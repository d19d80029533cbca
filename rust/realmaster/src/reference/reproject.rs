//! Reprojection (the CPU implementation of gpu/composite/reproject.wgsl): warp an image with a motion field, flag off-screen samples.

use rayon::prelude::*;

use super::blend::use_avx2;
use super::decode::ensure_shape;
use crate::frame::ImageF32;

/// Bilinear sample of a 4-channel image at continuous position `t` (pixel centres at integers),
/// clamping taps to the edge. `t` must already be clamped to a finite range.
#[inline(always)]
fn bilinear4(src: &ImageF32, tx: f32, ty: f32) -> [f32; 4] {
    let (bx, by) = (tx.floor(), ty.floor());
    let (fx, fy) = (tx - bx, ty - by);
    let (x0, y0) = (bx as i32, by as i32);
    let (a, b, c, d) = (
        texel(src, x0, y0),
        texel(src, x0 + 1, y0),
        texel(src, x0, y0 + 1),
        texel(src, x0 + 1, y0 + 1),
    );
    let mut out = [0.0; 4];
    for k in 0..4 {
        let top = a[k] * (1.0 - fx) + b[k] * fx;
        let bottom = c[k] * (1.0 - fx) + d[k] * fx;
        out[k] = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// The texel of a 4-channel image at (`x`, `y`) clamped to the edge. A function, not a closure in
/// [`bilinear4`]: a closure is not inlined into the AVX2 build of the row (perf showed it called
/// per tap).
#[inline(always)]
fn texel(src: &ImageF32, x: i32, y: i32) -> [f32; 4] {
    let cx = x.clamp(0, src.width as i32 - 1) as usize;
    let cy = y.clamp(0, src.height as i32 - 1) as usize;
    let i = (cy * src.width as usize + cx) * 4;
    [
        src.data[i],
        src.data[i + 1],
        src.data[i + 2],
        src.data[i + 3],
    ]
}

/// [`reproject`] into `out` (resized to the motion field's size); rows in parallel.
pub fn reproject_into(src: &ImageF32, motion: &ImageF32, out: &mut ImageF32) {
    let (w, h) = (motion.width, motion.height);
    ensure_shape(out, w, h, 4);
    if w == 0 || h == 0 || src.width == 0 || src.height == 0 {
        return;
    }
    let (kx, ky) = (src.width as f32 / w as f32, src.height as f32 / h as f32);
    let avx2 = use_avx2();
    out.data
        .par_chunks_mut(w as usize * 4)
        .zip(motion.data.par_chunks(w as usize * 4))
        .enumerate()
        .for_each(|(y, (row, mrow))| {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: `use_avx2` found AVX2 on this CPU.
                return unsafe { warp_row_avx2(src, (kx, ky), y, row, mrow) };
            }
            let _ = avx2;
            warp_row(src, (kx, ky), y, row, mrow)
        });
}

/// One output row of [`reproject_into`]: `row` and `mrow` are its output and motion rows.
#[inline(always)]
fn warp_row(src: &ImageF32, (kx, ky): (f32, f32), y: usize, row: &mut [f32], mrow: &[f32]) {
    let (sw, sh) = (src.width as f32, src.height as f32);
    for (x, (o, m)) in row
        .chunks_exact_mut(4)
        .zip(mrow.chunks_exact(4))
        .enumerate()
    {
        let qx = (x as f32 + 0.5 + m[0]) * kx;
        let qy = (y as f32 + 0.5 + m[1]) * ky;
        let inside = qx >= 0.0 && qx <= sw && qy >= 0.0 && qy <= sh;
        let mut c = bilinear4(src, qx.clamp(0.0, sw) - 0.5, qy.clamp(0.0, sh) - 0.5);
        if !inside {
            c[3] = 0.0;
        }
        o.copy_from_slice(&c);
    }
}

/// [`warp_row`] compiled for AVX2: `floor` is one instruction there (a libm call in the baseline
/// x86-64 build, which lacks SSE4.1); the same results.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn warp_row_avx2(src: &ImageF32, k: (f32, f32), y: usize, row: &mut [f32], mrow: &[f32]) {
    warp_row(src, k, y, row, mrow)
}

/// `out(p) = bilinear(src, (p + 0.5 + motion(p)) * src_size / dst_size)`; the output has the motion
/// field's size. Samples outside the source rectangle get alpha 0 (rgb: the clamp-to-edge sample).
/// `src` and `motion` are 4-channel; motion xy is in destination pixels.
pub fn reproject(src: &ImageF32, motion: &ImageF32) -> ImageF32 {
    let mut out = ImageF32::new(motion.width, motion.height, 4);
    reproject_into(src, motion, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both builds of a row give the same bits (motion that leaves the image included).
    #[test]
    fn both_builds_agree() {
        let mut seed = 0x68e3_1da4u32;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as f32 / (1 << 24) as f32
        };
        let mut src = ImageF32::new(13, 9, 4);
        src.data.iter_mut().for_each(|v| *v = rand());
        let mut motion = ImageF32::new(7, 5, 4);
        motion.data.iter_mut().for_each(|v| *v = 6.0 * rand() - 3.0);
        let k = (13.0 / 7.0, 9.0 / 5.0);
        for y in 0..5 {
            let mrow = &motion.data[y * 28..][..28];
            let (mut a, mut b) = (vec![0.0f32; 28], vec![0.0f32; 28]);
            warp_row(&src, k, y, &mut a, mrow);
            #[cfg(target_arch = "x86_64")]
            if use_avx2() {
                // SAFETY: checked just above.
                unsafe { warp_row_avx2(&src, k, y, &mut b, mrow) };
                assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
            }
        }
    }
}
