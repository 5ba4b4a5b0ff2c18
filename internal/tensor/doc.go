// Package tensor is the numeric core of the inference engine: ggml's
// tensor element types with their exact block layouts, conversion to and
// from float32, and the dot-product and matrix kernels a forward pass
// runs on them.
//
// Layouts follow ggml byte for byte, because the weights arrive as GGUF
// files written by llama.cpp's tools and are used in place, memory-mapped.
//
// # Matching llama.cpp
//
// The engine's logits are checked against llama.cpp's CPU backend, so the
// arithmetic follows it. Before a product with quantized weights ggml
// quantizes the activations (VecDotType: Q8_0, Q8_1 or Q8_K); before a
// product with F16 or BF16 weights it rounds them to that type. Quantize
// reproduces those conversions bit for bit, as llama.cpp's x86 build
// (AVX2, FMA, F16C) computes them, including where its compiler fuses a
// multiply and an add. The integer sums inside a block are then exact, as
// in ggml; only the order of the float additions across blocks differs,
// which moves a result by about 1e-6 relative.
//
// # Kernels
//
// Each type has portable Go kernels. On amd64 with AVX2, FMA and F16C,
// assembly kernels replace them (kernels_amd64.go), and where the CPU
// also has AVX-512 (F, BW, VL, VNNI) faster ones replace some of those
// (kernels_avx512_amd64.go); the purego build tag forces the Go ones, and
// the environment variable AINATIVE_SIMD=avx2 (or none) keeps a run to
// the AVX2 (or portable) set. On arm64, NEON kernels replace them
// (kernels_arm64.go), using the dot-product instruction SDOT where the CPU
// has it and widening multiplies otherwise (AINATIVE_SIMD=neon forces
// those). The arm64 kernels of Q2_K, Q3_K, IQ4_NL, IQ4_XS, IQ3_S and
// IQ3_XXS return the portable kernels' results bit for bit
// (klow_arm64.h). Other architectures plug in the same way: a kernels_<arch>.go
// file whose archInit replaces entries of the ops table (kernels_asm.go
// holds what the assembly sets share; kernels_other.go is the fallback).
//
// MatMul is the workhorse. For one token (decoding) it streams each
// weight row once, rows split across the Pool's threads; decoding is
// bound by memory bandwidth. For several tokens (a prompt, or a decode
// step of several sequences) the kernels take four tokens at once (the
// amd64 ones also two weight rows for the signed 32-element block types,
// three for the float types, so that each activation load serves several
// rows), rows are taken in chunks that stay in L2 and tokens in chunks
// whose activations stay in cache, so weights come from memory once per
// token chunk.
//
// Dequantize, Quantize and Matrix.Validate return errors for bad input;
// VecDot and MatMul, which have no error to return, panic on programming
// errors (a type without kernels, wrong lengths). Validate a Matrix when
// loading a model and neither will.
package tensor
