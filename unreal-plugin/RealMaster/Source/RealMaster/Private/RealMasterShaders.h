// The G-buffer pack compute shaders (Shaders/Private/RealMasterGBufferPack.usf): resample depth,
// normals and motion from the render resolution to the output resolution and write them in the
// runtime's conventions, either into one packed float buffer read back to the CPU (MainCS, see
// Core/RealMasterFrameLayout.h) or into three textures the Vulkan device path hands to the runtime
// on the GPU (MainTexturesCS, see Core/RealMasterDevicePath.h).
#pragma once

#include "CoreMinimal.h"
#include "GlobalShader.h"
#include "SceneTexturesConfig.h"
#include "SceneView.h"
#include "ShaderParameterStruct.h"

class FRealMasterGBufferPackCS : public FGlobalShader
{
public:
	DECLARE_GLOBAL_SHADER(FRealMasterGBufferPackCS);
	SHADER_USE_PARAMETER_STRUCT(FRealMasterGBufferPackCS, FGlobalShader);

	static constexpr int32 ThreadGroupSize = 8;

	BEGIN_SHADER_PARAMETER_STRUCT(FParameters, )
	SHADER_PARAMETER_STRUCT_REF(FViewUniformShaderParameters, View)
	SHADER_PARAMETER_STRUCT_INCLUDE(FSceneTextureShaderParameters, SceneTextures)
	// Render-resolution rectangle of the view inside the scene textures.
	SHADER_PARAMETER(FIntPoint, RenderRectMin)
	SHADER_PARAMETER(FIntPoint, RenderRectSize)
	// Output (post-upscale) size: the size of every packed plane.
	SHADER_PARAMETER(FIntPoint, OutputSize)
	SHADER_PARAMETER(float, WorldUnitsToMetres)
	SHADER_PARAMETER(float, MaxDepthMetres)
	SHADER_PARAMETER_RDG_BUFFER_UAV(RWStructuredBuffer<float>, PackedOutput)
	END_SHADER_PARAMETER_STRUCT()

	static bool ShouldCompilePermutation(const FGlobalShaderPermutationParameters& Parameters)
	{
		return IsFeatureLevelSupported(Parameters.Platform, ERHIFeatureLevel::SM5);
	}

	static void ModifyCompilationEnvironment(const FGlobalShaderPermutationParameters& Parameters,
	                                         FShaderCompilerEnvironment& OutEnvironment)
	{
		FGlobalShader::ModifyCompilationEnvironment(Parameters, OutEnvironment);
		OutEnvironment.SetDefine(TEXT("THREADGROUP_SIZE"), ThreadGroupSize);
	}
};

/** The same conversions into textures of the output size: R32F depth (metres), RGBA16F view-space
 *  normals (xyz) and RGBA16F motion (xy, pixels to the previous frame). */
class FRealMasterGBufferTexturesCS : public FGlobalShader
{
public:
	DECLARE_GLOBAL_SHADER(FRealMasterGBufferTexturesCS);
	SHADER_USE_PARAMETER_STRUCT(FRealMasterGBufferTexturesCS, FGlobalShader);

	static constexpr int32 ThreadGroupSize = 8;

	BEGIN_SHADER_PARAMETER_STRUCT(FParameters, )
	SHADER_PARAMETER_STRUCT_REF(FViewUniformShaderParameters, View)
	SHADER_PARAMETER_STRUCT_INCLUDE(FSceneTextureShaderParameters, SceneTextures)
	SHADER_PARAMETER(FIntPoint, RenderRectMin)
	SHADER_PARAMETER(FIntPoint, RenderRectSize)
	SHADER_PARAMETER(FIntPoint, OutputSize)
	SHADER_PARAMETER(float, WorldUnitsToMetres)
	SHADER_PARAMETER(float, MaxDepthMetres)
	SHADER_PARAMETER_RDG_TEXTURE_UAV(RWTexture2D<float>, DepthTexture)
	SHADER_PARAMETER_RDG_TEXTURE_UAV(RWTexture2D<float4>, NormalTexture)
	SHADER_PARAMETER_RDG_TEXTURE_UAV(RWTexture2D<float4>, MotionTexture)
	END_SHADER_PARAMETER_STRUCT()

	static bool ShouldCompilePermutation(const FGlobalShaderPermutationParameters& Parameters)
	{
		return IsFeatureLevelSupported(Parameters.Platform, ERHIFeatureLevel::SM5);
	}

	static void ModifyCompilationEnvironment(const FGlobalShaderPermutationParameters& Parameters,
	                                         FShaderCompilerEnvironment& OutEnvironment)
	{
		FGlobalShader::ModifyCompilationEnvironment(Parameters, OutEnvironment);
		OutEnvironment.SetDefine(TEXT("THREADGROUP_SIZE"), ThreadGroupSize);
	}
};
