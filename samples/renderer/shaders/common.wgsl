// Shared by every pass of the sample renderer (prepended to each pass's source by render.rs).
// Only types and pure functions live here: each pass declares its own bindings.

struct Globals {
    view_proj: mat4x4<f32>,
    prev_view_proj: mat4x4<f32>,
    view: mat4x4<f32>,
    inv_view_proj: mat4x4<f32>,
    light_view_proj: mat4x4<f32>,
    cam_pos: vec4<f32>,      // xyz; w: time in seconds
    viewport: vec4<f32>,     // width, height, 1/width, 1/height of the pass's render target
    sun_dir: vec4<f32>,      // unit vector towards the light; w: light angular radius (radians)
    sun_color: vec4<f32>,    // linear irradiance; w: shadow map size in texels
    sky_zenith: vec4<f32>,   // w: weather id (see weather.rs)
    sky_horizon: vec4<f32>,  // w: fog density per metre
    fog_color: vec4<f32>,    // w: wetness 0..1
    ambient: vec4<f32>,      // w: snow cover 0..1
    params: vec4<f32>,       // x: night 0/1, y: frame seed, z: point light count, w: cloudiness 0..1
    params2: vec4<f32>,      // x: scene kind (0 city, 1 landscape), y: shadow map half extent (m), z: rain streaks 0..1, w: snowfall 0..1
    params3: vec4<f32>,      // x: radians per pixel of this target, y: sun disk 0..1, z: haze density per metre, w: unused
};

// Material ids (mesh.rs `mat`).
const M_GROUND: i32 = 0;
const M_ROAD: i32 = 1;
const M_SIDEWALK: i32 = 2;
const M_FACADE: i32 = 3;
const M_ROOF: i32 = 4;
const M_CAR: i32 = 5;
const M_GLASS: i32 = 6;
const M_FOLIAGE: i32 = 7;
const M_WOOD: i32 = 8;
const M_METAL: i32 = 9;
const M_LAMP: i32 = 10;
const M_CLOTH: i32 = 11;
const M_TERRAIN: i32 = 12;
const M_ROCK: i32 = 13;
const M_WATER: i32 = 14;
const M_MOUNTAIN: i32 = 15;
const M_MARKING: i32 = 16;
const M_SKIN: i32 = 17;
const M_TIRE: i32 = 18;

const PI: f32 = 3.14159265;

struct FsOut {
    @builtin(position) pos: vec4<f32>,
};

// One triangle covering the screen; passes read their inputs with textureLoad at the pixel.
@vertex
fn vs_fullscreen(@builtin(vertex_index) i: u32) -> FsOut {
    var out: FsOut;
    let x = f32((i << 1u) & 2u);
    let y = f32(i & 2u);
    out.pos = vec4<f32>(x * 2.0 - 1.0, 1.0 - y * 2.0, 0.0, 1.0);
    return out;
}

// ---- hashing and noise (deterministic, integer based) ----

fn hash_u32(x: u32) -> u32 {
    var h = x;
    h = h ^ (h >> 16u);
    h = h * 0x7feb352du;
    h = h ^ (h >> 15u);
    h = h * 0x846ca68bu;
    h = h ^ (h >> 16u);
    return h;
}

fn hash3i(p: vec3<i32>) -> f32 {
    let h = hash_u32(bitcast<u32>(p.x) * 73856093u ^ hash_u32(bitcast<u32>(p.y) * 19349663u ^ hash_u32(bitcast<u32>(p.z) * 83492791u)));
    return f32(h >> 8u) / 16777216.0;
}

fn hash2i(p: vec2<i32>, salt: u32) -> f32 {
    return hash3i(vec3<i32>(p, i32(salt)));
}

// Value noise in 3D with a quintic fade, range [0, 1].
fn vnoise(p: vec3<f32>) -> f32 {
    let i = vec3<i32>(floor(p));
    let f = fract(p);
    let u = f * f * f * (f * (f * 6.0 - 15.0) + 10.0);
    let a = mix(hash3i(i), hash3i(i + vec3<i32>(1, 0, 0)), u.x);
    let b = mix(hash3i(i + vec3<i32>(0, 1, 0)), hash3i(i + vec3<i32>(1, 1, 0)), u.x);
    let c = mix(hash3i(i + vec3<i32>(0, 0, 1)), hash3i(i + vec3<i32>(1, 0, 1)), u.x);
    let d = mix(hash3i(i + vec3<i32>(0, 1, 1)), hash3i(i + vec3<i32>(1, 1, 1)), u.x);
    return mix(mix(a, b, u.y), mix(c, d, u.y), u.z);
}

fn fbm(p: vec3<f32>, octaves: i32) -> f32 {
    var s = 0.0;
    var a = 0.5;
    var q = p;
    for (var o = 0; o < octaves; o = o + 1) {
        s = s + a * vnoise(q);
        q = q * 2.03 + vec3<f32>(17.1, 3.7, 9.2);
        a = a * 0.5;
    }
    return s / (1.0 - 2.0 * a);
}

// ---- geometry helpers ----

// Pixel coordinates (y down) of a clip-space position.
fn clip_to_pixel(clip: vec4<f32>, vp: vec2<f32>) -> vec2<f32> {
    let ndc = clip.xy / clip.w;
    return vec2<f32>((ndc.x * 0.5 + 0.5) * vp.x, (0.5 - ndc.y * 0.5) * vp.y);
}

// World-space view ray through a pixel centre.
fn pixel_ray(g: Globals, px: vec2<f32>) -> vec3<f32> {
    let ndc = vec2<f32>(px.x * g.viewport.z * 2.0 - 1.0, 1.0 - px.y * g.viewport.w * 2.0);
    let p = g.inv_view_proj * vec4<f32>(ndc, 1.0, 1.0);
    return normalize(p.xyz / p.w - g.cam_pos.xyz);
}

// Facade coordinates (metres along the wall, height) for axis-aligned building walls.
fn facade_uv(p: vec3<f32>, n: vec3<f32>) -> vec2<f32> {
    if (abs(n.x) > 0.5) {
        return vec2<f32>(p.z, p.y);
    }
    return vec2<f32>(p.x, p.y);
}

// Window grid: 3 m bays, 3.2 m floors; returns (inside window 0/1, bay, floor, ground-floor shop 0/1).
fn window_cell(uv: vec2<f32>) -> vec4<f32> {
    let cell = floor(uv / vec2<f32>(3.0, 3.2));
    let f = fract(uv / vec2<f32>(3.0, 3.2));
    var inside = 0.0;
    var shop = 0.0;
    if (cell.y < 0.5) {
        shop = 1.0;
        if (f.x > 0.08 && f.x < 0.92 && f.y > 0.12 && f.y < 0.78) {
            inside = 1.0;
        }
    } else if (f.x > 0.24 && f.x < 0.76 && f.y > 0.3 && f.y < 0.84) {
        inside = 1.0;
    }
    return vec4<f32>(inside, cell.x, cell.y, shop);
}

// Shadow-map lookup: 1 = lit. `offset` is in texels; the map uses standard depth (near 0).
fn shadow_coord(g: Globals, world: vec3<f32>) -> vec3<f32> {
    let c = g.light_view_proj * vec4<f32>(world, 1.0);
    let uv = vec2<f32>(c.x * 0.5 + 0.5, 0.5 - c.y * 0.5);
    return vec3<f32>(uv * g.sun_color.w, c.z);
}

// Depth range of the light's orthographic projection in metres (render.rs SHADOW_DEPTH_RANGE).
const SHADOW_DEPTH_RANGE: f32 = 1500.0;

// One shadow-map comparison at texel offset `off`; 1 = lit. Outside the map counts as lit.
fn shadow_tap(sm: texture_depth_2d, coord: vec3<f32>, off: vec2<f32>, bias: f32) -> f32 {
    let size = i32(textureDimensions(sm).x);
    let t = vec2<i32>(floor(coord.xy + off));
    if (t.x < 0 || t.y < 0 || t.x >= size || t.y >= size || coord.z >= 1.0) {
        return 1.0;
    }
    let d = textureLoad(sm, t, 0);
    return select(0.0, 1.0, coord.z - bias <= d);
}

// Normal-offset world position for shadow lookups (hides acne on flat faces).
fn shadow_world(g: Globals, p: vec3<f32>, n: vec3<f32>) -> vec3<f32> {
    let texel = 2.0 * g.params2.y / g.sun_color.w;
    let ndl = clamp(dot(n, g.sun_dir.xyz), 0.0, 1.0);
    return p + n * texel * (1.0 + 1.5 * (1.0 - ndl));
}
