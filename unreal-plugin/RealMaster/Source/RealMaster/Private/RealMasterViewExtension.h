// The scene view extension: captures one view after the tonemapper and hands it to the runtime, then
// composites the result into the viewport. Two paths:
// - Vulkan device path (Vulkan RHI): the captured colour and the pack shader's G-buffer textures stay on
//   the GPU; the runtime enhances them into an output texture on Unreal's own device and queue, within
//   the same frame (RealMasterVulkanDevicePath.h).
// - Readback path (D3D12, or whenever the device path cannot be used): the frame is read back without
//   stalling (realtime) or synchronously inside the render graph (cinematic), and the newest result is
//   uploaded.
//
// Which pass, and why (EPostProcessingPass::Tonemap, i.e. the "after tonemapping" blend location):
// - the temporal upscaler (TAA/TSR) runs before it, so the composited result never enters the
//   TAA/TSR history (which would feed the effect back into itself and smear it over time);
// - the frame is at output (display) resolution, so the model sees what the player sees;
// - it is display-referred sRGB (SDR), like the frames the model was trained on.
// Scene depth, GBuffer normals and velocity are still at render resolution there; the G-buffer pack
// shader resamples them to the output size. UI and FXAA come after, as they should.
//
// The scene's light (r.RealMaster.SceneLight): on the game thread, BeginRenderViewFamily finds the
// family's sun (the atmosphere sun light, else the brightest directional light) and sends the direction
// towards it to the render thread; each captured view turns it and the world's up (+Z) into the view
// space of the packed normals (Core/RealMasterSceneLight.h) and hands it over with the frame, on every
// path (readback realtime and cinematic, i.e. also Movie Render Queue, and the Vulkan device path).
#pragma once

#include "CoreMinimal.h"
#include "RHIGPUReadback.h"
#include "RealMasterFrameLayout.h"
#include "RealMasterReadbackRing.h"
#include "RealMasterSceneLight.h"
#include "RealMasterViewSelector.h"
#include "RealMasterVulkanDevicePath.h"
#include "RenderGraphResources.h"
#include "Runtime/Launch/Resources/Version.h"
#include "SceneViewExtension.h"
#include "ScreenPass.h"

#include <optional>

class FRealMasterRuntime;
class FSceneInterface;
struct FPostProcessMaterialInputs;

class FRealMasterViewExtension : public FSceneViewExtensionBase
{
public:
	FRealMasterViewExtension(const FAutoRegister& AutoRegister,
	                         TSharedRef<FRealMasterRuntime, ESPMode::ThreadSafe> InRuntime);
	virtual ~FRealMasterViewExtension() override;

	//~ ISceneViewExtension
	virtual void SetupViewFamily(FSceneViewFamily& InViewFamily) override {}
	virtual void SetupView(FSceneViewFamily& InViewFamily, FSceneView& InView) override {}
	/** Game thread, before the family is rendered: finds the scene's sun for its frames. */
	virtual void BeginRenderViewFamily(FSceneViewFamily& InViewFamily) override;
	virtual void PreRenderViewFamily_RenderThread(FRDGBuilder& GraphBuilder, FSceneViewFamily& InViewFamily) override;
#if ENGINE_MAJOR_VERSION == 5 && ENGINE_MINOR_VERSION < 5
	virtual void SubscribeToPostProcessingPass(EPostProcessingPass Pass,
	                                           FAfterPassCallbackDelegateArray& InOutPassCallbacks,
	                                           bool bIsPassEnabled) override;
#else
	// 5.5 added the view; the overload without it is deprecated and no longer called from 5.6.
	virtual void SubscribeToPostProcessingPass(EPostProcessingPass Pass, const FSceneView& InView,
	                                           FAfterPassCallbackDelegateArray& InOutPassCallbacks,
	                                           bool bIsPassEnabled) override;
#endif

	/** Render thread, at module shutdown: drops the readbacks and the output textures. */
	void Shutdown_RenderThread();

protected:
	virtual bool IsActiveThisFrame_Internal(const FSceneViewExtensionContext& Context) const override;

private:
	/** One in-flight capture: the color and packed G-buffer readbacks of a frame. */
	struct FReadbackPair
	{
		TUniquePtr<FRHIGPUTextureReadback> Color;
		TUniquePtr<FRHIGPUBufferReadback> Aux;
		/** The scene's light when the frame was captured (view space of its normals), none without one. */
		std::optional<realmaster::SceneLight> Light;
	};
	static constexpr SIZE_T NumReadbacks = 3;
	using FRing = RealMasterCore::ReadbackRing<FReadbackPair, NumReadbacks>;

	/** The device path's textures, kept across frames: the session registers their images once and again
	 *  only after a resize (a new allocation). */
	struct FDeviceTextures
	{
		TRefCountPtr<IPooledRenderTarget> Color;
		TRefCountPtr<IPooledRenderTarget> Depth;
		TRefCountPtr<IPooledRenderTarget> Normals;
		TRefCountPtr<IPooledRenderTarget> Motion;
		TRefCountPtr<IPooledRenderTarget> Output;
		FIntPoint Size = FIntPoint::ZeroValue;

		void Reset()
		{
			Color.SafeRelease();
			Depth.SafeRelease();
			Normals.SafeRelease();
			Motion.SafeRelease();
			Output.SafeRelease();
			Size = FIntPoint::ZeroValue;
		}
	};

	/** A scene's sun as the game thread found it for the families being rendered: the direction towards it,
	 *  world space (none: no directional light, or r.RealMaster.SceneLight 0). */
	struct FSceneSun
	{
		/** Only compared, never dereferenced: which scene the families belong to. */
		const FSceneInterface* Scene = nullptr;
		std::optional<RealMasterCore::Vec3d> TowardsSun;
	};
	/** Scenes whose families may be in flight at once (editor viewports, previews); the oldest goes first. */
	static constexpr int32 MaxSceneSuns = 8;

	/** Everything the render-graph pass lambdas touch; they run later in the frame on the render thread. */
	struct FRenderState
	{
		FRing Ring;
		FReadbackPair Cinematic;
		TRefCountPtr<IPooledRenderTarget> OutputTexture;
		FIntPoint OutputSize = FIntPoint::ZeroValue;
		bool bOutputValid = false;
		uint64 LastFramesOutput = ~0ull;
		/** Outputs made from frames submitted before the current view took over are not shown. */
		uint64 MinOutputFrameIndex = 0;
		uint64 FrameCounter = 0;
		/** The one view whose frames reach the runtime (its temporal history is per camera). */
		RealMasterCore::ViewSelector Views;
		realmaster::Session* Session = nullptr;   // readback path; owned by the runtime; valid for this frame
		FRealMasterVulkanDevicePath::FRef Device; // Vulkan device path (Session is then null)
		FDeviceTextures DeviceTextures;
		/** Pixels waiting to be uploaded, recycled between frames. */
		TArray<TSharedPtr<realmaster::Output, ESPMode::ThreadSafe>> FreeOutputs;
		FCriticalSection FreeOutputsLock;
		/** Per scene, its sun for the next families rendered (set by a render command from BeginRenderViewFamily,
		 *  which runs before the family's own rendering). */
		TArray<FSceneSun, TInlineAllocator<MaxSceneSuns>> SceneSuns;
	};

	FScreenPassTexture PostTonemap_RenderThread(FRDGBuilder& GraphBuilder, const FSceneView& View,
	                                            const FPostProcessMaterialInputs& Inputs);
	/** The scene color untouched, written into OverrideOutput when the engine asks for it. */
	static FScreenPassTexture PassThrough(FRDGBuilder& GraphBuilder, const FSceneView& View,
	                                      const FPostProcessMaterialInputs& Inputs,
	                                      const FScreenPassTexture& SceneColor);

	struct FCapture
	{
		FRDGTextureRef Color = nullptr;
		FRDGBufferRef Aux = nullptr;
		RealMasterCore::AuxLayout Layout;
		bool bCameraCut = false;
		std::optional<realmaster::SceneLight> Light;
	};
	struct FPendingUpload;
	FCapture AddCapturePasses(FRDGBuilder& GraphBuilder, const FSceneView& View,
	                          const FPostProcessMaterialInputs& Inputs, const FScreenPassTexture& SceneColor);
	void AddRealtimeReadback(FRDGBuilder& GraphBuilder, const FCapture& Capture);
	void AddCinematicInference(FRDGBuilder& GraphBuilder, const FCapture& Capture,
	                           TSharedRef<FPendingUpload, ESPMode::ThreadSafe> Pending);
	/** Vulkan device path: capture, pack, and enhance on the GPU. Returns the output texture, or null (pass through).
	 */
	FRDGTextureRef AddDevicePasses(FRDGBuilder& GraphBuilder, const FSceneView& View,
	                               const FPostProcessMaterialInputs& Inputs, const FScreenPassTexture& SceneColor,
	                               bool bCameraCut, const std::optional<realmaster::SceneLight>& Light);
	/** Render thread: the scene's light in this view's space (the packed normals' space), or none. */
	std::optional<realmaster::SceneLight> SceneLightForView_RenderThread(const FSceneView& View) const;
	/** Returns the texture holding the newest enhanced frame of this size, or null (pass through). */
	FRDGTextureRef AddUploadPass(FRDGBuilder& GraphBuilder, FIntPoint Size,
	                             TSharedRef<FPendingUpload, ESPMode::ThreadSafe> Pending, bool bUploadThisFrame);

	TSharedPtr<realmaster::Output, ESPMode::ThreadSafe> AcquireOutput();

	TSharedRef<FRealMasterRuntime, ESPMode::ThreadSafe> Runtime;
	TSharedRef<FRenderState, ESPMode::ThreadSafe> State;
};
