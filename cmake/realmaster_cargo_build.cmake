# Builds the Rust static library and collects the C++ sources the cxx bridge needs, for any build
# system (CMake below, the Unreal plugin's build_thirdparty scripts):
#
#   cmake -DCARGO=cargo -DPROFILE=release|dev -DTARGET_DIR=<cargo target dir> -DOUT=<folder>
#         [-DSOURCE_DIR=<repo root>] -P cmake/realmaster_cargo_build.cmake
#
# Writes (copied only when their content changed, so dependent objects are not rebuilt needlessly):
#   OUT/include/rust/cxx.h                          cxx's runtime header
#   OUT/include/realmaster-ffi/src/bridge.rs.h      the generated bridge header
#   OUT/src/bridge.rs.cc                            the generated bridge implementation
#   OUT/cxx/src/cxx.cc, OUT/cxx/include/cxx.h       cxx's runtime (same cxx version; cxx.cc
#                                                   includes "../include/cxx.h")
#
# Why this way: cxx-build writes the generated files under the build script's OUT_DIR, whose name
# carries a hash. Cargo itself reports that folder in its JSON messages ("build-script-executed"),
# so we ask Cargo instead of guessing paths, and the files always come from the very build that
# produced the static library (no version skew, unlike a separately installed cxxbridge-cmd).
# cxx-build's target/cxxbridge/ links are documented as a best-effort debugging aid, not used here.

foreach(var CARGO PROFILE TARGET_DIR OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "realmaster_cargo_build: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED SOURCE_DIR)
  get_filename_component(SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
endif()

set(ENV{CARGO_TARGET_DIR} "${TARGET_DIR}")
set(profile_args)
if(PROFILE STREQUAL "release")
  set(profile_args --release)
elseif(NOT PROFILE STREQUAL "dev")
  set(profile_args --profile ${PROFILE})
endif()

set(json_file "${OUT}/cargo-messages.json")
file(MAKE_DIRECTORY "${OUT}")
execute_process(
  COMMAND "${CARGO}" build -p realmaster-ffi ${profile_args} --message-format=json-render-diagnostics
  WORKING_DIRECTORY "${SOURCE_DIR}"
  OUTPUT_FILE "${json_file}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cargo build -p realmaster-ffi failed (exit ${rc}); the Rust errors are printed above")
endif()

# The build script's OUT_DIR, from Cargo's own report (replayed even when nothing was rebuilt).
file(STRINGS "${json_file}" script_lines REGEX "\"reason\":\"build-script-executed\"")
set(out_dir "")
foreach(line IN LISTS script_lines)
  if(line MATCHES "\"package_id\":\"[^\"]*realmaster-ffi[^\"]*\"" AND line MATCHES "\"out_dir\":\"([^\"]+)\"")
    set(out_dir "${CMAKE_MATCH_1}")
  endif()
endforeach()
if(out_dir STREQUAL "")
  message(FATAL_ERROR "cargo did not report the build script of realmaster-ffi; see ${json_file}")
endif()
string(REPLACE "\\\\" "/" out_dir "${out_dir}") # JSON escapes Windows backslashes
file(TO_CMAKE_PATH "${out_dir}" out_dir)

function(copy_generated from to)
  if(NOT EXISTS "${from}")
    message(FATAL_ERROR "expected generated file ${from} is missing (did rust/realmaster-ffi/build.rs change?)")
  endif()
  get_filename_component(dir "${to}" DIRECTORY)
  file(MAKE_DIRECTORY "${dir}")
  # COPY_FILE reads through symlinks (cxx.h is one) and keeps the timestamp if nothing changed.
  file(COPY_FILE "${from}" "${to}" ONLY_IF_DIFFERENT)
endfunction()

copy_generated("${out_dir}/cxxbridge/include/rust/cxx.h" "${OUT}/include/rust/cxx.h")
copy_generated("${out_dir}/cxxbridge/include/realmaster-ffi/src/bridge.rs.h"
               "${OUT}/include/realmaster-ffi/src/bridge.rs.h")
copy_generated("${out_dir}/cxxbridge/sources/realmaster-ffi/src/bridge.rs.cc" "${OUT}/src/bridge.rs.cc")

# build.rs copies cxx's runtime (from the cxx crate this workspace resolved) into the same OUT_DIR.
copy_generated("${out_dir}/cxxbridge/cxx-runtime/src/cxx.cc" "${OUT}/cxx/src/cxx.cc")
copy_generated("${out_dir}/cxxbridge/cxx-runtime/include/cxx.h" "${OUT}/cxx/include/cxx.h")

# The static library from Cargo's artifact report, recorded for callers that do not know the layout.
file(STRINGS "${json_file}" artifact_lines REGEX "\"reason\":\"compiler-artifact\"")
set(staticlib "")
foreach(line IN LISTS artifact_lines)
  if(line MATCHES "\"package_id\":\"[^\"]*realmaster-ffi[^\"]*\"" AND
     line MATCHES "\"([^\"]*(librealmaster_ffi\\.a|realmaster_ffi\\.lib))\"")
    set(staticlib "${CMAKE_MATCH_1}")
  endif()
endforeach()
string(REPLACE "\\\\" "/" staticlib "${staticlib}")
file(WRITE "${OUT}/staticlib-path.txt.tmp" "${staticlib}\n")
file(COPY_FILE "${OUT}/staticlib-path.txt.tmp" "${OUT}/staticlib-path.txt" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}/staticlib-path.txt.tmp")
message(STATUS "realmaster-ffi: ${staticlib}")
