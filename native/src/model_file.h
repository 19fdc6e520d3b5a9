// Reader for CTranslate2's model.bin (binary format version 6), the layout that the
// faster-whisper family of Whisper conversions ships. Every variable is checked against the
// file size so a truncated or corrupt file fails with the name of what is wrong.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace chorus {

enum class DType : uint8_t { F32 = 0, I8 = 1, I16 = 2, I32 = 3, F16 = 4, BF16 = 5 };

struct Variable {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  const uint8_t* data = nullptr;  // points into the owning ModelFile's buffer
  size_t nbytes = 0;

  int64_t elements() const;
  // Converts to fp32 whatever the stored precision (int8 needs its scale, which CTranslate2
  // stores as a separate "<name>_scale" variable; callers pass it when present).
  std::vector<float> to_f32(const Variable* scale = nullptr) const;
  int64_t scalar_int() const;
};

class ModelFile {
 public:
  ModelFile() = default;
  ModelFile(ModelFile&&) = default;
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  // Reads model.bin, or model.bin.part1, model.bin.part2, ... concatenated when the model was
  // split to fit a package size limit.
  static ModelFile read(const std::string& dir);

  const std::string& spec_name() const { return spec_name_; }
  uint32_t revision() const { return revision_; }
  bool has(const std::string& name) const;
  const Variable& get(const std::string& name) const;
  const Variable* find(const std::string& name) const;
  std::vector<std::string> names() const;
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  std::string spec_name_;
  uint32_t revision_ = 0;
  uint64_t file_bytes_ = 0;
  std::vector<uint8_t> buffer_;  // the whole file; variables are views into it
  std::map<std::string, Variable> vars_;
  std::map<std::string, std::string> aliases_;
};

}  // namespace chorus
