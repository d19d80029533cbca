// The Unreal plugin's engine-independent helpers (Source/RealMaster/Private/Core), compiled against
// the bridge headers and driven against a real bridge session.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "RealMasterDevicePath.h"
#include "RealMasterFrameLayout.h"
#include "RealMasterPromptGate.h"
#include "RealMasterReadbackRing.h"
#include "RealMasterSceneLight.h"
#include "RealMasterSettingsModel.h"
#include "RealMasterViewSelector.h"

using namespace RealMasterCore;
using realmaster::Mode;
using realmaster::PixelFormat;

TEST(PluginSettings, ParsesModes)
{
	EXPECT_EQ(ParseMode(" Cinematic "), Mode::Cinematic);
	EXPECT_EQ(ParseMode("REALTIME"), Mode::Realtime);
	EXPECT_EQ(ParseMode("1"), Mode::Cinematic);
	EXPECT_EQ(ParseMode("0"), Mode::Realtime);
	EXPECT_FALSE(ParseMode("fast").has_value());
	EXPECT_FALSE(ParseMode("").has_value());
}

TEST(PluginSettings, StrengthIsClampedAndNanRefused)
{
	EXPECT_EQ(ParseStrength(0.25f), 0.25f);
	EXPECT_EQ(ParseStrength(-3.0f), 0.0f);
	EXPECT_EQ(ParseStrength(7.0f), 1.0f);
	EXPECT_FALSE(ParseStrength(std::nanf("")).has_value());
	EXPECT_FALSE(ParseStrength(INFINITY).has_value());
}

TEST(PluginSettings, UpsampleEpsIsClampedToTheRuntimesRangeAndNanRefused)
{
	EXPECT_EQ(ParseUpsampleEps(1e-4f), 1e-4f);
	EXPECT_EQ(ParseUpsampleEps(0.0f), 1e-6f);
	EXPECT_EQ(ParseUpsampleEps(5.0f), 1.0f);
	EXPECT_FALSE(ParseUpsampleEps(std::nanf("")).has_value());
	EXPECT_FALSE(ParseUpsampleEps(-INFINITY).has_value());
	// Every value it lets through is one a session accepts.
	for (const float v : {0.0f, 1e-6f, 1e-3f, 5.0f})
	{
		DesiredSettings d;
		d.upsampleEps = *ParseUpsampleEps(v);
		realmaster::Status st;
		EXPECT_NE(realmaster::Session::create(SettingsApplier::NewConfig(d, ""), st), nullptr) << v << st.message;
	}
}

TEST(PluginSettings, ThePanelsRidgeStepsStartAtTheDefaultAndAreAllValid)
{
	// The first button is the runtime's default; every button's value passes the clamp unchanged and
	// a session takes it.
	EXPECT_EQ(kUpsampleEpsSteps.front().value, realmaster::Config{}.upsampleEps);
	EXPECT_EQ(kUpsampleEpsSteps.front().value, DesiredSettings{}.upsampleEps);
	float previous = 2.0f;
	for (const UpsampleEpsStep& step : kUpsampleEpsSteps)
	{
		EXPECT_LT(step.value, previous) << "most engine detail first";
		previous = step.value;
		EXPECT_EQ(ParseUpsampleEps(step.value), step.value);
		EXPECT_FALSE(step.label.empty());
		EXPECT_FALSE(step.tip.empty());
		DesiredSettings d;
		d.upsampleEps = step.value;
		realmaster::Status st;
		EXPECT_NE(realmaster::Session::create(SettingsApplier::NewConfig(d, ""), st), nullptr) << st.message;
	}
}

TEST(PluginSettings, ExecutionProvidersAndPrompts)
{
	EXPECT_EQ(ParseExecutionProvider(" TensorRT"), std::string("tensorrt"));
	EXPECT_EQ(ParseExecutionProvider(""), std::string("auto"));
	EXPECT_FALSE(ParseExecutionProvider("vulkan").has_value());
	EXPECT_EQ(NormalisePrompt("  Golden_Hour "), "golden_hour");
	EXPECT_EQ(NormalisePrompt(" a wet street at night "), "a wet street at night");
	EXPECT_EQ(kWeatherPresets.size(), 6u);
}

TEST(PluginSettings, ErrorsAreReportedOnce)
{
	ErrorLatch latch;
	EXPECT_TRUE(latch.ShouldReport("boom"));
	EXPECT_FALSE(latch.ShouldReport("boom"));
	EXPECT_TRUE(latch.ShouldReport("other"));
	latch.Clear();
	EXPECT_TRUE(latch.ShouldReport("other"));
}

TEST(PluginSettings, ApplierCallsTheRealSessionOnlyOnChange)
{
	DesiredSettings d;
	d.enable = true;
	SettingsApplier applier;
	realmaster::Status st;
	auto session = realmaster::Session::create(SettingsApplier::NewConfig(d, ""), st);
	ASSERT_NE(session, nullptr) << st.message;

	// Before MarkCreated the applier asks for a (re)creation.
	EXPECT_TRUE(applier.Apply(d, *session).recreate);
	applier.MarkCreated(d);
	auto r = applier.Apply(d, *session);
	EXPECT_FALSE(r.recreate);
	EXPECT_EQ(r.calls, 0);

	d.strength = 0.5f;
	d.prompt = "rain";
	r = applier.Apply(d, *session);
	EXPECT_EQ(r.calls, 1) << "strength only: the prompt is handed back, not applied on the calling (render) thread";
	EXPECT_TRUE(r.status.ok()) << r.status.message;
	ASSERT_TRUE(r.prompt.has_value());
	EXPECT_EQ(*r.prompt, "rain");
	EXPECT_TRUE(session->setPrompt(*r.prompt).ok()) << "what a prompt worker does with it";
	r = applier.Apply(d, *session);
	EXPECT_EQ(r.calls, 0);
	EXPECT_FALSE(r.prompt.has_value()) << "a prompt is handed back once";

	// A bad value reaches the session once, its error is reported once, and it is not retried.
	d.strength = std::nanf("");
	r = applier.Apply(d, *session);
	EXPECT_EQ(r.calls, 1);
	EXPECT_TRUE(r.status.is(realmaster::StatusCode::Config)) << r.status.message;

	// The upsample's ridge changes live too (no model reload for the panel's buttons); a refused one
	// is reported once.
	d.strength = 0.5f;
	EXPECT_EQ(applier.Apply(d, *session).calls, 1);
	d.upsampleEps = 1e-5f;
	r = applier.Apply(d, *session);
	EXPECT_FALSE(r.recreate);
	EXPECT_EQ(r.calls, 1);
	EXPECT_TRUE(r.status.ok()) << r.status.message;
	EXPECT_FLOAT_EQ(SettingsApplier::NewConfig(d, "").upsampleEps, 1e-5f);
	d.upsampleEps = 0.0f;
	r = applier.Apply(d, *session);
	EXPECT_EQ(r.calls, 1);
	EXPECT_TRUE(r.status.is(realmaster::StatusCode::Config)) << r.status.message;
	EXPECT_EQ(applier.Apply(d, *session).calls, 0);

	// The exposure lock is chosen when the model loads: changing it recreates the session.
	EXPECT_FALSE(SettingsApplier::NewConfig(d, "").exposureLock);
	d.exposureLock = true;
	EXPECT_TRUE(applier.Apply(d, *session).recreate);
	EXPECT_TRUE(SettingsApplier::NewConfig(d, "").exposureLock);
	d.exposureLock = false;
	EXPECT_FALSE(applier.Apply(d, *session).recreate);

	d.modelDir = "/some/other/model";
	EXPECT_TRUE(applier.Apply(d, *session).recreate);
}

TEST(PluginReadback, NeverBlocksAndConsumesNewestReady)
{
	struct Fake
	{
		bool ready = false;
	};
	ReadbackRing<Fake, 3> ring;
	auto* a = ring.Acquire(10);
	auto* b = ring.Acquire(11);
	auto* c = ring.Acquire(12);
	ASSERT_TRUE(a && b && c);
	EXPECT_EQ(ring.Acquire(13), nullptr) << "full ring: the capture is skipped, not waited for";
	EXPECT_EQ(ring.SkippedBecauseFull(), 1u);

	auto ready = [](const Fake& f)
	{
		return f.ready;
	};
	std::uint64_t got = 0;
	auto consume = [&](auto& slot)
	{
		got = slot.frame;
	};
	a->payload.ready = true;
	b->payload.ready = true;
	EXPECT_FALSE(ring.ConsumeNewestReady(ready, consume))
	    << "a readback whose copy was not recorded yet is never mapped, whatever its fence says";

	ring.MarkEnqueued(a);
	ring.MarkEnqueued(b);
	ring.MarkEnqueued(c);
	EXPECT_TRUE(ring.ConsumeNewestReady(ready, consume));
	EXPECT_EQ(got, 11u) << "the newest ready frame wins";
	EXPECT_EQ(ring.Superseded(), 1u);
	EXPECT_EQ(ring.InFlight(), 1u) << "only frame 12 remains in flight";

	auto* d = ring.Acquire(14);
	ASSERT_NE(d, nullptr);
	d->payload.ready = true;
	ring.MarkEnqueued(d);
	EXPECT_TRUE(ring.ConsumeNewestReady(ready, consume));
	EXPECT_EQ(got, 14u);
	EXPECT_EQ(ring.InFlight(), 1u) << "12 is not ready yet and stays in flight";
	EXPECT_FALSE(ring.ConsumeNewestReady(ready, consume));
	ring.Reset();
	EXPECT_EQ(ring.InFlight(), 0u);
	auto* e = ring.Acquire(15);
	ASSERT_NE(e, nullptr);
	EXPECT_FALSE(e->enqueued) << "a reused slot starts un-enqueued";
}

TEST(PluginFrameLayout, FormatsAndAuxPlanes)
{
	EXPECT_EQ(ToPixelFormat(CaptureFormat::B8G8R8A8), PixelFormat::Bgra8Srgb);
	EXPECT_EQ(ToPixelFormat(CaptureFormat::FloatRGBA16), PixelFormat::Rgba16Float);
	EXPECT_FALSE(ToPixelFormat(CaptureFormat::Unsupported).has_value());

	const std::uint32_t w = 5, h = 3;
	const AuxLayout layout{w, h};
	EXPECT_EQ(layout.TotalBytes(), std::size_t(w * h * 6 * 4));
	std::vector<float> aux(layout.TotalFloats(), 0.0f);
	std::vector<std::uint8_t> color(8 * 4 * h, 0); // readback rows padded to 8 pixels
	auto f =
	    MakeFrameView(color.data(), 8, color.size(), CaptureFormat::B8G8R8A8, w, h, aux.data(), aux.size() * 4, false);
	ASSERT_TRUE(f.has_value());
	EXPECT_EQ(f->color.rowPitch, 32u);
	EXPECT_EQ(f->normals.rowPitch, std::size_t(w) * 12);
	EXPECT_EQ(static_cast<const float*>(f->motion.data), aux.data() + w * h * 4);

	// The bridge accepts what the helper builds (padded color pitch, packed planes).
	realmaster::Status st;
	realmaster::Config c;
	c.mode = Mode::Cinematic;
	auto session = realmaster::Session::create(c, st);
	ASSERT_NE(session, nullptr) << st.message;
	st = session->submit(*f);
	EXPECT_TRUE(st.ok()) << st.message;

	// Too small an aux mapping: color only, never a read past the end.
	auto g = MakeFrameView(color.data(), 8, color.size(), CaptureFormat::B8G8R8A8, w, h, aux.data(), 16, false);
	ASSERT_TRUE(g.has_value());
	EXPECT_FALSE(g->depth.present());
	EXPECT_FALSE(g->light.has_value()) << "no light unless the capture has one";

	// The capture's light rides along; the bridge refuses a zero sun, naming it.
	const realmaster::SceneLight light{{0.0f, 0.6f, 0.8f}, {0.0f, 1.0f, 0.0f}};
	auto lit = MakeFrameView(color.data(), 8, color.size(), CaptureFormat::B8G8R8A8, w, h, aux.data(), aux.size() * 4,
	                         false, light);
	ASSERT_TRUE(lit.has_value());
	EXPECT_EQ(lit->light, light);
	st = session->submit(*lit);
	EXPECT_TRUE(st.ok()) << st.message;
	lit->light = realmaster::SceneLight{{0.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}};
	st = session->submit(*lit);
	EXPECT_TRUE(st.is(realmaster::StatusCode::InvalidFrame)) << st.message;
	EXPECT_NE(st.message.find("sun"), std::string::npos) << st.message;
}

namespace
{
/// The rotation of Unreal's view matrix for a camera at (pitch, yaw) in degrees, roll 0, built the way
/// FViewMatrices does: FInverseRotationMatrix(rotation) times the axis swap to view space (x right, y up,
/// z forward). m[row][column], row-vector convention (view = world * m).
Mat3d UnrealViewRotation(double pitchDeg, double yawDeg)
{
	const double kDeg = 3.14159265358979323846 / 180.0;
	const double sp = std::sin(pitchDeg * kDeg), cp = std::cos(pitchDeg * kDeg);
	const double sy = std::sin(yawDeg * kDeg), cy = std::cos(yawDeg * kDeg);
	// FRotationMatrix's axes for roll 0: X forward, Y right, Z up (world space).
	const Vec3d forward = {cp * cy, cp * sy, sp};
	const Vec3d right = {-sy, cy, 0.0};
	const Vec3d up = {-sp * cy, -sp * sy, cp};
	// The inverse rotation has the axes as columns; the swap sends forward to view z, right to x, up to y.
	Mat3d m{};
	for (std::size_t r = 0; r < 3; ++r)
	{
		m[r] = {right[r], up[r], forward[r]};
	}
	return m;
}

void ExpectLight(const std::optional<realmaster::SceneLight>& got, const std::array<float, 3>& sun,
                 const std::array<float, 3>& up, const char* what)
{
	ASSERT_TRUE(got.has_value()) << what;
	for (std::size_t c = 0; c < 3; ++c)
	{
		EXPECT_NEAR(got->sun[c], sun[c], 1e-5) << what << ": sun[" << c << "]";
		EXPECT_NEAR(got->up[c], up[c], 1e-5) << what << ": up[" << c << "]";
	}
}
} // namespace

TEST(PluginSceneLight, TheAtmosphereSunElseTheBrightestDirectionalLight)
{
	const auto ChooseSunLight = [](const std::vector<DirectionalLightInfo>& lights)
	{
		return RealMasterCore::ChooseSunLight(lights.data(), lights.size());
	};
	EXPECT_FALSE(ChooseSunLight({}).has_value());
	const Vec3d down = {0.0, 0.0, -1.0};
	DirectionalLightInfo fill{down, false, 0, 10.0};
	DirectionalLightInfo sun{{1.0, 0.0, -1.0}, true, 0, 5.0};
	DirectionalLightInfo moon{down, true, 1, 0.1};
	EXPECT_EQ(ChooseSunLight({fill, sun, moon}), std::optional<std::size_t>(1)) << "the atmosphere's sun wins";
	EXPECT_EQ(ChooseSunLight({moon, fill}), std::optional<std::size_t>(1)) << "else the brightest light";
	DirectionalLightInfo brighterSun = sun;
	brighterSun.brightness = 8.0;
	EXPECT_EQ(ChooseSunLight({sun, brighterSun}), std::optional<std::size_t>(1));
	// Lights that give no light or have no direction are never the sun.
	DirectionalLightInfo off = sun;
	off.brightness = 0.0;
	EXPECT_EQ(ChooseSunLight({off, moon}), std::optional<std::size_t>(1));
	DirectionalLightInfo nan = fill;
	nan.brightness = std::nan("");
	DirectionalLightInfo noDirection{{0.0, 0.0, 0.0}, true, 0, 5.0};
	EXPECT_FALSE(ChooseSunLight({nan, noDirection, off}).has_value());
	// Towards the light is against the way it shines.
	const Vec3d towards = TowardsLight(sun);
	EXPECT_EQ(towards, (Vec3d{-1.0, 0.0, 1.0}));
}

TEST(PluginSceneLight, WorldDirectionsReachTheNormalsViewSpace)
{
	// Camera at rotation zero looks along world +X, Z up. A low sun ahead of it is ahead in view space,
	// i.e. away from the camera (z < 0 in the runtime's convention, z towards the camera).
	const Mat3d level = UnrealViewRotation(0.0, 0.0);
	const std::optional<realmaster::SceneLight> ahead = SceneLightForView({1.0, 0.0, 0.1}, level);
	ASSERT_TRUE(ahead.has_value());
	EXPECT_LT(ahead->sun[2], -0.99f);
	EXPECT_GT(ahead->sun[1], 0.09f);
	EXPECT_NEAR(ahead->sun[0], 0.0f, 1e-6);
	ExpectLight(ahead, ahead->sun, {0.0f, 1.0f, 0.0f}, "level camera: world up is view up");

	// A sun 45 degrees up behind the camera, shining forward and down, is exactly the runtime's fallback.
	const DirectionalLightInfo behind{{1.0, 0.0, -1.0}, true, 0, 1.0};
	const realmaster::SceneLight fb = realmaster::SceneLight::fallback();
	ExpectLight(SceneLightForView(TowardsLight(behind), level), fb.sun, fb.up, "sun behind the camera");

	// The camera turns left to look along +Y: the same sun (east, on the horizon) is now on its left.
	ExpectLight(SceneLightForView({1.0, 0.0, 0.0}, UnrealViewRotation(0.0, 90.0)), {-1.0f, 0.0f, 0.0f},
	            {0.0f, 1.0f, 0.0f}, "camera looking north");
	// Looking 30 degrees down, the world's up leans towards the camera.
	const float s30 = 0.5f, c30 = 0.8660254f;
	ExpectLight(SceneLightForView({0.0, 0.0, 1.0}, UnrealViewRotation(-30.0, 0.0)), {0.0f, c30, s30}, {0.0f, c30, s30},
	            "camera looking down, sun overhead");

	// Any length in, unit vectors out; a zero or non-finite direction gives no light at all.
	ExpectLight(SceneLightForView({0.0, 0.0, 5.0}, level), {0.0f, 1.0f, 0.0f}, {0.0f, 1.0f, 0.0f}, "length 5");
	EXPECT_FALSE(SceneLightForView({0.0, 0.0, 0.0}, level).has_value());
	EXPECT_FALSE(SceneLightForView({std::nan(""), 0.0, 1.0}, level).has_value());
	EXPECT_FALSE(SceneLightForView({1.0, 0.0, 0.0}, level, {0.0, 0.0, 0.0}).has_value());
}

TEST(PluginSceneLight, TheLightUsesTheNormalsConversion)
{
	// RealMasterGBufferPack.usf: ViewNormal = mul(float4(WorldNormal, 0), View.TranslatedWorldToView).xyz, then
	// ViewNormal.z = -ViewNormal.z. A surface facing the sun must have N.sun = 1 in view space, whatever the camera.
	for (const double yaw : {0.0, 37.0, 90.0, 200.0})
	{
		for (const double pitch : {-60.0, -10.0, 0.0, 25.0})
		{
			const Mat3d m = UnrealViewRotation(pitch, yaw);
			const Vec3d towards = {0.3, -0.5, 0.8};
			const Vec3d normal = UnrealWorldToRuntimeView({0.3, -0.5, 0.8}, m); // a surface facing the sun
			const std::optional<realmaster::SceneLight> l = SceneLightForView(towards, m);
			ASSERT_TRUE(l.has_value());
			const double n = std::sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2]);
			const double dot = (normal[0] * l->sun[0] + normal[1] * l->sun[1] + normal[2] * l->sun[2]) / n;
			EXPECT_NEAR(dot, 1.0, 1e-6) << "yaw " << yaw << " pitch " << pitch;
			// Rotations keep right angles: the sun's elevation above the horizon is the same in every view.
			const double elevation = l->sun[0] * l->up[0] + l->sun[1] * l->up[1] + l->sun[2] * l->up[2];
			EXPECT_NEAR(elevation, 0.8 / std::sqrt(0.09 + 0.25 + 0.64), 1e-6);
		}
	}
}

TEST(PluginFrameLayout, VelocityConventions)
{
	// Engine velocity +0.1 NDC in x (moved right since the previous frame) means the previous
	// position is to the left: negative pixel motion in x. +y NDC is up, pixels grow downwards.
	const auto m = VelocityToPixelMotion(0.1f, 0.2f, 200, 100);
	EXPECT_FLOAT_EQ(m.dx, -10.0f);
	EXPECT_FLOAT_EQ(m.dy, 10.0f);

	// A camera that translated so everything shifts by +0.05 NDC in x since the previous frame.
	float clipToPrev[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {-0.05f, 0, 0, 1}};
	const auto v = CameraVelocity(clipToPrev, 0.3f, -0.2f, 0.5f);
	EXPECT_NEAR(v.x, 0.05f, 1e-6);
	EXPECT_NEAR(v.y, 0.0f, 1e-6);
	float identity[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
	const auto z = CameraVelocity(identity, 0.7f, 0.1f, 0.2f);
	EXPECT_EQ(z.x, 0.0f);
	EXPECT_EQ(z.y, 0.0f);
}

namespace
{
// Row-vector 4x4 matrices, as in Unreal's C++ and shaders: p' = p * M.
using Mat4 = std::array<std::array<double, 4>, 4>;

Mat4 Mul(const Mat4& a, const Mat4& b)
{
	Mat4 r{};
	for (int i = 0; i < 4; ++i)
	{
		for (int j = 0; j < 4; ++j)
		{
			for (int k = 0; k < 4; ++k)
			{
				r[i][j] += a[i][k] * b[k][j];
			}
		}
	}
	return r;
}

Mat4 Inverse(Mat4 m)
{
	Mat4 inv{};
	for (int i = 0; i < 4; ++i)
	{
		inv[i][i] = 1.0;
	}
	for (int c = 0; c < 4; ++c)
	{
		int pivot = c;
		for (int r = c + 1; r < 4; ++r)
		{
			if (std::fabs(m[r][c]) > std::fabs(m[pivot][c]))
			{
				pivot = r;
			}
		}
		std::swap(m[c], m[pivot]);
		std::swap(inv[c], inv[pivot]);
		const double d = m[c][c];
		for (int j = 0; j < 4; ++j)
		{
			m[c][j] /= d;
			inv[c][j] /= d;
		}
		for (int r = 0; r < 4; ++r)
		{
			if (r != c)
			{
				const double f = m[r][c];
				for (int j = 0; j < 4; ++j)
				{
					m[r][j] -= f * m[c][j];
					inv[r][j] -= f * inv[c][j];
				}
			}
		}
	}
	return inv;
}

// Unreal's view matrix for a camera at `pos` turned by `yaw` radians about the up axis (view space:
// x right, y up, z forward), and its reversed-Z infinite perspective projection.
Mat4 ViewMatrix(double px, double py, double pz, double yaw)
{
	const double c = std::cos(yaw), s = std::sin(yaw);
	const Mat4 translate = {{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {-px, -py, -pz, 1}}};
	const Mat4 rotate = {{{c, 0, s, 0}, {0, 1, 0, 0}, {-s, 0, c, 0}, {0, 0, 0, 1}}};
	return Mul(translate, rotate);
}

Mat4 ReversedZProjection(double tanHalfFov, double aspect, double nearPlane)
{
	return {{{1.0 / tanHalfFov, 0, 0, 0}, {0, aspect / tanHalfFov, 0, 0}, {0, 0, 0, 1}, {0, 0, nearPlane, 0}}};
}

struct Projected
{
	double x, y, deviceZ;
};

Projected Project(const Mat4& viewProj, double wx, double wy, double wz)
{
	double clip[4] = {0, 0, 0, 0};
	const double in[4] = {wx, wy, wz, 1};
	for (int c = 0; c < 4; ++c)
	{
		for (int r = 0; r < 4; ++r)
		{
			clip[c] += in[r] * viewProj[r][c];
		}
	}
	return {clip[0] / clip[3], clip[1] / clip[3], clip[2] / clip[3]};
}
} // namespace

TEST(PluginFrameLayout, CameraMotionFromDepthMatchesReprojection)
{
	// A static world point seen by a camera that moved and turned between frames: the velocity
	// rebuilt from (screen position, depth, ClipToPrevClip) must equal the true screen-space motion.
	const Mat4 proj = ReversedZProjection(std::tan(0.5), 16.0 / 9.0, 10.0);
	const Mat4 prevViewProj = Mul(ViewMatrix(0, 150, -20, 0.00), proj);
	const Mat4 viewProj = Mul(ViewMatrix(35, 160, 10, 0.04), proj);
	// What the engine puts in View.ClipToPrevClip: current clip -> world -> previous clip.
	const Mat4 clipToPrevClip = Mul(Inverse(viewProj), prevViewProj);
	float m[4][4];
	for (int r = 0; r < 4; ++r)
	{
		for (int c = 0; c < 4; ++c)
		{
			m[r][c] = static_cast<float>(clipToPrevClip[r][c]);
		}
	}

	const double points[][3] = {{100, 120, 900}, {-300, 200, 2500}, {40, 170, 150}, {900, -50, 7000}};
	for (const auto& p : points)
	{
		const Projected now = Project(viewProj, p[0], p[1], p[2]);
		const Projected before = Project(prevViewProj, p[0], p[1], p[2]);
		ASSERT_GT(now.deviceZ, 0.0) << "test point behind the camera";
		const Velocity v =
		    CameraVelocity(m, static_cast<float>(now.x), static_cast<float>(now.y), static_cast<float>(now.deviceZ));
		EXPECT_NEAR(v.x, now.x - before.x, 1e-4) << "point " << p[0] << "," << p[1] << "," << p[2];
		EXPECT_NEAR(v.y, now.y - before.y, 1e-4) << "point " << p[0] << "," << p[1] << "," << p[2];
		EXPECT_GT(std::fabs(now.x - before.x) + std::fabs(now.y - before.y), 1e-3) << "the camera really moved";

		// And in the runtime's convention: pixels from the current to the previous position, +y down.
		const PixelMotion px = VelocityToPixelMotion(v.x, v.y, 1920, 1080);
		const double prevPixelX = (before.x * 0.5 + 0.5) * 1920.0, nowPixelX = (now.x * 0.5 + 0.5) * 1920.0;
		const double prevPixelY = (0.5 - before.y * 0.5) * 1080.0, nowPixelY = (0.5 - now.y * 0.5) * 1080.0;
		EXPECT_NEAR(px.dx, prevPixelX - nowPixelX, 0.1);
		EXPECT_NEAR(px.dy, prevPixelY - nowPixelY, 0.1);
	}
}

TEST(PluginViews, OneViewOwnsTheSessionUntilItGoesStale)
{
	ViewSelector views(2);
	using D = ViewSelector::Decision;
	EXPECT_EQ(views.Select(0, 1), D::Skip) << "views without persistent state never own the session";
	EXPECT_FALSE(views.HasOwner());

	EXPECT_EQ(views.Select(0xA, 1), D::Process) << "the first view claims it";
	EXPECT_EQ(views.Select(0xB, 1), D::Skip) << "a second viewport in the same frame passes through";
	EXPECT_EQ(views.Select(0xA, 2), D::Process);
	EXPECT_EQ(views.Select(0xB, 3), D::Skip) << "the owner rendered one frame ago: still the owner";
	EXPECT_EQ(views.Select(0xB, 4), D::ProcessAfterSwitch) << "owner silent for 2 frames: B takes over";
	EXPECT_EQ(views.Owner(), 0xBu);
	EXPECT_EQ(views.Select(0xA, 4), D::Skip) << "A is now the other view";
	EXPECT_EQ(views.Select(0xB, 5), D::Process);
	EXPECT_EQ(views.Switches(), 2u);

	views.Reset();
	EXPECT_EQ(views.Select(0xA, 6), D::Process) << "after a reset the next view claims it afresh";

	ViewSelector zero(0);
	EXPECT_EQ(zero.Select(1, 10), D::Process);
	EXPECT_EQ(zero.Select(2, 10), D::Skip) << "a stale limit of 0 is treated as 1, never as 'always switch'";
	EXPECT_EQ(zero.Select(2, 11), D::ProcessAfterSwitch);
}

TEST(PluginSettings, ReportedExecutionProviders)
{
	EXPECT_EQ(ReportedExecutionProviderIndex("tensorrt"), 0);
	EXPECT_EQ(ReportedExecutionProviderIndex("CUDA"), 1);
	EXPECT_EQ(ReportedExecutionProviderIndex("cpu"), 4);
	EXPECT_EQ(ReportedExecutionProviderIndex("none"), -1);
	EXPECT_EQ(ReportedExecutionProviderIndex(""), -1);
	// Every provider a user can ask for, except "auto", can be reported as the one in use.
	for (std::string_view ep : kExecutionProviders)
	{
		if (ep != "auto")
		{
			EXPECT_GE(ReportedExecutionProviderIndex(ep), 0) << ep;
		}
	}
}

TEST(PluginSettings, SessionsMarkedNotLiveChangeOnlyThePromptLive)
{
	DesiredSettings d;
	d.enable = true;
	SettingsApplier applier;
	EXPECT_TRUE(applier.ApplyWithoutSession(d).recreate) << "no session yet";
	applier.MarkCreated(d, LiveSettings{false, false, false});

	d.prompt = "a foggy harbour at dawn";
	auto r = applier.ApplyWithoutSession(d);
	EXPECT_FALSE(r.recreate);
	EXPECT_EQ(r.calls, 0);
	ASSERT_TRUE(r.prompt.has_value());
	EXPECT_EQ(*r.prompt, "a foggy harbour at dawn");

	d.strength = 0.25f;
	r = applier.ApplyWithoutSession(d);
	EXPECT_TRUE(r.recreate) << "marked as taking strength at creation only";
	EXPECT_FALSE(r.prompt.has_value());
	applier.MarkCreated(d, LiveSettings{false, false, false});
	EXPECT_FALSE(applier.ApplyWithoutSession(d).recreate);

	d.upsampleEps = 1e-5f;
	EXPECT_TRUE(applier.ApplyWithoutSession(d).recreate) << "and the ridge";
	applier.MarkCreated(d, LiveSettings{false, false, false});
	d.mode = Mode::Cinematic;
	EXPECT_TRUE(applier.ApplyWithoutSession(d).recreate) << "and mode";

	// A readback session created with the same settings changes strength live instead.
	struct LiveSession
	{
		mutable int strengthCalls = 0;
		realmaster::Status setStrength(float) const
		{
			++strengthCalls;
			return {};
		}
		realmaster::Status setUpsampleEps(float) const { return {}; }
		realmaster::Status setMode(Mode) const { return {}; }
	} live;
	applier.MarkCreated(d);
	d.strength = 0.75f;
	r = applier.Apply(d, live);
	EXPECT_FALSE(r.recreate);
	EXPECT_EQ(live.strengthCalls, 1);
}

TEST(PluginSettings, TheDevicePathChangesStrengthRidgeAndModeLiveThroughNonConstSetters)
{
	// Like FRealMasterVulkanDevicePath: setters that hand the value to the queue thread (non-const).
	struct DevicePathLike
	{
		float strength = -1.0f;
		float upsampleEps = -1.0f;
		int modes = 0;
		realmaster::Status setStrength(float s)
		{
			strength = s;
			return {};
		}
		realmaster::Status setUpsampleEps(float e)
		{
			upsampleEps = e;
			return {};
		}
		realmaster::Status setMode(Mode)
		{
			++modes;
			return {};
		}
	} path;
	DesiredSettings d;
	d.enable = true;
	SettingsApplier applier;
	applier.MarkCreated(d);
	d.strength = 0.4f;
	d.upsampleEps = 1e-4f;
	d.mode = Mode::Cinematic;
	const auto r = applier.Apply(d, path);
	EXPECT_FALSE(r.recreate) << "no new session for a strength, ridge or mode change";
	EXPECT_EQ(r.calls, 3);
	EXPECT_FLOAT_EQ(path.strength, 0.4f);
	EXPECT_FLOAT_EQ(path.upsampleEps, 1e-4f);
	EXPECT_EQ(path.modes, 1);
	EXPECT_EQ(applier.Apply(d, path).calls, 0) << "applied once";
}

TEST(PluginDevicePath, VkFormatsMapToTheRuntimesFormats)
{
	ImageFormat f = ImageFormat::Rgba32Float;
	ASSERT_TRUE(ImageFormatFromVkFormat(VkFormatValue::B8G8R8A8_UNORM, f));
	EXPECT_EQ(f, ImageFormat::Bgra8Unorm);
	ASSERT_TRUE(ImageFormatFromVkFormat(VkFormatValue::R8G8B8A8_UNORM, f));
	EXPECT_EQ(f, ImageFormat::Rgba8Unorm);
	ASSERT_TRUE(ImageFormatFromVkFormat(VkFormatValue::R16G16B16A16_SFLOAT, f));
	EXPECT_EQ(f, ImageFormat::Rgba16Float);
	ASSERT_TRUE(ImageFormatFromVkFormat(VkFormatValue::R32_SFLOAT, f));
	EXPECT_EQ(f, ImageFormat::R32Float);
	ASSERT_TRUE(ImageFormatFromVkFormat(VkFormatValue::A2B10G10R10_UNORM_PACK32, f));
	EXPECT_EQ(f, ImageFormat::Rgb10a2Unorm);
	ASSERT_TRUE(ImageFormatFromVkFormat(VkFormatValue::D32_SFLOAT, f));
	EXPECT_EQ(f, ImageFormat::Depth32Float);
	EXPECT_FALSE(ImageFormatFromVkFormat(0, f)) << "VK_FORMAT_UNDEFINED";
	EXPECT_FALSE(ImageFormatFromVkFormat(130, f)) << "VK_FORMAT_D32_SFLOAT_S8_UINT (Unreal's scene depth) is not taken";

	// What the plugin allocates (PF_B8G8R8A8, PF_R32_FLOAT, PF_FloatRGBA, PF_R8G8B8A8) fits each slot.
	EXPECT_TRUE(FormatFitsSlot(DeviceImageSlot::Color, ImageFormat::Bgra8Unorm));
	EXPECT_TRUE(FormatFitsSlot(DeviceImageSlot::Depth, ImageFormat::R32Float));
	EXPECT_TRUE(FormatFitsSlot(DeviceImageSlot::Normals, ImageFormat::Rgba16Float));
	EXPECT_TRUE(FormatFitsSlot(DeviceImageSlot::Motion, ImageFormat::Rgba16Float));
	EXPECT_TRUE(FormatFitsSlot(DeviceImageSlot::Output, ImageFormat::Rgba8Unorm));
	EXPECT_FALSE(FormatFitsSlot(DeviceImageSlot::Output, ImageFormat::Bgra8Unorm)) << "not storage-writable";
	EXPECT_FALSE(FormatFitsSlot(DeviceImageSlot::Depth, ImageFormat::Rgba16Float));
	EXPECT_FALSE(FormatFitsSlot(DeviceImageSlot::Motion, ImageFormat::R32Float));
	EXPECT_EQ(VulkanApiVersion(1, 3), (1u << 22) | (3u << 12));
}

namespace
{
DeviceFrameImages PackedFrameImages(std::uint64_t firstHandle, std::uint32_t w, std::uint32_t h)
{
	DeviceFrameImages images;
	const std::uint32_t formats[kDeviceImageSlots] = {
	    VkFormatValue::B8G8R8A8_UNORM, VkFormatValue::R32_SFLOAT, VkFormatValue::R16G16B16A16_SFLOAT,
	    VkFormatValue::R16G16B16A16_SFLOAT, VkFormatValue::R8G8B8A8_UNORM};
	for (std::size_t i = 0; i < kDeviceImageSlots; ++i)
	{
		images[i].image = firstHandle + i;
		images[i].width = w;
		images[i].height = h;
		images[i].vkFormat = formats[i];
	}
	return images;
}

// Records what VulkanSession::registerImage / releaseImage would receive.
struct FakeVulkanSession
{
	std::vector<realmaster::VulkanSession::Image> registered;
	std::vector<std::uint32_t> released;
	std::uint32_t nextId = 1;
	bool refuse = false;

	std::uint32_t registerImage(const realmaster::VulkanSession::Image& image, realmaster::Status& status)
	{
		if (refuse)
		{
			status.code = static_cast<std::uint32_t>(realmaster::StatusCode::Config);
			status.message = "refused";
			return 0;
		}
		status = {};
		registered.push_back(image);
		return nextId++;
	}
	realmaster::Status releaseImage(std::uint32_t id)
	{
		released.push_back(id);
		return {};
	}
};
} // namespace

TEST(PluginDevicePath, ImagesAreCheckedBeforeAFrameIsScheduled)
{
	DeviceFrameImages images = PackedFrameImages(0x1000, 1280, 720);
	EXPECT_TRUE(CheckDeviceImages(images).ok()) << CheckDeviceImages(images).message;

	DeviceFrameImages colorOnly = images;
	colorOnly[static_cast<std::size_t>(DeviceImageSlot::Depth)] = DeviceImageDesc{};
	colorOnly[static_cast<std::size_t>(DeviceImageSlot::Normals)] = DeviceImageDesc{};
	colorOnly[static_cast<std::size_t>(DeviceImageSlot::Motion)] = DeviceImageDesc{};
	EXPECT_TRUE(CheckDeviceImages(colorOnly).ok()) << "G-buffers are optional";

	DeviceFrameImages noOutput = images;
	noOutput[static_cast<std::size_t>(DeviceImageSlot::Output)] = DeviceImageDesc{};
	EXPECT_TRUE(CheckDeviceImages(noOutput).is(realmaster::StatusCode::Config));

	DeviceFrameImages wrongSize = images;
	wrongSize[static_cast<std::size_t>(DeviceImageSlot::Motion)].width = 640;
	const realmaster::Status s = CheckDeviceImages(wrongSize);
	EXPECT_FALSE(s.ok());
	EXPECT_NE(s.message.find("motion"), std::string::npos) << s.message;

	DeviceFrameImages wrongFormat = images;
	wrongFormat[static_cast<std::size_t>(DeviceImageSlot::Output)].vkFormat = VkFormatValue::B8G8R8A8_UNORM;
	EXPECT_FALSE(CheckDeviceImages(wrongFormat).ok()) << "the output must be storage-writable";
}

TEST(PluginDevicePath, ImagesAreRegisteredOnceAndAgainAfterAResize)
{
	FakeVulkanSession session;
	DeviceImageRegistry registry;
	realmaster::Status st;
	const DeviceFrameImages first = PackedFrameImages(0x1000, 1280, 720);
	ASSERT_TRUE(registry.Sync(session, first, st)) << st.message;
	ASSERT_EQ(session.registered.size(), kDeviceImageSlots);
	EXPECT_TRUE(session.registered[static_cast<std::size_t>(DeviceImageSlot::Output)].output);
	EXPECT_FALSE(session.registered[static_cast<std::size_t>(DeviceImageSlot::Color)].output);
	EXPECT_EQ(session.registered[static_cast<std::size_t>(DeviceImageSlot::Color)].format, ImageFormat::Bgra8Unorm);
	EXPECT_EQ(session.registered[static_cast<std::size_t>(DeviceImageSlot::Depth)].image, 0x1001u);

	for (int frame = 0; frame < 100; ++frame)
	{
		ASSERT_TRUE(registry.Sync(session, first, st));
	}
	EXPECT_EQ(session.registered.size(), kDeviceImageSlots) << "the same images are never registered again";
	EXPECT_TRUE(session.released.empty());

	// A resize reallocates every image: each old id is released and the new images registered.
	const std::uint32_t oldColor = registry.Id(DeviceImageSlot::Color);
	const DeviceFrameImages resized = PackedFrameImages(0x2000, 1920, 1080);
	ASSERT_TRUE(registry.Sync(session, resized, st));
	EXPECT_EQ(session.registered.size(), 2 * kDeviceImageSlots);
	EXPECT_EQ(session.released.size(), kDeviceImageSlots);
	EXPECT_NE(registry.Id(DeviceImageSlot::Color), oldColor);
	EXPECT_EQ(session.registered.back().width, 1920u);

	// A plane that goes away is released; the frame then names it 0 (absent).
	DeviceFrameImages noMotion = resized;
	noMotion[static_cast<std::size_t>(DeviceImageSlot::Motion)] = DeviceImageDesc{};
	ASSERT_TRUE(registry.Sync(session, noMotion, st));
	EXPECT_EQ(registry.Id(DeviceImageSlot::Motion), 0u);
	EXPECT_EQ(session.released.size(), kDeviceImageSlots + 1);

	registry.ReleaseAll(session);
	EXPECT_EQ(session.released.size(), 2 * kDeviceImageSlots);
	EXPECT_EQ(registry.Id(DeviceImageSlot::Output), 0u);
	EXPECT_EQ(registry.Registrations(), registry.Releases()) << "every registration is released";
}

TEST(PluginDevicePath, ARefusedImageFailsTheSync)
{
	FakeVulkanSession session;
	session.refuse = true;
	DeviceImageRegistry registry;
	realmaster::Status st;
	EXPECT_FALSE(registry.Sync(session, PackedFrameImages(0x1000, 64, 32), st));
	EXPECT_EQ(st.message, "refused");
	EXPECT_EQ(registry.Id(DeviceImageSlot::Color), 0u);
	registry.Forget();
	EXPECT_EQ(registry.Registrations(), 0u);
}

TEST(PluginDevicePath, FrameUsesThePackShadersConventions)
{
	FakeVulkanSession session;
	DeviceImageRegistry registry;
	realmaster::Status st;
	ASSERT_TRUE(registry.Sync(session, PackedFrameImages(0x1000, 8, 8), st));
	const realmaster::VulkanSession::Frame f = MakePackedDeviceFrame(registry, true);
	EXPECT_EQ(f.color, registry.Id(DeviceImageSlot::Color));
	EXPECT_EQ(f.depth, registry.Id(DeviceImageSlot::Depth));
	EXPECT_EQ(f.normals, registry.Id(DeviceImageSlot::Normals));
	EXPECT_EQ(f.motion, registry.Id(DeviceImageSlot::Motion));
	EXPECT_EQ(f.output, registry.Id(DeviceImageSlot::Output));
	EXPECT_EQ(f.depth_reverse_z_near, 0.0f) << "view-axis distance in metres, not Unreal's reverse-Z device depth";
	EXPECT_FALSE(f.normals_unorm_world) << "view-space normals in [-1, 1]";
	EXPECT_FALSE(f.motion_uv) << "pixels to the previous frame";
	EXPECT_TRUE(f.camera_cut);
	EXPECT_EQ(f.world_to_view[0], 1.0f);
	EXPECT_EQ(f.world_to_view[4], 1.0f);
	EXPECT_EQ(f.world_to_view[8], 1.0f);
	EXPECT_FALSE(f.light.present) << "no light unless the view has one";
	EXPECT_FALSE(realmaster::lightOf(f).has_value());

	const realmaster::SceneLight light{{0.0f, 0.6f, 0.8f}, {0.0f, 1.0f, 0.0f}};
	const realmaster::VulkanSession::Frame lit = MakePackedDeviceFrame(registry, false, light);
	EXPECT_EQ(realmaster::lightOf(lit), light);
	EXPECT_FALSE(lit.camera_cut);
	EXPECT_EQ(lit.color, f.color);
}

TEST(PluginDevicePath, HandlesCarryUnrealsObjectsToTheBridge)
{
	VulkanHostDesc host;
	EXPECT_TRUE(CheckVulkanHost(host).is(realmaster::StatusCode::Config)) << "null handles";
	host.instance = 0x10;
	host.physicalDevice = 0x20;
	host.device = 0x30;
	host.apiVersion = VulkanApiVersion(1, 0);
	EXPECT_FALSE(CheckVulkanHost(host).ok()) << "Vulkan 1.0";
	host.apiVersion = VulkanApiVersion(1, 3);
	host.deviceExtensions = {"VK_KHR_swapchain", "VK_EXT_memory_budget"};
	host.queueFamily = 2;
	host.queueIndex = 1;
	EXPECT_TRUE(CheckVulkanHost(host).ok());

	const realmaster::VulkanSession::Handles h = MakeVulkanHandles(host);
	EXPECT_EQ(h.instance, 0x10u);
	EXPECT_EQ(h.physical_device, 0x20u);
	EXPECT_EQ(h.device, 0x30u);
	EXPECT_EQ(h.api_version, VulkanApiVersion(1, 3));
	EXPECT_EQ(h.queue_family, 2u);
	EXPECT_EQ(h.queue_index, 1u);
	EXPECT_TRUE(h.instance_extensions.empty());
	ASSERT_EQ(h.device_extensions.size(), 2u);
	EXPECT_EQ(std::string(h.device_extensions[1]), "VK_EXT_memory_budget");
}

TEST(PluginDevicePath, ExtensionRequestsAndMissingExtensions)
{
	std::vector<std::string> names(kVulkanDeviceExtensionsToRequest.begin(), kVulkanDeviceExtensionsToRequest.end());
	std::sort(names.begin(), names.end());
	EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end()) << "no duplicates";
	EXPECT_TRUE(std::binary_search(names.begin(), names.end(), "VK_KHR_swapchain"));

	const std::vector<std::string> available = {"VK_KHR_swapchain", "VK_NV_something", "VK_EXT_robustness2"};
	const std::vector<std::string> claimed = RequestedAndAvailable(available);
	EXPECT_EQ(claimed, (std::vector<std::string>{"VK_KHR_swapchain", "VK_EXT_robustness2"}))
	    << "only requested extensions the driver offers (and in the request order)";

	EXPECT_TRUE(MissingDeviceExtensionsStatus({}).ok());
	const realmaster::Status requested = MissingDeviceExtensionsStatus({"VK_EXT_robustness2"});
	EXPECT_TRUE(requested.is(realmaster::StatusCode::Config));
	EXPECT_NE(requested.message.find("VK_EXT_robustness2"), std::string::npos);
	EXPECT_NE(requested.message.find("read back"), std::string::npos) << requested.message;
	const realmaster::Status unknown = MissingDeviceExtensionsStatus({"VK_KHR_new_thing", "VK_KHR_other"});
	EXPECT_NE(unknown.message.find("VK_KHR_new_thing, VK_KHR_other"), std::string::npos) << unknown.message;
	EXPECT_NE(unknown.message.find("kVulkanDeviceExtensionsToRequest"), std::string::npos) << unknown.message;
}

TEST(PluginDevicePath, ChooserFallsBackToReadbackAndReportsOnce)
{
	FramePathChooser chooser;
	FramePathInputs in;
	in.rhiIsVulkan = true;
	in.engineSupportsDevicePath = true;
	EXPECT_EQ(chooser.Choose(in, "model|auto").path, FramePath::Device);

	FramePathInputs d3d12 = in;
	d3d12.rhiIsVulkan = false;
	const FramePathChoice c = chooser.Choose(d3d12, "model|auto");
	EXPECT_EQ(c.path, FramePath::Readback);
	EXPECT_NE(c.reason.find("not Vulkan"), std::string::npos);

	FramePathInputs off = in;
	off.enabledByUser = false;
	EXPECT_EQ(chooser.Choose(off, "model|auto").path, FramePath::Readback);
	FramePathInputs old = in;
	old.engineSupportsDevicePath = false;
	EXPECT_EQ(chooser.Choose(old, "model|auto").path, FramePath::Readback);

	EXPECT_TRUE(chooser.MarkDeviceFailed("model|auto", "missing extensions")) << "news: log it";
	EXPECT_FALSE(chooser.MarkDeviceFailed("model|auto", "missing extensions")) << "the same failure is logged once";
	EXPECT_EQ(chooser.Choose(in, "model|auto").path, FramePath::Readback);
	EXPECT_NE(chooser.Choose(in, "model|auto").reason.find("missing extensions"), std::string::npos);
	EXPECT_EQ(chooser.Choose(in, "other|auto").path, FramePath::Device) << "another model tries the device path";
	chooser.Clear();
	EXPECT_EQ(chooser.Choose(in, "model|auto").path, FramePath::Device);
	EXPECT_STREQ(FramePathName(FramePath::Readback), "readback");
}

TEST(PluginDevicePath, TheRealBridgeRefusesNullHandlesWithAStatus)
{
	// The registry compiles against the real session type (instantiated here, called below by the plugin).
	[[maybe_unused]] const auto sync = &DeviceImageRegistry::Sync<realmaster::VulkanSession>;
	[[maybe_unused]] const auto release = &DeviceImageRegistry::ReleaseAll<realmaster::VulkanSession>;

	// No Vulkan device here: the bridge answers with a status (never a crash) and the plugin falls back.
	const realmaster::VulkanSession::Handles handles = MakeVulkanHandles(VulkanHostDesc{});
	realmaster::Status st;
	const std::vector<std::string> missing = realmaster::VulkanSession::missingDeviceExtensions(handles, st);
	EXPECT_FALSE(st.ok());
	EXPECT_TRUE(missing.empty());
	auto session = realmaster::VulkanSession::create(handles, realmaster::Config(), st);
	EXPECT_EQ(session, nullptr);
	EXPECT_FALSE(st.ok());
	EXPECT_FALSE(st.message.empty());
}

TEST(PluginPrompts, TheNewestPromptWinsAndOneWorkerRuns)
{
	LatestWinsMailbox<std::string> mailbox;
	EXPECT_TRUE(mailbox.Idle());
	EXPECT_TRUE(mailbox.Post("rain")) << "no worker yet: start one";
	EXPECT_FALSE(mailbox.Post("snow")) << "a worker is already due";
	EXPECT_FALSE(mailbox.Post("a foggy harbour")) << "replaces snow, which was never taken";
	auto next = mailbox.Take();
	ASSERT_TRUE(next.has_value());
	EXPECT_EQ(*next, "a foggy harbour");
	EXPECT_FALSE(mailbox.Take().has_value()) << "the worker ends";
	EXPECT_TRUE(mailbox.Idle());
	EXPECT_TRUE(mailbox.Post("night")) << "the next change starts a new worker";
	EXPECT_EQ(*mailbox.Take(), "night");
	EXPECT_FALSE(mailbox.Take().has_value());
}

TEST(PluginPrompts, WorkersAcrossThreadsApplyTheLastPrompt)
{
	LatestWinsMailbox<int> mailbox;
	std::atomic<int> applying{0};
	std::atomic<int> maxApplying{0};
	std::atomic<int> last{-1};
	std::vector<std::thread> threads;
	auto worker = [&]()
	{
		while (auto v = mailbox.Take())
		{
			const int now = ++applying;
			int seen = maxApplying.load();
			while (now > seen && !maxApplying.compare_exchange_weak(seen, now))
			{
			}
			last = *v;
			std::this_thread::sleep_for(std::chrono::microseconds(50)); // an encode
			--applying;
		}
	};
	for (int i = 0; i <= 200; ++i)
	{
		if (mailbox.Post(i))
		{
			threads.emplace_back(worker);
		}
		if (i % 20 == 0)
		{
			std::this_thread::sleep_for(std::chrono::microseconds(200));
		}
	}
	for (std::thread& t : threads)
	{
		t.join();
	}
	EXPECT_EQ(last.load(), 200) << "the last prompt set is the one applied last";
	EXPECT_EQ(maxApplying.load(), 1) << "never two setPrompt calls at once";
	EXPECT_TRUE(mailbox.Idle());
}

TEST(PluginPrompts, GateKeepsFramesAndPromptsApart)
{
	FrameGate gate;
	auto a = gate.TrySchedule();
	auto b = gate.TrySchedule();
	ASSERT_TRUE(a && b);
	EXPECT_EQ(gate.InFlight(), 2u);

	// A prompt waits for the frames already scheduled; frames asked for meanwhile pass through.
	std::atomic<bool> exclusive{false};
	std::atomic<bool> done{false};
	std::thread promptWorker(
	    [&]()
	    {
		    FrameGateExclusive hold(gate, std::chrono::milliseconds(5000));
		    exclusive = hold.Held();
		    while (!done)
		    {
			    std::this_thread::sleep_for(std::chrono::milliseconds(1));
		    }
	    });
	while (gate.TrySchedule() != nullptr)
	{
		// Until the worker has asked, tickets are still handed out (and returned at once here).
		std::this_thread::yield();
	}
	EXPECT_FALSE(exclusive) << "frames in flight: the prompt has not started";
	const std::uint64_t refused = gate.Refused();
	EXPECT_GE(refused, 1u);
	a.reset();
	EXPECT_FALSE(exclusive);
	b.reset(); // the last scheduled frame was processed
	while (!exclusive)
	{
		std::this_thread::yield();
	}
	EXPECT_EQ(gate.TrySchedule(), nullptr) << "no frame while the prompt is applied";
	done = true;
	promptWorker.join();
	EXPECT_NE(gate.TrySchedule(), nullptr) << "frames again once the prompt is applied";
	EXPECT_EQ(gate.InFlight(), 0u);
}

TEST(PluginPrompts, APromptGivesUpWhenFramesNeverFinish)
{
	FrameGate gate;
	auto stuck = gate.TrySchedule();
	{
		FrameGateExclusive hold(gate, std::chrono::milliseconds(20));
		EXPECT_FALSE(hold.Held());
	}
	EXPECT_NE(gate.TrySchedule(), nullptr) << "after the timeout frames are scheduled again";
}
