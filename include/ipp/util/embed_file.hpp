#pragma once
// Files compiled into a binary's read-only data (the status page, the engine's Python bridge),
// so an installed program works without the source tree.
//
//   IPP_EMBED_FILE(my_page, MY_DIR "/page.html")   // at namespace scope, in one .cpp
//   std::string_view text = IPP_EMBEDDED(my_page);
//
// The path is a string literal; the assembler reads the file, so the target that embeds it must
// list the file as a dependency of that .cpp (the compiler's dependency scan misses .incbin).
#include <cstddef>
#include <string_view>

#define IPP_EMBED_FILE(name, path)        \
  __asm__(".pushsection .rodata\n"        \
          ".global " #name "_begin\n"     \
          #name "_begin:\n"               \
          ".incbin \"" path "\"\n"        \
          ".global " #name "_end\n"       \
          #name "_end:\n"                 \
          ".byte 0\n"                     \
          ".popsection\n");               \
  extern "C" const char name##_begin[];   \
  extern "C" const char name##_end[]

#define IPP_EMBEDDED(name) \
  std::string_view(name##_begin, static_cast<std::size_t>(name##_end - name##_begin))
