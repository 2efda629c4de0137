#include <gtest/gtest.h>

#include "vramguard/byte_size.hpp"

using vramguard::format_bytes;
using vramguard::InvalidByteSize;
using vramguard::parse_byte_size;

TEST(ByteSize, DecimalUnitsArePowersOfAThousand) {
  EXPECT_EQ(parse_byte_size("12GB"), 12'000'000'000ULL);
  EXPECT_EQ(parse_byte_size("1KB"), 1'000ULL);
  EXPECT_EQ(parse_byte_size("3MB"), 3'000'000ULL);
  EXPECT_EQ(parse_byte_size("2TB"), 2'000'000'000'000ULL);
}

TEST(ByteSize, BinaryUnitsArePowersOf1024) {
  EXPECT_EQ(parse_byte_size("12GiB"), 12ULL << 30);
  EXPECT_EQ(parse_byte_size("1KiB"), 1024ULL);
  EXPECT_EQ(parse_byte_size("512MiB"), 512ULL << 20);
  EXPECT_EQ(parse_byte_size("1TiB"), 1ULL << 40);
}

TEST(ByteSize, PlainIntegersAreBytes) {
  EXPECT_EQ(parse_byte_size("4096"), 4096ULL);
  EXPECT_EQ(parse_byte_size("0"), 0ULL);
  EXPECT_EQ(parse_byte_size("18446744073709551615"), 18446744073709551615ULL);
}

TEST(ByteSize, FractionsWithAUnitAreAccepted) {
  EXPECT_EQ(parse_byte_size("1.5GB"), 1'500'000'000ULL);
  EXPECT_EQ(parse_byte_size("0.5GiB"), 1ULL << 29);
  EXPECT_EQ(parse_byte_size(" 12 GB "), 12'000'000'000ULL);
}

TEST(ByteSize, AmbiguousOrMalformedSizesAreRefused) {
  for (const char* bad : {"12gb", "12Gb", "5MBB", "GB", "", "-1", "-12GB", "1.5", "12 G", "1e9", "12GB5",
                          "18446744073709551616", "20000000000TB", "1..2GB", "abc"}) {
    EXPECT_THROW(parse_byte_size(bad), InvalidByteSize) << "accepted '" << bad << "'";
  }
}

TEST(ByteSize, TheErrorShowsTheAcceptedForms) {
  try {
    parse_byte_size("12gb");
    FAIL() << "12gb was accepted";
  } catch (const InvalidByteSize& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'12gb'"), std::string::npos) << message;
    EXPECT_NE(message.find("GiB"), std::string::npos) << message;
    EXPECT_NE(message.find("GB"), std::string::npos) << message;
  }
}

TEST(ByteSize, ReportsPrintBothConventions) {
  EXPECT_EQ(format_bytes(12'000'000'000ULL), "12.00 GB (11.18 GiB)");
  EXPECT_EQ(format_bytes(16ULL << 30), "17.18 GB (16.00 GiB)");
  EXPECT_EQ(format_bytes(40'000'000ULL), "40.00 MB (38.15 MiB)");
  EXPECT_EQ(format_bytes(2048), "2.05 KB (2.00 KiB)");
  EXPECT_EQ(format_bytes(12), "12 bytes");
}
