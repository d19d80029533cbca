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
#pragma once

#include "CoreMinimal.h"
#include "RHIGPUReadback.h"
#include "RealMasterFrameLayout.h"
#include "RealMasterReadbackRing.h"
#include "RealMasterViewSelector.h"
#include "RealMasterVulkanDevicePath.h"
#include "RenderGraphResources.h"
#include "Runtime/Launch/Resources/Version.h"
#include "SceneViewExtension.h"
#include "ScreenPass.h"

class FRealMasterRuntime;
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
	virtual void BeginRenderViewFamily(FSceneViewFamily& InViewFamily) override {}
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
	                               bool bCameraCut);
	/** Returns the texture holding the newest enhanced frame of this size, or null (pass through). */
	FRDGTextureRef AddUploadPass(FRDGBuilder& GraphBuilder, FIntPoint Size,
	                             TSharedRef<FPendingUpload, ESPMode::ThreadSafe> Pending, bool bUploadThisFrame);

	TSharedPtr<realmaster::Output, ESPMode::ThreadSafe> AcquireOutput();

	TSharedRef<FRealMasterRuntime, ESPMode::ThreadSafe> Runtime;
	TSharedRef<FRenderState, ESPMode::ThreadSafe> State;
};
