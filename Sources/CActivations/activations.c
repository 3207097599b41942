#include "activations.h"

#include <stdint.h>
#include <string.h>

// Bit-identical to the Swift formulas they replace: no fused multiply-adds.
#pragma STDC FP_CONTRACT OFF

// Each exported loop is compiled twice, for AVX2 (eight lanes) and for the x86-64 baseline
// (four), and the loader picks the one the CPU runs. Without contraction every lane performs
// the same IEEE operations in the same order, so both clones give the same bits; AVX2 takes
// GELU and its derivative in half the time.
#if defined(__x86_64__) && defined(__clang__)
#define SCALPEL_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SCALPEL_VECTOR_CLONES
#endif

/// eˣ: x = k·ln 2 + r, eʳ by a degree-6 polynomial, 2ᵏ through the exponent bits. Rounding
/// by the 1.5·2²³ trick: adding it leaves round(x·log₂e) in the low mantissa bits, so k is had
/// as a float and as an integer without a conversion.
static inline float vexp(float x) {
    float clamped = x < -87.3f ? -87.3f : x;
    clamped = clamped > 88.7f ? 88.7f : clamped;
    const float magic = 12582912.0f;
    float shifted = clamped * 1.44269504f + magic;
    float k = shifted - magic;
    float r = clamped - k * 0.693359375f + k * 2.1219444e-4f;
    float p = 1.98756915e-4f;
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.3334519e-3f;
    p = p * r + 4.16657959e-2f;
    p = p * r + 1.66666655e-1f;
    p = p * r + 5.00000012e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t integer;
    memcpy(&integer, &shifted, sizeof integer);
    int32_t exponent = (int32_t)((uint32_t)(integer - 0x4B400000 + 127) << 23);
    float scale;
    memcpy(&scale, &exponent, sizeof scale);
    return y * scale;
}

/// Φ(x), the standard normal CDF, and φ(x), its density: e^(−x²/2) shared by both.
static inline void vnormal(float x, float *cdf, float *pdf) {
    float a = (x < 0 ? -x : x) * 0.70710677f;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float polynomial = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float gaussian = vexp(-a * a);
    float erf = 1.0f - polynomial * gaussian;
    float signed_erf = x < 0 ? -erf : erf;
    *cdf = 0.5f * (1.0f + signed_erf);
    *pdf = gaussian * 0.39894228f;
}

static inline float gelu(float x) {
    float cdf, pdf;
    vnormal(x, &cdf, &pdf);
    return x * cdf;
}

// out[i] = f(x[i]) where out is x or does not overlap it, as two loops so that neither needs
// a run-time overlap check (which in place would fail and send the loop to its scalar fallback).
#define MAP_INTO(f, x, out, count)                                                  \
    do {                                                                            \
        if ((x) == (out)) {                                                         \
            for (long i = 0; i < (count); i++) (out)[i] = f((out)[i]);              \
        } else {                                                                    \
            const float *restrict in_ = (x);                                        \
            float *restrict out_ = (out);                                           \
            for (long i = 0; i < (count); i++) out_[i] = f(in_[i]);                 \
        }                                                                           \
    } while (0)

SCALPEL_VECTOR_CLONES void scalpel_gelu(const float *x, float *out, long count) {
    MAP_INTO(gelu, x, out, count);
}

SCALPEL_VECTOR_CLONES void scalpel_gelu_backward(const float *x, float *dy, long count) {
    for (long i = 0; i < count; i++) {
        float cdf, pdf;
        vnormal(x[i], &cdf, &pdf);
        dy[i] = dy[i] * (cdf + x[i] * pdf);
    }
}

static inline float quick_gelu(float x) { return x / (1.0f + vexp(-1.702f * x)); }

SCALPEL_VECTOR_CLONES void scalpel_quick_gelu(const float *x, float *out, long count) {
    MAP_INTO(quick_gelu, x, out, count);
}

SCALPEL_VECTOR_CLONES void scalpel_quick_gelu_backward(const float *x, float *dy, long count) {
    for (long i = 0; i < count; i++) {
        float v = x[i];
        float s = 1.0f / (1.0f + vexp(-1.702f * v));
        dy[i] = dy[i] * (s + 1.702f * v * s * (1.0f - s));
    }
}

SCALPEL_VECTOR_CLONES void scalpel_exp(const float *x, float *out, long count) {
    for (long i = 0; i < count; i++) out[i] = vexp(x[i]);
}

SCALPEL_VECTOR_CLONES void scalpel_normal(const float *x, float *cdf, float *pdf, long count) {
    for (long i = 0; i < count; i++) vnormal(x[i], &cdf[i], &pdf[i]);
}
