#include "grammar.h"

#include <string>

namespace inferkit {
namespace grammar {

namespace {

Status bad(const std::string& why) { return Status::BadRequest("grammar: " + why); }

}  // namespace

size_t Grammar::memory_bytes() const {
  return (code_.size() + alt_starts_.size() + alt_index_.size() + special_.size()) * sizeof(int32_t) +
         classes_.size() * sizeof(uint32_t);
}

Status Grammar::parse(const int32_t* w, size_t n, std::shared_ptr<const Grammar>* out) {
  out->reset();
  if (w == nullptr || n < 5) return bad("too short");
  if (n > kMaxGrammarWords) return bad("larger than " + std::to_string(kMaxGrammarWords) + " words");
  if (w[0] != kGrammarMagic) return bad("not a serialized grammar (bad magic)");
  const int32_t n_classes = w[1], n_rules = w[2], root = w[3], n_special = w[4];
  if (n_classes < 0 || n_classes > kMaxClasses) return bad("bad class count");
  if (n_rules <= 0 || n_rules > kMaxRules) return bad("bad rule count");
  if (root < 0 || root >= n_rules) return bad("root rule out of range");
  if (n_special < 0) return bad("bad special token count");
  size_t at = 5;
  const auto need = [&](size_t k) { return k <= n - at; };
  if (!need(static_cast<size_t>(n_classes) * 8 + static_cast<size_t>(n_special))) return bad("truncated");

  auto g = std::make_shared<Grammar>();
  g->root_ = root;
  g->classes_.assign(reinterpret_cast<const uint32_t*>(w + at),
                     reinterpret_cast<const uint32_t*>(w + at) + static_cast<size_t>(n_classes) * 8);
  at += static_cast<size_t>(n_classes) * 8;
  g->special_.assign(w + at, w + at + n_special);
  at += static_cast<size_t>(n_special);
  for (int32_t id : g->special_)
    if (id < 0) return bad("negative special token id");

  g->alt_index_.reserve(static_cast<size_t>(n_rules) + 1);
  g->code_.reserve(n - at);
  for (int32_t r = 0; r < n_rules; ++r) {
    g->alt_index_.push_back(static_cast<int32_t>(g->alt_starts_.size()));
    if (!need(1)) return bad("truncated");
    const int32_t n_alts = w[at++];
    if (n_alts < 0 || !need(static_cast<size_t>(n_alts))) return bad("bad alternative count");
    for (int32_t a = 0; a < n_alts; ++a) {
      if (!need(1)) return bad("truncated");
      const int32_t n_elems = w[at++];
      if (n_elems < 0 || !need(static_cast<size_t>(n_elems))) return bad("bad element count");
      g->alt_starts_.push_back(static_cast<int32_t>(g->code_.size()));
      for (int32_t k = 0; k < n_elems; ++k) {
        const int32_t e = w[at++];
        if (e >= 0) {
          if (e >= n_classes) return bad("byte class out of range");
          g->code_.push_back(e);
        } else {
          const int64_t rule = -static_cast<int64_t>(e) - 1;
          if (rule >= n_rules) return bad("rule reference out of range");
          g->code_.push_back(static_cast<int32_t>(-(rule + 2)));
        }
      }
      g->code_.push_back(kEnd);
    }
  }
  g->alt_index_.push_back(static_cast<int32_t>(g->alt_starts_.size()));
  if (at != n) return bad("trailing words");

  // Nullable rules (derive the empty string), to fixpoint.
  std::vector<char> nullable(n_rules, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t r = 0; r < n_rules; ++r) {
      if (nullable[r]) continue;
      for (const int32_t* a = g->alts_begin(r); a != g->alts_end(r); ++a) {
        bool all = true;
        for (int32_t p = *a; g->code_[p] != kEnd; ++p) {
          const int32_t e = g->code_[p];
          if (is_class(e) || !nullable[ref_rule(e)]) { all = false; break; }
        }
        if (all) { nullable[r] = 1; changed = true; break; }
      }
    }
  }
  // Left recursion: an edge r -> s when s can start r's match (everything before it nullable).
  // Any cycle in that graph would make the matcher's closure loop.
  std::vector<int32_t> edge_index(static_cast<size_t>(n_rules) + 1, 0);
  std::vector<int32_t> edges;
  for (int32_t r = 0; r < n_rules; ++r) {
    edge_index[r] = static_cast<int32_t>(edges.size());
    for (const int32_t* a = g->alts_begin(r); a != g->alts_end(r); ++a) {
      for (int32_t p = *a; g->code_[p] != kEnd; ++p) {
        const int32_t e = g->code_[p];
        if (is_class(e)) break;
        edges.push_back(ref_rule(e));
        if (!nullable[ref_rule(e)]) break;
      }
    }
  }
  edge_index[n_rules] = static_cast<int32_t>(edges.size());
  std::vector<char> color(n_rules, 0);  // 0 new, 1 on the DFS path, 2 done
  std::vector<std::pair<int32_t, int32_t>> dfs;
  for (int32_t start = 0; start < n_rules; ++start) {
    if (color[start]) continue;
    dfs.push_back({start, edge_index[start]});
    color[start] = 1;
    while (!dfs.empty()) {
      auto& top = dfs.back();
      if (top.second == edge_index[top.first + 1]) {
        color[top.first] = 2;
        dfs.pop_back();
        continue;
      }
      const int32_t next = edges[top.second++];
      if (color[next] == 1) return bad("rule " + std::to_string(next) + " is left-recursive");
      if (color[next] == 0) {
        color[next] = 1;
        dfs.push_back({next, edge_index[next]});
      }
    }
  }
  *out = std::move(g);
  return Status::Ok();
}

}  // namespace grammar
}  // namespace inferkit
