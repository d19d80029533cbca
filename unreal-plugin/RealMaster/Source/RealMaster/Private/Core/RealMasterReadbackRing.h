// Engine-independent bookkeeping for asynchronous GPU->CPU readbacks: a fixed ring of slots, each
// holding one frame's readback objects. The render thread acquires a free slot when it records a
// capture, marks it enqueued once the copy has been recorded on the GPU timeline, later polls which
// slots are ready, maps only the newest ready one (older ready frames would be replaced by it in
// realtime mode anyway) and never waits: when every slot is still in flight the capture is skipped
// and counted. Payload = the engine's readback objects (FRHIGPUTextureReadback, ...).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace RealMasterCore
{

template <typename Payload, std::size_t N> class ReadbackRing
{
	static_assert(N >= 2, "at least two readbacks must be able to be in flight");

public:
	struct Slot
	{
		Payload payload{};
		std::uint64_t frame = 0; // engine frame number of the capture
		bool inFlight = false;
		// Set once the copy is recorded: before that, the readback's ready state means nothing.
		bool enqueued = false;
		// Capture metadata the consumer needs once the data is mapped.
		std::uint32_t width = 0;
		std::uint32_t height = 0;
		bool cameraCut = false;
	};

	/// A free slot for a new capture, or nullptr when all N are in flight (capture skipped, counted).
	Slot* Acquire(std::uint64_t frame)
	{
		for (std::size_t i = 0; i < N; ++i)
		{
			Slot& s = slots_[(next_ + i) % N];
			if (!s.inFlight)
			{
				next_ = (next_ + i + 1) % N;
				s.inFlight = true;
				s.enqueued = false;
				s.frame = frame;
				return &s;
			}
		}
		++skippedFull_;
		return nullptr;
	}

	/// The slot's copy has been recorded; from now on its payload's ready state is meaningful.
	void MarkEnqueued(Slot* s)
	{
		if (s && s->inFlight)
		{
			s->enqueued = true;
		}
	}

	/// Give a slot back without consuming it (e.g. the copy could not be enqueued).
	void Release(Slot* s)
	{
		if (s)
		{
			s->inFlight = false;
			s->enqueued = false;
		}
	}

	/// Among enqueued slots whose `isReady(payload)` is true, hand the newest to `consume(slot)` and
	/// free it; older ready ones are freed unconsumed (counted as superseded). Never blocks.
	/// Returns true if something was consumed.
	template <typename IsReady, typename Consume> bool ConsumeNewestReady(IsReady&& isReady, Consume&& consume)
	{
		Slot* newest = nullptr;
		for (Slot& s : slots_)
		{
			if (s.inFlight && s.enqueued && isReady(s.payload) && (!newest || s.frame > newest->frame))
			{
				newest = &s;
			}
		}
		if (!newest)
		{
			return false;
		}
		for (Slot& s : slots_)
		{
			if (s.inFlight && s.enqueued && &s != newest && s.frame < newest->frame && isReady(s.payload))
			{
				Release(&s);
				++superseded_;
			}
		}
		consume(*newest);
		Release(newest);
		return true;
	}

	/// Frees every slot (resolution change, session reset); their data is discarded.
	void Reset()
	{
		for (Slot& s : slots_)
		{
			Release(&s);
		}
	}

	std::size_t InFlight() const
	{
		std::size_t n = 0;
		for (const Slot& s : slots_)
		{
			n += s.inFlight ? 1 : 0;
		}
		return n;
	}
	std::uint64_t SkippedBecauseFull() const { return skippedFull_; }
	std::uint64_t Superseded() const { return superseded_; }
	static constexpr std::size_t Capacity() { return N; }

private:
	std::array<Slot, N> slots_{};
	std::size_t next_ = 0;
	std::uint64_t skippedFull_ = 0;
	std::uint64_t superseded_ = 0;
};

} // namespace RealMasterCore
