#include "RealMasterRuntime.h"

#include "Async/Async.h"
#include "HAL/PlatformProcess.h"
#include "RealMasterCVars.h"
#include "RealMasterLog.h"
#include "Stats/Stats.h"

// `stat RealMaster`. The stats system shows numbers only, so the execution provider in use is one
// 0/1 line per provider. Totals are accumulators (kept between frames), timings are per frame.
DECLARE_STATS_GROUP(TEXT("RealMaster"), STATGROUP_RealMaster, STATCAT_Advanced);
DECLARE_FLOAT_COUNTER_STAT(TEXT("Inference (ms)"), STAT_RealMaster_InferenceMs, STATGROUP_RealMaster);
DECLARE_FLOAT_COUNTER_STAT(TEXT("Preprocess (ms)"), STAT_RealMaster_PreprocessMs, STATGROUP_RealMaster);
DECLARE_FLOAT_COUNTER_STAT(TEXT("Composite (ms)"), STAT_RealMaster_CompositeMs, STATGROUP_RealMaster);
DECLARE_DWORD_ACCUMULATOR_STAT(TEXT("Frames dropped (total)"), STAT_RealMaster_Dropped, STATGROUP_RealMaster);
DECLARE_DWORD_ACCUMULATOR_STAT(TEXT("Frames enhanced (total)"), STAT_RealMaster_Output, STATGROUP_RealMaster);
DECLARE_DWORD_ACCUMULATOR_STAT(TEXT("Captures skipped, readbacks busy (total)"), STAT_RealMaster_Skipped,
                               STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("Output latency (frames)"), STAT_RealMaster_Latency, STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("Enhancing (1) or passing through (0)"), STAT_RealMaster_Enhancing,
                           STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("EP in use: TensorRT"), STAT_RealMaster_EP_TensorRT, STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("EP in use: CUDA"), STAT_RealMaster_EP_Cuda, STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("EP in use: DirectML"), STAT_RealMaster_EP_DirectML, STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("EP in use: CoreML"), STAT_RealMaster_EP_CoreML, STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("EP in use: CPU"), STAT_RealMaster_EP_Cpu, STATGROUP_RealMaster);

namespace
{
FString FromUtf8(const std::string& S)
{
	return FString(UTF8_TO_TCHAR(S.c_str()));
}

std::string CreationKey(const RealMasterCore::DesiredSettings& D)
{
	return D.modelDir + "|" + D.executionProvider;
}
} // namespace

FRealMasterRuntime::FRealMasterRuntime(FString InOrtLibrary, FString InDefaultModelDir)
    : OrtLibrary(MoveTemp(InOrtLibrary)), DefaultModelDir(MoveTemp(InDefaultModelDir))
{
}

FRealMasterRuntime::~FRealMasterRuntime()
{
	// The module shuts the runtime down on the render thread first; this only covers early exits.
	Session.reset();
}

void FRealMasterRuntime::SetMessage(const FString& Message)
{
	FScopeLock Lock(&StatusLock);
	Status.Message = Message;
}

void FRealMasterRuntime::StartCreate(const RealMasterCore::DesiredSettings& Desired)
{
	Creation = MakeShared<FCreation, ESPMode::ThreadSafe>();
	Creation->Settings = Desired;
	const realmaster::Config Config =
	    RealMasterCore::SettingsApplier::NewConfig(Desired, std::string(TCHAR_TO_UTF8(*OrtLibrary)));
	UE_LOG(LogRealMaster, Log, TEXT("Creating a session: model '%s', execution provider %s"),
	       *FromUtf8(Desired.modelDir), *FromUtf8(Desired.executionProvider));
	AsyncTask(ENamedThreads::AnyBackgroundThreadNormalTask,
	          [C = Creation, Config]()
	          {
		          C->Session = realmaster::Session::create(Config, C->Status);
		          C->bDone.store(true, std::memory_order_release);
	          });
	FScopeLock Lock(&StatusLock);
	Status.bCreatingSession = true;
}

void FRealMasterRuntime::RetireSession()
{
	Applier.MarkDestroyed();
	if (!Session)
	{
		return;
	}
	// Dropping a session joins its worker threads (an inference in flight finishes first): not on the
	// render thread.
	Retiring->fetch_add(1);
	AsyncTask(ENamedThreads::AnyBackgroundThreadNormalTask,
	          [Old = std::move(Session), Counter = Retiring]() mutable
	          {
		          Old.reset();
		          Counter->fetch_sub(1);
	          });
}

realmaster::Session* FRealMasterRuntime::Update_RenderThread()
{
	check(IsInRenderingThread());
	const RealMasterCore::DesiredSettings Desired = RealMasterCVars::Read_RenderThread(DefaultModelDir);
	Current = Desired;
	{
		FScopeLock Lock(&StatusLock);
		Status.Mode = RealMasterCore::ModeName(Desired.mode);
		Status.Prompt = FromUtf8(Desired.prompt);
	}
	if (!Desired.enable)
	{
		RetireSession();
		return nullptr;
	}

	// Cinematic renders (Movie Render Queue) must not show pass-through frames while a model loads.
	if (Creation.IsValid() && Desired.mode == realmaster::Mode::Cinematic)
	{
		const double Deadline = FPlatformTime::Seconds() + 300.0;
		while (!Creation->bDone.load(std::memory_order_acquire) && FPlatformTime::Seconds() < Deadline)
		{
			FPlatformProcess::Sleep(0.01f);
		}
	}
	if (Creation.IsValid() && Creation->bDone.load(std::memory_order_acquire))
	{
		TSharedPtr<FCreation, ESPMode::ThreadSafe> Done = MoveTemp(Creation);
		{
			FScopeLock Lock(&StatusLock);
			Status.bCreatingSession = false;
		}
		if (Done->Session)
		{
			RetireSession();
			Session = std::move(Done->Session);
			Applier.MarkCreated(Done->Settings);
			FailedKey.clear();
			Errors.Clear();
			UE_LOG(LogRealMaster, Log, TEXT("Session ready (execution provider %s)"),
			       *FromUtf8(Session->executionProvider()));
			SetMessage(FString());
		}
		else
		{
			FailedKey = CreationKey(Done->Settings);
			const FString Why = FromUtf8(Done->Status.message);
			UE_LOG(LogRealMaster, Error, TEXT("Cannot create the session; frames pass through: %s"), *Why);
			SetMessage(Why);
		}
	}

	if (!Session)
	{
		if (!Creation.IsValid() && CreationKey(Desired) != FailedKey)
		{
			StartCreate(Desired);
		}
		return nullptr;
	}

	const RealMasterCore::SettingsApplier::Result R = Applier.Apply(Desired, *Session);
	if (R.recreate)
	{
		if (!Creation.IsValid() && CreationKey(Desired) != FailedKey)
		{
			StartCreate(Desired); // the old session keeps running until the new one is ready
		}
	}
	else if (!R.status.ok() && Errors.ShouldReport(R.status.message))
	{
		UE_LOG(LogRealMaster, Warning, TEXT("%s"), *FromUtf8(R.status.message));
		SetMessage(FromUtf8(R.status.message));
	}
	return Session.get();
}

void FRealMasterRuntime::PublishStats_RenderThread(uint64 CapturesSkipped)
{
	if (!Session)
	{
		FScopeLock Lock(&StatusLock);
		Status.bSessionActive = false;
		Status.bEnhancing = false;
		Status.CapturesSkipped = CapturesSkipped;
		return;
	}
	const realmaster::Stats S = Session->stats();
	const realmaster::Status Health = Session->health();

#if STATS
	SET_FLOAT_STAT(STAT_RealMaster_InferenceMs, S.lastInferenceMs);
	SET_FLOAT_STAT(STAT_RealMaster_PreprocessMs, S.lastPreprocessMs);
	SET_FLOAT_STAT(STAT_RealMaster_CompositeMs, S.lastCompositeMs);
	SET_DWORD_STAT(STAT_RealMaster_Dropped, static_cast<uint32>(S.framesDropped));
	SET_DWORD_STAT(STAT_RealMaster_Output, static_cast<uint32>(S.framesOutput));
	SET_DWORD_STAT(STAT_RealMaster_Skipped, static_cast<uint32>(CapturesSkipped));
	SET_DWORD_STAT(STAT_RealMaster_Latency, static_cast<uint32>(S.outputLatencyFrames));
	SET_DWORD_STAT(STAT_RealMaster_Enhancing, Health.ok() ? 1u : 0u);
	// Same order as RealMasterCore::kReportedExecutionProviders.
	const int Ep = RealMasterCore::ReportedExecutionProviderIndex(S.executionProvider);
	SET_DWORD_STAT(STAT_RealMaster_EP_TensorRT, Ep == 0 ? 1u : 0u);
	SET_DWORD_STAT(STAT_RealMaster_EP_Cuda, Ep == 1 ? 1u : 0u);
	SET_DWORD_STAT(STAT_RealMaster_EP_DirectML, Ep == 2 ? 1u : 0u);
	SET_DWORD_STAT(STAT_RealMaster_EP_CoreML, Ep == 3 ? 1u : 0u);
	SET_DWORD_STAT(STAT_RealMaster_EP_Cpu, Ep == 4 ? 1u : 0u);
#endif

	if (!Health.ok() && Errors.ShouldReport(Health.message))
	{
		UE_LOG(LogRealMaster, Warning, TEXT("Frames pass through: %s"), *FromUtf8(Health.message));
	}

	FScopeLock Lock(&StatusLock);
	Status.bSessionActive = true;
	Status.bEnhancing = Health.ok();
	Status.ExecutionProvider = FromUtf8(S.executionProvider);
	if (!Health.ok())
	{
		Status.Message = FromUtf8(Health.message);
	}
	Status.InferenceMs = S.lastInferenceMs;
	Status.PreprocessMs = S.lastPreprocessMs;
	Status.CompositeMs = S.lastCompositeMs;
	Status.FramesSubmitted = S.framesSubmitted;
	Status.FramesOutput = S.framesOutput;
	Status.FramesDropped = S.framesDropped;
	Status.CapturesSkipped = CapturesSkipped;
	Status.OutputLatencyFrames = S.outputLatencyFrames;
}

FRealMasterStatus FRealMasterRuntime::GetStatus() const
{
	FScopeLock Lock(&StatusLock);
	return Status;
}

void FRealMasterRuntime::Shutdown_RenderThread()
{
	// Module code (the Rust library included) is about to be unloaded: nothing may outlive this call.
	Session.reset();
	if (Creation.IsValid())
	{
		while (!Creation->bDone.load(std::memory_order_acquire))
		{
			FPlatformProcess::Sleep(0.01f);
		}
		Creation->Session.reset();
		Creation.Reset();
	}
	while (Retiring->load() > 0)
	{
		FPlatformProcess::Sleep(0.01f);
	}
	Applier.MarkDestroyed();
}
