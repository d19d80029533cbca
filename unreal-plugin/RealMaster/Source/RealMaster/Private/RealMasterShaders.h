// The G-buffer pack compute shader (Shaders/Private/RealMasterGBufferPack.usf): resamples depth,
// normals and motion from the render resolution to the output resolution and writes them, in the
// runtime's conventions, into one packed float buffer (see Core/RealMasterFrameLayout.h).
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
