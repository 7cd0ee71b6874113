// Fuzzes parse_safetensors_header (and the JSON reader under it) with random bytes, random
// structured headers and mutations of valid files. Built with AddressSanitizer + UBSan (see
// CMakeLists.txt): any out-of-bounds read, overflow or crash fails the test. Accepted inputs
// are also checked against the format's invariants. Deterministic (fixed seed).
//
//   fuzz_safetensors_header [iterations]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "safetensors.h"

using inferkit::parse_safetensors_header;
using inferkit::SafetensorsHeader;

namespace {

std::mt19937_64 rng(0x1f2e3d4c5b6a7988ull);

size_t pick(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); }

std::vector<uint8_t> with_length(const std::string& header, const std::string& data) {
  std::vector<uint8_t> f(8);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) f[i] = static_cast<uint8_t>(n >> (8 * i));
  f.insert(f.end(), header.begin(), header.end());
  f.insert(f.end(), data.begin(), data.end());
  return f;
}

const char* kDtypes[] = {"F32", "F16", "BF16", "I64", "U8", "BOOL", "F4", "F6_E2M3", "F64",
                         "XX", "", "f32"};

// A structurally plausible header with random (often inconsistent) numbers.
std::vector<uint8_t> random_structured() {
  std::string h = "{";
  if (rng() % 2) h += "\"__metadata__\":{\"format\":\"pt\"},";
  const int n = static_cast<int>(pick(5));
  uint64_t off = 0;
  for (int i = 0; i < n; ++i) {
    const char* dt = kDtypes[pick(sizeof kDtypes / sizeof *kDtypes)];
    std::string shape = "[";
    const int rank = static_cast<int>(pick(4));
    uint64_t numel = 1;
    for (int r = 0; r < rank; ++r) {
      int64_t d = (rng() % 8 == 0) ? static_cast<int64_t>(rng() >> 1) : static_cast<int64_t>(pick(6));
      if (rng() % 16 == 0) d = -d - 1;
      shape += (r ? "," : "") + std::to_string(d);
      numel *= static_cast<uint64_t>(d < 0 ? 0 : d);
    }
    shape += "]";
    uint64_t len = numel * 4;
    if (rng() % 4 == 0) len = pick(64);
    uint64_t b = off, e = off + len;
    if (rng() % 6 == 0) b = rng();
    if (rng() % 6 == 0) e = rng() >> pick(64);
    off = e;
    h += std::string(i ? "," : "") + "\"t" + std::to_string(i % 3) + "\":{\"dtype\":\"" + dt +
         "\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(b) + "," +
         std::to_string(e) + "]}";
  }
  h += "}";
  std::string data(off < 4096 ? off : pick(4096), '\0');
  if (rng() % 4 == 0 && !data.empty()) data.resize(pick(data.size()));
  return with_length(h, data);
}

std::vector<uint8_t> valid_file() {
  std::string h =
      "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],"
      "\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
      "\"c\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]},"
      "\"d\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[40,40]}}";
  while (h.size() % 8) h += ' ';
  return with_length(h, std::string(40, '\x01'));
}

std::vector<uint8_t> mutate(std::vector<uint8_t> f) {
  const int edits = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < edits && !f.empty(); ++i) {
    switch (pick(7)) {
      case 0: f[pick(f.size())] ^= static_cast<uint8_t>(1u << pick(8)); break;
      case 1: f[pick(f.size())] = static_cast<uint8_t>(rng()); break;
      case 2: f.resize(pick(f.size())); break;  // truncation
      case 3: f.insert(f.begin() + pick(f.size()), static_cast<uint8_t>("{}[]\",:0123456789-e."[pick(20)])); break;
      case 4: f.erase(f.begin() + pick(f.size())); break;
      case 5:  // corrupt the length prefix
        if (f.size() >= 8) f[pick(8)] = static_cast<uint8_t>(rng());
        break;
      case 6: {  // duplicate a slice of the header text
        size_t a = pick(f.size()), b = a + pick(16);
        if (b > f.size()) b = f.size();
        std::vector<uint8_t> slice(f.begin() + a, f.begin() + b);
        f.insert(f.begin() + pick(f.size()), slice.begin(), slice.end());
        break;
      }
    }
  }
  return f;
}

bool check_invariants(const SafetensorsHeader& h, uint64_t file_size) {
  uint64_t expect = 0;
  for (const auto& t : h.tensors) {
    if (t.begin != expect || t.end < t.begin) return false;
    expect = t.end;
  }
  return h.data_offset + expect == file_size;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 10000;
  long accepted = 0, rejected = 0;
  const std::vector<uint8_t> valid = valid_file();
  {
    SafetensorsHeader h;
    auto st = parse_safetensors_header(valid.data(), valid.size(), valid.size(), "seed", &h);
    if (!st.ok() || h.tensors.size() != 4) {
      std::fprintf(stderr, "the valid seed file was rejected: %s\n", st.to_string().c_str());
      return 1;
    }
  }
  for (long i = 0; i < iterations; ++i) {
    std::vector<uint8_t> f;
    switch (i % 3) {
      case 0: {
        f.resize(pick(64));
        for (auto& b : f) b = static_cast<uint8_t>(rng());
        if (f.size() >= 8 && rng() % 2) {  // plausible length prefix
          uint64_t n = pick(f.size());
          for (int k = 0; k < 8; ++k) f[k] = static_cast<uint8_t>(n >> (8 * k));
          if (f.size() > 8) f[8] = '{';
        }
        break;
      }
      case 1: f = random_structured(); break;
      default: f = mutate(rng() % 4 ? valid : random_structured()); break;
    }
    // An exact-size heap copy, so ASan flags any read past the end.
    uint8_t* buf = static_cast<uint8_t*>(std::malloc(f.empty() ? 1 : f.size()));
    if (!f.empty()) std::copy(f.begin(), f.end(), buf);
    SafetensorsHeader h;
    auto st = parse_safetensors_header(buf, f.size(), f.size(), "fuzz", &h);
    std::free(buf);
    if (st.ok()) {
      ++accepted;
      if (!check_invariants(h, f.size())) {
        std::fprintf(stderr, "iteration %ld: accepted a header that breaks the invariants\n", i);
        return 1;
      }
    } else {
      ++rejected;
      if (st.message().empty()) {
        std::fprintf(stderr, "iteration %ld: error without a message\n", i);
        return 1;
      }
    }
  }
  std::printf("fuzz_safetensors_header: %ld inputs, %ld accepted, %ld rejected\n", iterations,
              accepted, rejected);
  // Mutations must reach both outcomes, or the fuzzer is not exercising the parser.
  return accepted > 0 && rejected > 0 ? 0 : 1;
}
