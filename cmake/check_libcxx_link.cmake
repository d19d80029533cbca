# ctest helper: builds cpp-bridge/tests/libcxx_link_check.cpp the way Unreal builds Linux modules
# (clang++, libc++, no exceptions), compiling the cxx runtime and the generated bridge from GEN and
# linking the Rust static library WITHOUT libstdc++. Proves the archive's own libstdc++-compiled C++
# objects are never needed. Prints REALMASTER-SKIP (ctest: skipped) when clang++ with libc++ is absent.
#   cmake -DGEN=<dir> -DSTATICLIB=<lib> -DSOURCE_DIR=<repo> -DWORK=<dir> -P cmake/check_libcxx_link.cmake
find_program(CLANGXX NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14)
if(NOT CLANGXX)
  message("REALMASTER-SKIP: clang++ not found (apt-get install clang libc++-dev libc++abi-dev)")
  return()
endif()
file(MAKE_DIRECTORY "${WORK}")
file(WRITE "${WORK}/probe.cpp" "#include <string>\nint main() { return std::string(\"x\").size() == 1 ? 0 : 1; }\n")
execute_process(COMMAND "${CLANGXX}" -stdlib=libc++ "${WORK}/probe.cpp" -o "${WORK}/probe"
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 0)
  message("REALMASTER-SKIP: libc++ is not installed for ${CLANGXX}")
  return()
endif()

set(exe "${WORK}/libcxx_link_check")
execute_process(
  COMMAND "${CLANGXX}" -std=c++17 -stdlib=libc++ -fno-exceptions -DRUST_CXX_NO_EXCEPTIONS=1
          -I "${GEN}/include" -I "${SOURCE_DIR}/cpp-bridge/include"
          "${SOURCE_DIR}/cpp-bridge/tests/libcxx_link_check.cpp" "${GEN}/src/bridge.rs.cc" "${GEN}/cxx/src/cxx.cc"
          -nostdlib++ "${STATICLIB}" -lc++ -lc++abi -lpthread -ldl -lm -lrt -lutil -o "${exe}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the bridge does not build or link with libc++ and -fno-exceptions (see above)")
endif()
execute_process(COMMAND readelf -d "${exe}" OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(rc EQUAL 0 AND dynamic MATCHES "libstdc\\+\\+")
  message(FATAL_ERROR "the libc++ build still needs libstdc++:\n${dynamic}")
endif()
execute_process(COMMAND "${exe}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the libc++ build of the bridge failed at run time (exit ${rc})")
endif()
