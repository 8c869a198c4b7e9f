// Profile directories: locating the IPython dir, resolving a profile by name or path, the
// layout and modes IPython gives them, and the names of the files kept there.
#include "ipp/config/error.hpp"
#include "ipp/config/profile_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include "test_support.hpp"

namespace ipp::config {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::ScopedEnv;

const fs::path kPython = "/usr/bin/python3";

// The environment every test starts from: IPYTHONDIR pointing at a temp dir, no profile dir from
// a launcher.
struct IsolatedIpythonDir {
  TempDir dir;
  ScopedEnv ipythondir{"IPYTHONDIR", dir.path().string()};
  ScopedEnv old_name{"IPYTHON_DIR", std::nullopt};
  ScopedEnv launcher{"IPP_PROFILE_DIR", std::nullopt};
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void expect_layout(const ProfileDir& p) {
  for (const auto& d : {p.security(), p.log(), p.pid(), p.startup()}) {
    EXPECT_TRUE(fs::is_directory(d)) << d;
  }
  EXPECT_EQ(mode_of(p.security()), 0700u);
  EXPECT_EQ(mode_of(p.pid()), 0700u);
  EXPECT_TRUE(fs::is_regular_file(p.startup() / "README"));
}

TEST(ProfileDirTest, NamedProfileIsCreatedUnderIpythonDir) {
  IsolatedIpythonDir env;
  const ProfileDir p =
      ProfileDir::resolve({.ipython_dir = "", .profile = "foo", .profile_dir = ""}, true);
  EXPECT_EQ(p.location(), env.dir.path() / "profile_foo");
  EXPECT_EQ(p.name(), "foo");
  expect_layout(p);
  // Found again without `create` once it exists.
  const ProfileDir again =
      ProfileDir::resolve({.ipython_dir = "", .profile = "foo", .profile_dir = ""}, false);
  EXPECT_EQ(again.location(), p.location());
}

TEST(ProfileDirTest, MissingProfileWithoutCreateIsAnErrorWithIpythonsWording) {
  IsolatedIpythonDir env;
  EXPECT_EQ(error_of([] {
              ProfileDir::resolve({.ipython_dir = "", .profile = "nope", .profile_dir = ""}, false);
            }),
            "Profile 'nope' not found.");
  EXPECT_FALSE(fs::exists(env.dir.path() / "profile_nope"));
}

TEST(ProfileDirTest, DefaultProfileIsAlwaysCreated) {
  IsolatedIpythonDir env;
  const ProfileDir p = ProfileDir::resolve({}, false);
  EXPECT_EQ(p.location(), env.dir.path() / "profile_default");
  EXPECT_EQ(p.name(), "default");
  expect_layout(p);
}

TEST(ProfileDirTest, ProfileDirOptionWinsAndSetsTheName) {
  IsolatedIpythonDir env;
  TempDir elsewhere;
  const fs::path where = elsewhere.path() / "nested" / "profile_bar";
  EXPECT_EQ(error_of([&] {
              ProfileDir::resolve(
                  {.ipython_dir = "", .profile = "foo", .profile_dir = where.string()}, false);
            }),
            "Profile directory '" + where.string() + "' not found.");
  EXPECT_FALSE(fs::exists(where));

  const ProfileDir p = ProfileDir::resolve(
      {.ipython_dir = "", .profile = "foo", .profile_dir = where.string()}, true);
  EXPECT_EQ(p.location(), where);
  EXPECT_EQ(p.name(), "bar");
  expect_layout(p);
  EXPECT_FALSE(fs::exists(env.dir.path() / "profile_foo"));

  // A directory not named profile_* keeps the profile name given.
  const fs::path plain = elsewhere.path() / "plain";
  const ProfileDir q = ProfileDir::resolve(
      {.ipython_dir = "", .profile = "foo", .profile_dir = plain.string()}, true);
  EXPECT_EQ(q.name(), "foo");
  EXPECT_EQ(q.location(), plain);
}

TEST(ProfileDirTest, LauncherEnvironmentProfileDirIsUsedUnlessTheOptionIsGiven) {
  IsolatedIpythonDir env;
  TempDir from_env;
  ScopedEnv launcher("IPP_PROFILE_DIR", (from_env.path() / "profile_env").string());
  const ProfileDir p = ProfileDir::resolve({}, true);
  EXPECT_EQ(p.location(), from_env.path() / "profile_env");
  EXPECT_EQ(p.name(), "env");

  TempDir option;
  const ProfileDir q =
      ProfileDir::resolve({.ipython_dir = "",
                           .profile = "default",
                           .profile_dir = (option.path() / "profile_opt").string()},
                          true);
  EXPECT_EQ(q.name(), "opt");
}

TEST(ProfileDirTest, PrivateDirectoryModesAreForcedOnExistingDirectories) {
  IsolatedIpythonDir env;
  const fs::path loc = env.dir.path() / "profile_loose";
  fs::create_directories(loc / "security");
  fs::create_directories(loc / "pid");
  ::chmod((loc / "security").c_str(), 0755);
  ::chmod((loc / "pid").c_str(), 0755);
  ASSERT_EQ(mode_of(loc / "security"), 0755u);
  const ProfileDir p =
      ProfileDir::resolve({.ipython_dir = "", .profile = "loose", .profile_dir = ""}, false);
  EXPECT_EQ(mode_of(p.security()), 0700u);
  EXPECT_EQ(mode_of(p.pid()), 0700u);

  // ensure_layout repairs them again later, as IPython does on every start.
  ::chmod(p.security().c_str(), 0777);
  p.ensure_layout();
  EXPECT_EQ(mode_of(p.security()), 0700u);
}

TEST(ProfileDirTest, ModesDoNotDependOnTheUmask) {
  IsolatedIpythonDir env;
  const mode_t old = ::umask(0);
  const ProfileDir p =
      ProfileDir::resolve({.ipython_dir = "", .profile = "umask", .profile_dir = ""}, true);
  ::umask(old);
  EXPECT_EQ(mode_of(p.security()), 0700u);
  EXPECT_EQ(mode_of(p.pid()), 0700u);
}

TEST(ProfileDirTest, LocateIpythonDirOrder) {
  TempDir home;
  TempDir from_env;
  TempDir from_option;
  ScopedEnv h("HOME", home.path().string());
  ScopedEnv xdg("XDG_CONFIG_HOME", (home.path() / "no-xdg").string());
  ScopedEnv old_name("IPYTHON_DIR", std::nullopt);
  {
    ScopedEnv unset("IPYTHONDIR", std::nullopt);
    EXPECT_EQ(locate_ipython_dir(), home.path() / ".ipython");
    EXPECT_TRUE(fs::is_directory(home.path() / ".ipython"));  // created when missing
  }
  ScopedEnv set("IPYTHONDIR", (from_env.path() / "ip" / "").string());
  EXPECT_EQ(locate_ipython_dir(), from_env.path() / "ip");
  EXPECT_EQ(locate_ipython_dir((from_option.path() / "x").string()), from_option.path() / "x");
  EXPECT_EQ(locate_ipython_dir("~/tilde"), home.path() / "tilde");
  EXPECT_TRUE(fs::is_directory(home.path() / "tilde"));
}

TEST(ProfileDirTest, LegacyXdgIpythonDirIsUsedWhenDotIpythonIsAbsent) {
  TempDir home;
  ScopedEnv h("HOME", home.path().string());
  ScopedEnv unset("IPYTHONDIR", std::nullopt);
  ScopedEnv old_name("IPYTHON_DIR", std::nullopt);
  ScopedEnv xdg("XDG_CONFIG_HOME", (home.path() / "cfg").string());
  fs::create_directories(home.path() / "cfg" / "ipython");
  EXPECT_EQ(locate_ipython_dir(), home.path() / "cfg" / "ipython");
  fs::create_directories(home.path() / ".ipython");
  EXPECT_EQ(locate_ipython_dir(), home.path() / ".ipython");
}

TEST(ProfileDirTest, FileNamesFollowTheClusterId) {
  IsolatedIpythonDir env;
  const ProfileDir p = ProfileDir::resolve({}, true);
  const fs::path sec = p.location() / "security";
  EXPECT_EQ(p.client_file(""), sec / "ipcontroller-client.json");
  EXPECT_EQ(p.engine_file(""), sec / "ipcontroller-engine.json");
  EXPECT_EQ(p.client_file("abc"), sec / "ipcontroller-abc-client.json");
  EXPECT_EQ(p.engine_file("1732612345-k3x9"), sec / "ipcontroller-1732612345-k3x9-engine.json");
  EXPECT_EQ(p.cluster_file(""), sec / "cluster-.json");
  EXPECT_EQ(p.cluster_file("abc"), sec / "cluster-abc.json");
  EXPECT_EQ(p.engine_state_file(""), p.location() / "log" / "engines.json");
  EXPECT_EQ(p.engine_state_file("abc"), p.location() / "log" / "enginesabc.json");
}

TEST(ProfileDirTest, LayoutMatchesWhatIpythonCreatesAndIpythonFindsOurs) {
  if (::access(kPython.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << kPython;
  IsolatedIpythonDir env;
  const ProfileDir ours =
      ProfileDir::resolve({.ipython_dir = "", .profile = "ours", .profile_dir = ""}, true);
  // IPython creates its own profile next to ours and reports modes of both, and finds ours by name.
  const std::string script =
      "import os, sys\n"
      "from IPython.core.profiledir import ProfileDir\n"
      "d = sys.argv[1]\n"
      "theirs = ProfileDir.create_profile_dir_by_name(d, 'theirs')\n"
      "found = ProfileDir.find_profile_dir_by_name(d, 'ours')\n"
      "def describe(loc):\n"
      "    return ' '.join('%s=%o' % (s, os.stat(os.path.join(loc, s)).st_mode & 0o7777 if s in "
      "('security', 'pid') else 0)"
      " for s in sorted(os.listdir(loc)))\n"
      "print(found.location)\n"
      "print(describe(theirs.location))\n";
  const fs::path py = env.dir.path() / "check.py";
  std::ofstream(py) << script;
  const std::string out =
      run(kPython.string() + " " + py.string() + " " + env.dir.path().string() + " 2>/dev/null");
  const auto nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos) << out;
  EXPECT_EQ(out.substr(0, nl), ours.location().string());
  EXPECT_EQ(out.substr(nl + 1), "log=0 pid=700 security=700 startup=0");
  std::string mine;
  for (const char* s : {"log", "pid", "security", "startup"}) {
    if (!mine.empty()) mine += ' ';
    const bool priv = std::string(s) == "pid" || std::string(s) == "security";
    mine += std::string(s) + "=" + (priv ? "700" : "0");
    EXPECT_TRUE(fs::is_directory(ours.location() / s)) << s;
  }
  EXPECT_EQ(out.substr(nl + 1), mine);
}

}  // namespace
}  // namespace ipp::config
