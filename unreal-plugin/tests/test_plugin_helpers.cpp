// The Unreal plugin's engine-independent helpers (Source/RealMaster/Private/Core), compiled against
// the bridge headers and driven against a real bridge session.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "RealMasterFrameLayout.h"
#include "RealMasterReadbackRing.h"
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
	EXPECT_EQ(r.calls, 2);
	EXPECT_TRUE(r.status.ok()) << r.status.message;
	EXPECT_EQ(applier.Apply(d, *session).calls, 0);

	// A bad value reaches the session once, its error is reported once, and it is not retried.
	d.strength = std::nanf("");
	r = applier.Apply(d, *session);
	EXPECT_EQ(r.calls, 1);
	EXPECT_TRUE(r.status.is(realmaster::StatusCode::Config)) << r.status.message;

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
