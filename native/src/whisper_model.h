// Whisper weights resident on the device, converted and packed once at load.
#pragma once

#include <string>
#include <vector>

#include "chorus/kernels.h"

namespace chorus {

struct WhisperDims {
  int n_mels = 80;
  int n_audio_ctx = 1500;  // encoder frames in a full 30 s window
  int n_state = 384;
  int n_head = 6;
  int n_audio_layer = 4;
  int n_text_layer = 4;
  int n_text_ctx = 448;
  int n_vocab = 51864;
  int head_dim() const { return n_state / n_head; }
};

// One linear layer: weight stored at the model's precision plus optional bias.
struct Linear {
  kernels::Weights w;
  std::vector<float> b;  // empty when the layer has no bias
  const float* bias() const { return b.empty() ? nullptr : b.data(); }
  int out() const { return w.n(); }
  int in() const { return w.k(); }
};

struct Norm {
  std::vector<float> gamma, beta;
};

struct EncoderLayer {
  Norm attn_ln;
  Linear qkv;  // fused [3 * n_state] outputs: q | k | v
  Linear attn_out;
  Norm mlp_ln;
  Linear fc1, fc2;
};

struct DecoderLayer {
  Norm self_ln;
  Linear self_qkv;
  Linear self_out;
  Norm cross_ln;
  Linear cross_q;
  Linear cross_kv;  // applied once per window to the encoder output
  Linear cross_out;
  Norm mlp_ln;
  Linear fc1, fc2;
};

// How the model's weights are stored, by part, chosen at load by name:
//  - fp32, bf16: every linear layer and the token embedding;
//  - int8: the linear layers in int8, the token embedding (the output projection, which ranks
//    51,864 tokens by small logit gaps) in bf16;
//  - int8-encoder: the encoder's linear layers in int8, the decoder as bf16. A decoder step was
//    bound by the bf16 output projection either way (int8 layers there saved 4 %), and int8
//    decoder layers are what made int8 write words on a music clip of the evaluation.
// A bf16 output projection is also ranked by an int8 copy (CpuBackend, kernels::gemm_ranked).
struct ModelPrecision {
  kernels::Precision encoder = kernels::Precision::Fp32;
  kernels::Precision decoder = kernels::Precision::Fp32;
  kernels::Precision vocabulary = kernels::Precision::Fp32;
  std::string name = "fp32";
};
bool parse_model_precision(const std::string& name, ModelPrecision* out);

struct WhisperModel {
  WhisperDims dims;
  std::string spec;
  ModelPrecision precision;
  // conv stem as im2col products: weight [out][in * 3], always fp32 (its input is the raw
  // log-mel and it is a small share of the encoder's work)
  Linear conv1, conv2;
  std::vector<float> audio_pos;  // [n_audio_ctx][n_state]
  std::vector<EncoderLayer> encoder;
  Norm encoder_ln;

  // The token embedding, stored as the tied output projection; embedding lookups gather (and
  // dequantise) a column of it so the largest matrix is held once.
  kernels::Weights token_embedding;
  std::vector<float> text_pos;         // [n_text_ctx][n_state]
  std::vector<DecoderLayer> decoder;
  Norm decoder_ln;
  size_t weight_bytes = 0;

  static WhisperModel load(const std::string& dir, const ModelPrecision& precision);
  // Copies the embedding of token into out[n_state].
  void embed(int token, float* out) const;
};

}  // namespace chorus
