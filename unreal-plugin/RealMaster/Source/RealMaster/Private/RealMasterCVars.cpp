#include "RealMasterCVars.h"

#include "HAL/IConsoleManager.h"
#include "Misc/Paths.h"
#include "RealMasterLog.h"

static TAutoConsoleVariable<int32> CVarRealMasterEnable(
    TEXT("r.RealMaster.Enable"), 0,
    TEXT("1: run RealMaster on rendered views (after the temporal upscaler and tonemapper). 0: off."),
    ECVF_RenderThreadSafe);

static TAutoConsoleVariable<float>
    CVarRealMasterStrength(TEXT("r.RealMaster.Strength"), 1.0f,
                           TEXT("Blend strength 0..1 (0 = untouched frame). Out-of-range values are clamped."),
                           ECVF_RenderThreadSafe);

static TAutoConsoleVariable<float> CVarRealMasterUpsampleEps(
    TEXT("r.RealMaster.UpsampleEps"), 1e-3f,
    TEXT("How the look reaches detail finer than the model's input, 1e-6..1 (clamped): smaller follows the model "
         "into finer detail (less grain and fewer dark rims under dark looks such as night), larger keeps more of "
         "the engine's edges. Changes apply from the next frame."),
    ECVF_RenderThreadSafe);

static TAutoConsoleVariable<FString> CVarRealMasterPrompt(
    TEXT("r.RealMaster.Prompt"), TEXT("clear"),
    TEXT("Look prompt: a preset (clear, rain, fog, snow, night, golden_hour) or free text (needs a model with a text "
         "encoder). Changes blend in over a few frames."),
    ECVF_RenderThreadSafe);

static TAutoConsoleVariable<FString> CVarRealMasterMode(
    TEXT("r.RealMaster.Mode"), TEXT("realtime"),
    TEXT("realtime: never waits for inference (the newest finished result is shown). cinematic: every frame is "
         "inferred before it is shown (Movie Render Queue sets this for its renders)."),
    ECVF_RenderThreadSafe);

static TAutoConsoleVariable<FString> CVarRealMasterModel(
    TEXT("r.RealMaster.Model"), TEXT(""),
    TEXT("Model package folder (absolute or relative to the project). Empty: the first package in the plugin's "
         "Models folder."),
    ECVF_RenderThreadSafe);

static TAutoConsoleVariable<FString> CVarRealMasterExecutionProvider(
    TEXT("r.RealMaster.ExecutionProvider"), TEXT("auto"),
    TEXT("ONNX Runtime execution provider: auto, tensorrt, cuda, directml, coreml, cpu. Changing it recreates the "
         "session."),
    ECVF_RenderThreadSafe);

static TAutoConsoleVariable<int32> CVarRealMasterDevicePath(
    TEXT("r.RealMaster.DevicePath"), 1,
    TEXT("1: on the Vulkan RHI, hand the engine's textures to RealMaster on the GPU (no readback; falls back to the "
         "readback path, once reported, when it cannot be used). 0: always read frames back to the CPU. Changing it "
         "recreates the session."),
    ECVF_RenderThreadSafe);

static TAutoConsoleVariable<int32> CVarRealMasterExposureLock(
    TEXT("r.RealMaster.ExposureLock"), 0,
    TEXT("1: hold the output's brightness to the model's teacher's exposure rule (it follows the engine frame's "
         "brightness as the path-traced targets did), where the model package states one; it lifts a renderer whose "
         "brightness the model misjudges and darkens frames rendered darker than their scene. 0: the brightness the "
         "model chose. Changing it recreates the session."),
    ECVF_RenderThreadSafe);

static TAutoConsoleVariable<int32> CVarRealMasterSceneLight(
    TEXT("r.RealMaster.SceneLight"), 1,
    TEXT("1: hand the scene's sun (the directional light the sky atmosphere uses as its sun, else the brightest "
         "directional light) and the world's up to RealMaster with every frame, in the view space of the normals, "
         "for models that read the light. 0: frames carry no light, and such a model then assumes a sun 45 degrees up "
         "behind the camera. Models without a light input ignore it."),
    ECVF_RenderThreadSafe);

namespace RealMasterCVars
{
static std::string ToUtf8(const FString& S)
{
	return std::string(TCHAR_TO_UTF8(*S));
}

bool IsEnabled_GameThread()
{
	return CVarRealMasterEnable.GetValueOnGameThread() != 0;
}

bool IsSceneLightEnabled_GameThread()
{
	return CVarRealMasterSceneLight.GetValueOnGameThread() != 0;
}

RealMasterCore::DesiredSettings Read_RenderThread(const FString& DefaultModelDir)
{
	static RealMasterCore::ErrorLatch Warnings;
	RealMasterCore::DesiredSettings D;
	D.enable = CVarRealMasterEnable.GetValueOnRenderThread() != 0;
	D.devicePath = CVarRealMasterDevicePath.GetValueOnRenderThread() != 0;
	D.exposureLock = CVarRealMasterExposureLock.GetValueOnRenderThread() != 0;

	if (const std::optional<float> Strength =
	        RealMasterCore::ParseStrength(CVarRealMasterStrength.GetValueOnRenderThread()))
	{
		D.strength = *Strength;
	}
	if (const std::optional<float> Eps =
	        RealMasterCore::ParseUpsampleEps(CVarRealMasterUpsampleEps.GetValueOnRenderThread()))
	{
		D.upsampleEps = *Eps;
	}
	D.prompt = RealMasterCore::NormalisePrompt(ToUtf8(CVarRealMasterPrompt.GetValueOnRenderThread()));

	const FString ModeText = CVarRealMasterMode.GetValueOnRenderThread();
	if (const std::optional<realmaster::Mode> Mode = RealMasterCore::ParseMode(ToUtf8(ModeText)))
	{
		D.mode = *Mode;
	}
	else if (Warnings.ShouldReport("mode:" + ToUtf8(ModeText)))
	{
		UE_LOG(LogRealMaster, Warning, TEXT("r.RealMaster.Mode '%s' is not realtime or cinematic; using realtime."),
		       *ModeText);
	}

	const FString EpText = CVarRealMasterExecutionProvider.GetValueOnRenderThread();
	if (const std::optional<std::string> Ep = RealMasterCore::ParseExecutionProvider(ToUtf8(EpText)))
	{
		D.executionProvider = *Ep;
	}
	else if (Warnings.ShouldReport("ep:" + ToUtf8(EpText)))
	{
		UE_LOG(LogRealMaster, Warning,
		       TEXT("r.RealMaster.ExecutionProvider '%s' is unknown (auto, tensorrt, cuda, directml, coreml, cpu); "
		            "using auto."),
		       *EpText);
	}

	FString Model = CVarRealMasterModel.GetValueOnRenderThread().TrimStartAndEnd();
	if (Model.IsEmpty())
	{
		Model = DefaultModelDir;
	}
	else if (FPaths::IsRelative(Model))
	{
		Model = FPaths::ConvertRelativePathToFull(FPaths::ProjectDir(), Model);
	}
	D.modelDir = ToUtf8(Model);
	return D;
}
} // namespace RealMasterCVars
