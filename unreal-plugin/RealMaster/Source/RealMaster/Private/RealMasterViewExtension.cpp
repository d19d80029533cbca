#include "RealMasterViewExtension.h"

#include "Components/DirectionalLightComponent.h"
#include "Engine/World.h"
#include "HAL/PlatformProcess.h"
#include "PostProcess/PostProcessMaterialInputs.h"
#include "RealMasterCVars.h"
#include "RealMasterLog.h"
#include "RealMasterRuntime.h"
#include "RealMasterShaders.h"
#include "RenderGraphBuilder.h"
#include "RenderGraphUtils.h"
#include "RenderingThread.h"
#include "SceneInterface.h"
#include "SceneView.h"
#include "UObject/UObjectIterator.h"

/** Pixels for one upload into the enhanced texture, produced at graph setup (realtime) or by the
 *  cinematic inference pass during graph execution. */
struct FRealMasterViewExtension::FPendingUpload
{
	TSharedPtr<realmaster::Output, ESPMode::ThreadSafe> Output;
	/** Cinematic fallback when the runtime refused the frame: the captured pixels themselves. */
	TArray<uint8> Fallback;
	FIntPoint Size = FIntPoint::ZeroValue;
	bool bHasData = false;
	bool bUseFallback = false;
};

namespace
{
BEGIN_SHADER_PARAMETER_STRUCT(FRealMasterUploadParameters, )
RDG_TEXTURE_ACCESS(Target, ERHIAccess::CopyDest)
END_SHADER_PARAMETER_STRUCT()

/** The device path's frame: the states RDG moves the images into before the runtime runs (the Vulkan
 *  RHI's layouts for them: SHADER_READ_ONLY_OPTIMAL for the sampled inputs, GENERAL for the output). */
BEGIN_SHADER_PARAMETER_STRUCT(FRealMasterDeviceFrameParameters, )
RDG_TEXTURE_ACCESS(Color, ERHIAccess::SRVCompute)
RDG_TEXTURE_ACCESS(Depth, ERHIAccess::SRVCompute)
RDG_TEXTURE_ACCESS(Normals, ERHIAccess::SRVCompute)
RDG_TEXTURE_ACCESS(Motion, ERHIAccess::SRVCompute)
RDG_TEXTURE_ACCESS(Output, ERHIAccess::UAVCompute)
END_SHADER_PARAMETER_STRUCT()

/** Device path formats (Core/RealMasterDevicePath.h lists what the runtime takes): the capture as
 *  8-bit BGRA holding sRGB-encoded values (as for the readback path), depth in metres, view-space
 *  normals and pixel motion in half floats, and an RGBA8 storage output holding sRGB-encoded values. */
constexpr EPixelFormat DeviceDepthFormat = PF_R32_FLOAT;
constexpr EPixelFormat DeviceNormalsFormat = PF_FloatRGBA;
constexpr EPixelFormat DeviceMotionFormat = PF_FloatRGBA;
constexpr EPixelFormat DeviceOutputFormat = PF_R8G8B8A8;

/** Frames are captured as 8-bit BGRA after the tonemapper: display-referred sRGB values. */
constexpr EPixelFormat CapturePixelFormat = PF_B8G8R8A8;
constexpr RealMasterCore::CaptureFormat CaptureFormat = RealMasterCore::CaptureFormat::B8G8R8A8;
constexpr uint32 CaptureBytesPerPixel = 4;
/** Unreal units are centimetres; the runtime's depth is in metres. */
constexpr float WorldUnitsToMetres = 0.01f;
constexpr float MaxDepthMetres = 100000.0f;

/** Map the two readbacks of a capture and hand the frame to the session (a copy; never waits in realtime). */
realmaster::Status SubmitMapped(realmaster::Session& Session, FRHIGPUTextureReadback& Color, FRHIGPUBufferReadback& Aux,
                                uint32 Width, uint32 Height, bool bCameraCut,
                                const std::optional<realmaster::SceneLight>& Light)
{
	int32 RowPitchPixels = 0;
	int32 BufferHeight = 0;
	const void* ColorData = Color.Lock(RowPitchPixels, &BufferHeight);
	const RealMasterCore::AuxLayout Layout{Width, Height};
	const void* AuxData = Aux.Lock(static_cast<uint32>(Layout.TotalBytes()));
	realmaster::Status Result;
	if (ColorData && RowPitchPixels >= static_cast<int32>(Width))
	{
		const SIZE_T Rows = BufferHeight > 0 ? static_cast<SIZE_T>(BufferHeight) : Height;
		const SIZE_T ColorBytes = static_cast<SIZE_T>(RowPitchPixels) * CaptureBytesPerPixel * Rows;
		const std::optional<realmaster::FrameView> Frame =
		    RealMasterCore::MakeFrameView(ColorData, static_cast<SIZE_T>(RowPitchPixels), ColorBytes, CaptureFormat,
		                                  Width, Height, AuxData, AuxData ? Layout.TotalBytes() : 0, bCameraCut, Light);
		if (Frame)
		{
			Result = Session.submit(*Frame);
		}
	}
	else
	{
		Result.code = static_cast<uint32>(realmaster::StatusCode::InvalidFrame);
		Result.message = "the color readback could not be mapped (fix: report this with the RHI in use)";
	}
	Aux.Unlock();
	Color.Unlock();
	return Result;
}

/**
 * Game thread: the direction towards the sun of `World`, world space. The sun is the directional light the sky
 * atmosphere uses as its sun (atmosphere sun light index 0), else the brightest directional light; lights that are
 * hidden, disabled (Affects World off) or at zero intensity do not count. None when the world has no such light.
 */
std::optional<RealMasterCore::Vec3d> FindTowardsSun_GameThread(const UWorld* World)
{
	if (!World)
	{
		return std::nullopt;
	}
	// Inline storage: a scene's few directional lights are gathered every frame without a heap allocation.
	TArray<RealMasterCore::DirectionalLightInfo, TInlineAllocator<8>> Lights;
	for (TObjectIterator<UDirectionalLightComponent> It; It; ++It)
	{
		const UDirectionalLightComponent* Light = *It;
		if (!IsValid(Light) || Light->GetWorld() != World || !Light->IsRegistered() || !Light->IsVisible() ||
		    !Light->bAffectsWorld)
		{
			continue;
		}
		const FVector Forward = Light->GetDirection();
		RealMasterCore::DirectionalLightInfo Info;
		Info.forward = {Forward.X, Forward.Y, Forward.Z};
		Info.atmosphereSun = Light->IsUsedAsAtmosphereSunLight();
		Info.atmosphereIndex = Light->GetAtmosphereSunLightIndex();
		Info.brightness = Light->ComputeLightBrightness();
		Lights.Add(Info);
	}
	const std::optional<std::size_t> Sun =
	    RealMasterCore::ChooseSunLight(Lights.GetData(), static_cast<std::size_t>(Lights.Num()));
	if (!Sun)
	{
		return std::nullopt;
	}
	return RealMasterCore::TowardsLight(Lights[static_cast<int32>(*Sun)]);
}
} // namespace

FRealMasterViewExtension::FRealMasterViewExtension(const FAutoRegister& AutoRegister,
                                                   TSharedRef<FRealMasterRuntime, ESPMode::ThreadSafe> InRuntime)
    : FSceneViewExtensionBase(AutoRegister), Runtime(MoveTemp(InRuntime)),
      State(MakeShared<FRenderState, ESPMode::ThreadSafe>())
{
}

FRealMasterViewExtension::~FRealMasterViewExtension() = default;

bool FRealMasterViewExtension::IsActiveThisFrame_Internal(const FSceneViewExtensionContext& Context) const
{
	// Stay active for one more frame after disabling, so the render thread can release the session.
	return RealMasterCVars::IsEnabled_GameThread() || Runtime->GetStatus().bSessionActive;
}

void FRealMasterViewExtension::BeginRenderViewFamily(FSceneViewFamily& InViewFamily)
{
	// The light components are UObjects: read them here, on the game thread. The render command is queued before
	// the renderer's command for this family (BeginRenderViewFamily runs first), so the family finds its sun.
	FSceneSun Sun;
	Sun.Scene = InViewFamily.Scene;
	if (InViewFamily.Scene && RealMasterCVars::IsSceneLightEnabled_GameThread())
	{
		Sun.TowardsSun = FindTowardsSun_GameThread(InViewFamily.Scene->GetWorld());
	}
	ENQUEUE_RENDER_COMMAND(RealMasterSceneSun)
	(
	    [StatePtr = State, Sun](FRHICommandListImmediate&)
	    {
		    TArray<FSceneSun, TInlineAllocator<MaxSceneSuns>>& Suns = StatePtr->SceneSuns;
		    Suns.RemoveAll(
		        [&Sun](const FSceneSun& Entry)
		        {
			        return Entry.Scene == Sun.Scene;
		        });
		    if (Suns.Num() >= MaxSceneSuns)
		    {
			    Suns.RemoveAt(0);
		    }
		    Suns.Add(Sun);
	    });
}

std::optional<realmaster::SceneLight>
FRealMasterViewExtension::SceneLightForView_RenderThread(const FSceneView& View) const
{
	const FSceneInterface* Scene = View.Family ? View.Family->Scene : nullptr;
	const FSceneSun* Sun = State->SceneSuns.FindByPredicate(
	    [Scene](const FSceneSun& Entry)
	    {
		    return Entry.Scene == Scene;
	    });
	if (!Scene || !Sun || !Sun->TowardsSun)
	{
		return std::nullopt;
	}
	// The rotation RealMasterGBufferPack.usf applies to the normals (View.TranslatedWorldToView): the light and the
	// normals then share one view space.
	const FMatrix& WorldToView = View.ViewMatrices.GetTranslatedViewMatrix();
	RealMasterCore::Mat3d Rotation;
	for (int32 Row = 0; Row < 3; ++Row)
	{
		for (int32 Column = 0; Column < 3; ++Column)
		{
			Rotation[Row][Column] = static_cast<double>(WorldToView.M[Row][Column]);
		}
	}
	return RealMasterCore::SceneLightForView(*Sun->TowardsSun, Rotation);
}

void FRealMasterViewExtension::PreRenderViewFamily_RenderThread(FRDGBuilder& GraphBuilder,
                                                                FSceneViewFamily& InViewFamily)
{
	// Settings are applied once per view family; the session is valid for this family's graph.
	const FRealMasterFrameSession Frame = Runtime->Update_RenderThread(GraphBuilder);
	const bool bChanged = Frame.Readback != State->Session || Frame.Device != State->Device;
	State->Session = Frame.Readback;
	State->Device = Frame.Device;
	if (bChanged)
	{
		// A new (or no) session: its counters start at zero and it has no history of any view.
		State->Ring.Reset();
		State->Views.Reset();
		State->LastFramesOutput = ~0ull;
		State->MinOutputFrameIndex = 0;
	}
	if (!State->Device.IsValid())
	{
		// The old session released its images; the textures themselves go back to the pool.
		State->DeviceTextures.Reset();
	}
	if (!Frame.IsValid())
	{
		State->Ring.Reset();
		State->Views.Reset();
		State->bOutputValid = false;
		Runtime->PublishStats_RenderThread(State->Ring.SkippedBecauseFull());
	}
}

#if ENGINE_MAJOR_VERSION == 5 && ENGINE_MINOR_VERSION < 5
void FRealMasterViewExtension::SubscribeToPostProcessingPass(EPostProcessingPass Pass,
                                                             FAfterPassCallbackDelegateArray& InOutPassCallbacks,
                                                             bool bIsPassEnabled)
#else
void FRealMasterViewExtension::SubscribeToPostProcessingPass(EPostProcessingPass Pass, const FSceneView& InView,
                                                             FAfterPassCallbackDelegateArray& InOutPassCallbacks,
                                                             bool bIsPassEnabled)
#endif
{
	if (Pass == EPostProcessingPass::Tonemap && bIsPassEnabled && (State->Session || State->Device.IsValid()))
	{
		InOutPassCallbacks.Add(
		    FAfterPassCallbackDelegate::CreateRaw(this, &FRealMasterViewExtension::PostTonemap_RenderThread));
	}
}

TSharedPtr<realmaster::Output, ESPMode::ThreadSafe> FRealMasterViewExtension::AcquireOutput()
{
	FScopeLock Lock(&State->FreeOutputsLock);
	if (State->FreeOutputs.Num() > 0)
	{
		// Default shrinking: the argument's type changed (bool -> EAllowShrinking) across 5.x.
		return State->FreeOutputs.Pop();
	}
	return MakeShared<realmaster::Output, ESPMode::ThreadSafe>();
}

FScreenPassTexture FRealMasterViewExtension::PassThrough(FRDGBuilder& GraphBuilder, const FSceneView& View,
                                                         const FPostProcessMaterialInputs& Inputs,
                                                         const FScreenPassTexture& SceneColor)
{
	// What FPostProcessMaterialInputs::ReturnUntouchedSceneColorForPostProcessing does, written out so
	// the plugin does not depend on when that member appeared: the last pass before the back buffer
	// receives an OverrideOutput and must write into it (ignoring it gives a black screen).
	if (!SceneColor.IsValid())
	{
		return Inputs.OverrideOutput.IsValid() ? FScreenPassTexture(Inputs.OverrideOutput) : SceneColor;
	}
	if (Inputs.OverrideOutput.IsValid())
	{
		AddDrawTexturePass(GraphBuilder, View, SceneColor, Inputs.OverrideOutput);
		return FScreenPassTexture(Inputs.OverrideOutput);
	}
	return SceneColor;
}

FScreenPassTexture FRealMasterViewExtension::PostTonemap_RenderThread(FRDGBuilder& GraphBuilder, const FSceneView& View,
                                                                      const FPostProcessMaterialInputs& Inputs)
{
	// Post-process inputs are texture slices (5.4+); 5.5 added an optional override-output argument.
#if ENGINE_MAJOR_VERSION == 5 && ENGINE_MINOR_VERSION < 5
	const FScreenPassTexture SceneColor =
	    FScreenPassTexture::CopyFromSlice(GraphBuilder, Inputs.GetInput(EPostProcessMaterialInput::SceneColor));
#else
	const FScreenPassTexture SceneColor = FScreenPassTexture::CopyFromSlice(
	    GraphBuilder, Inputs.GetInput(EPostProcessMaterialInput::SceneColor), FScreenPassTexture());
#endif
	FRenderState& S = *State;
	if (!SceneColor.IsValid() || SceneColor.ViewRect.Area() <= 0)
	{
		return PassThrough(GraphBuilder, View, Inputs, SceneColor);
	}
	if ((!S.Session && !S.Device.IsValid()) || View.bIsSceneCapture)
	{
		return PassThrough(GraphBuilder, View, Inputs, SceneColor);
	}

	// One camera per session: other views (a second editor viewport, split screen) pass through.
	const uint64 FrameNumber = View.Family ? View.Family->FrameNumber : S.FrameCounter;
	const RealMasterCore::ViewSelector::Decision Decision =
	    S.Views.Select(reinterpret_cast<std::uintptr_t>(View.State), FrameNumber);
	if (Decision == RealMasterCore::ViewSelector::Decision::Skip)
	{
		return PassThrough(GraphBuilder, View, Inputs, SceneColor);
	}
	const bool bSwitchedView = Decision == RealMasterCore::ViewSelector::Decision::ProcessAfterSwitch;
	if (bSwitchedView)
	{
		// Readbacks in flight belong to the previous view; its enhanced frames must not be shown here.
		S.Ring.Reset();
		S.bOutputValid = false;
		S.MinOutputFrameIndex = S.Session ? S.Session->stats().framesSubmitted : 0;
	}

	RDG_EVENT_SCOPE(GraphBuilder, "RealMaster");
	const FIntPoint Size = SceneColor.ViewRect.Size();
	// The scene's light as this view sees it, handed over with the frame on every path.
	const std::optional<realmaster::SceneLight> Light = SceneLightForView_RenderThread(View);
	if (S.Device.IsValid())
	{
		FRDGTextureRef DeviceOutput =
		    AddDevicePasses(GraphBuilder, View, Inputs, SceneColor, View.bCameraCut || bSwitchedView, Light);
		Runtime->PublishStats_RenderThread(S.Device->GetFramesRefused());
		if (!DeviceOutput)
		{
			return PassThrough(GraphBuilder, View, Inputs, SceneColor);
		}
		FScreenPassRenderTarget DeviceComposite = Inputs.OverrideOutput;
		if (!DeviceComposite.IsValid())
		{
			DeviceComposite = FScreenPassRenderTarget::CreateFromInput(
			    GraphBuilder, SceneColor, ERenderTargetLoadAction::ENoAction, TEXT("RealMaster.Composite"));
		}
		AddDrawTexturePass(GraphBuilder, View, FScreenPassTexture(DeviceOutput, FIntRect(FIntPoint::ZeroValue, Size)),
		                   DeviceComposite);
		return FScreenPassTexture(DeviceComposite);
	}

	FCapture Capture = AddCapturePasses(GraphBuilder, View, Inputs, SceneColor);
	Capture.bCameraCut = Capture.bCameraCut || bSwitchedView;
	Capture.Light = Light;

	TSharedRef<FPendingUpload, ESPMode::ThreadSafe> Pending = MakeShared<FPendingUpload, ESPMode::ThreadSafe>();
	Pending->Size = Size;
	bool bUploadThisFrame = false;
	if (Runtime->IsCinematic_RenderThread())
	{
		AddCinematicInference(GraphBuilder, Capture, Pending);
		bUploadThisFrame = true;
	}
	else
	{
		AddRealtimeReadback(GraphBuilder, Capture);
		// Fetch the newest result only when there is a new one (a copy of the frame, no waiting).
		const realmaster::Stats Stats = S.Session->stats();
		if (Stats.framesOutput != S.LastFramesOutput)
		{
			S.LastFramesOutput = Stats.framesOutput;
			Pending->Output = AcquireOutput();
			if (S.Session->latestOutput(*Pending->Output) && Pending->Output->enhanced() &&
			    Pending->Output->frameIndex() >= S.MinOutputFrameIndex &&
			    Pending->Output->width() == static_cast<uint32>(Size.X) &&
			    Pending->Output->height() == static_cast<uint32>(Size.Y))
			{
				Pending->bHasData = true;
				bUploadThisFrame = true;
			}
		}
	}

	FRDGTextureRef Enhanced = AddUploadPass(GraphBuilder, Size, Pending, bUploadThisFrame);
	Runtime->PublishStats_RenderThread(S.Ring.SkippedBecauseFull());
	if (!Enhanced)
	{
		return PassThrough(GraphBuilder, View, Inputs, SceneColor);
	}

	FScreenPassRenderTarget Output = Inputs.OverrideOutput;
	if (!Output.IsValid())
	{
		Output = FScreenPassRenderTarget::CreateFromInput(GraphBuilder, SceneColor, ERenderTargetLoadAction::ENoAction,
		                                                  TEXT("RealMaster.Composite"));
	}
	AddDrawTexturePass(GraphBuilder, View, FScreenPassTexture(Enhanced, FIntRect(FIntPoint::ZeroValue, Size)), Output);
	return FScreenPassTexture(Output);
}

FRealMasterViewExtension::FCapture FRealMasterViewExtension::AddCapturePasses(FRDGBuilder& GraphBuilder,
                                                                              const FSceneView& View,
                                                                              const FPostProcessMaterialInputs& Inputs,
                                                                              const FScreenPassTexture& SceneColor)
{
	FCapture Capture;
	const FIntPoint Size = SceneColor.ViewRect.Size();
	Capture.Layout = RealMasterCore::AuxLayout{static_cast<uint32>(Size.X), static_cast<uint32>(Size.Y)};

	// Color: the tonemapped view rectangle, converted to 8-bit BGRA by the draw.
	Capture.Color =
	    GraphBuilder.CreateTexture(FRDGTextureDesc::Create2D(Size, CapturePixelFormat, FClearValueBinding::Black,
	                                                         TexCreate_RenderTargetable | TexCreate_ShaderResource),
	                               TEXT("RealMaster.CaptureColor"));
	AddDrawTexturePass(GraphBuilder, View, SceneColor,
	                   FScreenPassRenderTarget(Capture.Color, FIntRect(FIntPoint::ZeroValue, Size),
	                                           ERenderTargetLoadAction::ENoAction));

	// Depth, normals and motion resampled to the output size in one packed buffer.
	Capture.Aux =
	    GraphBuilder.CreateBuffer(FRDGBufferDesc::CreateStructuredDesc(sizeof(float), Capture.Layout.TotalFloats()),
	                              TEXT("RealMaster.GBufferPack"));
	FRealMasterGBufferPackCS::FParameters* Params =
	    GraphBuilder.AllocParameters<FRealMasterGBufferPackCS::FParameters>();
	Params->View = View.ViewUniformBuffer;
	Params->SceneTextures = Inputs.SceneTextures;
	Params->RenderRectMin = View.ViewRect.Min;
	Params->RenderRectSize = View.ViewRect.Size();
	Params->OutputSize = Size;
	Params->WorldUnitsToMetres = WorldUnitsToMetres;
	Params->MaxDepthMetres = MaxDepthMetres;
	Params->PackedOutput = GraphBuilder.CreateUAV(Capture.Aux);
	TShaderMapRef<FRealMasterGBufferPackCS> Shader(GetGlobalShaderMap(View.GetFeatureLevel()));
	FComputeShaderUtils::AddPass(GraphBuilder, RDG_EVENT_NAME("RealMaster.GBufferPack %dx%d", Size.X, Size.Y), Shader,
	                             Params,
	                             FComputeShaderUtils::GetGroupCount(Size, FRealMasterGBufferPackCS::ThreadGroupSize));
	Capture.bCameraCut = View.bCameraCut;
	return Capture;
}

FRDGTextureRef FRealMasterViewExtension::AddDevicePasses(FRDGBuilder& GraphBuilder, const FSceneView& View,
                                                         const FPostProcessMaterialInputs& Inputs,
                                                         const FScreenPassTexture& SceneColor, bool bCameraCut,
                                                         const std::optional<realmaster::SceneLight>& Light)
{
	FRenderState& S = *State;
	const FIntPoint Size = SceneColor.ViewRect.Size();
	FDeviceTextures& T = S.DeviceTextures;
	if (T.Size != Size || !T.Output.IsValid())
	{
		// First frame or a resize: new images, which the session registers (and the old ones it releases)
		// when it processes the next frame. Converted to external so they live across frames.
		auto Allocate = [&GraphBuilder, Size](EPixelFormat Format, ETextureCreateFlags Flags, const TCHAR* Name)
		{
			const FRDGTextureRef Texture = GraphBuilder.CreateTexture(
			    FRDGTextureDesc::Create2D(Size, Format, FClearValueBinding::Black, Flags), Name);
			return GraphBuilder.ConvertToExternalTexture(Texture);
		};
		T.Color = Allocate(CapturePixelFormat, TexCreate_RenderTargetable | TexCreate_ShaderResource,
		                   TEXT("RealMaster.DeviceColor"));
		T.Depth = Allocate(DeviceDepthFormat, TexCreate_UAV | TexCreate_ShaderResource, TEXT("RealMaster.DeviceDepth"));
		T.Normals =
		    Allocate(DeviceNormalsFormat, TexCreate_UAV | TexCreate_ShaderResource, TEXT("RealMaster.DeviceNormals"));
		T.Motion =
		    Allocate(DeviceMotionFormat, TexCreate_UAV | TexCreate_ShaderResource, TEXT("RealMaster.DeviceMotion"));
		T.Output =
		    Allocate(DeviceOutputFormat, TexCreate_UAV | TexCreate_ShaderResource, TEXT("RealMaster.DeviceOutput"));
		T.Size = Size;
	}
	// While a prompt is being applied the session is busy: this frame passes through untouched.
	RealMasterCore::FrameGate::TicketRef Ticket = S.Device->TryScheduleFrame();
	if (!Ticket)
	{
		return nullptr;
	}
	RealMasterCore::DeviceFrameImages Images;
	Images[static_cast<SIZE_T>(RealMasterCore::DeviceImageSlot::Color)] =
	    FRealMasterVulkanDevicePath::DescribeImage(T.Color->GetRHI());
	Images[static_cast<SIZE_T>(RealMasterCore::DeviceImageSlot::Depth)] =
	    FRealMasterVulkanDevicePath::DescribeImage(T.Depth->GetRHI());
	Images[static_cast<SIZE_T>(RealMasterCore::DeviceImageSlot::Normals)] =
	    FRealMasterVulkanDevicePath::DescribeImage(T.Normals->GetRHI());
	Images[static_cast<SIZE_T>(RealMasterCore::DeviceImageSlot::Motion)] =
	    FRealMasterVulkanDevicePath::DescribeImage(T.Motion->GetRHI());
	Images[static_cast<SIZE_T>(RealMasterCore::DeviceImageSlot::Output)] =
	    FRealMasterVulkanDevicePath::DescribeImage(T.Output->GetRHI());
	const realmaster::Status Check = RealMasterCore::CheckDeviceImages(Images);
	if (!Check.ok())
	{
		// The runtime would refuse these images: the readback path takes over from the next frame.
		S.Device->MarkFailed(UTF8_TO_TCHAR(Check.message.c_str()));
		return nullptr;
	}

	const FRDGTextureRef Color = GraphBuilder.RegisterExternalTexture(T.Color);
	const FRDGTextureRef Depth = GraphBuilder.RegisterExternalTexture(T.Depth);
	const FRDGTextureRef Normals = GraphBuilder.RegisterExternalTexture(T.Normals);
	const FRDGTextureRef Motion = GraphBuilder.RegisterExternalTexture(T.Motion);
	const FRDGTextureRef Output = GraphBuilder.RegisterExternalTexture(T.Output);

	// Colour: the tonemapped view rectangle as 8-bit BGRA, exactly as the readback path captures it.
	AddDrawTexturePass(
	    GraphBuilder, View, SceneColor,
	    FScreenPassRenderTarget(Color, FIntRect(FIntPoint::ZeroValue, Size), ERenderTargetLoadAction::ENoAction));

	// Depth, normals and motion at the output size, already in the runtime's conventions.
	FRealMasterGBufferTexturesCS::FParameters* Pack =
	    GraphBuilder.AllocParameters<FRealMasterGBufferTexturesCS::FParameters>();
	Pack->View = View.ViewUniformBuffer;
	Pack->SceneTextures = Inputs.SceneTextures;
	Pack->RenderRectMin = View.ViewRect.Min;
	Pack->RenderRectSize = View.ViewRect.Size();
	Pack->OutputSize = Size;
	Pack->WorldUnitsToMetres = WorldUnitsToMetres;
	Pack->MaxDepthMetres = MaxDepthMetres;
	Pack->DepthTexture = GraphBuilder.CreateUAV(Depth);
	Pack->NormalTexture = GraphBuilder.CreateUAV(Normals);
	Pack->MotionTexture = GraphBuilder.CreateUAV(Motion);
	TShaderMapRef<FRealMasterGBufferTexturesCS> PackShader(GetGlobalShaderMap(View.GetFeatureLevel()));
	FComputeShaderUtils::AddPass(
	    GraphBuilder, RDG_EVENT_NAME("RealMaster.GBufferTextures %dx%d", Size.X, Size.Y), PackShader, Pack,
	    FComputeShaderUtils::GetGroupCount(Size, FRealMasterGBufferTexturesCS::ThreadGroupSize));

	FRealMasterDeviceFrameParameters* Frame = GraphBuilder.AllocParameters<FRealMasterDeviceFrameParameters>();
	Frame->Color = Color;
	Frame->Depth = Depth;
	Frame->Normals = Normals;
	Frame->Motion = Motion;
	Frame->Output = Output;
	TArray<FTextureRHIRef> KeepAlive;
	KeepAlive.Add(T.Color->GetRHI());
	KeepAlive.Add(T.Depth->GetRHI());
	KeepAlive.Add(T.Normals->GetRHI());
	KeepAlive.Add(T.Motion->GetRHI());
	KeepAlive.Add(T.Output->GetRHI());
	GraphBuilder.AddPass(RDG_EVENT_NAME("RealMaster.DeviceProcess"), Frame,
	                     ERDGPassFlags::Compute | ERDGPassFlags::NeverCull,
	                     [Device = S.Device, Images, bCameraCut, Light, Ticket = MoveTemp(Ticket),
	                      KeepAlive = MoveTemp(KeepAlive)](FRHICommandListImmediate& RHICmdList)
	                     {
		                     // RDG has moved the images into the frame's states; the runtime runs where
		                     // Unreal submits to the graphics queue, after this frame's work so far.
		                     Device->EnqueueProcess(RHICmdList, Images, bCameraCut, Light, Ticket, KeepAlive);
	                     });
	return Output;
}

void FRealMasterViewExtension::AddRealtimeReadback(FRDGBuilder& GraphBuilder, const FCapture& Capture)
{
	FRenderState& S = *State;
	realmaster::Session* Session = S.Session;

	// 1. Hand the newest finished readback to the runtime. Runs during graph execution, before this
	//    frame's copies; checks readiness and never waits.
	GraphBuilder.AddPass(
	    RDG_EVENT_NAME("RealMaster.Submit"), ERDGPassFlags::NeverCull,
	    [StatePtr = State, Session](FRHICommandListImmediate&)
	    {
		    StatePtr->Ring.ConsumeNewestReady(
		        [](FReadbackPair& P)
		        {
			        return P.Color->IsReady() && P.Aux->IsReady();
		        },
		        [Session](FRing::Slot& Slot)
		        {
			        const FReadbackPair& P = Slot.payload;
			        const realmaster::Status St =
			            SubmitMapped(*Session, *P.Color, *P.Aux, Slot.width, Slot.height, Slot.cameraCut, P.Light);
			        if (!St.ok())
			        {
				        UE_LOG(LogRealMaster, Verbose, TEXT("submit refused: %s"), UTF8_TO_TCHAR(St.message.c_str()));
			        }
		        });
	    });

	// 2. Copy this frame into a free slot; when all are still in flight the capture is skipped.
	FRing::Slot* Slot = S.Ring.Acquire(++S.FrameCounter);
	if (!Slot)
	{
		return;
	}
	if (!Slot->payload.Color)
	{
		Slot->payload.Color = MakeUnique<FRHIGPUTextureReadback>(TEXT("RealMaster.ColorReadback"));
		Slot->payload.Aux = MakeUnique<FRHIGPUBufferReadback>(TEXT("RealMaster.GBufferReadback"));
	}
	Slot->width = Capture.Layout.width;
	Slot->height = Capture.Layout.height;
	Slot->cameraCut = Capture.bCameraCut;
	Slot->payload.Light = Capture.Light;
	AddEnqueueCopyPass(GraphBuilder, Slot->payload.Color.Get(), Capture.Color);
	AddEnqueueCopyPass(GraphBuilder, Slot->payload.Aux.Get(), Capture.Aux,
	                   static_cast<uint32>(Capture.Layout.TotalBytes()));
	GraphBuilder.AddPass(RDG_EVENT_NAME("RealMaster.MarkEnqueued"), ERDGPassFlags::NeverCull,
	                     [StatePtr = State, Slot](FRHICommandListImmediate&)
	                     {
		                     StatePtr->Ring.MarkEnqueued(Slot);
	                     });
}

void FRealMasterViewExtension::AddCinematicInference(FRDGBuilder& GraphBuilder, const FCapture& Capture,
                                                     TSharedRef<FPendingUpload, ESPMode::ThreadSafe> Pending)
{
	FRenderState& S = *State;
	if (!S.Cinematic.Color)
	{
		S.Cinematic.Color = MakeUnique<FRHIGPUTextureReadback>(TEXT("RealMaster.CinematicColor"));
		S.Cinematic.Aux = MakeUnique<FRHIGPUBufferReadback>(TEXT("RealMaster.CinematicGBuffer"));
	}
	AddEnqueueCopyPass(GraphBuilder, S.Cinematic.Color.Get(), Capture.Color);
	AddEnqueueCopyPass(GraphBuilder, S.Cinematic.Aux.Get(), Capture.Aux,
	                   static_cast<uint32>(Capture.Layout.TotalBytes()));

	// Movie Render Queue cannot be told to wait for a plugin, so the frame is finished inside the
	// graph: wait for the copies, run inference (cinematic submit returns when the output is ready),
	// and leave the pixels for the upload pass that follows. Stalls the GPU by design; cinematic only.
	Pending->Output = AcquireOutput();
	GraphBuilder.AddPass(
	    RDG_EVENT_NAME("RealMaster.CinematicInference"), ERDGPassFlags::NeverCull,
	    [StatePtr = State, Session = S.Session, Pending, Width = Capture.Layout.width, Height = Capture.Layout.height,
	     bCut = Capture.bCameraCut, Light = Capture.Light](FRHICommandListImmediate& RHICmdList)
	    {
		    FReadbackPair& C = StatePtr->Cinematic;
		    // Flushes the recorded work to the GPU and waits for it (FRHICommandListImmediate, 5.4+).
		    RHICmdList.BlockUntilGPUIdle();
		    const double Deadline = FPlatformTime::Seconds() + 10.0;
		    while (!(C.Color->IsReady() && C.Aux->IsReady()) && FPlatformTime::Seconds() < Deadline)
		    {
			    FPlatformProcess::SleepNoStats(0.0005f);
		    }
		    const realmaster::Status St = SubmitMapped(*Session, *C.Color, *C.Aux, Width, Height, bCut, Light);
		    if (St.ok() && Session->latestOutput(*Pending->Output) && Pending->Output->width() == Width &&
		        Pending->Output->height() == Height)
		    {
			    Pending->bHasData = true;
			    return;
		    }
		    // Never black: show the captured frame itself, and say why once.
		    UE_LOG(LogRealMaster, Warning, TEXT("Cinematic frame passes through: %s"),
		           UTF8_TO_TCHAR(St.message.c_str()));
		    int32 RowPitchPixels = 0;
		    if (const uint8* Pixels = static_cast<const uint8*>(C.Color->Lock(RowPitchPixels, nullptr)))
		    {
			    const SIZE_T Row = static_cast<SIZE_T>(Width) * CaptureBytesPerPixel;
			    Pending->Fallback.SetNumUninitialized(static_cast<int32>(Row * Height));
			    for (uint32 Y = 0; Y < Height; ++Y)
			    {
				    FMemory::Memcpy(Pending->Fallback.GetData() + Y * Row,
				                    Pixels + static_cast<SIZE_T>(Y) * RowPitchPixels * CaptureBytesPerPixel, Row);
			    }
			    Pending->bUseFallback = true;
			    Pending->bHasData = true;
		    }
		    C.Color->Unlock();
	    });
}

FRDGTextureRef FRealMasterViewExtension::AddUploadPass(FRDGBuilder& GraphBuilder, FIntPoint Size,
                                                       TSharedRef<FPendingUpload, ESPMode::ThreadSafe> Pending,
                                                       bool bUploadThisFrame)
{
	FRenderState& S = *State;
	if (S.OutputTexture.IsValid() && S.OutputSize != Size)
	{
		// The viewport was resized: the old frame is the wrong size and is never shown again.
		S.OutputTexture.SafeRelease();
		S.bOutputValid = false;
	}
	if (!bUploadThisFrame)
	{
		if (Pending->Output.IsValid())
		{
			FScopeLock Lock(&S.FreeOutputsLock);
			S.FreeOutputs.Add(Pending->Output);
		}
		// Keep showing the last enhanced frame of this size until a newer one arrives.
		return S.bOutputValid && S.OutputTexture.IsValid() ? GraphBuilder.RegisterExternalTexture(S.OutputTexture)
		                                                   : nullptr;
	}

	FRDGTextureRef Target = nullptr;
	if (S.OutputTexture.IsValid())
	{
		Target = GraphBuilder.RegisterExternalTexture(S.OutputTexture);
	}
	else
	{
		Target = GraphBuilder.CreateTexture(
		    FRDGTextureDesc::Create2D(Size, CapturePixelFormat, FClearValueBinding::Black, TexCreate_ShaderResource),
		    TEXT("RealMaster.Enhanced"));
		GraphBuilder.QueueTextureExtraction(Target, &S.OutputTexture);
		S.OutputSize = Size;
	}

	FRealMasterUploadParameters* Params = GraphBuilder.AllocParameters<FRealMasterUploadParameters>();
	Params->Target = Target;
	GraphBuilder.AddPass(RDG_EVENT_NAME("RealMaster.Upload"), Params, ERDGPassFlags::Copy | ERDGPassFlags::NeverCull,
	                     [StatePtr = State, Pending, Target](FRHICommandListImmediate& RHICmdList)
	                     {
		                     if (Pending->bHasData)
		                     {
			                     const FUpdateTextureRegion2D Region(0, 0, 0, 0, Pending->Size.X, Pending->Size.Y);
			                     const uint32 Pitch = static_cast<uint32>(Pending->Size.X) * CaptureBytesPerPixel;
			                     const uint8* Data =
			                         Pending->bUseFallback ? Pending->Fallback.GetData() : Pending->Output->data();
			                     RHICmdList.UpdateTexture2D(Target->GetRHI(), 0, Region, Pitch, Data);
		                     }
		                     if (Pending->Output.IsValid())
		                     {
			                     FScopeLock Lock(&StatePtr->FreeOutputsLock);
			                     StatePtr->FreeOutputs.Add(Pending->Output);
		                     }
	                     });
	S.bOutputValid = true;
	return Target;
}

void FRealMasterViewExtension::Shutdown_RenderThread()
{
	State->Ring.Reset();
	State->Views.Reset();
	State->Session = nullptr;
	State->Device.Reset();
	State->DeviceTextures.Reset();
	State->OutputTexture.SafeRelease();
	State->bOutputValid = false;
	State->SceneSuns.Reset();
}
