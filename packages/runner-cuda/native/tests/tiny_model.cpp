#include "tiny_model.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "cpu/kernels.h"
#include "gguf_builder.h"

namespace tiny {

namespace {

double round_to(double v, const std::string& dtype) {
  if (dtype == "F16") return inferkit::cpu::f16_to_f32(inferkit::cpu::f32_to_f16(static_cast<float>(v)));
  if (dtype == "BF16") return inferkit::cpu::bf16_to_f32(inferkit::cpu::f32_to_bf16(static_cast<float>(v)));
  return static_cast<float>(v);
}

std::string json_list(const std::vector<int>& v) {
  if (v.size() == 1) return std::to_string(v[0]);
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

Model make_model(const Spec& s) {
  Model m;
  m.spec = s;
  const int D = s.head_dim ? s.head_dim : s.hidden / s.heads;
  const int Q = s.heads * D, KV = s.kv_heads * D;
  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double scale, double center) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<double> v(n);
    for (auto& x : v) x = round_to(center + scale * u(rng), s.dtype);
    m.shapes[name] = shape;
    m.values[name] = std::move(v);
  };
  const bool qkv_bias = s.arch == "qwen2" || s.attention_bias;
  add("model.embed_tokens.weight", {s.vocab, s.hidden}, 1.0, 0);
  for (int i = 0; i < s.layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {s.hidden}, 0.2, 1.0);
    add(p + "self_attn.q_proj.weight", {Q, s.hidden}, 0.3, 0);
    add(p + "self_attn.k_proj.weight", {KV, s.hidden}, 0.3, 0);
    add(p + "self_attn.v_proj.weight", {KV, s.hidden}, 0.3, 0);
    add(p + "self_attn.o_proj.weight", {s.hidden, Q}, 0.3, 0);
    if (qkv_bias) {
      add(p + "self_attn.q_proj.bias", {Q}, 0.3, 0);
      add(p + "self_attn.k_proj.bias", {KV}, 0.3, 0);
      add(p + "self_attn.v_proj.bias", {KV}, 0.3, 0);
    }
    if (s.attention_bias && s.arch != "qwen2") add(p + "self_attn.o_proj.bias", {s.hidden}, 0.3, 0);
    if (s.arch == "qwen3") {
      add(p + "self_attn.q_norm.weight", {D}, 0.2, 1.0);
      add(p + "self_attn.k_norm.weight", {D}, 0.2, 1.0);
    }
    add(p + "post_attention_layernorm.weight", {s.hidden}, 0.2, 1.0);
    add(p + "mlp.gate_proj.weight", {s.intermediate, s.hidden}, 0.3, 0);
    add(p + "mlp.up_proj.weight", {s.intermediate, s.hidden}, 0.3, 0);
    add(p + "mlp.down_proj.weight", {s.hidden, s.intermediate}, 0.3, 0);
  }
  add("model.norm.weight", {s.hidden}, 0.2, 1.0);
  if (!s.tie) add("lm_head.weight", {s.vocab, s.hidden}, 0.5, 0);
  // A buffer the engine must ignore (old checkpoints carry rotary_emb.inv_freq).
  add("model.layers.0.self_attn.rotary_emb.inv_freq", {D / 2}, 1.0, 0);
  return m;
}

void write_text(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

bool write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                       const std::map<std::string, std::vector<double>>& values,
                       const std::string& dtype) {
  const size_t es = dtype == "F32" ? 4 : 2;
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const auto& t : shapes) {
    const std::vector<double>& v = values.at(t.first);
    const size_t begin = data.size();
    for (double x : v) {
      if (es == 4) {
        float f = static_cast<float>(x);
        data.append(reinterpret_cast<const char*>(&f), 4);
      } else {
        uint16_t h = dtype == "F16" ? inferkit::cpu::f32_to_f16(static_cast<float>(x))
                                    : inferkit::cpu::f32_to_bf16(static_cast<float>(x));
        data.append(reinterpret_cast<const char*>(&h), 2);
      }
    }
    std::string shape = "[";
    for (size_t i = 0; i < t.second.size(); ++i) shape += (i ? "," : "") + std::to_string(t.second[i]);
    shape += "]";
    header += ",\"" + t.first + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
              ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  uint64_t n = header.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(data.data(), 1, data.size(), f) == data.size();
  return std::fclose(f) == 0 && ok;
}

bool write_model(const Model& m, const std::string& dir) {
  const Spec& s = m.spec;
  mkdir(dir.c_str(), 0755);
  std::string cfg = "{\n  \"architectures\": [\"X\"],\n  \"model_type\": \"" + s.arch + "\",\n";
  cfg += "  \"vocab_size\": " + std::to_string(s.vocab) + ",\n";
  cfg += "  \"hidden_size\": " + std::to_string(s.hidden) + ",\n";
  cfg += "  \"intermediate_size\": " + std::to_string(s.intermediate) + ",\n";
  cfg += "  \"num_hidden_layers\": " + std::to_string(s.layers) + ",\n";
  cfg += "  \"num_attention_heads\": " + std::to_string(s.heads) + ",\n";
  cfg += "  \"num_key_value_heads\": " + std::to_string(s.kv_heads) + ",\n";
  if (s.head_dim) cfg += "  \"head_dim\": " + std::to_string(s.head_dim) + ",\n";
  cfg += "  \"hidden_act\": \"silu\",\n";
  cfg += "  \"max_position_embeddings\": " + std::to_string(s.max_pos) + ",\n";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", s.eps);
  cfg += std::string("  \"rms_norm_eps\": ") + buf + ",\n";
  std::snprintf(buf, sizeof buf, "%.9g", s.rope_theta);
  cfg += std::string("  \"rope_theta\": ") + buf + ",\n";
  if (s.llama3_rope) {
    cfg += "  \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
           "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 16},\n";
  } else {
    cfg += "  \"rope_scaling\": null,\n";
  }
  if (s.arch == "llama" || s.arch == "qwen3") {
    cfg += std::string("  \"attention_bias\": ") + (s.attention_bias ? "true" : "false") + ",\n";
  }
  if (s.arch == "mistral") {
    cfg += "  \"sliding_window\": " +
           (s.sliding_window > 0 ? std::to_string(s.sliding_window) : std::string("null")) + ",\n";
  }
  cfg += std::string("  \"tie_word_embeddings\": ") + (s.tie ? "true" : "false") + ",\n";
  cfg += "  \"bos_token_id\": 1,\n  \"eos_token_id\": " + json_list({s.eos[0]}) + ",\n";
  cfg += "  \"torch_dtype\": \"float32\"\n}\n";
  write_text(dir + "/config.json", cfg);
  write_text(dir + "/generation_config.json",
             "{\"bos_token_id\": 1, \"eos_token_id\": " + json_list(s.eos) + "}\n");

  std::vector<std::pair<std::string, std::vector<int64_t>>> all(m.shapes.begin(), m.shapes.end());
  if (s.shards <= 1) return write_safetensors(dir + "/model.safetensors", all, m.values, s.dtype);
  std::string index = "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {";
  bool first = true;
  for (int k = 0; k < s.shards; ++k) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, s.shards);
    std::vector<std::pair<std::string, std::vector<int64_t>>> part;
    for (size_t i = k; i < all.size(); i += s.shards) {
      part.push_back(all[i]);
      index += std::string(first ? "" : ",") + "\"" + all[i].first + "\": \"" + name + "\"";
      first = false;
    }
    if (!write_safetensors(dir + "/" + name, part, m.values, s.dtype)) return false;
  }
  index += "}}";
  write_text(dir + "/model.safetensors.index.json", index);
  return true;
}

bool write_gguf(const Model& m, const std::string& path) {
  const Spec& s = m.spec;
  const std::string arch = s.arch == "mistral" ? "llama" : s.arch;
  const int D = s.head_dim ? s.head_dim : s.hidden / s.heads;
  GgufBuilder g;
  g.str("general.architecture", arch);
  g.u32(arch + ".context_length", static_cast<uint32_t>(s.max_pos));
  g.u32(arch + ".embedding_length", static_cast<uint32_t>(s.hidden));
  g.u32(arch + ".block_count", static_cast<uint32_t>(s.layers));
  g.u32(arch + ".feed_forward_length", static_cast<uint32_t>(s.intermediate));
  g.u32(arch + ".attention.head_count", static_cast<uint32_t>(s.heads));
  g.u32(arch + ".attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
  g.f32(arch + ".attention.layer_norm_rms_epsilon", s.eps);
  g.f32(arch + ".rope.freq_base", s.rope_theta);
  g.u32(arch + ".attention.key_length", static_cast<uint32_t>(D));
  g.u32(arch + ".rope.dimension_count", static_cast<uint32_t>(D));
  g.u32("tokenizer.ggml.bos_token_id", 1);
  g.u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(s.eos[0]));
  const uint32_t type = s.dtype == "F32" ? 0 : s.dtype == "F16" ? 1 : 30;
  auto put = [&](const std::string& name, const std::string& hf, int permute_heads) {
    const std::vector<int64_t>& shape = m.shapes.at(hf);
    const std::vector<double>& v = m.values.at(hf);
    std::vector<double> w = v;
    if (permute_heads > 0) {
      // HF split halves -> adjacent pairs: row (h, i) of the first half goes to 2i, (h, i +
      // D/2) to 2i + 1 (llama.cpp's LlamaModel.permute).
      // Biases are permuted like their rows (one column).
      const int64_t cols = shape.size() == 2 ? shape[1] : 1, half = D / 2;
      for (int h = 0; h < permute_heads; ++h) {
        for (int64_t i = 0; i < half; ++i) {
          for (int k = 0; k < 2; ++k) {
            const int64_t src = (static_cast<int64_t>(h) * D + i + k * half) * cols;
            const int64_t dst = (static_cast<int64_t>(h) * D + 2 * i + k) * cols;
            std::copy(v.begin() + src, v.begin() + src + cols, w.begin() + dst);
          }
        }
      }
    }
    std::vector<uint64_t> ne(shape.rbegin(), shape.rend());
    const bool vector = shape.size() == 1;
    std::vector<uint8_t> bytes;
    for (double x : w) {
      if (type == 0 || vector) {
        float f = static_cast<float>(x);
        bytes.insert(bytes.end(), reinterpret_cast<uint8_t*>(&f), reinterpret_cast<uint8_t*>(&f) + 4);
      } else {
        uint16_t h = type == 1 ? inferkit::cpu::f32_to_f16(static_cast<float>(x)) : inferkit::cpu::f32_to_bf16(static_cast<float>(x));
        bytes.insert(bytes.end(), reinterpret_cast<uint8_t*>(&h), reinterpret_cast<uint8_t*>(&h) + 2);
      }
    }
    g.tensor(name, ne, vector ? 0 : type, std::move(bytes));
  };
  if (s.llama3_rope) {
    // write_model's rope_scaling: factor 8, low 1, high 4, original context 16.
    std::vector<float> f;
    const double pi = 3.14159265358979323846, orig = 16, low_wl = orig / 1.0, high_wl = orig / 4.0;
    for (int i = 0; i < D; i += 2) {
      const double wavelen = 2 * pi * std::pow(static_cast<double>(s.rope_theta), static_cast<double>(i) / D);
      if (wavelen < high_wl) f.push_back(1.0f);
      else if (wavelen > low_wl) f.push_back(8.0f);
      else {
        const double smooth = (orig / wavelen - 1.0) / (4.0 - 1.0);
        f.push_back(static_cast<float>(1.0 / ((1 - smooth) / 8.0 + smooth)));
      }
    }
    g.f32_tensor("rope_freqs.weight", {f.size()}, f);
  }
  const bool permute = arch == "llama";
  put("token_embd.weight", "model.embed_tokens.weight", 0);
  put("output_norm.weight", "model.norm.weight", 0);
  if (!s.tie) put("output.weight", "lm_head.weight", 0);
  const std::pair<const char*, const char*> names[] = {
      {"input_layernorm.weight", "attn_norm.weight"}, {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},   {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},       {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.bias", "attn_output.bias"},  {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},    {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  for (int i = 0; i < s.layers; ++i) {
    const std::string hp = "model.layers." + std::to_string(i) + ".", gp = "blk." + std::to_string(i) + ".";
    for (const auto& n : names) {
      if (!m.values.count(hp + n.first)) continue;
      const std::string hf = n.first;
      int heads = 0;
      if (permute && hf.rfind("self_attn.q_proj", 0) == 0) heads = s.heads;
      if (permute && hf.rfind("self_attn.k_proj", 0) == 0) heads = s.kv_heads;
      put(gp + n.second, hp + hf, heads);
    }
  }
  const std::vector<uint8_t> bytes = g.build();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

std::vector<double> reference_logits(const Model& m, const std::vector<int32_t>& tokens) {
  const Spec& s = m.spec;
  const int H = s.hidden, I = s.intermediate, V = s.vocab, n = static_cast<int>(tokens.size());
  const int D = s.head_dim ? s.head_dim : s.hidden / s.heads;
  const int Q = s.heads * D, KV = s.kv_heads * D, rep = s.heads / s.kv_heads;
  auto W = [&](const std::string& name) -> const std::vector<double>& { return m.values.at(name); };
  auto has = [&](const std::string& name) { return m.values.count(name) > 0; };
  auto rms = [&](const double* x, int len, const std::vector<double>& w, double* y) {
    double ss = 0;
    for (int i = 0; i < len; ++i) ss += x[i] * x[i];
    double sc = 1.0 / std::sqrt(ss / len + s.eps);
    for (int i = 0; i < len; ++i) y[i] = x[i] * sc * w[i];
  };
  auto linear = [&](const double* x, const std::vector<double>& w, int out, int in, double* y) {
    for (int o = 0; o < out; ++o) {
      double acc = 0;
      for (int i = 0; i < in; ++i) acc += w[static_cast<size_t>(o) * in + i] * x[i];
      y[o] = acc;
    }
  };
  // RoPE inverse frequencies (HF; llama3 per _compute_llama3_parameters).
  std::vector<double> inv(D / 2);
  for (int i = 0; i < D / 2; ++i) {
    double f = 1.0 / std::pow(static_cast<double>(s.rope_theta), 2.0 * i / D);
    if (s.llama3_rope) {
      const double factor = 8, lo = 1, hi = 4, orig = 16, pi = 3.14159265358979323846;
      double wl = 2 * pi / f;
      if (wl > orig / lo) f = f / factor;
      else if (wl >= orig / hi) {
        double sm = (orig / wl - lo) / (hi - lo);
        f = (1 - sm) * f / factor + sm * f;
      }
    }
    inv[i] = f;
  }
  auto rope = [&](double* v, int heads, int pos) {
    for (int h = 0; h < heads; ++h) {
      double* x = v + h * D;
      for (int i = 0; i < D / 2; ++i) {
        double a = x[i], b = x[i + D / 2];
        double ang = static_cast<double>(static_cast<float>(pos) * static_cast<float>(inv[i]));
        x[i] = a * std::cos(ang) - b * std::sin(ang);
        x[i + D / 2] = b * std::cos(ang) + a * std::sin(ang);
      }
    }
  };

  std::vector<double> x(static_cast<size_t>(n) * H);
  const auto& emb = W("model.embed_tokens.weight");
  for (int t = 0; t < n; ++t)
    for (int j = 0; j < H; ++j) x[t * H + j] = emb[static_cast<size_t>(tokens[t]) * H + j];
  std::vector<double> h(H), q(static_cast<size_t>(n) * Q), k(static_cast<size_t>(n) * KV),
      v(static_cast<size_t>(n) * KV), att(Q), o(H), g(I), u(I), d(H);
  for (int l = 0; l < s.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    for (int t = 0; t < n; ++t) {
      rms(&x[t * H], H, W(p + "input_layernorm.weight"), h.data());
      linear(h.data(), W(p + "self_attn.q_proj.weight"), Q, H, &q[t * Q]);
      linear(h.data(), W(p + "self_attn.k_proj.weight"), KV, H, &k[t * KV]);
      linear(h.data(), W(p + "self_attn.v_proj.weight"), KV, H, &v[t * KV]);
      if (has(p + "self_attn.q_proj.bias")) {
        for (int j = 0; j < Q; ++j) q[t * Q + j] += W(p + "self_attn.q_proj.bias")[j];
        for (int j = 0; j < KV; ++j) k[t * KV + j] += W(p + "self_attn.k_proj.bias")[j];
        for (int j = 0; j < KV; ++j) v[t * KV + j] += W(p + "self_attn.v_proj.bias")[j];
      }
      if (has(p + "self_attn.q_norm.weight")) {
        for (int hh = 0; hh < s.heads; ++hh)
          rms(&q[t * Q + hh * D], D, W(p + "self_attn.q_norm.weight"), &q[t * Q + hh * D]);
        for (int hh = 0; hh < s.kv_heads; ++hh)
          rms(&k[t * KV + hh * D], D, W(p + "self_attn.k_norm.weight"), &k[t * KV + hh * D]);
      }
      rope(&q[t * Q], s.heads, t);
      rope(&k[t * KV], s.kv_heads, t);
    }
    std::vector<double> xn = x;
    for (int t = 0; t < n; ++t) {
      for (int hh = 0; hh < s.heads; ++hh) {
        const int g2 = hh / rep;
        std::vector<double> sc(t + 1, 0.0);
        double mx = -1e300;
        // HF sliding-window mask: key j is visible to query t when t - j < window.
        const int first = s.sliding_window > 0 ? std::max(0, t - s.sliding_window + 1) : 0;
        for (int j = first; j <= t; ++j) {
          double a = 0;
          for (int e = 0; e < D; ++e) a += q[t * Q + hh * D + e] * k[j * KV + g2 * D + e];
          sc[j] = a / std::sqrt(static_cast<double>(D));
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int j = first; j <= t; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
        for (int e = 0; e < D; ++e) {
          double a = 0;
          for (int j = first; j <= t; ++j) a += sc[j] / sum * v[j * KV + g2 * D + e];
          att[hh * D + e] = a;
        }
      }
      linear(att.data(), W(p + "self_attn.o_proj.weight"), H, Q, o.data());
      for (int j = 0; j < H; ++j) {
        xn[t * H + j] += o[j] + (has(p + "self_attn.o_proj.bias") ? W(p + "self_attn.o_proj.bias")[j] : 0);
      }
      rms(&xn[t * H], H, W(p + "post_attention_layernorm.weight"), h.data());
      linear(h.data(), W(p + "mlp.gate_proj.weight"), I, H, g.data());
      linear(h.data(), W(p + "mlp.up_proj.weight"), I, H, u.data());
      for (int j = 0; j < I; ++j) g[j] = g[j] / (1 + std::exp(-g[j])) * u[j];
      linear(g.data(), W(p + "mlp.down_proj.weight"), H, I, d.data());
      for (int j = 0; j < H; ++j) xn[t * H + j] += d[j];
    }
    x = xn;
  }
  std::vector<double> logits(static_cast<size_t>(n) * V);
  const auto& head = s.tie ? W("model.embed_tokens.weight") : W("lm_head.weight");
  for (int t = 0; t < n; ++t) {
    rms(&x[t * H], H, W("model.norm.weight"), h.data());
    linear(h.data(), head, V, H, &logits[static_cast<size_t>(t) * V]);
  }
  return logits;
}

std::string make_temp_dir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/inferkit-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = mkdtemp(buf.data());
  return d ? std::string(d) : std::string();
}

void remove_tree(const std::string& dir) {
  if (dir.empty() || dir.find("/inferkit-") == std::string::npos) return;
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
}

}  // namespace tiny
