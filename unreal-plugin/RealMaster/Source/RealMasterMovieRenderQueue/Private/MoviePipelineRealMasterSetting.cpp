#include "MoviePipelineRealMasterSetting.h"

#include "RealMasterModule.h"

#define LOCTEXT_NAMESPACE "MoviePipelineRealMasterSetting"

DEFINE_LOG_CATEGORY_STATIC(LogRealMasterMRQ, Log, All);

#if WITH_EDITOR
FText UMoviePipelineRealMasterSetting::GetDisplayText() const
{
	return LOCTEXT("DisplayText", "RealMaster (cinematic)");
}

FText UMoviePipelineRealMasterSetting::GetFooterText(UMoviePipelineExecutorJob* InJob) const
{
	return LOCTEXT(
	    "Footer",
	    "Renders every frame through RealMaster in cinematic mode: each frame waits for its inference inside the "
	    "render graph, so renders are slower than real time and identical between runs.");
}
#endif

void UMoviePipelineRealMasterSetting::SetupForPipelineImpl(UMoviePipeline* InPipeline)
{
	// MRQ may set a setting up more than once per job; only the first call sees the user's values.
	if (bApplied)
	{
		return;
	}
	Saved.Reset();
	struct FOverride
	{
		const TCHAR* Name;
		FString Value;
	};
	TArray<FOverride> Overrides = {
	    {RealMasterCVarNames::Enable, TEXT("1")},
	    {RealMasterCVarNames::Mode, TEXT("cinematic")},
	    {RealMasterCVarNames::Strength, FString::SanitizeFloat(FMath::Clamp(Strength, 0.0f, 1.0f))},
	    {RealMasterCVarNames::UpsampleEps, FString::SanitizeFloat(FMath::Clamp(UpsampleEps, 1e-6f, 1.0f))},
	    {RealMasterCVarNames::Prompt, Prompt},
	    {RealMasterCVarNames::SceneLight, bSceneLight ? TEXT("1") : TEXT("0")},
	};
	if (!ModelDirectory.IsEmpty())
	{
		Overrides.Add({RealMasterCVarNames::Model, ModelDirectory});
	}
	for (const FOverride& Override : Overrides)
	{
		Saved.Add(FString(Override.Name), FRealMasterModule::GetConsoleVariable(Override.Name));
		FRealMasterModule::SetConsoleVariable(Override.Name, Override.Value);
	}
	bApplied = true;
	const FString PreviousMode = Saved.FindRef(FString(RealMasterCVarNames::Mode));
	UE_LOG(LogRealMasterMRQ, Log,
	       TEXT("Movie render uses RealMaster in cinematic mode (prompt '%s', strength %.2f, upsample ridge %g, scene "
	            "light %s); the previous settings (mode '%s') come back when the render ends."),
	       *Prompt, Strength, UpsampleEps, bSceneLight ? TEXT("on") : TEXT("off"), *PreviousMode);
}

void UMoviePipelineRealMasterSetting::TeardownForPipelineImpl(UMoviePipeline* InPipeline)
{
	if (!bApplied)
	{
		return;
	}
	// Restores the mode (realtime, usually) and everything else this setting changed when MRQ tears
	// the job's settings down at the end of the render.
	for (const TPair<FString, FString>& Value : Saved)
	{
		FRealMasterModule::SetConsoleVariable(*Value.Key, Value.Value);
	}
	Saved.Reset();
	bApplied = false;
}

void UMoviePipelineRealMasterSetting::SetupViewFamily(FSceneViewFamily& ViewFamily)
{
	// Nothing to change on the family: the RealMaster view extension is active for every family while
	// r.RealMaster.Enable is set, including the Scene-context families MRQ renders, and its
	// BeginRenderViewFamily gives each of them the scene's sun (r.RealMaster.SceneLight, set from bSceneLight).
}

#undef LOCTEXT_NAMESPACE
