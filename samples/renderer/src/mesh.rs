//! Triangle soup with everything the G-buffer pass needs per vertex, including the position the
//! vertex had one frame earlier (for object motion vectors). Flat-shaded primitives keep the
//! geometry "gamey" and the normal planes compressible.

use crate::math::{v3, Mat4, Vec3};

/// Material ids shared with the WGSL (keep in sync with shaders/common.wgsl).
pub mod mat {
    pub const GROUND: f32 = 0.0;
    pub const ROAD: f32 = 1.0;
    pub const SIDEWALK: f32 = 2.0;
    pub const FACADE: f32 = 3.0;
    pub const ROOF: f32 = 4.0;
    pub const CAR_PAINT: f32 = 5.0;
    pub const GLASS: f32 = 6.0;
    pub const FOLIAGE: f32 = 7.0;
    pub const WOOD: f32 = 8.0;
    pub const METAL: f32 = 9.0;
    pub const LAMP: f32 = 10.0;
    pub const CLOTH: f32 = 11.0;
    pub const TERRAIN: f32 = 12.0;
    pub const ROCK: f32 = 13.0;
    pub const WATER: f32 = 14.0;
    pub const MOUNTAIN: f32 = 15.0;
    pub const MARKING: f32 = 16.0;
    pub const SKIN: f32 = 17.0;
    pub const TIRE: f32 = 18.0;
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Vertex {
    pub pos: [f32; 3],
    pub prev: [f32; 3],
    pub normal: [f32; 3],
    pub albedo: [f32; 3],
    /// x: material id, y: per-object random in [0, 1) (variation in the target shader).
    pub mat: [f32; 2],
}

/// Surface description of one primitive.
#[derive(Debug, Clone, Copy)]
pub struct Surface {
    pub albedo: Vec3,
    pub mat: f32,
    pub param: f32,
}

pub fn surf(albedo: Vec3, mat: f32, param: f32) -> Surface {
    Surface { albedo, mat, param }
}

/// Triangles in an object's local space; placed into the world with `emit`.
#[derive(Debug, Clone, Default)]
pub struct Mesh {
    /// (position, normal, surface) per vertex, three per triangle.
    pub verts: Vec<(Vec3, Vec3, Surface)>,
}

impl Mesh {
    pub fn tri(&mut self, a: Vec3, b: Vec3, c: Vec3, s: Surface) {
        let n = (b - a).cross(c - a).normalize();
        self.verts.extend([(a, n, s), (b, n, s), (c, n, s)]);
    }
    /// Triangle with per-vertex normals (smooth terrain).
    pub fn tri_smooth(&mut self, a: (Vec3, Vec3), b: (Vec3, Vec3), c: (Vec3, Vec3), s: Surface) {
        self.verts
            .extend([(a.0, a.1, s), (b.0, b.1, s), (c.0, c.1, s)]);
    }
    /// Quad a-b-c-d, counter-clockwise seen from the front.
    pub fn quad(&mut self, a: Vec3, b: Vec3, c: Vec3, d: Vec3, s: Surface) {
        self.tri(a, b, c, s);
        self.tri(a, c, d, s);
    }

    /// Axis-aligned box from `min` to `max`; `top` is the surface of the +y face.
    pub fn boxed(&mut self, min: Vec3, max: Vec3, side: Surface, top: Surface) {
        let (x0, y0, z0, x1, y1, z1) = (min.x, min.y, min.z, max.x, max.y, max.z);
        let p = |x, y, z| v3(x, y, z);
        self.quad(
            p(x0, y0, z1),
            p(x1, y0, z1),
            p(x1, y1, z1),
            p(x0, y1, z1),
            side,
        ); // +z
        self.quad(
            p(x1, y0, z0),
            p(x0, y0, z0),
            p(x0, y1, z0),
            p(x1, y1, z0),
            side,
        ); // -z
        self.quad(
            p(x1, y0, z1),
            p(x1, y0, z0),
            p(x1, y1, z0),
            p(x1, y1, z1),
            side,
        ); // +x
        self.quad(
            p(x0, y0, z0),
            p(x0, y0, z1),
            p(x0, y1, z1),
            p(x0, y1, z0),
            side,
        ); // -x
        self.quad(
            p(x0, y1, z1),
            p(x1, y1, z1),
            p(x1, y1, z0),
            p(x0, y1, z0),
            top,
        ); // +y
        self.quad(
            p(x0, y0, z0),
            p(x1, y0, z0),
            p(x1, y0, z1),
            p(x0, y0, z1),
            side,
        ); // -y
    }

    /// Box centred on `c` with half extents `h`, one surface.
    pub fn cube(&mut self, c: Vec3, h: Vec3, s: Surface) {
        self.boxed(c - h, c + h, s, s);
    }

    /// Low-poly sphere (latitude/longitude, flat-shaded).
    pub fn sphere(&mut self, c: Vec3, r: Vec3, rings: u32, segments: u32, s: Surface) {
        let pt = |i: u32, j: u32| {
            let th = std::f32::consts::PI * i as f32 / rings as f32;
            let ph = std::f32::consts::TAU * j as f32 / segments as f32;
            c + v3(
                th.sin() * ph.cos() * r.x,
                th.cos() * r.y,
                th.sin() * ph.sin() * r.z,
            )
        };
        for i in 0..rings {
            for j in 0..segments {
                let (a, b, cc, d) = (pt(i, j), pt(i + 1, j), pt(i + 1, j + 1), pt(i, j + 1));
                if i == 0 {
                    self.tri(a, cc, b, s);
                } else if i == rings - 1 {
                    self.tri(a, d, b, s);
                } else {
                    self.quad(a, d, cc, b, s);
                }
            }
        }
    }

    /// Cone (or frustum when `r_top` > 0) standing on `base`.
    pub fn cone(
        &mut self,
        base: Vec3,
        r_base: f32,
        r_top: f32,
        height: f32,
        segments: u32,
        s: Surface,
    ) {
        for j in 0..segments {
            let a0 = std::f32::consts::TAU * j as f32 / segments as f32;
            let a1 = std::f32::consts::TAU * (j + 1) as f32 / segments as f32;
            let b0 = base + v3(a0.cos() * r_base, 0.0, a0.sin() * r_base);
            let b1 = base + v3(a1.cos() * r_base, 0.0, a1.sin() * r_base);
            let t0 = base + v3(a0.cos() * r_top, height, a0.sin() * r_top);
            let t1 = base + v3(a1.cos() * r_top, height, a1.sin() * r_top);
            if r_top > 0.0 {
                self.quad(b0, t0, t1, b1, s);
                self.tri(t0, base + v3(0.0, height, 0.0), t1, s);
            } else {
                self.tri(b0, t0, b1, s);
            }
        }
    }

    /// Append this mesh to `out`, placed with `cur` now and `prev` one frame earlier.
    pub fn emit(&self, cur: &Mat4, prev: &Mat4, out: &mut Vec<Vertex>) {
        out.reserve(self.verts.len());
        for (p, n, s) in &self.verts {
            out.push(Vertex {
                pos: cur.transform_point(*p).to_array(),
                prev: prev.transform_point(*p).to_array(),
                normal: cur.transform_dir(*n).normalize().to_array(),
                albedo: s.albedo.to_array(),
                mat: [s.mat, s.param],
            });
        }
    }

    /// Append as static geometry (world space, no motion).
    pub fn emit_static(&self, out: &mut Vec<Vertex>) {
        self.emit(&Mat4::IDENTITY, &Mat4::IDENTITY, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_normals_point_outwards() {
        let mut m = Mesh::default();
        let s = surf(Vec3::ZERO, 0.0, 0.0);
        m.cube(v3(1.0, 2.0, 3.0), v3(0.5, 0.5, 0.5), s);
        assert_eq!(m.verts.len(), 36);
        for (p, n, _) in &m.verts {
            let out = *p - v3(1.0, 2.0, 3.0);
            assert!(out.dot(*n) > 0.0, "normal {n:?} at {p:?}");
        }
        let mut sp = Mesh::default();
        sp.sphere(Vec3::ZERO, v3(1.0, 1.0, 1.0), 4, 6, s);
        for t in sp.verts.chunks(3) {
            let c = (t[0].0 + t[1].0 + t[2].0) * (1.0 / 3.0);
            assert!(c.dot(t[0].1) > 0.0);
        }
        let mut co = Mesh::default();
        co.cone(Vec3::ZERO, 1.0, 0.0, 2.0, 6, s);
        for t in co.verts.chunks(3) {
            let c = (t[0].0 + t[1].0 + t[2].0) * (1.0 / 3.0);
            assert!(v3(c.x, 0.0, c.z).dot(t[0].1) > 0.0);
        }
    }
}
