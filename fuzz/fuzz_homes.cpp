// libFuzzer target: the homes-file parser (docs/traffic.md) on arbitrary bytes, against a tiny
// fixed trace of three requests on a 2 x 2 cluster. Only moeplan::Error may escape; accepted
// homes must be in range and drive a traffic accounting that matches the reference.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "moeplan/io/error.hpp"
#include "moeplan/placement/traffic.hpp"

namespace {

namespace mp = moeplan::placement;
namespace mt = moeplan::trace;

struct Fixture {
  mt::TraceSet set;
  mp::Placement p;
  Fixture() {
    set.model.name = "fuzz";
    set.model.num_experts = 4;
    set.model.top_k = 2;
    set.model.moe_layer_ids = {0, 1};
    set.domains = {"d"};
    const char* ids[] = {"0", "r1", "prompt_7"};
    std::uint64_t off = 0;
    for (int r = 0; r < 3; ++r) {
      mt::Request q;
      q.id = ids[r];
      q.token_offset = off;
      q.prefill_tokens = 2;
      off += 2;
      set.requests.push_back(q);
    }
    std::vector<std::uint8_t> v;
    for (std::uint64_t i = 0; i < off * 4; ++i) v.push_back(static_cast<std::uint8_t>((i * 3 + i / 4) % 4));
    set.ids = mt::ExpertIds::owned(std::move(v));
    p = mp::Placement::empty({2, 2, 1}, 4, 2, "fuzz");
    for (int l = 0; l < 2; ++l)
      for (int s = 0; s < 4; ++s) p.layer(l)[static_cast<std::size_t>(s)] = (s + l) % 4;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Fixture fx;
  try {
    mp::Homes h = mp::parse_homes(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json", fx.set,
                                  fx.p.cluster);
    if (h.size() != fx.set.requests.size()) std::abort();
    for (auto g : h)
      if (g < 0 || g >= fx.p.cluster.gpus()) std::abort();
    if (!(mp::account_traffic(fx.set, fx.p, h) == mp::account_traffic_reference(fx.set, fx.p, h))) std::abort();
  } catch (const moeplan::Error&) {
  }
  return 0;
}
