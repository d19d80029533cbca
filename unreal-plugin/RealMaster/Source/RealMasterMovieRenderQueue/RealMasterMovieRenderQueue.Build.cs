// Movie Render Queue setting: renders a job in cinematic mode (every frame inferred, in order).
using UnrealBuildTool;

public class RealMasterMovieRenderQueue : ModuleRules
{
	public RealMasterMovieRenderQueue(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;

		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine", "MovieRenderPipelineCore" });
		PrivateDependencyModuleNames.AddRange(new string[] { "RealMaster" });
	}
}
