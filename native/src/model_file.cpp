#include "model_file.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>

namespace chorus {
namespace {

constexpr uint32_t kSupportedBinaryVersion = 6;

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  in.seekg(0, std::ios::end);
  std::vector<uint8_t> data(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!in) throw std::runtime_error("cannot read " + path);
  return data;
}

// Bounds-checked cursor: every read names the file and offset when it runs off the end.
class Cursor {
 public:
  Cursor(const std::vector<uint8_t>& data, std::string what) : data_(data), what_(std::move(what)) {}

  template <typename T>
  T read() {
    T value;
    need(sizeof(T), "a number");
    std::memcpy(&value, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string read_string() {
    const auto length = read<uint16_t>();
    need(length, "a string");
    if (length == 0) return {};
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), length - 1);
    pos_ += length;
    return s;
  }
  const uint8_t* skip_bytes(size_t n, const std::string& name) {
    need(n, "the data of " + name);
    const uint8_t* at = data_.data() + pos_;
    pos_ += n;
    return at;
  }
  size_t pos() const { return pos_; }
  size_t size() const { return data_.size(); }

 private:
  void need(size_t n, const std::string& item) const {
    if (pos_ + n > data_.size()) {
      throw std::runtime_error(what_ + " is truncated or corrupt: " + item + " at byte " +
                               std::to_string(pos_) + " runs past the end (" +
                               std::to_string(data_.size()) + " bytes)");
    }
  }
  const std::vector<uint8_t>& data_;
  size_t pos_ = 0;
  std::string what_;
};

size_t dtype_size(DType t, const std::string& name) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::I16: case DType::F16: case DType::BF16: return 2;
    case DType::I8: return 1;
  }
  throw std::runtime_error("variable " + name + " has an unknown data type " +
                           std::to_string(static_cast<int>(t)));
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) { mantissa <<= 1; --exponent; }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

int64_t Variable::elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<float> Variable::to_f32(const Variable* scale) const {
  const auto n = static_cast<size_t>(elements());
  std::vector<float> out(n);
  switch (dtype) {
    case DType::F32: std::memcpy(out.data(), data, n * 4); break;
    case DType::F16: {
      const auto* src = reinterpret_cast<const uint16_t*>(data);
      for (size_t i = 0; i < n; ++i) out[i] = half_to_float(src[i]);
      break;
    }
    case DType::BF16: {
      const auto* src = reinterpret_cast<const uint16_t*>(data);
      for (size_t i = 0; i < n; ++i) {
        const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      break;
    }
    case DType::I8: {
      if (!scale) throw std::runtime_error("int8 variable " + name + " has no scale");
      const auto scales = scale->to_f32();
      const auto* src = reinterpret_cast<const int8_t*>(data);
      const size_t rows = scales.size();
      const size_t cols = rows ? n / rows : 0;
      for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) out[r * cols + c] = src[r * cols + c] / scales[r];
      break;
    }
    default:
      throw std::runtime_error("variable " + name + " is not a floating-point tensor");
  }
  for (float v : out) {
    if (!std::isfinite(v)) throw std::runtime_error("variable " + name + " holds non-finite values (corrupt model)");
  }
  return out;
}

int64_t Variable::scalar_int() const {
  if (nbytes == 0) throw std::runtime_error("variable " + name + " is empty");
  switch (dtype) {
    case DType::I8: return static_cast<int8_t>(data[0]);
    case DType::I16: { int16_t v; std::memcpy(&v, data, 2); return v; }
    case DType::I32: { int32_t v; std::memcpy(&v, data, 4); return v; }
    default: throw std::runtime_error("variable " + name + " is not an integer scalar");
  }
}

ModelFile ModelFile::read(const std::string& dir) {
  std::vector<uint8_t> data;
  std::string what = dir + "/model.bin";
  if (file_exists(what)) {
    data = read_all(what);
  } else if (file_exists(dir + "/model.bin.part1")) {
    what = dir + "/model.bin.part*";
    for (int part = 1; file_exists(dir + "/model.bin.part" + std::to_string(part)); ++part) {
      auto chunk = read_all(dir + "/model.bin.part" + std::to_string(part));
      data.insert(data.end(), chunk.begin(), chunk.end());
    }
  } else {
    throw std::runtime_error("no model.bin in " + dir +
                             " (expected a CTranslate2 Whisper model directory; fetch one with `npm run model -- tiny.en`)");
  }

  ModelFile model;
  model.buffer_ = std::move(data);
  model.file_bytes_ = model.buffer_.size();
  Cursor cur(model.buffer_, what);
  const auto version = cur.read<uint32_t>();
  if (version != kSupportedBinaryVersion) {
    throw std::runtime_error(what + " has binary version " + std::to_string(version) +
                             ", only version " + std::to_string(kSupportedBinaryVersion) +
                             " (CTranslate2 >= 3) is supported");
  }
  model.spec_name_ = cur.read_string();
  model.revision_ = cur.read<uint32_t>();
  const auto count = cur.read<uint32_t>();
  if (count > 100000) throw std::runtime_error(what + " is corrupt: implausible variable count");
  for (uint32_t i = 0; i < count; ++i) {
    Variable v;
    v.name = cur.read_string();
    const auto rank = cur.read<uint8_t>();
    for (uint8_t d = 0; d < rank; ++d) v.shape.push_back(cur.read<uint32_t>());
    v.dtype = static_cast<DType>(cur.read<uint8_t>());
    const auto nbytes = cur.read<uint32_t>();
    const uint64_t expected = static_cast<uint64_t>(v.elements()) * dtype_size(v.dtype, v.name);
    if (nbytes != expected) {
      throw std::runtime_error(what + " is corrupt: variable " + v.name + " declares " +
                               std::to_string(nbytes) + " bytes but its shape needs " +
                               std::to_string(expected));
    }
    v.data = cur.skip_bytes(nbytes, v.name);
    v.nbytes = nbytes;
    model.vars_.emplace(v.name, std::move(v));
  }
  const auto alias_count = cur.read<uint32_t>();
  for (uint32_t i = 0; i < alias_count; ++i) {
    auto alias = cur.read_string();
    auto target = cur.read_string();
    model.aliases_.emplace(std::move(alias), std::move(target));
  }
  if (cur.pos() != cur.size()) {
    throw std::runtime_error(what + " is corrupt: " + std::to_string(cur.size() - cur.pos()) +
                             " unexpected bytes after the last variable");
  }
  return model;
}

const Variable* ModelFile::find(const std::string& name) const {
  auto it = vars_.find(name);
  if (it != vars_.end()) return &it->second;
  auto alias = aliases_.find(name);
  if (alias != aliases_.end()) return find(alias->second);
  return nullptr;
}

bool ModelFile::has(const std::string& name) const { return find(name) != nullptr; }

const Variable& ModelFile::get(const std::string& name) const {
  const auto* v = find(name);
  if (!v) throw std::runtime_error("model is missing variable " + name + " (not a Whisper model?)");
  return *v;
}

std::vector<std::string> ModelFile::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : vars_) out.push_back(name);
  return out;
}

}  // namespace chorus
