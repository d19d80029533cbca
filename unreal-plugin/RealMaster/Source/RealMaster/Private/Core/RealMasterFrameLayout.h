// Engine-independent description of what the plugin reads back each frame and how it becomes a
// realmaster::FrameView:
// - color: the captured scene color texture (8-bit BGRA/RGBA or float), row pitch from the
//   readback's Lock (in pixels, converted to bytes here);
// - aux: one packed float buffer written by RealMasterGBufferPack.usf: [depth W*H][normals 3*W*H]
//   [motion 2*W*H], all tight, so one buffer readback serves all three planes.
// Also the CPU reference of the shader's velocity conversion (tests compare against it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "realmaster/realmaster.hpp"

namespace RealMasterCore
{

/// The engine formats the capture can produce (mapped from EPixelFormat by the engine code).
enum class CaptureFormat
{
	B8G8R8A8,
	R8G8B8A8,
	FloatRGBA16,
	FloatRGBA32,
	Unsupported
};

inline std::optional<realmaster::PixelFormat> ToPixelFormat(CaptureFormat f)
{
	switch (f)
	{
		case CaptureFormat::B8G8R8A8:
			return realmaster::PixelFormat::Bgra8Srgb;
		case CaptureFormat::R8G8B8A8:
			return realmaster::PixelFormat::Rgba8Srgb;
		case CaptureFormat::FloatRGBA16:
			return realmaster::PixelFormat::Rgba16Float;
		case CaptureFormat::FloatRGBA32:
			return realmaster::PixelFormat::Rgba32Float;
		case CaptureFormat::Unsupported:
			break;
	}
	return std::nullopt;
}

/// Offsets (in floats and bytes) of the three planes inside the packed aux buffer.
struct AuxLayout
{
	std::uint32_t width = 0;
	std::uint32_t height = 0;

	std::size_t Pixels() const { return std::size_t(width) * height; }
	std::size_t DepthOffsetFloats() const { return 0; }
	std::size_t NormalsOffsetFloats() const { return Pixels(); }
	std::size_t MotionOffsetFloats() const { return Pixels() * 4; }
	std::size_t TotalFloats() const { return Pixels() * 6; }
	std::size_t TotalBytes() const { return TotalFloats() * sizeof(float); }
};

/// A frame view over mapped readback memory. `colorRowPitchPixels` is what
/// FRHIGPUTextureReadback::Lock reports; `aux` may be null (color only); `light` is the scene's light
/// in the view space of the packed normals (Core/RealMasterSceneLight.h), captured with the frame.
inline std::optional<realmaster::FrameView>
MakeFrameView(const void* color, std::size_t colorRowPitchPixels, std::size_t colorBytesMapped, CaptureFormat format,
              std::uint32_t width, std::uint32_t height, const void* aux, std::size_t auxBytesMapped, bool cameraCut,
              const std::optional<realmaster::SceneLight>& light = std::nullopt)
{
	const auto pf = ToPixelFormat(format);
	if (!pf || color == nullptr || width == 0 || height == 0)
	{
		return std::nullopt;
	}
	const std::size_t bpp = realmaster::bytesPerPixel(*pf);
	realmaster::FrameView f;
	f.width = width;
	f.height = height;
	f.format = *pf;
	f.color = {color, colorBytesMapped, colorRowPitchPixels * bpp};
	f.cameraCut = cameraCut;
	f.light = light;
	const AuxLayout layout{width, height};
	if (aux != nullptr && auxBytesMapped >= layout.TotalBytes())
	{
		const auto* base = static_cast<const float*>(aux);
		f.depth = {base + layout.DepthOffsetFloats(), layout.Pixels() * 4, std::size_t(width) * 4};
		f.normals = {base + layout.NormalsOffsetFloats(), layout.Pixels() * 12, std::size_t(width) * 12};
		f.motion = {base + layout.MotionOffsetFloats(), layout.Pixels() * 8, std::size_t(width) * 8};
	}
	return f;
}

/// Unreal velocity (screen-space NDC delta, current minus previous, +y up) to RealMaster motion
/// (pixels, current -> previous, +y down) for an output of `width` x `height` pixels.
/// RealMasterGBufferPack.usf implements exactly this; keep them in sync.
struct PixelMotion
{
	float dx;
	float dy;
};
inline PixelMotion VelocityToPixelMotion(float velocityX, float velocityY, std::uint32_t width, std::uint32_t height)
{
	return {-velocityX * 0.5f * float(width), velocityY * 0.5f * float(height)};
}

/// Camera motion of a static pixel from the view's ClipToPrevClip matrix (row-vector convention,
/// as in Unreal shaders: prev = mul(float4(screenPos, deviceZ, 1), ClipToPrevClip)). Returns the
/// engine velocity (screenPos - prevScreenPos); the shader uses this where no velocity was written.
struct Velocity
{
	float x;
	float y;
};
inline Velocity CameraVelocity(const float clipToPrevClip[4][4], float screenX, float screenY, float deviceZ)
{
	const float in[4] = {screenX, screenY, deviceZ, 1.0f};
	float out[4] = {0, 0, 0, 0};
	for (int c = 0; c < 4; ++c)
	{
		for (int r = 0; r < 4; ++r)
		{
			out[c] += in[r] * clipToPrevClip[r][c];
		}
	}
	if (out[3] == 0.0f)
	{
		return {0.0f, 0.0f};
	}
	return {screenX - out[0] / out[3], screenY - out[1] / out[3]};
}

} // namespace RealMasterCore
