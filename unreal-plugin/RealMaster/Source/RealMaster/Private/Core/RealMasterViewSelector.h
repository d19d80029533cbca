// Engine-independent choice of the one view RealMaster enhances. The runtime keeps temporal
// history (previous frames, motion) for a single camera, so frames from several views must never
// be interleaved: the first view that asks owns the session; another view takes over only once the
// owner has not rendered for a few frames (its viewport closed, PIE ended, a Movie Render Queue job
// started). Views without persistent state (key 0: thumbnails, one-off captures) pass through.
#pragma once

#include <cstdint>

namespace RealMasterCore
{

class ViewSelector
{
public:
	enum class Decision
	{
		/// This view owns the session: capture and composite as usual.
		Process,
		/// This view just took ownership: drop in-flight readbacks and treat the frame as a camera cut.
		ProcessAfterSwitch,
		/// Another view owns the session: leave this view untouched.
		Skip
	};

	/// @param staleFrames frames without the owner before another view may take over (at least 1)
	explicit ViewSelector(std::uint64_t staleFrames = 2) : staleFrames_(staleFrames == 0 ? 1 : staleFrames) {}

	/// `viewKey`: a stable identity of the view across frames (the engine's view-state pointer);
	/// `frame`: the engine frame number, non-decreasing.
	Decision Select(std::uintptr_t viewKey, std::uint64_t frame)
	{
		if (viewKey == 0)
		{
			return Decision::Skip;
		}
		if (hasOwner_ && viewKey == owner_)
		{
			lastSeen_ = frame;
			return Decision::Process;
		}
		if (hasOwner_ && frame < lastSeen_ + staleFrames_)
		{
			return Decision::Skip;
		}
		owner_ = viewKey;
		lastSeen_ = frame;
		const bool first = !hasOwner_;
		hasOwner_ = true;
		++switches_;
		return first ? Decision::Process : Decision::ProcessAfterSwitch;
	}

	/// Forget the owner (session recreated, plugin disabled): the next view to ask owns it.
	void Reset() { hasOwner_ = false; }

	bool HasOwner() const { return hasOwner_; }
	std::uintptr_t Owner() const { return hasOwner_ ? owner_ : 0; }
	/// How many times ownership was taken (the first claim included).
	std::uint64_t Switches() const { return switches_; }

private:
	std::uint64_t staleFrames_;
	std::uintptr_t owner_ = 0;
	std::uint64_t lastSeen_ = 0;
	std::uint64_t switches_ = 0;
	bool hasOwner_ = false;
};

} // namespace RealMasterCore
