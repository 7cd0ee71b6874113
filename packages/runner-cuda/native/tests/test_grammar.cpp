// Constrained decoding (engine/grammar): grammar parsing and validation, the vocabulary trie,
// byte matching, token masks against a brute-force oracle, the mask cache, limits, and the
// engine honouring a grammar end to end.
#include <algorithm>
#include <random>
#include <set>
#include <string>

#include "engine.h"
#include "engine_fixtures.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/vocabulary.h"
#include "test_harness.h"
#include "tiny_model.h"

using namespace inferkit;
using namespace inferkit::grammar;

namespace {

// Builds the serialized form Grammar::parse reads (the C++ twin of grammar-builder.ts).
struct Builder {
  std::vector<std::vector<uint32_t>> classes;
  std::vector<std::vector<std::vector<int32_t>>> rules;
  std::vector<int32_t> special;

  int32_t cls(int lo, int hi) {
    std::vector<uint32_t> c(8, 0);
    for (int b = lo; b <= hi; ++b) c[b >> 5] |= 1u << (b & 31);
    classes.push_back(c);
    return static_cast<int32_t>(classes.size() - 1);
  }
  int32_t ch(char c) { return cls(static_cast<uint8_t>(c), static_cast<uint8_t>(c)); }
  int32_t rule() {
    rules.emplace_back();
    return static_cast<int32_t>(rules.size() - 1);
  }
  static int32_t ref(int32_t r) { return -r - 1; }
  void alt(int32_t r, std::vector<int32_t> elems) { rules[r].push_back(std::move(elems)); }
  std::vector<int32_t> lit(const std::string& s) {
    std::vector<int32_t> out;
    for (char c : s) out.push_back(ch(c));
    return out;
  }
  std::vector<int32_t> words(int32_t root) const {
    std::vector<int32_t> w = {kGrammarMagic, static_cast<int32_t>(classes.size()),
                              static_cast<int32_t>(rules.size()), root, static_cast<int32_t>(special.size())};
    for (const auto& c : classes) for (uint32_t x : c) w.push_back(static_cast<int32_t>(x));
    for (int32_t s : special) w.push_back(s);
    for (const auto& r : rules) {
      w.push_back(static_cast<int32_t>(r.size()));
      for (const auto& a : r) {
        w.push_back(static_cast<int32_t>(a.size()));
        w.insert(w.end(), a.begin(), a.end());
      }
    }
    return w;
  }
};

std::shared_ptr<const Grammar> parse_ok(const std::vector<int32_t>& w) {
  std::shared_ptr<const Grammar> g;
  Status st = Grammar::parse(w.data(), w.size(), &g);
  if (!st.ok()) ::testing::fail(__FILE__, __LINE__, st.to_string());
  return g;
}

std::shared_ptr<const Vocabulary> vocab_of(const std::vector<std::string>& tokens, int vocab_size,
                                           const std::set<int>& special = {}) {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> offsets = {0};
  std::vector<uint8_t> flags;
  for (size_t i = 0; i < tokens.size(); ++i) {
    bytes.insert(bytes.end(), tokens[i].begin(), tokens[i].end());
    offsets.push_back(static_cast<uint32_t>(bytes.size()));
    flags.push_back(special.count(static_cast<int>(i)) ? 1 : 0);
  }
  std::shared_ptr<const Vocabulary> v;
  Status st = Vocabulary::build(bytes.data(), bytes.size(), offsets.data(), tokens.size(), flags.data(),
                                vocab_size, &v);
  if (!st.ok()) ::testing::fail(__FILE__, __LINE__, st.to_string());
  return v;
}

std::shared_ptr<CompiledGrammar> compiled(std::shared_ptr<const Grammar> g, std::shared_ptr<const Vocabulary> v) {
  std::shared_ptr<CompiledGrammar> out;
  Status st = CompiledGrammar::create(std::move(g), std::move(v), &out);
  if (!st.ok()) ::testing::fail(__FILE__, __LINE__, st.to_string());
  return out;
}

bool bit(const std::vector<uint32_t>& m, int id) { return (m[id >> 5] >> (id & 31)) & 1u; }

bool accepts(const std::shared_ptr<CompiledGrammar>& cg, const std::string& text) {
  GrammarMatcher m(cg);
  if (!m.init().ok()) return false;
  return m.accept_bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size()) && m.accepting();
}

// JSON-ish test grammar: value := object | array | string | number; compact, no whitespace.
//   object := "{" ( member ( "," member )* )? "}"   member := string ":" value
//   array  := "[" ( value ( "," value )* )? "]"     string := '"' [a-c]* '"'   number := [0-9]+
std::vector<int32_t> json_like(Builder* bp) {
  Builder& b = *bp;
  const int32_t value = b.rule(), object = b.rule(), members = b.rule(), more_members = b.rule(),
                member = b.rule(), array = b.rule(), items = b.rule(), more_items = b.rule(),
                string = b.rule(), chars = b.rule(), number = b.rule(), digits = b.rule();
  const int32_t q = b.ch('"'), abc = b.cls('a', 'c'), digit = b.cls('0', '9');
  b.alt(value, {Builder::ref(object)});
  b.alt(value, {Builder::ref(array)});
  b.alt(value, {Builder::ref(string)});
  b.alt(value, {Builder::ref(number)});
  b.alt(object, {b.ch('{'), Builder::ref(members), b.ch('}')});
  b.alt(members, {});
  b.alt(members, {Builder::ref(member), Builder::ref(more_members)});
  b.alt(more_members, {});
  b.alt(more_members, {b.ch(','), Builder::ref(member), Builder::ref(more_members)});
  b.alt(member, {Builder::ref(string), b.ch(':'), Builder::ref(value)});
  b.alt(array, {b.ch('['), Builder::ref(items), b.ch(']')});
  b.alt(items, {});
  b.alt(items, {Builder::ref(value), Builder::ref(more_items)});
  b.alt(more_items, {});
  b.alt(more_items, {b.ch(','), Builder::ref(value), Builder::ref(more_items)});
  b.alt(string, {q, Builder::ref(chars), q});
  b.alt(chars, {});
  b.alt(chars, {abc, Builder::ref(chars)});
  b.alt(number, {digit, Builder::ref(digits)});
  b.alt(digits, {});
  b.alt(digits, {digit, Builder::ref(digits)});
  return b.words(value);
}

}  // namespace

TEST(parse_rejects_malformed) {
  Builder b;
  const int32_t r = b.rule();
  b.alt(r, b.lit("ab"));
  std::vector<int32_t> good = b.words(r);
  std::shared_ptr<const Grammar> g;
  CHECK(Grammar::parse(good.data(), good.size(), &g).ok());
  std::vector<int32_t> w = good;
  w[0] = 7;
  CHECK(!Grammar::parse(w.data(), w.size(), &g).ok());
  CHECK(g == nullptr);
  for (size_t n = 0; n < good.size(); ++n) CHECK(!Grammar::parse(good.data(), n, &g).ok());  // truncated
  w = good;
  w.push_back(0);
  CHECK(!Grammar::parse(w.data(), w.size(), &g).ok());  // trailing
  w = good;
  w[3] = 5;  // root out of range
  CHECK(!Grammar::parse(w.data(), w.size(), &g).ok());
  w = good;
  w.back() = 99;  // class out of range
  CHECK(!Grammar::parse(w.data(), w.size(), &g).ok());
  w = good;
  w.back() = -9;  // rule out of range
  CHECK(!Grammar::parse(w.data(), w.size(), &g).ok());
  w = good;
  w[2] = -1;
  CHECK(!Grammar::parse(w.data(), w.size(), &g).ok());
  CHECK(!Grammar::parse(nullptr, 0, &g).ok());
}

TEST(parse_rejects_left_recursion) {
  {  // a := a "x" | "y"
    Builder b;
    const int32_t a = b.rule();
    b.alt(a, {Builder::ref(a), b.ch('x')});
    b.alt(a, {b.ch('y')});
    std::vector<int32_t> w = b.words(a);
    std::shared_ptr<const Grammar> g;
    Status st = Grammar::parse(w.data(), w.size(), &g);
    CHECK(!st.ok());
    CHECK(st.message().find("left-recursive") != std::string::npos);
  }
  {  // a := n b;  n := "" ;  b := a | "z"   (left recursion through a nullable rule)
    Builder b;
    const int32_t a = b.rule(), n = b.rule(), r = b.rule();
    b.alt(a, {Builder::ref(n), Builder::ref(r)});
    b.alt(n, {});
    b.alt(r, {Builder::ref(a)});
    b.alt(r, {b.ch('z')});
    std::vector<int32_t> w = b.words(a);
    std::shared_ptr<const Grammar> g;
    CHECK(!Grammar::parse(w.data(), w.size(), &g).ok());
  }
  {  // right recursion is fine: a := "x" a | ""
    Builder b;
    const int32_t a = b.rule();
    b.alt(a, {b.ch('x'), Builder::ref(a)});
    b.alt(a, {});
    parse_ok(b.words(a));
  }
}

TEST(vocabulary_trie_is_preorder) {
  auto v = vocab_of({"ab", "a", "b", "abc", "", "ab", "ba", "c"}, 10);
  CHECK_EQ(v->vocab_size(), 10);
  CHECK_EQ(v->mask_words(), 1);
  CHECK_EQ(v->max_depth(), 3);
  // Nodes: root, a, ab, abc, b, ba, c.
  CHECK_EQ(v->nodes(), 7);
  std::string path;
  std::multiset<int32_t> seen;
  for (int32_t i = 1; i < v->nodes(); ++i) {
    path.resize(static_cast<size_t>(v->node_depth(i)) - 1);
    path.push_back(static_cast<char>(v->node_byte(i)));
    for (const int32_t* t = v->tokens_begin(i); t != v->tokens_end(i); ++t) {
      size_t len = 0;
      const uint8_t* b = v->token_bytes(*t, &len);
      CHECK_EQ(std::string(reinterpret_cast<const char*>(b), len), path);
      seen.insert(*t);
    }
    CHECK(v->node_end(i) > i);
    CHECK(v->node_end(i) <= v->node_end(0));
  }
  CHECK_EQ(seen.size(), 7u);  // every token with text; "" (id 4) and ids 8, 9 have none
  CHECK(seen.count(4) == 0);
  // Subtree of "a" covers "ab", "abc".
  CHECK_EQ(v->node_end(1), 4);
  std::shared_ptr<const Vocabulary> bad;
  const uint32_t offsets[] = {0, 3, 1};
  const uint8_t bytes[] = {1, 2, 3};
  CHECK(!Vocabulary::build(bytes, 3, offsets, 2, nullptr, 4, &bad).ok());  // decreasing
  const uint32_t beyond[] = {0, 9};
  CHECK(!Vocabulary::build(bytes, 3, beyond, 1, nullptr, 4, &bad).ok());
  CHECK(!Vocabulary::build(bytes, 3, beyond, 0, nullptr, 0, &bad).ok());
}

TEST(matches_bytes) {
  Builder b;
  auto cg = compiled(parse_ok(json_like(&b)), vocab_of({"a"}, 1));
  for (const char* ok : {"{}", "[]", "\"\"", "12", "{\"a\":[1,\"bc\",{}]}", "[[[]],[{}]]"}) {
    if (!accepts(cg, ok)) ::testing::fail(__FILE__, __LINE__, std::string("rejected ") + ok);
  }
  for (const char* bad : {"{", "[1,]", "{\"a\"}", "\"d\"", "1a", "{}x", "", "[,]"}) {
    if (accepts(cg, bad)) ::testing::fail(__FILE__, __LINE__, std::string("accepted ") + bad);
  }
  GrammarMatcher m(cg);
  CHECK(m.init().ok());
  CHECK(!m.accepting());
  const std::string s = "{\"a\":12}";
  CHECK(m.accept_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  CHECK(m.accepting());
  CHECK(m.finished());
  GrammarMatcher n(cg);
  CHECK(n.init().ok());
  const std::string num = "12";
  CHECK(n.accept_bytes(reinterpret_cast<const uint8_t*>(num.data()), num.size()));
  CHECK(n.accepting());
  CHECK(!n.finished());  // more digits may follow
  const std::string x = "x";
  CHECK(!n.accept_bytes(reinterpret_cast<const uint8_t*>(x.data()), 1));
  CHECK(n.accepting());  // a rejected advance leaves the state alone
}

// Random walks under `cg`, checking every step's mask against per-token acceptance.
int brute_force_walks(const std::shared_ptr<CompiledGrammar>& cg, const std::vector<std::string>& tokens, int eos, int walks, int steps, uint32_t seed) {
  std::mt19937 rng(seed);
  const int V = cg->vocabulary().vocab_size();
  const std::vector<int32_t> stops = {eos};
  int checked = 0;
  for (int walk = 0; walk < walks; ++walk) {
    GrammarMatcher m(cg);
    if (!m.init().ok()) return -1;
    for (int step = 0; step < steps; ++step) {
      std::vector<uint32_t> mask(static_cast<size_t>(m.mask_words()));
      const bool any = m.fill_mask(mask.data(), stops);
      std::vector<int32_t> allowed;
      for (int id = 0; id < V; ++id) {
        bool expect;
        if (id == eos) {
          expect = m.accepting();
        } else {
          GrammarMatcher probe = m;
          expect = probe.accept(id);
        }
        if (bit(mask, id) != expect) {
          ::testing::fail(__FILE__, __LINE__, "mask bit of token '" + (id < static_cast<int>(tokens.size()) ? tokens[id] : std::string("?")) +
                                                  "' is " + (expect ? "clear" : "set"));
          return -1;
        }
        if (expect) allowed.push_back(id);
      }
      if (any != !allowed.empty()) ::testing::fail(__FILE__, __LINE__, "fill_mask result");
      ++checked;
      if (allowed.empty()) break;
      const int32_t pick = allowed[rng() % allowed.size()];
      if (pick == eos) break;
      if (!m.accept(pick)) ::testing::fail(__FILE__, __LINE__, "accept of an allowed token");
    }
  }
  return checked;
}

std::vector<std::string> random_tokens(const std::string& alphabet, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> tokens;
  for (char c : alphabet) tokens.push_back(std::string(1, c));
  for (int i = 0; i < n; ++i) {
    std::string t;
    const int len = 2 + static_cast<int>(rng() % 6);
    for (int k = 0; k < len; ++k) t.push_back(alphabet[rng() % alphabet.size()]);
    tokens.push_back(t);
  }
  return tokens;
}

// The mask must equal, token by token, "does the grammar accept this token's bytes next".
TEST(mask_equals_brute_force) {
  std::vector<std::string> tokens = random_tokens("{}[],:\"abc0129x", 300, 7);
  tokens.push_back("<eos>");
  const int eos = static_cast<int>(tokens.size() - 1);
  auto vocab = vocab_of(tokens, static_cast<int>(tokens.size()) + 5, {eos});  // a few ids without text
  Builder b;
  auto cg = compiled(parse_ok(json_like(&b)), vocab);
  CHECK(brute_force_walks(cg, tokens, eos, 40, 30, 7) > 200);
  const CompiledGrammar::CacheStats st = cg->cache_stats();
  CHECK(st.hits > 0);
  CHECK(st.position_walks > 0);
  // With every cache evicted at each store, the masks are the same (computed afresh).
  std::shared_ptr<CompiledGrammar> tiny;
  CHECK(CompiledGrammar::create(parse_ok(json_like(&b)), vocab, &tiny, 64).ok());
  CHECK(brute_force_walks(tiny, tokens, eos, 10, 30, 8) > 50);
}

TEST(mask_equals_brute_force_ambiguous_and_nullable) {
  // root := a | b;  a := opt "x" tail;  b := opt "x" "y"*;  opt := "" | "q" | "qq";
  // tail := "" | "," a       (ambiguous prefixes, nullable rules, right recursion, pops)
  Builder b;
  const int32_t root = b.rule(), a = b.rule(), bb = b.rule(), opt = b.rule(), tail = b.rule(), ys = b.rule();
  b.alt(root, {Builder::ref(a)});
  b.alt(root, {Builder::ref(bb)});
  b.alt(a, {Builder::ref(opt), b.ch('x'), Builder::ref(tail)});
  b.alt(bb, {Builder::ref(opt), b.ch('x'), Builder::ref(ys)});
  b.alt(opt, {});
  b.alt(opt, {b.ch('q')});
  b.alt(opt, {b.ch('q'), b.ch('q')});
  b.alt(tail, {});
  b.alt(tail, {b.ch(','), Builder::ref(a)});
  b.alt(ys, {});
  b.alt(ys, {b.ch('y'), Builder::ref(ys)});
  std::vector<std::string> tokens = random_tokens("qxy,z", 120, 11);
  tokens.push_back("</s>");
  const int eos = static_cast<int>(tokens.size() - 1);
  auto cg = compiled(parse_ok(b.words(root)), vocab_of(tokens, static_cast<int>(tokens.size()), {eos}));
  CHECK(brute_force_walks(cg, tokens, eos, 40, 25, 3) > 100);
}

TEST(tail_calls_keep_state_flat_and_cached) {
  // s := "a" s | "b": a long run of "a" must revisit one state, so its mask is computed once.
  Builder b;
  const int32_t s = b.rule();
  b.alt(s, {b.ch('a'), Builder::ref(s)});
  b.alt(s, {b.ch('b')});
  auto cg = compiled(parse_ok(b.words(s)), vocab_of({"a", "b", "aa", "ab", "c"}, 5));
  GrammarMatcher m(cg);
  CHECK(m.init().ok());
  std::vector<uint32_t> mask(1);
  for (int i = 0; i < 5000; ++i) {
    CHECK(m.fill_mask(mask.data(), {}));
    CHECK(bit(mask, 0) && bit(mask, 1) && bit(mask, 2) && bit(mask, 3) && !bit(mask, 4));
    if (!m.accept(i % 2 == 0 ? 0 : 2)) { ::testing::fail(__FILE__, __LINE__, "accept"); return; }
  }
  CHECK_EQ(cg->cache_stats().misses, 1u);
  CHECK_EQ(cg->cache_stats().position_walks, 2u);  // the tops "a" and "b", once each
  CHECK(m.accept(1));
  CHECK(m.finished());
}

TEST(special_tokens_only_where_named) {
  // root := "[T]" "x"; token 0 is a special token spelled "[T]".
  for (int named = 0; named < 2; ++named) {
    Builder b;
    const int32_t r = b.rule();
    std::vector<int32_t> e = b.lit("[T]x");
    b.alt(r, e);
    if (named) b.special.push_back(0);
    auto cg = compiled(parse_ok(b.words(r)), vocab_of({"[T]", "[", "T", "]", "x"}, 5, {0}));
    GrammarMatcher m(cg);
    CHECK(m.init().ok());
    std::vector<uint32_t> mask(1);
    CHECK(m.fill_mask(mask.data(), {}));
    CHECK_EQ(bit(mask, 0), named == 1);
    CHECK(bit(mask, 1));
    CHECK_EQ(m.accept(0), named == 1);
  }
}

TEST(stop_tokens_only_when_complete) {
  Builder b;
  const int32_t r = b.rule();
  b.alt(r, b.lit("ab"));
  // Token 3 "a" doubles as a stop token: never allowed as text while the output is incomplete.
  auto cg = compiled(parse_ok(b.words(r)), vocab_of({"a", "b", "</s>", "a"}, 4, {2}));
  GrammarMatcher m(cg);
  CHECK(m.init().ok());
  std::vector<uint32_t> mask(1);
  CHECK(m.fill_mask(mask.data(), {2, 3}));
  CHECK(bit(mask, 0) && !bit(mask, 1) && !bit(mask, 2) && !bit(mask, 3));
  CHECK(m.accept(0));
  CHECK(m.accept(1));
  CHECK(m.fill_mask(mask.data(), {2, 3}));
  CHECK(!bit(mask, 0) && !bit(mask, 1) && bit(mask, 2) && bit(mask, 3));
  CHECK(m.finished());
}

TEST(nesting_beyond_the_depth_limit_is_refused) {
  // n := "(" n ")" | "x": each "(" costs a frame (the ")" after the reference is pending).
  Builder b;
  const int32_t n = b.rule();
  b.alt(n, {b.ch('('), Builder::ref(n), b.ch(')')});
  b.alt(n, {b.ch('x')});
  auto cg = compiled(parse_ok(b.words(n)), vocab_of({"(", ")", "x"}, 3));
  GrammarMatcher m(cg);
  CHECK(m.init().ok());
  int opened = 0;
  while (opened < Walker::kMaxDepth + 10 && m.accept(0)) ++opened;
  CHECK(opened < Walker::kMaxDepth + 10);
  CHECK(opened > Walker::kMaxDepth - 10);
  std::vector<uint32_t> mask(1);
  CHECK(m.fill_mask(mask.data(), {}));
  CHECK(!bit(mask, 0) && bit(mask, 2));  // no deeper, but "x" still closes it
}

TEST(ambiguous_alternatives_merge) {
  // r := a | a, a := "x"*  "y": both branches stay alive but equal stacks are merged, so the state
  // does not double per step.
  Builder b;
  const int32_t r = b.rule(), a = b.rule(), a2 = b.rule(), xs = b.rule();
  b.alt(r, {Builder::ref(a)});
  b.alt(r, {Builder::ref(a2)});
  b.alt(a, {Builder::ref(xs), b.ch('y')});
  b.alt(a2, {Builder::ref(xs), b.ch('y')});
  b.alt(xs, {});
  b.alt(xs, {b.ch('x'), Builder::ref(xs)});
  auto cg = compiled(parse_ok(b.words(r)), vocab_of({"x", "y"}, 2));
  GrammarMatcher m(cg);
  CHECK(m.init().ok());
  for (int i = 0; i < 200; ++i) CHECK(m.accept(0));
  CHECK(m.accept(1));
  CHECK(m.finished());
}

// ---------------------------------------------------------------- engine

namespace {

const tiny::ModelDir& fixture() {
  static const tiny::ModelDir m(tiny::seeded_spec(5), "grammar");
  return m;
}

// Token i of the 96-token test vocabulary: 0..9 are digits, 10..35 letters, 2 is EOS (special),
// the rest two-letter pieces.
std::vector<std::string> test_tokens() {
  std::vector<std::string> t(96);
  for (int i = 0; i < 96; ++i) {
    if (i < 10) t[i] = std::string(1, static_cast<char>('0' + i));
    else if (i < 36) t[i] = std::string(1, static_cast<char>('a' + i - 10));
    else t[i] = std::string(1, static_cast<char>('a' + (i * 7) % 26)) + static_cast<char>('a' + (i * 3) % 26);
  }
  t[2] = "</s>";
  return t;
}

}  // namespace

TEST(engine_output_follows_the_grammar) {
  // root := digit+ "ab" : sampled freely at temperature 1, every output must match.
  Builder b;
  const int32_t root = b.rule(), digits = b.rule();
  const int32_t digit = b.cls('0', '9');
  b.alt(root, {digit, Builder::ref(digits)});
  b.alt(digits, {digit, Builder::ref(digits)});
  std::vector<int32_t> tail = b.lit("ab");
  b.alt(digits, tail);
  auto vocab = vocab_of(test_tokens(), 96, {2});
  auto cg = compiled(parse_ok(b.words(root)), vocab);
  Engine e;
  CHECK(e.load(fixture().dir, small_options()).ok());
  std::vector<std::unique_ptr<Collector>> cs;
  for (int i = 0; i < 8; ++i) {
    GenerateRequest r;
    r.prompt = {1, 5, static_cast<int32_t>(10 + i)};
    r.max_tokens = 60;
    r.sampling.temperature = 1.0f;
    r.sampling.seed = 100 + i;
    r.stop_token_ids = {2};
    // Half the batch constrained, half free: masks are per row.
    if (i % 2 == 0) r.grammar = cg;
    cs.push_back(std::make_unique<Collector>());
    uint64_t id = 0;
    CHECK(e.submit(std::move(r), cs.back()->callback(), &id).ok());
  }
  const std::vector<std::string> text = test_tokens();
  int constrained_done = 0;
  for (int i = 0; i < 8; ++i) {
    cs[i]->wait();
    if (i % 2 != 0) continue;
    std::string out;
    for (int32_t t : cs[i]->tokens) out += text[t];
    // Either complete (kStop: "ab" ended it, nothing may follow) or cut at maxTokens.
    if (cs[i]->finish == FinishReason::kStop) {
      ++constrained_done;
      CHECK(out.size() >= 3 && out.substr(out.size() - 2) == "ab");
      for (size_t k = 0; k + 2 < out.size(); ++k) CHECK(out[k] >= '0' && out[k] <= '9');
    } else {
      CHECK(cs[i]->finish == FinishReason::kLength);
      for (char c : out) CHECK((c >= '0' && c <= '9') || c == 'a');
    }
  }
  CHECK(constrained_done > 0);

  // A vocabulary of another size is refused at submit.
  auto other = compiled(parse_ok(b.words(root)), vocab_of(test_tokens(), 97, {2}));
  GenerateRequest r;
  r.prompt = {1};
  r.grammar = other;
  Collector c;
  uint64_t id = 0;
  CHECK(!e.submit(std::move(r), c.callback(), &id).ok());
  e.close();
}

TEST(engine_grammar_that_no_token_can_continue_fails_the_request) {
  // root := "z" "!": no token spells "!", so after "z" nothing is allowed.
  Builder b;
  const int32_t root = b.rule();
  b.alt(root, b.lit("z!"));
  auto cg = compiled(parse_ok(b.words(root)), vocab_of(test_tokens(), 96, {2}));
  Engine e;
  EngineOptions o;
  o.threads = 2;
  o.max_seq_len = 64;
  CHECK(e.load(fixture().dir, o).ok());
  GenerateRequest r;
  r.prompt = {1, 2, 3};
  r.max_tokens = 10;
  r.grammar = cg;
  r.stop_token_ids = {2};
  Collector c;
  uint64_t id = 0;
  CHECK(e.submit(std::move(r), c.callback(), &id).ok());
  c.wait();
  CHECK(c.finish == FinishReason::kError);
  CHECK(c.error.code() == StatusCode::kBadRequest);
  CHECK_EQ(c.tokens.size(), 1u);  // "z" was delivered; the failure comes with the next step
  e.close();
}

TEST_MAIN()
