// Editor module: the level editor toolbar toggle and the RealMaster panel (prompt, presets, strength, stats).
using UnrealBuildTool;

public class RealMasterEditor : ModuleRules
{
	public RealMasterEditor(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;

		PrivateDependencyModuleNames.AddRange(new string[] {
			"Core", "CoreUObject", "Engine", "Slate", "SlateCore", "InputCore", "ToolMenus",
			"UnrealEd", "LevelEditor", "WorkspaceMenuStructure", "RealMaster"
		});
	}
}
