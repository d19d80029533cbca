// Compiles the generated bridge (src/bridge.rs.cc, staged by build_thirdparty into
// Source/ThirdParty/RealMasterLibrary/Source) inside this module, with the engine's toolchain and
// C++ library (Unreal links libc++ on Linux); cxx's runtime is RealMasterCxxRuntime.cpp. (CMake's
// realmaster_bridge_noexcept target compiles the same two files the same way, without exceptions,
// and links and runs tests against them.) RUST_CXX_NO_EXCEPTIONS comes from RealMasterLibrary.Build.cs.

#include "CoreMinimal.h"

THIRD_PARTY_INCLUDES_START
#include "src/bridge.rs.cc"
THIRD_PARTY_INCLUDES_END
