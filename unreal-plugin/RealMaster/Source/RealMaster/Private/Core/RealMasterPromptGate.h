// Engine-independent thread plumbing for prompts, which the bridge encodes inside setPrompt (free
// text runs the model's text encoder): that must never happen on the render thread.
// - LatestWinsMailbox: the render thread posts each prompt change; one background worker at a time
//   applies them, and a change posted while an older one waits replaces it (only the newest matters).
// - FrameGate: realmaster::VulkanSession is not thread-safe, so its frames (processed where Unreal
//   submits to the graphics queue) and its prompt changes (a background worker) must not overlap,
//   and neither side may make the other wait for an encode or a frame. The render thread takes a
//   ticket per frame and gets none while a prompt is waiting or being applied (that frame passes
//   through); the worker takes the session once the tickets already handed out are returned.
// Compiled by the plugin and, outside Unreal, by unreal-plugin/tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace RealMasterCore
{

template <typename T> class LatestWinsMailbox
{
public:
	/// Leave `value` for the worker, replacing one it has not taken yet. True: no worker is running and
	/// the caller must start one (which calls Take until it returns nothing).
	bool Post(T value)
	{
		std::lock_guard<std::mutex> lock(mutex_);
		pending_ = std::move(value);
		if (running_)
		{
			return false;
		}
		running_ = true;
		return true;
	}

	/// Worker: the next value to apply, or nothing, in which case the worker ends (a later Post starts
	/// a new one).
	std::optional<T> Take()
	{
		std::lock_guard<std::mutex> lock(mutex_);
		if (!pending_)
		{
			running_ = false;
			return std::nullopt;
		}
		std::optional<T> next = std::move(pending_);
		pending_.reset();
		return next;
	}

	/// No worker running and nothing waiting.
	bool Idle() const
	{
		std::lock_guard<std::mutex> lock(mutex_);
		return !running_ && !pending_;
	}

private:
	mutable std::mutex mutex_;
	std::optional<T> pending_;
	bool running_ = false;
};

class FrameGate
{
	struct Shared
	{
		std::mutex mutex;
		std::condition_variable changed;
		std::size_t inFlight = 0;
		/// A worker asked for the session (or holds it): no new tickets.
		bool exclusive = false;
		std::uint64_t refused = 0;
	};

public:
	/// One scheduled frame. Returned when the last copy goes away (processed, or dropped unprocessed).
	class Ticket
	{
	public:
		explicit Ticket(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
		Ticket(const Ticket&) = delete;
		Ticket& operator=(const Ticket&) = delete;
		~Ticket()
		{
			std::lock_guard<std::mutex> lock(shared_->mutex);
			--shared_->inFlight;
			shared_->changed.notify_all();
		}

	private:
		std::shared_ptr<Shared> shared_;
	};
	using TicketRef = std::shared_ptr<Ticket>;

	FrameGate() : shared_(std::make_shared<Shared>()) {}

	/// Render thread: a ticket for this frame, or null while a prompt is waiting or being applied (the
	/// frame then passes through untouched). Never waits.
	TicketRef TrySchedule()
	{
		std::lock_guard<std::mutex> lock(shared_->mutex);
		if (shared_->exclusive)
		{
			++shared_->refused;
			return nullptr;
		}
		++shared_->inFlight;
		return std::make_shared<Ticket>(shared_);
	}

	/// Worker: stop handing out tickets and wait until those handed out are returned. False after
	/// `timeout` (tickets are handed out again; the caller gives up or retries).
	bool BeginExclusive(std::chrono::milliseconds timeout)
	{
		std::unique_lock<std::mutex> lock(shared_->mutex);
		shared_->exclusive = true;
		const bool drained = shared_->changed.wait_for(lock, timeout,
		                                               [this]
		                                               {
			                                               return shared_->inFlight == 0;
		                                               });
		if (!drained)
		{
			shared_->exclusive = false;
		}
		return drained;
	}

	/// Worker: done with the session; frames are scheduled again.
	void EndExclusive()
	{
		std::lock_guard<std::mutex> lock(shared_->mutex);
		shared_->exclusive = false;
	}

	std::size_t InFlight() const
	{
		std::lock_guard<std::mutex> lock(shared_->mutex);
		return shared_->inFlight;
	}
	/// Frames that passed through because a prompt was being applied.
	std::uint64_t Refused() const
	{
		std::lock_guard<std::mutex> lock(shared_->mutex);
		return shared_->refused;
	}

private:
	std::shared_ptr<Shared> shared_;
};

/// Holds a FrameGate exclusively for its scope (if it got it in time).
class FrameGateExclusive
{
public:
	FrameGateExclusive(FrameGate& gate, std::chrono::milliseconds timeout)
	    : gate_(gate), held_(gate.BeginExclusive(timeout))
	{
	}
	FrameGateExclusive(const FrameGateExclusive&) = delete;
	FrameGateExclusive& operator=(const FrameGateExclusive&) = delete;
	~FrameGateExclusive()
	{
		if (held_)
		{
			gate_.EndExclusive();
		}
	}
	bool Held() const { return held_; }

private:
	FrameGate& gate_;
	bool held_;
};

} // namespace RealMasterCore
