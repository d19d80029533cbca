// G-buffer pass: rasterises the scene once per frame (and once more at the supersampled size for
// the targets). Every vertex carries its position one frame earlier, so motion vectors cover
// camera and object motion alike.

@group(0) @binding(0) var<uniform> g: Globals;

struct VIn {
    @location(0) pos: vec3<f32>,
    @location(1) prev: vec3<f32>,
    @location(2) normal: vec3<f32>,
    @location(3) albedo: vec3<f32>,
    @location(4) mat: vec2<f32>,
};

struct VOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) albedo: vec3<f32>,
    @location(3) @interpolate(flat) mat: vec2<f32>,
    @location(4) cur_clip: vec4<f32>,
    @location(5) prev_clip: vec4<f32>,
};

@vertex
fn vs_gbuffer(v: VIn) -> VOut {
    var o: VOut;
    o.clip = g.view_proj * vec4<f32>(v.pos, 1.0);
    o.cur_clip = o.clip;
    o.prev_clip = g.prev_view_proj * vec4<f32>(v.prev, 1.0);
    o.world = v.pos;
    o.normal = v.normal;
    o.albedo = v.albedo;
    o.mat = v.mat;
    return o;
}

struct GOut {
    @location(0) pos_depth: vec4<f32>,   // world xyz, view depth (m, positive)
    @location(1) normal_mat: vec4<f32>,  // world unit normal, material id
    @location(2) albedo_param: vec4<f32>,// linear albedo, per-object random
    @location(3) motion: vec4<f32>,      // pixels to the previous frame; w = 1 where geometry
};

@fragment
fn fs_gbuffer(v: VOut, @builtin(front_facing) front: bool) -> GOut {
    var o: GOut;
    // Perspective: clip.w is the distance along the camera axis.
    o.pos_depth = vec4<f32>(v.world, v.cur_clip.w);
    var n = normalize(v.normal);
    if (!front) {
        n = -n;
    }
    o.normal_mat = vec4<f32>(n, v.mat.x);
    o.albedo_param = vec4<f32>(v.albedo, v.mat.y);
    let cur = clip_to_pixel(v.cur_clip, g.viewport.xy);
    let prev = clip_to_pixel(v.prev_clip, g.viewport.xy);
    o.motion = vec4<f32>(prev - cur, 0.0, 1.0);
    return o;
}
