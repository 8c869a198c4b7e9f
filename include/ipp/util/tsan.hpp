#pragma once
// ThreadSanitizer annotations for the hand-overs it cannot see: message data passed from one
// thread to another through Debian's libzmq, which is not instrumented (a frame's buffer, or an
// object whose pointer a zero-copy frame carries, written by the sender and read by the
// receiver). Sending releases the frame's data address, receiving acquires it, which is the
// ordering libzmq's pipes give. No-ops unless built with -fsanitize=thread.
#if defined(__SANITIZE_THREAD__)
#define IPP_TSAN_ANNOTATIONS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IPP_TSAN_ANNOTATIONS 1
#endif
#endif

#ifdef IPP_TSAN_ANNOTATIONS
#include <sanitizer/tsan_interface.h>
#endif

namespace ipp::util {

inline void tsan_release(const void* p) {
#ifdef IPP_TSAN_ANNOTATIONS
  if (p != nullptr) __tsan_release(const_cast<void*>(p));
#else
  (void)p;
#endif
}

inline void tsan_acquire(const void* p) {
#ifdef IPP_TSAN_ANNOTATIONS
  if (p != nullptr) __tsan_acquire(const_cast<void*>(p));
#else
  (void)p;
#endif
}

}  // namespace ipp::util
