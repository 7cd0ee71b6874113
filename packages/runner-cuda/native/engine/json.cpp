#include "json.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace inferkit {

const JsonValue* JsonValue::get(const std::string& key) const {
  if (type != Type::kObject) return nullptr;
  for (const auto& kv : object) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

namespace {

// Deep enough for any config file; shallow enough that recursion cannot exhaust the stack.
constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(const char* data, size_t size, const std::string& what)
      : p_(data), begin_(data), end_(data + size), what_(what) {}

  Status parse(JsonValue* out) {
    skip_ws();
    IK_RETURN_IF_ERROR(value(out, 0));
    skip_ws();
    if (p_ != end_) return error("unexpected trailing characters");
    return Status::Ok();
  }

 private:
  Status error(const std::string& msg) const {
    return Status::BadRequest("invalid JSON in " + what_ + " at byte " +
                              std::to_string(p_ - begin_) + ": " + msg);
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool consume_literal(const char* lit) {
    size_t n = std::strlen(lit);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, lit, n) != 0) return false;
    p_ += n;
    return true;
  }

  Status value(JsonValue* out, int depth) {
    if (depth > kMaxDepth) return error("nesting deeper than 64 levels");
    if (p_ >= end_) return error("unexpected end of input");
    switch (*p_) {
      case '{': return object(out, depth);
      case '[': return array(out, depth);
      case '"':
        out->type = JsonValue::Type::kString;
        return string(&out->string);
      case 't':
        if (!consume_literal("true")) return error("invalid literal");
        out->type = JsonValue::Type::kBool;
        out->boolean = true;
        return Status::Ok();
      case 'f':
        if (!consume_literal("false")) return error("invalid literal");
        out->type = JsonValue::Type::kBool;
        out->boolean = false;
        return Status::Ok();
      case 'n':
        if (!consume_literal("null")) return error("invalid literal");
        out->type = JsonValue::Type::kNull;
        return Status::Ok();
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return number(out);
        return error("unexpected character");
    }
  }

  Status object(JsonValue* out, int depth) {
    out->type = JsonValue::Type::kObject;
    ++p_;  // '{'
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return Status::Ok();
    }
    for (;;) {
      skip_ws();
      if (p_ >= end_ || *p_ != '"') return error("expected a string key");
      std::string key;
      IK_RETURN_IF_ERROR(string(&key));
      skip_ws();
      if (p_ >= end_ || *p_ != ':') return error("expected ':'");
      ++p_;
      skip_ws();
      out->object.emplace_back(std::move(key), JsonValue());
      IK_RETURN_IF_ERROR(value(&out->object.back().second, depth + 1));
      skip_ws();
      if (p_ >= end_) return error("unexpected end of input in object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return Status::Ok();
      }
      return error("expected ',' or '}'");
    }
  }

  Status array(JsonValue* out, int depth) {
    out->type = JsonValue::Type::kArray;
    ++p_;  // '['
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return Status::Ok();
    }
    for (;;) {
      skip_ws();
      out->array.emplace_back();
      IK_RETURN_IF_ERROR(value(&out->array.back(), depth + 1));
      skip_ws();
      if (p_ >= end_) return error("unexpected end of input in array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return Status::Ok();
      }
      return error("expected ',' or ']'");
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool read_hex4(uint32_t* cp) {
    if (end_ - p_ < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex(p_[i]);
      if (h < 0) return false;
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    p_ += 4;
    *cp = v;
    return true;
  }

  static void append_utf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Status string(std::string* out) {
    ++p_;  // opening quote
    for (;;) {
      if (p_ >= end_) return error("unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return Status::Ok();
      }
      if (c < 0x20) return error("control character in string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++p_;
        continue;
      }
      ++p_;
      if (p_ >= end_) return error("unterminated escape");
      char e = *p_++;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!read_hex4(&cp)) return error("invalid \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return error("lone surrogate");
            p_ += 2;
            if (!read_hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return error("invalid surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return error("lone surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return error("invalid escape");
      }
    }
  }

  Status number(JsonValue* out) {
    const char* start = p_;
    bool negative = false;
    if (*p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return error("invalid number");
    if (*p_ == '0' && p_ + 1 < end_ && p_[1] >= '0' && p_[1] <= '9') {
      return error("leading zero in number");
    }
    bool integral = true;
    bool overflow = false;
    uint64_t magnitude = 0;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      uint64_t d = static_cast<uint64_t>(*p_ - '0');
      if (magnitude > (UINT64_MAX - d) / 10) overflow = true;
      else magnitude = magnitude * 10 + d;
      ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return error("invalid fraction");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return error("invalid exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    // strtod needs a terminated string; numbers are short, so copy.
    std::string text(start, p_);
    out->type = JsonValue::Type::kNumber;
    out->number = std::strtod(text.c_str(), nullptr);
    if (integral && !overflow) {
      if (!negative && magnitude <= static_cast<uint64_t>(INT64_MAX)) {
        out->is_integer = true;
        out->integer = static_cast<int64_t>(magnitude);
      } else if (negative && magnitude <= static_cast<uint64_t>(INT64_MAX)) {
        out->is_integer = true;
        out->integer = -static_cast<int64_t>(magnitude);
      }
    }
    return Status::Ok();
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  const std::string& what_;
};

}  // namespace

Status parse_json(const char* data, size_t size, const std::string& what, JsonValue* out) {
  *out = JsonValue();
  Parser parser(data, size, what);
  return parser.parse(out);
}

}  // namespace inferkit
