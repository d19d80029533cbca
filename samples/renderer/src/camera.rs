//! Camera paths: pan, dolly, a fast turn, a cut between two shots, and an orbit (held out of
//! training). Each path is a pure function of the frame index, so any frame can be rendered alone.

use crate::math::{v3, Mat4, Vec3};
use crate::scene::{Scene, SceneKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraPath {
    Pan,
    Dolly,
    Turn,
    /// Shot A: a fast turn; shot B (from the middle frame): a dolly elsewhere.
    Cut,
    /// Circles a point; reserved for the held-out split.
    Orbit,
}

pub const CAMERAS: [&str; 5] = ["pan", "dolly", "turn", "cut", "orbit"];

impl CameraPath {
    pub fn parse(s: &str) -> Option<CameraPath> {
        Some(match s {
            "pan" => CameraPath::Pan,
            "dolly" => CameraPath::Dolly,
            "turn" => CameraPath::Turn,
            "cut" => CameraPath::Cut,
            "orbit" => CameraPath::Orbit,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            CameraPath::Pan => "pan",
            CameraPath::Dolly => "dolly",
            CameraPath::Turn => "turn",
            CameraPath::Cut => "cut",
            CameraPath::Orbit => "orbit",
        }
    }
    /// Frames that start a new shot (besides frame 0).
    pub fn cuts(self, frames: u32) -> Vec<u32> {
        match self {
            CameraPath::Cut if frames >= 2 => vec![frames / 2],
            _ => Vec::new(),
        }
    }
}

/// Vertical field of view.
pub const FOVY: f32 = 60.0 * std::f32::consts::PI / 180.0;
pub const NEAR: f32 = 0.1;
pub const FAR: f32 = 5000.0;

#[derive(Debug, Clone, Copy)]
pub struct Pose {
    pub eye: Vec3,
    /// Radians; 0 looks along +x, positive turns towards +z.
    pub yaw: f32,
    pub pitch: f32,
}

impl Pose {
    pub fn forward(&self) -> Vec3 {
        v3(
            self.pitch.cos() * self.yaw.cos(),
            self.pitch.sin(),
            self.pitch.cos() * self.yaw.sin(),
        )
    }
    pub fn view(&self) -> Mat4 {
        Mat4::look_at(self.eye, self.eye + self.forward(), Vec3::Y)
    }
}

fn smooth(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Which shot frame `i` belongs to, and the time since that shot began (seconds).
pub fn shot_of(path: CameraPath, i: u32, frames: u32, fps: f32) -> (u32, f32) {
    let cut = path.cuts(frames);
    match cut.first() {
        Some(&c) if i >= c => (1, (i - c) as f32 / fps),
        _ => (0, i as f32 / fps),
    }
}

/// Camera pose at frame `i` of `frames`.
pub fn pose(path: CameraPath, scene: &Scene, i: u32, frames: u32, fps: f32) -> Pose {
    let rig = &scene.rig;
    let (shot, t) = shot_of(path, i, frames, fps);
    let shot_len = match path.cuts(frames).first() {
        Some(&c) if shot == 0 => c,
        Some(&c) => frames - c,
        None => frames,
    };
    let dur = shot_len.max(1) as f32 / fps;
    let ground = |p: Vec3| scene.ground_height(p.x, p.z);
    let landscape = scene.kind == SceneKind::Landscape;
    let stand = |p: Vec3| {
        v3(
            p.x,
            ground(p) + rig.eye_height + if landscape { 0.0 } else { p.y },
            p.z,
        )
    };

    let pan = |t: f32| {
        // 35 degrees per second across the view, centred on the rig heading.
        let sweep = 0.61 * dur;
        let yaw = rig.stand_yaw + 0.35 - sweep * (t / dur);
        Pose {
            eye: stand(rig.stand),
            yaw,
            pitch: -0.03,
        }
    };
    let dolly = |t: f32, start: Vec3, yaw: f32| {
        let dir = v3(yaw.cos(), 0.0, yaw.sin());
        let p = start + dir * (rig.dolly_speed * t);
        let height = if landscape {
            // Fly a few metres above the ground, smoothed over the path ahead.
            let ahead = [0.0f32, 5.0, 10.0, 20.0]
                .iter()
                .map(|d| ground(p + dir * *d))
                .fold(f32::MIN, f32::max);
            ahead + 5.0
        } else {
            2.3 + 0.03 * (t * 9.0).sin()
        };
        Pose {
            eye: v3(p.x, height, p.z),
            yaw,
            pitch: if landscape { -0.06 } else { -0.02 },
        }
    };
    let turn = |t: f32, start: Vec3, yaw0: f32| {
        // A whip pan of ~100 degrees (towards +z: across the street in the city) in the middle half
        // of the shot while walking forward.
        let k = smooth((t / dur - 0.2) / 0.5);
        let yaw = yaw0 + 1.75 * k;
        let walk = v3(yaw0.cos(), 0.0, yaw0.sin()) * (1.2 * t);
        let mut eye = stand(start + walk);
        eye.y += 0.02 * (t * 11.0).sin();
        Pose {
            eye,
            yaw,
            pitch: -0.04,
        }
    };
    match path {
        CameraPath::Pan => pan(t),
        CameraPath::Dolly => dolly(t, rig.dolly_start, rig.dolly_yaw),
        CameraPath::Turn => turn(t, rig.stand, rig.stand_yaw - 0.3),
        CameraPath::Cut if shot == 0 => turn(t, rig.stand, rig.stand_yaw - 0.3),
        CameraPath::Cut => dolly(t, rig.alt_start, rig.alt_yaw),
        CameraPath::Orbit => {
            let a = -1.2 + 0.42 * t;
            let c = rig.orbit_center;
            let eye = v3(
                c.x + rig.orbit_radius * a.cos(),
                c.y + rig.orbit_height,
                c.z + rig.orbit_radius * a.sin(),
            );
            let d = c - eye;
            Pose {
                eye,
                yaw: d.z.atan2(d.x),
                pitch: (d.y / v3(d.x, 0.0, d.z).length()).atan(),
            }
        }
    }
}

/// Perspective projection for an image of `width` x `height`.
pub fn projection(width: u32, height: u32) -> Mat4 {
    Mat4::perspective_reversed_z(FOVY, width as f32 / height as f32, NEAR, FAR)
}
