// Runtime module: console variables, the scene view extension (capture, Vulkan device path or readback,
// composite), the G-buffer pack compute shaders, and the compiled cxx bridge sources. Logic lives in the Rust runtime
// and in Private/Core (engine-independent, tested outside Unreal); this module stays thin.
using System.IO;
using UnrealBuildTool;

public class RealMaster : ModuleRules
{
	public RealMaster(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		// RealMasterCxxBridge.cpp compiles cxx's runtime and the generated bridge: keep them out of
		// unity blobs so their internal names never meet the plugin's.
		bUseUnity = false;

		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine" });
		PrivateDependencyModuleNames.AddRange(new string[] {
			"RenderCore", "Renderer", "RHI", "Projects", "RealMasterLibrary"
		});

		// The Vulkan device path (Private/RealMasterVulkanDevicePath.*): Unreal's VkInstance, VkDevice, queue and
		// images through IVulkanDynamicRHI (VulkanRHI module, Vulkan headers). Win64 and Linux only, like the plugin.
		if (Target.Platform == UnrealTargetPlatform.Win64 || Target.Platform == UnrealTargetPlatform.Linux)
		{
			PrivateDependencyModuleNames.Add("VulkanRHI");
			AddEngineThirdPartyPrivateStaticDependencies(Target, "Vulkan");
			PrivateDefinitions.Add("REALMASTER_WITH_VULKAN=1");
		}
		else
		{
			PrivateDefinitions.Add("REALMASTER_WITH_VULKAN=0");
		}

		PrivateIncludePaths.Add(Path.Combine(ModuleDirectory, "Private"));
		PrivateIncludePaths.Add(Path.Combine(ModuleDirectory, "Private", "Core"));
		// The generated bridge and cxx's runtime are compiled here (RealMasterCxxBridge.cpp includes them)
		// so they use the engine's toolchain and C++ library (libc++ on Linux), not the system one.
		PrivateIncludePaths.Add(Path.Combine(ModuleDirectory, "..", "ThirdParty", "RealMasterLibrary", "Source"));

		// Model packages under <Plugin>/Models are read by path at run time: stage them as loose files.
		string ModelsDir = Path.Combine(PluginDirectory, "Models");
		if (Directory.Exists(ModelsDir))
		{
			foreach (string ModelFile in Directory.GetFiles(ModelsDir, "*", SearchOption.AllDirectories))
			{
				RuntimeDependencies.Add(ModelFile, StagedFileType.NonUFS);
			}
		}
	}
}
