// RealMaster runtime (Rust static library + cxx bridge sources) and ONNX Runtime, as an External module.
// Populated by unreal-plugin/build_thirdparty.sh (Linux) / build_thirdparty.ps1 (Win64):
//   Include/                 rust/cxx.h, realmaster-ffi/src/bridge.rs.h, realmaster/realmaster.hpp
//   Source/                  bridge.rs.cc, cxx.cc (compiled by the RealMaster module with the engine toolchain)
//   Lib/<Platform>/          realmaster_ffi.lib (Win64) or librealmaster_ffi.a (Linux)
//   ../../../Binaries/ThirdParty/RealMasterLibrary/<Platform>/   onnxruntime.dll / libonnxruntime.so.*
using System.IO;
using UnrealBuildTool;

public class RealMasterLibrary : ModuleRules
{
	public RealMasterLibrary(ReadOnlyTargetRules Target) : base(Target)
	{
		Type = ModuleType.External;

		string IncludeDir = Path.Combine(ModuleDirectory, "Include");
		PublicSystemIncludePaths.Add(IncludeDir);
		// The bridge never throws (every call returns a status), so cxx's runtime can be built without exceptions.
		PublicDefinitions.Add("RUST_CXX_NO_EXCEPTIONS=1");

		string BinariesDir = Path.Combine(PluginDirectory, "Binaries", "ThirdParty", "RealMasterLibrary");

		if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			string LibDir = Path.Combine(ModuleDirectory, "Lib", "Win64");
			PublicAdditionalLibraries.Add(Path.Combine(LibDir, "realmaster_ffi.lib"));
			// What Rust's std, wgpu (D3D12/Vulkan) and the runtime import on Windows (`--print native-static-libs`).
			PublicSystemLibraries.AddRange(new string[] {
				"ws2_32.lib", "userenv.lib", "ntdll.lib", "bcrypt.lib", "advapi32.lib", "kernel32.lib",
				"ole32.lib", "oleaut32.lib", "user32.lib", "gdi32.lib", "d3d12.lib", "dxgi.lib",
				"d3dcompiler.lib", "opengl32.lib", "propsys.lib", "runtimeobject.lib", "synchronization.lib"
			});

			// ONNX Runtime is opened by path at session creation (the Rust side loads it dynamically), so it
			// is never an import of the module; delay-load keeps the editor starting if the DLL is absent and
			// RuntimeDependencies stages it into packaged builds.
			PublicDelayLoadDLLs.Add("onnxruntime.dll");
			RuntimeDependencies.Add(Path.Combine(BinariesDir, "Win64", "onnxruntime.dll"));
			// GPU builds of ONNX Runtime ship their execution providers as separate DLLs.
			foreach (string Provider in new string[] { "onnxruntime_providers_shared.dll", "onnxruntime_providers_cuda.dll", "onnxruntime_providers_tensorrt.dll" })
			{
				string ProviderPath = Path.Combine(BinariesDir, "Win64", Provider);
				if (File.Exists(ProviderPath))
				{
					RuntimeDependencies.Add(ProviderPath);
				}
			}
		}
		else if (Target.Platform == UnrealTargetPlatform.Linux)
		{
			string LibDir = Path.Combine(ModuleDirectory, "Lib", "Linux");
			PublicAdditionalLibraries.Add(Path.Combine(LibDir, "librealmaster_ffi.a"));
			PublicSystemLibraries.AddRange(new string[] { "pthread", "dl", "m", "rt", "util" });

			// As on Win64, and as Epic's NNERuntimeORT does on Linux: full paths, unversioned and versioned.
			string OrtDir = Path.Combine(BinariesDir, "Linux");
			PublicDelayLoadDLLs.Add(Path.Combine(OrtDir, "libonnxruntime.so"));
			RuntimeDependencies.Add(Path.Combine(OrtDir, "libonnxruntime.so"));
			if (Directory.Exists(OrtDir))
			{
				// The versioned file (libonnxruntime.so.1.x.y) the unversioned copy was made from.
				foreach (string Versioned in Directory.GetFiles(OrtDir, "libonnxruntime.so.*"))
				{
					PublicDelayLoadDLLs.Add(Versioned);
					RuntimeDependencies.Add(Versioned);
				}
				// GPU builds of ONNX Runtime open their execution providers themselves, by name, beside it.
				foreach (string Provider in Directory.GetFiles(OrtDir, "libonnxruntime_providers_*.so"))
				{
					RuntimeDependencies.Add(Provider);
				}
			}
		}
	}
}
