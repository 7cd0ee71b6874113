// A minimal test harness: TEST(name) registers a case; the binary runs one case named on the
// command line (CTest registers each case separately, see tests/CMakeLists.txt) or all of them.
// CHECK failures print file:line and the expression, and the case fails (no abort).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace testing {

struct Case {
  const char* name;
  void (*fn)();
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& failures() {
  static int n = 0;
  return n;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

inline void fail(const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, msg.c_str());
  ++failures();
}

inline int run_main(int argc, char** argv) {
  int ran = 0, failed = 0;
  for (const Case& c : registry()) {
    if (argc > 1 && std::strcmp(argv[1], c.name) != 0) continue;
    const int before = failures();
    c.fn();
    ++ran;
    const bool ok = failures() == before;
    if (!ok) ++failed;
    std::printf("[%s] %s\n", ok ? "  OK  " : "FAILED", c.name);
  }
  if (ran == 0) {
    std::fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "(any)");
    return 2;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace testing

#define TEST(name)                                                  \
  static void test_##name();                                        \
  static ::testing::Registrar registrar_##name(#name, test_##name); \
  static void test_##name()

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) ::testing::fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_EQ(a, b)                                                              \
  do {                                                                              \
    auto va_ = (a);                                                                 \
    auto vb_ = (b);                                                                 \
    if (!(va_ == vb_)) {                                                            \
      std::ostringstream os_;                                                       \
      os_ << "CHECK_EQ(" #a ", " #b "): " << va_ << " vs " << vb_;                  \
      ::testing::fail(__FILE__, __LINE__, os_.str());                               \
    }                                                                               \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                       \
  do {                                                                              \
    double va_ = (a), vb_ = (b);                                                    \
    if (!(std::fabs(va_ - vb_) <= (tol))) {                                         \
      std::ostringstream os_;                                                       \
      os_ << "CHECK_NEAR(" #a ", " #b "): " << va_ << " vs " << vb_ << " tol " << (tol); \
      ::testing::fail(__FILE__, __LINE__, os_.str());                               \
    }                                                                               \
  } while (0)

// Status checks: CHECK_OK(st) and CHECK_ERR(st, code, "substring of the message").
#define CHECK_OK(expr)                                                        \
  do {                                                                        \
    ::inferkit::Status st_ = (expr);                                          \
    if (!st_.ok()) ::testing::fail(__FILE__, __LINE__, "not ok: " + st_.to_string()); \
  } while (0)

#define CHECK_ERR(expr, status_code, substr)                                              \
  do {                                                                                    \
    ::inferkit::Status st_ = (expr);                                                      \
    if (st_.code() != (status_code) || st_.message().find(substr) == std::string::npos) { \
      ::testing::fail(__FILE__, __LINE__,                                                 \
                      std::string("expected ") + ::inferkit::kind_name(status_code) +     \
                          " containing '" + (substr) + "', got " + st_.to_string());      \
    }                                                                                     \
  } while (0)

#define TEST_MAIN() \
  int main(int argc, char** argv) { return ::testing::run_main(argc, argv); }
