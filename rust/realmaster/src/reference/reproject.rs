//! Reprojection (the CPU implementation of gpu/composite/reproject.wgsl): warp an image with a motion field, flag off-screen samples.

use rayon::prelude::*;

use super::decode::ensure_shape;
use crate::frame::ImageF32;

/// Bilinear sample of a 4-channel image at continuous position `t` (pixel centres at integers),
/// clamping taps to the edge. `t` must already be clamped to a finite range.
fn bilinear4(src: &ImageF32, tx: f32, ty: f32) -> [f32; 4] {
    let (bx, by) = (tx.floor(), ty.floor());
    let (fx, fy) = (tx - bx, ty - by);
    let (x0, y0) = (bx as i32, by as i32);
    let texel = |x: i32, y: i32| -> [f32; 4] {
        let cx = x.clamp(0, src.width as i32 - 1) as usize;
        let cy = y.clamp(0, src.height as i32 - 1) as usize;
        let i = (cy * src.width as usize + cx) * 4;
        [
            src.data[i],
            src.data[i + 1],
            src.data[i + 2],
            src.data[i + 3],
        ]
    };
    let (a, b, c, d) = (
        texel(x0, y0),
        texel(x0 + 1, y0),
        texel(x0, y0 + 1),
        texel(x0 + 1, y0 + 1),
    );
    let mut out = [0.0; 4];
    for k in 0..4 {
        let top = a[k] * (1.0 - fx) + b[k] * fx;
        let bottom = c[k] * (1.0 - fx) + d[k] * fx;
        out[k] = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// [`reproject`] into `out` (resized to the motion field's size); rows in parallel.
pub fn reproject_into(src: &ImageF32, motion: &ImageF32, out: &mut ImageF32) {
    let (w, h) = (motion.width, motion.height);
    ensure_shape(out, w, h, 4);
    if w == 0 || h == 0 || src.width == 0 || src.height == 0 {
        return;
    }
    let (sw, sh) = (src.width as f32, src.height as f32);
    let (kx, ky) = (sw / w as f32, sh / h as f32);
    out.data
        .par_chunks_mut(w as usize * 4)
        .zip(motion.data.par_chunks(w as usize * 4))
        .enumerate()
        .for_each(|(y, (row, mrow))| {
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
        });
}

/// `out(p) = bilinear(src, (p + 0.5 + motion(p)) * src_size / dst_size)`; the output has the motion
/// field's size. Samples outside the source rectangle get alpha 0 (rgb: the clamp-to-edge sample).
/// `src` and `motion` are 4-channel; motion xy is in destination pixels.
pub fn reproject(src: &ImageF32, motion: &ImageF32) -> ImageF32 {
    let mut out = ImageF32::new(motion.width, motion.height, 4);
    reproject_into(src, motion, &mut out);
    out
}
