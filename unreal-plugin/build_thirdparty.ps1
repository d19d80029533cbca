# Prepares the RealMaster plugin's third-party files for Win64 (run on the Windows build machine,
# from a shell where cargo, cmake and the MSVC toolchain are available):
#   1. builds the Rust static library (cargo, release profile, x86_64-pc-windows-msvc) and collects
#      the cxx sources that the RealMaster module compiles with the engine's toolchain;
#   2. stages them into Source/ThirdParty/RealMasterLibrary/{Include,Source,Lib/Win64};
#   3. copies ONNX Runtime (onnxruntime.dll and any provider DLLs beside it) into
#      Binaries/ThirdParty/RealMasterLibrary/Win64;
#   4. optionally copies a model package into Models/.
#
# usage: unreal-plugin\build_thirdparty.ps1 -OrtDll C:\path\onnxruntime.dll [-Model C:\path\model] [-Profile release]
# ONNX Runtime: Microsoft's onnxruntime-win-x64(-gpu) release (lib\onnxruntime.dll), or DirectML's.
param(
    [Parameter(Mandatory = $true)][string]$OrtDll,
    [string]$Model = "",
    [string]$Profile = "release"
)
$ErrorActionPreference = "Stop"
$Root = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path
$Plugin = Join-Path $Root "unreal-plugin\RealMaster"
$Library = Join-Path $Plugin "Source\ThirdParty\RealMasterLibrary"
$Binaries = Join-Path $Plugin "Binaries\ThirdParty\RealMasterLibrary\Win64"
$TargetDir = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $Root "target" }
$Gen = Join-Path $Root "build\unreal-thirdparty"

if (-not (Test-Path $OrtDll)) {
    throw "ONNX Runtime not found at $OrtDll (fix: pass -OrtDll with the path of onnxruntime.dll)"
}

Write-Host "== cargo build -p realmaster-ffi ($Profile) and cxx sources -> $Gen"
& cmake "-DCARGO=cargo" "-DPROFILE=$Profile" "-DTARGET_DIR=$TargetDir" "-DOUT=$Gen" "-DSOURCE_DIR=$Root" -P (Join-Path $Root "cmake\realmaster_cargo_build.cmake")
if ($LASTEXITCODE -ne 0) { throw "the Rust build failed (see the cargo errors above)" }
$StaticLib = (Get-Content (Join-Path $Gen "staticlib-path.txt") -TotalCount 1).Trim()

Write-Host "== staging into $Library"
foreach ($Dir in @("Include", "Source", "Lib\Win64")) {
    $Path = Join-Path $Library $Dir
    if (Test-Path $Path) { Remove-Item -Recurse -Force $Path }
    New-Item -ItemType Directory -Force -Path $Path | Out-Null
}
Copy-Item -Recurse -Force (Join-Path $Gen "include\*") (Join-Path $Library "Include")
Copy-Item -Recurse -Force (Join-Path $Root "cpp-bridge\include\realmaster") (Join-Path $Library "Include")
Copy-Item -Recurse -Force (Join-Path $Gen "src") (Join-Path $Library "Source")
Copy-Item -Recurse -Force (Join-Path $Gen "cxx") (Join-Path $Library "Source")
Copy-Item -Force $StaticLib (Join-Path $Library "Lib\Win64\realmaster_ffi.lib")

Write-Host "== ONNX Runtime $OrtDll -> $Binaries"
New-Item -ItemType Directory -Force -Path $Binaries | Out-Null
Copy-Item -Force $OrtDll (Join-Path $Binaries "onnxruntime.dll")
$OrtDir = Split-Path -Parent $OrtDll
foreach ($Provider in @("onnxruntime_providers_shared.dll", "onnxruntime_providers_cuda.dll", "onnxruntime_providers_tensorrt.dll")) {
    $Candidate = Join-Path $OrtDir $Provider
    if (Test-Path $Candidate) { Copy-Item -Force $Candidate $Binaries }
}

if ($Model -ne "") {
    if (-not (Test-Path (Join-Path $Model "manifest.json"))) {
        throw "$Model has no manifest.json (fix: pass a model package folder, see docs/formats.md)"
    }
    $Models = Join-Path $Plugin "Models"
    New-Item -ItemType Directory -Force -Path $Models | Out-Null
    $Dest = Join-Path $Models (Split-Path -Leaf $Model)
    if (Test-Path $Dest) { Remove-Item -Recurse -Force $Dest }
    Copy-Item -Recurse -Force $Model $Models
}
Write-Host "== done: copy unreal-plugin\RealMaster into <Project>\Plugins\ and build the project"
