// MPIEngineSetLauncher and MPIControllerLauncher: `mpi_cmd -n N mpi_args program --mpi args`,
// one local mpiexec process that owns its ranks.
#include "factory.hpp"
#include "local_process.hpp"

#include <ipp/cluster/batch_template.hpp>

#include <signal.h>

#include <sstream>

namespace ipp::cluster {

namespace {

// The blocks mpiexec prints about its own failures (Open MPI's "-----" banners, MPICH's "====="
// blocks), as Python's MPILauncher picks them out of the output.
std::string mpiexec_error_output(const std::string& output) {
  std::istringstream in(output);
  std::string line, out;
  bool in_mpi = false, after_mpi = false;
  int tail = 0;
  while (std::getline(in, line)) {
    if (line.rfind("=======", 0) == 0) {
      if (in_mpi) {
        after_mpi = true;
        tail = 2;
        in_mpi = false;
      } else {
        in_mpi = true;
      }
    } else if (!in_mpi && line.rfind("-----", 0) == 0) {
      in_mpi = true;
    }
    if (in_mpi) {
      out += line + "\n";
    } else if (after_mpi) {
      if (tail-- <= 0) break;
      out += line + "\n";
    }
  }
  return out;
}

class MpiLauncherBase {
 protected:
  MpiLauncherBase(const MpiSettings& mpi, LaunchContext ctx) : mpi_(mpi), ctx_(std::move(ctx)) {}

  void launch(int n, const std::vector<std::string>& program, const std::string& name,
              const std::map<std::string, std::string>& extra_env) {
    n_ = n;
    SpawnSpec spec;
    spec.argv = mpi_.mpi_cmd;
    spec.argv.push_back("-n");
    spec.argv.push_back(std::to_string(n));
    spec.argv.insert(spec.argv.end(), mpi_.mpi_args.begin(), mpi_.mpi_args.end());
    spec.argv.insert(spec.argv.end(), program.begin(), program.end());
    spec.env = ctx_.environment;
    spec.env["IPP_PROFILE_DIR"] = ctx_.profile_dir;
    spec.env["IPP_CLUSTER_ID"] = ctx_.cluster_id;
    for (const auto& [k, v] : extra_env) spec.env[k] = v;
    spec.output_file = std::filesystem::path(ctx_.profile_dir) / "log" /
                       (launcher_identifier(name, ctx_.cluster_id, ctx_.set_id) + ".log");
    ctx_.log->info("Starting {}", shlex_join(spec.argv));
    try {
      child_.start(spec);
    } catch (const std::exception& e) {
      throw LaunchError(std::string(e.what()) + " (set c.MPILauncher.mpi_cmd)");
    }
    ctx_.log->info("mpiexec started (pid {}), output in {}", child_.pid(), child_.output_file());
  }

  // The Stopped event once mpiexec has exited.
  std::optional<LauncherEvent> check(const std::string& what) {
    auto code = child_.check_exit();
    if (!code) return std::nullopt;
    std::string msg = what + " (mpiexec pid " + std::to_string(child_.pid()) +
                      ") stopped: " + describe_exit(*code);
    if (*code != 0) {
      auto mpi_out = mpiexec_error_output(tail_file(child_.output_file(), 200));
      if (!mpi_out.empty()) msg += "\nmpiexec error output:\n" + indent_text(mpi_out);
    }
    return LauncherEvent{LauncherEvent::Kind::Stopped, n_, msg, *code != 0};
  }

  std::string tail(std::size_t lines, const std::string& label) const {
    auto t = tail_file(child_.output_file(), lines);
    return t.empty()
               ? ""
               : "Output for " + label + " (" + child_.output_file() + "):\n" + indent_text(t);
  }

  LauncherState base_state() const {
    LauncherState st;
    st.cluster_id = ctx_.cluster_id;
    st.profile_dir = ctx_.profile_dir;
    st.pid = child_.pid();
    st.n = n_;
    st.output_file = child_.output_file();
    st.state = child_.running() ? "running" : (child_.pid() > 0 ? "after" : "before");
    return st;
  }

  const MpiSettings& mpi_;
  LaunchContext ctx_;
  LocalChild child_;
  int n_ = 0;
};

class MpiEngineSet final : public EngineSetLauncher, MpiLauncherBase {
 public:
  MpiEngineSet(const ClusterSettings& s, LaunchContext ctx)
      : MpiLauncherBase(s.mpi_engines, std::move(ctx)), s_(s) {}

  std::string class_name() const override {
    return "ipyparallel.cluster.launcher.MPIEngineSetLauncher";
  }

  void start(int n) override {
    std::vector<std::string> program = s_.engine_cmd;
    program.push_back("--mpi");
    program.push_back("--profile-dir=" + ctx_.profile_dir);
    if (!ctx_.cluster_id.empty()) program.push_back("--cluster-id=" + ctx_.cluster_id);
    program.insert(program.end(), s_.engine_args.begin(), s_.engine_args.end());
    launch(n, program, "ipengine", {});
  }

  std::vector<LauncherEvent> poll(TimePoint) override {
    auto ev = check("MPI engines");
    if (!ev) return {};
    return {*ev};
  }
  void signal(int signo) override { child_.signal(signo); }
  void stop() override {
    if (child_.running()) ctx_.log->info("Stopping mpiexec (pid {})", child_.pid());
    child_.stop();
  }
  int running() const override { return child_.running() ? n_ : 0; }
  std::string output_location() const override { return child_.output_file(); }
  std::string output_tail(std::size_t lines) override { return tail(lines, "the MPI engines"); }
  LauncherState state() const override { return base_state(); }

 private:
  const ClusterSettings& s_;
};

class MpiController final : public ControllerLauncher, MpiLauncherBase {
 public:
  MpiController(const ClusterSettings& s, LaunchContext ctx)
      : MpiLauncherBase(s.mpi_controller, std::move(ctx)), s_(s) {}

  std::string class_name() const override {
    return "ipyparallel.cluster.launcher.MPIControllerLauncher";
  }

  void start() override {
    std::vector<std::string> program = s_.controller_cmd;
    program.push_back("--profile-dir=" + ctx_.profile_dir);
    if (!ctx_.cluster_id.empty()) program.push_back("--cluster-id=" + ctx_.cluster_id);
    if (!s_.controller_ip.empty()) program.push_back("--ip=" + s_.controller_ip);
    if (!s_.controller_location.empty()) program.push_back("--location=" + s_.controller_location);
    program.insert(program.end(), s_.controller_args.begin(), s_.controller_args.end());
    program.insert(program.end(), s_.cluster_controller_args.begin(),
                   s_.cluster_controller_args.end());
    launch(1, program, "ipcontroller", {});
  }

  std::vector<LauncherEvent> poll(TimePoint) override {
    auto ev = check("The controller");
    if (!ev) return {};
    if (!ready_) {
      ev->message += "; it wrote no connection files, so no engines were started.\n" +
                     tail(20, "the controller");
    }
    return {*ev};
  }
  void ready() override { ready_ = true; }
  std::string timeout_message(double seconds) override {
    return "The controller (mpiexec pid " + std::to_string(child_.pid()) +
           ") did not become ready within " + std::to_string(static_cast<int>(seconds)) +
           " s (no connection files, or no reply on its registration port).\n" +
           tail(20, "the controller");
  }
  void signal(int signo) override { child_.signal(signo); }
  void stop() override {
    if (child_.running()) ctx_.log->info("Stopping controller (mpiexec pid {})", child_.pid());
    child_.stop();
  }
  bool running() const override { return child_.running(); }
  std::string output_location() const override { return child_.output_file(); }
  std::string output_tail(std::size_t lines) override { return tail(lines, "the controller"); }
  LauncherState state() const override {
    LauncherState st = base_state();
    st.n = 1;
    return st;
  }

 private:
  const ClusterSettings& s_;
  bool ready_ = false;
};

}  // namespace

std::unique_ptr<EngineSetLauncher> make_mpi_engines(const ClusterSettings& s,
                                                    const LaunchContext& ctx) {
  return std::make_unique<MpiEngineSet>(s, ctx);
}

std::unique_ptr<ControllerLauncher> make_mpi_controller(const ClusterSettings& s,
                                                        const LaunchContext& ctx) {
  return std::make_unique<MpiController>(s, ctx);
}

}  // namespace ipp::cluster
