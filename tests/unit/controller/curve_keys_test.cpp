// The controller's choice of CurveZMQ key pair (curve_keys.hpp) and its key file.
#include "controller/curve_keys.hpp"

#include <ipp/config/error.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace ipp::controller {
namespace {

constexpr const char* kPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
constexpr const char* kSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

int g_generated = 0;
net::CurveKeyPair fake_generate() {
  ++g_generated;
  return net::CurveKeyPair{"generated-public", "generated-secret"};
}

CurveKeyChoice choose(const CurveKeyInputs& in) { return choose_curve_keys(in, fake_generate); }

TEST(CurveKeys, OffByDefault) {
  auto c = choose({});
  EXPECT_FALSE(c.keys);
  EXPECT_FALSE(c.rewrite_files);
}

TEST(CurveKeys, GeneratedWhenNotConfigured) {
  CurveKeyInputs in;
  in.enabled = true;
  auto c = choose(in);
  ASSERT_TRUE(c.keys);
  EXPECT_EQ(c.keys->public_key, "generated-public");
  EXPECT_TRUE(c.generated);
  EXPECT_FALSE(c.rewrite_files);
}

TEST(CurveKeys, ConfiguredPairOrSecretAlone) {
  CurveKeyInputs in;
  in.enabled = true;
  in.configured_secret = kSecret;
  auto c = choose(in);
  ASSERT_TRUE(c.keys);
  EXPECT_EQ(c.keys->public_key, kPublic);  // derived from the secret key
  EXPECT_FALSE(c.generated);
  in.configured_public = kPublic;
  EXPECT_EQ(choose(in).keys->secret_key, kSecret);
}

TEST(CurveKeys, BadConfigurationsAreErrorsWithoutTheSecret) {
  CurveKeyInputs in;
  in.enabled = true;
  in.configured_public = kPublic;
  EXPECT_THROW(choose(in), config::ConfigError);  // public key without its secret
  in.configured_secret = "not a key";
  EXPECT_THROW(choose(in), config::ConfigError);
  in.configured_secret = kSecret;
  in.configured_public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";  // another pair's
  try {
    choose(in);
    FAIL() << "a mismatched pair was accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find(kSecret), std::string::npos);
  }
}

TEST(CurveKeys, ReuseTakesTheSavedPairWhenTheFilesCarryItsKey) {
  CurveKeyInputs in;
  in.enabled = true;
  in.reusing = true;
  in.reused_serverkey = kPublic;
  in.saved = net::CurveKeyPair{kPublic, kSecret};
  auto c = choose(in);
  ASSERT_TRUE(c.keys);
  EXPECT_EQ(c.keys->secret_key, kSecret);
  EXPECT_TRUE(c.from_key_file);
  EXPECT_FALSE(c.generated);
  EXPECT_FALSE(c.rewrite_files);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(CurveKeys, ReuseWithoutTheSecretRewritesTheFiles) {
  CurveKeyInputs in;
  in.enabled = true;
  in.reusing = true;
  in.reused_serverkey = kPublic;  // no saved pair: it cannot be served
  auto c = choose(in);
  EXPECT_TRUE(c.generated);
  EXPECT_TRUE(c.rewrite_files);
  EXPECT_EQ(c.warnings.size(), 1u);

  in.reused_serverkey.reset();  // files of a controller without CurveZMQ
  EXPECT_TRUE(choose(in).rewrite_files);

  in.enabled = false;  // CurveZMQ turned off since
  in.reused_serverkey = kPublic;
  c = choose(in);
  EXPECT_FALSE(c.keys);
  EXPECT_TRUE(c.rewrite_files);
}

TEST(CurveKeys, ReuseWithTheConfiguredPairKeepsTheFiles) {
  CurveKeyInputs in;
  in.enabled = true;
  in.reusing = true;
  in.reused_serverkey = kPublic;
  in.configured_secret = kSecret;
  auto c = choose(in);
  EXPECT_FALSE(c.rewrite_files);
  EXPECT_FALSE(c.generated);
}

TEST(CurveKeys, KeyFileRoundTripIsPrivate) {
  auto path = std::filesystem::temp_directory_path() /
              ("ipp-curve-key-" + std::to_string(::getpid()) + ".json");
  write_curve_key_file(path, net::CurveKeyPair{kPublic, kSecret});
  auto perms = std::filesystem::status(path).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto back = read_curve_key_file(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->public_key, kPublic);
  EXPECT_EQ(back->secret_key, kSecret);
  // a pair that does not belong together is not used
  write_curve_key_file(path,
                       net::CurveKeyPair{"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", kSecret});
  EXPECT_FALSE(read_curve_key_file(path));
  std::filesystem::remove(path);
  EXPECT_FALSE(read_curve_key_file(path));
}

}  // namespace
}  // namespace ipp::controller
