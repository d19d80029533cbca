// Compiles cxx's runtime (cxx/src/cxx.cc, staged by build_thirdparty into
// Source/ThirdParty/RealMasterLibrary/Source) inside this module, with the engine's toolchain and
// C++ library (Unreal links libc++ on Linux). The copy inside the Rust static library is then never
// pulled in by the linker. Kept apart from the generated bridge so the std::pointer_traits
// specialisation in Core/RealMasterCxxCompat.h stays local to cxx's runtime.
// RUST_CXX_NO_EXCEPTIONS comes from RealMasterLibrary.Build.cs: the bridge never throws.

#include "CoreMinimal.h"

THIRD_PARTY_INCLUDES_START
#include "cxx/include/cxx.h"
#include "RealMasterCxxCompat.h"
#include "cxx/src/cxx.cc"
THIRD_PARTY_INCLUDES_END
