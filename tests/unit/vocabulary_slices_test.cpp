// A vocabulary much larger than a block is split into row slices: each about a block, covering every
// row once, in order, with sizes and FLOPs that add up to the whole; tied or small ones stay whole.
#include <gtest/gtest.h>

#include "model/model_inspector.hpp"
#include "model/vocabulary_slices.hpp"

using namespace vramguard;

namespace {

TensorInfo matrix(const std::string& name, std::int64_t rows, std::int64_t columns) {
  TensorInfo t;
  t.name = name;
  t.dtype = DType::BF16;
  t.shape = {rows, columns};
  t.elements = static_cast<std::uint64_t>(rows * columns);
  t.stored_bytes = t.bytes = t.elements * 2;
  return t;
}

Unit unit_of(const std::string& name, UnitKind kind, std::vector<TensorInfo> tensors) {
  Unit u;
  u.name = name;
  u.kind = kind;
  u.tensors = std::move(tensors);
  for (const auto& t : u.tensors)
    u.bytes += t.bytes, u.parameters += t.elements, u.flops_per_token += 2.0 * static_cast<double>(t.elements);
  return u;
}

// Blocks of 100 rows × 64 columns; a vocabulary of `vocabulary` rows.
Component model(std::int64_t vocabulary) {
  Component c;
  c.name = "model";
  c.units.push_back(
      unit_of("model.embed_tokens", UnitKind::embedding, {matrix("model.embed_tokens.weight", vocabulary, 64)}));
  for (int i = 0; i < 2; ++i)
    c.units.push_back(unit_of("model.layers." + std::to_string(i), UnitKind::block,
                              {matrix("model.layers." + std::to_string(i) + ".w", 100, 64)}));
  c.units.push_back(unit_of("lm_head", UnitKind::head, {matrix("lm_head.weight", vocabulary, 64)}));
  return c;
}

}  // namespace

TEST(VocabularySlices, AVocabularyOverTwiceABlockBecomesBlockSizedSlicesInOrder) {
  Component c = model(1000);  // 10 blocks' worth
  const std::uint64_t whole_bytes = c.bytes();
  slice_vocabulary_units(c, std::nullopt);
  std::vector<const Unit*> head;
  for (const auto& u : c.units)
    if (u.slice_of == "lm_head") head.push_back(&u);
  ASSERT_EQ(head.size(), 10u);
  EXPECT_EQ(head.front()->name, "lm_head[0:100]");
  std::int64_t next_row = 0;
  for (const Unit* slice : head) {
    EXPECT_EQ(slice->kind, UnitKind::head);
    EXPECT_LE(slice->bytes, 100u * 64 * 2);
    EXPECT_EQ(slice->tensors.at(0).name, "lm_head.weight");
    EXPECT_EQ(slice->tensors.at(0).first_row, next_row);
    next_row += slice->tensors.at(0).shape.at(0);
  }
  EXPECT_EQ(next_row, 1000);
  EXPECT_EQ(c.bytes(), whole_bytes);
  EXPECT_EQ(c.tensor_count(), 4u) << "slices of one stored tensor count it once";
  // Forward order holds: the embedding's slices first, the head's last.
  EXPECT_EQ(c.units.front().slice_of, "model.embed_tokens");
  EXPECT_EQ(c.units.back().slice_of, "lm_head");
}

TEST(VocabularySlices, SmallTiedOrExplicitlyKeptVocabulariesStayWhole) {
  Component small = model(150);  // 1.5 blocks: not worth slicing
  slice_vocabulary_units(small, std::nullopt);
  EXPECT_EQ(small.units.size(), 4u);

  Component tied = model(1000);
  tied.units.front().tie_group = tied.units.back().tie_group = "model.embed_tokens.weight";
  slice_vocabulary_units(tied, std::nullopt);
  EXPECT_EQ(tied.units.size(), 4u);

  Component kept = model(1000);
  slice_vocabulary_units(kept, 0);
  EXPECT_EQ(kept.units.size(), 4u);
}

TEST(VocabularySlices, AnExplicitSizeSlicesAnyVocabularyOverIt) {
  Component c = model(150);
  slice_vocabulary_units(c, 64ULL * 2 * 50);  // 50 rows each
  std::size_t head = 0;
  for (const auto& u : c.units) head += u.slice_of == "lm_head" ? 1u : 0u;
  EXPECT_EQ(head, 3u);
}

TEST(VocabularySlices, ASliceIsReadFromItsOwnRowsOfTheStoredTensor) {
  InspectedComponent inspected;
  inspected.locations["lm_head.weight"] = TensorLocation{0, 4096, 1000 * 64 * 2};
  TensorInfo slice = matrix("lm_head.weight", 100, 64);
  slice.first_row = 300;
  const TensorLocation at = location_of(inspected, slice);
  EXPECT_EQ(at.offset, 4096u + 300u * 64 * 2);
  EXPECT_EQ(at.bytes, 100u * 64 * 2);
}
