// RealMaster runtime module: owns the scene view extension and the session runtime.
#pragma once

#include "CoreMinimal.h"
#include "Modules/ModuleInterface.h"

/** Console variables of the plugin (the single list of names; see RealMasterCVars.cpp for help text). */
namespace RealMasterCVarNames
{
inline const TCHAR* Enable = TEXT("r.RealMaster.Enable");
inline const TCHAR* Strength = TEXT("r.RealMaster.Strength");
inline const TCHAR* UpsampleEps = TEXT("r.RealMaster.UpsampleEps");
inline const TCHAR* Prompt = TEXT("r.RealMaster.Prompt");
inline const TCHAR* Mode = TEXT("r.RealMaster.Mode");
inline const TCHAR* Model = TEXT("r.RealMaster.Model");
inline const TCHAR* ExecutionProvider = TEXT("r.RealMaster.ExecutionProvider");
inline const TCHAR* DevicePath = TEXT("r.RealMaster.DevicePath");
inline const TCHAR* SceneLight = TEXT("r.RealMaster.SceneLight");
} // namespace RealMasterCVarNames

/** A snapshot for UI (editor panel) and tools; published by the render thread once per frame. */
struct FRealMasterStatus
{
	bool bSessionActive = false;
	/** Frames are being enhanced (false: pass-through, see Message). */
	bool bEnhancing = false;
	bool bCreatingSession = false;
	FString ExecutionProvider = TEXT("none");
	/** How frames reach the runtime: "device (Vulkan)", "readback", or "none" without a session. */
	FString FramePath = TEXT("none");
	FString Mode = TEXT("realtime");
	FString Prompt;
	/** Health or the last error, with its fix. Empty when all is well. */
	FString Message;
	double InferenceMs = 0.0;
	double PreprocessMs = 0.0;
	double CompositeMs = 0.0;
	uint64 FramesSubmitted = 0;
	uint64 FramesOutput = 0;
	uint64 FramesDropped = 0;
	/** Readback path: captures skipped because every readback was in flight. Device path: frames shown
	 *  untouched while a prompt was being applied. */
	uint64 CapturesSkipped = 0;
	uint64 OutputLatencyFrames = 0;
};

class FRealMasterViewExtension;
class FRealMasterRuntime;

class REALMASTER_API FRealMasterModule : public IModuleInterface
{
public:
	static FRealMasterModule& Get();
	static bool IsAvailable();

	virtual void StartupModule() override;
	virtual void ShutdownModule() override;

	/** Latest status published by the render thread (any thread). */
	FRealMasterStatus GetStatus() const;

	/** The weather presets the shipped model knows (clear, rain, fog, snow, night, golden_hour). */
	static TArray<FString> GetWeatherPresets();

	/** A ridge value the editor panel offers for r.RealMaster.UpsampleEps, with its button label and tooltip. */
	struct FUpsampleEpsStep
	{
		float Value = 1e-3f;
		FString Label;
		FString Tip;
	};
	/** The panel's ridge values, most engine detail first (the first is the default). */
	static TArray<FUpsampleEpsStep> GetUpsampleEpsSteps();

	/** Set one of the plugin's console variables as the console would (overrides ini and code values). */
	static void SetConsoleVariable(const TCHAR* Name, const FString& Value);
	static FString GetConsoleVariable(const TCHAR* Name);

private:
	void OnPostEngineInit();

	TSharedPtr<FRealMasterRuntime, ESPMode::ThreadSafe> Runtime;
	/** The engine keeps only a weak pointer to view extensions: this reference keeps it registered. */
	TSharedPtr<FRealMasterViewExtension, ESPMode::ThreadSafe> ViewExtension;
	FDelegateHandle PostEngineInitHandle;
};
