# LOWBIT_SANITIZE: build every lowbit target (core, ISA objects, tests, benches) with sanitizers.
#   -DLOWBIT_SANITIZE=address,undefined   AddressSanitizer (+ LeakSanitizer) and UBSan
#   -DLOWBIT_SANITIZE=thread              ThreadSanitizer (cannot be combined with address)
# scripts/test-sanitize.sh builds both (build-asan/, build-tsan/) and runs the tests under them.
#
# The optimisation level stays that of the build type (Release: -O2), so the sanitized code is the
# code that ships, plus line tables (-g1) and frame pointers for readable reports. UBSan is built with
# -fno-sanitize-recover=all: any undefined behaviour aborts the run instead of printing and going
# on. float-cast-overflow (not part of GCC's "undefined" group) is added as well: a float -> int
# conversion out of range is UB in C++, and the quantizers do many such conversions.
set(LOWBIT_SANITIZE "" CACHE STRING "Sanitizers for the C++ build: address,undefined | thread | empty")
# For finding many problems in one run: UBSan prints each and goes on (ASan still stops at its first).
option(LOWBIT_SANITIZE_RECOVER "UBSan reports and continues instead of aborting" OFF)
set(LOWBIT_SANITIZER_FLAGS "")
set(LOWBIT_SANITIZER_LINK_FLAGS "")
if(LOWBIT_SANITIZE)
  if(MSVC)
    message(FATAL_ERROR "LOWBIT_SANITIZE is for GCC and Clang")
  endif()
  string(REPLACE "," ";" _san_list "${LOWBIT_SANITIZE}")
  foreach(_san ${_san_list})
    if(NOT _san MATCHES "^(address|undefined|leak|thread)$")
      message(FATAL_ERROR "LOWBIT_SANITIZE: unknown sanitizer '${_san}' (address, undefined, leak, thread)")
    endif()
  endforeach()
  if("thread" IN_LIST _san_list AND ("address" IN_LIST _san_list OR "leak" IN_LIST _san_list))
    message(FATAL_ERROR "LOWBIT_SANITIZE: thread cannot be combined with address or leak")
  endif()
  set(_san_arg "${LOWBIT_SANITIZE}")
  if("undefined" IN_LIST _san_list)
    set(_san_arg "${_san_arg},float-cast-overflow")
  endif()
  # -g1: line tables, all a report's stack trace needs; full -g made the instrumented build ~1.6x slower
  # (the embedding kernels' translation units: 317 s -> 195 s each on 2 cores)
  set(LOWBIT_SANITIZER_FLAGS -fsanitize=${_san_arg} -fno-omit-frame-pointer -g1)
  if("undefined" IN_LIST _san_list AND NOT LOWBIT_SANITIZE_RECOVER)
    list(APPEND LOWBIT_SANITIZER_FLAGS -fno-sanitize-recover=all)
  endif()
  set(LOWBIT_SANITIZER_LINK_FLAGS -fsanitize=${_san_arg})
  message(STATUS "lowbit: sanitizers ${_san_arg}")
endif()
