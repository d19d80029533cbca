#include "RealMasterVulkanDevicePath.h"

#include "DynamicRHI.h"
#include "RHICommandList.h"
#include "RealMasterLog.h"
#include "RealMasterSettingsModel.h"
#include "Runtime/Launch/Resources/Version.h"

#include <chrono>
#include <type_traits>
#include <utility>
#include <vector>

// RealMaster.Build.cs defines REALMASTER_WITH_VULKAN=1 where it links the VulkanRHI module (Win64, Linux).
#ifndef REALMASTER_WITH_VULKAN
#define REALMASTER_WITH_VULKAN 0
#endif

#if REALMASTER_WITH_VULKAN
#include "IVulkanDynamicRHI.h"
#endif

// IVulkanDynamicRHI::RHIRunOnQueue (code run on the RHI's submission thread, which owns the VkQueue):
// overridden by FVulkanDynamicRHI in 5.6.1 and 5.8.0, absent from 5.5.1.
#define REALMASTER_VULKAN_RUN_ON_QUEUE                                                                                 \
	(REALMASTER_WITH_VULKAN && (ENGINE_MAJOR_VERSION > 5 || ENGINE_MINOR_VERSION >= 6))
// IVulkanDynamicRHI::RHIGetLoadedDeviceExtensions: in 5.5.1, 5.6.1 and 5.8.0, not in 5.3.1 (5.4 unchecked).
#define REALMASTER_VULKAN_LOADED_DEVICE_EXTENSIONS                                                                     \
	(REALMASTER_WITH_VULKAN && (ENGINE_MAJOR_VERSION > 5 || ENGINE_MINOR_VERSION >= 5))

namespace
{
FString FromUtf8(const std::string& S)
{
	return FString(UTF8_TO_TCHAR(S.c_str()));
}

realmaster::Status ErrorStatus(realmaster::StatusCode Code, std::string Message)
{
	realmaster::Status S;
	S.code = static_cast<uint32>(Code);
	S.message = std::move(Message);
	return S;
}

realmaster::Status ShutdownStatus(const char* What)
{
	return ErrorStatus(realmaster::StatusCode::Shutdown, What);
}

/** Hands a value set on the render thread (-1 = none pending) to the session; a refusal is logged. */
template <typename SetterT> void ApplyPending(std::atomic<float>& Pending, SetterT&& Set)
{
	const float Value = Pending.exchange(-1.0f, std::memory_order_acq_rel);
	if (Value >= 0.0f)
	{
		const realmaster::Status S = Set(Value);
		if (!S.ok())
		{
			UE_LOG(LogRealMaster, Warning, TEXT("%s"), *FromUtf8(S.message));
		}
	}
}

bool IsVulkanRHI()
{
	return GDynamicRHI != nullptr && RHIGetInterfaceType() == ERHIInterfaceType::Vulkan;
}

/** Vulkan handles as the integers the bridge takes (dispatchable handles are pointers; non-dispatchable
 *  ones are pointers on 64-bit targets and integers elsewhere). */
template <typename HandleType> uint64 HandleBits(HandleType Handle)
{
	if constexpr (std::is_pointer_v<HandleType>)
	{
		return static_cast<uint64>(reinterpret_cast<UPTRINT>(Handle));
	}
	else
	{
		return static_cast<uint64>(Handle);
	}
}

/** How long a prompt waits for the frames already scheduled before it gives up (they take a frame or two). */
constexpr std::chrono::milliseconds PromptWaitForFrames(5000);
} // namespace

void FRealMasterVulkanDevicePath::RequestDeviceExtensions()
{
#if REALMASTER_WITH_VULKAN
	if (GDynamicRHI != nullptr)
	{
		// Loaded after the RHI (a plugin enabled in a running editor): too late to add device extensions.
		UE_LOG(LogRealMaster, Log,
		       TEXT("The RHI already exists: the Vulkan device path's extensions were not requested (restart to use "
		            "it)."));
		return;
	}
	TArray<const ANSICHAR*> Extensions;
	for (const char* Name : RealMasterCore::kVulkanDeviceExtensionsToRequest)
	{
		Extensions.Add(Name); // static strings: Unreal keeps the pointers
	}
	// Enabled only where the driver supports them; ignored when another RHI is used.
	IVulkanDynamicRHI::AddEnabledDeviceExtensionsAndLayers(Extensions, TArray<const ANSICHAR*>());
#endif
}

RealMasterCore::FramePathInputs FRealMasterVulkanDevicePath::Probe(bool bEnabledByUser)
{
	RealMasterCore::FramePathInputs In;
	In.enabledByUser = bEnabledByUser;
	In.rhiIsVulkan = IsVulkanRHI();
	In.engineSupportsDevicePath = REALMASTER_WITH_VULKAN != 0;
	return In;
}

bool FRealMasterVulkanDevicePath::DescribeHost(RealMasterCore::VulkanHostDesc& OutHost, FString& OutWhy)
{
#if REALMASTER_WITH_VULKAN
	if (!IsVulkanRHI())
	{
		OutWhy = TEXT("the RHI is not Vulkan");
		return false;
	}
	IVulkanDynamicRHI* Vulkan = GetIVulkanDynamicRHI();
	OutHost = RealMasterCore::VulkanHostDesc{};
	OutHost.instance = HandleBits(Vulkan->RHIGetVkInstance());
	OutHost.apiVersion = Vulkan->RHIGetVulkanVersion();
	OutHost.physicalDevice = HandleBits(Vulkan->RHIGetVkPhysicalDevice());
	OutHost.device = HandleBits(Vulkan->RHIGetVkDevice());
	OutHost.queueFamily = Vulkan->RHIGetGraphicsQueueFamilyIndex();
	OutHost.queueIndex = Vulkan->RHIGetGraphicsQueueIndex();
	// Unreal does not report the instance's enabled extensions (RHIGetAllInstanceExtensions lists what the
	// loader offers, not what is enabled). None is claimed: the runtime then uses none of the optional ones
	// (debug utils, surfaces), which it does not need on a Vulkan 1.1+ instance.
#if REALMASTER_VULKAN_LOADED_DEVICE_EXTENSIONS
	for (const FAnsiString& Name : Vulkan->RHIGetLoadedDeviceExtensions())
	{
		OutHost.deviceExtensions.emplace_back(*Name);
	}
#else
	// No list of enabled device extensions before 5.5: claim the requested ones the driver offers (Unreal
	// enables those when asked before device creation).
	std::vector<std::string> Available;
	for (const VkExtensionProperties& Properties : Vulkan->RHIGetAllDeviceExtensions(Vulkan->RHIGetVkPhysicalDevice()))
	{
		Available.emplace_back(Properties.extensionName);
	}
	OutHost.deviceExtensions = RealMasterCore::RequestedAndAvailable(Available);
#endif
	const realmaster::Status St = RealMasterCore::CheckVulkanHost(OutHost);
	if (!St.ok())
	{
		OutWhy = FromUtf8(St.message);
		return false;
	}
	return true;
#else
	OutHost = RealMasterCore::VulkanHostDesc{};
	OutWhy = TEXT("this platform has no Vulkan RHI in the plugin");
	return false;
#endif
}

RealMasterCore::DeviceImageDesc FRealMasterVulkanDevicePath::DescribeImage(FRHITexture* Texture)
{
	RealMasterCore::DeviceImageDesc Desc;
#if REALMASTER_WITH_VULKAN
	if (Texture != nullptr && IsVulkanRHI())
	{
		IVulkanDynamicRHI* Vulkan = GetIVulkanDynamicRHI();
		const FIntPoint Extent = Texture->GetDesc().Extent;
		Desc.image = HandleBits(Vulkan->RHIGetVkImage(Texture));
		Desc.width = static_cast<uint32>(FMath::Max(Extent.X, 0));
		Desc.height = static_cast<uint32>(FMath::Max(Extent.Y, 0));
		Desc.vkFormat = static_cast<uint32>(Vulkan->RHIGetViewVkFormat(Texture));
	}
#endif
	return Desc;
}

FRealMasterVulkanDevicePath::FRef FRealMasterVulkanDevicePath::Create(const RealMasterCore::VulkanHostDesc& Host,
                                                                      const realmaster::Config& Config,
                                                                      realmaster::Status& OutStatus)
{
	const realmaster::VulkanSession::Handles Handles = RealMasterCore::MakeVulkanHandles(Host);
	realmaster::Status St;
	const std::vector<std::string> Missing = realmaster::VulkanSession::missingDeviceExtensions(Handles, St);
	if (!St.ok())
	{
		OutStatus = St;
		return nullptr;
	}
	OutStatus = RealMasterCore::MissingDeviceExtensionsStatus(Missing);
	if (!OutStatus.ok())
	{
		return nullptr;
	}
	std::unique_ptr<realmaster::VulkanSession> Session = realmaster::VulkanSession::create(Handles, Config, OutStatus);
	if (!Session)
	{
		return nullptr;
	}
	return MakeShared<FRealMasterVulkanDevicePath, ESPMode::ThreadSafe>(std::move(Session));
}

FRealMasterVulkanDevicePath::FRealMasterVulkanDevicePath(std::unique_ptr<realmaster::VulkanSession> InSession)
    : Session(std::move(InSession))
{
	// No other thread knows this object yet: the session may be read directly.
	std::lock_guard<std::mutex> Lock(SessionMutex);
	UpdateSnapshot_Locked(0, false);
}

FRealMasterVulkanDevicePath::~FRealMasterVulkanDevicePath()
{
	std::lock_guard<std::mutex> Lock(SessionMutex);
	if (Session)
	{
		// Destroy() was not called: dropping the session here may wait on the queue off its thread.
		UE_LOG(LogRealMaster, Warning, TEXT("A Vulkan device-path session was destroyed outside the queue's thread."));
		Registry.ReleaseAll(*Session);
		Session.reset();
	}
}

void FRealMasterVulkanDevicePath::UpdateSnapshot_Locked(uint64 TransferBytes, bool bCountFrame)
{
	if (!Session)
	{
		return;
	}
	const realmaster::Stats Stats = Session->stats();
	const realmaster::Status Health = Session->health();
	FScopeLock Lock(&SnapshotLock);
	Snapshot.Stats = Stats;
	Snapshot.Health = Health;
	Snapshot.LastTransferBytes = TransferBytes;
	Snapshot.FramesProcessed += bCountFrame ? 1 : 0;
}

FRealMasterVulkanDevicePath::FSnapshot FRealMasterVulkanDevicePath::GetSnapshot() const
{
	FScopeLock Lock(&SnapshotLock);
	return Snapshot;
}

void FRealMasterVulkanDevicePath::MarkFailed(const FString& Why)
{
	{
		FScopeLock Lock(&SnapshotLock);
		if (bFailed.load(std::memory_order_relaxed))
		{
			return;
		}
		Failure = Why;
	}
	bFailed.store(true, std::memory_order_release);
}

FString FRealMasterVulkanDevicePath::GetFailure() const
{
	FScopeLock Lock(&SnapshotLock);
	return Failure;
}

namespace
{
/** One frame for the queue's thread: copyable (TFunction), returns its ticket as soon as it has run. */
struct FProcessJob
{
	FRealMasterVulkanDevicePath::FRef Path;
	RealMasterCore::DeviceFrameImages Images;
	bool bCameraCut = false;
	std::optional<realmaster::SceneLight> Light;
	mutable RealMasterCore::FrameGate::TicketRef Ticket;
	TArray<FTextureRHIRef> KeepAlive;
};
} // namespace

void FRealMasterVulkanDevicePath::EnqueueProcess(FRHICommandListImmediate& RHICmdList,
                                                 const RealMasterCore::DeviceFrameImages& Images, bool bCameraCut,
                                                 const std::optional<realmaster::SceneLight>& Light,
                                                 RealMasterCore::FrameGate::TicketRef Ticket,
                                                 TArray<FTextureRHIRef> KeepAlive)
{
#if REALMASTER_VULKAN_RUN_ON_QUEUE
	FProcessJob Job{AsShared(), Images, bCameraCut, Light, MoveTemp(Ticket), MoveTemp(KeepAlive)};
	// This frame's capture, pack and transition commands go to the RHI thread ahead of the lambda below,
	// which queues the frame for the submission thread behind them (the pattern of Epic's NNERuntimeORT
	// on D3D12's RHIRunOnQueue).
	RHICmdList.ImmediateFlush(EImmediateFlushType::DispatchToRHIThread);
	RHICmdList.EnqueueLambda(
	    [Job](FRHICommandListBase&)
	    {
		    IVulkanDynamicRHI* Vulkan = GetIVulkanDynamicRHI();
		    // The submission thread runs a payload's callback before the one vkQueueSubmit of the payloads
		    // batched with it (VulkanQueue.cpp, FVulkanQueue::SubmitPayloads, 5.6.1 and 5.8.0), so first wait
		    // until everything queued so far has been submitted; the frame's callback then follows it.
		    Vulkan->RHIRunOnQueue(
		        EVulkanRHIRunOnQueueType::Graphics, [](VkQueue) {}, true);
		    Vulkan->RHIRunOnQueue(
		        EVulkanRHIRunOnQueueType::Graphics,
		        [Job](VkQueue)
		        {
			        Job.Path->Process_QueueThread(Job.Images, Job.bCameraCut, Job.Light);
			        Job.Ticket.reset();
		        },
		        false);
	    });
#elif REALMASTER_WITH_VULKAN
	// Before 5.6 the RHI thread submits: once it is flushed, everything recorded so far is on the queue
	// and nothing else submits until this thread records more.
	RHICmdList.ImmediateFlush(EImmediateFlushType::FlushRHIThread);
	Process_QueueThread(Images, bCameraCut, Light);
	Ticket.reset();
	KeepAlive.Reset();
#else
	(void)Light;
	Ticket.reset();
	KeepAlive.Reset();
#endif
}

void FRealMasterVulkanDevicePath::Process_QueueThread(const RealMasterCore::DeviceFrameImages& Images, bool bCameraCut,
                                                      const std::optional<realmaster::SceneLight>& Light)
{
	std::lock_guard<std::mutex> Lock(SessionMutex);
	if (!Session)
	{
		return;
	}
	// Strength, ridge and mode set since the last frame (the render thread never waits for this lock).
	ApplyPending(PendingStrength,
	             [this](float V)
	             {
		             return Session->setStrength(V);
	             });
	ApplyPending(PendingUpsampleEps,
	             [this](float V)
	             {
		             return Session->setUpsampleEps(V);
	             });
	const int ModeValue = PendingMode.exchange(-1, std::memory_order_acq_rel);
	if (ModeValue >= 0)
	{
		Session->setMode(static_cast<realmaster::Mode>(ModeValue));
	}
	realmaster::Status St;
	if (!Registry.Sync(*Session, Images, St))
	{
		MarkFailed(FromUtf8(St.message));
		return;
	}
	const realmaster::VulkanSession::FrameResult Result =
	    Session->process(RealMasterCore::MakePackedDeviceFrame(Registry, bCameraCut, Light));
	// A failed frame still shows the input (the runtime copies it to the output); health() says why.
	UpdateSnapshot_Locked(Result.transfer_bytes, true);
}

realmaster::Status FRealMasterVulkanDevicePath::setStrength(float Strength)
{
	if (!(Strength >= 0.0f && Strength <= 1.0f))
	{
		return ErrorStatus(realmaster::StatusCode::Config,
		                   "strength " + std::to_string(Strength) +
		                       " is outside 0..1 (fix: pass a strength between 0 and 1)");
	}
	PendingStrength.store(Strength, std::memory_order_release);
	return {};
}

realmaster::Status FRealMasterVulkanDevicePath::setUpsampleEps(float Eps)
{
	if (!(Eps >= RealMasterCore::kMinUpsampleEps && Eps <= RealMasterCore::kMaxUpsampleEps))
	{
		return ErrorStatus(realmaster::StatusCode::Config, "upsample_eps " + std::to_string(Eps) +
		                                                       " is outside 1e-6..1 (fix: pass a value in that range)");
	}
	PendingUpsampleEps.store(Eps, std::memory_order_release);
	return {};
}

realmaster::Status FRealMasterVulkanDevicePath::setMode(realmaster::Mode Mode)
{
	PendingMode.store(static_cast<int>(Mode), std::memory_order_release);
	return {};
}

void FRealMasterVulkanDevicePath::DestroySession_QueueThread()
{
	std::lock_guard<std::mutex> Lock(SessionMutex);
	if (Session)
	{
		Registry.ReleaseAll(*Session);
		Session.reset(); // waits for the inference thread and for the queue to go idle
	}
	Registry.Forget();
}

void FRealMasterVulkanDevicePath::Destroy(FRHICommandListImmediate& RHICmdList, FRef Path, bool bWait)
{
	if (!Path.IsValid())
	{
		return;
	}
#if REALMASTER_VULKAN_RUN_ON_QUEUE
	if (bWait)
	{
		// Every frame queued before is with the submission thread once the RHI thread is flushed; this
		// callback runs after theirs.
		RHICmdList.ImmediateFlush(EImmediateFlushType::FlushRHIThread);
		GetIVulkanDynamicRHI()->RHIRunOnQueue(
		    EVulkanRHIRunOnQueueType::Graphics,
		    [Path](VkQueue)
		    {
			    Path->DestroySession_QueueThread();
		    },
		    true);
	}
	else
	{
		RHICmdList.EnqueueLambda(
		    [Path](FRHICommandListBase&)
		    {
			    GetIVulkanDynamicRHI()->RHIRunOnQueue(
			        EVulkanRHIRunOnQueueType::Graphics,
			        [Path](VkQueue)
			        {
				        Path->DestroySession_QueueThread();
			        },
			        false);
		    });
	}
#else
	// Before 5.6 (or off Vulkan): with the RHI thread flushed, this thread may use the queue.
	RHICmdList.ImmediateFlush(EImmediateFlushType::FlushRHIThread);
	Path->DestroySession_QueueThread();
	(void)bWait;
#endif
}

realmaster::Status FRealMasterVulkanDevicePath::ApplyPrompt(const std::string& Prompt)
{
	RealMasterCore::FrameGateExclusive Exclusive(Gate, PromptWaitForFrames);
	if (!Exclusive.Held())
	{
		realmaster::Status S;
		S.code = static_cast<uint32>(realmaster::StatusCode::Prompt);
		S.message =
		    "prompt: the scheduled frames kept the session busy; the prompt was not applied (fix: set it again)";
		return S;
	}
	std::lock_guard<std::mutex> Lock(SessionMutex);
	if (!Session)
	{
		return ShutdownStatus("prompt: the session was closed before the prompt could be applied");
	}
	return Session->setPrompt(Prompt);
}
