// Owns the RealMaster session on the render thread: reads the console variables every frame, chooses
// how frames reach the runtime (the Vulkan device path where the RHI allows it, otherwise reading them
// back to the CPU), (re)creates the session off the render thread when the model, execution provider or
// path changes, hands prompt changes to a background worker (setPrompt encodes free text, which must
// not run on the render thread), and publishes status for the editor panel and `stat RealMaster`.
#pragma once

#include "CoreMinimal.h"
#include "RealMasterDevicePath.h"
#include "RealMasterModule.h"
#include "RealMasterPromptGate.h"
#include "RealMasterSettingsModel.h"
#include "RealMasterVulkanDevicePath.h"

#include <atomic>
#include <memory>
#include <string>

class FRDGBuilder;

/** The session a view family renders with: at most one of the two is set (none: frames pass through). */
struct FRealMasterFrameSession
{
	/** Readback path: a thread-safe session, valid for this view family's graph. */
	realmaster::Session* Readback = nullptr;
	/** Vulkan device path. */
	FRealMasterVulkanDevicePath::FRef Device;

	bool IsValid() const { return Readback != nullptr || Device.IsValid(); }
};

class FRealMasterRuntime
{
public:
	/** @param InOrtLibrary full path of the staged ONNX Runtime library; @param InDefaultModelDir used when
	 * r.RealMaster.Model is empty */
	FRealMasterRuntime(FString InOrtLibrary, FString InDefaultModelDir);
	~FRealMasterRuntime();

	/**
	 * Render thread, once per view family: apply the console variables. Returns the session to use this
	 * frame, or none (disabled, still loading, or creation failed: the frame passes through). A device-path
	 * session being retired is destroyed by a pass added to GraphBuilder (where Unreal submits to the queue).
	 */
	FRealMasterFrameSession Update_RenderThread(FRDGBuilder& GraphBuilder);

	bool IsCinematic_RenderThread() const { return Current.mode == realmaster::Mode::Cinematic; }

	/** Render thread: copy the session's counters into the status snapshot and the stat group. */
	void PublishStats_RenderThread(uint64 CapturesSkipped);

	/** Any thread. */
	FRealMasterStatus GetStatus() const;

	/** Render thread: destroy the session (its threads are joined off the render thread). */
	void Shutdown_RenderThread();

private:
	/** A prompt change for the background worker, with the session it belongs to. */
	struct FPromptJob
	{
		std::shared_ptr<realmaster::Session> Readback;
		FRealMasterVulkanDevicePath::FRef Device;
		std::string Text;
	};
	using FPromptMailbox = RealMasterCore::LatestWinsMailbox<FPromptJob>;
	/** The worker's last error, picked up by the render thread for the status. */
	struct FPromptErrors
	{
		FCriticalSection Lock;
		FString Message;
	};

	void StartCreate(const RealMasterCore::DesiredSettings& Desired);
	/** GraphBuilder: retire a device-path session in this graph; null: destroy it now (shutdown). */
	void RetireSession(FRDGBuilder* GraphBuilder);
	void PostPrompt(std::string Text);
	void WaitForPromptWorkers() const;
	void SetMessage(const FString& Message);

	const FString OrtLibrary;
	const FString DefaultModelDir;

	/** Readback path session: shared with prompt workers, destroyed by whoever holds it last (never the
	 *  render thread while running). */
	std::shared_ptr<realmaster::Session> Session;
	/** Vulkan device path session (destroyed where Unreal submits to the graphics queue). */
	FRealMasterVulkanDevicePath::FRef Device;
	RealMasterCore::SettingsApplier Applier;
	RealMasterCore::ErrorLatch Errors;
	RealMasterCore::DesiredSettings Current;
	RealMasterCore::FramePathChooser Paths;

	/** A creation running on a background thread: loading a model and opening the GPU take too long for
	 *  the render thread. Shared with that task; `bDone` publishes the other fields. */
	struct FCreation
	{
		std::atomic<bool> bDone{false};
		bool bTriedDevice = false;
		FRealMasterVulkanDevicePath::FRef Device;
		realmaster::Status DeviceStatus;
		std::shared_ptr<realmaster::Session> Session;
		realmaster::Status Status;
		RealMasterCore::DesiredSettings Settings;
	};
	TSharedPtr<FCreation, ESPMode::ThreadSafe> Creation;
	/** Sessions being destroyed on background threads (joins their workers); waited for at shutdown. */
	TSharedRef<std::atomic<int32>, ESPMode::ThreadSafe> Retiring =
	    MakeShared<std::atomic<int32>, ESPMode::ThreadSafe>(0);
	/** Model + EP key of the last failed creation: not retried until the settings change. */
	std::string FailedKey;

	TSharedRef<FPromptMailbox, ESPMode::ThreadSafe> Prompts = MakeShared<FPromptMailbox, ESPMode::ThreadSafe>();
	TSharedRef<std::atomic<int32>, ESPMode::ThreadSafe> PromptWorkers =
	    MakeShared<std::atomic<int32>, ESPMode::ThreadSafe>(0);
	TSharedRef<FPromptErrors, ESPMode::ThreadSafe> PromptErrors = MakeShared<FPromptErrors, ESPMode::ThreadSafe>();

	mutable FCriticalSection StatusLock;
	FRealMasterStatus Status;
};
