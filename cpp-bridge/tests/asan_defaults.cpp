// Linked into the test binaries only when REALMASTER_ASAN=ON: default sanitizer options (so a plain
// `ctest` checks for leaks) and suppressions for allocations owned by system libraries.

extern "C" {

const char *__asan_default_options() {
  return "detect_leaks=1:abort_on_error=0";
}

// Vulkan drivers (the loader opens every installed ICD to enumerate adapters; lavapipe/LLVM keep
// process-lifetime caches) and ONNX Runtime keep allocations for the life of the process by design.
// Everything else, our code and the Rust runtime included, must be leak-free.
const char *__lsan_default_suppressions() {
  return "leak:libvulkan\n"
         "leak:libLLVM\n"
         "leak:libonnxruntime\n";
}

// Keep every dlopen'ed library resident until exit. The Vulkan loader and libloading unload drivers
// and ONNX Runtime when a session ends; LeakSanitizer then sees their leaks as "<unknown module>"
// frames that no suppression can name. Exported from the executable (see CMakeLists.txt) so it
// interposes libc's dlclose for those libraries. Test binaries only.
int dlclose(void *) {
  return 0;
}
}
