// Engine-independent settings logic of the RealMaster plugin: console-variable parsing, the
// weather presets, and applying changed settings to a session exactly once (prompts are handed back
// to be applied off the render thread: setPrompt encodes free text). Compiled by the plugin and,
// outside Unreal, by unreal-plugin/tests (CMake target realmaster_plugin_helpers_tests).
#pragma once

#include <array>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "realmaster/realmaster.hpp"

namespace RealMasterCore
{

/// Presets the editor panel offers; the shipped model's presets.json has an embedding for each.
constexpr std::array<std::string_view, 6> kWeatherPresets = {"clear", "rain", "fog", "snow", "night", "golden_hour"};

/// Execution providers the runtime understands (r.RealMaster.ExecutionProvider).
constexpr std::array<std::string_view, 6> kExecutionProviders = {"auto",     "tensorrt", "cuda",
                                                                 "directml", "coreml",   "cpu"};

inline std::string Trim(std::string_view s)
{
	std::size_t b = 0, e = s.size();
	while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
	{
		++b;
	}
	while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
	{
		--e;
	}
	return std::string(s.substr(b, e - b));
}

inline std::string Lower(std::string_view s)
{
	std::string r(s);
	for (char& c : r)
	{
		c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	}
	return r;
}

/// Execution providers a running session reports (realmaster::Stats::executionProvider), in the
/// order `stat RealMaster` lists them (one 0/1 line each: the stats system shows numbers only).
constexpr std::array<std::string_view, 5> kReportedExecutionProviders = {"tensorrt", "cuda", "directml", "coreml",
                                                                         "cpu"};

/// Index of `ep` in kReportedExecutionProviders (case-insensitive), or -1 for "none" / unknown.
inline int ReportedExecutionProviderIndex(std::string_view ep)
{
	const std::string l = Lower(ep);
	for (std::size_t i = 0; i < kReportedExecutionProviders.size(); ++i)
	{
		if (l == kReportedExecutionProviders[i])
		{
			return static_cast<int>(i);
		}
	}
	return -1;
}

/// r.RealMaster.Mode: "realtime" / "cinematic" (any case, surrounding spaces ignored), or 0 / 1.
inline std::optional<realmaster::Mode> ParseMode(std::string_view text)
{
	const std::string t = Lower(Trim(text));
	if (t == "realtime" || t == "real-time" || t == "0")
	{
		return realmaster::Mode::Realtime;
	}
	if (t == "cinematic" || t == "1")
	{
		return realmaster::Mode::Cinematic;
	}
	return std::nullopt;
}

inline const char* ModeName(realmaster::Mode m)
{
	return m == realmaster::Mode::Cinematic ? "cinematic" : "realtime";
}

/// r.RealMaster.Strength: clamped to 0..1; NaN/Inf are refused (keep the previous value).
inline std::optional<float> ParseStrength(float value)
{
	if (!std::isfinite(value))
	{
		return std::nullopt;
	}
	return value < 0.0f ? 0.0f : (value > 1.0f ? 1.0f : value);
}

/// The runtime's range for the guided upsample's ridge (realmaster::Config::upsampleEps).
constexpr float kMinUpsampleEps = 1e-6f;
constexpr float kMaxUpsampleEps = 1.0f;

/// r.RealMaster.UpsampleEps: clamped to the runtime's range; NaN/Inf are refused (keep the previous
/// value).
inline std::optional<float> ParseUpsampleEps(float value)
{
	if (!std::isfinite(value))
	{
		return std::nullopt;
	}
	return value < kMinUpsampleEps ? kMinUpsampleEps : (value > kMaxUpsampleEps ? kMaxUpsampleEps : value);
}

/// The ridge values the editor panel offers as buttons, most engine detail first (the first is the
/// runtime's default). docs/photoreal.md measures them on held-out clips: 1e-3 keeps the engine frame's
/// fine edges; 1e-5 follows the model's picture (+0.08-0.11 dB mean PSNR, fewer of the engine's edges).
struct UpsampleEpsStep
{
	float value;
	std::string_view label;
	std::string_view tip;
};
constexpr std::array<UpsampleEpsStep, 3> kUpsampleEpsSteps = {{
    {1e-3f, "Engine detail (default)", "Keeps the engine frame's fine edges at their own contrast (ridge 1e-3)."},
    {1e-4f, "Between", "Ridge 1e-4."},
    {1e-5f, "Model's picture", "Follows the model's picture closely; fewer of the engine's fine edges (ridge 1e-5)."},
}};

/// r.RealMaster.ExecutionProvider: one of kExecutionProviders (any case); empty = "auto".
inline std::optional<std::string> ParseExecutionProvider(std::string_view text)
{
	std::string t = Lower(Trim(text));
	if (t.empty())
	{
		t = "auto";
	}
	for (std::string_view ep : kExecutionProviders)
	{
		if (t == ep)
		{
			return t;
		}
	}
	return std::nullopt;
}

/// r.RealMaster.Prompt: trimmed; a preset name is matched case-insensitively and normalised.
inline std::string NormalisePrompt(std::string_view text)
{
	std::string t = Trim(text);
	const std::string l = Lower(t);
	for (std::string_view p : kWeatherPresets)
	{
		if (l == p)
		{
			return std::string(p);
		}
	}
	return t;
}

/// What the console variables ask for, read once per frame on the render thread.
struct DesiredSettings
{
	bool enable = false;
	float strength = 1.0f;
	/// The guided upsample's ridge (realmaster::Config::upsampleEps); changes live.
	float upsampleEps = 1e-3f;
	std::string prompt = "clear";
	realmaster::Mode mode = realmaster::Mode::Realtime;
	std::string modelDir;
	std::string executionProvider = "auto";
	/// r.RealMaster.DevicePath: use the Vulkan device path where the RHI allows it.
	bool devicePath = true;
	/// r.RealMaster.ExposureLock: hold the output to the model's teacher's exposure rule
	/// (realmaster::Config::exposureLock); chosen when the model loads.
	bool exposureLock = false;
};

/// Reports an error the first time it is seen, not every frame (the engine log stays readable).
class ErrorLatch
{
public:
	/// True if `message` differs from the last one reported.
	bool ShouldReport(const std::string& message)
	{
		if (message == last_)
		{
			return false;
		}
		last_ = message;
		return true;
	}
	void Clear() { last_.clear(); }

private:
	std::string last_;
};

/// What a session can change while it runs: both paths' sessions change strength, the upsample's
/// ridge and mode live; a session marked otherwise is recreated to change them.
struct LiveSettings
{
	bool strength = true;
	bool mode = true;
	bool upsampleEps = true;
};

/// Tracks what was applied to the current session so each change costs one call.
class SettingsApplier
{
public:
	struct Result
	{
		/// A setting the session cannot change live changed (model, execution provider, or a setting
		/// marked as not live in MarkCreated): the session must be recreated with NewConfig().
		bool recreate = false;
		/// The first failure of this update (strength, ridge, mode), if any.
		realmaster::Status status;
		int calls = 0; // bridge calls made (for tests and stats)
		/// The prompt changed: apply it with setPrompt off the render thread (free text is encoded
		/// there, which can take far longer than a frame). Recorded as applied.
		std::optional<std::string> prompt;
	};

	/// Session configuration for the desired settings (used when (re)creating the session).
	static realmaster::Config NewConfig(const DesiredSettings& d, const std::string& ortLibrary)
	{
		realmaster::Config c;
		c.modelDir = d.modelDir;
		c.executionProvider = d.executionProvider;
		c.ortLibrary = ortLibrary;
		c.strength = d.strength;
		c.upsampleEps = d.upsampleEps;
		c.prompt = d.prompt;
		c.mode = d.mode;
		c.exposureLock = d.exposureLock;
		return c;
	}

	/// Call after (re)creating the session from NewConfig(d): everything in `d` is applied.
	void MarkCreated(const DesiredSettings& d, LiveSettings live = LiveSettings{})
	{
		applied_ = d;
		live_ = live;
		hasSession_ = true;
	}
	void MarkDestroyed() { hasSession_ = false; }

	/// `SessionT` has setStrength/setUpsampleEps/setMode returning realmaster::Status: realmaster::Session, the
	/// Vulkan device path, or a test double. Settings the session was marked as not changing live ask
	/// for a recreation instead of a call.
	template <typename SessionT> Result Apply(const DesiredSettings& d, SessionT& session)
	{
		Result r = Compare(d, live_);
		if (r.recreate)
		{
			return r;
		}
		auto note = [&r](const realmaster::Status& s)
		{
			++r.calls;
			if (!s.ok() && r.status.ok())
			{
				r.status = s;
			}
		};
		// A refused value is still recorded as applied: it is reported once, not retried every frame.
		if (d.strength != applied_.strength)
		{
			note(session.setStrength(d.strength));
			applied_.strength = d.strength;
		}
		if (d.upsampleEps != applied_.upsampleEps)
		{
			note(session.setUpsampleEps(d.upsampleEps));
			applied_.upsampleEps = d.upsampleEps;
		}
		if (d.mode != applied_.mode)
		{
			note(session.setMode(d.mode));
			applied_.mode = d.mode;
		}
		return r;
	}

	/// For a session that changes only its prompt live: a strength, ridge or mode change asks for a
	/// recreation, and no bridge call is made here.
	Result ApplyWithoutSession(const DesiredSettings& d) { return Compare(d, LiveSettings{false, false, false}); }

private:
	/// Recreation and the prompt hand-back, shared by both Apply variants.
	Result Compare(const DesiredSettings& d, LiveSettings live)
	{
		Result r;
		if (!hasSession_ || d.modelDir != applied_.modelDir || d.executionProvider != applied_.executionProvider ||
		    d.exposureLock != applied_.exposureLock || (!live.upsampleEps && d.upsampleEps != applied_.upsampleEps) ||
		    (!live.strength && d.strength != applied_.strength) || (!live.mode && d.mode != applied_.mode))
		{
			r.recreate = true;
			return r;
		}
		if (d.prompt != applied_.prompt)
		{
			r.prompt = d.prompt;
			applied_.prompt = d.prompt;
		}
		return r;
	}

	DesiredSettings applied_;
	LiveSettings live_;
	bool hasSession_ = false;
};

} // namespace RealMasterCore
