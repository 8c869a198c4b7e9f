// SSHEngineSetLauncher (engines on the hosts of c.SSHEngineSetLauncher.engines) and
// SSHProxyEngineSetLauncher (`ipcluster engines -n N` on one host), over libssh: start the
// remote processes, check them with `kill -0` (every 2 s while starting or with engine restarts
// or adaptive engines on, then every 15 s), start more (replacements, or adaptive growth) on the
// hosts with free slots, fetch their output for failure messages, stop them.
//
// Each host's count in the engines dict is its capacity. Without --adapt every slot is filled
// at start, as Python does; with --adapt only -n (the adaptive minimum) are, spread over the
// hosts, and the rest wait for work.
#include "factory.hpp"
#include "local_process.hpp"
#include "ssh_engines.hpp"
#include "ssh_remote.hpp"

#include <ipp/cluster/batch_template.hpp>

#include <optional>
#include <fstream>
#include <sstream>

namespace ipp::cluster {

namespace {

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string security_file(const LaunchContext& ctx, const char* kind) {
  const std::string name = ctx.cluster_id.empty()
                               ? std::string("ipcontroller-") + kind + ".json"
                               : "ipcontroller-" + ctx.cluster_id + "-" + kind + ".json";
  return (std::filesystem::path(ctx.profile_dir) / "security" / name).string();
}

// One host and the remote processes started there.
struct RemoteHost {
  HostSpec spec;
  SshTarget target;
  std::unique_ptr<SshConnection> conn;
  std::vector<std::string> keys;  // engine keys "<host key>/<i>"
  std::vector<long> pids;
  std::vector<std::string> outputs;  // remote output files
  std::vector<bool> running;
  std::vector<TimePoint> started;
  RemoteEngineParams params;  // to start replacements (c.Cluster.engine_restart_limit)
  bool poll_warned = false;

  SshConnection* connection() {
    if (!conn) {
      auto c = SshConnection::connect(target);
      if (!c.ok()) return nullptr;
      conn = std::move(*c);
    }
    return conn.get();
  }
};

class SshEngineSet final : public EngineSetLauncher {
 public:
  SshEngineSet(const ClusterSettings& s, LaunchContext ctx, bool proxy)
      : s_(s), ctx_(std::move(ctx)), proxy_(proxy) {}

  std::string class_name() const override {
    return proxy_ ? "ipyparallel.cluster.launcher.SSHProxyEngineSetLauncher"
                  : "ipyparallel.cluster.launcher.SSHEngineSetLauncher";
  }

  void start(int n) override {
    started_ = std::chrono::steady_clock::now();
    if (proxy_) {
      start_proxy(n);
    } else {
      start_hosts(n);
    }
    if (hosts_.empty()) {
      std::string why;
      for (const auto& e : errors_) why += "\n  " + e;
      throw LaunchError("no engine could be started" +
                        (why.empty() ? std::string(" (see the errors above)") : ":" + why));
    }
  }

  std::vector<LauncherEvent> poll(TimePoint now) override {
    std::vector<LauncherEvent> out;
    // Every 2 s while starting (and with engine restarts on), then every 15 s.
    const bool starting = now - started_ <= std::chrono::duration<double>(s_.early_shutdown);
    const auto period = starting || s_.engine_restart_limit > 0 || s_.adapt
                            ? std::chrono::seconds(2)
                            : std::chrono::seconds(15);
    if (now - last_poll_ < period) return out;
    last_poll_ = now;
    for (auto& h : hosts_) {
      std::vector<long> live;
      for (std::size_t i = 0; i < h.pids.size(); ++i) {
        if (h.running[i]) live.push_back(h.pids[i]);
      }
      if (live.empty()) continue;
      auto* conn = h.connection();
      if (conn == nullptr) {
        warn_once(h, out, "cannot connect");
        continue;
      }
      auto alive = remote_alive(*conn, live);
      if (!alive.ok()) {
        warn_once(h, out, alive.error().message);
        h.conn.reset();
        continue;
      }
      for (std::size_t i = 0; i < h.pids.size(); ++i) {
        if (h.running[i] && alive->count(h.pids[i]) == 0) {
          h.running[i] = false;
          LauncherEvent e{
              LauncherEvent::Kind::Stopped, proxy_ ? n_ : 1,
              "engine " + h.keys[i] + " (remote pid " + std::to_string(h.pids[i]) + ") stopped",
              true};
          if (i < h.started.size()) {
            e.uptime_s = std::chrono::duration<double>(now - h.started[i]).count();
          }
          out.push_back(std::move(e));
        }
      }
    }
    return out;
  }

  void signal(int) override {}

  void stop() override {
    for (auto& h : hosts_) {
      std::vector<long> live;
      for (std::size_t i = 0; i < h.pids.size(); ++i) {
        if (h.running[i]) live.push_back(h.pids[i]);
      }
      if (live.empty()) continue;
      // The remote ipcluster stops its engines on TERM (each up to 5 s); give it time to.
      const auto grace = proxy_ ? std::chrono::seconds(20) : std::chrono::seconds(5);
      Status st = Ok{};
      for (int attempt = 0; attempt < 2; ++attempt) {
        auto* conn = h.connection();
        if (conn == nullptr) {
          st = make_error(ErrorCode::Remote, h.target.describe() + ": unreachable");
          continue;
        }
        st = remote_kill(*conn, live, grace);
        if (st.ok()) break;
        h.conn.reset();
      }
      if (st.ok()) {
        ctx_.log->info("Stopped {} engines on {}",
                       proxy_ ? static_cast<std::size_t>(n_) : live.size(), h.spec.key);
      } else {
        std::string pids;
        for (long pid : live) pids += (pids.empty() ? "" : " ") + std::to_string(pid);
        ctx_.log->error("Could not stop engines on {} (pids {}): {}", h.spec.key, pids,
                        st.error().message);
      }
      h.running.assign(h.running.size(), false);
    }
    stopped_ = true;
  }

  // More engines go to the hosts with the most free slots (a replacement to the host whose
  // engine stopped); beyond the hosts' capacity none is started.
  bool start_more(int n) override {
    if (proxy_) return false;
    if (stopped_) return false;
    const std::vector<int> counts = place(n);
    int placed = 0;
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
      if (counts[i] == 0) continue;
      if (auto why = start_on(hosts_[i], counts[i])) {
        ctx_.log->error("{} engines not started on {}: {}", counts[i], hosts_[i].spec.key, *why);
        continue;
      }
      placed += counts[i];
    }
    if (placed < n) {
      ctx_.log->info("{} more engines asked for, {} started (c.SSHEngineSetLauncher.engines "
                     "allows {} in all)",
                     n, placed, capacity());
    }
    return true;
  }

  int capacity() const override {
    if (proxy_) return -1;
    int total = 0;
    for (const auto& h : hosts_) total += h.spec.n;
    return total;
  }

  int running() const override {
    int count = 0;
    for (const auto& h : hosts_) {
      for (bool r : h.running) count += r ? (proxy_ ? n_ : 1) : 0;
    }
    return count;
  }

  std::string output_tail(std::size_t lines) override {
    std::string out;
    for (auto& h : hosts_) {
      auto* conn = h.connection();
      if (conn == nullptr) continue;
      for (std::size_t i = 0; i < h.outputs.size(); ++i) {
        auto t = remote_tail(*conn, h.outputs[i], static_cast<int>(lines));
        if (!t.empty()) out += "Output for engine " + h.keys[i] + ":\n" + indent_text(t);
      }
    }
    return out;
  }

  LauncherState state() const override {
    LauncherState st = set_state_;
    st.cluster_id = ctx_.cluster_id;
    st.profile_dir = ctx_.profile_dir;
    st.n = running();
    st.state = running() > 0 ? "running" : "after";
    return st;
  }

  std::vector<std::pair<std::string, LauncherState>> engine_states() const override {
    std::vector<std::pair<std::string, LauncherState>> out;
    if (proxy_) return out;
    for (const auto& h : hosts_) {
      for (std::size_t i = 0; i < h.pids.size(); ++i) {
        if (!h.running[i]) continue;
        LauncherState st;
        st.cluster_id = ctx_.cluster_id;
        st.profile_dir = ctx_.profile_dir;
        st.pid = h.pids[i];
        st.hostname = h.spec.host;
        st.user = h.spec.user;
        st.output_file =
            (std::filesystem::path(ctx_.profile_dir) / "log" / (h.keys[i] + ".log")).string();
        st.remote_output_file = h.outputs[i];
        st.remote_profile_dir = set_state_.remote_profile_dir;
        st.remote_python = s_.remote_python;
        if (h.spec.port > 0) {
          st.ssh_args = {"-p", std::to_string(h.spec.port)};
          st.scp_args = {"-P", std::to_string(h.spec.port)};
        }
        out.emplace_back(h.keys[i], st);
      }
    }
    return out;
  }

 private:
  void warn_once(RemoteHost& h, std::vector<LauncherEvent>& out, const std::string& why) {
    if (!h.poll_warned) {
      out.push_back(
          {LauncherEvent::Kind::Warning, 0, "Cannot check engines on " + h.spec.key + ": " + why});
    }
    h.poll_warned = true;
  }

  void failed_host(const std::string& key, const std::string& message) {
    ctx_.log->error("Engines on {} not started: {}", key, message);
    errors_.push_back(message);
  }

  static int running_on(const RemoteHost& h) {
    int n = 0;
    for (bool r : h.running) n += r ? 1 : 0;
    return n;
  }

  // How many of `n` more engines each host takes: one at a time to the host with the most free
  // slots (the first of equals), so engines spread over the hosts.
  std::vector<int> place(int n) const {
    std::vector<int> counts(hosts_.size(), 0);
    for (int k = 0; k < n; ++k) {
      int best = -1;
      int best_free = 0;
      for (std::size_t i = 0; i < hosts_.size(); ++i) {
        const int free = hosts_[i].spec.n - running_on(hosts_[i]) - counts[i];
        if (free > best_free) {
          best = static_cast<int>(i);
          best_free = free;
        }
      }
      if (best < 0) break;
      ++counts[best];
    }
    return counts;
  }

  // Starts `count` engines on one host (one SSH command); the reason if none could be.
  std::optional<std::string> start_on(RemoteHost& h, int count) {
    std::vector<std::string> keys;
    std::vector<std::string> outputs;
    for (int k = 0; k < count; ++k) {
      const std::size_t i = h.keys.size() + keys.size();
      keys.push_back(h.spec.key + "/" + std::to_string(i));
      outputs.push_back(h.params.remote_profile_dir + "/log/ipengine-" + ctx_.cluster_id + "-" +
                        ctx_.set_id + "-" + std::to_string(i) + ".log");
    }
    auto* conn = h.connection();
    if (conn == nullptr) return h.target.describe() + ": cannot connect";
    auto pids = start_remote_engines(*conn, h.params, outputs);
    if (!pids.ok()) {
      h.conn.reset();
      return pids.error().message;
    }
    const auto now = std::chrono::steady_clock::now();
    std::string list;
    for (std::size_t k = 0; k < pids->size(); ++k) {
      h.keys.push_back(keys[k]);
      h.outputs.push_back(outputs[k]);
      h.pids.push_back((*pids)[k]);
      h.running.push_back(true);
      h.started.push_back(now);
      list += (list.empty() ? "" : ",") + std::to_string((*pids)[k]);
    }
    if (pids->size() == 1) {
      ctx_.log->info("Started engine {} (remote pid {})", keys.front(), list);
    } else {
      ctx_.log->info("Started {} engines on {} (remote pids {})", pids->size(), h.spec.key, list);
    }
    return std::nullopt;
  }

  void start_hosts(int n) {
    auto specs = parse_engines_spec(s_.ssh_engines);
    if (specs.empty()) {
      throw LaunchError("c.SSHEngineSetLauncher.engines is empty; nothing to start");
    }
    int total = 0;
    for (const auto& h : specs) total += h.n;
    if (s_.adapt) {
      ctx_.log->info("Adaptive: starting {} of the {} engines c.SSHEngineSetLauncher.engines "
                     "allows; more start on its hosts as work arrives",
                     std::min(n, total), total);
    } else if (s_.n_given && total > s_.n) {
      ctx_.log->info(
          "Starting all {} engines listed in c.SSHEngineSetLauncher.engines "
          "(Python ipyparallel 7+ would stop at n={})",
          total, s_.n);
    }
    std::string engine_json = read_text(security_file(ctx_, "engine"));
    try {
      engine_json = nlohmann::json::parse(engine_json).dump();  // one line for the remote shell
    } catch (const std::exception&) {
    }
    set_state_.remote_profile_dir = s_.remote_profile_dir;
    set_state_.remote_python = s_.remote_python;
    for (const auto& spec : specs) {
      if (spec.n == 0) continue;
      RemoteHost host;
      host.spec = spec;
      host.target = target_for(spec.user, spec.host, spec.port, s_.strict_host_key_checking,
                               s_.identity_file, s_.ssh_timeout);
      RemoteEngineParams& params = host.params;
      params.cluster_id = ctx_.cluster_id;
      params.remote_profile_dir = spec.remote_profile_dir.value_or(s_.remote_profile_dir);
      params.engine_cmd = spec.engine_cmd.value_or(s_.remote_engine_cmd);
      params.engine_args = spec.engine_args.value_or(s_.remote_engine_args);
      params.engine_file_name = std::filesystem::path(security_file(ctx_, "engine")).filename();
      params.engine_file_json = engine_json;
      params.environment = s_.environment;
      params.set_id = ctx_.set_id;
      hosts_.push_back(std::move(host));
    }
    const std::vector<int> counts = place(s_.adapt ? n : total);  // total: every slot
    std::vector<RemoteHost> reachable;
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
      RemoteHost& host = hosts_[i];
      if (counts[i] > 0) {
        ctx_.log->info("Starting {} engines on {} ({})", counts[i], host.spec.key,
                       shlex_join(host.params.engine_cmd));
        auto conn = SshConnection::connect(host.target);
        if (!conn.ok()) {
          failed_host(host.spec.key, conn.error().message);
          continue;
        }
        host.conn = std::move(*conn);
        if (auto why = start_on(host, counts[i])) {
          failed_host(host.spec.key, *why);
          continue;
        }
      }
      reachable.push_back(std::move(host));
    }
    hosts_ = std::move(reachable);
    if (running() == 0) hosts_.clear();
  }

  void start_proxy(int n) {
    n_ = n;
    const auto& p = s_.ssh_proxy;
    const std::string& rpd = p.host.remote_profile_dir;
    RemoteHost host;
    host.spec.host = p.host.hostname;
    host.spec.user = p.host.user;
    host.spec.port = p.host.port;
    host.spec.n = n;
    host.target =
        target_for(p.host.user, p.host.hostname, p.host.port, p.host.strict_host_key_checking,
                   p.host.identity_file, p.host.ssh_timeout);
    host.spec.key = host.target.describe();
    RemoteProcessParams rp;
    rp.env = {s_.environment.begin(), s_.environment.end()};
    rp.env.emplace_back("IPP_PROFILE_DIR", rpd);
    rp.env.emplace_back("IPP_CLUSTER_ID", ctx_.cluster_id);
    rp.argv = remote_proxy_argv(s_, n);
    auto program = p.ipcluster_cmd;
    program.push_back("engines");
    rp.output_file = remote_output_file(rpd, program, wall_seconds());
    ctx_.log->info("Starting `ipcluster engines` on {}: {}", host.spec.key, shlex_join(rp.argv));
    auto conn = SshConnection::connect(host.target);
    if (!conn.ok()) return failed_host(host.spec.key, conn.error().message);
    host.conn = std::move(*conn);
    const auto to_send = p.to_send.value_or(connection_file_pairs(
        security_file(ctx_, "client"), security_file(ctx_, "engine"), rpd, false));
    if (auto sent = send_files(*host.conn, to_send); !sent.ok()) {
      return failed_host(host.spec.key, sent.error().message);
    }
    auto pid = start_detached(*host.conn, rp, rpd, "ipcluster engines");
    if (!pid.ok()) return failed_host(host.spec.key, pid.error().message);
    host.keys = {"ipcluster-engines"};
    host.pids = {*pid};
    host.outputs = {rp.output_file};
    host.running = {true};
    set_state_.pid = *pid;
    set_state_.hostname = p.host.hostname;
    set_state_.user = p.host.user;
    set_state_.output_file = (std::filesystem::path(ctx_.profile_dir) / "log" /
                              ("ipcluster-engines-" + ctx_.cluster_id + "-" + ctx_.set_id + ".log"))
                                 .string();
    set_state_.remote_output_file = rp.output_file;
    set_state_.remote_profile_dir = rpd;
    set_state_.remote_python = p.host.remote_python;
    if (p.host.port > 0) {
      set_state_.ssh_args = {"-p", std::to_string(p.host.port)};
      set_state_.scp_args = {"-P", std::to_string(p.host.port)};
    }
    ctx_.log->info("Started `ipcluster engines -n {}` on {} (remote pid {}), output in {}", n,
                   host.spec.key, *pid, rp.output_file);
    hosts_.push_back(std::move(host));
  }

  const ClusterSettings& s_;
  LaunchContext ctx_;
  bool proxy_;
  int n_ = 0;
  std::vector<RemoteHost> hosts_;
  std::vector<std::string> errors_;
  LauncherState set_state_;
  TimePoint started_{};
  TimePoint last_poll_{};
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<EngineSetLauncher> make_ssh_engines(const ClusterSettings& s,
                                                    const LaunchContext& ctx, bool proxy) {
  return std::make_unique<SshEngineSet>(s, ctx, proxy);
}

}  // namespace ipp::cluster
