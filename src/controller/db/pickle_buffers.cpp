#include "db/pickle_buffers.hpp"

#include <cstdint>

namespace ipp::controller::db {

namespace {

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get_le(std::string_view d, std::size_t pos, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(d[pos + i])) << (8 * i);
  return v;
}

}  // namespace

std::string pickle_buffers(const std::vector<std::string>& buffers) {
  std::string out = "\x80\x03]";  // PROTO 3, EMPTY_LIST
  if (!buffers.empty()) {
    out += '(';  // MARK
    for (const auto& b : buffers) {
      if (b.size() < 256) {
        out += 'C';  // SHORT_BINBYTES
        put_le(out, b.size(), 1);
      } else if (b.size() <= 0xffffffffu) {
        out += 'B';  // BINBYTES
        put_le(out, b.size(), 4);
      } else {
        out += '\x8e';  // BINBYTES8 (protocol 4 opcode; Python reads it in any protocol)
        put_le(out, b.size(), 8);
      }
      out += b;
    }
    out += 'e';  // APPENDS
  }
  out += '.';  // STOP
  return out;
}

std::optional<std::vector<std::string>> unpickle_buffers(std::string_view d) {
  std::vector<std::string> items;
  std::size_t mark = std::string::npos;
  bool have_list = false;
  std::size_t pos = 0;
  auto need = [&](std::size_t n) { return pos + n <= d.size(); };
  while (pos < d.size()) {
    const auto op = static_cast<unsigned char>(d[pos++]);
    switch (op) {
      case 0x80:  // PROTO
        if (!need(1)) return std::nullopt;
        pos += 1;
        break;
      case 0x95:  // FRAME
        if (!need(8)) return std::nullopt;
        pos += 8;
        break;
      case ']':  // EMPTY_LIST
        have_list = true;
        break;
      case '(':  // MARK
        mark = items.size();
        break;
      case 0x94:  // MEMOIZE
        break;
      case 'q':  // BINPUT
        pos += 1;
        break;
      case 'r':  // LONG_BINPUT
        pos += 4;
        break;
      case 'C':
      case 'B':
      case 0x8e: {
        const int width = op == 'C' ? 1 : op == 'B' ? 4 : 8;
        if (!need(static_cast<std::size_t>(width))) return std::nullopt;
        const std::uint64_t n = get_le(d, pos, width);
        pos += static_cast<std::size_t>(width);
        if (!need(n)) return std::nullopt;
        items.emplace_back(d.substr(pos, n));
        pos += n;
        break;
      }
      case 'a':  // APPEND
      case 'e':  // APPENDS
        (void)mark;
        break;
      case '.':  // STOP
        if (!have_list) return std::nullopt;
        return items;
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace ipp::controller::db
