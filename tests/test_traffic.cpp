// Traffic accounting (docs/traffic.md): hand-computed tiny clusters, the optimized pass against
// the reference on synthetic and real traces, thread-count independence, homes files, the CLI.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "moeplan/placement/placement.hpp"
#include "moeplan/placement/traffic.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/synth.hpp"
#include "support/support.hpp"

namespace mp = moeplan::placement;
namespace mt = moeplan::trace;
using moeplan::testing::error_from;
using moeplan::testing::run_cli;

namespace {

// A trace of single-token-per-row requests: tokens[r] lists request r's tokens, each a
// layers x k list of expert ids.
mt::TraceSet make_set(int experts, int layers, int k, const std::vector<std::vector<std::vector<int>>>& tokens) {
  mt::TraceSet s;
  s.model.name = "tiny";
  s.model.num_experts = experts;
  s.model.top_k = k;
  for (int l = 0; l < layers; ++l) s.model.moe_layer_ids.push_back(l);
  s.model.num_layers = layers;
  s.domains = {"d"};
  std::vector<std::uint8_t> ids;
  std::uint64_t off = 0;
  for (std::size_t r = 0; r < tokens.size(); ++r) {
    mt::Request q;
    q.id = "r" + std::to_string(r);
    q.token_offset = off;
    q.prefill_tokens = static_cast<std::uint32_t>(tokens[r].size());
    for (const auto& t : tokens[r]) {
      EXPECT_EQ(t.size(), static_cast<std::size_t>(layers * k));
      for (int e : t) ids.push_back(static_cast<std::uint8_t>(e));
    }
    off += tokens[r].size();
    s.requests.push_back(q);
  }
  s.ids = mt::ExpertIds::owned(std::move(ids));
  s.check("tiny");
  return s;
}

mp::Placement make_placement(mp::Cluster c, int experts, const std::vector<std::vector<int>>& layers) {
  mp::Placement p = mp::Placement::empty(c, experts, static_cast<int>(layers.size()), "test");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    EXPECT_EQ(layers[l].size(), static_cast<std::size_t>(c.slots()));
    std::copy(layers[l].begin(), layers[l].end(), p.layer(static_cast<int>(l)).begin());
  }
  p.check("test");
  return p;
}

mp::Placement contiguous(mp::Cluster c, int experts, int layers) {
  mp::Placement p = mp::Placement::empty(c, experts, layers, "contiguous");
  for (int l = 0; l < layers; ++l)
    for (int e = 0; e < experts; ++e) p.layer(l)[static_cast<std::size_t>(e)] = e;
  return p;
}

void expect_invariants(const mp::TrafficReport& r) {
  for (const mp::TrafficTotals* t : [&] {
         std::vector<const mp::TrafficTotals*> v{&r.total};
         for (const auto& x : r.per_layer) v.push_back(&x);
         return v;
       }()) {
    EXPECT_EQ(t->sends_intra_gpu + t->sends_intra_node + t->sends_inter_node,
              t->token_layers * static_cast<std::uint64_t>(r.top_k));
    EXPECT_LE(t->inter_node_dedup, t->sends_inter_node);
    EXPECT_LE(t->intra_gpu_dedup, t->sends_intra_gpu);
    // Each distinct destination GPU off the home is reached by at most one NVLink hop (the
    // dedup adds RDMA hops, so the dedup total can exceed the per-expert off-GPU sends).
    EXPECT_LE(t->intra_node_dedup, t->sends_off_gpu());
    EXPECT_GE(t->padded_sends, t->sends_off_gpu());
  }
  std::uint64_t load = 0, send = 0, recv = 0, nic_out = 0, nic_in = 0;
  for (std::size_t g = 0; g < r.gpu_expert_tokens.size(); ++g) {
    load += r.gpu_expert_tokens[g], send += r.gpu_send_tokens[g], recv += r.gpu_recv_tokens[g];
    nic_out += r.gpu_nic_send_tokens[g], nic_in += r.gpu_nic_recv_tokens[g];
  }
  EXPECT_EQ(load, r.total.token_layers * static_cast<std::uint64_t>(r.top_k));
  EXPECT_EQ(send, r.total.sends_off_gpu());
  EXPECT_EQ(recv, send);
  EXPECT_EQ(nic_out, r.total.inter_node_dedup);
  EXPECT_EQ(nic_in, nic_out);
}

// 2 nodes x 2 GPUs x 2 slots, contiguous: GPU g holds experts 2g and 2g+1.
// Request r0 lives on GPU 0 (node 0, local rank 0), r1 on GPU 3 (node 1, local rank 1).
struct Tiny {
  mp::Cluster c{2, 2, 2};
  mt::TraceSet set = make_set(8, 1, 3, {{{0, 2, 4}, {1, 5, 7}}, {{6, 7, 0}, {2, 3, 6}}});
  mp::Placement p = make_placement(c, 8, {{0, 1, 2, 3, 4, 5, 6, 7}});
  mp::Homes homes{0, 3};
};

}  // namespace

TEST(Traffic, HandComputedNoReplicas) {
  Tiny x;
  // t0 (home 0): 0 -> GPU0 local, 2 -> GPU1 intra-node, 4 -> GPU2 inter (arrival GPU 2 = rank 0).
  // t1 (home 0): 1 local, 5 -> GPU2, 7 -> GPU3: one inter-node send, one forward 2 -> 3.
  // t2 (home 3): 6, 7 local, 0 -> GPU0: arrives on GPU1 (rank 1), forwarded to GPU0.
  // t3 (home 3): 2, 3 -> GPU1 (= arrival, one send), 6 local.
  for (int threads : {1, 2}) {
    mp::TrafficOptions opt;
    opt.threads = threads;
    for (const mp::TrafficReport& r : {mp::account_traffic(x.set, x.p, x.homes, opt),
                                       mp::account_traffic_reference(x.set, x.p, x.homes, opt)}) {
      const mp::TrafficTotals& t = r.total;
      EXPECT_EQ(t.token_layers, 4u);
      EXPECT_EQ(t.sends_intra_gpu, 5u);
      EXPECT_EQ(t.sends_intra_node, 1u);
      EXPECT_EQ(t.sends_inter_node, 6u);
      EXPECT_EQ(t.inter_node_dedup, 4u);
      EXPECT_EQ(t.intra_node_dedup, 3u);
      EXPECT_EQ(t.intra_gpu_dedup, 4u);
      // Messages from GPU 0: to 1: 1, to 2: 2, to 3: 1; from GPU 3: to 0: 1, to 1: 2.
      EXPECT_EQ(t.max_message, 2u);
      EXPECT_EQ(t.padded_sends, 4u * 3u * 2u);
      EXPECT_EQ(r.gpu_expert_tokens, (std::vector<std::uint64_t>{3, 3, 2, 4}));
      EXPECT_EQ(t.gpu_load_max, 4u);
      EXPECT_DOUBLE_EQ(t.gpu_load_mean, 3.0);
      EXPECT_DOUBLE_EQ(r.gpu_load_max_over_mean(), 4.0 / 3.0);
      EXPECT_DOUBLE_EQ(r.inter_node_sends_per_token_layer(), 1.0);
      EXPECT_DOUBLE_EQ(r.inter_node_expert_sends_per_token_layer(), 1.5);
      EXPECT_DOUBLE_EQ(r.intra_node_expert_sends_per_token_layer(), 0.25);
      EXPECT_DOUBLE_EQ(r.intra_node_sends_per_token_layer(), 0.75);
      int loaded = 0;
      EXPECT_DOUBLE_EQ(r.mean_layer_load_imbalance(&loaded), 4.0 / 3.0);  // one layer
      EXPECT_EQ(loaded, 1);
      EXPECT_EQ(r.gpu_send_tokens, (std::vector<std::uint64_t>{4, 0, 0, 3}));
      EXPECT_EQ(r.gpu_recv_tokens, (std::vector<std::uint64_t>{1, 3, 2, 1}));
      EXPECT_EQ(r.gpu_nic_send_tokens, (std::vector<std::uint64_t>{2, 0, 0, 2}));
      EXPECT_EQ(r.gpu_nic_recv_tokens, (std::vector<std::uint64_t>{0, 2, 2, 0}));
      EXPECT_EQ(r.busiest_nic(), 0);  // all tie at 2 tokens: the lowest GPU
      ASSERT_EQ(r.per_layer.size(), 1u);
      EXPECT_EQ(r.per_layer[0], t);
      expect_invariants(r);
    }
  }
}

TEST(Traffic, HandComputedReplicasAndBytes) {
  // 2 nodes x 2 GPUs x 3 slots; GPU0 [0 1 4], GPU1 [2 3 6], GPU2 [4 5 0], GPU3 [6 7 5].
  mp::Cluster c{2, 2, 3};
  mp::Placement p = make_placement(c, 8, {{0, 1, 4, 2, 3, 6, 4, 5, 0, 6, 7, 5}});
  // r0 on GPU1: t0 [5 4], t1 [5 6]; r1 on GPU2: t2 [0 6], t3 [0 1].
  mt::TraceSet set = make_set(8, 1, 2, {{{5, 4}, {5, 6}}, {{0, 6}, {0, 1}}});
  mp::Homes homes{1, 2};
  mp::TrafficOptions opt;
  opt.bytes = mp::MessageBytes{10, 20};
  // t0: 5 has no replica on node 0: all replicas [GPU2, GPU3], token 0 -> GPU2 (arrives at
  //     GPU3, the home's rank, and is forwarded); 4 -> GPU0 on the home node.
  // t1: 5 -> token 1 -> GPU3 (the arrival GPU); 6 on the home GPU.
  // t2: 0 on the home GPU 2; 6 -> GPU3 on the home node (not GPU1 on the other node).
  // t3: 0 local; 1 only on GPU0 -> arrival GPU0 (rank 0).
  for (const mp::TrafficReport& r : {mp::account_traffic(set, p, homes, opt), mp::account_traffic_reference(set, p, homes, opt)}) {
    const mp::TrafficTotals& t = r.total;
    EXPECT_EQ(t.sends_intra_gpu, 3u);
    EXPECT_EQ(t.sends_intra_node, 2u);
    EXPECT_EQ(t.sends_inter_node, 3u);
    EXPECT_EQ(t.inter_node_dedup, 3u);
    EXPECT_EQ(t.intra_node_dedup, 3u);
    EXPECT_EQ(t.intra_gpu_dedup, 3u);
    EXPECT_EQ(t.max_message, 1u);
    EXPECT_EQ(t.padded_sends, 12u);
    EXPECT_EQ(r.gpu_expert_tokens, (std::vector<std::uint64_t>{2, 1, 3, 2}));
    EXPECT_DOUBLE_EQ(r.gpu_load_max_over_mean(), 1.5);
    EXPECT_EQ(r.gpu_nic_send_tokens, (std::vector<std::uint64_t>{0, 2, 1, 0}));
    EXPECT_EQ(r.gpu_nic_recv_tokens, (std::vector<std::uint64_t>{1, 0, 0, 2}));
    EXPECT_EQ(r.gpu_send_tokens, (std::vector<std::uint64_t>{0, 3, 2, 0}));
    EXPECT_EQ(r.gpu_recv_tokens, (std::vector<std::uint64_t>{2, 0, 1, 2}));
    EXPECT_EQ(r.busiest_nic(), 1);  // GPU1: 2 x 10 out + 0 x 20; GPU3: 2 x 10 in -> tie, lower wins
    expect_invariants(r);

    nlohmann::json j = mp::to_json(r);
    EXPECT_DOUBLE_EQ(j["inter_node_sends_per_token_layer"].get<double>(), 0.75);
    EXPECT_DOUBLE_EQ(j["inter_node_expert_sends_per_token_layer"].get<double>(), 0.75);
    EXPECT_EQ(j["inter_node_bytes"].get<std::uint64_t>(), 3u * 30u);
    EXPECT_EQ(j["intra_node_bytes"].get<std::uint64_t>(), 3u * 30u);
    EXPECT_EQ(j["per_expert"]["inter_node"]["dispatch_bytes"].get<std::uint64_t>(), 30u);
    EXPECT_EQ(j["per_expert"]["inter_node"]["combine_bytes"].get<std::uint64_t>(), 60u);
    EXPECT_EQ(j["padded"]["bytes"].get<std::uint64_t>(), 12u * 30u);
    EXPECT_DOUBLE_EQ(j["gpu_load_max_over_mean"].get<double>(), 1.5);
    EXPECT_EQ(j["busiest_nic"]["gpu"].get<int>(), 1);
    EXPECT_EQ(j["busiest_nic"]["send_bytes"].get<std::uint64_t>(), 20u);
    EXPECT_EQ(j["busiest_nic"]["recv_bytes"].get<std::uint64_t>(), 40u);
    EXPECT_EQ(j["gpus"]["nic_send_bytes"], (nlohmann::json{20, 20, 10, 40}));
    EXPECT_EQ(j["per_layer"]["inter_node_dedup_sends"], (nlohmann::json{3}));
    EXPECT_FALSE(j.contains("note"));
  }
}

TEST(Traffic, CountsOnlyCarriesANote) {
  Tiny x;
  nlohmann::json j = mp::to_json(mp::account_traffic(x.set, x.p, x.homes));
  EXPECT_TRUE(j["bytes_per_token"].is_null());
  EXPECT_NE(j["note"].get<std::string>().find("bytes omitted"), std::string::npos);
  EXPECT_FALSE(j.contains("inter_node_bytes"));
  EXPECT_FALSE(j["per_expert"]["inter_node"].contains("bytes"));
  EXPECT_EQ(j["per_expert"]["inter_node"]["sends"].get<int>(), 6);
}

TEST(Traffic, TokenBytes) {
  EXPECT_DOUBLE_EQ(mp::token_bytes(7168, "fp8"), 7168 + 4 * 56);
  EXPECT_DOUBLE_EQ(mp::token_bytes(2048, "fp8"), 2048 + 4 * 16);
  EXPECT_DOUBLE_EQ(mp::token_bytes(100, "fp8"), 104);  // one scale for a partial block
  EXPECT_DOUBLE_EQ(mp::token_bytes(7168, "bf16"), 14336);
  EXPECT_DOUBLE_EQ(mp::token_bytes(7168, "fp32"), 28672);
  EXPECT_EQ(error_from([] { mp::token_bytes(10, "int4"); }, "int4").kind(), moeplan::ErrorKind::usage);
}

TEST(Traffic, DedupEqualsNodesSpannedWithoutReplicas) {
  // Without replicas the dedup count is sum over token-layers of (nodes spanned incl. home - 1).
  mt::SynthParams sp;
  sp.requests = 40, sp.layers = 3, sp.experts = 32, sp.top_k = 4, sp.seed = 5;
  mt::TraceSet set = mt::synthesize(sp);
  mp::Cluster c{4, 2, 4};
  mp::Placement p = contiguous(c, 32, 3);
  mp::Homes homes = mp::round_robin_homes(set, c);
  std::uint64_t spanned = 0;
  for (std::size_t r = 0; r < set.requests.size(); ++r)
    for (std::uint64_t t = set.requests[r].token_offset; t < set.requests[r].token_offset + set.requests[r].tokens(); ++t)
      for (int l = 0; l < 3; ++l) {
        std::vector<int> nodes{c.node_of_gpu(homes[r])};
        for (int k = 0; k < 4; ++k) nodes.push_back(c.node_of_slot(static_cast<int>(set.ids[(t * 3 + l) * 4 + k])));
        std::sort(nodes.begin(), nodes.end());
        spanned += static_cast<std::uint64_t>(std::unique(nodes.begin(), nodes.end()) - nodes.begin()) - 1;
      }
  EXPECT_EQ(mp::account_traffic(set, p, homes).total.inter_node_dedup, spanned);
}

TEST(Traffic, MatchesReferenceOnSynthWithReplicasBothIdWidths) {
  for (int experts : {64, 300}) {
    SCOPED_TRACE(experts);
    mt::SynthParams sp;
    sp.requests = 60, sp.layers = 4, sp.experts = experts, sp.top_k = 6, sp.seed = 11;
    mt::TraceSet set = mt::synthesize(sp);
    ASSERT_EQ(set.ids.width(), experts > 256 ? 2 : 1);
    // 2 nodes x 4 GPUs; slots beyond E hold replicas (a different pattern per layer) or stay empty.
    mp::Cluster c{2, 4, (experts + 12) / 8 + 1};
    mp::Placement p = mp::Placement::empty(c, experts, 4, "test");
    for (int l = 0; l < 4; ++l) {
      for (int s = 0; s < c.slots(); ++s) {
        const int e = (s * (2 * l + 1) + l) % experts;
        p.layer(l)[static_cast<std::size_t>(s)] = s < experts ? (s + 13 * l) % experts : (s % 5 == 0 ? -1 : e);
      }
    }
    p.check("synth placement");
    int replicated = 0;
    for (int e = 0; e < experts; ++e) replicated += p.replicas(0, e) > 1;
    EXPECT_GT(replicated, 5);
    mp::Homes homes(set.requests.size());
    for (std::size_t i = 0; i < homes.size(); ++i) homes[i] = static_cast<std::int32_t>((i * 7 + i / 3) % 8);
    mp::TrafficOptions one, two, three;
    one.threads = 1, two.threads = 2, three.threads = 3;
    one.bytes = two.bytes = three.bytes = mp::MessageBytes{100, 200};
    const mp::TrafficReport ref = mp::account_traffic_reference(set, p, homes, one);
    const mp::TrafficReport a = mp::account_traffic(set, p, homes, one);
    EXPECT_EQ(a, ref);
    EXPECT_EQ(mp::account_traffic(set, p, homes, two), ref);
    EXPECT_EQ(mp::account_traffic(set, p, homes, three), ref);
    EXPECT_EQ(mp::to_json(a).dump(), mp::to_json(ref).dump());
    expect_invariants(a);
    EXPECT_GT(ref.total.sends_inter_node, 0u);
    EXPECT_GT(ref.total.sends_intra_node, 0u);
    EXPECT_GT(ref.total.sends_intra_gpu, 0u);
    EXPECT_LT(ref.total.inter_node_dedup, ref.total.sends_inter_node);
  }
}

TEST(Traffic, MatchesReferenceBeyond64Gpus) {
  // More than 64 GPUs takes the general (mark-array) path instead of the bit-mask one.
  mt::SynthParams sp;
  sp.requests = 50, sp.layers = 2, sp.experts = 100, sp.top_k = 6, sp.seed = 4;
  mt::TraceSet set = mt::synthesize(sp);
  mp::Cluster c{9, 8, 2};  // 72 GPUs, 144 slots: every expert once, 44 replicas
  mp::Placement p = mp::Placement::empty(c, 100, 2, "test");
  for (int l = 0; l < 2; ++l)
    for (int s = 0; s < c.slots(); ++s) p.layer(l)[static_cast<std::size_t>(s)] = s < 100 ? (s * 7 + l) % 100 : (s * 3 + l) % 100;
  p.check("test");
  mp::Homes homes(set.requests.size());
  for (std::size_t i = 0; i < homes.size(); ++i) homes[i] = static_cast<std::int32_t>((i * 13) % 72);
  mp::TrafficOptions one, two;
  one.threads = 1, two.threads = 2;
  const mp::TrafficReport ref = mp::account_traffic_reference(set, p, homes, one);
  EXPECT_EQ(mp::account_traffic(set, p, homes, one), ref);
  EXPECT_EQ(mp::account_traffic(set, p, homes, two), ref);
  expect_invariants(ref);
  EXPECT_GT(ref.total.intra_node_dedup, 0u);
  EXPECT_GT(ref.total.inter_node_dedup, 0u);
}

TEST(Traffic, MatchesReferenceOnBundledSample) {
  const auto path = (moeplan::testing::source_dir() / "data/samples/deepseek-v2-lite-puffin-40.moet").string();
  mt::TraceSet set = mt::import_traces({path}, {});
  ASSERT_EQ(set.model.num_experts, 64);
  mp::Cluster c{2, 4, 8};
  mp::Placement p = contiguous(c, 64, set.model.moe_layers());
  mp::Homes homes = mp::round_robin_homes(set, c);
  mp::TrafficOptions one, two;
  one.threads = 1, two.threads = 2;
  const mp::TrafficReport ref = mp::account_traffic_reference(set, p, homes, one);
  const mp::TrafficReport a = mp::account_traffic(set, p, homes, one);
  EXPECT_EQ(a, ref);
  EXPECT_EQ(mp::account_traffic(set, p, homes, two), ref);
  expect_invariants(a);
  EXPECT_EQ(a.total.token_layers, set.num_tokens() * static_cast<std::uint64_t>(set.model.moe_layers()));
}

TEST(Traffic, RejectsMismatchedInputs) {
  Tiny x;
  mp::Placement wrong = contiguous(x.c, 8, 2);
  EXPECT_EQ(error_from([&] { mp::account_traffic(x.set, wrong, x.homes); }, "layers").kind(), moeplan::ErrorKind::bad_input);
  mp::Homes bad{0, 4};
  EXPECT_EQ(error_from([&] { mp::account_traffic(x.set, x.p, bad); }, "home").kind(), moeplan::ErrorKind::bad_input);
}

TEST(TrafficHomes, RoundRobinAndBothFileForms) {
  Tiny x;
  EXPECT_EQ(mp::round_robin_homes(x.set, x.c), (mp::Homes{0, 1}));
  EXPECT_EQ(mp::parse_homes(R"({"homes": {"r1": 2, "r0": 3}})", "h.json", x.set, x.c), (mp::Homes{3, 2}));
  EXPECT_EQ(mp::parse_homes(R"({"homes": [{"request": "r0", "gpu": 1}, {"request": "r1", "gpu": 0}]})", "h.json", x.set, x.c),
            (mp::Homes{1, 0}));
  auto msg = [&](const char* text) {  // a copy: the Error is a temporary
    return std::string(error_from([&] { mp::parse_homes(text, "h.json", x.set, x.c); }, text).what());
  };
  EXPECT_EQ(std::string(msg(R"({"homes": {"r0": 1}})")), "h.json: field \"homes\": no home for request \"r1\" (every request of the trace needs one)");
  EXPECT_NE(std::string(msg(R"({"homes": {"r0": 1, "r1": 4}})")).find("out of range"), std::string::npos);
  EXPECT_NE(std::string(msg(R"({"homes": {"r0": 1, "r1": 1, "zz": 0}})")).find("unknown request id \"zz\""), std::string::npos);
  EXPECT_NE(std::string(msg(R"({"homes": [{"request": "r0", "gpu": 1}, {"request": "r0", "gpu": 1}]})")).find("two homes"),
            std::string::npos);
  EXPECT_NE(std::string(msg(R"({"homes": {"r0": 1.5, "r1": 0}})")).find("expected an integer"), std::string::npos);
}

TEST(TrafficCli, JsonAndTextOnTheSample) {
  moeplan::testing::TempDir dir;
  const auto sample = (moeplan::testing::source_dir() / "data/samples/deepseek-v2-lite-puffin-40.moet").string();
  const auto placement = (moeplan::testing::source_dir() / "examples/placement/deepseek-v2-lite-2x4-contiguous.json").string();
  auto r = run_cli({"traffic", sample, "--placement", placement, "--model", "deepseek-v2-lite", "--json", "-o", dir.file("t.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"inter_node_sends_per_token_layer", "inter_node_expert_sends_per_token_layer", "inter_node_bytes",
                          "intra_node_bytes", "gpu_load_max_over_mean", "per_layer", "padded", "busiest_nic", "gpus"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["bytes_per_token"]["dispatch"].get<int>(), 2048 + 4 * 16);  // fp8 + scales, hidden 2048
  EXPECT_EQ(j["bytes_per_token"]["combine"].get<int>(), 4096);
  EXPECT_EQ(j["per_layer"]["inter_node_dedup_sends"].size(), 26u);
  {
    std::ifstream in(dir.file("t.json"));
    EXPECT_EQ(nlohmann::json::parse(in), j);  // -o writes the same JSON
  }

  // Library result for the same inputs.
  mt::TraceSet set = mt::import_traces({sample}, {});
  mp::Placement p = mp::read_placement(placement);
  mp::TrafficOptions opt;
  opt.bytes = mp::MessageBytes{2048 + 64, 4096};
  EXPECT_EQ(mp::to_json(mp::account_traffic(set, p, mp::round_robin_homes(set, p.cluster), opt)).dump(), j.dump());

  auto text = run_cli({"traffic", sample, "--placement", placement});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("note: bytes omitted"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("busiest NIC"), std::string::npos) << text.out;

  // A placement for another model: exit 3 naming both files.
  mp::Placement other = contiguous({2, 4, 8}, 64, 3);
  mp::write_placement(dir.file("p3.json"), other);
  auto bad = run_cli({"traffic", sample, "--placement", dir.file("p3.json")});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.err.find(dir.file("p3.json")), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find(sample), std::string::npos) << bad.err;
  EXPECT_EQ(run_cli({"traffic", sample, "--placement", placement, "--model", "deepseek-v2-lite", "--hidden-size", "7"}).exit_code, 2);
}

// tests/bad-inputs/homes/: every file is refused by `moeplan traffic <sample> --placement
// <example> --homes FILE` with the manifest's exit code and one stderr line naming the file
// and the field; no output file is left.
TEST(TrafficCli, BadHomesCorpus) {
  const auto src = moeplan::testing::source_dir();
  const auto dir = src / "tests/bad-inputs/homes";
  std::ifstream manifest(dir / "MANIFEST.tsv");
  ASSERT_TRUE(manifest) << "MANIFEST.tsv missing";
  std::size_t cases = 0, files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.path().extension() == ".json";
  std::string line;
  while (std::getline(manifest, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    for (std::size_t a = 0, b; a <= line.size(); a = b + 1) {
      b = line.find('\t', a);
      if (b == std::string::npos) b = line.size();
      f.push_back(line.substr(a, b - a));
    }
    ASSERT_GE(f.size(), 3u) << line;
    SCOPED_TRACE(f[0]);
    ++cases;
    moeplan::testing::TempDir out;
    const std::string path = (dir / f[0]).string();
    auto r = run_cli({"traffic", (src / "data/samples/deepseek-v2-lite-puffin-40.moet").string(), "--placement",
                      (src / "examples/placement/deepseek-v2-lite-2x4-contiguous.json").string(), "--homes", path,
                      "-o", out.file("t.json")});
    EXPECT_EQ(r.exit_code, std::stoi(f[1])) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(f[2]), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_TRUE(out.entries().empty());
  }
  EXPECT_EQ(cases, files) << "every corpus file needs a MANIFEST.tsv line";
  EXPECT_GE(cases, 6u);
}
