#include "RealMasterRuntime.h"

#include "Async/Async.h"
#include "HAL/PlatformProcess.h"
#include "RHICommandList.h"
#include "RealMasterCVars.h"
#include "RealMasterLog.h"
#include "RenderGraphBuilder.h"
#include "Stats/Stats.h"

#include <optional>

// `stat RealMaster`. The stats system shows numbers only, so the execution provider in use is one
// 0/1 line per provider. Totals are accumulators (kept between frames), timings are per frame.
DECLARE_STATS_GROUP(TEXT("RealMaster"), STATGROUP_RealMaster, STATCAT_Advanced);
DECLARE_FLOAT_COUNTER_STAT(TEXT("Inference (ms)"), STAT_RealMaster_InferenceMs, STATGROUP_RealMaster);
DECLARE_FLOAT_COUNTER_STAT(TEXT("Preprocess (ms)"), STAT_RealMaster_PreprocessMs, STATGROUP_RealMaster);
DECLARE_FLOAT_COUNTER_STAT(TEXT("Composite (ms)"), STAT_RealMaster_CompositeMs, STATGROUP_RealMaster);
DECLARE_DWORD_ACCUMULATOR_STAT(TEXT("Frames dropped (total)"), STAT_RealMaster_Dropped, STATGROUP_RealMaster);
DECLARE_DWORD_ACCUMULATOR_STAT(TEXT("Frames enhanced (total)"), STAT_RealMaster_Output, STATGROUP_RealMaster);
DECLARE_DWORD_ACCUMULATOR_STAT(TEXT("Captures skipped: readbacks busy, or a prompt being applied (total)"),
                               STAT_RealMaster_Skipped, STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("Output latency (frames)"), STAT_RealMaster_Latency, STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("Enhancing (1) or passing through (0)"), STAT_RealMaster_Enhancing,
                           STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("Vulkan device path (1) or readback (0)"), STAT_RealMaster_DevicePath,
                           STATGROUP_RealMaster);
DECLARE_DWORD_COUNTER_STAT(TEXT("CPU<->GPU transfer, last frame (KiB)"), STAT_RealMaster_TransferKiB,
                           STATGROUP_RealMaster);
DECLARE_DWORD_ACCUMULATOR_STAT(TEXT("Submits that allocated a frame buffer (total; 1-2 when healthy)"),
                               STAT_RealMaster_SubmitAllocations, STATGROUP_RealMaster);
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
	WaitForPromptWorkers();
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

	// The Vulkan device path where the RHI allows it and it has not failed for this model; else readback.
	const RealMasterCore::FramePathChoice Choice =
	    Paths.Choose(FRealMasterVulkanDevicePath::Probe(Desired.devicePath), CreationKey(Desired));
	RealMasterCore::VulkanHostDesc Host;
	FString HostProblem;
	bool bDevice = false;
	if (Choice.path == RealMasterCore::FramePath::Device)
	{
		bDevice = FRealMasterVulkanDevicePath::DescribeHost(Host, HostProblem);
		if (!bDevice && Paths.MarkDeviceFailed(CreationKey(Desired), std::string(TCHAR_TO_UTF8(*HostProblem))))
		{
			UE_LOG(LogRealMaster, Warning, TEXT("The Vulkan device path cannot be used (%s); frames are read back."),
			       *HostProblem);
		}
	}
	Creation->bTriedDevice = bDevice;
	UE_LOG(LogRealMaster, Log, TEXT("Creating a session: model '%s', execution provider %s, %s path%s%s"),
	       *FromUtf8(Desired.modelDir), *FromUtf8(Desired.executionProvider),
	       UTF8_TO_TCHAR(RealMasterCore::FramePathName(bDevice ? RealMasterCore::FramePath::Device
	                                                           : RealMasterCore::FramePath::Readback)),
	       Choice.reason.empty() ? TEXT("") : TEXT(": "), *FromUtf8(Choice.reason));
	AsyncTask(ENamedThreads::AnyBackgroundThreadNormalTask,
	          [C = Creation, Config, Host, bDevice]()
	          {
		          if (bDevice)
		          {
			          C->Device = FRealMasterVulkanDevicePath::Create(Host, Config, C->DeviceStatus);
			          if (C->Device.IsValid())
			          {
				          C->bDone.store(true, std::memory_order_release);
				          return;
			          }
		          }
		          // The readback path: on other RHIs, and whenever the device path could not be created.
		          C->Session = realmaster::Session::create(Config, C->Status);
		          C->bDone.store(true, std::memory_order_release);
	          });
	FScopeLock Lock(&StatusLock);
	Status.bCreatingSession = true;
}

void FRealMasterRuntime::RetireSession(FRDGBuilder* GraphBuilder)
{
	Applier.MarkDestroyed();
	if (Session)
	{
		// Dropping a session joins its worker threads (an inference in flight finishes first): not on the
		// render thread. A prompt worker may still hold it; then that worker's thread drops it last.
		Retiring->fetch_add(1);
		AsyncTask(ENamedThreads::AnyBackgroundThreadNormalTask,
		          [Old = std::move(Session), Counter = Retiring]() mutable
		          {
			          Old.reset();
			          Counter->fetch_sub(1);
		          });
		Session.reset();
	}
	if (Device.IsValid())
	{
		// Destroyed where Unreal submits to the graphics queue, after the frames already queued.
		FRealMasterVulkanDevicePath::FRef Old = MoveTemp(Device);
		if (GraphBuilder != nullptr)
		{
			GraphBuilder->AddPass(RDG_EVENT_NAME("RealMaster.RetireDevicePath"), ERDGPassFlags::NeverCull,
			                      [Old](FRHICommandListImmediate& RHICmdList)
			                      {
				                      FRealMasterVulkanDevicePath::Destroy(RHICmdList, Old, false);
			                      });
		}
		else
		{
			FRealMasterVulkanDevicePath::Destroy(FRHICommandListExecutor::GetImmediateCommandList(), Old, true);
		}
	}
}

void FRealMasterRuntime::PostPrompt(std::string Text)
{
	FPromptJob Job;
	Job.Readback = Session;
	Job.Device = Device;
	Job.Text = std::move(Text);
	if (!Prompts->Post(std::move(Job)))
	{
		return; // the running worker takes it (an older change still waiting is replaced)
	}
	PromptWorkers->fetch_add(1);
	AsyncTask(ENamedThreads::AnyBackgroundThreadNormalTask,
	          [Mailbox = Prompts, Workers = PromptWorkers, ErrorBox = PromptErrors]()
	          {
		          while (std::optional<FPromptJob> Next = Mailbox->Take())
		          {
			          realmaster::Status St;
			          if (Next->Device.IsValid())
			          {
				          St = Next->Device->ApplyPrompt(Next->Text);
			          }
			          else if (Next->Readback)
			          {
				          St = Next->Readback->setPrompt(Next->Text);
			          }
			          if (St.is(realmaster::StatusCode::Shutdown))
			          {
				          continue; // the session was replaced meanwhile; the new one has the prompt
			          }
			          if (!St.ok())
			          {
				          const FString Why = FromUtf8(St.message);
				          UE_LOG(LogRealMaster, Warning, TEXT("%s"), *Why);
				          FScopeLock Lock(&ErrorBox->Lock);
				          ErrorBox->Message = Why;
			          }
		          }
		          Workers->fetch_sub(1);
	          });
}

void FRealMasterRuntime::WaitForPromptWorkers() const
{
	while (PromptWorkers->load() > 0 || !Prompts->Idle())
	{
		FPlatformProcess::Sleep(0.01f);
	}
}

FRealMasterFrameSession FRealMasterRuntime::Update_RenderThread(FRDGBuilder& GraphBuilder)
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
		RetireSession(&GraphBuilder);
		return FRealMasterFrameSession();
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
		if (Done->bTriedDevice && !Done->Device.IsValid() &&
		    Paths.MarkDeviceFailed(CreationKey(Done->Settings), Done->DeviceStatus.message))
		{
			UE_LOG(LogRealMaster, Warning, TEXT("The Vulkan device path is not available; frames are read back: %s"),
			       *FromUtf8(Done->DeviceStatus.message));
		}
		if (Done->Device.IsValid() || Done->Session)
		{
			RetireSession(&GraphBuilder);
			Session = std::move(Done->Session);
			Device = MoveTemp(Done->Device);
			// Both paths change strength and mode live; model and execution provider need a new session.
			Applier.MarkCreated(Done->Settings);
			FailedKey.clear();
			Errors.Clear();
			UE_LOG(LogRealMaster, Log, TEXT("Session ready (%s path, execution provider %s)"),
			       UTF8_TO_TCHAR(RealMasterCore::FramePathName(Device.IsValid() ? RealMasterCore::FramePath::Device
			                                                                    : RealMasterCore::FramePath::Readback)),
			       *FromUtf8(Device.IsValid() ? Device->GetSnapshot().Stats.executionProvider
			                                  : Session->executionProvider()));
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

	// A device path that could not go on (an image the runtime refused): the readback path takes over.
	if (Device.IsValid() && Device->HasFailed())
	{
		const FString Why = Device->GetFailure();
		if (Paths.MarkDeviceFailed(CreationKey(Desired), std::string(TCHAR_TO_UTF8(*Why))))
		{
			UE_LOG(LogRealMaster, Warning, TEXT("The Vulkan device path stopped; frames are read back: %s"), *Why);
		}
		RetireSession(&GraphBuilder);
	}

	if (!Session && !Device.IsValid())
	{
		if (!Creation.IsValid() && CreationKey(Desired) != FailedKey)
		{
			StartCreate(Desired);
		}
		return FRealMasterFrameSession();
	}

	// Another path (r.RealMaster.DevicePath changed) needs another session, like another model does.
	const RealMasterCore::FramePath Wanted =
	    Paths.Choose(FRealMasterVulkanDevicePath::Probe(Desired.devicePath), CreationKey(Desired)).path;
	const RealMasterCore::FramePath Have =
	    Device.IsValid() ? RealMasterCore::FramePath::Device : RealMasterCore::FramePath::Readback;
	const RealMasterCore::SettingsApplier::Result R =
	    Device.IsValid() ? Applier.Apply(Desired, *Device) : Applier.Apply(Desired, *Session);
	if (R.recreate || Wanted != Have)
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
	if (R.prompt)
	{
		PostPrompt(*R.prompt); // encoded on a background thread, never here
	}

	FRealMasterFrameSession Out;
	Out.Readback = Session.get();
	Out.Device = Device;
	return Out;
}

void FRealMasterRuntime::PublishStats_RenderThread(uint64 CapturesSkipped)
{
	if (!Session && !Device.IsValid())
	{
		FScopeLock Lock(&StatusLock);
		Status.bSessionActive = false;
		Status.bEnhancing = false;
		Status.FramePath = TEXT("none");
		Status.CapturesSkipped = CapturesSkipped;
		return;
	}
	realmaster::Stats S;
	realmaster::Status Health;
	if (Device.IsValid())
	{
		const FRealMasterVulkanDevicePath::FSnapshot Snapshot = Device->GetSnapshot();
		S = Snapshot.Stats;
		Health = Snapshot.Health;
	}
	else
	{
		S = Session->stats();
		Health = Session->health();
	}

#if STATS
	SET_FLOAT_STAT(STAT_RealMaster_InferenceMs, S.lastInferenceMs);
	SET_FLOAT_STAT(STAT_RealMaster_PreprocessMs, S.lastPreprocessMs);
	SET_FLOAT_STAT(STAT_RealMaster_CompositeMs, S.lastCompositeMs);
	SET_DWORD_STAT(STAT_RealMaster_Dropped, static_cast<uint32>(S.framesDropped));
	SET_DWORD_STAT(STAT_RealMaster_Output, static_cast<uint32>(S.framesOutput));
	SET_DWORD_STAT(STAT_RealMaster_Skipped, static_cast<uint32>(CapturesSkipped));
	SET_DWORD_STAT(STAT_RealMaster_Latency, static_cast<uint32>(S.outputLatencyFrames));
	SET_DWORD_STAT(STAT_RealMaster_Enhancing, Health.ok() ? 1u : 0u);
	SET_DWORD_STAT(STAT_RealMaster_DevicePath, Device.IsValid() ? 1u : 0u);
	SET_DWORD_STAT(STAT_RealMaster_TransferKiB, static_cast<uint32>(S.lastTransferBytes >> 10));
	SET_DWORD_STAT(STAT_RealMaster_SubmitAllocations, static_cast<uint32>(S.submitAllocations));
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
	FString PromptError;
	{
		FScopeLock Lock(&PromptErrors->Lock);
		PromptError = MoveTemp(PromptErrors->Message);
		PromptErrors->Message.Reset();
	}

	FScopeLock Lock(&StatusLock);
	Status.bSessionActive = true;
	Status.bEnhancing = Health.ok();
	Status.ExecutionProvider = FromUtf8(S.executionProvider);
	Status.FramePath = UTF8_TO_TCHAR(RealMasterCore::FramePathName(
	    Device.IsValid() ? RealMasterCore::FramePath::Device : RealMasterCore::FramePath::Readback));
	if (!Health.ok())
	{
		Status.Message = FromUtf8(Health.message);
	}
	else if (!PromptError.IsEmpty())
	{
		Status.Message = PromptError;
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
	if (Creation.IsValid())
	{
		while (!Creation->bDone.load(std::memory_order_acquire))
		{
			FPlatformProcess::Sleep(0.01f);
		}
		FRHICommandListImmediate& RHICmdList = FRHICommandListExecutor::GetImmediateCommandList();
		FRealMasterVulkanDevicePath::Destroy(RHICmdList, MoveTemp(Creation->Device), true);
		Creation->Session.reset();
		Creation.Reset();
	}
	// The device path's session goes on the queue's thread (waited for); the readback one on a task.
	RetireSession(nullptr);
	WaitForPromptWorkers();
	while (Retiring->load() > 0)
	{
		FPlatformProcess::Sleep(0.01f);
	}
	Applier.MarkDestroyed();
}
