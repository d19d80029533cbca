// Engine-independent part of the scene light the plugin hands over with every frame
// (realmaster::SceneLight: the direction towards the sun and the world's up, in the view space of the
// normals plane):
// - which of the world's directional lights is the sun (the game thread reads the components and
//   describes each as a DirectionalLightInfo);
// - Unreal world space to the runtime's view space, with the same view rotation and the same z flip as
//   RealMasterGBufferPack.usf applies to the G-buffer normals, so the light and the normals agree.
// Compiled by the plugin and, outside Unreal, by unreal-plugin/tests (no engine headers).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <optional>

#include "realmaster/realmaster.hpp"

namespace RealMasterCore
{

using Vec3d = std::array<double, 3>;
/// A 3x3 rotation, m[row][column].
using Mat3d = std::array<Vec3d, 3>;

/// Unreal's world up (+Z).
constexpr Vec3d kUnrealWorldUp = {0.0, 0.0, 1.0};

/// One directional light of the world, as the game thread reads it from its component.
struct DirectionalLightInfo
{
	/// ULightComponent::GetDirection(): the way the light travels (the component's forward), world space.
	Vec3d forward{};
	/// IsUsedAsAtmosphereSunLight() and GetAtmosphereSunLightIndex(): the sky atmosphere's sun (index 0)
	/// or moon (index 1).
	bool atmosphereSun = false;
	int atmosphereIndex = 0;
	/// ComputeLightBrightness(): 0 for a light that is switched off.
	double brightness = 0.0;
};

inline bool IsUsableDirection(const Vec3d& v)
{
	const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
	return std::isfinite(n) && n > 1e-6;
}

/// Which light is the sun: the brightest of those the sky atmosphere uses as its sun (atmosphere light
/// index 0), else the brightest directional light. Lights that give no light (brightness 0, negative or
/// not finite) or have no direction are never chosen. Empty when none is left.
/// `lights` points at `count` entries (an engine array's storage: no copy into a std::vector per frame).
inline std::optional<std::size_t> ChooseSunLight(const DirectionalLightInfo* lights, std::size_t count)
{
	std::optional<std::size_t> sun;
	std::optional<std::size_t> brightest;
	for (std::size_t i = 0; i < count; ++i)
	{
		const DirectionalLightInfo& l = lights[i];
		if (!(std::isfinite(l.brightness) && l.brightness > 0.0) || !IsUsableDirection(l.forward))
		{
			continue;
		}
		if (!brightest || l.brightness > lights[*brightest].brightness)
		{
			brightest = i;
		}
		if (l.atmosphereSun && l.atmosphereIndex == 0 && (!sun || l.brightness > lights[*sun].brightness))
		{
			sun = i;
		}
	}
	return sun ? sun : brightest;
}

/// The direction towards a directional light, world space: minus the way its light travels.
inline Vec3d TowardsLight(const DirectionalLightInfo& light)
{
	return {-light.forward[0], -light.forward[1], -light.forward[2]};
}

/// A world-space direction in the runtime's view space. `worldToView` is the rotation of Unreal's view
/// matrix (FViewMatrices::GetTranslatedViewMatrix(), whose rotation is the shader's
/// View.TranslatedWorldToView), m[row][column] in Unreal's row-vector convention: view = world * m, in
/// Unreal's view space (x right, y up, z forward). The runtime's z points towards the camera, so z is
/// negated, exactly as RealMasterGBufferPack.usf does for the normals.
inline Vec3d UnrealWorldToRuntimeView(const Vec3d& world, const Mat3d& worldToView)
{
	Vec3d view{};
	for (std::size_t c = 0; c < 3; ++c)
	{
		view[c] = world[0] * worldToView[0][c] + world[1] * worldToView[1][c] + world[2] * worldToView[2][c];
	}
	view[2] = -view[2];
	return view;
}

/// The frame's light for a view: the direction towards the sun and the world's up (both world space)
/// turned into the runtime's view space and normalised. Empty when either is zero or not finite (the
/// frame then goes without a light and the runtime assumes realmaster::SceneLight::fallback()).
inline std::optional<realmaster::SceneLight> SceneLightForView(const Vec3d& towardsSunWorld, const Mat3d& worldToView,
                                                               const Vec3d& upWorld = kUnrealWorldUp)
{
	auto unit = [](const Vec3d& v) -> std::optional<std::array<float, 3>>
	{
		if (!IsUsableDirection(v))
		{
			return std::nullopt;
		}
		const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
		return std::array<float, 3>{static_cast<float>(v[0] / n), static_cast<float>(v[1] / n),
		                            static_cast<float>(v[2] / n)};
	};
	const std::optional<std::array<float, 3>> sun = unit(UnrealWorldToRuntimeView(towardsSunWorld, worldToView));
	const std::optional<std::array<float, 3>> up = unit(UnrealWorldToRuntimeView(upWorld, worldToView));
	if (!sun || !up)
	{
		return std::nullopt;
	}
	return realmaster::SceneLight{*sun, *up};
}

} // namespace RealMasterCore
