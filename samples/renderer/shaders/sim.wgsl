// The "sim" frame, drawn the way a plain real-time engine would: flat albedo, one directional
// light with Lambert and a single-tap hard shadow, a constant ambient term, a flat sky gradient.
// Output is linear; the CPU writes it through an sRGB encode like a back buffer would.

@group(0) @binding(0) var<uniform> g: Globals;
@group(0) @binding(1) var pos_depth: texture_2d<f32>;
@group(0) @binding(2) var normal_mat: texture_2d<f32>;
@group(0) @binding(3) var albedo_param: texture_2d<f32>;
@group(0) @binding(4) var shadow_map: texture_depth_2d;

fn sim_sky(dir: vec3<f32>) -> vec3<f32> {
    return mix(g.sky_horizon.rgb, g.sky_zenith.rgb, clamp(dir.y * 2.0, 0.0, 1.0));
}

@fragment
fn fs_sim(@builtin(position) frag: vec4<f32>) -> @location(0) vec4<f32> {
    let px = vec2<i32>(frag.xy);
    let pd = textureLoad(pos_depth, px, 0);
    if (pd.w <= 0.0) {
        return vec4<f32>(sim_sky(pixel_ray(g, frag.xy)), 1.0);
    }
    let nm = textureLoad(normal_mat, px, 0);
    let ap = textureLoad(albedo_param, px, 0);
    let n = nm.xyz;
    let m = i32(nm.w + 0.5);
    var albedo = ap.rgb;
    if (m == M_FACADE && abs(n.y) < 0.5) {
        let w = window_cell(facade_uv(pd.xyz, n));
        if (w.x > 0.5) {
            albedo = vec3<f32>(0.10, 0.13, 0.17);
        }
    }
    if (m == M_LAMP) {
        return vec4<f32>(albedo, 1.0);
    }
    let coord = shadow_coord(g, shadow_world(g, pd.xyz, n));
    let lit = shadow_tap(shadow_map, coord, vec2<f32>(0.0), 0.05 / SHADOW_DEPTH_RANGE);
    let ndl = max(dot(n, g.sun_dir.xyz), 0.0);
    let color = albedo * (g.ambient.rgb + g.sun_color.rgb * ndl * lit);
    return vec4<f32>(color, 1.0);
}
