// LocalEngineSetLauncher: n engine processes on this host, `delay` apart.
#include "factory.hpp"
#include "local_process.hpp"

#include <ipp/cluster/batch_template.hpp>

#include <signal.h>

#include <fstream>
#include <map>
#include <sstream>

namespace ipp::cluster {

namespace {

class LocalEngineSet final : public EngineSetLauncher {
 public:
  LocalEngineSet(const ClusterSettings& s, LaunchContext ctx) : s_(s), ctx_(std::move(ctx)) {}

  std::string class_name() const override {
    return "ipyparallel.cluster.launcher.LocalEngineSetLauncher";
  }

  void start(int n) override {
    std::ifstream in(std::filesystem::path(ctx_.profile_dir) / "security" /
                     (ctx_.cluster_id.empty()
                          ? "ipcontroller-engine.json"
                          : "ipcontroller-" + ctx_.cluster_id + "-engine.json"));
    std::stringstream engine_json;
    engine_json << in.rdbuf();
    n_ = n;
    next_ = 0;
    spec_ = SpawnSpec{};
    spec_.argv = s_.engine_cmd;
    spec_.argv.push_back("--profile-dir=" + ctx_.profile_dir);
    if (!ctx_.cluster_id.empty()) spec_.argv.push_back("--cluster-id=" + ctx_.cluster_id);
    spec_.argv.insert(spec_.argv.end(), s_.engine_args.begin(), s_.engine_args.end());
    spec_.env = ctx_.environment;
    spec_.env["IPP_PROFILE_DIR"] = ctx_.profile_dir;
    spec_.env["IPP_CLUSTER_ID"] = ctx_.cluster_id;
    if (!engine_json.str().empty()) spec_.env["IPP_CONNECTION_INFO"] = engine_json.str();
    ctx_.log->debug("Engine command: {}", shlex_join(spec_.argv));
    // The first engine starts now (so a command that cannot start fails the launch at once),
    // the others from poll(), `delay` apart, without blocking the runner.
    start_next(std::chrono::steady_clock::now());
  }

  std::vector<LauncherEvent> poll(TimePoint now) override {
    std::vector<LauncherEvent> out;
    while (next_ < n_ && now >= next_due_) {
      try {
        start_next(now);
        out.push_back({LauncherEvent::Kind::Info, 0, ""});  // the cluster file lists it
      } catch (const std::exception& e) {
        out.push_back({LauncherEvent::Kind::Stopped, n_ - next_,
                       "engines " + std::to_string(next_) + ".." + std::to_string(n_ - 1) +
                           " not started: " + e.what(),
                       true});
        n_ = next_;
      }
    }
    for (auto& [key, child] : engines_) {
      auto code = child.check_exit();
      if (!code) continue;
      LauncherEvent e{LauncherEvent::Kind::Stopped, 1,
                      "engine " + key + " stopped: " + describe_exit(*code), *code != 0};
      if (auto t = started_.find(key); t != started_.end()) {
        e.uptime_s = std::chrono::duration<double>(now - t->second).count();
      }
      out.push_back(std::move(e));
    }
    return out;
  }

  void signal(int signo) override {
    for (auto& [key, child] : engines_) child.signal(signo);
  }

  void stop() override {
    n_ = next_;  // no more starts
    stopped_ = true;
    for (auto& [key, child] : engines_) child.signal(SIGTERM);
    for (auto& [key, child] : engines_) child.stop();
  }

  bool start_more(int n) override {
    if (stopped_) return false;
    n_ += n;
    return true;
  }

  int running() const override {
    int count = n_ - next_;
    for (const auto& [key, child] : engines_) count += child.running() ? 1 : 0;
    return count;
  }

  std::string output_tail(std::size_t lines) override {
    std::string out;
    for (const auto& [key, child] : engines_) {
      auto t = tail_file(child.output_file(), lines);
      if (!t.empty()) out += "Output for engine " + key + ":\n" + indent_text(t);
    }
    return out;
  }

  LauncherState state() const override {
    LauncherState st;
    st.cluster_id = ctx_.cluster_id;
    st.profile_dir = ctx_.profile_dir;
    st.pid = -1;
    st.n = running();
    st.state = running() > 0 ? "running" : "after";
    return st;
  }

  std::vector<std::pair<std::string, LauncherState>> engine_states() const override {
    std::vector<std::pair<std::string, LauncherState>> out;
    for (const auto& [key, child] : engines_) {
      if (!child.running()) continue;
      LauncherState st;
      st.cluster_id = ctx_.cluster_id;
      st.profile_dir = ctx_.profile_dir;
      st.pid = child.pid();
      st.output_file = child.output_file();
      out.emplace_back(key, st);
    }
    return out;
  }

 private:
  void start_next(TimePoint now) {
    SpawnSpec spec = spec_;
    const std::string key = std::to_string(next_);
    spec.output_file = std::filesystem::path(ctx_.profile_dir) / "log" /
                       ("ipengine-" + ctx_.cluster_id + "-" + ctx_.set_id + "-" + key + ".log");
    LocalChild child;
    ++next_;
    child.start(spec);
    engines_.emplace_back(key, std::move(child));
    started_[key] = now;
    next_due_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(s_.engine_delay));
  }

  const ClusterSettings& s_;
  LaunchContext ctx_;
  SpawnSpec spec_;
  int n_ = 0;
  int next_ = 0;
  bool stopped_ = false;
  TimePoint next_due_{};
  std::vector<std::pair<std::string, LocalChild>> engines_;
  std::map<std::string, TimePoint> started_;
};

}  // namespace

std::unique_ptr<EngineSetLauncher> make_local_engines(const ClusterSettings& s,
                                                      const LaunchContext& ctx) {
  return std::make_unique<LocalEngineSet>(s, ctx);
}

}  // namespace ipp::cluster
