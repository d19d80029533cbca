//! Bevy's prepass conventions, named for the runtime's import pass (which converts them to
//! docs/formats.md on the GPU):
//! - depth: reverse-Z with an infinite far plane, texel = near / view depth (background 0);
//! - normals: world-space unit normals stored as n * 0.5 + 0.5 (Rgb10a2Unorm);
//! - motion: current UV minus previous UV (full screen = 1, +y down).

use bevy::math::{Mat3, Mat4};
use realmaster::{DepthEncoding, MotionEncoding, NormalEncoding};

/// How one view's prepass textures encode depth, normals and motion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewConventions {
    pub depth: DepthEncoding,
    pub normals: NormalEncoding,
    pub motion: MotionEncoding,
}

/// The conventions of a perspective view with Bevy's infinite reverse-Z projection.
///
/// `clip_from_view`'s w-axis z is the near plane there (clip z = near, clip w = -z_view, so the
/// stored depth is near / view depth). Orthographic views have no such near plane and are refused.
pub fn view_conventions(clip_from_view: &Mat4, world_from_view: &Mat4) -> Option<ViewConventions> {
    // Perspective: clip w = -z_view (the z-axis's w is -1, the w-axis's w is 0).
    let perspective = clip_from_view.z_axis.w == -1.0 && clip_from_view.w_axis.w == 0.0;
    let near = clip_from_view.w_axis.z;
    if !(perspective && near.is_finite() && near > 0.0) {
        return None;
    }
    // Rotation part, scale removed: view_from_world's rotation is its transpose, whose rows are
    // the columns of world_from_view.
    let r = Mat3::from_mat4(*world_from_view);
    let (x, y, z) = (
        r.x_axis.normalize_or_zero(),
        r.y_axis.normalize_or_zero(),
        r.z_axis.normalize_or_zero(),
    );
    Some(ViewConventions {
        depth: DepthEncoding::ReverseZ { near },
        normals: NormalEncoding::UnormWorld {
            world_to_view: [x.to_array(), y.to_array(), z.to_array()],
        },
        motion: MotionEncoding::UvCurrentMinusPrevious,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::camera::{CameraProjection, OrthographicProjection, PerspectiveProjection};
    use bevy::math::{Quat, Vec3};
    use realmaster::gpu::host::reference;

    /// Bevy's own projection of a 3D camera (near 0.1).
    fn perspective(aspect_ratio: f32) -> Mat4 {
        PerspectiveProjection {
            aspect_ratio,
            ..Default::default()
        }
        .get_clip_from_view()
    }

    fn world_from(rotation: Quat) -> Mat4 {
        Mat4::from_rotation_translation(rotation, Vec3::new(3.0, 2.0, 1.0))
    }

    #[test]
    fn reverse_z_depth_gives_view_distance() {
        let proj = perspective(16.0 / 9.0);
        let c = view_conventions(&proj, &Mat4::IDENTITY).expect("perspective");
        // A point 7.5 units in front of the camera: clip z / w = near / 7.5.
        let p = proj * Vec3::new(0.4, -0.2, -7.5).extend(1.0);
        let texel = p.z / p.w;
        let d = reference::depth(texel, c.depth);
        assert!((d - 7.5).abs() < 1e-4, "{d}");
    }

    #[test]
    fn world_normals_become_view_normals() {
        // The camera turned 90 degrees left (looking down -x): a world normal pointing at it (+x)
        // faces the viewer, +z in view space; world up stays view up.
        let c = view_conventions(
            &perspective(1.0),
            &world_from(Quat::from_rotation_y(std::f32::consts::FRAC_PI_2)),
        )
        .unwrap();
        let enc = |v: Vec3| (v * 0.5 + 0.5).to_array();
        let n = reference::normal(enc(Vec3::X), c.normals);
        assert!((n[2] - 1.0).abs() < 1e-5 && n[0].abs() < 1e-5, "{n:?}");
        let up = reference::normal(enc(Vec3::Y), c.normals);
        assert!((up[1] - 1.0).abs() < 1e-5, "{up:?}");
        // A scaled camera transform changes nothing.
        let scaled = world_from(Quat::from_rotation_y(std::f32::consts::FRAC_PI_2))
            * Mat4::from_scale(Vec3::splat(2.0));
        let c2 = view_conventions(&perspective(1.0), &scaled).unwrap();
        let n2 = reference::normal(enc(Vec3::X), c2.normals);
        assert!((n2[2] - 1.0).abs() < 1e-5, "{n2:?}");
    }

    #[test]
    fn orthographic_views_are_refused() {
        let ortho = OrthographicProjection::default_3d().get_clip_from_view();
        assert!(view_conventions(&ortho, &Mat4::IDENTITY).is_none());
    }
}
