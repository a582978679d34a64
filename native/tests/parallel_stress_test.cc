// The thread pool and the kernels under concurrency: the pattern of Node worker_threads (and async
// calls) that each call the addon with threads > 1 at the same time. Meant above all for
// ThreadSanitizer (scripts/test-sanitize.sh runs `lowbit_tests parallel_` under TSan), but it also
// checks results, so it is an ordinary test too.
//
// - parallel_stress_nested_overlapping: several std::threads run parallel_for with different
//   thread counts at once, some tasks call parallel_for again (nested), and every task writes a
//   plain (non-atomic) slot that the caller reads after the call: the pool must make those writes
//   visible (happens-before) and run every task exactly once.
// - parallel_stress_kernels: several callers each run GEMM, embedding bags, fp32 sparse and dense
//   convolution and int8 convolution through the dispatch tables, split across the pool as the
//   binding splits them, each caller at its own ISA level, on shared weights objects whose lazily
//   built parts (conv bindings, the channel-lane packing) are first used by all callers at once.
//   Every output is compared bit for bit with the same split run serially on one thread.
//
// LOWBIT_TEST_SCALE (a percentage, default 100) scales the repetition counts (the sanitizer script
// lowers it under TSan, where everything runs ~10x slower); the shapes and cases stay the same.
// Worker threads never call LOWBIT_CHECK (the harness's counters are not thread-safe): they count
// mismatches into atomics that the test checks on the main thread.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/parallel.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/int8.h"
#include "kernels/embedding/embedding.h"
#include "kernels/gemm/gemm.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

int scaled(int n) {
  const char* s = std::getenv("LOWBIT_TEST_SCALE");
  const long pct = s && *s ? std::strtol(s, nullptr, 10) : 100;
  const long v = (long)n * (pct > 0 ? pct : 100) / 100;
  return v < 1 ? 1 : (int)v;
}

// Starts all callers at once (so first uses really overlap), joins them.
void run_callers(int callers, const std::function<void(int)>& body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < callers; c++) {
    ts.emplace_back([&, c] {
      ready.fetch_add(1);
      while (ready.load() < callers) std::this_thread::yield();
      body(c);
    });
  }
  for (auto& t : ts) t.join();
}

}  // namespace

LOWBIT_TEST(parallel_stress_nested_overlapping) {
  const int callers = 6, reps = scaled(40);
  std::atomic<long> bad_slots{0}, bad_inner{0};
  std::atomic<long> tasks_run{0}, tasks_elsewhere{0};
  run_callers(callers, [&](int c) {
    const std::thread::id me = std::this_thread::get_id();
    for (int rep = 0; rep < reps; rep++) {
      const int threads = 2 + (c + rep) % 7;            // 2..8, different per caller and call
      const size_t tasks = 1 + (size_t)((c * 31 + rep * 17) % 97);
      std::vector<uint64_t> slot(tasks, 0);             // plain memory: written by pool threads
      parallel_for(tasks, threads, [&](size_t i) {
        uint64_t v = i * 2654435761u + (uint64_t)c;
        if (i % 5 == 0) {
          // nested: a pool thread (or the caller) becomes a caller itself
          const size_t inner = 1 + i % 13;
          std::vector<uint32_t> sub(inner, 0);
          parallel_for(inner, 1 + (int)(i % 4), [&](size_t j) { sub[j] = (uint32_t)(j + 1); });
          uint64_t s = 0;
          for (uint32_t x : sub) s += x;
          if (s != inner * (inner + 1) / 2) bad_inner.fetch_add(1);
          v += s;
        }
        slot[i] = v;
        tasks_run.fetch_add(1, std::memory_order_relaxed);
        if (std::this_thread::get_id() != me) tasks_elsewhere.fetch_add(1, std::memory_order_relaxed);
      });
      for (size_t i = 0; i < tasks; i++) {
        uint64_t want = i * 2654435761u + (uint64_t)c;
        if (i % 5 == 0) want += (1 + i % 13) * (2 + i % 13) / 2;
        if (slot[i] != want) bad_slots.fetch_add(1);
      }
    }
  });
  long expected = 0;
  for (int c = 0; c < callers; c++)
    for (int rep = 0; rep < reps; rep++) expected += 1 + (c * 31 + rep * 17) % 97;
  LOWBIT_CHECK(bad_slots == 0 && bad_inner == 0, bad_slots.load() << " wrong slots, " << bad_inner.load() << " wrong nested sums");
  LOWBIT_CHECK(tasks_run == expected, "ran " << tasks_run.load() << " tasks of " << expected);
  // the workload really was concurrent: pool threads took part of the callers' tasks
  LOWBIT_CHECK(tasks_elsewhere > 0, "no task ran on a pool thread");
}

// The process-wide level changes (setIsa, LOWBIT_ISA in a worker) while other threads take their
// dispatch tables: every table they get is a complete one for a supported level.
LOWBIT_TEST(parallel_stress_isa_switch) {
  const Isa before = active_isa();
  const std::vector<Isa>& isas = supported_isas();
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0}, seen{0};
  std::thread toggler([&] {
    for (size_t i = 0; !stop.load(); i++) set_active_isa(isas[i % isas.size()]);
  });
  run_callers(3, [&](int) {
    for (int i = 0; i < scaled(20000); i++) {
      const Isa level = active_isa();
      const GemmKernels& g = gemm_kernels();
      const QuantKernels& q = quant_kernels();
      bad += !isa_supported(level) || g.gemm_u8s8 == nullptr || q.quantize_u8 == nullptr ||
             !isa_supported(g.isa) || !isa_supported(q.isa);
      seen++;
    }
  });
  stop = true;
  toggler.join();
  set_active_isa(before);
  LOWBIT_CHECK(bad == 0 && seen > 0, bad.load() << " bad tables of " << seen.load());
}

namespace {

// One caller's view of every op: shared read-only inputs, per-call outputs.
struct Ops {
  // GEMM
  size_t M = 37, N = 70, K = 150;
  std::vector<uint8_t> a;
  gemm::PackedB pb;
  std::vector<float> scale;
  std::vector<int32_t> bias;
  // embedding (q4 rows, mean pooling, weights)
  int64_t rows = 300, dim = 37, bags = 48;
  std::vector<uint8_t> table;
  std::vector<int64_t> idx, off;
  std::vector<float> psw;
  // fp32 conv (the weights objects are rebuilt per round so their caches start cold)
  conv::ConvGeometry geo;
  int n = 1, h = 12, w = 11;
  std::vector<float> cw, cin, cbias;
  // int8 conv
  conv::ConvGeometry qgeo;
  std::vector<int8_t> qw;
  std::vector<uint8_t> qx;
  std::vector<int32_t> qbias;

  Ops() {
    a.resize(M * K);
    for (auto& v : a) v = (uint8_t)rand_int(0, 255);
    std::vector<int8_t> b(K * N);
    for (auto& v : b) v = (int8_t)rand_int(-128, 127);
    const int32_t bzp = 3;
    pb = gemm::pack_b(b.data(), N, false, K, N, &bzp, false);
    scale.resize(N);
    bias.resize(N);
    for (auto& v : scale) v = rand_float(0.5f, 2.0f) * 1e-4f;
    for (auto& v : bias) v = (int32_t)rand_int(-5000, 5000);

    std::vector<float> x((size_t)(rows * dim));
    for (auto& v : x) v = rand_float(-2.0f, 2.0f);
    table.resize((size_t)(rows * embedding::row_bytes(embedding::Format::q4, dim)));
    embedding::quantize_table(embedding::Format::q4, x.data(), rows, dim, table.data());
    off.resize((size_t)bags);
    for (int64_t b2 = 0; b2 < bags; b2++) {
      off[(size_t)b2] = (int64_t)idx.size();
      const int64_t len = rand_int(0, 9);
      for (int64_t j = 0; j < len; j++) idx.push_back(rand_int(0, rows - 1));
    }
    psw.resize(idx.size());
    for (auto& v : psw) v = rand_float(-1.0f, 1.0f);

    geo.cin = 8, geo.cout = 13, geo.kh = geo.kw = 3, geo.pad_h = geo.pad_w = 1;
    cw.resize((size_t)geo.cout * geo.taps());
    for (auto& v : cw) v = rand_int(0, 2) == 0 ? rand_float(-1.0f, 1.0f) : 0.0f;
    cin.resize((size_t)n * geo.cin * h * w);
    for (auto& v : cin) v = rand_float(-1.0f, 1.0f);
    cbias.resize((size_t)geo.cout);
    for (auto& v : cbias) v = rand_float(-1.0f, 1.0f);

    qgeo.cin = 6, qgeo.cout = 11, qgeo.kh = qgeo.kw = 3, qgeo.pad_h = qgeo.pad_w = 1;
    qw.resize((size_t)qgeo.cout * qgeo.taps());
    for (auto& v : qw) v = (int8_t)rand_int(-128, 127);
    qx.resize((size_t)n * qgeo.cin * h * w);
    for (auto& v : qx) v = (uint8_t)rand_int(0, 255);
    qbias.resize((size_t)qgeo.cout);
    for (auto& v : qbias) v = (int32_t)rand_int(-1000, 1000);
  }

  // GEMM u8 output, split by rows like the binding.
  std::vector<uint8_t> gemm(Isa isa, int threads) const {
    std::vector<uint8_t> c(M * N);
    gemm::Output o;
    o.type = gemm::OutType::u8;
    o.c = c.data();
    o.ldc = N;
    o.bias_s32 = bias.data();
    o.scale = scale.data();
    o.scale_per_channel = true;
    o.out_zp = 7;
    const GemmKernels& k = gemm_kernels(isa);
    const size_t step = (M + threads - 1) / threads;
    parallel_for((M + step - 1) / step, threads, [&](size_t i) {
      k.gemm_u8s8(a.data(), K, 128, pb, o, gemm::Range{i * step, std::min(M, (i + 1) * step), 0, N}, gemm::Options{});
    });
    return c;
  }

  // Embedding bags, split by bag ranges.
  std::vector<float> embed(Isa isa, int threads) const {
    std::vector<float> out((size_t)(bags * dim));
    embedding::Request r;
    r.table.data = table.data();
    r.table.rows = rows;
    r.table.dim = dim;
    r.table.row_stride = embedding::row_bytes(embedding::Format::q4, dim);
    r.table.format = embedding::Format::q4;
    r.bags.indices = idx.data();
    r.bags.num_indices = (int64_t)idx.size();
    r.bags.offsets = off.data();
    r.bags.num_bags = bags;
    r.bags.weights = psw.data();
    r.bags.pooling = embedding::Pooling::mean;
    r.out = out.data();
    r.out_stride = dim;
    const EmbeddingKernels& k = embedding_kernels(isa);
    const int64_t per = 5;
    parallel_for((size_t)((bags + per - 1) / per), threads, [&](size_t i) {
      k.embedding_bag(r, (int64_t)i * per, std::min(bags, (int64_t)(i + 1) * per));
    });
    return out;
  }

  // fp32 conv, sparse and dense, split by output channels (split_by_nonzeros for sparse).
  std::vector<float> conv(Isa isa, int threads, const conv::SparseConvWeights& sw,
                          const conv::DenseConvWeights& dw, bool sparse) const {
    std::string err;
    const auto bd = sw.bind(n, h, w, &err);
    if (!bd) return {};
    const conv::ConvLayout& L = bd->layout;
    std::vector<float> padded(L.padded_floats), out(L.out_floats());
    conv::pad_input(L, cin.data(), padded.data());
    std::vector<int> bounds;
    conv::split_by_nonzeros(sw, threads, &bounds);
    const ConvKernels& k = conv_kernels(isa);
    parallel_for((size_t)threads, threads, [&](size_t t) {
      const int lo = bounds[t], hi = bounds[t + 1];
      if (lo >= hi) return;
      if (sparse)
        k.sparse_conv_f32(*bd, padded.data(), cbias.data(), true, out.data(), lo, hi);
      else
        k.dense_conv_f32(dw, L, padded.data(), cbias.data(), true, out.data(), lo, hi);
    });
    return out;
  }

  // int8 conv, int32 output: the plan's tasks on the pool (direct kernel where the level has one).
  std::vector<int32_t> qconv(Isa isa, int threads, const conv::QConvWeights& qws) const {
    conv::ConvLayout L;
    if (!conv::make_layout(qgeo, n, h, w, &L).empty()) return {};
    const conv::QConvDirectFn direct = qconv_kernels(isa).qconv_u8s8_direct;
    const bool use_direct = direct && !qws.direct.empty();
    const conv::QConvPlan plan = conv::plan_qconv(L, threads, use_direct);
    std::vector<int32_t> y(L.out_floats());
    conv::QConvOutput o;
    o.type = gemm::OutType::s32;
    o.y = y.data();
    o.bias_s32 = qbias.data();
    const gemm::GemmU8S8Fn g = gemm_kernels(isa).gemm_u8s8;
    parallel_for(plan.tasks, threads, [&](size_t t) {
      if (use_direct)
        direct(qws, L, plan, qx.data(), 9, o, gemm::Options{}, t);
      else
        conv::qconv_u8s8_task(g, qws, L, plan, qx.data(), 9, o, gemm::Options{}, t);
    });
    return y;
  }
};

template <typename T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && !a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

}  // namespace

LOWBIT_TEST(parallel_stress_kernels) {
  const Ops ops;
  const std::vector<Isa>& isas = supported_isas();
  const int kThreads[] = {2, 3, 4};
  const int32_t qzp = 0;
  const bool with_direct = qconv_kernels().qconv_u8s8_direct != nullptr;

  // References: every (level, thread count) run serially on this thread (the same split, so even
  // fp32 sums must match bit for bit).
  struct Ref {
    std::vector<uint8_t> gemm;
    std::vector<float> embed, sparse, dense;
    std::vector<int32_t> qconv;
  };
  std::vector<Ref> refs(isas.size() * 3);
  {
    const conv::SparseConvWeights sw = conv::SparseConvWeights::from_dense(ops.geo, ops.cw.data());
    const conv::DenseConvWeights dw = conv::DenseConvWeights::pack(ops.geo, ops.cw.data());
    const conv::QConvWeights qws = conv::QConvWeights::pack(ops.qgeo, ops.qw.data(), &qzp, false, with_direct);
    // GEMM, embedding and int8 conv outputs do not depend on the split (every element is computed
    // by one call, exactly or in a fixed order): one serial run per level serves all thread counts
    for (size_t i = 0; i < isas.size(); i++) {
      Ref& r = refs[i * 3];
      r.gemm = ops.gemm(isas[i], 1);  // threads = 1: the same tasks inline, in order
      r.embed = ops.embed(isas[i], 1);
      r.qconv = ops.qconv(isas[i], 1, qws);
      for (int t = 1; t < 3; t++) {
        refs[i * 3 + t].gemm = r.gemm;
        refs[i * 3 + t].embed = r.embed;
        refs[i * 3 + t].qconv = r.qconv;
      }
    }
    // conv: the split depends on the thread count, so run each split's ranges serially
    for (size_t i = 0; i < isas.size(); i++)
      for (int t = 0; t < 3; t++) {
        Ref& r = refs[i * 3 + t];
        const int th = kThreads[t];
        const auto bd = sw.bind(ops.n, ops.h, ops.w);
        const conv::ConvLayout& L = bd->layout;
        std::vector<float> padded(L.padded_floats);
        conv::pad_input(L, ops.cin.data(), padded.data());
        std::vector<int> bounds;
        conv::split_by_nonzeros(sw, th, &bounds);
        r.sparse.assign(L.out_floats(), 0.0f);
        r.dense.assign(L.out_floats(), 0.0f);
        const ConvKernels& k = conv_kernels(isas[i]);
        for (int p = 0; p < th; p++) {
          if (bounds[p] >= bounds[p + 1]) continue;
          k.sparse_conv_f32(*bd, padded.data(), ops.cbias.data(), true, r.sparse.data(), bounds[p], bounds[p + 1]);
          k.dense_conv_f32(dw, L, padded.data(), ops.cbias.data(), true, r.dense.data(), bounds[p], bounds[p + 1]);
        }
      }
  }

  const int callers = 4, rounds = scaled(3), reps = scaled(6);
  std::atomic<long> bad_gemm{0}, bad_embed{0}, bad_sparse{0}, bad_dense{0}, bad_qconv{0}, bad_bind{0}, calls{0};
  for (int round = 0; round < rounds; round++) {
    // fresh weights objects: the binding cache and the channel-lane packing are built by the
    // first caller that needs them, while the others race for them
    const conv::SparseConvWeights sw = conv::SparseConvWeights::from_dense(ops.geo, ops.cw.data());
    const conv::DenseConvWeights dw = conv::DenseConvWeights::pack(ops.geo, ops.cw.data());
    const conv::QConvWeights qws = conv::QConvWeights::pack(ops.qgeo, ops.qw.data(), &qzp, false, with_direct);
    std::vector<const conv::SparseBinding*> first_bind(callers, nullptr);
    run_callers(callers, [&](int c) {
      // the binding of this shape, first asked for by every caller at once: all get the same one
      first_bind[c] = sw.bind(ops.n, ops.h, ops.w).get();
      // the channel-lane packing, built once (call_once) by whichever caller comes first
      if (dw.lanes().empty()) bad_dense++;
      for (int rep = 0; rep < reps; rep++) {
        const size_t li = (size_t)(c + rep) % isas.size();
        const int ti = (c + 2 * rep) % 3;
        const Isa isa = isas[li];
        const int th = kThreads[ti];
        const Ref& r = refs[li * 3 + ti];
        // a different op order per caller, so different ops overlap
        for (int j = 0; j < 5; j++) {
          switch ((j + c) % 5) {
            case 0: bad_gemm += !same(ops.gemm(isa, th), r.gemm); break;
            case 1: bad_embed += !same(ops.embed(isa, th), r.embed); break;
            case 2: bad_sparse += !same(ops.conv(isa, th, sw, dw, true), r.sparse); break;
            case 3: bad_dense += !same(ops.conv(isa, th, sw, dw, false), r.dense); break;
            case 4: bad_qconv += !same(ops.qconv(isa, th, qws), r.qconv); break;
          }
          calls++;
        }
      }
    });
    const conv::SparseBinding* stored = sw.bind(ops.n, ops.h, ops.w).get();
    for (int c = 0; c < callers; c++) bad_bind += first_bind[c] != stored;
  }
  LOWBIT_CHECK(calls == (long)rounds * callers * reps * 5, "calls " << calls.load());
  LOWBIT_CHECK(bad_gemm == 0, bad_gemm.load() << " GEMM results differ from the serial run");
  LOWBIT_CHECK(bad_embed == 0, bad_embed.load() << " embedding results differ");
  LOWBIT_CHECK(bad_sparse == 0, bad_sparse.load() << " sparse conv results differ");
  LOWBIT_CHECK(bad_dense == 0, bad_dense.load() << " dense conv results differ");
  LOWBIT_CHECK(bad_qconv == 0, bad_qconv.load() << " int8 conv results differ");
  LOWBIT_CHECK(bad_bind == 0, bad_bind.load() << " concurrent first binds got a binding other than the cached one");
}
