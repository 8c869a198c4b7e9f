// The MPI and batch parts of ClusterSettings: launcher names, config-class inheritance, Python's
// defaults per system.
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/options.hpp>
#include <ipp/config/config_file.hpp>
#include <ipp/config/error.hpp>

#include <gtest/gtest.h>

#include <fstream>

namespace ipp::cluster {
namespace {

ClusterSettings hpc_settings(const std::string& json, std::vector<std::string> args = {"start"}) {
  ipp::config::LoadedConfig cfg;
  cfg.tree = ipp::config::ConfigTree::parse(json);
  ipp::config::fold_legacy(cfg);
  args.insert(args.begin(), "ipcluster");
  auto r = parse_command_line(args);
  EXPECT_TRUE(r.options);
  return resolve_settings(cfg, *r.options, "/home/u/.ipython/profile_x");
}

TEST(HpcSettings, LauncherNamesShortClassAndDeprecated) {
  for (const char* name : {"slurm", "Slurm", "SlurmEngineSetLauncher",
                           "ipyparallel.cluster.launcher.SlurmEngineSetLauncher"}) {
    auto s =
        hpc_settings(std::string(R"({"Cluster": {"engine_launcher_class": ")") + name + "\"}}");
    EXPECT_EQ(s.engine_launcher, "slurm") << name;
    EXPECT_EQ(s.batch_engines.submit_command, std::vector<std::string>{"sbatch"});
    EXPECT_EQ(s.batch_engines.batch_file_name, "slurm_engine.sbatch");
  }
  auto mpi = hpc_settings(R"({"Cluster": {"engine_launcher_class": "MPIExecEngineSetLauncher"}})");
  EXPECT_EQ(mpi.engine_launcher, "mpi");
  EXPECT_EQ(mpi.mpi_engines.mpi_cmd, std::vector<std::string>{"mpiexec"});
  // The 6.x-era names, with the 6.x class names.
  auto legacy =
      hpc_settings(R"({"IPClusterEngines": {"engine_launcher_class": "LSFEngineSetLauncher"},
      "IPClusterStart": {"controller_launcher_class": "HTCondorControllerLauncher"}})");
  EXPECT_EQ(legacy.engine_launcher, "lsf");
  EXPECT_EQ(legacy.controller_launcher, "htcondor");
  EXPECT_EQ(legacy.batch_controller.job_id_regexp_group, 1);
  auto cli = hpc_settings("{}", {"start", "--engines=pbs", "--controller=sge"});
  EXPECT_EQ(cli.engine_launcher, "pbs");
  EXPECT_EQ(cli.controller_launcher, "sge");
  EXPECT_EQ(cli.batch_controller.batch_file_name, "sge_controller");
  EXPECT_EQ(cli.batch_controller.status_command, std::vector<std::string>{"qstat"});
}

TEST(HpcSettings, AdaptiveBatchEnginesRunOneEnginePerJobUnlessTold) {
  auto s = hpc_settings("{}", {"start", "--engines=slurm", "--adapt", "--max=4"});
  EXPECT_EQ(s.batch_engines.engines_per_job, 1);
  auto told = hpc_settings(R"({"SlurmEngineSetLauncher": {"engines_per_job": 2}})",
                           {"start", "--engines=slurm", "--adapt", "--max=4"});
  EXPECT_EQ(told.batch_engines.engines_per_job, 2);
  // without --adapt: one job for all, as before
  EXPECT_EQ(hpc_settings("{}", {"start", "--engines=slurm"}).batch_engines.engines_per_job, 0);
}

TEST(HpcSettings, TraitsFollowPythonsClassHierarchy) {
  // SGELauncher derives from PBSLauncher; the most derived class wins.
  auto s = hpc_settings(R"({"Cluster": {"engine_launcher_class": "sge"},
      "PBSLauncher": {"queue": "from-pbs", "submit_command": ["my-qsub"]},
      "SGEEngineSetLauncher": {"queue": "from-sge"},
      "BatchSystemLauncher": {"namespace": {"mem": "4G"}},
      "EngineLauncher": {"engine_args": ["--log-level=10"]}})");
  EXPECT_EQ(s.batch_engines.queue, "from-sge");
  EXPECT_EQ(s.batch_engines.submit_command, std::vector<std::string>{"my-qsub"});
  EXPECT_EQ(s.batch_engines.user_namespace.value("mem", ""), "4G");
  EXPECT_EQ(s.engine_args, std::vector<std::string>{"--log-level=10"});
}

TEST(HpcSettings, SlurmOptionsMpiAndTemplateFile) {
  const std::string file = testing::TempDir() + "/tmpl.sh";
  std::ofstream(file) << "#!/bin/sh\n{program_and_args}\n";
  auto s = hpc_settings(R"({"Cluster": {"engine_launcher_class": "slurm",
        "controller_launcher_class": "mpi"},
      "SlurmLauncher": {"account": "acct", "timelimit": 30, "qos": "low"},
      "SlurmEngineSetLauncher": {"batch_template_file": ")" +
                        file + R"(",
                                 "engines_per_job": 4},
      "MPILauncher": {"mpi_args": ["--oversubscribe"]},
      "MPIControllerLauncher": {"mpi_cmd": ["mpirun"]}})");
  EXPECT_EQ(s.batch_engines.account, "acct");
  EXPECT_EQ(s.batch_engines.timelimit, "30");
  EXPECT_EQ(s.batch_engines.qos, "low");
  EXPECT_EQ(s.batch_engines.batch_template, "#!/bin/sh\n{program_and_args}\n");
  EXPECT_EQ(s.batch_engines.engines_per_job, 4);
  EXPECT_EQ(s.mpi_controller.mpi_cmd, std::vector<std::string>{"mpirun"});
  EXPECT_EQ(s.mpi_controller.mpi_args, std::vector<std::string>{"--oversubscribe"});
}

TEST(HpcSettings, ErrorsNameTheSetting) {
  auto message = [](const std::string& json) {
    try {
      (void)hpc_settings(json);
    } catch (const ipp::config::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"Cluster": {"engine_launcher_class": "slurm"},
                        "SlurmEngineSetLauncher": {"batch_template_file": "/no/such"}})")
                .find("c.SlurmEngineSetLauncher.batch_template_file: cannot read '/no/such'"),
            std::string::npos);
  EXPECT_NE(message(R"({"Cluster": {"engine_launcher_class": "batch"}})").find("submit_command"),
            std::string::npos);
  EXPECT_NE(message(R"({"Cluster": {"engine_launcher_class": "pbs"},
                        "PBSEngineSetLauncher": {"engines_per_job": -1}})")
                .find("engines_per_job"),
            std::string::npos);
}

}  // namespace
}  // namespace ipp::cluster
