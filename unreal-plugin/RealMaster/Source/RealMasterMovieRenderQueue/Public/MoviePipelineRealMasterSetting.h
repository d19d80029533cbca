// Movie Render Queue setting: renders the job with RealMaster in cinematic mode (every frame is
// inferred, in order, before MRQ reads it back) and restores the previous settings afterwards.
#pragma once

#include "CoreMinimal.h"
#include "MoviePipelineViewFamilySetting.h"

#include "MoviePipelineRealMasterSetting.generated.h"

UCLASS(BlueprintType, meta = (DisplayName = "RealMaster (cinematic)"))
class REALMASTERMOVIERENDERQUEUE_API UMoviePipelineRealMasterSetting : public UMoviePipelineViewFamilySetting
{
	GENERATED_BODY()

public:
	/** Look prompt for this render: a preset (clear, rain, fog, snow, night, golden_hour) or free text. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "RealMaster")
	FString Prompt = TEXT("clear");

	/** 0 = untouched frames, 1 = full effect. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "RealMaster",
	          meta = (ClampMin = "0.0", ClampMax = "1.0", UIMin = "0.0", UIMax = "1.0"))
	float Strength = 1.0f;

	/** The guided upsample's ridge (r.RealMaster.UpsampleEps, 1e-6..1): 1e-3 keeps the engine frame's fine
	 *  edges; smaller values follow the model's picture more closely. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "RealMaster",
	          meta = (ClampMin = "0.000001", ClampMax = "1.0", UIMin = "0.000001", UIMax = "0.01"))
	float UpsampleEps = 1e-3f;

	/** Hand the scene's sun to the model with every frame (r.RealMaster.SceneLight), for models that read the
	 *  light; off, such a model assumes a sun 45 degrees up behind the camera. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "RealMaster")
	bool bSceneLight = true;

	/** Model package folder for this render; empty keeps r.RealMaster.Model. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "RealMaster")
	FString ModelDirectory;

#if WITH_EDITOR
	virtual FText GetDisplayText() const override;
	virtual FText GetFooterText(UMoviePipelineExecutorJob* InJob) const override;
#endif
	// Applied once for the whole job: shot overrides would have to restore per shot.
	virtual bool IsValidOnShots() const override
	{
		return false;
	}
	virtual bool IsValidOnPrimary() const override
	{
		return true;
	}

	virtual void SetupViewFamily(FSceneViewFamily& ViewFamily) override;

protected:
	virtual void SetupForPipelineImpl(UMoviePipeline* InPipeline) override;
	virtual void TeardownForPipelineImpl(UMoviePipeline* InPipeline) override;

private:
	/** Console variable values before the render, restored by TeardownForPipelineImpl. */
	TMap<FString, FString> Saved;
	bool bApplied = false;
};
