//! A clip's scene as plain data for another renderer: the triangles (world space, per-vertex
//! linear albedo and material id), the moving objects posed per frame, the street lights, the sun
//! and the camera of every frame. models/pathtrace/sample_scene.py reads it to path-trace targets
//! of exactly what this renderer draws (held-out clips from "a renderer the model never trained
//! on" need path-traced targets, not this renderer's own procedural grade).
//!
//! Layout of the output folder:
//!   scene.json       header: size, fov, frames, cameras, sun, lights, mesh files, vertex layout
//!   static.f32       static triangles, little-endian f32, [`FLOATS_PER_VERTEX`] per vertex
//!   dynamic_NNNN.f32 the moving objects at frame NNNN, same layout

use crate::camera::{self, FOVY, NEAR};
use crate::clip::ClipSpec;
use crate::math::Vec3;
use crate::mesh::Vertex;
use crate::scene::Scene;
use crate::weather;
use anyhow::{anyhow, Context, Result};
use realmaster::sequence::{LightChannel, LIGHT_SPACE};
use realmaster::SceneLight;
use std::path::Path;

/// Per vertex: position (3), linear albedo (3), material id, per-object random.
pub const FLOATS_PER_VERTEX: usize = 8;

fn write_vertices(path: &Path, verts: &[Vertex]) -> Result<()> {
    let mut bytes = Vec::with_capacity(verts.len() * FLOATS_PER_VERTEX * 4);
    for v in verts {
        for f in v.pos.iter().chain(&v.albedo).chain(&v.mat) {
            bytes.extend_from_slice(&f.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn v(p: Vec3) -> serde_json::Value {
    serde_json::json!([p.x, p.y, p.z])
}

/// What [`export_scene`] wrote.
#[derive(Debug, Clone, Copy)]
pub struct ExportSummary {
    pub static_triangles: usize,
    pub dynamic_triangles: usize,
    pub lights: usize,
}

/// sequence.json's `light` for `spec`: per frame, the sim's sun (the engine look's) and the world's
/// up (+y) in the view space of that frame's camera, as a model with a `light` input reads them.
pub fn sequence_light(spec: &ClipSpec, scene: &Scene) -> Result<LightChannel> {
    let sun = weather::sim().sun_dir;
    let mut out = LightChannel {
        space: LIGHT_SPACE.into(),
        sun: Vec::new(),
        up: Vec::new(),
    };
    for i in 0..spec.frames {
        let f = camera::pose(spec.camera, scene, i, spec.frames, spec.fps).forward();
        let right = f.cross(Vec3::Y).normalize();
        let up = right.cross(f);
        let rows = [right.to_array(), up.to_array(), (-f).to_array()];
        let l = SceneLight::from_world(sun.to_array(), Vec3::Y.to_array(), rows)
            .map_err(|e| anyhow!("frame {i}: {e}"))?;
        out.sun.push(l.sun());
        out.up.push(l.up());
    }
    Ok(out)
}

/// Write `spec`'s scene and cameras into `out` (created if missing). World space is this
/// renderer's: y up, right-handed, metres.
pub fn export_scene(spec: &ClipSpec, out: &Path) -> Result<ExportSummary> {
    spec.validate().map_err(|e| anyhow!(e))?;
    let scene = Scene::build(spec.scene, &spec.variant, spec.seed).map_err(|e| anyhow!(e))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_vertices(&out.join("static.f32"), &scene.static_verts)?;
    let cuts = spec.cuts();
    let mut cameras = Vec::new();
    let mut dynamic_files = Vec::new();
    let mut dynamic = Vec::new();
    let mut dynamic_triangles = 0;
    for i in 0..spec.frames {
        let pose = camera::pose(spec.camera, &scene, i, spec.frames, spec.fps);
        let f = pose.forward();
        let right = f.cross(Vec3::Y).normalize();
        let up = right.cross(f);
        cameras.push(serde_json::json!({"eye": v(pose.eye), "forward": v(f), "up": v(up)}));
        let t = i as f32 / spec.fps;
        dynamic.clear();
        scene.dynamic_vertices(t, t, &mut dynamic);
        dynamic_triangles = dynamic_triangles.max(dynamic.len() / 3);
        let name = format!("dynamic_{i:04}.f32");
        write_vertices(&out.join(&name), &dynamic)?;
        dynamic_files.push(name);
    }
    let sim = weather::sim();
    let lights: Vec<_> = scene
        .lights
        .iter()
        .map(|l| serde_json::json!({"pos": v(l.pos), "radius": l.radius, "color": v(l.color)}))
        .collect();
    let focus = scene.rig.orbit_center;
    let header = serde_json::json!({
        "format": "realmaster-sample-scene",
        "version": 1,
        "scene": spec.scene.name(),
        "variant": spec.variant,
        "camera_path": spec.camera.name(),
        "seed": spec.seed,
        "width": spec.width,
        "height": spec.height,
        "fps": spec.fps,
        "frames": spec.frames,
        "cuts": cuts,
        "fovy_deg": FOVY.to_degrees(),
        "near": NEAR,
        "up_axis": "y",
        "cameras": cameras,
        // Direction towards the sun of the sim frame (the engine look), and its elevation.
        "sun_dir": v(sim.sun_dir),
        "sun_elevation_deg": sim.sun_dir.y.asin().to_degrees(),
        "focus": v(focus),
        "lights": lights,
        "vertex_layout": ["px", "py", "pz", "albedo_r", "albedo_g", "albedo_b", "material", "object_random"],
        "static": "static.f32",
        "dynamic": dynamic_files,
        "materials": MATERIAL_NAMES,
    });
    let path = out.join("scene.json");
    std::fs::write(&path, serde_json::to_string_pretty(&header)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(ExportSummary {
        static_triangles: scene.static_verts.len() / 3,
        dynamic_triangles,
        lights: scene.lights.len(),
    })
}

/// Material ids (mesh::mat) by index, for the reader.
pub const MATERIAL_NAMES: [&str; 19] = [
    "ground",
    "road",
    "sidewalk",
    "facade",
    "roof",
    "car_paint",
    "glass",
    "foliage",
    "wood",
    "metal",
    "lamp",
    "cloth",
    "terrain",
    "rock",
    "water",
    "mountain",
    "marking",
    "skin",
    "tire",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::CameraPath;
    use crate::mesh::mat;
    use crate::scene::SceneKind;

    #[test]
    fn material_names_follow_the_ids() {
        assert_eq!(MATERIAL_NAMES[mat::FACADE as usize], "facade");
        assert_eq!(MATERIAL_NAMES[mat::TIRE as usize], "tire");
        assert_eq!(MATERIAL_NAMES[mat::MARKING as usize], "marking");
    }

    #[test]
    fn export_writes_header_meshes_and_cameras() {
        let dir = std::env::temp_dir().join(format!("rm_export_{}", std::process::id()));
        let mut spec = ClipSpec::new(SceneKind::City, CameraPath::Orbit, 3, 64, 36, 5);
        spec.variant = "downtown".into();
        let s = export_scene(&spec, &dir).unwrap();
        assert!(s.static_triangles > 100 && s.lights > 0);
        let h: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("scene.json")).unwrap())
                .unwrap();
        assert_eq!(h["cameras"].as_array().unwrap().len(), 3);
        let bytes = std::fs::metadata(dir.join("static.f32")).unwrap().len() as usize;
        assert_eq!(bytes, s.static_triangles * 3 * FLOATS_PER_VERTEX * 4);
        // The exported camera is the renderer's: its forward is the pose's.
        let p = camera::pose(
            spec.camera,
            &Scene::build(spec.scene, "downtown", 5).unwrap(),
            1,
            3,
            spec.fps,
        );
        let f = &h["cameras"][1]["forward"];
        assert!((f[0].as_f64().unwrap() as f32 - p.forward().x).abs() < 1e-6);
        std::fs::remove_dir_all(&dir).ok();
    }
}
