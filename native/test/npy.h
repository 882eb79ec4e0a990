// Test-only reader for the .npy files of the golden vectors: little-endian '<f4' or '<i8', C order.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace kqkd::test {

struct NpyArray {
  std::string descr;
  std::vector<int64_t> shape;
  std::vector<char> data;
  template <typename T>
  std::vector<T> as() const {
    std::vector<T> v(data.size() / sizeof(T));
    std::memcpy(v.data(), data.data(), v.size() * sizeof(T));
    return v;
  }
};

inline NpyArray readNpy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) throw std::runtime_error("not npy: " + path);
  const int major = bytes[6];
  size_t headerLen, offset;
  if (major == 1) {
    headerLen = uint8_t(bytes[8]) | (size_t(uint8_t(bytes[9])) << 8);
    offset = 10;
  } else {
    headerLen = 0;
    for (int k = 0; k < 4; ++k) headerLen |= size_t(uint8_t(bytes[8 + k])) << (8 * k);
    offset = 12;
  }
  const std::string header(bytes.data() + offset, headerLen);
  if (header.find("'fortran_order': False") == std::string::npos) throw std::runtime_error("fortran order: " + path);
  NpyArray a;
  const size_t d = header.find("'descr': '") + 10;
  a.descr = header.substr(d, header.find('\'', d) - d);
  if (a.descr != "<f4" && a.descr != "<i8") throw std::runtime_error("unsupported dtype " + a.descr + ": " + path);
  const size_t s = header.find('(', header.find("'shape'")) + 1;
  const std::string dims = header.substr(s, header.find(')', s) - s);
  for (size_t p = 0; p < dims.size();) {
    const size_t q = dims.find(',', p);
    const std::string tok = dims.substr(p, q == std::string::npos ? std::string::npos : q - p);
    if (tok.find_first_of("0123456789") != std::string::npos) a.shape.push_back(std::stoll(tok));
    if (q == std::string::npos) break;
    p = q + 1;
  }
  a.data.assign(bytes.begin() + offset + headerLen, bytes.end());
  return a;
}

}  // namespace kqkd::test
