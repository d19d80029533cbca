#include "RealMasterModule.h"

#include "HAL/FileManager.h"
#include "HAL/IConsoleManager.h"
#include "Interfaces/IPluginManager.h"
#include "Misc/CoreDelegates.h"
#include "Misc/Paths.h"
#include "Modules/ModuleManager.h"
#include "RealMasterLog.h"
#include "RealMasterRuntime.h"
#include "RealMasterSettingsModel.h"
#include "RealMasterViewExtension.h"
#include "RealMasterVulkanDevicePath.h"
#include "RenderingThread.h"
#include "SceneViewExtension.h"
#include "ShaderCore.h"

DEFINE_LOG_CATEGORY(LogRealMaster);

#define LOCTEXT_NAMESPACE "RealMaster"

namespace
{
// Where build_thirdparty stages ONNX Runtime (RealMasterLibrary.Build.cs stages the same files).
#if PLATFORM_WINDOWS
const TCHAR* const PlatformFolder = TEXT("Win64");
const TCHAR* const OrtLibraryName = TEXT("onnxruntime.dll");
#else
const TCHAR* const PlatformFolder = TEXT("Linux");
const TCHAR* const OrtLibraryName = TEXT("libonnxruntime.so");
#endif

/** The first model package (a folder with manifest.json) under <Plugin>/Models, or empty. */
FString FindDefaultModel(const FString& PluginDir)
{
	TArray<FString> Folders;
	const FString ModelsDir = FPaths::Combine(PluginDir, TEXT("Models"));
	IFileManager::Get().FindFiles(Folders, *FPaths::Combine(ModelsDir, TEXT("*")), false, true);
	Folders.Sort();
	for (const FString& Folder : Folders)
	{
		const FString Candidate = FPaths::Combine(ModelsDir, Folder);
		if (FPaths::FileExists(FPaths::Combine(Candidate, TEXT("manifest.json"))))
		{
			return FPaths::ConvertRelativePathToFull(Candidate);
		}
	}
	return FString();
}
} // namespace

FRealMasterModule& FRealMasterModule::Get()
{
	return FModuleManager::LoadModuleChecked<FRealMasterModule>("RealMaster");
}

bool FRealMasterModule::IsAvailable()
{
	return FModuleManager::Get().IsModuleLoaded("RealMaster");
}

void FRealMasterModule::StartupModule()
{
	const TSharedPtr<IPlugin> Plugin = IPluginManager::Get().FindPlugin(TEXT("RealMaster"));
	const FString PluginDir = Plugin.IsValid() ? Plugin->GetBaseDir() : FString();

	// Shaders must be mapped before the engine compiles global shaders (PostConfigInit loading phase).
	AddShaderSourceDirectoryMapping(TEXT("/Plugin/RealMaster"), FPaths::Combine(PluginDir, TEXT("Shaders")));

	// The Vulkan device path needs its device extensions enabled when the RHI creates the VkDevice, which
	// happens after this loading phase (ignored by other RHIs).
	FRealMasterVulkanDevicePath::RequestDeviceExtensions();

	const FString OrtLibrary = FPaths::ConvertRelativePathToFull(
	    FPaths::Combine(PluginDir, TEXT("Binaries/ThirdParty/RealMasterLibrary"), PlatformFolder, OrtLibraryName));
	if (!FPaths::FileExists(OrtLibrary))
	{
		UE_LOG(LogRealMaster, Warning,
		       TEXT("ONNX Runtime is not staged at %s; sessions will fail until it is (run "
		            "unreal-plugin/build_thirdparty)."),
		       *OrtLibrary);
	}
	Runtime = MakeShared<FRealMasterRuntime, ESPMode::ThreadSafe>(OrtLibrary, FindDefaultModel(PluginDir));

	// The view extension needs the engine (GEngine, the renderer module) to exist.
	PostEngineInitHandle = FCoreDelegates::OnPostEngineInit.AddRaw(this, &FRealMasterModule::OnPostEngineInit);
}

void FRealMasterModule::OnPostEngineInit()
{
	ViewExtension = FSceneViewExtensions::NewExtension<FRealMasterViewExtension>(Runtime.ToSharedRef());
	UE_LOG(LogRealMaster, Log, TEXT("RealMaster %s ready (r.RealMaster.Enable 1 to start)"),
	       UTF8_TO_TCHAR(realmaster::version().c_str()));
}

void FRealMasterModule::ShutdownModule()
{
	FCoreDelegates::OnPostEngineInit.Remove(PostEngineInitHandle);
	if (Runtime.IsValid())
	{
		// Everything that runs Rust code or holds GPU readbacks goes away on the render thread, before
		// this module (and the static library in it) is unloaded.
		TSharedPtr<FRealMasterRuntime, ESPMode::ThreadSafe> RuntimeRef = Runtime;
		TSharedPtr<FRealMasterViewExtension, ESPMode::ThreadSafe> ExtensionRef = ViewExtension;
		ENQUEUE_RENDER_COMMAND(RealMasterShutdown)
		(
		    [RuntimeRef, ExtensionRef](FRHICommandListImmediate&)
		    {
			    if (ExtensionRef.IsValid())
			    {
				    ExtensionRef->Shutdown_RenderThread();
			    }
			    RuntimeRef->Shutdown_RenderThread();
		    });
		FlushRenderingCommands();
	}
	ViewExtension.Reset();
	Runtime.Reset();
}

TArray<FString> FRealMasterModule::GetWeatherPresets()
{
	TArray<FString> Presets;
	for (std::string_view Preset : RealMasterCore::kWeatherPresets)
	{
		Presets.Add(FString(static_cast<int32>(Preset.size()), Preset.data()));
	}
	return Presets;
}

TArray<FRealMasterModule::FUpsampleEpsStep> FRealMasterModule::GetUpsampleEpsSteps()
{
	TArray<FUpsampleEpsStep> Steps;
	for (const RealMasterCore::UpsampleEpsStep& Step : RealMasterCore::kUpsampleEpsSteps)
	{
		Steps.Add({Step.value, FString(static_cast<int32>(Step.label.size()), Step.label.data()),
		           FString(static_cast<int32>(Step.tip.size()), Step.tip.data())});
	}
	return Steps;
}

void FRealMasterModule::SetConsoleVariable(const TCHAR* Name, const FString& Value)
{
	if (IConsoleVariable* Var = IConsoleManager::Get().FindConsoleVariable(Name))
	{
		Var->Set(*Value, ECVF_SetByConsole);
	}
}

FString FRealMasterModule::GetConsoleVariable(const TCHAR* Name)
{
	const IConsoleVariable* Var = IConsoleManager::Get().FindConsoleVariable(Name);
	return Var ? Var->GetString() : FString();
}

FRealMasterStatus FRealMasterModule::GetStatus() const
{
	return Runtime.IsValid() ? Runtime->GetStatus() : FRealMasterStatus();
}

#undef LOCTEXT_NAMESPACE

IMPLEMENT_MODULE(FRealMasterModule, RealMaster)
