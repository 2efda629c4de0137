// `vramguard serve --api-key`: which Authorization headers carry the key.
#include <gtest/gtest.h>

#include "serve/bearer_token.hpp"

using vramguard::bearer_token_matches;

TEST(BearerToken, TheKeyAfterBearerInAnyCaseMatches) {
  EXPECT_TRUE(bearer_token_matches("Bearer s3cret-key", "s3cret-key"));
  EXPECT_TRUE(bearer_token_matches("bearer s3cret-key", "s3cret-key"));
  EXPECT_TRUE(bearer_token_matches("BEARER  s3cret-key", "s3cret-key"));
}

TEST(BearerToken, AnythingElseDoesNot) {
  EXPECT_FALSE(bearer_token_matches("", "s3cret-key"));
  EXPECT_FALSE(bearer_token_matches("Bearer", "s3cret-key"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", "s3cret-key"));
  EXPECT_FALSE(bearer_token_matches("s3cret-key", "s3cret-key"));  // no scheme
  EXPECT_FALSE(bearer_token_matches("Basic s3cret-key", "s3cret-key"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-kex", "s3cret-key"));   // the last byte differs
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-ke", "s3cret-key"));    // a prefix
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-keyy", "s3cret-key"));  // longer
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));                       // no key is never a match
}
