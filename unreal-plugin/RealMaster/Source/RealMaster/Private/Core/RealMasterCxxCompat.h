// Lets cxx's runtime (cxx/src/cxx.cc) compile as C++20, Unreal's default language standard from 5.3
// on, against libc++ older than 18, which Unreal's Linux toolchain may ship. cxx.cc static_asserts
// that rust::Slice<const uint8_t> is a contiguous range; older libc++ then instantiates
// std::pointer_traits<Slice::iterator> without SFINAE, a hard error because the iterator declares
// no element_type (dtolnay/cxx issues #1535 and #1574). Specialising pointer_traits for that one
// iterator gives the concept check what it asks for.
//
// Include after cxx.h (the copy cxx.cc includes, so #pragma once keeps it to one) and before cxx.cc.
// Engine-independent: the plugin tests compile cxx.cc exactly this way (clang++, libc++, C++20, no
// exceptions, no RTTI).
#pragma once

#ifndef CXXBRIDGE1_RUST_SLICE
#error "include cxx.h (the copy cxx.cc includes) before RealMasterCxxCompat.h"
#endif

#include <cstddef>
#include <cstdint>
#include <memory>

#if __cplusplus >= 202002L && defined(_LIBCPP_VERSION)
namespace std
{
template <> struct pointer_traits<::rust::Slice<const ::std::uint8_t>::iterator>
{
	using pointer = ::rust::Slice<const ::std::uint8_t>::iterator;
	using element_type = const ::std::uint8_t;
	using difference_type = ::std::ptrdiff_t;
	template <typename U> using rebind = U*;

	static element_type* to_address(const pointer& p) noexcept { return p.operator->(); }
};
} // namespace std
#endif
