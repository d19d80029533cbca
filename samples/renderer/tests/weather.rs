//! The paired targets look like their prompt, measured on a rendered city-street frame and a
//! landscape frame: rain is darker, fog hides far things more than near ones, snow whitens
//! up-facing surfaces, night is much darker with lights, golden hour is warmer; and the targets
//! carry surface detail the flat sim frame lacks.

mod common;

use common::{gpu, luma8, mean, std_dev};
use realmaster_samples::camera::CameraPath;
use realmaster_samples::clip::{ClipRenderer, ClipSpec};
use realmaster_samples::mesh::mat;
use realmaster_samples::render::{SKY_DEPTH, SS};
use realmaster_samples::scene::SceneKind;
use realmaster_samples::weather::Weather;
use std::sync::OnceLock;

const W: usize = 128;
const H: usize = 72;

struct Shot {
    name: &'static str,
    /// Linear luma before any post (sim at output size; targets box-resolved from SS), per weather.
    sim_luma: Vec<f32>,
    hdr_luma: Vec<(Weather, Vec<f32>)>,
    targets: Vec<(Weather, Vec<u8>)>,
    depth: Vec<f32>,
    normals: Vec<f32>,
    material: Vec<f32>,
}

impl Shot {
    fn target(&self, w: Weather) -> &[u8] {
        &self.targets.iter().find(|(k, _)| *k == w).unwrap().1
    }
    fn geometry(&self, i: usize) -> bool {
        self.depth[i] < SKY_DEPTH
    }
    /// Luma of `img` over the pixels `keep` selects.
    fn lumas(&self, img: &[u8], keep: impl Fn(usize) -> bool) -> Vec<f32> {
        (0..W * H)
            .filter(|i| keep(*i))
            .map(|i| luma8(&img[i * 4..i * 4 + 4]))
            .collect()
    }
}

fn render_shot(name: &'static str, scene: SceneKind, camera: CameraPath, seed: u64) -> Shot {
    let mut spec = ClipSpec::new(scene, camera, 8, W as u32, H as u32, seed);
    spec.weathers = Weather::all();
    let mut clip = ClipRenderer::new(gpu(), spec.clone()).unwrap();
    let out = clip.frame(4).unwrap();
    let enc = clip.encode(&out, 4);
    let lin = |p: &[f32]| 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
    let resolve = |hdr: &Vec<f32>| -> Vec<f32> {
        let (ss, ws) = (SS as usize, W * SS as usize);
        (0..W * H)
            .map(|i| {
                let (x, y) = (i % W * ss, i / W * ss);
                [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .map(|(dx, dy)| lin(&hdr[((y + dy) * ws + x + dx) * 4..]))
                    .sum::<f32>()
                    / 4.0
            })
            .collect()
    };
    Shot {
        name,
        sim_luma: out.sim.chunks_exact(4).map(lin).collect(),
        hdr_luma: spec
            .weathers
            .iter()
            .copied()
            .zip(out.targets.iter().map(resolve))
            .collect(),
        targets: spec
            .weathers
            .iter()
            .copied()
            .zip(enc.targets_rgba8)
            .collect(),
        depth: out.depth,
        normals: out.normals,
        material: out.material,
    }
}

/// A city street (near facades, far street, cars, lamps) and rolling hills, every target each.
fn shots() -> &'static [Shot; 2] {
    static SHOTS: OnceLock<[Shot; 2]> = OnceLock::new();
    SHOTS.get_or_init(|| {
        [
            render_shot("city street", SceneKind::City, CameraPath::Pan, 7),
            render_shot(
                "landscape hills",
                SceneKind::Landscape,
                CameraPath::Dolly,
                11,
            ),
        ]
    })
}

fn city() -> &'static Shot {
    &shots()[0]
}

fn mean_rgb(img: &[u8]) -> [f32; 3] {
    let mut s = [0f32; 3];
    for p in img.chunks_exact(4) {
        for k in 0..3 {
            s[k] += p[k] as f32 / 255.0;
        }
    }
    s.map(|v| v / (img.len() / 4) as f32)
}

#[test]
fn rain_is_darker_than_clear() {
    for s in shots() {
        let clear = mean(&s.lumas(s.target(Weather::Clear), |i| s.geometry(i)));
        let rain = mean(&s.lumas(s.target(Weather::Rain), |i| s.geometry(i)));
        // Up-facing ground (road, sidewalk, grass) gets wet: darker and glossier.
        let ground = |i: usize| s.geometry(i) && s.normals[i * 3 + 1] > 0.9;
        let clear_g = mean(&s.lumas(s.target(Weather::Clear), ground));
        let rain_g = mean(&s.lumas(s.target(Weather::Rain), ground));
        eprintln!(
            "{}: rain mean luma {rain:.3} vs clear {clear:.3}; ground {rain_g:.3} vs {clear_g:.3}",
            s.name
        );
        assert!(
            rain < 0.85 * clear,
            "{}: rain ({rain}) is not darker than clear ({clear})",
            s.name
        );
        assert!(
            rain_g < clear_g,
            "{}: wet ground ({rain_g}) is not darker than dry ground ({clear_g})",
            s.name
        );
    }
}

#[test]
fn fog_hides_far_pixels_more_than_near_ones() {
    for s in shots() {
        let mut d: Vec<f32> = (0..W * H)
            .filter(|i| s.geometry(*i))
            .map(|i| s.depth[i])
            .collect();
        d.sort_by(f32::total_cmp);
        let (near_max, far_min) = (d[d.len() / 3], d[d.len() * 2 / 3]);
        let near = |i: usize| s.geometry(i) && s.depth[i] <= near_max;
        let far = |i: usize| s.geometry(i) && s.depth[i] >= far_min;
        // Contrast = spread of luma within the depth band, fog relative to clear.
        let contrast =
            |w: Weather, keep: &dyn Fn(usize) -> bool| std_dev(&s.lumas(s.target(w), keep));
        let near_ratio = contrast(Weather::Fog, &near) / contrast(Weather::Clear, &near);
        let far_ratio = contrast(Weather::Fog, &far) / contrast(Weather::Clear, &far);
        eprintln!("{}: fog contrast ratio near (<= {near_max:.1} m) {near_ratio:.3}, far (>= {far_min:.1} m) {far_ratio:.3}", s.name);
        assert!(
            far_ratio < 0.7 * near_ratio,
            "{}: fog does not grow with depth: far contrast ratio {far_ratio}, near {near_ratio}",
            s.name
        );
        assert!(
            far_ratio < 0.5,
            "{}: far pixels keep {far_ratio} of their contrast in fog",
            s.name
        );
    }
}

/// Share of the selected pixels that look like snow: bright and nearly grey.
fn white_share(img: &[u8], keep: &dyn Fn(usize) -> bool) -> f32 {
    let sel: Vec<usize> = (0..W * H).filter(|i| keep(*i)).collect();
    let white = sel
        .iter()
        .filter(|i| {
            let p = &img[**i * 4..**i * 4 + 3];
            let (mx, mn) = (
                *p.iter().max().unwrap() as f32,
                *p.iter().min().unwrap() as f32,
            );
            luma8(&img[**i * 4..]) > 0.6 && (mx - mn) < 0.15 * mx
        })
        .count();
    white as f32 / sel.len().max(1) as f32
}

#[test]
fn snow_whitens_up_facing_surfaces() {
    for s in shots() {
        // Near pixels only: the snowy air (near-white fog) whitens everything far away.
        let near = |i: usize| s.geometry(i) && s.depth[i] < 40.0;
        let up = |i: usize| near(i) && s.normals[i * 3 + 1] > 0.9;
        let count = |keep: &dyn Fn(usize) -> bool| (0..W * H).filter(|i| keep(*i)).count();
        assert!(
            count(&up) > 200,
            "{}: too few near up-facing pixels",
            s.name
        );
        let (up_white, clear_up_white) = (
            white_share(s.target(Weather::Snow), &up),
            white_share(s.target(Weather::Clear), &up),
        );
        eprintln!("{}: snow-white share of near up-facing pixels: {up_white:.3} (clear {clear_up_white:.3})", s.name);
        assert!(
            up_white > 0.6,
            "{}: only {up_white} of the up-facing pixels are snow-white",
            s.name
        );
        assert!(
            clear_up_white < 0.2,
            "{}: up-facing pixels are white without snow too ({clear_up_white})",
            s.name
        );
    }
    // Walls stay mostly uncovered: the cover follows the normal, it is not a white-out.
    let s = city();
    let wall = |i: usize| s.geometry(i) && s.depth[i] < 40.0 && s.normals[i * 3 + 1].abs() < 0.3;
    let up = |i: usize| s.geometry(i) && s.depth[i] < 40.0 && s.normals[i * 3 + 1] > 0.9;
    let (wall_white, up_white) = (
        white_share(s.target(Weather::Snow), &wall),
        white_share(s.target(Weather::Snow), &up),
    );
    eprintln!("city street: snow-white share of walls {wall_white:.3}, up-facing {up_white:.3}");
    assert!(
        wall_white < up_white - 0.3,
        "snow covers walls ({wall_white}) about as much as up-facing surfaces ({up_white})"
    );
}

#[test]
fn night_is_much_darker_with_lights_in_the_city() {
    for s in shots() {
        let clear = mean(&s.lumas(s.target(Weather::Clear), |_| true));
        let night = s.lumas(s.target(Weather::Night), |_| true);
        let bright = night.iter().filter(|l| **l > 0.7).count();
        eprintln!(
            "{}: night mean luma {:.3} vs clear {clear:.3}; {bright} pixels above 0.7",
            s.name,
            mean(&night)
        );
        assert!(
            mean(&night) < 0.5 * clear,
            "{}: night ({}) is not much darker than clear ({clear})",
            s.name,
            mean(&night)
        );
    }
    // Street lamps and lit windows: bright pixels the sim and the day targets do not have there.
    let s = city();
    let lit = |img: &[u8]| {
        (0..W * H)
            .filter(|i| luma8(&img[i * 4..]) > 0.7)
            .collect::<Vec<_>>()
    };
    let night = lit(s.target(Weather::Night));
    let lamps_or_windows = night
        .iter()
        .filter(|i| s.material[**i] == mat::LAMP || s.material[**i] == mat::FACADE)
        .count();
    eprintln!(
        "city night: {} bright pixels, {lamps_or_windows} on lamps or facades",
        night.len()
    );
    assert!(
        lamps_or_windows >= 4,
        "the city at night has no lit lamps or windows ({lamps_or_windows} bright pixels on them)"
    );
}

#[test]
fn golden_hour_is_warmer_than_clear() {
    for s in shots() {
        let warmth = |w: Weather| {
            let m = mean_rgb(s.target(w));
            m[0] / m[2]
        };
        let (gold, clear) = (warmth(Weather::GoldenHour), warmth(Weather::Clear));
        eprintln!("{}: golden hour R/B {gold:.3}, clear {clear:.3}", s.name);
        assert!(
            gold > 1.25 * clear,
            "{}: golden hour R/B {gold} is not warmer than clear {clear}",
            s.name
        );
    }
}

#[test]
fn targets_carry_detail_the_sim_lacks() {
    for s in shots() {
        // Relative local detail inside one surface (same material, no depth edge): mean absolute
        // difference to the right-hand neighbour over the mean, in linear light before exposure,
        // bloom and grain. The sim shades such areas flat; the targets add material texture, AO,
        // soft shadows and bump-mapped lighting.
        let inside = |i: usize| {
            let x = i % W;
            x + 1 < W
                && s.geometry(i)
                && s.material[i] == s.material[i + 1]
                && (s.depth[i] - s.depth[i + 1]).abs() < 0.02 * s.depth[i]
        };
        let idx: Vec<usize> = (0..W * H).filter(|i| inside(*i)).collect();
        let detail = |l: &[f32]| {
            let d: Vec<f32> = idx.iter().map(|i| (l[*i] - l[i + 1]).abs()).collect();
            let m: Vec<f32> = idx.iter().map(|i| l[*i]).collect();
            mean(&d) / mean(&m)
        };
        let sim = detail(&s.sim_luma);
        for (w, l) in &s.hdr_luma {
            let d = detail(l);
            eprintln!("{}: detail sim {sim:.4}, {} {d:.4}", s.name, w.name());
            // Overcast weathers lose the sharp sun shadows: they only need more detail than the
            // sim, the sunlit clear target a lot more. Fog and a snow blanket cover the surfaces
            // on purpose (their own tests check them).
            if *w == Weather::Fog || *w == Weather::Snow {
                continue;
            }
            let factor = if *w == Weather::Clear { 2.0 } else { 1.2 };
            assert!(
                d > factor * sim,
                "{}: {} target has too little surface detail ({d}) next to the sim ({sim})",
                s.name,
                w.name()
            );
        }
    }
}
