// LocalControllerLauncher: ipcontroller as a child process of ipcluster.
#include "factory.hpp"
#include "local_process.hpp"

#include <ipp/cluster/batch_template.hpp>

namespace ipp::cluster {

namespace {

class LocalController final : public ControllerLauncher {
 public:
  LocalController(const ClusterSettings& s, LaunchContext ctx) : s_(s), ctx_(std::move(ctx)) {}

  std::string class_name() const override {
    return "ipyparallel.cluster.launcher.LocalControllerLauncher";
  }

  void start() override {
    SpawnSpec spec;
    spec.argv = s_.controller_cmd;
    spec.argv.push_back("--profile-dir=" + ctx_.profile_dir);
    if (!ctx_.cluster_id.empty()) spec.argv.push_back("--cluster-id=" + ctx_.cluster_id);
    if (!s_.controller_ip.empty()) spec.argv.push_back("--ip=" + s_.controller_ip);
    if (!s_.controller_location.empty()) {
      spec.argv.push_back("--location=" + s_.controller_location);
    }
    spec.argv.insert(spec.argv.end(), s_.controller_args.begin(), s_.controller_args.end());
    spec.argv.insert(spec.argv.end(), s_.cluster_controller_args.begin(),
                     s_.cluster_controller_args.end());
    spec.env = ctx_.environment;
    spec.env["IPP_PROFILE_DIR"] = ctx_.profile_dir;
    spec.env["IPP_CLUSTER_ID"] = ctx_.cluster_id;
    spec.output_file =
        std::filesystem::path(ctx_.profile_dir) / "log" /
        ("ipcontroller-" + ctx_.cluster_id + "-" + std::to_string(::getpid()) + ".log");
    ctx_.log->info("Starting controller: {}", shlex_join(spec.argv));
    try {
      child_.start(spec);
    } catch (const std::exception& e) {
      throw LaunchError(std::string("Controller failed to start: ") + e.what() +
                        " (set c.ControllerLauncher.controller_cmd)");
    }
    ctx_.log->info("Controller started (pid {}), output in {}", child_.pid(), child_.output_file());
  }

  std::vector<LauncherEvent> poll(TimePoint) override {
    auto code = child_.check_exit();
    if (!code) return {};
    if (!ready_) return {{LauncherEvent::Kind::Stopped, 1, failure(), true}};
    return {{LauncherEvent::Kind::Stopped, 1, "Controller stopped (" + describe_exit(*code) + ")",
             *code != 0}};
  }

  void ready() override { ready_ = true; }

  std::string timeout_message(double seconds) override {
    return "The controller did not become ready within " +
           std::to_string(static_cast<int>(seconds)) +
           " s (no connection files, or no reply on its registration port). Controller log " +
           child_.output_file() + ":\n" + indent_text(tail_file(child_.output_file(), 20));
  }

  void signal(int signo) override { child_.signal(signo); }

  void stop() override {
    if (!child_.running()) return;
    ctx_.log->info("Stopping controller");
    child_.stop();
    ctx_.log->info("Controller stopped: {{'pid': {}}}", child_.pid());
  }

  bool running() const override { return child_.running(); }
  std::string output_tail(std::size_t lines) override {
    return indent_text(tail_file(child_.output_file(), lines));
  }

  LauncherState state() const override {
    LauncherState st;
    st.cluster_id = ctx_.cluster_id;
    st.profile_dir = ctx_.profile_dir;
    st.pid = child_.pid();
    st.output_file = child_.output_file();
    st.state = child_.running() ? "running" : (child_.pid() > 0 ? "after" : "before");
    return st;
  }

 private:
  std::string failure() const {
    std::string msg = "The controller failed to start";
    if (child_.exit_code()) msg += " (" + describe_exit(*child_.exit_code()) + ")";
    msg += "; it wrote no connection files, so no engines were started.";
    auto tail = tail_file(child_.output_file(), 20);
    if (!tail.empty()) {
      msg +=
          "\nLast lines of the controller log " + child_.output_file() + ":\n" + indent_text(tail);
    }
    return msg;
  }

  const ClusterSettings& s_;
  LaunchContext ctx_;
  LocalChild child_;
  bool ready_ = false;
};

}  // namespace

std::unique_ptr<ControllerLauncher> make_local_controller(const ClusterSettings& s,
                                                          const LaunchContext& ctx) {
  return std::make_unique<LocalController>(s, ctx);
}

}  // namespace ipp::cluster
