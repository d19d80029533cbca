//! Procedural scenes: a city street and a landscape, built deterministically from a seed.
//! Static geometry is built once in world space; cars and people are posed per frame from the
//! time now and one frame earlier, so the G-buffer can compute object motion.

use crate::math::{v3, Mat4, Rng, Vec3};
use crate::mesh::{mat, surf, Mesh, Vertex};
use std::f32::consts::PI;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SceneKind {
    City,
    Landscape,
}

impl SceneKind {
    pub fn parse(s: &str) -> Option<SceneKind> {
        match s {
            "city" => Some(SceneKind::City),
            "landscape" => Some(SceneKind::Landscape),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SceneKind::City => "city",
            SceneKind::Landscape => "landscape",
        }
    }
    /// Variants; the last one of each is reserved for the held-out split.
    pub fn variants(self) -> &'static [&'static str] {
        match self {
            SceneKind::City => &["street", "avenue", "downtown"],
            SceneKind::Landscape => &["hills", "lakeside", "alpine"],
        }
    }
    pub fn default_variant(self) -> &'static str {
        self.variants()[0]
    }
}

/// A point light (street lamps, lit at night in the targets).
#[derive(Debug, Clone, Copy)]
pub struct PointLight {
    pub pos: Vec3,
    pub radius: f32,
    pub color: Vec3,
}

/// Where cameras may stand: chosen by the scene so that paths stay clear of props.
#[derive(Debug, Clone, Copy)]
pub struct Rig {
    /// Standing position for pan and turn shots, and their initial heading (yaw, radians; 0 = +x).
    pub stand: Vec3,
    pub stand_yaw: f32,
    /// Start and heading of dolly shots; speed in m/s; height above the ground.
    pub dolly_start: Vec3,
    pub dolly_yaw: f32,
    pub dolly_speed: f32,
    /// Start of the second shot after a cut.
    pub alt_start: Vec3,
    pub alt_yaw: f32,
    /// Orbit centre and radius (held-out camera).
    pub orbit_center: Vec3,
    pub orbit_radius: f32,
    pub orbit_height: f32,
    /// Height of the eye above the ground for standing shots.
    pub eye_height: f32,
}

struct Car {
    x0: f32,
    lane_z: f32,
    dir: f32,
    speed: f32,
    mesh: Mesh,
}

struct Person {
    x0: f32,
    z: f32,
    dir: f32,
    speed: f32,
    scale: f32,
    phase0: f32,
    body: Mesh,
    legs: [Mesh; 2],
    arms: [Mesh; 2],
}

struct Terrain {
    seed: u64,
    amp: f32,
    lake: (f32, f32, f32),
    ridge: f32,
}

pub struct Scene {
    pub kind: SceneKind,
    pub variant: String,
    pub seed: u64,
    pub static_verts: Vec<Vertex>,
    pub lights: Vec<PointLight>,
    pub rig: Rig,
    cars: Vec<Car>,
    people: Vec<Person>,
    terrain: Option<Terrain>,
}

impl Scene {
    pub fn build(kind: SceneKind, variant: &str, seed: u64) -> Result<Scene, String> {
        if !kind.variants().contains(&variant) {
            return Err(format!(
                "unknown {} variant '{variant}' (choose one of: {})",
                kind.name(),
                kind.variants().join(", ")
            ));
        }
        Ok(match kind {
            SceneKind::City => build_city(variant, seed),
            SceneKind::Landscape => build_landscape(variant, seed),
        })
    }

    /// Ground height under (x, z), for cameras.
    pub fn ground_height(&self, x: f32, z: f32) -> f32 {
        match &self.terrain {
            Some(t) => t.height(x, z).max(WATER_LEVEL),
            None => 0.0,
        }
    }

    /// Append the moving objects posed at time `t`, with their pose at `t_prev` as the motion source.
    pub fn dynamic_vertices(&self, t: f32, t_prev: f32, out: &mut Vec<Vertex>) {
        for c in &self.cars {
            c.mesh.emit(&c.transform(t), &c.transform(t_prev), out);
        }
        for p in &self.people {
            p.emit(t, t_prev, out);
        }
    }

    pub fn triangle_count(&self) -> usize {
        self.static_verts.len() / 3
    }
}

// ---------------------------------------------------------------- city

const BRICKS: [Vec3; 4] = [
    v3(0.42, 0.17, 0.11),
    v3(0.5, 0.28, 0.18),
    v3(0.33, 0.16, 0.11),
    v3(0.56, 0.4, 0.3),
];
const PLASTER: [Vec3; 5] = [
    v3(0.74, 0.7, 0.62),
    v3(0.58, 0.6, 0.62),
    v3(0.78, 0.72, 0.55),
    v3(0.52, 0.48, 0.44),
    v3(0.66, 0.62, 0.6),
];
const CAR_COLORS: [Vec3; 7] = [
    v3(0.6, 0.05, 0.04),
    v3(0.05, 0.12, 0.35),
    v3(0.75, 0.75, 0.75),
    v3(0.03, 0.03, 0.03),
    v3(0.85, 0.85, 0.82),
    v3(0.2, 0.3, 0.22),
    v3(0.7, 0.55, 0.1),
];
const CLOTHES: [Vec3; 8] = [
    v3(0.1, 0.12, 0.25),
    v3(0.5, 0.08, 0.08),
    v3(0.15, 0.15, 0.15),
    v3(0.6, 0.55, 0.4),
    v3(0.2, 0.35, 0.2),
    v3(0.7, 0.7, 0.72),
    v3(0.35, 0.2, 0.1),
    v3(0.15, 0.3, 0.5),
];
const SKINS: [Vec3; 4] = [
    v3(0.62, 0.45, 0.36),
    v3(0.45, 0.3, 0.22),
    v3(0.27, 0.17, 0.12),
    v3(0.7, 0.55, 0.45),
];

struct CityParams {
    road_half: f32,
    sidewalk: f32,
    floors: (i32, i32),
    glass_bias: f32,
    cars_per_lane: usize,
    lanes: &'static [(f32, f32)],
    people: usize,
}

/// Segments the camera uses; props keep out of them.
fn clear_of(zones: &[(Vec3, Vec3, f32)], p: Vec3) -> bool {
    zones.iter().all(|(a, b, r)| {
        let ab = v3(b.x - a.x, 0.0, b.z - a.z);
        let ap = v3(p.x - a.x, 0.0, p.z - a.z);
        let t = (ap.dot(ab) / ab.dot(ab).max(1e-6)).clamp(0.0, 1.0);
        (ap - ab * t).length() > *r
    })
}

fn build_city(variant: &str, seed: u64) -> Scene {
    let p = match variant {
        "avenue" => CityParams {
            road_half: 7.0,
            sidewalk: 5.0,
            floors: (4, 11),
            glass_bias: 0.1,
            cars_per_lane: 7,
            lanes: &[(-5.2, 1.0), (-1.8, 1.0), (1.8, -1.0), (5.2, -1.0)],
            people: 34,
        },
        "downtown" => CityParams {
            road_half: 6.0,
            sidewalk: 5.0,
            floors: (9, 28),
            glass_bias: 0.3,
            cars_per_lane: 8,
            lanes: &[(-3.8, 1.0), (-1.3, 1.0), (1.3, -1.0), (3.8, -1.0)],
            people: 44,
        },
        _ => CityParams {
            road_half: 5.0,
            sidewalk: 4.0,
            floors: (2, 7),
            glass_bias: 0.0,
            cars_per_lane: 7,
            lanes: &[(-2.5, 1.0), (2.5, -1.0)],
            people: 26,
        },
    };
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(1));
    let rh = p.road_half;
    let front = rh + p.sidewalk;

    // Camera rig first: props keep clear of it.
    let base_x = rng.range(-30.0, 10.0);
    let rig = Rig {
        stand: v3(base_x, 0.15, -(rh + 0.9)),
        stand_yaw: 0.0,
        dolly_start: v3(base_x - 20.0, 0.0, 0.0),
        dolly_yaw: 0.12,
        dolly_speed: 6.0,
        alt_start: v3(base_x + 45.0, 0.0, 0.8),
        alt_yaw: -0.1,
        orbit_center: v3(base_x + 10.0, 1.0, 0.0),
        // Inside the street canyon (buildings start at `front`), looking across the road.
        orbit_radius: front - 1.5,
        orbit_height: 7.0,
        eye_height: 1.75,
    };
    let zones = [
        (rig.stand, rig.stand + v3(6.0, 0.0, 0.0), 2.2),
        (rig.alt_start, rig.alt_start + v3(30.0, 0.0, 0.0), 1.5),
        (rig.dolly_start, rig.dolly_start + v3(40.0, 0.0, 0.0), 1.5),
    ];

    let mut m = Mesh::default();
    let ground = surf(v3(0.22, 0.25, 0.14), mat::GROUND, 0.3);
    m.quad(
        v3(-700.0, -0.02, 700.0),
        v3(700.0, -0.02, 700.0),
        v3(700.0, -0.02, -700.0),
        v3(-700.0, -0.02, -700.0),
        ground,
    );
    let road = surf(v3(0.11, 0.11, 0.12), mat::ROAD, 0.0);
    m.quad(
        v3(-400.0, 0.0, rh),
        v3(400.0, 0.0, rh),
        v3(400.0, 0.0, -rh),
        v3(-400.0, 0.0, -rh),
        road,
    );
    let walk = surf(v3(0.5, 0.49, 0.46), mat::SIDEWALK, 0.0);
    for side in [-1.0f32, 1.0] {
        let (z0, z1) = if side > 0.0 {
            (rh, front)
        } else {
            (-front, -rh)
        };
        m.boxed(v3(-400.0, -0.02, z0), v3(400.0, 0.15, z1), walk, walk);
    }
    // Lane markings: dashed centre lines between opposite directions, solid edge lines.
    let paint = surf(v3(0.85, 0.85, 0.8), mat::MARKING, 0.0);
    let centre_zs: Vec<f32> = if p.lanes.len() == 2 {
        vec![0.0]
    } else {
        vec![0.0, -2.5 * rh / 6.0, 2.5 * rh / 6.0]
    };
    for (k, cz) in centre_zs.iter().enumerate() {
        let mut x = -400.0;
        while x < 400.0 {
            let len = if k == 0 { 3.0 } else { 2.0 };
            m.quad(
                v3(x, 0.006, cz + 0.08),
                v3(x + len, 0.006, cz + 0.08),
                v3(x + len, 0.006, cz - 0.08),
                v3(x, 0.006, cz - 0.08),
                paint,
            );
            x += if k == 0 { 9.0 } else { 6.0 };
        }
    }
    for side in [-1.0f32, 1.0] {
        let z = side * (rh - 0.35);
        m.quad(
            v3(-400.0, 0.006, z + 0.07),
            v3(400.0, 0.006, z + 0.07),
            v3(400.0, 0.006, z - 0.07),
            v3(-400.0, 0.006, z - 0.07),
            paint,
        );
    }
    // Crosswalk stripes.
    let cx = base_x + 30.0;
    let mut z = -rh + 0.6;
    while z < rh - 0.5 {
        m.quad(
            v3(cx, 0.007, z + 0.5),
            v3(cx + 3.0, 0.007, z + 0.5),
            v3(cx + 3.0, 0.007, z),
            v3(cx, 0.007, z),
            paint,
        );
        z += 1.0;
    }

    // Buildings on 3 m bays so that window grids line up with corners.
    for side in [-1.0f32, 1.0] {
        let mut x = -240.0;
        while x < 240.0 {
            let width = 3.0 * rng.int(3, 8) as f32;
            let depth = 3.0 * rng.int(4, 8) as f32;
            let floors = rng.int(p.floors.0, p.floors.1);
            let height = floors as f32 * 3.2 + 0.6;
            let param = (rng.f32() * 0.95 + p.glass_bias).min(0.999);
            let albedo = if param < 0.55 {
                rng.pick(&BRICKS)
            } else {
                rng.pick(&PLASTER)
            };
            let albedo = albedo * rng.range(0.85, 1.1);
            let (z0, z1) = if side > 0.0 {
                (front, front + depth)
            } else {
                (-front - depth, -front)
            };
            m.boxed(
                v3(x, 0.0, z0),
                v3(x + width, height, z1),
                surf(albedo, mat::FACADE, param),
                surf(v3(0.3, 0.3, 0.31), mat::ROOF, param),
            );
            // Roof details: a small box (stairwell / AC unit).
            if rng.chance(0.6) {
                let rx = x + rng.range(2.0, width - 4.0);
                let rz = (z0 + z1) * 0.5 + rng.range(-2.0, 2.0);
                m.boxed(
                    v3(rx, height, rz - 1.0),
                    v3(rx + 2.5, height + 2.0, rz + 1.0),
                    surf(v3(0.45, 0.45, 0.45), mat::ROOF, param),
                    surf(v3(0.3, 0.3, 0.3), mat::ROOF, param),
                );
            }
            x += width
                + if rng.chance(0.25) {
                    3.0 * rng.int(1, 2) as f32
                } else {
                    0.0
                };
        }
        // A far backdrop row closes the view behind the street ends.
        for end in [-1.0f32, 1.0] {
            let bx = end * 270.0;
            m.boxed(
                v3(bx - 15.0, 0.0, -80.0),
                v3(bx + 15.0, 60.0, 80.0),
                surf(v3(0.55, 0.55, 0.56), mat::FACADE, 0.8),
                surf(v3(0.3, 0.3, 0.3), mat::ROOF, 0.8),
            );
        }
    }

    let mut lights = Vec::new();
    let metal = surf(v3(0.2, 0.21, 0.22), mat::METAL, 0.0);
    let lamp = surf(v3(0.95, 0.9, 0.75), mat::LAMP, 0.0);
    let wood = surf(v3(0.36, 0.23, 0.13), mat::WOOD, 0.0);
    for side in [-1.0f32, 1.0] {
        // Street lamps.
        let mut x = -200.0 + if side > 0.0 { 9.0 } else { 0.0 };
        while x < 200.0 {
            let zp = side * (rh + 0.5);
            if clear_of(&zones, v3(x, 0.0, zp)) {
                m.cube(v3(x, 2.85, zp), v3(0.07, 2.7, 0.07), metal);
                m.cube(v3(x, 5.55, side * (rh - 0.15)), v3(0.05, 0.05, 0.65), metal);
                m.cube(v3(x, 5.45, side * (rh - 0.7)), v3(0.25, 0.07, 0.16), lamp);
                lights.push(PointLight {
                    pos: v3(x, 5.2, side * (rh - 0.7)),
                    radius: 20.0,
                    color: v3(1.0, 0.72, 0.42) * 30.0,
                });
            }
            x += 18.0;
        }
        // Trees.
        let mut x = -200.0 + rng.range(0.0, 6.0);
        while x < 200.0 {
            let zt = side * (front - 1.1);
            if clear_of(&zones, v3(x, 0.0, zt)) {
                let hgt = rng.range(2.2, 3.2);
                m.cube(v3(x, 0.15 + hgt * 0.5, zt), v3(0.13, hgt * 0.5, 0.13), wood);
                let r = rng.range(1.4, 2.1);
                let green = v3(
                    rng.range(0.08, 0.16),
                    rng.range(0.2, 0.3),
                    rng.range(0.05, 0.09),
                );
                m.sphere(
                    v3(x, 0.15 + hgt + r * 0.8, zt),
                    v3(r, r * 1.15, r),
                    4,
                    7,
                    surf(green, mat::FOLIAGE, rng.f32()),
                );
            }
            x += rng.range(11.0, 17.0);
        }
        // Benches and bins.
        let mut x = -190.0 + rng.range(0.0, 10.0);
        while x < 190.0 {
            let zb = side * (front - 2.6);
            if clear_of(&zones, v3(x, 0.0, zb)) {
                m.cube(v3(x, 0.6, zb), v3(0.8, 0.04, 0.22), wood);
                m.cube(v3(x, 0.85, zb + side * 0.22), v3(0.8, 0.2, 0.03), wood);
                for dx in [-0.7f32, 0.7] {
                    m.cube(v3(x + dx, 0.37, zb), v3(0.04, 0.22, 0.2), metal);
                }
                m.cube(
                    v3(x + 2.0, 0.6, zb),
                    v3(0.25, 0.45, 0.25),
                    surf(v3(0.15, 0.25, 0.15), mat::METAL, 0.0),
                );
            }
            x += rng.range(22.0, 34.0);
        }
    }

    // Cars: same speed per lane so they never run into each other.
    let mut cars = Vec::new();
    for &(lane_z, dir) in p.lanes {
        let speed = rng.range(6.0, 11.0);
        let spacing = 400.0 / p.cars_per_lane as f32;
        for k in 0..p.cars_per_lane {
            let x0 = -200.0 + k as f32 * spacing + rng.range(0.0, spacing - 8.0);
            let color = rng.pick(&CAR_COLORS);
            cars.push(Car {
                x0,
                lane_z,
                dir,
                speed,
                mesh: car_mesh(color, rng.f32(), rng.chance(0.3)),
            });
        }
    }

    // People on both sidewalks, walking either way, away from the camera's standing line.
    let mut people = Vec::new();
    for _ in 0..p.people {
        let side = if rng.chance(0.5) { 1.0 } else { -1.0 };
        let z = side * rng.range(rh + 2.0, front - 1.6);
        let dir = if rng.chance(0.5) { 1.0 } else { -1.0 };
        let x0 = base_x + rng.range(-40.0, 70.0);
        people.push(person(&mut rng, x0, z, dir));
    }

    let mut static_verts = Vec::new();
    m.emit_static(&mut static_verts);
    Scene {
        kind: SceneKind::City,
        variant: variant.into(),
        seed,
        static_verts,
        lights,
        rig,
        cars,
        people,
        terrain: None,
    }
}

fn car_mesh(color: Vec3, param: f32, van: bool) -> Mesh {
    let mut m = Mesh::default();
    let paint = surf(color, mat::CAR_PAINT, param);
    let glass = surf(v3(0.05, 0.06, 0.07), mat::GLASS, param);
    let tire = surf(v3(0.04, 0.04, 0.04), mat::TIRE, 0.0);
    let light = surf(v3(0.95, 0.95, 0.85), mat::LAMP, 0.0);
    let tail = surf(v3(0.5, 0.02, 0.02), mat::CAR_PAINT, 0.0);
    let (len, roof) = if van { (2.4, 2.1) } else { (2.15, 1.45) };
    m.boxed(v3(-len, 0.32, -0.9), v3(len, 1.0, 0.9), paint, paint);
    m.boxed(
        v3(-len * 0.55, 1.0, -0.82),
        v3(len * 0.42, roof, 0.82),
        glass,
        paint,
    );
    for (x, z) in [
        (-1.35f32, -0.85f32),
        (-1.35, 0.85),
        (1.35, -0.85),
        (1.35, 0.85),
    ] {
        m.cube(v3(x, 0.32, z), v3(0.32, 0.32, 0.11), tire);
    }
    for z in [-0.6f32, 0.6] {
        m.cube(v3(len + 0.01, 0.8, z), v3(0.02, 0.08, 0.18), light);
        m.cube(v3(-len - 0.01, 0.8, z), v3(0.02, 0.07, 0.16), tail);
    }
    m
}

impl Car {
    fn transform(&self, t: f32) -> Mat4 {
        let x = self.x0 + self.dir * self.speed * t;
        let heading = if self.dir > 0.0 { 0.0 } else { PI };
        Mat4::translation(v3(x, 0.0, self.lane_z)) * Mat4::rotation_y(heading)
    }
}

const HIP: f32 = 0.9;
const SHOULDER: f32 = 1.45;

fn person(rng: &mut Rng, x0: f32, z: f32, dir: f32) -> Person {
    let shirt = surf(rng.pick(&CLOTHES), mat::CLOTH, rng.f32());
    let pants = surf(rng.pick(&CLOTHES) * 0.7, mat::CLOTH, rng.f32());
    let skin = surf(rng.pick(&SKINS), mat::SKIN, 0.0);
    let mut body = Mesh::default();
    body.cube(v3(0.0, 1.18, 0.0), v3(0.12, 0.3, 0.2), shirt);
    body.sphere(v3(0.0, 1.66, 0.0), v3(0.11, 0.13, 0.11), 4, 6, skin);
    let leg = |zs: f32| {
        let mut l = Mesh::default();
        l.cube(v3(0.0, HIP * 0.5, zs), v3(0.08, HIP * 0.5, 0.08), pants);
        l.cube(
            v3(0.05, 0.04, zs),
            v3(0.13, 0.04, 0.07),
            surf(v3(0.05, 0.05, 0.05), mat::CLOTH, 0.0),
        );
        l
    };
    let arm = |zs: f32| {
        let mut a = Mesh::default();
        a.cube(v3(0.0, SHOULDER - 0.3, zs), v3(0.055, 0.3, 0.055), shirt);
        a.cube(v3(0.0, SHOULDER - 0.64, zs), v3(0.045, 0.05, 0.045), skin);
        a
    };
    Person {
        x0,
        z,
        dir,
        speed: rng.range(1.1, 1.6),
        scale: rng.range(0.9, 1.1),
        phase0: rng.range(0.0, 2.0 * PI),
        body,
        legs: [leg(-0.1), leg(0.1)],
        arms: [arm(-0.27), arm(0.27)],
    }
}

impl Person {
    fn base(&self, t: f32) -> (Mat4, f32) {
        let x = self.x0 + self.dir * self.speed * t;
        // One full swing cycle covers two strides of ~0.7 m.
        let phase = self.phase0 + PI * self.speed * t / 0.7;
        let bob = 0.03 * (2.0 * phase).cos().abs();
        let heading = if self.dir > 0.0 { 0.0 } else { PI };
        let m = Mat4::translation(v3(x, 0.15 + bob, self.z))
            * Mat4::rotation_y(heading)
            * Mat4::scale(v3(self.scale, self.scale, self.scale));
        (m, phase)
    }

    fn emit(&self, t: f32, t_prev: f32, out: &mut Vec<Vertex>) {
        let (b, ph) = self.base(t);
        let (bp, php) = self.base(t_prev);
        self.body.emit(&b, &bp, out);
        let limb = |pivot_y: f32, angle: f32| {
            let pivot = v3(0.0, pivot_y, 0.0);
            Mat4::translation(pivot) * Mat4::rotation_z(angle) * Mat4::translation(-pivot)
        };
        for (k, sign) in [(0usize, 1.0f32), (1, -1.0)] {
            self.legs[k].emit(
                &(b * limb(HIP, sign * 0.45 * ph.sin())),
                &(bp * limb(HIP, sign * 0.45 * php.sin())),
                out,
            );
            self.arms[k].emit(
                &(b * limb(SHOULDER, -sign * 0.4 * ph.sin())),
                &(bp * limb(SHOULDER, -sign * 0.4 * php.sin())),
                out,
            );
        }
    }
}

// ---------------------------------------------------------------- landscape

pub const WATER_LEVEL: f32 = 0.0;

/// 2D value noise on the CPU for the height field.
fn hash2(seed: u64, x: i32, z: i32) -> f32 {
    let mut r =
        Rng::new(seed ^ ((x as u32 as u64) << 32) ^ (z as u32 as u64).wrapping_mul(0x9E37_79B9));
    r.f32()
}

fn noise2(seed: u64, x: f32, z: f32) -> f32 {
    let (xi, zi) = (x.floor() as i32, z.floor() as i32);
    let (fx, fz) = (x - x.floor(), z - z.floor());
    let s = |t: f32| t * t * (3.0 - 2.0 * t);
    let (u, v) = (s(fx), s(fz));
    let a = hash2(seed, xi, zi) + (hash2(seed, xi + 1, zi) - hash2(seed, xi, zi)) * u;
    let b = hash2(seed, xi, zi + 1) + (hash2(seed, xi + 1, zi + 1) - hash2(seed, xi, zi + 1)) * u;
    a + (b - a) * v
}

fn fbm2(seed: u64, x: f32, z: f32, octaves: u32) -> f32 {
    let (mut sum, mut amp, mut f, mut norm) = (0.0, 0.5, 1.0, 0.0);
    for o in 0..octaves {
        sum += amp * noise2(seed.wrapping_add(o as u64 * 7919), x * f, z * f);
        norm += amp;
        amp *= 0.5;
        f *= 2.0;
    }
    sum / norm
}

impl Terrain {
    fn height(&self, x: f32, z: f32) -> f32 {
        let n = fbm2(self.seed, x / 160.0, z / 160.0, 5);
        let ridge = 1.0 - (fbm2(self.seed ^ 0xABCD, x / 220.0, z / 220.0, 4) * 2.0 - 1.0).abs();
        let mut h = 3.0 + self.amp * (n - 0.35) * 2.0 + self.ridge * ridge * ridge;
        let (lx, lz, lr) = self.lake;
        let d = ((x - lx).powi(2) + (z - lz).powi(2)).sqrt();
        let k = smoothstep(lr * 1.25, lr * 0.55, d);
        h = h * (1.0 - k) + (WATER_LEVEL - 4.0) * k;
        // Keep the land a little above water near the shore.
        if k < 0.5 {
            h = h.max(WATER_LEVEL + 0.4 * (1.0 - 2.0 * k));
        }
        h
    }

    fn normal(&self, x: f32, z: f32) -> Vec3 {
        let e = 1.0;
        let hx = self.height(x + e, z) - self.height(x - e, z);
        let hz = self.height(x, z + e) - self.height(x, z - e);
        v3(-hx, 2.0 * e, -hz).normalize()
    }
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn build_landscape(variant: &str, seed: u64) -> Scene {
    let mut rng = Rng::new(seed.wrapping_mul(977).wrapping_add(5));
    let (amp, ridge, lake_r, trees, rocks) = match variant {
        "lakeside" => (14.0, 6.0, 95.0, 240, 40),
        "alpine" => (34.0, 38.0, 55.0, 130, 110),
        _ => (20.0, 10.0, 60.0, 300, 50),
    };
    let lake = (rng.range(20.0, 60.0), rng.range(-70.0, -30.0), lake_r);
    let terrain = Terrain {
        seed: seed.wrapping_add(17),
        amp,
        lake,
        ridge,
    };

    // Rig: stand on the shore looking across the lake; dolly towards it; orbit a point on land.
    let (lx, lz, lr) = lake;
    let stand_xz = (lx - lr * 1.6, lz + lr * 0.9);
    let dolly_xz = (lx - lr * 2.0, lz - lr * 0.3);
    let alt_xz = (lx + lr * 0.2, lz + lr * 1.7);
    let to_lake = |x: f32, z: f32| (lz - z).atan2(lx - x);
    let g = |x: f32, z: f32| terrain.height(x, z).max(WATER_LEVEL);
    let rig = Rig {
        stand: v3(stand_xz.0, g(stand_xz.0, stand_xz.1), stand_xz.1),
        stand_yaw: to_lake(stand_xz.0, stand_xz.1),
        dolly_start: v3(dolly_xz.0, 0.0, dolly_xz.1),
        dolly_yaw: to_lake(dolly_xz.0, dolly_xz.1),
        dolly_speed: 11.0,
        alt_start: v3(alt_xz.0, g(alt_xz.0, alt_xz.1), alt_xz.1),
        alt_yaw: to_lake(alt_xz.0, alt_xz.1) + 0.5,
        orbit_center: v3(
            lx - lr * 1.2,
            g(lx - lr * 1.2, lz - lr * 0.9) + 2.0,
            lz - lr * 0.9,
        ),
        orbit_radius: 35.0,
        orbit_height: 14.0,
        eye_height: 2.2,
    };
    let dolly_end = rig.dolly_start + v3(rig.dolly_yaw.cos(), 0.0, rig.dolly_yaw.sin()) * 60.0;
    let zones = [
        (
            rig.stand,
            rig.stand + v3(rig.stand_yaw.cos(), 0.0, rig.stand_yaw.sin()) * 25.0,
            6.0,
        ),
        (rig.dolly_start, dolly_end, 7.0),
        (
            rig.alt_start,
            rig.alt_start + v3(rig.alt_yaw.cos(), 0.0, rig.alt_yaw.sin()) * 25.0,
            6.0,
        ),
    ];

    let mut m = Mesh::default();
    // Height field: smooth normals, albedo by slope and height (grass, rock, shore sand).
    let half = 320.0;
    let cells = 150;
    let step = 2.0 * half / cells as f32;
    let grass = if variant == "alpine" {
        v3(0.16, 0.24, 0.09)
    } else {
        v3(0.17, 0.28, 0.07)
    };
    let vert = |i: i32, j: i32| {
        let (x, z) = (-half + i as f32 * step, -half + j as f32 * step);
        let h = terrain.height(x, z);
        let n = terrain.normal(x, z);
        let rockiness = smoothstep(0.88, 0.72, n.y);
        let sand = smoothstep(1.6, 0.5, h);
        let mut albedo = grass.lerp(v3(0.36, 0.34, 0.31), rockiness);
        albedo = albedo.lerp(v3(0.5, 0.45, 0.33), sand * (1.0 - rockiness));
        (v3(x, h, z), n, albedo)
    };
    for i in 0..cells {
        for j in 0..cells {
            let (a, b, c, d) = (
                vert(i, j),
                vert(i + 1, j),
                vert(i + 1, j + 1),
                vert(i, j + 1),
            );
            let avg = (a.2 + b.2 + c.2 + d.2) * 0.25;
            let s = surf(avg, mat::TERRAIN, 0.0);
            // Counter-clockwise seen from above (+y).
            m.tri_smooth((a.0, a.1), (d.0, d.1), (c.0, c.1), s);
            m.tri_smooth((a.0, a.1), (c.0, c.1), (b.0, b.1), s);
        }
    }
    // Far ground skirt under the height field's edge, out to the mountains.
    let far = surf(grass * 0.9, mat::TERRAIN, 0.0);
    m.quad(
        v3(-4000.0, -3.0, 4000.0),
        v3(4000.0, -3.0, 4000.0),
        v3(4000.0, -3.0, -4000.0),
        v3(-4000.0, -3.0, -4000.0),
        far,
    );
    // Lake surface.
    let water = surf(v3(0.06, 0.13, 0.16), mat::WATER, 0.0);
    m.quad(
        v3(lx - lr * 1.4, WATER_LEVEL, lz + lr * 1.4),
        v3(lx + lr * 1.4, WATER_LEVEL, lz + lr * 1.4),
        v3(lx + lr * 1.4, WATER_LEVEL, lz - lr * 1.4),
        v3(lx - lr * 1.4, WATER_LEVEL, lz - lr * 1.4),
        water,
    );
    // Distant mountains: a ring of low-poly cones.
    let count = 16;
    for k in 0..count {
        let a = k as f32 / count as f32 * 2.0 * PI + rng.range(-0.1, 0.1);
        let dist = rng.range(1100.0, 1600.0);
        let height = rng.range(160.0, 380.0) * if variant == "alpine" { 1.6 } else { 1.0 };
        let radius = rng.range(380.0, 560.0);
        let col = v3(0.33, 0.35, 0.4) * rng.range(0.85, 1.1);
        m.cone(
            v3(a.cos() * dist, -3.0, a.sin() * dist),
            radius,
            0.0,
            height,
            rng.int(6, 9) as u32,
            surf(col, mat::MOUNTAIN, rng.f32()),
        );
    }
    // Trees (pines mostly, some broadleaf) on gentle dry slopes.
    let wood = surf(v3(0.3, 0.2, 0.12), mat::WOOD, 0.0);
    let mut placed = 0;
    let mut tries = 0;
    while placed < trees && tries < trees * 20 {
        tries += 1;
        let (x, z) = (
            rng.range(-half + 5.0, half - 5.0),
            rng.range(-half + 5.0, half - 5.0),
        );
        let h = terrain.height(x, z);
        if h < 1.5 || terrain.normal(x, z).y < 0.85 || !clear_of(&zones, v3(x, 0.0, z)) {
            continue;
        }
        // Clumps: keep trees where a low-frequency mask says "forest".
        if fbm2(seed ^ 0x5151, x / 70.0, z / 70.0, 3) < 0.42 && rng.chance(0.8) {
            continue;
        }
        placed += 1;
        let s = rng.range(0.75, 1.35);
        let green = v3(
            rng.range(0.05, 0.09),
            rng.range(0.14, 0.22),
            rng.range(0.05, 0.08),
        );
        let leaf = surf(green, mat::FOLIAGE, rng.f32());
        if rng.chance(0.78) {
            m.cone(v3(x, h - 0.2, z), 0.25 * s, 0.18 * s, 2.2 * s, 5, wood);
            for (k, (r, hh)) in [(2.4f32, 4.0f32), (1.8, 3.4), (1.2, 2.8)]
                .iter()
                .enumerate()
            {
                m.cone(
                    v3(x, h + (1.6 + k as f32 * 1.8) * s, z),
                    r * s,
                    0.0,
                    hh * s,
                    7,
                    leaf,
                );
            }
        } else {
            m.cone(v3(x, h - 0.2, z), 0.3 * s, 0.2 * s, 3.0 * s, 5, wood);
            let green = v3(
                rng.range(0.1, 0.18),
                rng.range(0.2, 0.3),
                rng.range(0.05, 0.08),
            );
            m.sphere(
                v3(x, h + 4.2 * s, z),
                v3(2.6 * s, 2.2 * s, 2.6 * s),
                4,
                7,
                surf(green, mat::FOLIAGE, rng.f32()),
            );
        }
    }
    // Rocks: squashed low-poly spheres, half buried.
    for _ in 0..rocks {
        let (x, z) = (
            rng.range(-half + 5.0, half - 5.0),
            rng.range(-half + 5.0, half - 5.0),
        );
        let h = terrain.height(x, z);
        if h < WATER_LEVEL - 1.0 || !clear_of(&zones, v3(x, 0.0, z)) {
            continue;
        }
        let r = rng.range(0.6, 2.8);
        let col = v3(0.4, 0.39, 0.37) * rng.range(0.7, 1.1);
        m.sphere(
            v3(x, h + r * 0.2, z),
            v3(
                r * rng.range(0.8, 1.4),
                r * rng.range(0.5, 0.9),
                r * rng.range(0.8, 1.4),
            ),
            3,
            5,
            surf(col, mat::ROCK, rng.f32()),
        );
    }

    let mut static_verts = Vec::new();
    m.emit_static(&mut static_verts);
    Scene {
        kind: SceneKind::Landscape,
        variant: variant.into(),
        seed,
        static_verts,
        lights: Vec::new(),
        rig,
        cars: Vec::new(),
        people: Vec::new(),
        terrain: Some(terrain),
    }
}
