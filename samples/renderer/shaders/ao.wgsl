// Ambient occlusion for the targets: 24 samples in the normal-oriented hemisphere (1.2 m radius),
// projected into the G-buffer and compared with the stored depth. The per-pixel rotation is
// blurred away in target.wgsl. Real-time engines skip this (or use far fewer samples).

@group(0) @binding(0) var<uniform> g: Globals;
@group(0) @binding(1) var pos_depth: texture_2d<f32>;
@group(0) @binding(2) var normal_mat: texture_2d<f32>;

const AO_SAMPLES: i32 = 24;
const AO_RADIUS: f32 = 1.2;

@fragment
fn fs_ao(@builtin(position) frag: vec4<f32>) -> @location(0) vec4<f32> {
    let px = vec2<i32>(frag.xy);
    let pd = textureLoad(pos_depth, px, 0);
    let nm = textureLoad(normal_mat, px, 0);
    if (pd.w <= 0.0) {
        return vec4<f32>(1.0);
    }
    let p = pd.xyz;
    let n = nm.xyz;
    // Tangent frame with a per-pixel random rotation (interleaved over a 4x4 tile).
    let rot = hash2i(px % vec2<i32>(4, 4), 11u) * 2.0 * PI;
    var t = normalize(cross(n, select(vec3<f32>(0.0, 1.0, 0.0), vec3<f32>(1.0, 0.0, 0.0), abs(n.y) > 0.9)));
    let b0 = cross(n, t);
    let tt = t * cos(rot) + b0 * sin(rot);
    let bb = cross(n, tt);
    var occlusion = 0.0;
    let size = g.viewport.xy;
    for (var i = 0; i < AO_SAMPLES; i = i + 1) {
        // Fixed, well-spread hemisphere directions; samples cluster near the surface.
        let u = (f32(i) + 0.5) / f32(AO_SAMPLES);
        let phi = f32(i) * 2.39996323;
        let cos_t = sqrt(1.0 - u);
        let sin_t = sqrt(u);
        let dir = tt * (cos(phi) * sin_t) + bb * (sin(phi) * sin_t) + n * cos_t;
        let scale = mix(0.15, 1.0, fract(f32(i) * 0.618034 + 0.31));
        let s = p + n * 0.03 + dir * (AO_RADIUS * scale * scale);
        let clip = g.view_proj * vec4<f32>(s, 1.0);
        if (clip.w <= 0.05) {
            continue;
        }
        let spx = clip_to_pixel(clip, size);
        if (spx.x < 0.0 || spx.y < 0.0 || spx.x >= size.x || spx.y >= size.y) {
            continue;
        }
        let scene = textureLoad(pos_depth, vec2<i32>(spx), 0).w;
        if (scene <= 0.0) {
            continue;
        }
        let diff = clip.w - scene;
        // Occluded if the stored surface is in front of the sample, but not by much (range check).
        if (diff > 0.02) {
            occlusion = occlusion + smoothstep(0.0, 1.0, AO_RADIUS * 1.5 / max(diff, 1e-3) - 0.5);
        }
    }
    let ao = 1.0 - occlusion / f32(AO_SAMPLES);
    return vec4<f32>(ao, ao, ao, 1.0);
}
