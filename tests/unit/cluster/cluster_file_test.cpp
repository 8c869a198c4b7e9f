// The cluster file must be what Python's Cluster.to_dict() writes (cluster-tooling.md §4.2),
// so that Cluster.from_file(), `ipcluster list` and `ipcluster stop` take ours as their own.
#include <ipp/cluster/cluster_file.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ipp::cluster {
namespace {

ClusterRecord sample(const std::string& engine_class = "local") {
  ClusterRecord r;
  r.cluster_id = "abc";
  r.profile_dir = "/home/u/.ipython/profile_default";
  r.n = 2;
  LauncherState c;
  c.cluster_id = "abc";
  c.profile_dir = r.profile_dir;
  c.pid = 11080;
  c.output_file = r.profile_dir + "/log/ipcontroller-abc-11079.log";
  r.controller = c;
  r.engine_class = engine_class;
  EngineSetRecord set;
  set.id = "1795689981";
  set.set.cluster_id = "abc";
  set.set.profile_dir = r.profile_dir;
  set.set.n = 2;
  for (int i = 0; i < 2; ++i) {
    LauncherState e = c;
    e.pid = 11121 + i;
    e.output_file = r.profile_dir + "/log/ipengine-abc-1795689981-" + std::to_string(i) + ".log";
    set.engines.emplace_back(std::to_string(i), e);
  }
  r.sets.push_back(set);
  return r;
}

std::vector<std::string> keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

TEST(ClusterFile, TopLevelAndClusterKeysInPythonOrder) {
  auto j = sample().to_json();
  EXPECT_EQ(keys(j), (std::vector<std::string>{"cluster", "controller", "engines"}));
  EXPECT_EQ(keys(j["cluster"]),
            (std::vector<std::string>{"cluster_id", "controller_args", "controller_ip",
                                      "controller_location", "delay", "n", "profile_dir",
                                      "class"}));
  EXPECT_EQ(j["cluster"]["class"], "ipyparallel.cluster.cluster.Cluster");
  EXPECT_EQ(j["controller"]["class"], "local");
  EXPECT_EQ(keys(j["controller"]["state"]),
            (std::vector<std::string>{"cluster_id", "output_file", "pid", "profile_dir", "state"}));
  EXPECT_EQ(j["controller"]["state"]["state"], "running");
}

TEST(ClusterFile, LocalEngineSetLayout) {
  auto j = sample().to_json();
  EXPECT_EQ(j["engines"]["class"], "local");
  const auto& set = j["engines"]["sets"]["1795689981"];
  EXPECT_EQ(keys(set),
            (std::vector<std::string>{"cluster_id", "n", "pid", "profile_dir", "state", "engines"}));
  EXPECT_EQ(set["pid"], -1);
  EXPECT_EQ(keys(set["engines"]), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(keys(set["engines"]["1"]),
            (std::vector<std::string>{"cluster_id", "n", "output_file", "pid", "profile_dir",
                                      "state"}));
  EXPECT_EQ(set["engines"]["1"]["pid"], 11122);
  EXPECT_EQ(set["engines"]["1"]["n"], 1);
}

TEST(ClusterFile, SshEngineSetLayout) {
  auto r = sample("ssh");
  auto& e = r.sets[0].engines[0].second;
  e.hostname = "host1";
  e.user = "me";
  e.remote_output_file = ".ipython/profile_default/log/x.log";
  auto j = r.to_json();
  const auto& set = j["engines"]["sets"]["1795689981"];
  EXPECT_EQ(keys(set), (std::vector<std::string>{"cluster_id", "engines", "hostname", "n", "pid",
                                                 "profile_dir", "remote_profile_dir",
                                                 "remote_python", "scp_args", "scp_cmd",
                                                 "ssh_args", "ssh_cmd", "state", "user"}));
  EXPECT_EQ(keys(set["engines"]["0"]),
            (std::vector<std::string>{"cluster_id", "hostname", "n", "output_file", "pid",
                                      "profile_dir", "remote_output_file", "remote_profile_dir",
                                      "remote_python", "scp_args", "scp_cmd", "ssh_args",
                                      "ssh_cmd", "state", "user"}));
  EXPECT_EQ(set["engines"]["0"]["ssh_cmd"].dump(), R"(["ssh"])");
}

TEST(ClusterFile, StoppedPartsAreOmitted) {
  auto r = sample();
  r.controller->state = "after";
  r.sets[0].set.state = "after";
  auto j = r.to_json();
  EXPECT_FALSE(j.contains("controller"));
  EXPECT_TRUE(j["engines"]["sets"].empty());
  EXPECT_FALSE(r.any_running());
}

TEST(ClusterFile, PythonJsonDumpsSeparators) {
  nlohmann::ordered_json j = {{"a", 1}, {"b", {1.0, "x", nullptr, true}}, {"c", "é"}};
  EXPECT_EQ(python_json_dumps(j), R"({"a": 1, "b": [1.0, "x", null, true], "c": "\u00e9"})");
  auto text = python_json_dumps(sample().to_json());
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_NE(text.find(R"("delay": 1.0, "n": 2, )"), std::string::npos);
}

TEST(ClusterFile, RoundTripAndTolerantRead) {
  auto r = sample();
  auto back = ClusterRecord::from_json(nlohmann::json::parse(python_json_dumps(r.to_json())));
  EXPECT_EQ(python_json_dumps(back.to_json()), python_json_dumps(r.to_json()));
  EXPECT_EQ(back.engine_count(), 2);
  // A file Python rewrote with extra keys still reads.
  auto j = nlohmann::json::parse(python_json_dumps(r.to_json()));
  j["cluster"]["extra"] = 5;
  j["engines"]["sets"]["1795689981"]["engines"]["0"]["whatever"] = "x";
  EXPECT_NO_THROW(ClusterRecord::from_json(j));
}

TEST(ClusterFile, RejectsWhatPythonRejects) {
  EXPECT_THROW(ClusterRecord::from_json(nlohmann::json::array()), std::runtime_error);
  EXPECT_THROW(ClusterRecord::from_json({{"cluster", {{"cluster_id", "x"}}}}), std::runtime_error);
  auto j = nlohmann::json::parse(python_json_dumps(sample().to_json()));
  j["engines"]["sets"]["1795689981"].erase("engines");
  EXPECT_THROW(ClusterRecord::from_json(j), std::runtime_error);
}

TEST(ClusterFile, WriteReadAndDiscover) {
  auto dir = std::filesystem::temp_directory_path() / ("ipp-cf-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "security");
  auto path = dir / "security" / "cluster-abc.json";
  write_cluster_file(path, sample());
  auto back = read_cluster_file(path);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->cluster_id, "abc");
  EXPECT_EQ(back->controller->pid, 11080);
  auto files = cluster_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(cluster_id_from_file(files[0]), "abc");
  EXPECT_EQ(cluster_id_from_file("cluster-.json"), "");
  EXPECT_FALSE(read_cluster_file(dir / "security" / "cluster-none.json").has_value());
  std::ofstream(dir / "security" / "cluster-bad.json") << "{not json";
  EXPECT_THROW(read_cluster_file(dir / "security" / "cluster-bad.json"), std::runtime_error);
  // Written private; a copy opened to others is made private again when read.
  using std::filesystem::perms;
  const auto mode = [](const std::filesystem::path& p) {
    return std::filesystem::status(p).permissions() & perms::mask;
  };
  EXPECT_EQ(mode(files[0]), perms::owner_read | perms::owner_write);
  std::filesystem::permissions(files[0], perms::group_read | perms::others_read,
                               std::filesystem::perm_options::add);
  ASSERT_TRUE(read_cluster_file(files[0]).has_value());
  EXPECT_EQ(mode(files[0]), perms::owner_read | perms::owner_write);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ipp::cluster
