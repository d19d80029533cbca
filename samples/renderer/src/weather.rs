//! Lighting presets: the flat "sim" look and one photoreal target per weather prompt.

use crate::math::{v3, Vec3};

/// Weather prompts the renderer makes targets for, in canonical order.
pub const WEATHERS: [&str; 6] = ["clear", "rain", "fog", "snow", "night", "golden_hour"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weather {
    Clear,
    Rain,
    Fog,
    Snow,
    Night,
    GoldenHour,
}

impl Weather {
    pub fn parse(s: &str) -> Option<Weather> {
        Some(match s {
            "clear" => Weather::Clear,
            "rain" => Weather::Rain,
            "fog" => Weather::Fog,
            "snow" => Weather::Snow,
            "night" => Weather::Night,
            "golden_hour" => Weather::GoldenHour,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Weather::Clear => "clear",
            Weather::Rain => "rain",
            Weather::Fog => "fog",
            Weather::Snow => "snow",
            Weather::Night => "night",
            Weather::GoldenHour => "golden_hour",
        }
    }
    pub fn all() -> Vec<Weather> {
        WEATHERS.iter().filter_map(|w| Weather::parse(w)).collect()
    }
}

/// Everything the shading passes need to know about the light and the air (linear RGB).
#[derive(Debug, Clone, Copy)]
pub struct Lighting {
    pub id: u32,
    /// Unit vector towards the sun (or moon).
    pub sun_dir: Vec3,
    /// Angular radius used for the soft-shadow penumbra (radians; larger = softer, overcast).
    pub sun_angle: f32,
    pub sun_color: Vec3,
    pub sky_zenith: Vec3,
    pub sky_horizon: Vec3,
    /// Sky-light irradiance (targets) or the constant ambient term (sim).
    pub ambient: Vec3,
    pub fog_density: f32,
    pub fog_color: Vec3,
    pub haze: f32,
    pub wetness: f32,
    pub snow: f32,
    pub night: bool,
    pub cloudiness: f32,
    pub streaks: f32,
    pub snowfall: f32,
    pub sun_disk: f32,
    /// Post: exposure multiplier, bloom strength, grain amplitude (in 8-bit steps).
    pub exposure: f32,
    pub bloom: f32,
    pub grain: f32,
}

fn sun(azimuth_deg: f32, elevation_deg: f32) -> Vec3 {
    let (a, e) = (azimuth_deg.to_radians(), elevation_deg.to_radians());
    v3(e.cos() * a.cos(), e.sin(), e.cos() * a.sin()).normalize()
}

/// Direction of the daytime sun; shared by the sim, clear, rain, fog and snow so that only the
/// light quality, not the shadow layout, separates them.
pub fn day_sun() -> Vec3 {
    sun(-58.0, 47.0)
}

/// The sim: what a plain real-time engine draws.
pub fn sim() -> Lighting {
    Lighting {
        id: 100,
        sun_dir: day_sun(),
        sun_angle: 0.0,
        sun_color: v3(1.05, 1.0, 0.92),
        sky_zenith: v3(0.22, 0.42, 0.82),
        sky_horizon: v3(0.55, 0.7, 0.9),
        ambient: v3(0.34, 0.37, 0.44),
        fog_density: 0.0,
        fog_color: v3(0.0, 0.0, 0.0),
        haze: 0.0,
        wetness: 0.0,
        snow: 0.0,
        night: false,
        cloudiness: 0.0,
        streaks: 0.0,
        snowfall: 0.0,
        sun_disk: 0.0,
        exposure: 1.0,
        bloom: 0.0,
        grain: 0.0,
    }
}

pub fn lighting(w: Weather) -> Lighting {
    let base = Lighting {
        id: 0,
        sun_dir: day_sun(),
        sun_angle: 0.02,
        sun_color: v3(3.1, 2.9, 2.6),
        sky_zenith: v3(0.16, 0.34, 0.78),
        sky_horizon: v3(0.62, 0.74, 0.9),
        ambient: v3(0.5, 0.62, 0.85),
        fog_density: 0.0,
        fog_color: v3(0.62, 0.72, 0.86),
        haze: 0.0012,
        wetness: 0.0,
        snow: 0.0,
        night: false,
        cloudiness: 0.25,
        streaks: 0.0,
        snowfall: 0.0,
        sun_disk: 1.0,
        exposure: 0.56,
        bloom: 0.06,
        grain: 1.3,
    };
    match w {
        Weather::Clear => base,
        Weather::Rain => Lighting {
            id: 1,
            sun_angle: 0.2,
            sun_color: v3(0.45, 0.47, 0.5),
            sky_zenith: v3(0.33, 0.36, 0.4),
            sky_horizon: v3(0.52, 0.55, 0.58),
            ambient: v3(0.62, 0.66, 0.72),
            fog_density: 0.006,
            fog_color: v3(0.42, 0.45, 0.48),
            haze: 0.0,
            wetness: 1.0,
            cloudiness: 1.0,
            streaks: 1.0,
            sun_disk: 0.0,
            // Below clear's exposure: a rainy day reads darker than a sunny one.
            exposure: 0.5,
            bloom: 0.05,
            ..base
        },
        Weather::Fog => Lighting {
            id: 2,
            sun_angle: 0.12,
            sun_color: v3(0.7, 0.7, 0.68),
            sky_zenith: v3(0.55, 0.58, 0.62),
            sky_horizon: v3(0.66, 0.68, 0.7),
            ambient: v3(0.6, 0.63, 0.67),
            fog_density: 0.028,
            fog_color: v3(0.6, 0.62, 0.64),
            haze: 0.0,
            wetness: 0.25,
            cloudiness: 1.0,
            sun_disk: 0.0,
            exposure: 0.75,
            bloom: 0.05,
            ..base
        },
        Weather::Snow => Lighting {
            id: 3,
            sun_angle: 0.08,
            sun_color: v3(1.1, 1.1, 1.18),
            sky_zenith: v3(0.62, 0.67, 0.75),
            sky_horizon: v3(0.86, 0.88, 0.92),
            ambient: v3(0.82, 0.88, 1.0),
            fog_density: 0.01,
            fog_color: v3(0.8, 0.83, 0.88),
            haze: 0.0,
            snow: 1.0,
            cloudiness: 0.85,
            snowfall: 1.0,
            sun_disk: 0.0,
            exposure: 0.62,
            bloom: 0.04,
            ..base
        },
        Weather::Night => Lighting {
            id: 4,
            sun_dir: sun(40.0, 38.0),
            sun_angle: 0.03,
            sun_color: v3(0.05, 0.07, 0.13),
            sky_zenith: v3(0.004, 0.007, 0.02),
            sky_horizon: v3(0.03, 0.035, 0.06),
            ambient: v3(0.025, 0.032, 0.06),
            fog_density: 0.0,
            fog_color: v3(0.03, 0.035, 0.05),
            haze: 0.004,
            night: true,
            cloudiness: 0.3,
            sun_disk: 0.0,
            // Lights stay bright, the rest much darker than day (tests/weather.rs).
            exposure: 0.8,
            bloom: 0.18,
            grain: 2.0,
            ..base
        },
        Weather::GoldenHour => Lighting {
            id: 5,
            sun_dir: sun(-150.0, 7.0),
            sun_angle: 0.014,
            sun_color: v3(3.2, 1.75, 0.8),
            sky_zenith: v3(0.2, 0.3, 0.56),
            sky_horizon: v3(1.05, 0.66, 0.38),
            ambient: v3(0.36, 0.36, 0.46),
            fog_color: v3(0.85, 0.6, 0.4),
            haze: 0.0025,
            cloudiness: 0.35,
            sun_disk: 1.0,
            exposure: 0.8,
            bloom: 0.12,
            ..base
        },
    }
}
