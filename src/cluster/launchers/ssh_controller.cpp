// SSHControllerLauncher: the controller on another host, started over libssh; until it is ready
// its connection files are fetched (SFTP) every second, afterwards it is checked every 15 s.
#include "factory.hpp"
#include "local_process.hpp"
#include "ssh_engines.hpp"
#include "ssh_remote.hpp"

#include <ipp/cluster/batch_template.hpp>
#include <ipp/config/connection_info.hpp>

namespace ipp::cluster {

namespace {

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class SshController final : public ControllerLauncher {
 public:
  SshController(const ClusterSettings& s, LaunchContext ctx) : s_(s), ctx_(std::move(ctx)) {}

  std::string class_name() const override {
    return "ipyparallel.cluster.launcher.SSHControllerLauncher";
  }

  void start() override {
    const auto& c = s_.ssh_controller;
    const std::string& rpd = c.host.remote_profile_dir;
    target_ = target_for(c.host.user, c.host.hostname, c.host.port, c.host.strict_host_key_checking,
                         c.host.identity_file, c.host.ssh_timeout);
    const auto sec = std::filesystem::path(ctx_.profile_dir) / "security";
    const std::string prefix =
        ctx_.cluster_id.empty() ? "ipcontroller" : "ipcontroller-" + ctx_.cluster_id;
    const auto client = sec / (prefix + "-client.json");
    const auto engine = sec / (prefix + "-engine.json");
    if (c.to_fetch) {
      fetch_ = *c.to_fetch;
    } else {
      fetch_ = connection_file_pairs(client, engine, rpd, /*fetch=*/true);
      // Copies left from an earlier run would point engines at a controller that is gone.
      std::error_code ec;
      std::filesystem::remove(client, ec);
      std::filesystem::remove(engine, ec);
    }
    RemoteProcessParams p;
    p.env = {s_.environment.begin(), s_.environment.end()};
    p.env.emplace_back("IPP_PROFILE_DIR", rpd);
    p.env.emplace_back("IPP_CLUSTER_ID", ctx_.cluster_id);
    p.argv = remote_controller_argv(s_);
    p.output_file = remote_output_file(rpd, c.controller_cmd, wall_seconds());
    const std::string where = target_.describe();
    ctx_.log->info("Starting controller on {}: {}", where, shlex_join(p.argv));
    auto conn = SshConnection::connect(target_);
    if (!conn.ok()) throw LaunchError(conn.error().message);
    conn_ = std::move(*conn);
    if (auto sent = send_files(*conn_, c.to_send); !sent.ok()) {
      throw LaunchError(sent.error().message);
    }
    auto pid = start_detached(*conn_, p, rpd, "the controller");
    if (!pid.ok()) throw LaunchError(pid.error().message);
    pid_ = *pid;
    output_file_ = p.output_file;
    running_ = true;
    ctx_.log->info("Controller started on {} (remote pid {}), output in {}:{}", where, pid_, where,
                   output_file_);
  }

  std::vector<LauncherEvent> poll(TimePoint now) override {
    std::vector<LauncherEvent> out;
    if (!running_) return out;
    if (now - last_check_ < (ready_ ? std::chrono::seconds(15) : std::chrono::seconds(1))) {
      return out;
    }
    last_check_ = now;
    auto* conn = connection();
    if (conn == nullptr) return out;  // the readiness timeout reports a host that stays away
    auto alive = remote_alive(*conn, {pid_});
    if (!alive.ok()) {
      if (!warned_) {
        out.push_back({LauncherEvent::Kind::Warning, 0,
                       "Cannot check the controller on " + target_.describe() + ": " +
                           alive.error().message});
      }
      warned_ = true;
      conn_.reset();
      return out;
    }
    if (alive->empty()) {
      running_ = false;
      out.push_back({LauncherEvent::Kind::Stopped, 1,
                     ready_ ? "Controller on " + target_.describe() + " (remote pid " +
                                  std::to_string(pid_) + ") stopped"
                            : failure("exited before it was ready"),
                     true});
      return out;
    }
    if (!ready_) fetch_files(*conn, out);
    return out;
  }

  void ready() override { ready_ = true; }

  std::string timeout_message(double seconds) override {
    return failure("did not become ready within " + std::to_string(static_cast<int>(seconds)) +
                   " s (no connection files fetched, or no reply on its registration port; "
                   "engines and this host must reach the address in them, e.g. "
                   "controller_args = ['--ip=*'])");
  }

  void signal(int) override {}

  void stop() override {
    if (running_) {
      ctx_.log->info("Stopping controller on {} (remote pid {})", target_.describe(), pid_);
      Status st = Ok{};
      for (int attempt = 0; attempt < 2; ++attempt) {
        auto* conn = connection();
        if (conn == nullptr) {
          st = make_error(ErrorCode::Remote, target_.describe() + ": unreachable");
          continue;
        }
        st = remote_kill(*conn, {pid_});
        if (st.ok()) break;
        conn_.reset();
      }
      if (st.ok()) {
        ctx_.log->info("Controller stopped: {{'pid': {}, 'host': '{}'}}", pid_, target_.describe());
      } else {
        ctx_.log->error("Could not stop the controller on {} (remote pid {}): {}",
                        target_.describe(), pid_, st.error().message);
      }
      running_ = false;
    }
    // The fetched copies describe a controller that is gone.
    if (!s_.ssh_controller.to_fetch) {
      std::error_code ec;
      for (const auto& [local, text] : got_) std::filesystem::remove(local, ec);
    }
  }

  bool running() const override { return running_; }
  std::string output_tail(std::size_t) override { return ""; }

  LauncherState state() const override {
    const auto& c = s_.ssh_controller;
    LauncherState st;
    st.cluster_id = ctx_.cluster_id;
    st.profile_dir = ctx_.profile_dir;
    st.state = running_ ? "running" : (pid_ > 0 ? "after" : "before");
    st.pid = pid_;
    st.output_file = (std::filesystem::path(ctx_.profile_dir) / "log" /
                      (launcher_identifier("ipcontroller", ctx_.cluster_id, "") + ".log"))
                         .string();
    st.hostname = c.host.hostname;
    st.user = c.host.user;
    st.remote_output_file = output_file_;
    st.remote_profile_dir = c.host.remote_profile_dir;
    st.remote_python = c.host.remote_python;
    if (c.host.port > 0) {
      st.ssh_args = {"-p", std::to_string(c.host.port)};
      st.scp_args = {"-P", std::to_string(c.host.port)};
    }
    return st;
  }

 private:
  SshConnection* connection() {
    if (!conn_) {
      auto c = SshConnection::connect(target_);
      if (!c.ok()) {
        if (!warned_) {
          ctx_.log->warn("Cannot reach the controller host: {}", c.error().message);
        }
        warned_ = true;
        return nullptr;
      }
      conn_ = std::move(*c);
    }
    return conn_.get();
  }

  std::string failure(const std::string& what) {
    const std::string where = target_.describe();
    std::string msg = "The controller on " + where + " (remote pid " + std::to_string(pid_) + ") " +
                      what + "; no engines were started.";
    std::string tail;
    if (auto* conn = connection()) tail = remote_tail(*conn, output_file_, 20);
    if (!tail.empty()) {
      msg += "\nLast lines of its log " + where + ":" + output_file_ + ":\n" + indent_text(tail);
    } else {
      msg += "\nIts log " + where + ":" + output_file_ + " is empty or unreadable.";
    }
    return msg;
  }

  void fetch_files(SshConnection& conn, std::vector<LauncherEvent>& out) {
    for (const auto& [remote, local] : fetch_) {
      auto got = conn.get_file(remote);
      if (!got.ok()) {
        ctx_.log->debug("fetching {}: {}", remote, got.error().message);
        conn_.reset();
        return;
      }
      if (!*got || (*got)->empty() || got_[local] == **got) continue;
      if (std::filesystem::path(local).extension() == ".json" && !nlohmann::json::accept(**got)) {
        continue;  // still being written
      }
      try {
        std::filesystem::path dest(local);
        if (dest.has_parent_path() && !std::filesystem::exists(dest.parent_path())) {
          std::filesystem::create_directories(dest.parent_path());
          std::filesystem::permissions(dest.parent_path(), std::filesystem::perms::owner_all);
        }
        ipp::config::write_file_atomic(
            dest, **got, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
      } catch (const std::exception& e) {
        out.push_back({LauncherEvent::Kind::Stopped, 1,
                       "Cannot store the controller's file " + local + ": " + e.what(), true});
        return;
      }
      got_[local] = **got;
      ctx_.log->info("Fetched {}:{} to {}", target_.describe(), remote, local);
    }
  }

  const ClusterSettings& s_;
  LaunchContext ctx_;
  SshTarget target_;
  std::unique_ptr<SshConnection> conn_;
  long pid_ = -1;
  std::string output_file_;  // remote
  bool running_ = false;
  bool ready_ = false;
  bool warned_ = false;
  FilePairs fetch_;                         // (remote, local)
  std::map<std::string, std::string> got_;  // local path -> contents written
  TimePoint last_check_{};
};

}  // namespace

std::unique_ptr<ControllerLauncher> make_ssh_controller(const ClusterSettings& s,
                                                        const LaunchContext& ctx) {
  return std::make_unique<SshController>(s, ctx);
}

}  // namespace ipp::cluster
