// Import: a host engine's own textures -> the full-resolution linear images every later pass reads
// (the images decode.wgsl fills from CPU planes), on the host's GPU. One thread per pixel.
// CPU reference: `reference::import` in gpu/host/mod.rs (the tests compare the two).
//
// Entry points (bindings used):
//   import_color            (0, 1, 2): colour texture -> linear RGBA
//   import_vec              (0, 1, 2): normals or motion texture -> vec4 in docs/formats.md conventions
//   import_depth            (0, 1, 3): R32Float depth texture -> view-axis distance
//   import_depth_attachment (0, 4, 3): Depth32Float depth attachment -> view-axis distance

struct Params {
    width: u32,
    height: u32,
    // import_color: 1 when the texels are sRGB-encoded values in a plain unorm texture, 0 when
    // textureLoad returns linear values already (float formats, *Srgb formats).
    // import_vec: channels kept, 2 (motion) or 3 (normals).
    mode: u32,
    // import_vec: 1 when the texels are unorm-encoded (v * 0.5 + 0.5) and are mapped back to [-1, 1].
    unorm_encoded: u32,
    // import_vec: out.xyz = m0 * v.x + m1 * v.y + m2 * v.z (a 3x3 matrix by columns).
    m0: vec4<f32>,
    m1: vec4<f32>,
    m2: vec4<f32>,
    // import_depth*: 0 = the texel is the view-axis distance, 1 = reverse Z with an infinite far
    // plane (texel = near / distance, 0 = background).
    depth_mode: u32,
    near: f32,
    // The farthest depth kept (frame::MAX_DEPTH); background and bad values become this.
    max_depth: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var src: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst1: array<f32>;
@group(0) @binding(4) var src_depth: texture_depth_2d;

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        return c / 12.92;
    }
    return pow((c + 0.055) / 1.055, 2.4);
}

fn finite(v: f32) -> bool {
    // NaN fails both comparisons; infinities fail the bound.
    return abs(v) <= 3.0e38;
}

@compute @workgroup_size(8, 8, 1)
fn import_color(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    var c = textureLoad(src, vec2<i32>(gid.xy), 0);
    if params.mode == 1u {
        c = vec4<f32>(srgb_to_linear(c.x), srgb_to_linear(c.y), srgb_to_linear(c.z), c.w);
    }
    dst4[gid.y * params.width + gid.x] = c;
}

@compute @workgroup_size(8, 8, 1)
fn import_vec(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    var v = textureLoad(src, vec2<i32>(gid.xy), 0).xyz;
    if params.unorm_encoded == 1u {
        v = v * 2.0 - 1.0;
    }
    if params.mode < 3u {
        v.z = 0.0;
    }
    var o = params.m0.xyz * v.x + params.m1.xyz * v.y + params.m2.xyz * v.z;
    // A non-finite component makes the vector unknown (zero), as the CPU path's sanitising does.
    if !(finite(o.x) && finite(o.y) && finite(o.z)) {
        o = vec3<f32>(0.0);
    }
    dst4[gid.y * params.width + gid.x] = vec4<f32>(o, 0.0);
}

fn to_distance(t: f32) -> f32 {
    var z = t;
    if params.depth_mode == 1u {
        if t > 0.0 {
            z = params.near / t;
        } else {
            z = params.max_depth;
        }
    }
    if !finite(z) || abs(z) > params.max_depth {
        z = params.max_depth;
    }
    return z;
}

@compute @workgroup_size(8, 8, 1)
fn import_depth(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    dst1[gid.y * params.width + gid.x] = to_distance(textureLoad(src, vec2<i32>(gid.xy), 0).x);
}

@compute @workgroup_size(8, 8, 1)
fn import_depth_attachment(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    dst1[gid.y * params.width + gid.x] = to_distance(textureLoad(src_depth, vec2<i32>(gid.xy), 0));
}
