// Quantization kernels against the scalar reference, on every ISA the host can run.
#include <cmath>
#include <limits>

#include "cpu/dispatch.h"
#include "kernels/quant/quant.h"
#include "tests/harness.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

// Lengths that hit every tail: around each vector width (8, 16, 32, 64) and some long ones.
std::vector<size_t> lengths() {
  std::vector<size_t> v;
  for (size_t n = 0; n <= 70; n++) v.push_back(n);
  for (size_t n : {127, 128, 129, 255, 256, 257, 1000, 4097}) v.push_back(n);
  for (int i = 0; i < 6; i++) v.push_back((size_t)rand_int(1, 20000));
  return v;
}

// Inputs that stress rounding and saturation: exact ties, NaN, infinities, -0, denormals, huge.
void fill_inputs(float* x, size_t n, float scale, int32_t zp) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            -0.0f,
                            0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::max(),
                            1e30f,
                            -1e30f};
  for (size_t i = 0; i < n; i++) {
    const int kind = (int)rand_int(0, 9);
    if (kind == 0) {
      x[i] = specials[rand_int(0, 9)];
    } else if (kind <= 3) {
      // exact ties k + 0.5 (in units of scale, when scale is a power of two)
      x[i] = ((float)rand_int(-300, 300) + 0.5f) * scale;
    } else {
      x[i] = rand_float(-300.0f, 300.0f) * scale + (float)zp * 0.0f;
    }
  }
}

struct Case {
  bool is_signed;
  float scale;
  int32_t zp, qmin, qmax;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  const float scales[] = {1.0f, 0.5f, 0.0078125f, 0.0371f, 3.7e-5f, 123.25f, 1e-30f};
  for (float s : scales) {
    for (int32_t zp : {0, 1, 128, 255}) v.push_back({false, s, zp, 0, 255});
    for (int32_t zp : {-128, -1, 0, 127}) v.push_back({true, s, zp, -128, 127});
  }
  v.push_back({false, 0.02f, 64, 0, 127});   // reduce_range uint8
  v.push_back({true, 0.02f, 0, -64, 63});    // reduce_range int8
  v.push_back({false, 0.02f, 10, 5, 250});   // arbitrary clamp
  return v;
}

template <typename T, typename Fn>
void check_quantize(Fn fast, Fn ref, const Case& c) {
  for (size_t n : lengths()) {
    for (size_t misalign : {0, 1, 3}) {
      Guarded<float> x(n, misalign * 4);
      fill_inputs(x.data(), n, c.scale, c.zp);
      Guarded<T> y_ref(n), y(n, misalign);
      ref(x.data(), y_ref.data(), n, c.scale, c.zp, c.qmin, c.qmax);
      fast(x.data(), y.data(), n, c.scale, c.zp, c.qmin, c.qmax);
      size_t bad = n;
      for (size_t i = 0; i < n && bad == n; i++)
        if (y[i] != y_ref[i]) bad = i;
      LOWBIT_CHECK(bad == n, "n=" << n << " scale=" << c.scale << " zp=" << c.zp << " i=" << bad
                                  << " x=" << (bad < n ? x[bad] : 0.0f) << " got="
                                  << (bad < n ? (int)y[bad] : 0) << " want=" << (bad < n ? (int)y_ref[bad] : 0));
      LOWBIT_CHECK(y.guards_intact(), "write outside the output, n=" << n);
      for (size_t i = 0; i < n; i++) {
        if ((int32_t)y[i] < c.qmin || (int32_t)y[i] > c.qmax) {
          LOWBIT_CHECK(false, "value outside [qmin,qmax] at " << i);
          break;
        }
      }
    }
  }
}

template <typename T, typename Fn>
void check_dequantize(Fn fast, Fn ref, float scale, int32_t zp) {
  for (size_t n : lengths()) {
    Guarded<T> q(n, 1);
    for (size_t i = 0; i < n; i++) q[i] = (T)rand_int(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    Guarded<float> y_ref(n), y(n, 4);
    ref(q.data(), y_ref.data(), n, scale, zp);
    fast(q.data(), y.data(), n, scale, zp);
    bool same = true;
    for (size_t i = 0; i < n; i++) same = same && same_bits(y[i], y_ref[i]);
    LOWBIT_CHECK(same, "n=" << n << " scale=" << scale << " zp=" << zp);
    LOWBIT_CHECK(y.guards_intact(), "write outside the output, n=" << n);
  }
}

}  // namespace

LOWBIT_TEST(quantize_matches_reference) {
  for_each_isa([](Isa isa) {
    const QuantKernels& k = quant_kernels(isa);
    for (const Case& c : cases()) {
      if (c.is_signed)
        check_quantize<int8_t>(k.quantize_s8, quant::quantize_f32_s8__ref, c);
      else
        check_quantize<uint8_t>(k.quantize_u8, quant::quantize_f32_u8__ref, c);
    }
  });
}

LOWBIT_TEST(dequantize_matches_reference) {
  for_each_isa([](Isa isa) {
    const QuantKernels& k = quant_kernels(isa);
    for (float s : {1.0f, 0.0371f, 3.7e-5f, 1e30f}) {
      for (int32_t zp : {0, 128, 255}) check_dequantize<uint8_t>(k.dequantize_u8, quant::dequantize_u8_f32__ref, s, zp);
      for (int32_t zp : {-128, 0, 127}) check_dequantize<int8_t>(k.dequantize_s8, quant::dequantize_s8_f32__ref, s, zp);
    }
  });
}

// The reference itself, against the formula written out by hand: ties go to even, NaN to the zero
// point, saturation at qmin/qmax.
LOWBIT_TEST(reference_rounding_and_saturation) {
  const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 1000.0f, -1000.0f,
                     std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()};
  uint8_t y[10];
  quant::quantize_f32_u8__ref(x, y, 10, 1.0f, 100, 0, 255);
  const uint8_t want[] = {100, 102, 102, 100, 98, 98, 255, 0, 100, 255};
  for (int i = 0; i < 10; i++) LOWBIT_CHECK(y[i] == want[i], "i=" << i << " got " << (int)y[i] << " want " << (int)want[i]);
  int8_t s[10];
  quant::quantize_f32_s8__ref(x, s, 10, 1.0f, 0, -64, 63);
  const int8_t want_s[] = {0, 2, 2, 0, -2, -2, 63, -64, 0, 63};
  for (int i = 0; i < 10; i++) LOWBIT_CHECK(s[i] == want_s[i], "i=" << i << " got " << (int)s[i]);
}

LOWBIT_TEST(round_trip_within_half_a_step) {
  for_each_isa([](Isa isa) {
    const QuantKernels& k = quant_kernels(isa);
    const size_t n = 3001;
    std::vector<float> x(n), back(n);
    std::vector<uint8_t> q(n);
    for (size_t i = 0; i < n; i++) x[i] = rand_float(-3.0f, 5.0f);
    const quant::QuantParams p = quant::choose_quant_params(-3.0f, 5.0f, false, false, false);
    k.quantize_u8(x.data(), q.data(), n, p.scale, p.zero_point, p.qmin, p.qmax);
    k.dequantize_u8(q.data(), back.data(), n, p.scale, p.zero_point);
    float worst = 0;
    for (size_t i = 0; i < n; i++) worst = std::max(worst, std::fabs(back[i] - x[i]));
    LOWBIT_CHECK(worst <= p.scale * 0.5f * 1.0001f, "worst error " << worst << " scale " << p.scale);
  });
}

LOWBIT_TEST(choose_quant_params_contract) {
  const float ranges[][2] = {{-1.0f, 1.0f}, {0.0f, 6.0f}, {-6.0f, 0.0f}, {2.0f, 3.0f}, {-3.0f, -2.0f},
                             {0.0f, 0.0f},  {-1e-30f, 1e-30f}, {-1e30f, 1e30f}, {-0.3f, 11.7f}};
  for (auto& r : ranges) {
    for (int sgn = 0; sgn < 2; sgn++) {
      for (int sym = 0; sym < 2; sym++) {
        for (int red = 0; red < 2; red++) {
          const quant::QuantParams p = quant::choose_quant_params(r[0], r[1], sgn, sym, red);
          LOWBIT_CHECK(std::isfinite(p.scale) && p.scale > 0 && std::isfinite(1.0f / p.scale), "scale " << p.scale);
          LOWBIT_CHECK(p.zero_point >= p.qmin && p.zero_point <= p.qmax, "zero point " << p.zero_point);
          LOWBIT_CHECK(p.qmax - p.qmin == (red ? 127 : 255), "range");
          if (sym) LOWBIT_CHECK(p.zero_point == (sgn ? 0 : (red ? 64 : 128)), "symmetric zero point " << p.zero_point);
          // the observed range is representable up to rounding: min and max quantize inside the range
          const double lo = (p.qmin - p.zero_point) * (double)p.scale, hi = (p.qmax - p.zero_point) * (double)p.scale;
          LOWBIT_CHECK(lo <= std::min(r[0], 0.0f) + p.scale * 0.51 && hi >= std::max(r[1], 0.0f) - p.scale * 0.51,
                       "range [" << r[0] << "," << r[1] << "] not covered: [" << lo << "," << hi << "]");
        }
      }
    }
  }
  const quant::QuantParams p = quant::choose_quant_params(0.0f, 2.55f, false, false, false);
  LOWBIT_CHECK(p.zero_point == 0 && std::fabs(p.scale - 0.01f) < 1e-8f, "0..2.55 -> scale 0.01 zp 0");
}

LOWBIT_TEST(minmax_matches_reference) {
  for_each_isa([](Isa isa) {
    const QuantKernels& k = quant_kernels(isa);
    for (size_t n : lengths()) {
      for (int variant = 0; variant < 3; variant++) {
        Guarded<float> x(n, 4 * (variant % 2));
        for (size_t i = 0; i < n; i++) {
          x[i] = rand_float(-50.0f, 30.0f);
          if (variant == 1 && rand_int(0, 3) == 0) x[i] = std::numeric_limits<float>::quiet_NaN();
          if (variant == 2) x[i] = (i % 2) ? -0.0f : std::numeric_limits<float>::quiet_NaN();
        }
        float mn, mx, rmn, rmx;
        k.minmax(x.data(), n, &mn, &mx);
        quant::minmax_f32__ref(x.data(), n, &rmn, &rmx);
        LOWBIT_CHECK(same_bits(mn, rmn) && same_bits(mx, rmx),
                     "n=" << n << " variant=" << variant << " got [" << mn << "," << mx << "] want [" << rmn << "," << rmx << "]");
      }
    }
    float mn = 1, mx = 1;
    k.minmax(nullptr, 0, &mn, &mx);
    LOWBIT_CHECK(mn == 0 && mx == 0, "empty -> (0, 0)");
    const float x[] = {-0.0f, -0.0f};
    k.minmax(x, 2, &mn, &mx);
    LOWBIT_CHECK(!std::signbit(mn) && !std::signbit(mx), "-0 reported as +0");
  });
}
