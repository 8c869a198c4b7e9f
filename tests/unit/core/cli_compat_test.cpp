// Traitlets command-line options (--Class.trait=value), Python literal values, and typed lookups
// with class inheritance.
#include "ipp/config/cli_compat.hpp"
#include "ipp/config/error.hpp"
#include "ipp/config/lookup.hpp"
#include "ipp/config/py_literal.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ipp::config {
namespace {

namespace fs = std::filesystem;

const fs::path kPython = "/usr/bin/python3";

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

using Args = std::vector<std::string>;

TEST(CliCompatTest, WildcardIpIsAString) {
  const CliConfig cli = extract_cli_config(Args{"--IPController.ip=*"});
  EXPECT_EQ(cli.tree, ConfigTree::parse(R"({"IPController": {"ip": "*"}})"));
  EXPECT_TRUE(cli.rest.empty());
  EXPECT_EQ(get<std::string>(cli.tree, "IPController", "ip"), "*");
}

TEST(CliCompatTest, RepeatedOptionAppends) {
  const CliConfig cli = extract_cli_config(
      Args{"--EngineLauncher.engine_args=--foo", "--EngineLauncher.engine_args=--bar"});
  EXPECT_EQ(cli.tree["EngineLauncher"]["engine_args"], ConfigTree::parse(R"(["--foo", "--bar"])"));
  EXPECT_EQ(get<std::vector<std::string>>(cli.tree, "EngineLauncher", "engine_args"),
            (std::vector<std::string>{"--foo", "--bar"}));

  // Once: a scalar, which a list trait reads as a one-item list.
  const CliConfig once = extract_cli_config(Args{"--EngineLauncher.engine_args=--foo"});
  EXPECT_EQ(once.tree["EngineLauncher"]["engine_args"], "--foo");
  EXPECT_EQ(get<std::vector<std::string>>(once.tree, "EngineLauncher", "engine_args"),
            std::vector<std::string>{"--foo"});
  // A literal list still works (traitlets accepts it with a FutureWarning).
  const CliConfig literal = extract_cli_config(Args{"--EngineLauncher.engine_args=['--a', '--b']"});
  EXPECT_EQ(literal.tree["EngineLauncher"]["engine_args"], ConfigTree::parse(R"(["--a", "--b"])"));
}

TEST(CliCompatTest, NumbersAndConstantsAreTyped) {
  const CliConfig cli = extract_cli_config(
      Args{"--HeartMonitor.period=500", "--Cluster.delay=0.5", "--IPController.reuse_files=True",
           "--IPController.location=None", "--TaskScheduler.hwm", "0"});
  EXPECT_TRUE(cli.tree["HeartMonitor"]["period"].is_number_integer());
  EXPECT_EQ(cli.tree["HeartMonitor"]["period"], 500);
  EXPECT_EQ(get<int>(cli.tree, "HeartMonitor", "period"), 500);
  EXPECT_DOUBLE_EQ(*get<double>(cli.tree, "Cluster", "delay"), 0.5);
  EXPECT_EQ(cli.tree["IPController"]["reuse_files"], true);
  EXPECT_TRUE(cli.tree["IPController"]["location"].is_null());
  EXPECT_EQ(cli.tree["TaskScheduler"]["hwm"], 0);
}

TEST(CliCompatTest, QuotedStringsLoseTheirQuotes) {
  const CliConfig cli =
      extract_cli_config(Args{"--Session.key='abc'", "--IPController.location=\"host one\"",
                              "--IPController.ip='*'", "--Cluster.cluster_id", "'123'"});
  EXPECT_EQ(cli.tree["Session"]["key"], "abc");
  EXPECT_EQ(cli.tree["IPController"]["location"], "host one");
  EXPECT_EQ(cli.tree["IPController"]["ip"], "*");
  EXPECT_EQ(cli.tree["Cluster"]["cluster_id"], "123");
}

TEST(CliCompatTest, PlainTextStaysText) {
  const CliConfig cli = extract_cli_config(
      Args{"--IPController.ports=10101-10120", "--IPController.location=10.0.0.1",
           "--Cluster.engine_launcher_class=ssh", "--X.empty="});
  EXPECT_EQ(cli.tree["IPController"]["ports"], "10101-10120");
  EXPECT_EQ(cli.tree["IPController"]["location"], "10.0.0.1");
  EXPECT_EQ(cli.tree["Cluster"]["engine_launcher_class"], "ssh");
  EXPECT_EQ(cli.tree["X"]["empty"], "");
}

TEST(CliCompatTest, HomeIsExpandedInPlainStrings) {
  const char* home = std::getenv("HOME");
  if (!home) GTEST_SKIP() << "no HOME";
  EXPECT_EQ(parse_cli_value("~/work"), std::string(home) + "/work");
  EXPECT_EQ(parse_cli_value("'~/work'"), "~/work");  // quoted: as written
}

TEST(CliCompatTest, OtherArgumentsPassThroughInOrder) {
  const CliConfig cli = extract_cli_config(
      Args{"start", "--profile=foo", "-n", "3", "--IPController.ip=*", "--debug", "--n=4", "--Foo",
           "--a..b=1", "--1A.b=2", "--", "--IPController.ip=0.0.0.0", "--ping=250"});
  EXPECT_EQ(cli.rest,
            (Args{"start", "--profile=foo", "-n", "3", "--debug", "--n=4", "--Foo", "--a..b=1",
                  "--1A.b=2", "--", "--IPController.ip=0.0.0.0", "--ping=250"}));
  EXPECT_EQ(cli.tree, ConfigTree::parse(R"({"IPController": {"ip": "*"}})"));
}

TEST(CliCompatTest, SpaceSeparatedValues) {
  const CliConfig cli = extract_cli_config(Args{"--HeartMonitor.period", "500", "--X.offset", "-5",
                                                "--EngineLauncher.engine_args", "x", "pos"});
  EXPECT_EQ(cli.tree["HeartMonitor"]["period"], 500);
  EXPECT_EQ(cli.tree["X"]["offset"], -5);
  EXPECT_EQ(cli.tree["EngineLauncher"]["engine_args"], "x");
  EXPECT_EQ(cli.rest, Args{"pos"});

  EXPECT_EQ(error_of([] { extract_cli_config(Args{"--HeartMonitor.period"}); }),
            "command line: argument --HeartMonitor.period: expected one argument");
  EXPECT_EQ(error_of([] {
              extract_cli_config(Args{"--EngineLauncher.engine_args", "--foo"});
            }),
            "command line: argument --EngineLauncher.engine_args: expected one argument");
}

TEST(CliCompatTest, ArgvFormSkipsTheProgramName) {
  const char* argv[] = {"ipcontroller", "--IPController.ip=*", "--reuse"};
  const CliConfig cli = extract_cli_config(3, argv);
  EXPECT_EQ(cli.rest, Args{"--reuse"});
  EXPECT_EQ(cli.tree["IPController"]["ip"], "*");
}

TEST(CliCompatTest, TypeMismatchNamesOriginClassAndTrait) {
  const CliConfig cli =
      extract_cli_config(Args{"--HeartMonitor.period=abc", "--X.s=a", "--X.s=b", "--X.l=[1, 'x']"});
  EXPECT_EQ(error_of([&] { get<int>(cli.tree, "HeartMonitor", "period", "command line"); }),
            "command line: c.HeartMonitor.period must be an int, got 'abc'");
  EXPECT_EQ(error_of([&] { get<int>(cli.tree, "HeartMonitor", "period"); }),
            "config: c.HeartMonitor.period must be an int, got 'abc'");
  EXPECT_EQ(error_of([&] { get<std::string>(cli.tree, "X", "s"); }),
            "config: c.X.s must be a str, got ['a', 'b']");
  EXPECT_EQ(error_of([&] { get<std::vector<int>>(cli.tree, "X", "l"); }),
            "config: c.X.l must be a list of int, got [1, 'x']");
  EXPECT_EQ(error_of([&] { get<bool>(cli.tree, "X", "l"); }),
            "config: c.X.l must be a bool, got [1, 'x']");
  EXPECT_EQ(error_of([&] { get<int>(ConfigTree::parse(R"({"A": {"f": 1.5}})"), "A", "f"); }),
            "config: c.A.f must be an int, got 1.5");
  EXPECT_EQ(
      error_of([&] { get<int>(ConfigTree::parse(R"({"A": {"big": 99999999999}})"), "A", "big"); }),
      "config: c.A.big must be an int, got 99999999999");
  EXPECT_EQ(get<std::int64_t>(ConfigTree::parse(R"({"A": {"big": 99999999999}})"), "A", "big"),
            99999999999);
}

TEST(CliCompatTest, LenientConversionsTraitletsAlsoMakes) {
  const ConfigTree t =
      extract_cli_config(Args{"--A.flag=true", "--A.off=0", "--A.id=123",
                              "--BaseLauncher.environment", "K=V", "--BaseLauncher.environment",
                              "PATH=/bin:/usr/bin", "--A.period=3"})
          .tree;
  EXPECT_EQ(get<bool>(t, "A", "flag"), true);
  EXPECT_EQ(get<bool>(t, "A", "off"), false);
  EXPECT_EQ(get<std::string>(t, "A", "id"), "123");
  EXPECT_EQ(get<double>(t, "A", "period"), 3.0);
  EXPECT_EQ((get<std::map<std::string, std::string>>(t, "BaseLauncher", "environment")),
            (std::map<std::string, std::string>{{"K", "V"}, {"PATH", "/bin:/usr/bin"}}));
  EXPECT_EQ(get<int>(t, "A", "absent"), std::nullopt);
  EXPECT_EQ(get<int>(t, "Absent", "x"), std::nullopt);
}

TEST(CliCompatTest, BaseClassConfigAppliesToSubclassesWithSubclassWinning) {
  const ConfigTree t = ConfigTree::parse(R"({
    "ControllerLauncher": {"controller_args": ["--ping=250"], "controller_cmd": ["ipcontroller"]},
    "LocalControllerLauncher": {"controller_args": ["--ip=*"]},
    "BaseLauncher": {"environment": {"A": "1"}}
  })");
  const std::initializer_list<std::string_view> mro = {"LocalControllerLauncher",
                                                       "ControllerLauncher", "BaseLauncher"};
  EXPECT_EQ(get<std::vector<std::string>>(t, mro, "controller_args"),
            std::vector<std::string>{"--ip=*"});
  EXPECT_EQ(get<std::vector<std::string>>(t, mro, "controller_cmd"),
            std::vector<std::string>{"ipcontroller"});
  EXPECT_EQ((get<std::map<std::string, std::string>>(t, mro, "environment")),
            (std::map<std::string, std::string>{{"A", "1"}}));
  EXPECT_EQ(get<std::string>(t, mro, "nothing"), std::nullopt);
  const std::vector<std::string> ssh_mro = {"SSHControllerLauncher", "ControllerLauncher"};
  EXPECT_EQ(get<std::vector<std::string>>(t, ssh_mro, "controller_args"),
            std::vector<std::string>{"--ping=250"});
  // The error names the class the value was found in.
  const ConfigTree bad =
      ConfigTree::parse(R"({"ControllerLauncher": {"controller_args": {"a": 1}}})");
  EXPECT_EQ(error_of([&] { get<std::vector<std::string>>(bad, mro, "controller_args", "f.py"); }),
            "f.py: c.ControllerLauncher.controller_args must be a list of str, got {'a': 1}");
}

TEST(CliCompatTest, CommandLineWinsOverFilesAndIsNamedInErrors) {
  LoadedConfig cfg;
  merge(
      cfg,
      ConfigTree::parse(
          R"({"HeartMonitor": {"period": 3000}, "IPController": {"ip": "127.0.0.1", "reuse_files": true}})"),
      "/p/ipcontroller_config.py");
  apply_cli_config(cfg,
                   extract_cli_config(Args{"--HeartMonitor.period=fast", "--IPController.ip=*"}));
  EXPECT_EQ(cfg.tree["IPController"]["ip"], "*");
  EXPECT_EQ(cfg.tree["IPController"]["reuse_files"], true);
  EXPECT_EQ(get<bool>(cfg, "IPController", "reuse_files"), true);
  EXPECT_EQ(error_of([&] { get<int>(cfg, "HeartMonitor", "period"); }),
            "command line: c.HeartMonitor.period must be an int, got 'fast'");
  EXPECT_EQ(get_or<int>(cfg, {"HeartMonitor"}, "missing", 7), 7);
}

TEST(CliCompatTest, PythonLiteralParser) {
  EXPECT_EQ(parse_python_literal("  [1, 'a', (2, 3), {'k': None}]  "),
            ConfigTree::parse(R"([1, "a", [2, 3], {"k": null}])"));
  EXPECT_EQ(parse_python_literal("1, 2"), ConfigTree::parse("[1, 2]"));
  EXPECT_EQ(parse_python_literal("-0x10"), ConfigTree(-16));
  EXPECT_EQ(parse_python_literal("u'x' r'\\n'"), ConfigTree("x\\n"));
  for (const char* not_literal :
       {"*", "--foo", "ssh", "1 + 2", "a=1", "10.0.0.1", "[1,", "f'x'", "", "1; 2", "x.y"}) {
    EXPECT_FALSE(parse_python_literal(not_literal).has_value()) << not_literal;
  }
}

TEST(CliCompatTest, SameTreeAsTraitlets) {
  if (::access(kPython.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << kPython;
  // traitlets resolves option values against the trait types; the classes below have the types
  // the real ipyparallel traits have.
  const std::string script =
      "import json, sys, warnings\n"
      "warnings.simplefilter('ignore')\n"
      "from traitlets.config import Application, Configurable\n"
      "from traitlets import Unicode, List, Integer, Float, Bool\n"
      "class IPController(Configurable):\n"
      "    ip = Unicode().tag(config=True)\n"
      "    location = Unicode().tag(config=True)\n"
      "    reuse_files = Bool().tag(config=True)\n"
      "class EngineLauncher(Configurable):\n"
      "    engine_args = List().tag(config=True)\n"
      "class HeartMonitor(Configurable):\n"
      "    period = Integer().tag(config=True)\n"
      "class Cluster(Configurable):\n"
      "    delay = Float().tag(config=True)\n"
      "class App(Application):\n"
      "    classes = [IPController, EngineLauncher, HeartMonitor, Cluster]\n"
      "app = App()\n"
      "app.parse_command_line(sys.argv[1:])\n"
      "out = {}\n"
      "for cls in App.classes:\n"
      "    obj = cls(config=app.config)\n"
      "    for name in cls.class_own_traits(config=True):\n"
      "        if name in app.config[cls.__name__]:\n"
      "            out.setdefault(cls.__name__, {})[name] = getattr(obj, name)\n"
      "print(json.dumps(out, sort_keys=True))\n";
  const Args args = {"--IPController.ip=*",
                     "--EngineLauncher.engine_args=--foo",
                     "--EngineLauncher.engine_args=--bar",
                     "--HeartMonitor.period=500",
                     "--Cluster.delay=0.25",
                     "--IPController.location='host one'",
                     "--IPController.reuse_files=True"};
  const fs::path py =
      fs::temp_directory_path() / ("ipp-cli-test-" + std::to_string(::getpid()) + ".py");
  std::ofstream(py) << script;
  std::string cmd = kPython.string() + " " + py.string();
  for (const auto& a : args) cmd += " \"" + a + "\"";
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  ::pclose(p);
  std::filesystem::remove(py);
  const nlohmann::json theirs = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(theirs.is_discarded()) << out;
  const nlohmann::json ours = nlohmann::json::parse(extract_cli_config(args).tree.dump());
  EXPECT_EQ(ours, theirs) << "ours " << ours.dump() << "\ntheirs " << theirs.dump();
}

}  // namespace
}  // namespace ipp::config
