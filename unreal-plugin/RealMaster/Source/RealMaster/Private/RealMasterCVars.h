// Console variables and the per-frame snapshot of them the render thread works from.
#pragma once

#include "CoreMinimal.h"
#include "RealMasterSettingsModel.h"

namespace RealMasterCVars
{
/** Game thread: is the plugin enabled (r.RealMaster.Enable)? */
bool IsEnabled_GameThread();

/** Game thread: pass the scene's sun with every frame (r.RealMaster.SceneLight)? */
bool IsSceneLightEnabled_GameThread();

/** Render thread: every setting, parsed and validated (invalid values keep their defaults, logged once). */
RealMasterCore::DesiredSettings Read_RenderThread(const FString& DefaultModelDir);
} // namespace RealMasterCVars
