#include "RealMasterShaders.h"

IMPLEMENT_GLOBAL_SHADER(FRealMasterGBufferPackCS, "/Plugin/RealMaster/Private/RealMasterGBufferPack.usf", "MainCS",
                        SF_Compute);
IMPLEMENT_GLOBAL_SHADER(FRealMasterGBufferTexturesCS, "/Plugin/RealMaster/Private/RealMasterGBufferPack.usf",
                        "MainTexturesCS", SF_Compute);
