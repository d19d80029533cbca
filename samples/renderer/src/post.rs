//! CPU post for the frames: the sim goes straight to an 8-bit sRGB "back buffer"; targets get the
//! camera treatment real-time engines leave out: supersample resolve, bloom, chromatic aberration,
//! vignette, filmic tone mapping and seeded film grain. All deterministic.

use crate::math::Rng;
use crate::weather::Lighting;
use realmaster::frame::linear_to_srgb;

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Sim: clamp and sRGB-encode, like writing to an sRGB swapchain.
pub fn finish_sim(linear: &[f32]) -> Vec<u8> {
    linear
        .chunks_exact(4)
        .flat_map(|p| {
            [
                to_u8(linear_to_srgb(p[0])),
                to_u8(linear_to_srgb(p[1])),
                to_u8(linear_to_srgb(p[2])),
                255,
            ]
        })
        .collect()
}

/// RGB f32 image used inside the post chain.
struct Img {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
}

impl Img {
    fn at(&self, x: isize, y: isize) -> [f32; 3] {
        let x = x.clamp(0, self.w as isize - 1) as usize;
        let y = y.clamp(0, self.h as isize - 1) as usize;
        self.px[y * self.w + x]
    }
    fn bilinear(&self, x: f32, y: f32) -> [f32; 3] {
        let (x0, y0) = ((x - 0.5).floor(), (y - 0.5).floor());
        let (fx, fy) = (x - 0.5 - x0, y - 0.5 - y0);
        let (xi, yi) = (x0 as isize, y0 as isize);
        let (a, b, c, d) = (
            self.at(xi, yi),
            self.at(xi + 1, yi),
            self.at(xi, yi + 1),
            self.at(xi + 1, yi + 1),
        );
        let mut o = [0.0; 3];
        for k in 0..3 {
            o[k] =
                (a[k] * (1.0 - fx) + b[k] * fx) * (1.0 - fy) + (c[k] * (1.0 - fx) + d[k] * fx) * fy;
        }
        o
    }
    fn half(&self) -> Img {
        let (w, h) = ((self.w / 2).max(1), (self.h / 2).max(1));
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let mut s = [0.0; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = self.at((x * 2 + dx) as isize, (y * 2 + dy) as isize);
                    for k in 0..3 {
                        s[k] += p[k] * 0.25;
                    }
                }
                px.push(s);
            }
        }
        Img { w, h, px }
    }
    /// Separable Gaussian blur.
    fn blur(&self, sigma: f32) -> Img {
        let r = (sigma * 3.0).ceil() as isize;
        let kernel: Vec<f32> = (-r..=r)
            .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
            .collect();
        let norm: f32 = kernel.iter().sum();
        let pass = |src: &Img, horizontal: bool| {
            let mut px = vec![[0.0; 3]; src.w * src.h];
            for y in 0..src.h {
                for x in 0..src.w {
                    let mut s = [0.0; 3];
                    for (i, k) in kernel.iter().enumerate() {
                        let o = i as isize - r;
                        let p = if horizontal {
                            src.at(x as isize + o, y as isize)
                        } else {
                            src.at(x as isize, y as isize + o)
                        };
                        for c in 0..3 {
                            s[c] += p[c] * k / norm;
                        }
                    }
                    px[y * src.w + x] = s;
                }
            }
            Img {
                w: src.w,
                h: src.h,
                px,
            }
        };
        pass(&pass(self, true), false)
    }
}

/// ACES filmic curve (Narkowicz fit).
fn aces(x: f32) -> f32 {
    let x = x.max(0.0);
    ((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14)).clamp(0.0, 1.0)
}

/// Target: `hdr` is RGBA linear at `ss` times (`w`, `h`). Returns RGBA8 sRGB at (`w`, `h`).
pub fn finish_target(
    hdr: &[f32],
    w: usize,
    h: usize,
    ss: usize,
    l: &Lighting,
    grain_seed: u64,
) -> Vec<u8> {
    // Supersample resolve (box filter): the targets are antialiased, the sim is not.
    let sw = w * ss;
    let mut px = Vec::with_capacity(w * h);
    let inv = 1.0 / (ss * ss) as f32;
    for y in 0..h {
        for x in 0..w {
            let mut s = [0.0f32; 3];
            for sy in 0..ss {
                for sx in 0..ss {
                    let i = ((y * ss + sy) * sw + x * ss + sx) * 4;
                    for k in 0..3 {
                        s[k] += hdr[i + k] * inv * l.exposure;
                    }
                }
            }
            px.push(s);
        }
    }
    let img = Img { w, h, px };

    // Bloom: bright parts blurred at two scales.
    let bright = Img {
        w,
        h,
        px: img
            .px
            .iter()
            .map(|p| {
                let lum = 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
                let k = ((lum - 0.8) / lum.max(1e-4)).max(0.0);
                [p[0] * k, p[1] * k, p[2] * k]
            })
            .collect(),
    };
    let scale = h as f32 / 144.0;
    let b1 = bright.half().blur(1.5 * scale);
    let b2 = b1.half().blur(3.0 * scale);

    let (cx, cy) = (w as f32 * 0.5, h as f32 * 0.5);
    let diag = (cx * cx + cy * cy).sqrt();
    let mut rng = Rng::new(grain_seed);
    let mut out = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let (dx, dy) = ((fx - cx) / diag, (fy - cy) / diag);
            let r2 = dx * dx + dy * dy;
            // Lateral chromatic aberration: red scaled out, blue scaled in, growing with radius.
            let ca = 0.7 * scale * r2;
            let dist = (dx * dx + dy * dy).sqrt().max(1e-6);
            let (ux, uy) = (dx / dist, dy / dist);
            let red = img.bilinear(fx + ux * ca, fy + uy * ca)[0];
            let green = img.px[y * w + x][1];
            let blue = img.bilinear(fx - ux * ca, fy - uy * ca)[2];
            let bl1 = b1.bilinear(fx * b1.w as f32 / w as f32, fy * b1.h as f32 / h as f32);
            let bl2 = b2.bilinear(fx * b2.w as f32 / w as f32, fy * b2.h as f32 / h as f32);
            let vignette = 1.0 - 0.35 * r2;
            let mut rgb = [red, green, blue];
            for k in 0..3 {
                rgb[k] = (rgb[k] + l.bloom * (bl1[k] * 0.6 + bl2[k] * 0.4) * 4.0) * vignette;
            }
            // Grain: monochrome, strongest in the mid-tones, seeded per frame and weather.
            let g = (rng.f32() + rng.f32() + rng.f32() - 1.5) * 2.0 * l.grain / 255.0;
            let mut pix = [0u8; 4];
            for k in 0..3 {
                let v = linear_to_srgb(aces(rgb[k]));
                let mid = 4.0 * v * (1.0 - v);
                pix[k] = to_u8(v + g * (0.35 + 0.65 * mid));
            }
            pix[3] = 255;
            out.extend_from_slice(&pix);
        }
    }
    out
}

/// 2x2-box downsample of an RGBA8 image (contact sheets).
pub fn downsample_rgba8(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    let (dw, dh) = (w / 2, h / 2);
    let mut out = Vec::with_capacity(dw * dh * 4);
    for y in 0..dh {
        for x in 0..dw {
            for k in 0..4 {
                let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .map(|(a, b)| src[((y * 2 + b) * w + x * 2 + a) * 4 + k] as u32)
                    .sum();
                out.push(((s + 2) / 4) as u8);
            }
        }
    }
    out
}
