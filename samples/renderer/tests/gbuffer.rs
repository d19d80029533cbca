//! G-buffer planes against independent geometry: depth is view z (checked by reprojection),
//! normals are unit view-space vectors facing the camera, and motion vectors are pixels to where
//! the surface was in the previous frame: camera motion for the static scene (against an analytic
//! reprojection, and by warping the previous frame onto the current one) plus object motion for
//! the cars and walkers.

mod common;

use common::{f32s, gpu, mean, spec, Scratch};
use realmaster::reference::reproject::reproject;
use realmaster::sequence::Sequence;
use realmaster::ImageF32;
use realmaster_samples::camera::{CameraPath, FOVY};
use realmaster_samples::clip::{write_clip, ClipRenderer};
use realmaster_samples::math::{v3, Mat4, Vec3};
use realmaster_samples::mesh::mat;
use realmaster_samples::render::{FrameOutput, SKY_DEPTH};
use realmaster_samples::scene::SceneKind;

/// Materials only the moving objects (cars, people) use. Car headlights share the lamp material
/// with street lamps, so lamps count as neither static nor moving.
const DYNAMIC: [f32; 5] = [mat::CAR_PAINT, mat::GLASS, mat::TIRE, mat::CLOTH, mat::SKIN];

fn is_dynamic(m: f32) -> bool {
    DYNAMIC.contains(&m)
}

/// Camera-only reprojection, written from the definitions in docs/formats.md rather than the
/// renderer's matrices: view-space point from pixel centre and view depth, to world with the
/// current camera, back into the previous camera's image.
struct Reproject {
    w: f32,
    h: f32,
    tan_half: f32,
    cur_inv_view: Mat4,
    prev_view: Mat4,
}

impl Reproject {
    fn new(clip: &ClipRenderer<'_>, i: u32) -> Reproject {
        let (w, h) = (clip.spec.width as f32, clip.spec.height as f32);
        Reproject {
            w,
            h,
            tan_half: (FOVY * 0.5).tan(),
            cur_inv_view: clip.pose(i).view().inverse().unwrap(),
            prev_view: clip.pose(i - 1).view(),
        }
    }

    /// World position of pixel (x, y) at view depth `z`.
    fn world(&self, x: usize, y: usize, z: f32) -> Vec3 {
        let aspect = self.w / self.h;
        let nx = (x as f32 + 0.5) / self.w * 2.0 - 1.0;
        let ny = 1.0 - (y as f32 + 0.5) / self.h * 2.0;
        let view = v3(nx * z * self.tan_half * aspect, ny * z * self.tan_half, -z);
        self.cur_inv_view.transform_point(view)
    }

    /// Where the world point `p` was in the previous image (pixels) and its view depth there.
    fn previous(&self, p: Vec3) -> (f32, f32, f32) {
        let v = self.prev_view.transform_point(p);
        let z = -v.z;
        let aspect = self.w / self.h;
        let nx = v.x / (z * self.tan_half * aspect);
        let ny = v.y / (z * self.tan_half);
        ((nx * 0.5 + 0.5) * self.w, (0.5 - ny * 0.5) * self.h, z)
    }

    /// Camera-only motion of pixel (x, y) at depth `z`.
    fn motion(&self, x: usize, y: usize, z: f32) -> (f32, f32) {
        let (px, py, _) = self.previous(self.world(x, y, z));
        (px - (x as f32 + 0.5), py - (y as f32 + 0.5))
    }
}

/// True where the 3x3 neighbourhood has no depth edge (relative jump below 3%) and no sky.
fn smooth_depth(f: &FrameOutput, x: usize, y: usize) -> bool {
    let (w, h) = (f.width as usize, f.height as usize);
    let d0 = f.depth[y * w + x];
    if d0 >= SKY_DEPTH {
        return false;
    }
    for dy in -1isize..=1 {
        for dx in -1isize..=1 {
            let (xx, yy) = (x as isize + dx, y as isize + dy);
            if xx < 0 || yy < 0 || xx >= w as isize || yy >= h as isize {
                return false;
            }
            let d = f.depth[yy as usize * w + xx as usize];
            if (d - d0).abs() > 0.03 * d0 {
                return false;
            }
        }
    }
    true
}

/// Mean absolute sim-color error of warping `prev` onto `cur` with `motion` (per pixel, pixels to
/// the previous frame) over the pixels in `mask`. The warp is the runtime's own CPU reprojection
/// (bilinear, clamp to edge).
fn warp_error(
    cur: &FrameOutput,
    prev: &FrameOutput,
    motion: &dyn Fn(usize, usize) -> (f32, f32),
    mask: &[bool],
) -> f32 {
    let (w, h) = (cur.width as usize, cur.height as usize);
    let mut field = ImageF32::new(cur.width, cur.height, 4);
    for y in 0..h {
        for x in 0..w {
            let (mx, my) = motion(x, y);
            field.set(x as u32, y as u32, 0, mx);
            field.set(x as u32, y as u32, 1, my);
        }
    }
    let src = ImageF32 {
        width: prev.width,
        height: prev.height,
        channels: 4,
        data: prev.sim.clone(),
    };
    let warped = reproject(&src, &field);
    let errs: Vec<f32> = (0..w * h)
        .filter(|&p| mask[p])
        .map(|p| {
            let i = p * 4;
            (0..3)
                .map(|k| (cur.sim[i + k] - warped.data[i + k]).abs())
                .sum::<f32>()
                / 3.0
        })
        .collect();
    mean(&errs)
}

#[test]
fn written_planes_hold_view_depth_and_unit_view_normals() {
    let s = Scratch::new("planes");
    let dir = s.join("clip");
    for (scene, camera) in [
        (SceneKind::City, CameraPath::Turn),
        (SceneKind::Landscape, CameraPath::Orbit),
    ] {
        write_clip(
            gpu(),
            &spec(scene, camera, 2, 96, 54, 5, &[]),
            &dir,
            &mut None,
            |_, _| {},
        )
        .unwrap();
        let seq = Sequence::open(&dir).unwrap();
        assert_eq!(seq.desc().meta["sky_depth"], SKY_DEPTH as f64);
        let f = seq.load_frame(1).unwrap().frame;
        let (depth, normals) = (f32s(&f.depth), f32s(&f.normals));
        let (w, h) = (96usize, 54usize);
        let tan_half = (FOVY * 0.5).tan();
        let (mut geometry, mut facing, mut sky) = (0, 0, 0);
        for i in 0..w * h {
            let z = depth[i];
            assert!(z.is_finite() && z > 0.0, "{scene:?} depth {z} at pixel {i}");
            let n = &normals[i * 3..i * 3 + 3];
            if z >= SKY_DEPTH {
                sky += 1;
                continue;
            }
            geometry += 1;
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            assert!(
                (len - 1.0).abs() < 1e-3,
                "{scene:?} normal length {len} at pixel {i}"
            );
            // The view ray through this pixel; a visible surface faces back along it.
            let (x, y) = (i % w, i / w);
            let ray = v3(
                ((x as f32 + 0.5) / w as f32 * 2.0 - 1.0) * tan_half * w as f32 / h as f32,
                (1.0 - (y as f32 + 0.5) / h as f32 * 2.0) * tan_half,
                -1.0,
            )
            .normalize();
            if n[0] * ray.x + n[1] * ray.y + n[2] * ray.z < 0.02 {
                facing += 1;
            }
        }
        assert!(
            geometry > w * h / 3,
            "{scene:?}: only {geometry} geometry pixels"
        );
        assert!(sky > 0, "{scene:?}: no sky (depth {SKY_DEPTH}) pixels");
        assert!(
            facing as f32 > 0.98 * geometry as f32,
            "{scene:?}: only {facing} of {geometry} normals face the camera"
        );
        // The bottom row sees the ground: up in view space is +y.
        let up = (0..w)
            .filter(|x| normals[((h - 1) * w + x) * 3 + 1] > 0.9)
            .count();
        assert!(
            up > w * 3 / 4,
            "{scene:?}: only {up} of {w} bottom-row normals point up"
        );
        // The files hold the rendered planes exactly (f32 EXR, no rounding unless asked for).
        let mut clip = ClipRenderer::new(gpu(), spec(scene, camera, 2, 96, 54, 5, &[])).unwrap();
        let out = clip.frame(1).unwrap();
        assert!(
            out.depth == depth && out.normals == normals && out.motion == f32s(&f.motion),
            "{scene:?}: written planes differ from the rendered ones"
        );
    }
}

/// A dolly (translation: motion depends on depth) and an orbit (translation and rotation):
/// static pixels match the analytic camera reprojection; cars and walkers move on their own.
#[test]
fn motion_is_camera_reprojection_plus_object_motion() {
    for camera in [CameraPath::Dolly, CameraPath::Orbit, CameraPath::Pan] {
        let mut sp = spec(SceneKind::City, camera, 4, 128, 72, 7, &[]);
        sp.fps = 6.0; // large per-frame motion
        let mut clip = ClipRenderer::new(gpu(), sp).unwrap();
        let cur = clip.frame(2).unwrap();
        let rp = Reproject::new(&clip, 2);
        let (w, h) = (128usize, 72usize);
        let (mut static_err, mut static_mag, mut dyn_diff) = (Vec::new(), Vec::new(), Vec::new());
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let z = cur.depth[i];
                if z >= SKY_DEPTH {
                    continue;
                }
                let (ex, ey) = rp.motion(x, y, z);
                let (mx, my) = (cur.motion[i * 2], cur.motion[i * 2 + 1]);
                let d = ((mx - ex).powi(2) + (my - ey).powi(2)).sqrt();
                if cur.material[i] == mat::LAMP {
                    // Street lamps and car headlights share the material: neither set.
                    continue;
                } else if is_dynamic(cur.material[i]) {
                    dyn_diff.push(d);
                } else {
                    static_err.push(d);
                    static_mag.push((mx * mx + my * my).sqrt());
                }
            }
        }
        let mut sorted = static_err.clone();
        sorted.sort_by(f32::total_cmp);
        let p99 = sorted[sorted.len() * 99 / 100];
        eprintln!(
            "{camera:?}: static {} px mean |motion| {:.2}, mean err {:.4}, p99 {:.4}; dynamic {} px mean diff {:.2}",
            static_err.len(),
            mean(&static_mag),
            mean(&static_err),
            p99,
            dyn_diff.len(),
            mean(&dyn_diff)
        );
        assert!(
            mean(&static_mag) > 1.0,
            "{camera:?}: the camera barely moves ({} px)",
            mean(&static_mag)
        );
        assert!(
            mean(&static_err) < 0.02 && p99 < 0.05,
            "{camera:?}: static motion is off the camera reprojection by {} px (p99 {p99})",
            mean(&static_err)
        );
        // The camera stands (pan) or circles (orbit) while cars drive along the street; in the dolly
        // some cars travel with the camera, so only these two must show object motion.
        if camera != CameraPath::Dolly {
            assert!(
                dyn_diff.len() > 20,
                "no car or walker in view ({} px)",
                dyn_diff.len()
            );
            assert!(
                mean(&dyn_diff) > 1.0,
                "moving objects only have camera motion ({} px off it)",
                mean(&dyn_diff)
            );
        }
    }
}

#[test]
fn warping_the_previous_frame_by_the_motion_reproduces_the_current_one() {
    let mut sp = spec(SceneKind::City, CameraPath::Pan, 4, 128, 72, 7, &[]);
    sp.fps = 6.0;
    let mut clip = ClipRenderer::new(gpu(), sp).unwrap();
    let prev = clip.frame(1).unwrap();
    let cur = clip.frame(2).unwrap();
    let rp = Reproject::new(&clip, 2);
    let (w, h) = (128usize, 72usize);
    let motion =
        |x: usize, y: usize| (cur.motion[(y * w + x) * 2], cur.motion[(y * w + x) * 2 + 1]);
    // Non-disoccluded static pixels: no depth edge here, the motion lands inside the previous
    // image, and the previous frame saw the same surface there (its depth matches the depth the
    // surface had in the previous camera). The same pixels are compared for every motion field.
    let mask: Vec<bool> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            if is_dynamic(cur.material[i])
                || cur.material[i] == mat::LAMP
                || !smooth_depth(&cur, x, y)
            {
                return false;
            }
            let (mx, my) = motion(x, y);
            let (sx, sy) = (x as f32 + 0.5 + mx, y as f32 + 0.5 + my);
            if sx < 1.0 || sy < 1.0 || sx > w as f32 - 1.0 || sy > h as f32 - 1.0 {
                return false;
            }
            let (_, _, z_prev) = rp.previous(rp.world(x, y, cur.depth[i]));
            (prev.depth[sy as usize * w + sx as usize] - z_prev).abs() < 0.03 * z_prev
        })
        .collect();
    let n = mask.iter().filter(|m| **m).count();
    let warped = warp_error(&cur, &prev, &motion, &mask);
    let still = warp_error(&cur, &prev, &|_, _| (0.0, 0.0), &mask);
    let flipped = warp_error(
        &cur,
        &prev,
        &|x, y| (-motion(x, y).0, -motion(x, y).1),
        &mask,
    );
    eprintln!(
        "pan warp: {n} px, error warped {warped:.4}, unwarped {still:.4}, flipped {flipped:.4}"
    );

    assert!(n > w * h / 5, "too few comparable pixels ({n})");
    assert!(
        warped < 0.25 * still,
        "warping by the motion vectors leaves error {warped} (unwarped {still})"
    );
    assert!(
        warped < 0.25 * flipped,
        "the motion vectors point the wrong way? ({warped} vs {flipped} flipped)"
    );

    // Cars and walkers: inside their silhouettes, and landing on a moving object in the previous
    // frame, the full motion warps far better than the camera-only motion would.
    let moving = |i: usize| is_dynamic(cur.material[i]) || cur.material[i] == mat::LAMP;
    let dyn_mask: Vec<bool> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            if !is_dynamic(cur.material[i]) || x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                return false;
            }
            if !(0..9).all(|k| moving((y + k / 3 - 1) * w + x + k % 3 - 1)) {
                return false;
            }
            let (mx, my) = motion(x, y);
            let (sx, sy) = (x as f32 + 0.5 + mx, y as f32 + 0.5 + my);
            sx >= 1.0
                && sy >= 1.0
                && sx <= w as f32 - 1.0
                && sy <= h as f32 - 1.0
                && is_dynamic(prev.material[sy as usize * w + sx as usize])
        })
        .collect();
    let dn = dyn_mask.iter().filter(|m| **m).count();
    let dyn_warped = warp_error(&cur, &prev, &motion, &dyn_mask);
    let cam_only = warp_error(
        &cur,
        &prev,
        &|x, y| rp.motion(x, y, cur.depth[y * w + x]),
        &dyn_mask,
    );
    eprintln!("pan warp, moving objects: {dn} px, error warped {dyn_warped:.4}, camera-only {cam_only:.4}");
    assert!(dn > 30, "too few comparable moving-object pixels ({dn})");
    assert!(
        dyn_warped < 0.4 * cam_only,
        "object motion does not warp the cars ({dyn_warped} vs camera-only {cam_only})"
    );
}
