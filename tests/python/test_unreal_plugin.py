"""Checks of the Unreal plugin that need no Unreal Engine (none is installed here).

- RealMaster.uplugin is valid JSON and every module it lists has Source/<Name>/<Name>.Build.cs and an
  IMPLEMENT_MODULE for that name;
- every Build.cs passes a structural C# check: balanced braces/brackets/parentheses outside strings
  and comments, one `public class <FileName> : ModuleRules` with the matching constructor;
- the pieces the issue asks for are present (console variables, stat group, MRQ setting that saves
  and restores, editor toggle bound to r.RealMaster.Enable, velocity-less camera motion in the shader,
  engine API differences guarded by ENGINE_MINOR_VERSION, README sections, the scene's sun handed over
  with every frame on every path in the normals' view space);
- clang-format passes on the plugin's C++ (unreal-plugin/.clang-format);
- the plugin's engine-independent helpers (Source/RealMaster/Private/Core) and the cxx translation
  units the plugin compiles build against the bridge headers: g++/clang++ -fsyntax-only, C++17 and
  C++20, and the way Unreal's Linux toolchain builds modules (clang++, libc++, C++20, -fno-exceptions,
  -fno-rtti). Needs the cxx-generated headers (a CMake build folder, build_thirdparty's output or a
  cargo target folder); skipped, saying so, only when none exists.
- with REALMASTER_BUILD_DIR set, the helpers' GoogleTest suite is built there with CMake and run
  (ctest runs the same suite in scripts/test.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNREAL = ROOT / "unreal-plugin"
PLUGIN = UNREAL / "RealMaster"
SOURCE = PLUGIN / "Source"
RUNTIME_PRIVATE = SOURCE / "RealMaster" / "Private"
CORE = RUNTIME_PRIVATE / "Core"
BRIDGE_INCLUDE = ROOT / "cpp-bridge" / "include"
# Files build_thirdparty writes (generated cxx sources, the static library): not ours to check.
STAGED = SOURCE / "ThirdParty" / "RealMasterLibrary"
STAGED_DIRS = [STAGED / "Include", STAGED / "Source", STAGED / "Lib"]

# Warnings Unreal turns into errors for plugin code (shadowing, undefined macros in #if), plus the usual.
STRICT = ["-Wall", "-Wextra", "-Wshadow", "-Wundef", "-Werror"]


def read(p: Path) -> str:
    return p.read_text(encoding="utf-8")


def is_staged(p: Path) -> bool:
    return any(d in p.parents for d in STAGED_DIRS)


def plugin_cpp_files() -> list[Path]:
    files = []
    for ext in ("*.h", "*.hpp", "*.cpp"):
        files += [p for p in SOURCE.rglob(ext) if not is_staged(p)]
    files += list((UNREAL / "tests").glob("*.cpp"))
    return sorted(files)


def descriptor() -> dict:
    return json.loads(read(PLUGIN / "RealMaster.uplugin"))


def strip_csharp(text: str) -> str:
    """Remove comments, strings and char literals so structure can be checked."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            assert j >= 0, "unterminated block comment"
            i = j + 2
        elif text.startswith('@"', i):  # verbatim string: "" escapes a quote
            j = i + 2
            while True:
                j = text.index('"', j)
                if text.startswith('""', j):
                    j += 2
                    continue
                break
            out.append('""')
            i = j + 1
        elif c in "\"'":
            j = i + 1
            while text[j] != c:
                assert text[j] != "\n", f"unterminated literal at offset {i}"
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def balanced(code: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in code:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def build_cs_files() -> list[Path]:
    return sorted(SOURCE.rglob("*.Build.cs"))


# ---------------------------------------------------------------------------------------------
# Descriptor and Build.cs files
# ---------------------------------------------------------------------------------------------


def test_uplugin_is_valid_json_with_expected_modules():
    d = descriptor()
    assert d["FileVersion"] == 3
    names = {m["Name"]: m for m in d["Modules"]}
    assert set(names) == {"RealMaster", "RealMasterEditor", "RealMasterMovieRenderQueue"}
    assert names["RealMaster"]["Type"] == "Runtime"
    # Global shaders need their source directory mapped before the engine compiles them.
    assert names["RealMaster"]["LoadingPhase"] == "PostConfigInit"
    assert names["RealMasterEditor"]["Type"] == "Editor"
    for m in d["Modules"]:
        assert set(m.get("PlatformAllowList", [])) == {"Win64", "Linux"}, m["Name"]
    assert {"Name": "MovieRenderPipeline", "Enabled": True} in d["Plugins"]


def test_every_listed_module_has_build_cs_and_implement_module():
    for m in descriptor()["Modules"]:
        name = m["Name"]
        build_cs = SOURCE / name / f"{name}.Build.cs"
        assert build_cs.is_file(), f"{name} is listed in the .uplugin but {build_cs} is missing"
        sources = "\n".join(read(p) for p in (SOURCE / name).rglob("*.cpp"))
        assert re.search(rf"IMPLEMENT_MODULE\(\s*\w+\s*,\s*{name}\s*\)", sources), f"no IMPLEMENT_MODULE(..., {name})"


def test_build_cs_checker_rejects_broken_files():
    # The structural check below must be able to fail.
    assert not balanced(strip_csharp('class A { void F() { var s = "}"; }'))
    assert balanced(strip_csharp('class A { void F() { var s = "}"; } } // }'))
    assert balanced(strip_csharp('class A { string s = @"a""}""b"; }'))


@pytest.mark.parametrize("build_cs", build_cs_files(), ids=lambda p: p.name)
def test_build_cs_structure(build_cs: Path):
    stem = build_cs.name[: -len(".Build.cs")]
    assert build_cs.parent.name == stem, "a module's folder and Build.cs must share its name"
    code = strip_csharp(read(build_cs))
    assert balanced(code), f"{build_cs}: unbalanced braces/brackets/parentheses"
    classes = re.findall(r"\bclass\s+(\w+)\s*:\s*ModuleRules\b", code)
    assert classes == [stem], f"{build_cs}: expected exactly `class {stem} : ModuleRules`, found {classes}"
    assert re.search(rf"public\s+{stem}\s*\(\s*ReadOnlyTargetRules\s+Target\s*\)\s*:\s*base\s*\(\s*Target\s*\)", code)
    assert "using UnrealBuildTool;" in code
    if "Path." in code or "Directory." in code or "File." in code:
        assert "using System.IO;" in code, f"{build_cs}: uses System.IO without `using System.IO;`"
    # Statements that start a line end properly (a cheap guard against missing semicolons).
    for line in code.splitlines():
        s = line.strip()
        if re.match(r"^(Public|Private)\w*\.(Add|AddRange)\(|^(PCHUsage|Type|bUseUnity|CppStandard)\s*=", s):
            assert s.endswith((";", "{", "(", ",")), f"{build_cs}: statement without semicolon: {s}"
    # C++17 is obsolete from UE 5.8 and cxx.cc is made to build as C++20 (Core/RealMasterCxxCompat.h).
    assert "CppStandardVersion.Cpp17" not in code


def test_dependencies_name_existing_modules():
    ours = {p.name[: -len(".Build.cs")] for p in build_cs_files()}
    for build_cs in build_cs_files():
        code = strip_csharp(read(build_cs))
        for block in re.findall(r"DependencyModuleNames\.AddRange\(\s*new\s+string\[\]\s*\{([^}]*)\}", read(build_cs)):
            for dep in re.findall(r'"(RealMaster\w*)"', block):
                assert dep in ours, f"{build_cs.name} depends on {dep}, which has no Build.cs"
        assert code  # parsed
    runtime = read(SOURCE / "RealMaster" / "RealMaster.Build.cs")
    assert '"RealMasterLibrary"' in runtime, "the runtime module must depend on the ThirdParty module"
    third = read(STAGED / "RealMasterLibrary.Build.cs")
    assert "ModuleType.External" in third
    for needle in ("PublicDelayLoadDLLs", "RuntimeDependencies", "PublicAdditionalLibraries",
                   "UnrealTargetPlatform.Win64", "UnrealTargetPlatform.Linux", "RUST_CXX_NO_EXCEPTIONS"):
        assert needle in third, needle
    for module in ("RealMasterEditor", "RealMasterMovieRenderQueue"):
        assert '"RealMaster"' in read(SOURCE / module / f"{module}.Build.cs"), f"{module} must depend on RealMaster"


def test_staged_folders_are_ignored_by_git():
    ignore = read(UNREAL / ".gitignore")
    for folder in ("Source/ThirdParty/RealMasterLibrary/Include/", "Source/ThirdParty/RealMasterLibrary/Source/",
                   "Source/ThirdParty/RealMasterLibrary/Lib/", "/RealMaster/Binaries/", "/RealMaster/Models/"):
        assert folder in ignore, folder


def test_build_scripts():
    sh = UNREAL / "build_thirdparty.sh"
    r = subprocess.run(["bash", "-n", str(sh)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ps1 = read(UNREAL / "build_thirdparty.ps1")
    for script in (read(sh), ps1):
        # Both build the Rust static library through the same CMake script and stage the same folders.
        assert "realmaster_cargo_build.cmake" in script
        for folder in ("Include", "Source", "Binaries", "ThirdParty", "RealMasterLibrary"):
            assert folder in script
    # The sources RealMasterCxx*.cpp include are where the scripts stage them.
    for tu in ("RealMasterCxxRuntime.cpp", "RealMasterCxxBridge.cpp"):
        for inc in re.findall(r'#include "((?:cxx|src)/[^"]+)"', read(RUNTIME_PRIVATE / tu)):
            top = inc.split("/")[0]
            assert f'"$GEN/{top}"' in read(sh) or f"$GEN/{top}" in read(sh), f"{inc} is not staged by {sh.name}"


# ---------------------------------------------------------------------------------------------
# What the issue asks the plugin to contain
# ---------------------------------------------------------------------------------------------


def test_console_variables_are_render_thread_safe_and_named_once():
    cvars = read(RUNTIME_PRIVATE / "RealMasterCVars.cpp")
    names = read(SOURCE / "RealMaster" / "Public" / "RealMasterModule.h")
    for name in ("Enable", "Strength", "UpsampleEps", "Prompt", "Mode", "Model", "ExecutionProvider", "SceneLight"):
        m = re.search(rf'TEXT\("r\.RealMaster\.{name}"\)(.*?);', cvars, re.S)
        assert m, f"r.RealMaster.{name} is not defined"
        assert "ECVF_RenderThreadSafe" in m.group(1), f"r.RealMaster.{name} is not render-thread safe"
        assert re.search(rf'{name} = TEXT\("r\.RealMaster\.{name}"\)', names), f"RealMasterCVarNames::{name} missing"


def test_stat_group_shows_inference_ep_and_drops():
    runtime = read(RUNTIME_PRIVATE / "RealMasterRuntime.cpp")
    assert re.search(r"DECLARE_STATS_GROUP\(TEXT\(\"RealMaster\"\),\s*STATGROUP_RealMaster", runtime), "`stat RealMaster`"
    declared = re.findall(r"DECLARE_\w+_STAT\(TEXT\(\"([^\"]+)\"\),\s*(\w+),\s*STATGROUP_RealMaster", runtime)
    labels = " | ".join(label for label, _ in declared)
    assert "Inference (ms)" in labels and "dropped" in labels.lower()
    for ep in ("TensorRT", "CUDA", "DirectML", "CoreML", "CPU"):
        assert f"EP in use: {ep}" in labels
    # Every declared stat is also set.
    for _, stat in declared:
        assert re.search(rf"SET_\w+_STAT\({stat},", runtime), f"{stat} is declared but never set"


def test_shader_exists_at_its_virtual_path_and_matches_the_cpu_reference():
    text = "\n".join(read(p) for p in (SOURCE / "RealMaster").rglob("*.cpp"))
    paths = re.findall(r'IMPLEMENT_GLOBAL_SHADER\([^"]*"(/Plugin/RealMaster/[^"]+)"', text)
    assert paths, "no global shader implemented"
    assert 'AddShaderSourceDirectoryMapping(TEXT("/Plugin/RealMaster")' in text
    for virtual in paths:
        real = PLUGIN / "Shaders" / virtual[len("/Plugin/RealMaster/") :]
        assert real.is_file(), f"{virtual} maps to {real}, which does not exist"
    usf = re.sub(r"\s+", " ", read(PLUGIN / "Shaders" / "Private" / "RealMasterGBufferPack.usf"))
    # Velocity where the engine wrote one, camera motion from depth and the view matrices elsewhere.
    assert "EncodedVelocity.x > 0.0" in usf and "DecodeVelocityFromTexture(EncodedVelocity)" in usf
    assert "mul(float4(ScreenPos, DeviceZ, 1.0), View.ClipToPrevClip)" in usf
    assert "ScreenPos - PrevClip.xy / PrevClip.w" in usf
    # Same conversion and plane offsets as Core/RealMasterFrameLayout.h (VelocityToPixelMotion, AuxLayout).
    layout = re.sub(r"\s+", " ", read(CORE / "RealMasterFrameLayout.h"))
    assert "-Velocity.x * 0.5 * float(W)" in usf and "Velocity.y * 0.5 * float(H)" in usf
    assert "{-velocityX * 0.5f * float(width), velocityY * 0.5f * float(height)}" in layout
    assert "W * H + Index * 3" in usf and "4 * W * H + Index * 2" in usf
    assert "MotionOffsetFloats() const { return Pixels() * 4; }" in layout
    assert "NormalsOffsetFloats() const { return Pixels(); }" in layout


def test_engine_version_guards_and_no_exceptions():
    ext_h = read(RUNTIME_PRIVATE / "RealMasterViewExtension.h")
    ext_cpp = read(RUNTIME_PRIVATE / "RealMasterViewExtension.cpp")
    guard = "#if ENGINE_MAJOR_VERSION == 5 && ENGINE_MINOR_VERSION < 5"
    assert ext_h.count(guard) == 1 and guard in ext_cpp
    # Both SubscribeToPostProcessingPass signatures: without the view (5.4) and with it (5.5+).
    assert re.search(r"SubscribeToPostProcessingPass\(EPostProcessingPass Pass,\s*FAfterPassCallbackDelegateArray", ext_h)
    assert re.search(r"SubscribeToPostProcessingPass\(EPostProcessingPass Pass,\s*const FSceneView& InView", ext_h)
    # CopyFromSlice gained an override-output parameter in 5.5.
    assert re.search(r"CopyFromSlice\(\s*GraphBuilder,\s*Inputs\.GetInput\(EPostProcessMaterialInput::SceneColor\),"
                     r"\s*FScreenPassTexture\(\)\)", ext_cpp)
    assert "Runtime/Launch/Resources/Version.h" in ext_h
    for p in plugin_cpp_files():
        code = read(p)
        assert not re.search(r"\bthrow\b|\btry\s*\{", code), f"{p}: Unreal modules build without exceptions"


def test_capture_runs_after_the_temporal_upscaler():
    ext_cpp = read(RUNTIME_PRIVATE / "RealMasterViewExtension.cpp")
    subscribed = set(re.findall(r"EPostProcessingPass::(\w+)", ext_cpp))
    assert subscribed == {"Tonemap"}, f"capture must be after TAA/TSR (Tonemap), found {subscribed}"
    assert "OverrideOutput" in ext_cpp, "the last pass must write into OverrideOutput"
    assert "TAA/TSR" in read(RUNTIME_PRIVATE / "RealMasterViewExtension.h"), "document which pass and why"
    # Realtime: a ring of asynchronous readbacks, never a wait on the render thread outside cinematic mode.
    assert "FRHIGPUTextureReadback" in ext_cpp and "AddEnqueueCopyPass" in ext_cpp
    realtime = ext_cpp[ext_cpp.index("void FRealMasterViewExtension::AddRealtimeReadback"):]
    realtime = realtime[: realtime.index("\nvoid FRealMasterViewExtension::", 1)]
    assert "BlockUntilGPUIdle" not in realtime and "Sleep" not in realtime


def function_body(code: str, signature: str) -> str:
    """The text of the function whose definition starts with `signature`, up to its closing brace at column 0."""
    start = code.index(signature)
    end = code.index("\n}\n", start)
    return code[start:end]


def test_scene_light_reaches_every_frame_path():
    ext_h = read(RUNTIME_PRIVATE / "RealMasterViewExtension.h")
    ext_cpp = read(RUNTIME_PRIVATE / "RealMasterViewExtension.cpp")
    device_h = read(RUNTIME_PRIVATE / "RealMasterVulkanDevicePath.h")
    device_cpp = read(RUNTIME_PRIVATE / "RealMasterVulkanDevicePath.cpp")
    core = read(CORE / "RealMasterSceneLight.h")
    flat = re.sub(r"\s+", " ", ext_cpp)

    # Game thread: the family's sun from the world's directional lights (atmosphere sun, else the brightest), sent
    # to the render thread by a render command queued before the family renders.
    assert "virtual void BeginRenderViewFamily(FSceneViewFamily& InViewFamily) override;" in ext_h
    begin = function_body(ext_cpp, "void FRealMasterViewExtension::BeginRenderViewFamily(")
    assert "RealMasterCVars::IsSceneLightEnabled_GameThread()" in begin
    assert "FindTowardsSun_GameThread(InViewFamily.Scene->GetWorld())" in begin
    assert "ENQUEUE_RENDER_COMMAND(" in begin
    find = function_body(ext_cpp, "std::optional<RealMasterCore::Vec3d> FindTowardsSun_GameThread(")
    for needle in ("TObjectIterator<UDirectionalLightComponent>", "Light->GetWorld() != World",
                   "IsUsedAsAtmosphereSunLight()", "GetAtmosphereSunLightIndex()", "ComputeLightBrightness()",
                   "GetDirection()", "RealMasterCore::ChooseSunLight(Lights.GetData(), ", "RealMasterCore::TowardsLight("):
        assert needle in find, needle
    for header in ("Components/DirectionalLightComponent.h", "UObject/UObjectIterator.h", "SceneInterface.h",
                   "RenderingThread.h", "Engine/World.h"):
        assert f'#include "{header}"' in ext_cpp, header

    # Render thread: the view's own rotation, the one the pack shader applies to the normals, with the same z flip.
    view = function_body(ext_cpp, "FRealMasterViewExtension::SceneLightForView_RenderThread(")
    assert "View.ViewMatrices.GetTranslatedViewMatrix()" in view and "RealMasterCore::SceneLightForView(" in view
    usf = re.sub(r"\s+", " ", read(PLUGIN / "Shaders" / "Private" / "RealMasterGBufferPack.usf"))
    assert "mul(float4(WorldNormal, 0.0), View.TranslatedWorldToView).xyz" in usf
    assert "ViewNormal.z = -ViewNormal.z;" in usf
    assert "view[2] = -view[2];" in core and "kUnrealWorldUp = {0.0, 0.0, 1.0}" in core

    # Every path hands it over: the light is taken once per captured view ...
    post = function_body(ext_cpp, "FScreenPassTexture FRealMasterViewExtension::PostTonemap_RenderThread(")
    assert "const std::optional<realmaster::SceneLight> Light = SceneLightForView_RenderThread(View);" in post
    assert "Capture.Light = Light;" in post
    assert re.search(r"AddDevicePasses\([^;]*, Light\);", post), "the device path gets the light"
    # ... readback (realtime through the ring, cinematic, so Movie Render Queue too) ...
    calls = re.findall(r"SubmitMapped\(([^;]*)\);", flat)
    assert len(calls) == 2, calls
    assert all(c.split(",")[-1].strip() in ("Light", "P.Light") for c in calls), calls
    assert "Slot->payload.Light = Capture.Light;" in ext_cpp
    assert "Light = Capture.Light](FRHICommandListImmediate& RHICmdList)" in flat, "the cinematic pass captures it"
    assert re.search(r"MakeFrameView\([^;]*bCameraCut, Light\);", flat)
    # ... and the Vulkan device path, down to the frame the session processes.
    assert "Device->EnqueueProcess(RHICmdList, Images, bCameraCut, Light, Ticket, KeepAlive);" in ext_cpp
    assert "const std::optional<realmaster::SceneLight>& Light" in device_h
    device_flat = re.sub(r"\s+", " ", device_cpp)
    assert "Job.Path->Process_QueueThread(Job.Images, Job.bCameraCut, Job.Light);" in device_flat
    assert "Process_QueueThread(Images, bCameraCut, Light);" in device_flat
    assert "RealMasterCore::MakePackedDeviceFrame(Registry, bCameraCut, Light)" in device_flat
    # The raw bridge frame is value-initialised (no light unless one is set), never default-initialised.
    layout = read(CORE / "RealMasterDevicePath.h")
    assert "realmaster::VulkanSession::Frame f = realmaster::VulkanSession::emptyFrame();" in layout
    assert "realmaster::setLight(f, light);" in layout
    assert not re.search(r"VulkanSession::Frame \w+;", "\n".join(read(p) for p in plugin_cpp_files()))

    # Movie Render Queue renders with the scene light unless the setting turns it off (saved and restored).
    mrq_h = read(SOURCE / "RealMasterMovieRenderQueue" / "Public" / "MoviePipelineRealMasterSetting.h")
    mrq = read(SOURCE / "RealMasterMovieRenderQueue" / "Private" / "MoviePipelineRealMasterSetting.cpp")
    assert "bool bSceneLight = true;" in mrq_h
    assert '{RealMasterCVarNames::SceneLight, bSceneLight ? TEXT("1") : TEXT("0")}' in mrq

    readme = read(UNREAL / "README.md")
    assert "## The scene light" in readme and "r.RealMaster.SceneLight" in readme


def test_mrq_setting_saves_then_restores():
    cpp = read(SOURCE / "RealMasterMovieRenderQueue" / "Private" / "MoviePipelineRealMasterSetting.cpp")
    header = read(SOURCE / "RealMasterMovieRenderQueue" / "Public" / "MoviePipelineRealMasterSetting.h")
    assert re.search(r"class\s+\w+_API\s+UMoviePipelineRealMasterSetting\s*:\s*public\s+UMoviePipelineViewFamilySetting", header)
    setup = cpp[cpp.index("::SetupForPipelineImpl"): cpp.index("::TeardownForPipelineImpl")]
    teardown = cpp[cpp.index("::TeardownForPipelineImpl"):]
    assert '{RealMasterCVarNames::Mode, TEXT("cinematic")}' in setup
    # the render's own strength and ridge, clamped to what the runtime takes
    assert "FMath::Clamp(Strength, 0.0f, 1.0f)" in setup and "FMath::Clamp(UpsampleEps, 1e-6f, 1.0f)" in setup
    assert re.search(r'ClampMin = "0\.000001", ClampMax = "1\.0".*?\)\)\s*float UpsampleEps = 1e-3f;', header, re.S)
    # Every value is saved before it is overwritten, and teardown writes back exactly what was saved.
    assert "Saved.Add(" in setup and setup.index("Saved.Add(") < setup.index("SetConsoleVariable(")
    assert "for (const TPair<FString, FString>& Value : Saved)" in teardown
    assert "SetConsoleVariable(*Value.Key, Value.Value)" in teardown
    assert "if (bApplied)" in setup, "a second setup in the same job must not overwrite the saved values"


def test_editor_toggle_follows_the_console_variable_and_panel_has_everything():
    editor = read(SOURCE / "RealMasterEditor" / "Private" / "RealMasterEditorModule.cpp")
    panel = read(SOURCE / "RealMasterEditor" / "Private" / "SRealMasterPanel.cpp")
    assert "EUserInterfaceActionType::ToggleButton" in editor
    assert "FIsActionChecked::CreateStatic(&IsRealMasterEnabled)" in editor
    checked = editor[editor.index("bool IsRealMasterEnabled()"):]
    assert "FindConsoleVariable(RealMasterCVarNames::Enable)" in checked[: checked.index("}")]
    assert "RegisterNomadTabSpawner" in editor and "LevelEditor.LevelEditorToolBar.PlayToolBar" in editor
    for needle in ("SEditableTextBox", "GetWeatherPresets()", "SSlider", "GetStatsText", "InferenceMs",
                   "ExecutionProvider", "FramesDropped", "GetUpsampleEpsSteps()"):
        assert needle in panel, needle
    # the ridge's buttons write its console variable (three measured values, no slider)
    ridge = panel[panel.index("SRealMasterPanel::MakeUpsampleEpsButtons"):]
    ridge = ridge[: ridge.index("\n}\n")]
    assert "SetConsoleVariable(RealMasterCVarNames::UpsampleEps" in ridge and "SSlider" not in ridge
    assert "MakeUpsampleEpsButtons()" in panel[panel.index("::Construct"): panel.index("::MakePresetButtons")]
    presets = read(CORE / "RealMasterSettingsModel.h")
    assert '{"clear", "rain", "fog", "snow", "night", "golden_hour"}' in presets


def test_readme_covers_install_versions_uses_limits_and_what_was_not_run():
    readme = read(UNREAL / "README.md")
    for section in ("## Install", "## The three uses", "### 1. Editor toggle", "### 2. Movie Render Queue render",
                    "### 3. Live prompts", "## Known limits", "## What was and was not verified",
                    "## Engine APIs used, and where they were checked"):
        assert section in readme, section
    for version in ("5.4", "5.5", "5.6"):
        assert version in readme
    assert "has been compiled" in readme and "not" in readme
    assert "tests/python/test_unreal_plugin.py" in readme


def test_clang_format_passes_on_plugin_cpp():
    exe = shutil.which("clang-format")
    assert exe, "clang-format is missing (fix: apt-get install clang-format, or run scripts/setup.sh)"
    files = [str(p) for p in plugin_cpp_files()]
    assert len(files) >= 20
    r = subprocess.run([exe, "--dry-run", "--Werror", *files], capture_output=True, text=True, cwd=UNREAL)
    assert r.returncode == 0, r.stderr[-4000:]


# ---------------------------------------------------------------------------------------------
# The helpers and the cxx translation units compile against the bridge headers
# ---------------------------------------------------------------------------------------------


@dataclass
class Generated:
    include: Path  # holds rust/cxx.h and realmaster-ffi/src/bridge.rs.h
    sources: Path | None  # holds cxx/src/cxx.cc, cxx/include/cxx.h, src/bridge.rs.cc (if known)

    @property
    def header(self) -> Path:
        return self.include / "realmaster-ffi" / "src" / "bridge.rs.h"


def generated_candidates() -> list[Generated]:
    c: list[Generated] = []
    if os.environ.get("REALMASTER_GEN_DIR"):
        g = Path(os.environ["REALMASTER_GEN_DIR"])
        c.append(Generated(g / "include", g))
    builds = [Path(os.environ["REALMASTER_BUILD_DIR"])] if os.environ.get("REALMASTER_BUILD_DIR") else []
    builds += [ROOT / "build"]
    for b in builds:
        c.append(Generated(b / "realmaster-ffi" / "include", b / "realmaster-ffi"))  # CMake's RM_GEN
        c.append(Generated(b / "unreal-thirdparty" / "include", b / "unreal-thirdparty"))  # build_thirdparty.sh
    c.append(Generated(STAGED / "Include", STAGED / "Source"))  # staged into the plugin
    for target in sorted(ROOT.glob("target*/cxxbridge")):  # cxx-build's links: headers only
        c.append(Generated(target, None))
    return c


def find_generated(need_sources: bool) -> Generated | None:
    found = []
    for g in generated_candidates():
        if not (g.header.is_file() and (g.include / "rust" / "cxx.h").is_file()):
            continue
        if need_sources and not (
            g.sources
            and (g.sources / "cxx" / "src" / "cxx.cc").is_file()
            and (g.sources / "cxx" / "include" / "cxx.h").is_file()
            and (g.sources / "src" / "bridge.rs.cc").is_file()
        ):
            continue
        found.append(g)
    # The newest generation is the one matching the current rust/realmaster-ffi/src/bridge.rs.
    return max(found, key=lambda g: g.header.stat().st_mtime, default=None)


def require_generated(need_sources: bool = False) -> Generated:
    g = find_generated(need_sources)
    if g is None:
        what = "the cxx-generated bridge headers and sources" if need_sources else "the cxx-generated bridge headers"
        pytest.skip(f"{what} are absent (fix: cmake -S . -B build && cmake --build build, or "
                    f"unreal-plugin/build_thirdparty.sh); looked in {[str(x.include) for x in generated_candidates()]}")
    return g


def stale_note(g: Generated) -> str:
    bridge_rs = ROOT / "rust" / "realmaster-ffi" / "src" / "bridge.rs"
    if bridge_rs.stat().st_mtime > g.header.stat().st_mtime + 1:
        return (f"\nNOTE: {g.header} is older than {bridge_rs}; the generated headers may be stale "
                "(fix: rebuild them, e.g. cmake --build build --target realmaster_ffi_cargo)")
    return ""


def compile_syntax(compiler: list[str], std: str, source: str | Path, g: Generated, extra: list[str] | None = None,
                   includes: list[Path] | None = None):
    args = [*compiler, f"-std={std}", "-fsyntax-only", *STRICT, "-DRUST_CXX_NO_EXCEPTIONS=1",
            # Third-party headers as system headers, as RealMasterLibrary.Build.cs adds them.
            "-isystem", str(BRIDGE_INCLUDE), "-isystem", str(g.include), "-I", str(CORE),
            *[f"-I{p}" for p in includes or []], *(extra or [])]
    if isinstance(source, Path):
        r = subprocess.run([*args, str(source)], capture_output=True, text=True, timeout=300)
    else:
        r = subprocess.run([*args, "-x", "c++", "-"], input=source, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (f"{' '.join(args)}\n{r.stderr[-6000:]}{stale_note(g)}")


def core_headers() -> list[Path]:
    # RealMasterCxxCompat.h is not self-contained by design (it must follow cxx.h): checked below.
    return sorted(p for p in CORE.glob("*.h") if p.name != "RealMasterCxxCompat.h")


def libcxx_clang() -> list[str] | None:
    clang = shutil.which("clang++")
    if not clang:
        return None
    r = subprocess.run([clang, "-stdlib=libc++", "-std=c++20", "-fsyntax-only", "-x", "c++", "-"],
                       input="#include <string>\n#include <ranges>\n", capture_output=True, text=True)
    return [clang, "-stdlib=libc++"] if r.returncode == 0 else None


@pytest.mark.parametrize("std", ["c++17", "c++20"])
@pytest.mark.parametrize("header", core_headers(), ids=lambda p: p.name)
def test_core_header_is_self_contained_and_compiles(header: Path, std: str):
    g = require_generated()
    compile_syntax(["g++"], std, f'#include "{header.name}"\n', g)


def test_core_helpers_compile_the_way_unreal_builds_linux_modules():
    compiler = libcxx_clang()
    if compiler is None:
        pytest.skip("clang++ with libc++ is not installed (fix: apt-get install clang libc++-dev libc++abi-dev)")
    g = require_generated()
    tu = "".join(f'#include "{h.name}"\n' for h in core_headers())
    compile_syntax(compiler, "c++20", tu, g, ["-fno-exceptions", "-fno-rtti"])


def test_plugin_helper_tests_compile():
    if not Path("/usr/include/gtest/gtest.h").is_file():
        pytest.skip("GoogleTest headers are not installed (fix: apt-get install libgtest-dev)")
    g = require_generated()
    compile_syntax(["g++"], "c++17", UNREAL / "tests" / "test_plugin_helpers.cpp", g)


def third_party_includes(tu: Path) -> list[str]:
    """The #include lines the plugin's cxx translation unit compiles (between THIRD_PARTY_INCLUDES_*)."""
    text = read(tu)
    block = text[text.index("THIRD_PARTY_INCLUDES_START"): text.index("THIRD_PARTY_INCLUDES_END")]
    return re.findall(r'#include "[^"]+"', block)


def fresh_copy_of_sources(g: Generated, dest: Path) -> Path:
    """The generated sources copied the way build_thirdparty.sh stages them (cp: new files, new times).

    Compilers may skip a second `#pragma once` file whose size, time and content equal the first (the
    CMake copies keep cargo's timestamps), which would hide two copies of cxx.h meeting in one
    translation unit; staged copies never match, so check those.
    """
    assert g.sources is not None
    for rel in ("cxx/src/cxx.cc", "cxx/include/cxx.h", "src/bridge.rs.cc"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(g.sources / rel, dest / rel)
    return dest


@pytest.mark.parametrize("tu", ["RealMasterCxxRuntime.cpp", "RealMasterCxxBridge.cpp"])
def test_cxx_translation_units_compile_the_way_unreal_builds_them(tu: str, tmp_path: Path):
    g = require_generated(need_sources=True)
    sources = fresh_copy_of_sources(g, tmp_path)
    includes = third_party_includes(RUNTIME_PRIVATE / tu)
    assert includes, f"{tu} includes nothing between THIRD_PARTY_INCLUDES_START/END"
    source = "\n".join(includes) + "\n"
    builds = [(["g++"], "c++17", []), (["g++"], "c++20", [])]
    compiler = libcxx_clang()
    if compiler is not None:
        # Unreal's Linux toolchain: clang, libc++, C++20 (the default from 5.3), no exceptions, no RTTI.
        builds.append((compiler, "c++20", ["-fno-exceptions", "-fno-rtti"]))
    for cxx, std, extra in builds:
        # Warnings inside cxx's own sources are not ours (Unreal wraps them in THIRD_PARTY_INCLUDES).
        compile_syntax(cxx, std, source, g, [*extra, "-Wno-error", "-w"], includes=[sources])


def test_cxx_compat_header_is_needed_with_old_libcxx():
    """Without Core/RealMasterCxxCompat.h, cxx.cc fails as C++20 against libc++ < 18: keep the fix honest."""
    compiler = libcxx_clang()
    if compiler is None:
        pytest.skip("clang++ with libc++ is not installed")
    g = require_generated(need_sources=True)
    assert g.sources is not None
    probe = subprocess.run([*compiler, "-dM", "-E", "-x", "c++", "-"], input="#include <ciso646>\n",
                           capture_output=True, text=True)
    m = re.search(r"#define _LIBCPP_VERSION (\d+)", probe.stdout)
    if not m or int(m.group(1)) >= 180000:
        pytest.skip("libc++ here is 18 or newer: cxx.cc builds as C++20 without the workaround")
    args = [*compiler, "-std=c++20", "-fsyntax-only", "-fno-exceptions", "-fno-rtti", "-DRUST_CXX_NO_EXCEPTIONS=1",
            "-w", "-I", str(g.sources), "-x", "c++", "-"]
    r = subprocess.run(args, input='#include "cxx/src/cxx.cc"\n', capture_output=True, text=True, timeout=300)
    assert r.returncode != 0, "cxx.cc now builds as C++20 without RealMasterCxxCompat.h: the workaround can go"


def test_plugin_helpers_unit_tests_run_when_a_build_folder_is_given():
    build = os.environ.get("REALMASTER_BUILD_DIR")
    if not build:
        pytest.skip("set REALMASTER_BUILD_DIR to a CMake build folder to build and run realmaster_plugin_helpers_tests "
                     "here (scripts/test.sh runs them through ctest)")
    cmake = shutil.which("cmake")
    assert cmake, "cmake is missing"
    build_dir = Path(build)
    if not (build_dir / "CMakeCache.txt").is_file():
        r = subprocess.run([cmake, "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Debug"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    r = subprocess.run([cmake, "--build", str(build_dir), "--target", "realmaster_plugin_helpers_tests", "-j", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    r = subprocess.run([str(build_dir / "realmaster_plugin_helpers_tests"), "--gtest_brief=1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
