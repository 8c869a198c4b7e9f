// Config files: the native reader of the literal subset, the /usr/bin/python3 fallback, JSON
// config files, load order, merging and the folding of 6.x names.
#include "config/py_source.hpp"
#include "config/python_eval.hpp"
#include "ipp/config/config_file.hpp"
#include "ipp/config/error.hpp"
#include "ipp/config/lookup.hpp"
#include "ipp/config/py_literal.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>

#include "test_support.hpp"

namespace ipp::config {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::ScopedEnv;

const fs::path kData = fs::path(IPP_TEST_DATA_DIR) / "config";
const fs::path kPython = "/usr/bin/python3";

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

bool have_python() { return ::access(kPython.c_str(), X_OK) == 0; }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

bool contains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

TEST(ConfigFileTest, SeedArticleFilesFoldToTheirMeaningWithoutPython) {
  ScopedEnv no_python("IPP_CONFIG_PYTHON", "");  // proves the native reader handles them
  TempDir profile;
  fs::copy(kData / "seed", profile.path());

  LoadedConfig cluster = load_app_config(profile.path(), "ipcluster");
  EXPECT_EQ(cluster.tree["Cluster"]["engine_launcher_class"], "ssh");
  EXPECT_EQ(cluster.tree["SSHEngineSetLauncher"]["engines"],
            (ConfigTree{{"host1", 3}, {"host2", 3}}));
  EXPECT_FALSE(cluster.tree.contains("IPClusterEngines"));
  EXPECT_TRUE(
      contains(cluster.warnings,
               "IPClusterEngines.engine_launcher_class = SSHEngineSetLauncher configuration is "
               "deprecated in ipyparallel 7. Use Cluster.engine_launcher_class = "
               "SSHEngineSetLauncher"));
  EXPECT_TRUE(contains(cluster.warnings, "using c.Cluster.engine_launcher_class = 'ssh'"));
  ASSERT_EQ(cluster.files.size(), 1u);
  EXPECT_EQ(cluster.files[0], profile.path() / "ipcluster_config.py");
  EXPECT_EQ(cluster.origins["Cluster.engine_launcher_class"],
            (profile.path() / "ipcluster_config.py").string());

  LoadedConfig controller = load_app_config(profile.path(), "ipcontroller");
  EXPECT_EQ(controller.tree["IPController"]["reuse_files"], true);
  EXPECT_EQ(controller.tree["IPController"]["ip"], "*");
  EXPECT_FALSE(controller.tree.contains("IPControllerApp"));
  EXPECT_FALSE(controller.tree.contains("RegistrationFactory"));
  EXPECT_TRUE(contains(controller.warnings,
                       "c.IPControllerApp.reuse_files is deprecated in ipyparallel 7, use "
                       "c.IPController.reuse_files = True"));
  EXPECT_TRUE(contains(controller.warnings, "c.RegistrationFactory.ip"));
  EXPECT_TRUE(contains(controller.warnings, "c.IPController.ip = *"));
  EXPECT_EQ(get<bool>(controller, "IPController", "reuse_files"), true);
  EXPECT_EQ(get<std::string>(controller, "IPController", "ip"), "*");
}

TEST(ConfigFileTest, NativeReaderReadsEveryLiteralForm) {
  const ConfigTree t = load_python_config(kData / "literals.py", "");
  const ConfigTree& s = t["S"];
  EXPECT_EQ(s["single"], "single");
  EXPECT_EQ(s["double"], "double");
  EXPECT_EQ(s["unicode_prefix"], "*");
  EXPECT_EQ(s["raw"], "C:\\path\\n");
  EXPECT_EQ(s["raw_quote"], "it\\'s");
  EXPECT_EQ(s["escapes"], "tab\there\nnl \\ ' \" AA\xc3\xa9\xf0\x9f\x98\x80 \\q");
  EXPECT_EQ(s["bytes_utf8"], "keyA");
  EXPECT_EQ(s["bytes_binary"], "b'\\xff\\x00'");
  EXPECT_EQ(s["triple"], "line one\nline \"two\"");
  EXPECT_EQ(s["triple_double"], "a 'b' \"\"c\"\" ");
  EXPECT_EQ(s["concatenated"], "part one, part two, part three");
  EXPECT_EQ(s["implicit"], "ab");
  EXPECT_EQ(s["continued"], "xy");
  EXPECT_EQ(s["non_ascii"], "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93");
  EXPECT_EQ(s["empty"], "");
  EXPECT_EQ(s["hash_inside"], "not # a comment");

  const ConfigTree& n = t["N"];
  EXPECT_EQ(n["int"], 42);
  EXPECT_EQ(n["negative"], -7);
  EXPECT_EQ(n["plus"], 3);
  EXPECT_EQ(n["hex"], 255);
  EXPECT_EQ(n["octal"], 15);
  EXPECT_EQ(n["binary"], 5);
  EXPECT_EQ(n["underscore"], 1000000);
  EXPECT_EQ(n["zero"], 0);
  EXPECT_TRUE(n["float"].is_number_float());
  EXPECT_DOUBLE_EQ(n["float"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(n["exp"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(n["neg_float"].get<double>(), -0.25);
  EXPECT_DOUBLE_EQ(n["dot_float"].get<double>(), 0.5);
  EXPECT_EQ(n["yes"], true);
  EXPECT_EQ(n["no"], false);
  EXPECT_TRUE(n["none"].is_null());

  const ConfigTree& c = t["C"];
  EXPECT_EQ(c["list"], ConfigTree::parse(R"([1, "two", 3.0, null, true])"));
  EXPECT_EQ(c["empty_list"], ConfigTree::array());
  EXPECT_EQ(c["tuple"], ConfigTree::parse(R"(["a", "b"])"));
  EXPECT_EQ(c["one_tuple"], ConfigTree::parse("[1]"));
  EXPECT_EQ(c["empty_tuple"], ConfigTree::array());
  EXPECT_EQ(c["bare_tuple"], ConfigTree::parse("[1, 2]"));
  EXPECT_EQ(c["parenthesised"], 5);
  EXPECT_EQ(c["dict"], ConfigTree::parse(R"({"host1": 3, "host2": 3})"));
  EXPECT_EQ(c["int_keys"], ConfigTree::parse(R"({"1": "one", "2": "two"})"));
  EXPECT_EQ(c["nested"]["hostA"],
            ConfigTree::parse(R"({"n": 2, "engine_args": ["--log-level=10", "--x"]})"));
  EXPECT_EQ(c["nested"]["hostB"], ConfigTree::parse("[1, [2, [3]]]"));
  EXPECT_EQ(c["trailing_comma"], ConfigTree::parse("[1, 2]"));
  EXPECT_EQ(c["multi_line"], ConfigTree::parse(R"(["--foo", "--bar"])"));
  EXPECT_EQ(c["backslash"], ConfigTree::parse("[1, 2]"));
  EXPECT_EQ(c["reassigned"], "second");
  EXPECT_EQ(c["semicolon"], 1);
  // Dicts keep the order of the file (Python dicts do; SSH engine assignment depends on it).
  std::vector<std::string> keys;
  for (const auto& [k, v] : c["nested"].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"hostA", "hostB", "order_z", "order_a"}));
}

TEST(ConfigFileTest, NativeReaderAgreesWithPythonOnEveryLiteralForm) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  const ConfigTree native = load_python_config(kData / "literals.py", "");
  const ConfigTree python = detail::evaluate_with_python(kPython, kData / "literals.py");
  EXPECT_EQ(native, python) << "native: " << native.dump() << "\npython: " << python.dump();
}

TEST(ConfigFileTest, ProfileCreateParallelFilesReadNativelyAsEmpty) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  TempDir ipdir;
  const std::string cmd =
      kPython.string() +
      " -m IPython profile create --parallel --ipython-dir=" + ipdir.path().string() +
      " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ScopedEnv no_python("IPP_CONFIG_PYTHON", "");
  const fs::path profile = ipdir.path() / "profile_default";
  int checked = 0;
  for (const char* name : {"ipcluster_config.py", "ipcontroller_config.py", "ipengine_config.py",
                           "ipython_config.py"}) {
    ASSERT_TRUE(fs::exists(profile / name)) << name;
    // Generated files are thousands of commented lines; a real file, not a toy.
    EXPECT_GT(fs::file_size(profile / name), 10000u) << name;
    EXPECT_EQ(load_python_config(profile / name), ConfigTree::object()) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 4);
  const LoadedConfig all = load_app_config(profile, "ipcluster");
  EXPECT_EQ(all.tree, ConfigTree::object());
  EXPECT_EQ(all.files.size(), 2u);  // ipython_config.py and ipcluster_config.py
}

TEST(ConfigFileTest, FileBeyondTheSubsetIsEvaluatedByPython) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  const ConfigTree t = load_python_config(kData / "needs_python.py", kPython);
  EXPECT_EQ(t["IPController"]["location"], "host7");
  EXPECT_EQ(t["EngineLauncher"]["engine_args"], ConfigTree::parse(R"(["--foo", "--bar"])"));
  EXPECT_EQ(t["Cluster"]["n"], 6);
  EXPECT_DOUBLE_EQ(t["Cluster"]["delay"].get<double>(), 0.5);
}

TEST(ConfigFileTest, FileBeyondTheSubsetWithoutPythonNamesFileAndLine) {
  const std::string missing = "/nonexistent/bin/python3";
  const std::string err = error_of([&] { load_python_config(kData / "needs_python.py", missing); });
  EXPECT_NE(err.find((kData / "needs_python.py").string() + ":2: `import`"), std::string::npos)
      << err;
  EXPECT_NE(err.find(missing), std::string::npos) << err;
  EXPECT_NE(err.find("not available"), std::string::npos) << err;

  ScopedEnv none("IPP_CONFIG_PYTHON", missing);
  const std::string via_env = error_of([&] { load_python_config(kData / "needs_python.py"); });
  EXPECT_NE(via_env.find("needs_python.py:2:"), std::string::npos) << via_env;
}

TEST(ConfigFileTest, SyntaxErrorNamesFileAndLine) {
  const std::string native = error_of([&] { load_python_config(kData / "syntax_error.py", ""); });
  EXPECT_NE(native.find((kData / "syntax_error.py").string() + ":3: invalid syntax"),
            std::string::npos)
      << native;
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  const std::string python =
      error_of([&] { load_python_config(kData / "syntax_error.py", kPython); });
  EXPECT_NE(python.find((kData / "syntax_error.py").string() + ":3: SyntaxError"),
            std::string::npos)
      << python;
}

TEST(ConfigFileTest, RuntimeErrorInPythonNamesTracebackLine) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  const std::string err = error_of([&] { load_python_config(kData / "name_error.py", kPython); });
  EXPECT_NE(err.find((kData / "name_error.py").string() +
                     ":4: NameError: name 'undefined_name' is not defined"),
            std::string::npos)
      << err;
}

TEST(ConfigFileTest, PythonPrintsDoNotCorruptTheResult) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  TempDir dir;
  write(dir.path() / "noisy.py", "print('{\"config\": {}}')\nc.A.b = len('abc')\nprint('done')\n");
  EXPECT_EQ(load_python_config(dir.path() / "noisy.py", kPython),
            ConfigTree::parse(R"({"A": {"b": 3}})"));
}

TEST(ConfigFileTest, LoadSubconfigMergesTheOtherFile) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  const ConfigTree t = load_python_config(kData / "subconfig" / "main_config.py", kPython);
  EXPECT_EQ(t, ConfigTree::parse(R"({"A": {"x": 1, "z": 3}, "B": {"y": "sub", "w": [1]}})"))
      << t.dump();
}

TEST(ConfigFileTest, LoadSubconfigFromAnotherProfile) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  TempDir ipdir;
  ScopedEnv env("IPYTHONDIR", ipdir.path().string());
  write(ipdir.path() / "profile_base" / "ipcluster_config.py",
        "c.Cluster.n = 8\nc.Cluster.delay = 2.0\n");
  write(ipdir.path() / "profile_mine" / "ipcluster_config.py",
        "load_subconfig('ipcluster_config.py', profile='base')\nc.Cluster.n = 2\n");
  const ConfigTree t =
      load_python_config(ipdir.path() / "profile_mine" / "ipcluster_config.py", kPython);
  EXPECT_EQ(t["Cluster"]["n"], 2);
  EXPECT_DOUBLE_EQ(t["Cluster"]["delay"].get<double>(), 2.0);
}

TEST(ConfigFileTest, JsonConfigVersions) {
  const ConfigTree t = load_json_config(kData / "version1.json");
  EXPECT_EQ(t,
            ConfigTree::parse(
                R"({"IPController": {"ip": "*", "ports": [10101, 10102]}, "Cluster": {"n": 4}})"));
  const std::string bad = error_of([&] { load_json_config(kData / "bad_version.json"); });
  EXPECT_EQ(bad,
            (kData / "bad_version.json").string() + ": Unknown version of JSON config file: 2");

  TempDir dir;
  write(dir.path() / "broken.json", "{\"A\": {\"b\": 1,}}");
  const std::string broken = error_of([&] { load_json_config(dir.path() / "broken.json"); });
  EXPECT_NE(broken.find((dir.path() / "broken.json").string() + ": invalid JSON"),
            std::string::npos)
      << broken;
  // A number beyond a double (found by the config_json fuzz target): a ConfigError, not a crash.
  write(dir.path() / "huge.json", "{\"A\": {\"b\": 9999999999999999999999E999}}");
  EXPECT_NE(error_of([&] { load_json_config(dir.path() / "huge.json"); }).find(": invalid JSON"),
            std::string::npos);
  write(dir.path() / "list.json", "[1]");
  EXPECT_NE(error_of([&] { load_json_config(dir.path() / "list.json"); }).find("holds an object"),
            std::string::npos);
}

TEST(ConfigFileTest, JsonBeatsPyAndAppBeatsIpythonConfig) {
  ScopedEnv no_python("IPP_CONFIG_PYTHON", "");
  TempDir profile;
  write(profile.path() / "ipython_config.py",
        "c.Cluster.n = 1\nc.Cluster.delay = 5.0\nc.Other.keep = 'ipython'\n");
  write(profile.path() / "ipcluster_config.py",
        "c.Cluster.n = 2\nc.Cluster.engine_launcher_class = 'mpi'\n");
  write(profile.path() / "ipcluster_config.json", R"({"Cluster": {"n": 3}})");
  const LoadedConfig cfg = load_app_config(profile.path(), "ipcluster");
  EXPECT_EQ(cfg.tree["Cluster"]["n"], 3);
  EXPECT_EQ(cfg.tree["Cluster"]["engine_launcher_class"], "mpi");
  EXPECT_DOUBLE_EQ(cfg.tree["Cluster"]["delay"].get<double>(), 5.0);
  EXPECT_EQ(cfg.tree["Other"]["keep"], "ipython");
  ASSERT_EQ(cfg.files.size(), 3u);
  EXPECT_EQ(cfg.files[0].filename(), "ipython_config.py");
  EXPECT_EQ(cfg.files[2].filename(), "ipcluster_config.json");
  EXPECT_TRUE(contains(
      cfg.warnings, "Collisions detected in " + (profile.path() / "ipcluster_config.py").string() +
                        " and " + (profile.path() / "ipcluster_config.json").string()));
  EXPECT_TRUE(contains(cfg.warnings, "2 ignored, using 3"));
  EXPECT_EQ(cfg.origins.at("Cluster.n"), (profile.path() / "ipcluster_config.json").string());
  EXPECT_EQ(cfg.origins.at("Cluster.delay"), (profile.path() / "ipython_config.py").string());
}

TEST(ConfigFileTest, CollisionWarningsHideSecrets) {
  ScopedEnv no_python("IPP_CONFIG_PYTHON", "");
  TempDir profile;
  write(profile.path() / "ipcontroller_config.py",
        "c.IPController.curve_secretkey = 'old-secret'\nc.Session.key = 'old-key'\n");
  write(profile.path() / "ipcontroller_config.json",
        R"({"IPController": {"curve_secretkey": "new-secret"}, "Session": {"key": "new-key"}})");
  const LoadedConfig cfg = load_app_config(profile.path(), "ipcontroller");
  EXPECT_EQ(cfg.tree["IPController"]["curve_secretkey"], "new-secret");
  ASSERT_TRUE(contains(cfg.warnings, "Collisions detected"));
  for (const auto& w : cfg.warnings) {
    for (const char* secret : {"old-secret", "new-secret", "old-key", "new-key"}) {
      EXPECT_EQ(w.find(secret), std::string::npos) << w;
    }
  }
  EXPECT_TRUE(contains(cfg.warnings, "curve_secretkey"));
}

TEST(ConfigFileTest, ExtraDirsLoadBeforeTheProfile) {
  ScopedEnv no_python("IPP_CONFIG_PYTHON", "");
  TempDir system;
  TempDir profile;
  write(system.path() / "ipcontroller_config.py",
        "c.IPController.ip = '0.0.0.0'\nc.HeartMonitor.period = 500\n");
  write(profile.path() / "ipcontroller_config.py", "c.IPController.ip = '*'\n");
  const LoadedConfig cfg = load_app_config(profile.path(), "ipcontroller", {system.path()});
  EXPECT_EQ(cfg.tree["IPController"]["ip"], "*");
  EXPECT_EQ(cfg.tree["HeartMonitor"]["period"], 500);
}

TEST(ConfigFileTest, TypeErrorNamesTheFileTheValueCameFrom) {
  ScopedEnv no_python("IPP_CONFIG_PYTHON", "");
  TempDir profile;
  write(profile.path() / "ipcontroller_config.py", "c.HeartMonitor.period = 'abc'\n");
  const LoadedConfig cfg = load_app_config(profile.path(), "ipcontroller");
  EXPECT_EQ(error_of([&] { get<int>(cfg, "HeartMonitor", "period"); }),
            (profile.path() / "ipcontroller_config.py").string() +
                ": c.HeartMonitor.period must be an int, got 'abc'");
}

TEST(ConfigFileTest, MergeMergesSectionsButReplacesTraitValues) {
  ConfigTree into = ConfigTree::parse(
      R"({"A": {"x": 1, "d": {"h1": 1, "h2": 2}, "Sub": {"p": 1, "q": 2}}, "B": {"y": 1}})");
  merge(into, ConfigTree::parse(R"({"A": {"d": {"h3": 3}, "Sub": {"q": 20}}, "C": {"z": 1}})"));
  EXPECT_EQ(
      into,
      ConfigTree::parse(
          R"({"A": {"x": 1, "d": {"h3": 3}, "Sub": {"p": 1, "q": 20}}, "B": {"y": 1}, "C": {"z": 1}})"));
}

TEST(ConfigFileTest, FoldLegacyCurrentNamesWinOverLegacyOnes) {
  ConfigTree t = ConfigTree::parse(R"({
    "IPController": {"ip": "10.0.0.1"},
    "RegistrationFactory": {"ip": "*", "regport": 10101},
    "HubFactory": {"db_class": "SQLiteDB", "reuse_files": false},
    "IPControllerApp": {"reuse_files": true, "db_class": "NoDB"},
    "EngineFactory": {"timeout": 10},
    "IPEngineApp": {"timeout": 20, "startup_command": "import os"},
    "IPClusterStart": {"n": 4, "daemonize": true},
    "IPClusterEngines": {"n": 8, "delay": 2.0, "engine_launcher": "MPIExecEngineSetLauncher"},
    "Cluster": {"delay": 1.0},
    "MPIExecLauncher": {"mpi_cmd": ["mpirun"]},
    "MPILauncher": {"mpi_args": ["-x"]}
  })");
  std::vector<std::string> warnings;
  fold_legacy(t, warnings);
  EXPECT_EQ(
      t["IPController"],
      ConfigTree::parse(
          R"({"ip": "10.0.0.1", "db_class": "SQLiteDB", "reuse_files": false, "regport": 10101})"));
  EXPECT_EQ(t["IPEngine"], ConfigTree::parse(R"({"timeout": 10, "startup_command": "import os"})"));
  EXPECT_EQ(t["Cluster"],
            ConfigTree::parse(R"({"delay": 1.0, "n": 4, "engine_launcher_class": "mpi"})"));
  EXPECT_EQ(t["IPClusterStart"],
            ConfigTree::parse(R"({"daemonize": true})"));  // still a real trait
  EXPECT_FALSE(t.contains("IPClusterEngines"));
  EXPECT_EQ(t["MPILauncher"], ConfigTree::parse(R"({"mpi_args": ["-x"], "mpi_cmd": ["mpirun"]})"));
  for (const char* gone : {"RegistrationFactory", "HubFactory", "IPControllerApp", "EngineFactory",
                           "IPEngineApp", "MPIExecLauncher"}) {
    EXPECT_FALSE(t.contains(gone)) << gone;
  }
  EXPECT_TRUE(contains(
      warnings,
      "Ignoring c.RegistrationFactory.ip = *, overridden by c.IPController.ip = 10.0.0.1"));
  EXPECT_TRUE(contains(warnings,
                       "Ignoring c.IPControllerApp.reuse_files = True, overridden by "
                       "c.IPController.reuse_files = False"));
  EXPECT_TRUE(contains(
      warnings, "Ignoring c.IPEngineApp.timeout = 20, overridden by c.IPEngine.timeout = 10"));
  EXPECT_TRUE(contains(
      warnings, "Ignoring c.IPClusterEngines.delay = 2.0, overridden by c.Cluster.delay = 1.0"));
  EXPECT_TRUE(contains(warnings, "MPIExecLauncher name has been deprecated, use MPILauncher"));
  EXPECT_TRUE(contains(
      warnings, "c.Cluster.engine_launcher_class = 'MPIExecEngineSetLauncher' is a 6.x launcher"));
}

TEST(ConfigFileTest, FoldLegacyRegistrationUrl) {
  ConfigTree t = ConfigTree::parse(R"({"RegistrationFactory": {"url": "tcp://10.1.2.3:10101"}})");
  std::vector<std::string> warnings;
  fold_legacy(t, warnings);
  EXPECT_EQ(t,
            ConfigTree::parse(
                R"({"IPController": {"transport": "tcp", "ip": "10.1.2.3", "regport": 10101}})"));
  EXPECT_EQ(warnings.size(), 3u);

  ConfigTree bad = ConfigTree::parse(R"({"RegistrationFactory": {"url": "nonsense"}})");
  warnings.clear();
  fold_legacy(bad, warnings);
  EXPECT_EQ(bad, ConfigTree::object());
  EXPECT_TRUE(contains(warnings, "Ignoring c.RegistrationFactory.url = nonsense"));
}

TEST(ConfigFileTest, FoldLegacyLeavesValidLauncherSpellingsQuiet) {
  ConfigTree t = ConfigTree::parse(
      R"({"Cluster": {"engine_launcher_class": "SSH", "controller_launcher_class": "ipyparallel.cluster.launcher.LocalControllerLauncher"}})");
  std::vector<std::string> warnings;
  fold_legacy(t, warnings);
  EXPECT_EQ(t["Cluster"]["engine_launcher_class"], "ssh");
  EXPECT_EQ(t["Cluster"]["controller_launcher_class"], "local");
  EXPECT_TRUE(warnings.empty());

  ConfigTree custom =
      ConfigTree::parse(R"({"Cluster": {"engine_launcher_class": "mypkg.MyEngineSetLauncher"}})");
  fold_legacy(custom, warnings);
  EXPECT_EQ(custom["Cluster"]["engine_launcher_class"], "mypkg.MyEngineSetLauncher");
  EXPECT_TRUE(warnings.empty());
}

TEST(ConfigFileTest, LauncherShortNames) {
  const std::pair<const char*, const char*> cases[] = {
      {"SSHEngineSetLauncher", "ssh"},
      {"SSHControllerLauncher", "ssh"},
      {"ipyparallel.cluster.launcher.SSHEngineSetLauncher", "ssh"},
      {"ipyparallel.apps.launcher.SSHEngineSetLauncher", "ssh"},
      {"ipyparallel.cluster.launcher:SSHEngineSetLauncher", "ssh"},
      {"IPython.parallel.apps.launcher.SSHEngineSetLauncher", "ssh"},
      {"ssh", "ssh"},
      {"SSH", "ssh"},
      {"LocalEngineSetLauncher", "local"},
      {"LocalControllerLauncher", "local"},
      {"MPIExecEngineSetLauncher", "mpi"},
      {"MPIEngineSetLauncher", "mpi"},
      {"PBSEngineSetLauncher", "pbs"},
      {"SGEControllerLauncher", "sge"},
      {"SlurmEngineSetLauncher", "slurm"},
      {"LSFEngineSetLauncher", "lsf"},
      {"HTCondorEngineSetLauncher", "htcondor"},
      {"WindowsHPCEngineSetLauncher", "winhpc"},
      {"BatchEngineSetLauncher", "batch"},
      {"SSHProxyEngineSetLauncher", "sshproxy"},
      {"sshproxy", "sshproxy"},
      {" local ", "local"},
      {"mypkg.SSHEngineSetLauncher", ""},
      {"NoSuchEngineSetLauncher", ""},
      {"", ""},
      {"ssh2", ""},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(launcher_short_name(in), out) << in;
}

TEST(ConfigFileTest, NativeReaderSendsEverythingElseToPython) {
  // Valid Python that is not a literal assignment must not be misread natively.
  const char* beyond[] = {
      "import os\n",
      "c.A.b = os.environ['X']\n",
      "c.A.b = 1 + 2\n",
      "c.A.b = [1, 2][0]\n",
      "c.A.b.append(1)\n",
      "c.A.b = f'{1}'\n",
      "c.A.b = {1, 2}\n",
      "c.A.b == 1\n",
      "c.A.b += [1]\n",
      "c.A.B.c = 1\n",
      "x = 1\n",
      "if True:\n    c.A.b = 1\n",
      "c = Config()\n",
      "c.A.b = 'x'.upper()\n",
      "c.A.b = 1j\n",
      "c.A.b = '\\N{BULLET}'\n",
      "c.A.b = 99999999999999999999\n",
  };
  for (const char* src : beyond) {
    const detail::NativeConfig r = detail::parse_config_source(src);
    EXPECT_TRUE(r.problem.has_value()) << src;
  }
  const char* syntax[] = {"c.A.b = 'unterminated\n", "c.A.b = (1\n", "c.A.b = 1)\n", "c.A.b = $\n"};
  for (const char* src : syntax) {
    const detail::NativeConfig r = detail::parse_config_source(src);
    ASSERT_TRUE(r.problem.has_value()) << src;
    EXPECT_TRUE(r.problem->syntax) << src;
  }
}

TEST(ConfigFileTest, PythonReprMatchesPython) {
  EXPECT_EQ(python_repr(ConfigTree("ssh")), "'ssh'");
  EXPECT_EQ(python_repr(ConfigTree("it's")), "\"it's\"");
  EXPECT_EQ(python_repr(ConfigTree::parse(R"({"host1": 3, "l": [true, null, 1.5, "a\nb"]})")),
            "{'host1': 3, 'l': [True, None, 1.5, 'a\\nb']}");
  EXPECT_EQ(python_str(ConfigTree("ssh")), "ssh");
  EXPECT_EQ(python_str(ConfigTree(true)), "True");
}

}  // namespace
}  // namespace ipp::config
