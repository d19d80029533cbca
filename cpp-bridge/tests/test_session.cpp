// Session lifecycle, settings and status reporting: what an engine sees before any frame.
#include <limits>
#include <type_traits>

#include "test_util.hpp"

using realmaster::Config;
using realmaster::Mode;
using realmaster::Session;
using realmaster::Status;
using realmaster::StatusCode;

static_assert(!std::is_copy_constructible_v<Session>, "a session owns worker threads: no copies");
static_assert(!std::is_copy_assignable_v<Session>);

TEST(Session, CreatesWithoutModelAndSaysItPassesThrough) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  const Status h = s->health();
  EXPECT_FALSE(h.ok());
  EXPECT_FALSE(h.message.empty());
  EXPECT_NE(h.message.find("fix"), std::string::npos) << h.message;
  EXPECT_EQ(s->executionProvider(), "none");
  EXPECT_FALSE(realmaster::version().empty());
}

TEST(Session, DefaultConfigComesFromTheRuntime) {
  const Config c;
  EXPECT_EQ(c.executionProvider, "auto");
  EXPECT_EQ(c.backend, "auto");
  EXPECT_TRUE(c.modelDir.empty());
  EXPECT_EQ(c.mode, Mode::Realtime);
  EXPECT_GE(c.strength, 0.0f);
  EXPECT_LE(c.strength, 1.0f);
  EXPECT_GT(c.promptBlendFrames, 0u);
  EXPECT_GT(c.temporalAlpha, 0.0f);
  EXPECT_FLOAT_EQ(c.upsampleEps, 1e-3f);
  EXPECT_FALSE(c.exposureLock);
  // and it crosses the bridge both ways
  Config on = c;
  on.exposureLock = true;
  EXPECT_TRUE(Config::fromFfi(on.toFfi()).exposureLock);
  EXPECT_FALSE(Config::fromFfi(c.toFfi()).exposureLock);
}

TEST(Session, RefusesAnUpsampleEpsOutsideItsRangeAtCreation) {
  for (const float eps : {0.0f, 2.0f, std::numeric_limits<float>::quiet_NaN()}) {
    Config c = rmtest::passthroughConfig();
    c.upsampleEps = eps;
    Status st;
    auto s = Session::create(c, st);
    EXPECT_EQ(s, nullptr) << eps;
    EXPECT_TRUE(st.is(StatusCode::Config)) << st.code << " " << st.message;
    EXPECT_NE(st.message.find("upsample_eps"), std::string::npos) << st.message;
  }
}

TEST(Session, RefusesOutOfRangeStrengthAtCreation) {
  Config c = rmtest::passthroughConfig();
  c.strength = 2.0f;
  Status st;
  auto s = Session::create(c, st);
  EXPECT_EQ(s, nullptr);
  EXPECT_TRUE(st.is(StatusCode::Config)) << st.code << " " << st.message;
  EXPECT_NE(st.message.find("strength"), std::string::npos) << st.message;
}

TEST(Session, RefusesHalfSpecifiedModelSize) {
  Config c = rmtest::passthroughConfig();
  c.modelWidth = 64;
  Status st;
  EXPECT_EQ(Session::create(c, st), nullptr);
  EXPECT_TRUE(st.is(StatusCode::Config)) << st.message;
}

TEST(Session, MissingModelFolderIsAnErrorNamingThePath) {
  Config c = rmtest::passthroughConfig();
  c.modelDir = "/nonexistent/realmaster-model-for-test";
  Status st;
  EXPECT_EQ(Session::create(c, st), nullptr);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message.find("realmaster-model-for-test"), std::string::npos) << st.message;
}

TEST(Session, StrengthMustBeFiniteAndInRange) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->setStrength(0.5f).ok());
  EXPECT_TRUE(s->setStrength(0.0f).ok());
  EXPECT_TRUE(s->setStrength(1.0f).ok());
  for (float bad : {-0.1f, 1.5f, std::nanf(""), INFINITY}) {
    const Status st = s->setStrength(bad);
    EXPECT_TRUE(st.is(StatusCode::Config)) << bad << ": " << st.message;
  }
}

TEST(Session, UpsampleEpsChangesLiveWithinItsRange) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->setUpsampleEps(1e-5f).ok());
  EXPECT_TRUE(s->setUpsampleEps(1e-6f).ok());
  EXPECT_TRUE(s->setUpsampleEps(1.0f).ok());
  for (float bad : {0.0f, 2.0f, std::nanf(""), INFINITY}) {
    const Status st = s->setUpsampleEps(bad);
    EXPECT_TRUE(st.is(StatusCode::Config)) << bad << ": " << st.message;
    EXPECT_NE(st.message.find("upsample_eps"), std::string::npos) << st.message;
  }
}

TEST(Session, PromptMustBeUtf8) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->setPrompt("rain").ok());
  const Status st = s->setPrompt(std::string("\xff\xfe rain", 7));
  EXPECT_TRUE(st.is(StatusCode::Prompt)) << st.code << " " << st.message;
  EXPECT_NE(st.message.find("UTF-8"), std::string::npos) << st.message;
}

TEST(Session, ModeAndHistoryCalls) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->setMode(Mode::Realtime).ok());
  EXPECT_TRUE(s->setMode(Mode::Cinematic).ok());
  EXPECT_TRUE(s->resetHistory().ok());
  // A value C++ can produce but the enum does not name must be refused, not crash.
  const Status st = s->setMode(static_cast<Mode>(9));
  EXPECT_TRUE(st.is(StatusCode::Config)) << st.message;
}

TEST(Session, StatsStartAtZero) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  const auto st = s->stats();
  EXPECT_EQ(st.framesSubmitted, 0u);
  EXPECT_EQ(st.framesOutput, 0u);
  EXPECT_EQ(st.framesDropped, 0u);
  EXPECT_EQ(st.framesEnhanced, 0u);
  EXPECT_EQ(st.framesReprojected, 0u);
  EXPECT_EQ(st.framesFailed, 0u);
  EXPECT_EQ(st.modelFaults, 0u);
  EXPECT_EQ(st.framesSanitized, 0u);
  EXPECT_EQ(st.executionProvider, "none");
  EXPECT_EQ(st.backend, "none");
  realmaster::Output out;
  EXPECT_FALSE(s->latestOutput(out)) << "no output before the first frame";
}

// The Vulkan device path refuses null handles with a status naming them (no exception, no
// abort); the real path runs in rust/realmaster-ffi/tests/vulkan_bridge.rs on a host's device.
TEST(VulkanSession, NullHandlesAreRefusedWithAReason) {
  realmaster::VulkanSession::Handles handles{};
  realmaster::Status st;
  const auto missing = realmaster::VulkanSession::missingDeviceExtensions(handles, st);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(missing.empty());
  EXPECT_NE(st.message.find("handle is 0"), std::string::npos) << st.message;
  auto s = realmaster::VulkanSession::create(handles, realmaster::Config{}, st);
  EXPECT_EQ(s, nullptr);
  EXPECT_TRUE(st.is(StatusCode::Config)) << st.message;
}
