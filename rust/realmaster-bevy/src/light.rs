//! The scene's sun for models that read it (manifest input role `light`): chosen among the
//! `DirectionalLight`s that light a camera's view, extracted to the render world every frame and
//! turned into the view space of that camera's normals on the frame it renders.

use bevy::camera::visibility::{RenderLayers, ViewVisibility};
use bevy::light::DirectionalLight;
use bevy::math::{Mat4, Vec3};
use bevy::prelude::*;
use bevy::render::sync_world::RenderEntity;
use bevy::render::Extract;
use realmaster::SceneLight;

/// Mark the `DirectionalLight` RealMaster should hand the model as the sun, when the scene has
/// several and the automatic choice (shadow-casting first, then the brightest) is not the one.
/// A marked light that is hidden, or on render layers the camera does not see, is skipped like any
/// other light; between several marked lights the automatic order decides.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[require(DirectionalLight)]
pub struct RealMasterSun;

/// The sun chosen for one camera this frame, as the world-space direction towards it (the light's
/// back direction: Bevy's lights shine along their forward, -Z), or None: the scene has no
/// directional light lighting this camera's view.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ExtractedSun(pub(crate) Option<Vec3>);

/// One directional light that lights the camera's view, as the choice sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SunCandidate {
    pub(crate) entity: Entity,
    /// World-space direction towards the light, unit length.
    pub(crate) towards: Vec3,
    pub(crate) marked: bool,
    pub(crate) shadows: bool,
    pub(crate) illuminance: f32,
}

/// The sun among `candidates`: a [`RealMasterSun`] first, then a shadow-casting light, then the
/// brightest (illuminance); equal ones by the lowest entity index, so the choice is stable frame
/// to frame.
pub(crate) fn choose_sun(candidates: impl IntoIterator<Item = SunCandidate>) -> Option<Vec3> {
    candidates
        .into_iter()
        .max_by(|a, b| {
            (a.marked, a.shadows)
                .cmp(&(b.marked, b.shadows))
                .then(a.illuminance.total_cmp(&b.illuminance))
                .then(b.entity.index_u32().cmp(&a.entity.index_u32()))
        })
        .map(|c| c.towards)
}

/// The light a camera's frame hands the model: `towards_sun` (world space) and the world's up
/// (+Y) in the view space of the camera's normals (x right, y up, z towards the camera), whose
/// axes are `world_from_view`'s columns (scale removed), as [`crate::view_conventions`] turns the
/// normals. None when a direction is zero or not finite.
pub fn scene_light(towards_sun: Vec3, world_from_view: &Mat4) -> Option<SceneLight> {
    let axis = |v: Vec3| v.normalize_or_zero().to_array();
    let rows = [
        axis(world_from_view.x_axis.truncate()),
        axis(world_from_view.y_axis.truncate()),
        axis(world_from_view.z_axis.truncate()),
    ];
    SceneLight::from_world(towards_sun.to_array(), Vec3::Y.to_array(), rows).ok()
}

type CameraLayers = (RenderEntity, Option<&'static RenderLayers>);
type SunLight = (
    Entity,
    &'static DirectionalLight,
    &'static GlobalTransform,
    &'static ViewVisibility,
    Option<&'static RenderLayers>,
    Has<RealMasterSun>,
);

/// Every frame, each enhanced camera's sun onto its render entity: among the directional lights
/// Bevy renders (visible) on render layers the camera sees, as [`choose_sun`] orders them.
pub(crate) fn extract_sun(
    mut commands: Commands,
    cameras: Extract<Query<CameraLayers, (With<Camera>, With<crate::RealMaster>)>>,
    lights: Extract<Query<SunLight>>,
) {
    for (e, camera_layers) in &cameras {
        let Ok(mut entity) = commands.get_entity(e) else {
            continue;
        };
        let camera_layers = camera_layers.unwrap_or_default();
        let sun = choose_sun(lights.iter().filter_map(
            |(light_entity, light, transform, visible, layers, marked)| {
                // Bevy lights along the light's forward (-Z); the sun lies behind it. The same
                // direction Bevy's shaders use, scale and all; a degenerate transform is no sun.
                let towards = transform.affine().matrix3.z_axis;
                let towards = Vec3::from(towards).normalize_or_zero();
                (visible.get()
                    && layers.unwrap_or_default().intersects(camera_layers)
                    && towards != Vec3::ZERO)
                    .then_some(SunCandidate {
                        entity: light_entity,
                        towards,
                        marked,
                        shadows: light.shadow_maps_enabled,
                        illuminance: light.illuminance,
                    })
            },
        ));
        entity.insert(ExtractedSun(sun));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::math::Quat;

    fn light(index: u32, towards: Vec3, marked: bool, shadows: bool, lux: f32) -> SunCandidate {
        SunCandidate {
            entity: Entity::from_raw_u32(index).unwrap(),
            towards,
            marked,
            shadows,
            illuminance: lux,
        }
    }

    #[test]
    fn the_marked_then_the_shadow_casting_then_the_brightest_light_is_the_sun() {
        let (a, b, c) = (Vec3::X, Vec3::Y, Vec3::Z);
        assert_eq!(choose_sun([]), None);
        // The brightest.
        assert_eq!(
            choose_sun([
                light(1, a, false, false, 100.0),
                light(2, b, false, false, 900.0)
            ]),
            Some(b)
        );
        // A shadow caster over a brighter light without shadows.
        assert_eq!(
            choose_sun([
                light(1, a, false, true, 100.0),
                light(2, b, false, false, 900.0)
            ]),
            Some(a)
        );
        // The marker over both.
        assert_eq!(
            choose_sun([
                light(1, a, false, true, 100.0),
                light(2, b, false, false, 900.0),
                light(3, c, true, false, 1.0)
            ]),
            Some(c)
        );
        // Equal lights: the lowest entity index, whatever the order they come in.
        for order in [[1, 2], [2, 1]] {
            let towards = |i: u32| if i == 1 { a } else { b };
            let sun = choose_sun(order.map(|i| light(i, towards(i), false, true, 5.0)));
            assert_eq!(sun, Some(a));
        }
    }

    #[test]
    fn the_sun_and_up_in_the_cameras_view_space() {
        // A camera looking down world -x (turned 90 degrees left): its right is world -z, its back
        // (towards the viewer) world +x.
        let rotation = Quat::from_rotation_y(std::f32::consts::FRAC_PI_2);
        let world_from_view = Mat4::from_rotation_translation(rotation, Vec3::new(3.0, 2.0, 1.0));
        let near = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        // Sun to the camera's right (world -z), up 30 degrees.
        let (s, c) = (0.5f32, 0.75f32.sqrt());
        let l = scene_light(Vec3::new(0.0, s, -c), &world_from_view).unwrap();
        assert!(near(l.sun(), [c, s, 0.0]), "{:?}", l.sun());
        assert!(near(l.up(), [0.0, 1.0, 0.0]), "{:?}", l.up());
        // Behind the camera (world +x) and any length; a scaled camera changes nothing.
        let scaled = world_from_view * Mat4::from_scale(Vec3::splat(3.0));
        let l = scene_light(Vec3::new(4.0, 0.0, 0.0), &scaled).unwrap();
        assert!(near(l.sun(), [0.0, 0.0, 1.0]), "{:?}", l.sun());
        // A camera pitched down 90 degrees sees the world's up towards itself.
        let down = Mat4::from_quat(Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2));
        let l = scene_light(Vec3::Y, &down).unwrap();
        assert!(near(l.up(), [0.0, 0.0, 1.0]), "{:?}", l.up());
        // Matches Bevy's own view-from-world rotation for an arbitrary camera.
        let t = Transform::from_xyz(1.0, 2.0, 3.0).looking_at(Vec3::new(-4.0, 0.5, 2.0), Vec3::Y);
        let towards = Vec3::new(0.3, 0.8, -0.5).normalize();
        let l = scene_light(towards, &t.to_matrix()).unwrap();
        assert!(
            near(l.sun(), (t.rotation.inverse() * towards).to_array()),
            "{:?}",
            l.sun()
        );
        // No direction, no light.
        assert!(scene_light(Vec3::ZERO, &world_from_view).is_none());
        assert!(scene_light(Vec3::NAN, &world_from_view).is_none());
    }
}
