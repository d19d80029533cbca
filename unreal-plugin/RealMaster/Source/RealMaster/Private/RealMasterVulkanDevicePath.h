// The Vulkan device path, engine side: Unreal's VkInstance, VkDevice, graphics queue and images
// (IVulkanDynamicRHI) handed to realmaster::VulkanSession, which enhances the frame on the GPU; only
// the model's tensors cross to the CPU. The readback path stays the fallback (D3D12, or any failure
// here, reported once). What needs no engine is in Core/RealMasterDevicePath.h and
// Core/RealMasterPromptGate.h (tested outside Unreal); this class only talks to the RHI.
//
// How the bridge's contract (cpp-bridge/README.md, "The device path on a Vulkan host") is met:
// - Extensions: requested from Unreal before it creates its VkDevice (RequestDeviceExtensions, at
//   module startup) and checked with VulkanSession::missingDeviceExtensions before the session is made.
// - Queue: Unreal's graphics queue. process() runs where Unreal submits to that queue: from 5.6 on the
//   RHI's submission thread (IVulkanDynamicRHI::RHIRunOnQueue), after all work recorded before the
//   render-graph pass has been submitted; before 5.6 on the render thread with the RHI thread flushed
//   (then nothing else submits). The session is destroyed the same way (its drop waits on the queue).
// - Layouts: the render-graph pass declares the inputs SRVCompute and the output UAVCompute, which
//   Unreal's Vulkan RHI turns into SHADER_READ_ONLY_OPTIMAL (sampled colour images) and GENERAL, with
//   barriers from the producers' writes to compute-shader reads; the runtime leaves them so, and the
//   composite's transition to SRV orders its reads after the runtime's compute writes.
// - Images: persistent textures (colour capture, pack-shader G-buffers, output) registered once, again
//   after a resize, and released before the session goes.
#pragma once

#include "CoreMinimal.h"
#include "RHI.h"
#include "RealMasterDevicePath.h"
#include "RealMasterPromptGate.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

class FRHICommandListImmediate;

class FRealMasterVulkanDevicePath : public TSharedFromThis<FRealMasterVulkanDevicePath, ESPMode::ThreadSafe>
{
public:
	using FRef = TSharedPtr<FRealMasterVulkanDevicePath, ESPMode::ThreadSafe>;

	/** Module startup, before the RHI exists: ask Unreal to enable the device extensions the runtime uses. */
	static void RequestDeviceExtensions();

	/** Render thread: what decides between the device path and the readback path in this process. */
	static RealMasterCore::FramePathInputs Probe(bool bEnabledByUser);

	/** Render thread: Unreal's Vulkan objects as the bridge takes them; false (and why) when not possible. */
	static bool DescribeHost(RealMasterCore::VulkanHostDesc& OutHost, FString& OutWhy);

	/** Render thread: VkImage, size and VkFormat of a texture (all zero off Vulkan). */
	static RealMasterCore::DeviceImageDesc DescribeImage(FRHITexture* Texture);

	/** Background thread: checks the device's extensions, then creates the session (loads the model). */
	static FRef Create(const RealMasterCore::VulkanHostDesc& Host, const realmaster::Config& Config,
	                   realmaster::Status& OutStatus);

	/**
	 * Render thread: destroy the session where Unreal submits to the queue, after the frames queued before.
	 * Inside a render-graph pass (bWait false) or at shutdown outside any graph (bWait true: returns once
	 * the session is gone).
	 */
	static void Destroy(FRHICommandListImmediate& RHICmdList, FRef Path, bool bWait);

	explicit FRealMasterVulkanDevicePath(std::unique_ptr<realmaster::VulkanSession> InSession);
	~FRealMasterVulkanDevicePath();

	/** Render thread, at graph setup: a ticket for this frame, or null while a prompt is being applied. */
	RealMasterCore::FrameGate::TicketRef TryScheduleFrame() { return Gate.TrySchedule(); }

	/**
	 * Render thread, inside a render-graph pass that declared the frame's accesses: processes the frame
	 * where Unreal submits to the graphics queue, after the work recorded so far and before what follows.
	 * Light is the scene's light in the view space of the packed normals (none: the runtime's fallback).
	 * KeepAlive holds the textures until the queue is done with the frame.
	 */
	void EnqueueProcess(FRHICommandListImmediate& RHICmdList, const RealMasterCore::DeviceFrameImages& Images,
	                    bool bCameraCut, const std::optional<realmaster::SceneLight>& Light,
	                    RealMasterCore::FrameGate::TicketRef Ticket, TArray<FTextureRHIRef> KeepAlive);

	/** Background thread: apply a prompt (free text is encoded here). Waits for the frames already
	 *  scheduled; frames scheduled meanwhile pass through. */
	realmaster::Status ApplyPrompt(const std::string& Prompt);

	/**
	 * Render thread: strength, the upsample's ridge and mode change live. The values are handed to the queue thread and
	 * applied before the next frame is processed (no wait on a frame in flight); a refused value is reported through
	 * the snapshot's health. Named like realmaster::Session's setters so the settings applier drives both paths alike.
	 */
	realmaster::Status setStrength(float Strength);
	realmaster::Status setUpsampleEps(float Eps);
	realmaster::Status setMode(realmaster::Mode Mode);

	/** Any thread: this path cannot go on (an image the runtime refused); the readback path takes over. */
	void MarkFailed(const FString& Why);
	bool HasFailed() const { return bFailed.load(std::memory_order_acquire); }
	FString GetFailure() const;

	/** Counters and health as of the last processed frame (the session itself is busy on another thread). */
	struct FSnapshot
	{
		realmaster::Stats Stats;
		realmaster::Status Health;
		uint64 FramesProcessed = 0;
		uint64 LastTransferBytes = 0;
	};
	FSnapshot GetSnapshot() const;
	/** Frames that passed through because a prompt was being applied. */
	uint64 GetFramesRefused() const { return Gate.Refused(); }

private:
	void Process_QueueThread(const RealMasterCore::DeviceFrameImages& Images, bool bCameraCut,
	                         const std::optional<realmaster::SceneLight>& Light);
	void DestroySession_QueueThread();
	void UpdateSnapshot_Locked(uint64 TransferBytes, bool bCountFrame);

	/** Serialises every call into the session (it is not thread-safe). */
	std::mutex SessionMutex;
	std::unique_ptr<realmaster::VulkanSession> Session;
	RealMasterCore::DeviceImageRegistry Registry;
	RealMasterCore::FrameGate Gate;

	mutable FCriticalSection SnapshotLock;
	FSnapshot Snapshot;
	FString Failure;
	std::atomic<bool> bFailed{false};

	/** Settings waiting for the queue thread (applied under SessionMutex before the next frame). */
	std::atomic<float> PendingStrength{-1.0f};
	std::atomic<float> PendingUpsampleEps{-1.0f};
	std::atomic<int> PendingMode{-1};
};
