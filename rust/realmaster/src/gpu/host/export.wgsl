// Export: final = input + s * residual (as blend.wgsl), written to the host's storage texture.
// OUTPUT_FORMAT is replaced by the texture's format when the kernel is made (one pipeline per
// format). rgba8unorm receives sRGB-encoded rgb (the host views it as sRGB); float formats receive
// linear values. `export_passthrough` writes the host's colour texture unchanged in the same
// encoding, for frames that show the untouched input.
// CPU reference: `reference::export` in gpu/host/mod.rs.

struct Params {
    width: u32,
    height: u32,
    // 1: encode rgb to sRGB before storing (rgba8unorm output).
    srgb_out: u32,
    // export_passthrough: 1 when the colour texels are sRGB-encoded values (plain unorm input).
    srgb_in: u32,
    strength: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> residual: array<vec4<f32>>;
@group(0) @binding(3) var dst: texture_storage_2d<OUTPUT_FORMAT, write>;
@group(0) @binding(4) var src: texture_2d<f32>;

fn linear_to_srgb(c: f32) -> f32 {
    let v = max(c, 0.0);
    if v <= 0.0031308 {
        return v * 12.92;
    }
    return 1.055 * pow(v, 1.0 / 2.4) - 0.055;
}

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        return c / 12.92;
    }
    return pow((c + 0.055) / 1.055, 2.4);
}

fn store(p: vec2<u32>, c: vec4<f32>) {
    var o = c;
    if params.srgb_out == 1u {
        o = vec4<f32>(linear_to_srgb(c.x), linear_to_srgb(c.y), linear_to_srgb(c.z), c.w);
    }
    textureStore(dst, vec2<i32>(p), o);
}

@compute @workgroup_size(8, 8, 1)
fn export_blend(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    let src_c = input[i];
    let s = params.strength;
    var rgb = src_c.xyz;
    if s >= 1.0 {
        rgb = src_c.xyz + residual[i].xyz;
    } else if s > 0.0 {
        rgb = src_c.xyz + residual[i].xyz * s;
    }
    store(gid.xy, vec4<f32>(rgb, src_c.w));
}

@compute @workgroup_size(8, 8, 1)
fn export_passthrough(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    var c = textureLoad(src, vec2<i32>(gid.xy), 0);
    if params.srgb_in == 1u && params.srgb_out == 0u {
        c = vec4<f32>(srgb_to_linear(c.x), srgb_to_linear(c.y), srgb_to_linear(c.z), c.w);
    }
    if params.srgb_in == 1u && params.srgb_out == 1u {
        // Already encoded: store the texels as they are.
        textureStore(dst, vec2<i32>(gid.xy), c);
        return;
    }
    store(gid.xy, c);
}
