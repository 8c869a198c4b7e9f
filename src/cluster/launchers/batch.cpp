// The batch-system launchers (PBS, SGE, Slurm, LSF, HTCondor, the generic "batch"): one job at a
// time per launcher (with engine restarts on, a new job of an engine set replaces one that
// ended). The script comes from batch_system.hpp; here it is written, submitted, watched with
// the system's status command and deleted.
#include "factory.hpp"
#include "local_process.hpp"

#include <ipp/cluster/batch_system.hpp>
#include <ipp/config/connection_info.hpp>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <optional>

namespace ipp::cluster {

namespace {

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long>(seconds * 1000));
}

TemplateNamespace to_namespace(const ipp::config::ConfigTree& tree) {
  TemplateNamespace ns;
  for (auto it = tree.begin(); it != tree.end(); ++it) {
    const auto& v = it.value();
    if (v.is_string()) {
      ns[it.key()] = v.get<std::string>();
    } else if (v.is_boolean()) {
      ns[it.key()] = std::string(v.get<bool>() ? "True" : "False");
    } else if (v.is_number_integer()) {
      ns[it.key()] = v.get<long long>();
    } else if (v.is_number()) {
      ns[it.key()] = v.get<double>();
    } else {
      ns[it.key()] = v.dump();
    }
  }
  return ns;
}

std::string first_line(const std::string& text) {
  auto t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

// One batch job: the script, the submission, the watching.
class BatchJob {
 public:
  BatchJob(const BatchSettings& b, const ClusterSettings& s, LaunchContext ctx, LaunchKind kind)
      : b_(b), s_(s), ctx_(std::move(ctx)), kind_(kind), sys_(*batch_system(b.system)) {
    sys_.submit_command = b.submit_command;
    sys_.delete_command = b.delete_command;
    sys_.signal_command = b.signal_command;
    sys_.status_command = b.status_command;
    what_ = kind == LaunchKind::Controller ? "controller" : "engines";
  }

  void submit(int n, const std::string& file_name) {
    n_ = n;
    const std::string name = kind_ == LaunchKind::Controller ? "ipcontroller" : "ipengine";
    output_file_ = b_.output_file.empty()
                       ? (std::filesystem::path(ctx_.profile_dir) / "log" /
                          (launcher_identifier(name, ctx_.cluster_id, ctx_.set_id) + ".log"))
                             .string()
                       : b_.output_file;
    batch_file_ = (std::filesystem::path(ctx_.profile_dir) / file_name).string();
    // The job's environment: Python's get_env(), passed to the submit command, which the
    // templates export to the job (--export=ALL, -V, -env all).
    nlohmann::ordered_json env_json = nlohmann::ordered_json::object();
    if (b_.system == "lsf" && kind_ == LaunchKind::Engines) env_json["LSB_STDOUT_DIRECT"] = "Y";
    env_json["IPP_CLUSTER_ID"] = ctx_.cluster_id;
    env_json["IPP_PROFILE_DIR"] = ctx_.profile_dir;
    for (const auto& [k, v] : ctx_.environment) env_json[k] = v;
    for (auto it = env_json.begin(); it != env_json.end(); ++it) {
      env_[it.key()] = it.value().get<std::string>();
    }

    BatchScriptParams p;
    p.kind = kind_;
    p.n = n;
    p.queue = b_.queue;
    p.account = b_.account;
    p.qos = b_.qos;
    p.timelimit = b_.timelimit;
    p.options = b_.options;
    p.output_file = output_file_;
    p.profile_dir = ctx_.profile_dir;
    p.cluster_id = ctx_.cluster_id;
    p.environment_json = python_json_dumps(env_json);
    p.batch_template = b_.batch_template;
    p.user_namespace = to_namespace(b_.user_namespace);
    if (kind_ == LaunchKind::Controller) {
      p.program = s_.controller_cmd;
      p.program_args = s_.controller_args;
      if (!s_.controller_ip.empty()) p.program_args.push_back("--ip=" + s_.controller_ip);
      if (!s_.controller_location.empty()) {
        p.program_args.push_back("--location=" + s_.controller_location);
      }
      p.program_args.insert(p.program_args.end(), s_.cluster_controller_args.begin(),
                            s_.cluster_controller_args.end());
    } else {
      p.program = s_.engine_cmd;
      p.program_args = s_.engine_args;
    }
    std::string script;
    try {
      script = build_batch_script(sys_, p);
    } catch (const std::exception& e) {
      throw LaunchError("c." + b_.config_class + ".batch_template: " + e.what());
    }
    try {
      std::filesystem::create_directories(std::filesystem::path(output_file_).parent_path());
      std::ofstream f(batch_file_, std::ios::trunc);
      f << script;
      f.close();
      if (!f) throw std::runtime_error("write failed");
      std::filesystem::permissions(batch_file_, std::filesystem::perms::owner_all);
    } catch (const std::exception& e) {
      throw LaunchError("Cannot write the batch script " + batch_file_ + ": " + e.what());
    }
    ctx_.log->debug("Writing batch script: {}\n{}", batch_file_, script);

    std::vector<std::string> argv = sys_.submit_command;
    std::string shown;
    if (sys_.submit_via_stdin) {
      // Python runs the shell line `bsub<"file"` so that bsub reads the #BSUB directives.
      shown = (argv.empty() ? std::string() : argv[0]) + "<\"" + batch_file_ + "\"";
      argv = {"/bin/sh", "-c", shown};
    } else {
      argv.push_back(batch_file_);
      shown = shlex_join(argv);
    }
    ctx_.log->debug("Running command: {}", shown);
    auto r = run_command(argv, env_, "", ms(b_.submit_timeout));
    const std::string program = sys_.submit_command.empty() ? "" : sys_.submit_command[0];
    const std::string setting = "c." + b_.config_class + ".submit_command";
    if (r.exit_code == -1000 || (sys_.submit_via_stdin && r.exit_code == 127)) {
      throw LaunchError(sys_.display + " submit command '" + program + "' could not be run: " +
                        first_line(r.err.empty() ? "not found" : r.err) + " (is " + sys_.display +
                        " installed here, and " + program + " on PATH? see " + setting + ")");
    }
    if (r.timed_out) {
      throw LaunchError(shown + " did not answer within " +
                        std::to_string(static_cast<int>(b_.submit_timeout)) + " s");
    }
    if (r.exit_code != 0) {
      throw LaunchError(sys_.display + " rejected the " + what_ + " job (" + shown + ", " +
                        describe_exit(r.exit_code) + "):\n" +
                        indent_text(first_line(r.err + r.out)) + "Batch script: " + batch_file_);
    }
    auto id = parse_job_id(b_.job_id_regexp, b_.job_id_regexp_group, r.out);
    if (!id) {
      throw LaunchError("Job id couldn't be determined: " + first_line(r.out) + " (output of " +
                        shown + "; see c." + b_.config_class + ".job_id_regexp)");
    }
    job_id_ = *id;
    ctx_.log->info("Job submitted with job id: '{}'", job_id_);
    alive_ = true;
    next_status_ = std::chrono::steady_clock::now();
  }

  std::vector<LauncherEvent> poll(TimePoint now, bool quick) {
    std::vector<LauncherEvent> out;
    if (!alive_ || sys_.status_command.empty() || sys_.status_command[0].empty() ||
        now < next_status_) {
      return out;
    }
    next_status_ = now + ms(quick ? b_.status_interval : std::max(b_.status_interval, 15.0));
    std::vector<std::string> argv = status_argv(sys_, job_id_);
    auto r = run_command(argv, {}, "", ms(b_.submit_timeout));
    if (r.exit_code == -1000) {
      if (!status_warned_) {
        out.push_back({LauncherEvent::Kind::Warning, 0,
                       "Cannot watch " + label() + ": '" + argv[0] + "' could not be run (c." +
                           b_.config_class + ".status_command)"});
      }
      status_warned_ = true;
      return out;
    }
    JobStatus st = parse_job_status(sys_, job_id_, r.out + r.err, r.exit_code);
    if (st.phase == JobStatus::Phase::Unknown) return out;
    phase_ = st.phase;
    if (!st.output_file.empty()) reported_output_ = st.output_file;
    const std::string shown = st.state.empty() ? to_string(st.phase) : st.state;
    if (st.phase == JobStatus::Phase::Running && running_since_ == TimePoint{}) {
      running_since_ = now;
    }
    if (shown != state_ || st.reason != reason_) {
      state_ = shown;
      reason_ = st.reason;
      if (st.phase == JobStatus::Phase::Pending || st.phase == JobStatus::Phase::Running) {
        out.push_back({LauncherEvent::Kind::Info, 0, label() + " is " + status_word()});
      }
    }
    if (st.phase == JobStatus::Phase::Finished || st.phase == JobStatus::Phase::Failed) {
      alive_ = false;
      ended_ = true;
      const bool failed = st.phase == JobStatus::Phase::Failed;
      std::string msg =
          label() + " ended: " + (st.state.empty() ? "no longer in the queue" : status_word());
      LauncherEvent e{LauncherEvent::Kind::Stopped, n_, msg, failed};
      if (running_since_ != TimePoint{}) {
        e.uptime_s = std::chrono::duration<double>(now - running_since_).count();
      }
      out.push_back(std::move(e));
    }
    return out;
  }

  void signal(int signo) {
    if (!alive_ || sys_.signal_command.empty() || sys_.signal_command[0].empty()) return;
    auto argv = sys_.signal_command;
    argv.push_back(std::to_string(signo));
    argv.push_back(job_id_);
    auto r = run_command(argv, {}, "", ms(b_.submit_timeout));
    if (r.exit_code != 0) {
      ctx_.log->warn("Problem sending signal with {}: {}", shlex_join(argv), first_line(r.err));
    }
  }

  void stop() {
    if (job_id_.empty() || deleted_ || ended_) return;
    deleted_ = true;
    auto argv = sys_.delete_command;
    argv.push_back(job_id_);
    ctx_.log->info("Deleting {}: {}", label(), shlex_join(argv));
    auto r = run_command(argv, {}, "", ms(b_.submit_timeout));
    if (r.exit_code != 0 && alive_) {
      ctx_.log->error("Could not delete {} ({}): {}", label(), describe_exit(r.exit_code),
                      first_line(r.err + r.out));
    }
    alive_ = false;
  }

  std::string label() const {
    std::string l = sys_.display + " job " + job_id_ + " (";
    l += kind_ == LaunchKind::Controller ? "controller" : std::to_string(n_) + " engines";
    return l + ")";
  }
  std::string status_word() const {
    return state_ + (reason_.empty() || reason_ == "None" ? "" : " (" + reason_ + ")");
  }
  std::string status() const {
    if (job_id_.empty()) return "";
    return "job " + job_id_ + " " + (state_.empty() ? "SUBMITTED" : status_word());
  }
  std::string output_file() const {
    return reported_output_.empty() ? output_file_ : reported_output_;
  }
  std::string tail(std::size_t lines) const {
    auto t = tail_file(output_file(), lines);
    std::string head = "Output of " + label() + " (" + output_file() + ")";
    return t.empty() ? head + ": empty or not written yet\n" : head + ":\n" + indent_text(t);
  }
  bool alive() const { return alive_; }
  bool queued() const {
    return alive_ && (phase_ == JobStatus::Phase::Pending || phase_ == JobStatus::Phase::Unknown);
  }
  int n() const { return n_; }

  LauncherState state() const {
    LauncherState st;
    st.cluster_id = ctx_.cluster_id;
    st.profile_dir = ctx_.profile_dir;
    st.state = alive_ ? "running" : (job_id_.empty() ? "before" : "after");
    st.n = n_;
    st.output_file = output_file_;
    st.job_id = job_id_;
    st.batch_file_name = std::filesystem::path(batch_file_).filename().string();
    st.batch_template = b_.batch_template;
    st.queue = b_.queue;
    st.batch_namespace = b_.user_namespace;
    return st;
  }

 private:
  const BatchSettings& b_;
  const ClusterSettings& s_;
  LaunchContext ctx_;
  LaunchKind kind_;
  BatchSystem sys_;
  std::string what_;
  std::map<std::string, std::string> env_;
  int n_ = 0;
  std::string output_file_, batch_file_, job_id_, reported_output_;
  std::string state_, reason_;
  JobStatus::Phase phase_ = JobStatus::Phase::Unknown;
  bool alive_ = false;
  bool deleted_ = false;
  bool ended_ = false;  // seen leaving the queue
  bool status_warned_ = false;
  TimePoint next_status_{};
  TimePoint running_since_{};  // first seen running
};

std::string class_name_for(const BatchSettings& b) {
  return "ipyparallel.cluster.launcher." + b.config_class;
}

class BatchEngineSet final : public EngineSetLauncher {
 public:
  BatchEngineSet(const ClusterSettings& s, LaunchContext ctx, std::string file_name)
      : s_(s), ctx_(ctx), b_(s.batch_engines), file_name_(std::move(file_name)) {
    job_.emplace(b_, s_, std::move(ctx), LaunchKind::Engines);
  }

  std::string class_name() const override { return class_name_for(b_); }
  void start(int n) override { job_->submit(n, file_name_); }
  // Replacements for a job that ended: a new job of the same script; the set watches one job at
  // a time, so only once the previous one has ended.
  bool start_more(int n) override {
    if (stopped_ || job_->alive()) return false;
    job_.emplace(b_, s_, ctx_, LaunchKind::Engines);
    job_->submit(n, file_name_);
    return true;
  }
  std::vector<LauncherEvent> poll(TimePoint now) override { return job_->poll(now, true); }
  void signal(int signo) override { job_->signal(signo); }
  void stop() override {
    stopped_ = true;
    job_->stop();
  }
  std::string status() const override { return job_->status(); }
  bool queued() const override { return job_->queued(); }
  std::string output_location() const override { return job_->output_file(); }
  std::string output_tail(std::size_t lines) override { return job_->tail(lines); }
  int running() const override { return job_->alive() ? job_->n() : 0; }
  bool grows_in_new_sets() const override { return true; }
  LauncherState state() const override { return job_->state(); }

 private:
  const ClusterSettings& s_;
  LaunchContext ctx_;
  const BatchSettings& b_;
  std::string file_name_;
  std::optional<BatchJob> job_;
  bool stopped_ = false;
};

class BatchController final : public ControllerLauncher {
 public:
  BatchController(const ClusterSettings& s, LaunchContext ctx)
      : job_(s.batch_controller, s, std::move(ctx), LaunchKind::Controller),
        b_(s.batch_controller) {}

  std::string class_name() const override { return class_name_for(b_); }
  void start() override { job_.submit(1, b_.batch_file_name); }
  std::vector<LauncherEvent> poll(TimePoint now) override {
    auto events = job_.poll(now, !ready_);
    for (auto& e : events) {
      if (e.kind == LauncherEvent::Kind::Stopped && !ready_) {
        e.message += " before the controller was ready; no engines were started.\n" + job_.tail(20);
      }
    }
    return events;
  }
  void ready() override { ready_ = true; }
  std::string timeout_message(double seconds) override {
    return "The controller (" + job_.label() + ") did not become ready within " +
           std::to_string(static_cast<int>(seconds)) +
           " s of its job running (no connection files, or no reply on its registration "
           "port).\n" +
           job_.tail(20);
  }
  void signal(int signo) override { job_.signal(signo); }
  void stop() override { job_.stop(); }
  bool running() const override { return job_.alive(); }
  std::string status() const override { return job_.status(); }
  bool queued() const override { return job_.queued(); }
  std::string output_location() const override { return job_.output_file(); }
  std::string output_tail(std::size_t lines) override { return job_.tail(lines); }
  LauncherState state() const override { return job_.state(); }

 private:
  BatchJob job_;
  const BatchSettings& b_;
  bool ready_ = false;
};

}  // namespace

std::unique_ptr<EngineSetLauncher> make_batch_engines(const ClusterSettings& s,
                                                      const LaunchContext& ctx,
                                                      const std::string& batch_file_name) {
  return std::make_unique<BatchEngineSet>(s, ctx, batch_file_name);
}

std::unique_ptr<ControllerLauncher> make_batch_controller(const ClusterSettings& s,
                                                          const LaunchContext& ctx) {
  return std::make_unique<BatchController>(s, ctx);
}

}  // namespace ipp::cluster
