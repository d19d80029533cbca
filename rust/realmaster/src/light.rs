//! The scene's key light, for models that read it (manifest input role `light`, docs/formats.md).

use crate::error::{Error, Result};

/// The engine's sun and the world's up direction, as unit vectors in the view space of the normals
/// plane (x right, y up, z towards the camera), for one frame. A model whose manifest lists a
/// `light` input reads them as `[sun, up]`: from them it has N.sun for every pixel, and N.L for a
/// sun of the same azimuth at any elevation (golden hour's low one). The camera turns, so the
/// vectors change every frame even when the sun does not.
///
/// Made by [`SceneLight::new`] (view space) or [`SceneLight::from_world`], which refuse zero or
/// non-finite vectors and normalise the rest, so a value of this type is always usable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SceneLight {
    sun: [f32; 3],
    up: [f32; 3],
}

fn unit(name: &str, v: [f32; 3]) -> Result<[f32; 3]> {
    let n = (v[0] as f64).hypot(v[1] as f64).hypot(v[2] as f64);
    if !n.is_finite() || n < 1e-6 {
        return Err(Error::invalid_frame(
            format!("the light's {name} direction {v:?} is zero or not finite"),
            format!(
                "pass the direction towards the {name} as a non-zero vector in the view space of the normals (x right, y up, z towards the camera), or no light"
            ),
        ));
    }
    Ok(v.map(|c| (c as f64 / n) as f32))
}

impl SceneLight {
    /// The light when a frame gives none: the world level with the view (up = +y) and the sun 45
    /// degrees up behind the viewer. It is a guess; hosts should pass their directional light.
    pub const FALLBACK: SceneLight = SceneLight {
        sun: [
            0.0,
            std::f32::consts::FRAC_1_SQRT_2,
            std::f32::consts::FRAC_1_SQRT_2,
        ],
        up: [0.0, 1.0, 0.0],
    };

    /// From view-space directions (towards the sun; the world's up). Any length but zero.
    pub fn new(sun: [f32; 3], up: [f32; 3]) -> Result<Self> {
        Ok(SceneLight {
            sun: unit("sun", sun)?,
            up: unit("up", up)?,
        })
    }

    /// From world-space directions and the camera's orientation: `view_to_world` holds the view
    /// axes (right, up, towards the camera) in world space, as rows. The view-space vector is
    /// each axis dotted with the world vector, so any world handedness works.
    pub fn from_world(sun: [f32; 3], up: [f32; 3], view_to_world: [[f32; 3]; 3]) -> Result<Self> {
        let to_view = |v: [f32; 3]| {
            view_to_world.map(|axis| axis[0] * v[0] + axis[1] * v[1] + axis[2] * v[2])
        };
        Self::new(to_view(sun), to_view(up))
    }

    /// Unit vector towards the sun, view space.
    pub fn sun(&self) -> [f32; 3] {
        self.sun
    }

    /// The world's up direction, view space.
    pub fn up(&self) -> [f32; 3] {
        self.up
    }

    /// The model's `light` tensor, `[1, 6]`: sun, then up.
    pub fn to_input(&self) -> [f32; 6] {
        [
            self.sun[0],
            self.sun[1],
            self.sun[2],
            self.up[0],
            self.up[1],
            self.up[2],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_orders_sun_then_up() {
        let l = SceneLight::new([0.0, 0.0, 2.0], [0.0, 3.0, 0.0]).unwrap();
        assert_eq!(l.to_input(), [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn refuses_zero_and_nan_naming_the_vector() {
        let e = SceneLight::new([0.0; 3], [0.0, 1.0, 0.0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sun") && e.contains("zero"), "{e}");
        let e = SceneLight::new([1.0, 0.0, 0.0], [f32::NAN, 1.0, 0.0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("up"), "{e}");
    }

    #[test]
    fn world_to_view_uses_the_camera_axes() {
        // A camera looking along world +x with z up: view right = world -y, view up = world +z,
        // towards the camera = world -x.
        let axes = [[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]];
        // The sun low ahead of the camera (world +x, a little up).
        let l = SceneLight::from_world([1.0, 0.0, 0.1], [0.0, 0.0, 1.0], axes).unwrap();
        let s = l.sun();
        assert!(s[2] < -0.99 && s[1] > 0.09 && s[0].abs() < 1e-6, "{s:?}");
        assert_eq!(l.up(), [0.0, 1.0, 0.0]);
    }

    #[test]
    fn fallback_is_unit() {
        let l = SceneLight::FALLBACK;
        let n: f32 = l.sun().iter().map(|c| c * c).sum();
        assert!((n - 1.0).abs() < 1e-6);
    }
}
