// Shadow map: depth only, rendered from the light with an orthographic projection.

@group(0) @binding(0) var<uniform> g: Globals;

@vertex
fn vs_shadow(@location(0) pos: vec3<f32>) -> @builtin(position) vec4<f32> {
    return g.light_view_proj * vec4<f32>(pos, 1.0);
}
