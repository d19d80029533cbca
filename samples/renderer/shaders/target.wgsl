// The paired "photoreal" target: a deferred pass over the supersampled G-buffer that adds what
// real-time engines skip: many-sample AO, PCSS soft shadows, sky light and sky reflections,
// procedural material detail (brick, asphalt cracks, tiles, grime, roughness variation with GGX
// specular), weather (wet, fog, snow, night lights, golden hour) and atmospheric haze.
// Output is linear HDR; bloom, lens effects, tone mapping and grain follow on the CPU (post.rs).

@group(0) @binding(0) var<uniform> g: Globals;
@group(0) @binding(1) var pos_depth: texture_2d<f32>;
@group(0) @binding(2) var normal_mat: texture_2d<f32>;
@group(0) @binding(3) var albedo_param: texture_2d<f32>;
@group(0) @binding(4) var ao_tex: texture_2d<f32>;
@group(0) @binding(5) var shadow_map: texture_depth_2d;

struct Lights {
    // Per light: [position.xyz, radius], [linear color * intensity, 0].
    l: array<vec4<f32>, 64>,
};
@group(0) @binding(6) var<uniform> lights: Lights;

struct Surf {
    albedo: vec3<f32>,
    rough: f32,
    f0: f32,
    emissive: vec3<f32>,
    n: vec3<f32>,
    porosity: f32, // how much rain darkens it
};

fn saturate(x: f32) -> f32 {
    return clamp(x, 0.0, 1.0);
}

fn luma(c: vec3<f32>) -> f32 {
    return dot(c, vec3<f32>(0.2126, 0.7152, 0.0722));
}

// ---- sky ----

fn sky_color(dir: vec3<f32>, with_sun: bool) -> vec3<f32> {
    let d = normalize(dir);
    let up = max(d.y, 0.0);
    var col = mix(g.sky_horizon.rgb, g.sky_zenith.rgb, pow(up, 0.45));
    let sun = g.sun_dir.xyz;
    let cs = max(dot(d, sun), 0.0);
    // Forward scattering glow around the sun (strong at golden hour, when the sun is low).
    col = col + g.sun_color.rgb * (0.06 * pow(cs, 6.0) + 0.12 * pow(cs, 48.0)) * (1.0 - g.params.w * 0.7);
    // Clouds: fbm on a plane above the camera.
    if (d.y > 0.0) {
        let uv = d.xz / (d.y + 0.08) * 1.6 + vec2<f32>(g.cam_pos.w * 0.01, 0.0);
        let c = fbm(vec3<f32>(uv, 0.5), 5);
        let cover = smoothstep(0.62 - g.params.w * 0.45, 0.9 - g.params.w * 0.3, c);
        let lit = g.sky_horizon.rgb * 0.9 + g.sun_color.rgb * 0.25 * (0.5 + 0.5 * cs);
        let shade = mix(lit, lit * 0.55, saturate((c - 0.6) * 2.0));
        col = mix(col, shade, cover * smoothstep(0.0, 0.12, d.y) * 0.9);
    } else {
        col = mix(g.sky_horizon.rgb, g.fog_color.rgb * 0.6, saturate(-d.y * 4.0));
    }
    if (with_sun) {
        col = col + g.sun_color.rgb * 40.0 * g.params3.y * smoothstep(0.99985, 0.99995, cs);
    }
    if (g.params.x > 0.5 && d.y > 0.02) {
        // Stars, sparse and faint.
        let cell = vec3<i32>(floor(d * 300.0));
        let h = hash3i(cell);
        if (h > 0.9985) {
            col = col + vec3<f32>(0.25, 0.27, 0.3) * (h - 0.9985) / 0.0015 * (1.0 - g.params.w);
        }
    }
    return col;
}

// ---- lighting helpers ----

fn ggx(n: vec3<f32>, v: vec3<f32>, l: vec3<f32>, rough: f32, f0: f32) -> f32 {
    let h = normalize(v + l);
    let ndh = max(dot(n, h), 0.0);
    let ndv = max(dot(n, v), 1e-3);
    let ndl = max(dot(n, l), 1e-3);
    let vdh = max(dot(v, h), 0.0);
    let a = max(rough * rough, 0.002);
    let a2 = a * a;
    let dd = ndh * ndh * (a2 - 1.0) + 1.0;
    let d = a2 / (PI * dd * dd);
    let k = a * 0.5;
    let gg = ndl / (ndl * (1.0 - k) + k) * ndv / (ndv * (1.0 - k) + k);
    let f = f0 + (1.0 - f0) * pow(1.0 - vdh, 5.0);
    return min(d * gg * f / (4.0 * ndl * ndv), 60.0);
}

fn fresnel(f0: f32, ndv: f32, rough: f32) -> f32 {
    return f0 + (max(1.0 - rough, f0) - f0) * pow(1.0 - saturate(ndv), 5.0);
}

fn vogel(i: i32, n: i32, rot: f32) -> vec2<f32> {
    let r = sqrt((f32(i) + 0.5) / f32(n));
    let t = f32(i) * 2.39996323 + rot;
    return vec2<f32>(cos(t), sin(t)) * r;
}

// PCSS: blocker search, penumbra from the light's angular size, then a 24-tap PCF.
fn soft_shadow(p: vec3<f32>, n: vec3<f32>, rot: f32) -> f32 {
    let coord = shadow_coord(g, shadow_world(g, p, n));
    let texel_m = 2.0 * g.params2.y / g.sun_color.w;
    let tan_a = tan(g.sun_dir.w);
    let bias = 0.06 / SHADOW_DEPTH_RANGE;
    let search = clamp(tan_a * 12.0 / texel_m, 2.0, 24.0);
    var blockers = 0.0;
    var sum = 0.0;
    let size = i32(textureDimensions(shadow_map).x);
    for (var i = 0; i < 12; i = i + 1) {
        let t = vec2<i32>(floor(coord.xy + vogel(i, 12, rot) * search));
        if (t.x < 0 || t.y < 0 || t.x >= size || t.y >= size) {
            continue;
        }
        let d = textureLoad(shadow_map, t, 0);
        if (d < coord.z - bias) {
            blockers = blockers + 1.0;
            sum = sum + d;
        }
    }
    if (blockers < 0.5) {
        return 1.0;
    }
    let dist_m = (coord.z - sum / blockers) * SHADOW_DEPTH_RANGE;
    let radius = clamp(dist_m * tan_a / texel_m, 0.75, 20.0);
    var lit = 0.0;
    for (var i = 0; i < 24; i = i + 1) {
        lit = lit + shadow_tap(shadow_map, coord, vogel(i, 24, rot + 1.3) * radius, bias * (1.0 + radius * 0.25));
    }
    return lit / 24.0;
}

// AO from ao.wgsl, box-filtered over its 4x4 rotation tile with depth-aware weights.
fn blurred_ao(px: vec2<i32>, depth: f32) -> f32 {
    var s = 0.0;
    var w = 0.0;
    let dims = vec2<i32>(textureDimensions(ao_tex));
    for (var y = -2; y < 2; y = y + 1) {
        for (var x = -2; x < 2; x = x + 1) {
            let q = clamp(px + vec2<i32>(x, y), vec2<i32>(0), dims - 1);
            let dq = textureLoad(pos_depth, q, 0).w;
            let wq = select(0.0, 1.0, abs(dq - depth) < 0.04 * depth + 0.05);
            s = s + textureLoad(ao_tex, q, 0).r * wq;
            w = w + wq;
        }
    }
    return select(1.0, s / w, w > 0.0);
}

// ---- materials ----

// Pixel footprint on the surface (metres), set per pixel in fs_target. Detail finer than about two
// output pixels is faded out (like mip-mapping a texture): no aliasing, and the PNGs stay small.
var<private> FP: f32 = 0.01;

fn band(freq: f32) -> f32 {
    return saturate(1.6 - 3.0 * FP * freq);
}

fn vnoise_aa(q: vec3<f32>, freq: f32) -> f32 {
    return mix(0.5, vnoise(q), band(freq));
}

// fbm of `q` (already scaled) whose first octave has `freq` cycles per metre.
fn fbm_aa(q_in: vec3<f32>, freq: f32, octaves: i32) -> f32 {
    var s = 0.0;
    var a = 0.5;
    var norm = 0.0;
    var q = q_in;
    var f = freq;
    for (var o = 0; o < octaves; o = o + 1) {
        s = s + a * mix(0.5, vnoise(q), band(f));
        norm = norm + a;
        q = q * 2.03 + vec3<f32>(17.1, 3.7, 9.2);
        f = f * 2.03;
        a = a * 0.5;
    }
    return s / norm;
}

// Bump the normal with the gradient of a noise field (finite differences).
fn bump(n: vec3<f32>, p: vec3<f32>, freq: f32, strength_in: f32) -> vec3<f32> {
    let strength = strength_in * band(freq);
    if (strength <= 0.0) {
        return n;
    }
    let e = 0.37 / freq;
    let h0 = vnoise(p * freq);
    let gx = vnoise((p + vec3<f32>(e, 0.0, 0.0)) * freq) - h0;
    let gy = vnoise((p + vec3<f32>(0.0, e, 0.0)) * freq) - h0;
    let gz = vnoise((p + vec3<f32>(0.0, 0.0, e)) * freq) - h0;
    let grad = vec3<f32>(gx, gy, gz);
    return normalize(n - (grad - n * dot(grad, n)) * strength);
}

// A line of width `w` every `period` along x, antialiased by the pixel footprint `fp`.
fn grid_line(x: f32, period: f32, w: f32, fp: f32) -> f32 {
    let d = abs(fract(x / period + 0.5) - 0.5) * period;
    let m = 1.0 - smoothstep(w * 0.5 - fp * 0.5, w * 0.5 + fp * 0.5, d);
    // Far away the line is sub-pixel: fade to its average coverage.
    return mix(m, w / period, saturate(fp / period * 2.0 - 0.3));
}

fn facade(p: vec3<f32>, n: vec3<f32>, albedo: vec3<f32>, param: f32, fp: f32) -> Surf {
    var s: Surf;
    s.n = n;
    s.emissive = vec3<f32>(0.0);
    let uv = facade_uv(p, n);
    let w = window_cell(uv);
    let bay = vec2<i32>(i32(w.y), i32(w.z));
    let bid = u32(param * 4096.0);
    if (w.x > 0.5) {
        // Glass: reflective; interiors vary per window; at night some are lit.
        let r = hash2i(bay, bid);
        s.albedo = vec3<f32>(0.03, 0.035, 0.04) * (0.6 + r);
        s.rough = 0.03 + 0.05 * hash2i(bay, bid + 7u);
        s.f0 = 0.06;
        s.porosity = 0.0;
        let f = fract(uv / vec2<f32>(3.0, 3.2));
        let curtain = smoothstep(0.0, 0.02, f.y - (0.55 + 0.3 * hash2i(bay, bid + 3u)));
        if (g.params.x > 0.5 && r > 0.45) {
            let warm = mix(vec3<f32>(1.0, 0.72, 0.42), vec3<f32>(0.85, 0.9, 1.0), hash2i(bay, bid + 5u));
            s.emissive = warm * (0.3 + 0.8 * hash2i(bay, bid + 9u)) * (1.0 - 0.6 * curtain) * (1.0 - 0.7 * w.w);
            s.rough = 0.2;
        }
        s.albedo = mix(s.albedo, vec3<f32>(0.45, 0.4, 0.35), curtain * 0.5);
        return s;
    }
    // Window frame/sill: a thin lighter border around each opening.
    let f = fract(uv / vec2<f32>(3.0, 3.2));
    let frame_x = (f.x > 0.21 && f.x < 0.79) && (f.y > 0.27 && f.y < 0.87) && w.w < 0.5;
    var base = albedo;
    if (param < 0.55) {
        // Brick: running bond, per-brick tint, antialiased mortar.
        let bh = 0.075;
        let bw = 0.24;
        let row = floor(uv.y / bh);
        let bu = uv.x / bw + row * 0.5;
        let brick = vec2<i32>(i32(floor(bu)), i32(row));
        let tint = 0.98 + 0.4 * (hash2i(brick, bid + 21u) - 0.5) * band(1.0 / bh);
        let mortar = max(grid_line(uv.y, bh, 0.012, fp), grid_line(bu * bw, bw, 0.012, fp));
        base = mix(albedo * tint * vec3<f32>(1.0, 0.97 - 0.08 * hash2i(brick, bid + 4u) * band(1.0 / bh), 0.95), vec3<f32>(0.55, 0.53, 0.5), mortar);
        s.rough = mix(0.85, 0.95, mortar);
    } else {
        // Plaster / concrete panels with seams and mottling.
        let mottle = fbm_aa(vec3<f32>(uv * 1.7, param * 50.0), 1.7, 4);
        base = albedo * (0.82 + 0.35 * mottle);
        let seam = max(grid_line(uv.y, 1.6, 0.025, fp), grid_line(uv.x, 3.0, 0.025, fp)) * 0.35;
        base = base * (1.0 - seam);
        s.rough = 0.75 + 0.2 * mottle;
    }
    if (frame_x) {
        base = mix(base, vec3<f32>(0.7, 0.7, 0.68), 0.8);
    }
    // Grime: darker near the ground, rain streaks below window sills.
    let grime = (1.0 - smoothstep(0.0, 2.2, uv.y)) * 0.35 + 0.25 * fbm_aa(vec3<f32>(uv.x * 0.8, uv.y * 0.12, param * 9.0), 0.8, 3) * smoothstep(0.45, 0.25, abs(fract(uv.x / 3.0) - 0.5));
    s.albedo = base * (1.0 - grime * 0.6);
    s.f0 = 0.03;
    s.porosity = 0.8;
    s.n = bump(n, p, 9.0, 0.25);
    return s;
}

fn road(p: vec3<f32>, n: vec3<f32>, fp: f32) -> Surf {
    var s: Surf;
    s.emissive = vec3<f32>(0.0);
    let coarse = fbm_aa(p * 0.35, 0.35, 4);
    let fine = vnoise_aa(p * 9.0, 9.0);
    var a = 0.075 * (0.75 + 0.5 * coarse) * (0.85 + 0.3 * fine);
    // Cracks: thin ridges of a noise field, fading with distance.
    let c = abs(fbm_aa(p * 0.6 + vec3<f32>(3.0, 0.0, 7.0), 0.6, 4) - 0.5);
    let crack = (1.0 - smoothstep(0.004, 0.012 + fp * 0.1, c)) * (1.0 - saturate(fp * 8.0));
    a = a * (1.0 - 0.6 * crack);
    // Patched repairs: slightly darker, smoother rectangles.
    let repair = step(0.82, hash2i(vec2<i32>(floor(p.xz / vec2<f32>(4.0, 2.5))), 77u));
    a = a * (1.0 - 0.2 * repair);
    // Tyre tracks: darker, smoother bands along the lanes.
    let track = smoothstep(0.5, 0.0, abs(abs(p.z) - 1.9)) + smoothstep(0.5, 0.0, abs(abs(p.z) - 3.3));
    a = a * (1.0 - 0.12 * track);
    s.albedo = vec3<f32>(a, a, a * 1.05);
    s.rough = 0.9 - 0.25 * track - 0.2 * repair + 0.1 * fine;
    s.f0 = 0.04;
    s.porosity = 1.0;
    s.n = bump(n, p, 14.0, 0.35);
    return s;
}

fn sidewalk(p: vec3<f32>, n: vec3<f32>, albedo: vec3<f32>, fp: f32) -> Surf {
    var s: Surf;
    s.emissive = vec3<f32>(0.0);
    let tile = vec2<i32>(floor(p.xz / 1.0));
    let joint = max(grid_line(p.x, 1.0, 0.02, fp), grid_line(p.z, 1.0, 0.02, fp));
    let tint = 0.85 + 0.25 * hash2i(tile, 31u);
    let dirt = fbm_aa(p * 0.8, 0.8, 4);
    s.albedo = albedo * tint * (0.8 + 0.35 * dirt) * (1.0 - 0.45 * joint);
    s.rough = 0.8 + 0.15 * dirt;
    s.f0 = 0.035;
    s.porosity = 0.8;
    s.n = bump(n, p, 20.0, 0.15);
    return s;
}

fn natural(p: vec3<f32>, n: vec3<f32>, albedo: vec3<f32>, m: i32) -> Surf {
    var s: Surf;
    s.emissive = vec3<f32>(0.0);
    s.f0 = 0.03;
    s.porosity = 0.7;
    s.n = n;
    if (m == M_TERRAIN || m == M_GROUND) {
        let macro_v = fbm(p * 0.05, 4);
        let detail = fbm_aa(p * 1.3, 1.3, 4);
        let dry = vec3<f32>(0.33, 0.3, 0.16);
        var a = mix(albedo, albedo * vec3<f32>(1.1, 1.0, 0.7) + dry * 0.15, smoothstep(0.5, 0.8, macro_v));
        a = a * (0.7 + 0.55 * detail);
        // Dirt patches on flat ground.
        let dirt = smoothstep(0.62, 0.7, fbm(p * 0.12 + vec3<f32>(5.0), 3)) * n.y;
        a = mix(a, vec3<f32>(0.22, 0.17, 0.12) * (0.8 + 0.4 * detail), dirt * 0.8);
        s.albedo = a;
        s.rough = 0.9;
        s.n = bump(n, p, 3.0, 0.35);
    } else if (m == M_ROCK || m == M_MOUNTAIN) {
        let strata = vnoise_aa(vec3<f32>(p.x * 0.2, p.y * 3.0, p.z * 0.2), 3.0);
        let df = select(1.5, 0.08, m == M_MOUNTAIN);
        let detail = fbm_aa(p * df, df, 5);
        s.albedo = albedo * (0.65 + 0.5 * detail) * (0.85 + 0.3 * strata);
        s.rough = 0.75 + 0.2 * detail;
        s.n = bump(n, p, select(2.0, 0.05, m == M_MOUNTAIN), 0.6);
        if (m == M_MOUNTAIN) {
            // Permanent snow caps on the high peaks.
            let cap = smoothstep(150.0, 190.0, p.y + 40.0 * detail) * smoothstep(0.2, 0.6, n.y + 0.3);
            s.albedo = mix(s.albedo, vec3<f32>(0.85, 0.87, 0.9), cap);
        }
    } else if (m == M_FOLIAGE) {
        let leaf = vnoise_aa(p * 5.0, 5.0);
        let clump = fbm_aa(p * 0.9, 0.9, 3);
        s.albedo = albedo * (0.55 + 0.7 * leaf) * (0.75 + 0.5 * clump);
        s.rough = 0.85;
        s.n = bump(n, p, 4.0, 0.9);
    } else {
        // Wood: grain stretched along y.
        let grain = vnoise_aa(vec3<f32>(p.x * 30.0, p.y * 2.0, p.z * 30.0), 30.0);
        s.albedo = albedo * (0.75 + 0.4 * grain);
        s.rough = 0.8;
    }
    return s;
}

fn material(p: vec3<f32>, n: vec3<f32>, albedo: vec3<f32>, m: i32, param: f32, fp: f32) -> Surf {
    if (m == M_FACADE && abs(n.y) < 0.5) {
        return facade(p, n, albedo, param, fp);
    }
    if (m == M_ROAD) {
        return road(p, n, fp);
    }
    if (m == M_SIDEWALK) {
        return sidewalk(p, n, albedo, fp);
    }
    if (m == M_TERRAIN || m == M_GROUND || m == M_ROCK || m == M_MOUNTAIN || m == M_FOLIAGE || m == M_WOOD) {
        return natural(p, n, albedo, m);
    }
    var s: Surf;
    s.albedo = albedo;
    s.n = n;
    s.rough = 0.6;
    s.f0 = 0.04;
    s.porosity = 0.3;
    s.emissive = vec3<f32>(0.0);
    if (m == M_MARKING) {
        let worn = smoothstep(0.35, 0.65, fbm_aa(p * 2.0, 2.0, 4));
        s.albedo = mix(albedo, vec3<f32>(0.08), worn * 0.6);
        s.rough = 0.7;
        s.porosity = 0.6;
    } else if (m == M_ROOF || m == M_FACADE) {
        s.albedo = albedo * (0.7 + 0.5 * fbm_aa(p * 1.5, 1.5, 4));
        s.rough = 0.9;
        s.porosity = 0.9;
    } else if (m == M_CAR) {
        s.rough = 0.18;
        s.f0 = 0.05;
        s.porosity = 0.0;
    } else if (m == M_GLASS) {
        s.albedo = vec3<f32>(0.02);
        s.rough = 0.05;
        s.f0 = 0.06;
        s.porosity = 0.0;
    } else if (m == M_METAL) {
        s.rough = 0.35 + 0.3 * vnoise_aa(p * 6.0, 6.0);
        s.f0 = 0.5;
        s.porosity = 0.0;
    } else if (m == M_LAMP) {
        s.rough = 0.3;
        if (g.params.x > 0.5) {
            s.emissive = vec3<f32>(9.0, 6.8, 4.2);
        }
    } else if (m == M_CLOTH) {
        s.albedo = albedo * (0.8 + 0.3 * vnoise_aa(p * 25.0, 25.0));
        s.rough = 0.9;
    } else if (m == M_SKIN) {
        s.rough = 0.55;
    } else if (m == M_TIRE) {
        s.rough = 0.8;
    } else if (m == M_WATER) {
        s.albedo = vec3<f32>(0.015, 0.03, 0.035);
        s.rough = 0.04;
        s.f0 = 0.02;
        s.porosity = 0.0;
        // Ripples: a wide bump plus a small one, moving with time.
        let t = g.cam_pos.w;
        s.n = bump(n, p + vec3<f32>(t * 0.4, 0.0, t * 0.25), 0.9, 0.25);
        s.n = bump(s.n, p - vec3<f32>(t * 0.2, 0.0, -t * 0.3), 3.5, 0.12);
    }
    return s;
}

// Rain makes porous surfaces darker and glossy and leaves mirror-like puddles on flat ground.
fn apply_wet(s_in: Surf, p: vec3<f32>, n_geo: vec3<f32>, m: i32) -> Surf {
    var s = s_in;
    let wet = g.fog_color.w;
    if (wet <= 0.0 || m == M_WATER) {
        return s;
    }
    s.albedo = s.albedo * mix(1.0, 0.45, wet * s.porosity);
    // Hard surfaces get a water film; grass and leaves only get a little glossier.
    let natural = m == M_TERRAIN || m == M_GROUND || m == M_FOLIAGE || m == M_ROCK || m == M_MOUNTAIN || m == M_WOOD;
    s.rough = mix(s.rough, select(0.12, 0.5, natural), wet * 0.85);
    s.f0 = max(s.f0, 0.02 + 0.03 * wet);
    if (n_geo.y > 0.9 && (m == M_ROAD || m == M_SIDEWALK || m == M_MARKING)) {
        let puddle = smoothstep(0.52, 0.6, fbm_aa(p * 0.25 + vec3<f32>(1.0, 0.0, 2.0), 0.25, 4)) * wet;
        s.albedo = mix(s.albedo, s.albedo * 0.4, puddle);
        s.rough = mix(s.rough, 0.02, puddle);
        s.n = normalize(mix(s.n, n_geo, puddle));
        s.f0 = mix(s.f0, 0.02, puddle);
    }
    return s;
}

// Snow settles on up-facing surfaces, patchy at the edges; roads get grey slush.
fn apply_snow(s_in: Surf, p: vec3<f32>, n_geo: vec3<f32>, m: i32) -> Surf {
    var s = s_in;
    let snow = g.ambient.w;
    if (snow <= 0.0 || m == M_WATER || m == M_GLASS || m == M_LAMP || m == M_SKIN || m == M_CLOTH) {
        return s;
    }
    let noise = fbm_aa(p * 1.1, 1.1, 4);
    var cover = smoothstep(0.35, 0.75, n_geo.y + (noise - 0.5) * 0.5) * snow;
    var white = vec3<f32>(0.88, 0.9, 0.95) * (0.9 + 0.15 * vnoise_aa(p * 12.0, 12.0));
    if (m == M_ROAD) {
        // Packed snow with darker slush in the tyre tracks.
        let track = smoothstep(0.6, 0.95, abs(sin(p.z * PI / 1.6))) * smoothstep(0.35, 0.6, fbm_aa(p * vec3<f32>(0.08, 0.0, 0.6), 0.6, 3));
        cover = snow * (0.95 - 0.6 * track) * smoothstep(0.15, 0.45, noise + 0.2);
        white = mix(vec3<f32>(0.78, 0.8, 0.84), vec3<f32>(0.32, 0.32, 0.34), track * 0.8);
    }
    if (m == M_CAR) {
        cover = cover * 0.8;
    }
    s.albedo = mix(s.albedo, white, cover);
    s.rough = mix(s.rough, 0.65, cover);
    s.f0 = mix(s.f0, 0.03, cover);
    s.n = normalize(mix(s.n, n_geo, cover * 0.7));
    return s;
}

fn point_lights(p: vec3<f32>, n: vec3<f32>, v: vec3<f32>, s: Surf) -> vec3<f32> {
    var sum = vec3<f32>(0.0);
    let count = i32(g.params.z);
    for (var i = 0; i < count; i = i + 1) {
        let lp = lights.l[2 * i];
        let lc = lights.l[2 * i + 1].rgb;
        let d = lp.xyz - p;
        let d2 = dot(d, d);
        if (d2 > lp.w * lp.w) {
            continue;
        }
        let l = d * inverseSqrt(d2);
        let ndl = max(dot(n, l), 0.0);
        let fall = saturate(1.0 - d2 / (lp.w * lp.w));
        let e = lc * fall * fall / (d2 + 1.0);
        // A soft downward cone: street lamps light the ground more than the facades.
        let cone = mix(0.35, 1.0, saturate(-l.y * 1.5));
        sum = sum + e * cone * ndl * (s.albedo + vec3<f32>(ggx(n, v, l, s.rough, s.f0)));
    }
    return sum;
}

// Screen-space falling rain streaks and snow flakes (deterministic per frame time).
fn precipitation(px: vec2<f32>) -> vec4<f32> {
    let t = g.cam_pos.w;
    let scale = g.viewport.y / 288.0;
    var add = vec3<f32>(0.0);
    var cover = 0.0;
    if (g.params2.z > 0.0) {
        let q = vec2<f32>(px.x + px.y * 0.12, px.y) / scale;
        let col = floor(q.x / 3.0);
        let r = hash2i(vec2<i32>(i32(col), 0), 5u);
        if (r > 0.7) {
            let speed = 2.5 + 2.0 * hash2i(vec2<i32>(i32(col), 1), 5u);
            let y = fract(q.y / 180.0 - t * speed + r * 13.0);
            let streak = smoothstep(0.0, 0.02, y) * (1.0 - smoothstep(0.02, 0.2, y)) * (1.0 - abs(fract(q.x / 3.0) - 0.5) * 2.0);
            cover = streak * 0.25 * g.params2.z;
            add = vec3<f32>(0.5, 0.55, 0.6) * cover;
        }
    }
    if (g.params2.w > 0.0) {
        for (var li = 0; li < 2; li = li + 1) {
            let cell_px = (18.0 - f32(li) * 8.0) * scale;
            let fall = t * (40.0 - f32(li) * 15.0) * scale;
            let q = vec2<f32>(px.x + sin(t * 1.3 + px.y * 0.01) * 4.0 * scale, px.y - fall);
            let cell = floor(q / cell_px);
            let cid = vec2<i32>(cell);
            let h = hash2i(cid, 40u + u32(li));
            if (h > 0.45) {
                let c = (cell + vec2<f32>(hash2i(cid, 50u), hash2i(cid, 60u))) * cell_px;
                let rad = (1.0 + 1.4 * hash2i(cid, 70u)) * scale * (1.0 - f32(li) * 0.35);
                let f = (1.0 - smoothstep(rad * 0.4, rad, length(q - c))) * 0.85 * g.params2.w;
                cover = max(cover, f);
            }
        }
    }
    return vec4<f32>(add, cover);
}

@fragment
fn fs_target(@builtin(position) frag: vec4<f32>) -> @location(0) vec4<f32> {
    let px = vec2<i32>(frag.xy);
    let pd = textureLoad(pos_depth, px, 0);
    let view_dir = pixel_ray(g, frag.xy);
    var color: vec3<f32>;
    var dist = 1e5;
    if (pd.w <= 0.0) {
        color = sky_color(view_dir, true);
    } else {
        let nm = textureLoad(normal_mat, px, 0);
        let ap = textureLoad(albedo_param, px, 0);
        let p = pd.xyz;
        let n_geo = nm.xyz;
        let m = i32(nm.w + 0.5);
        let v = -view_dir;
        dist = length(p - g.cam_pos.xyz);
        // Pixel footprint in metres on the surface (for antialiasing the procedural detail).
        let fp = dist * g.params3.x / max(abs(dot(n_geo, v)), 0.25);
        FP = fp;
        var s = material(p, n_geo, ap.rgb, m, ap.w, fp);
        s = apply_wet(s, p, n_geo, m);
        s = apply_snow(s, p, n_geo, m);
        let n = s.n;
        let rot = hash2i(px % vec2<i32>(4, 4), 3u) * 2.0 * PI;
        let ao = blurred_ao(px, pd.w);
        let l = g.sun_dir.xyz;
        let ndl = max(dot(n, l), 0.0) * smoothstep(-0.02, 0.1, dot(n_geo, l));
        var vis = 0.0;
        if (ndl > 0.0) {
            vis = soft_shadow(p, n_geo, rot);
        }
        let ndv = max(dot(n, v), 1e-3);
        // Sky light: hemisphere between sky and a ground bounce, occluded by AO.
        let sky_up = g.ambient.rgb;
        let ground = g.ambient.rgb * vec3<f32>(0.55, 0.5, 0.45) * 0.6 + g.sun_color.rgb * 0.04 * max(l.y, 0.0);
        let hemi = mix(ground, sky_up, n.y * 0.5 + 0.5);
        let diffuse = s.albedo * (hemi * ao + g.sun_color.rgb * ndl * vis);
        let spec_sun = g.sun_color.rgb * ggx(n, v, l, s.rough, s.f0) * ndl * vis;
        // Sky reflection for smooth surfaces (wet ground, glass, water, paint).
        let r = reflect(-v, n);
        let fr = fresnel(s.f0, ndv, s.rough);
        let gloss = (1.0 - s.rough) * (1.0 - s.rough);
        let env = sky_color(vec3<f32>(r.x, abs(r.y), r.z), false) * fr * gloss * mix(ao, 1.0, 0.5);
        color = diffuse * (1.0 - fr * gloss) + spec_sun + env + s.emissive;
        color = color + point_lights(p, n, v, s);
    }
    // Depth-based exponential fog plus faint haze, lit towards the sun.
    var fog_amount = 1.0 - exp(-(g.sky_horizon.w + g.params3.z) * dist);
    if (pd.w <= 0.0) {
        // The sky only takes the weather's fog (haze is already in its gradient), thicker low down.
        fog_amount = (1.0 - exp(-g.sky_horizon.w * 600.0)) * (1.0 - 0.5 * saturate(view_dir.y));
    }
    let sun_glow = pow(max(dot(view_dir, g.sun_dir.xyz), 0.0), 8.0);
    let fog_col = g.fog_color.rgb + g.sun_color.rgb * 0.12 * sun_glow;
    color = mix(color, fog_col, fog_amount);
    let pr = precipitation(frag.xy);
    color = mix(color + pr.rgb, mix(g.fog_color.rgb * 1.6 + vec3<f32>(0.35), vec3<f32>(1.1), 0.5), select(0.0, pr.w, g.params2.w > 0.0));
    return vec4<f32>(max(color, vec3<f32>(0.0)), 1.0);
}
