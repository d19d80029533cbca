// Owns the RealMaster session on the render thread: reads the console variables every frame,
// (re)creates the session off the render thread when the model or execution provider changes, and
// publishes status for the editor panel and `stat RealMaster`.
#pragma once

#include "CoreMinimal.h"
#include "RealMasterModule.h"
#include "RealMasterSettingsModel.h"

#include <atomic>
#include <memory>

class FRealMasterRuntime
{
public:
	/** @param InOrtLibrary full path of the staged ONNX Runtime library; @param InDefaultModelDir used when
	 * r.RealMaster.Model is empty */
	FRealMasterRuntime(FString InOrtLibrary, FString InDefaultModelDir);
	~FRealMasterRuntime();

	/**
	 * Render thread, once per view family: apply the console variables. Returns the session to use this
	 * frame, or null (disabled, still loading, or creation failed: the frame passes through).
	 */
	realmaster::Session* Update_RenderThread();

	bool IsCinematic_RenderThread() const { return Current.mode == realmaster::Mode::Cinematic; }

	/** Render thread: copy the session's counters into the status snapshot and the stat group. */
	void PublishStats_RenderThread(uint64 CapturesSkipped);

	/** Any thread. */
	FRealMasterStatus GetStatus() const;

	/** Render thread: destroy the session (its threads are joined off the render thread). */
	void Shutdown_RenderThread();

private:
	void StartCreate(const RealMasterCore::DesiredSettings& Desired);
	void RetireSession();
	void SetMessage(const FString& Message);

	const FString OrtLibrary;
	const FString DefaultModelDir;

	std::unique_ptr<realmaster::Session> Session;
	RealMasterCore::SettingsApplier Applier;
	RealMasterCore::ErrorLatch Errors;
	RealMasterCore::DesiredSettings Current;

	/** A creation running on a background thread: loading a model and opening the GPU take too long for
	 *  the render thread. Shared with that task; `bDone` publishes the other fields. */
	struct FCreation
	{
		std::atomic<bool> bDone{false};
		std::unique_ptr<realmaster::Session> Session;
		realmaster::Status Status;
		RealMasterCore::DesiredSettings Settings;
	};
	TSharedPtr<FCreation, ESPMode::ThreadSafe> Creation;
	/** Sessions being destroyed on background threads (joins their workers); waited for at shutdown. */
	TSharedRef<std::atomic<int32>, ESPMode::ThreadSafe> Retiring =
	    MakeShared<std::atomic<int32>, ESPMode::ThreadSafe>(0);
	/** Model + EP key of the last failed creation: not retried until the settings change. */
	std::string FailedKey;

	mutable FCriticalSection StatusLock;
	FRealMasterStatus Status;
};
