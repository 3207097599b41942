#ifndef SCALPEL_ACTIVATIONS_H
#define SCALPEL_ACTIVATIONS_H

/// The runtime's element-wise activations and their derivatives over contiguous floats, in C
/// so the compiler vectorises them whole (Swift's SIMD types left parts of them scalar).
/// Each is exactly the Swift formula it replaced, operation for operation, so results are
/// bit-identical: exp by Cephes' expf polynomial (within 2 ulp), erf by Abramowitz and Stegun
/// 7.1.26 (within 1.5e-7).

/// x · Φ(x) into out (erf GELU); out is x itself or does not overlap it.
void scalpel_gelu(const float *x, float *out, long count);
/// dy · (Φ(x) + x · φ(x)), in place over dy.
void scalpel_gelu_backward(const float *x, float *dy, long count);
/// x · σ(1.702 x) into out (CLIP's QuickGELU); out is x itself or does not overlap it.
void scalpel_quick_gelu(const float *x, float *out, long count);
/// dy · (σ + 1.702 x σ (1 − σ)), σ = σ(1.702 x), in place over dy.
void scalpel_quick_gelu_backward(const float *x, float *dy, long count);
/// eˣ of each element, into out (for tests).
void scalpel_exp(const float *x, float *out, long count);
/// Φ(x) and φ(x) of each element (for tests).
void scalpel_normal(const float *x, float *cdf, float *pdf, long count);

#endif
