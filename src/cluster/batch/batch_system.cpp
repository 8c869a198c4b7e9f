#include <ipp/cluster/batch_system.hpp>

#include <regex>
#include <sstream>

namespace ipp::cluster {

namespace {

// The default templates and insertion rules of ipyparallel 9.1 (cluster/launcher.py).
BatchSystem pbs_like(std::string name, std::string display) {
  BatchSystem s;
  s.name = std::move(name);
  s.display = std::move(display);
  s.submit_command = {"qsub"};
  s.delete_command = {"qdel"};
  s.signal_command = {"qsig", "-s"};
  s.status_command = {"qstat"};
  s.job_id_regexp = R"(\d+)";
  s.job_array_regexp = R"(#PBS\W+-t\W+[\w\d\-\$]+)";
  s.job_array_template = "#PBS -t 1-{n}";
  s.queue_regexp = R"(#PBS\W+-q\W+\$?\w+)";
  s.queue_template = "#PBS -q {queue}";
  s.output_regexp = R"(#PBS\W+(?:-o)\W+\$?\w+)";
  s.output_template = "#PBS -j oe\n#PBS -o {output_file}";
  s.controller_template = "#!/bin/sh\n#PBS -V\n#PBS -N ipcontroller\n{program_and_args}\n";
  s.engine_template = "#!/bin/sh\n#PBS -V\n#PBS -N ipengine\n{program_and_args}\n";
  s.controller_file_name = "pbs_controller";
  s.engine_file_name = "pbs_engines";
  return s;
}

BatchSystem make_sge() {
  BatchSystem s = pbs_like("sge", "SGE");
  s.status_takes_id = false;  // SGE's qstat lists the user's jobs; it takes no job id
  s.job_array_regexp = R"(#\$\W+\-t)";
  s.job_array_template = "#$ -t 1-{n}";
  s.queue_regexp = R"(#\$\W+-q\W+\$?\w+)";
  s.queue_template = "#$ -q {queue}";
  s.controller_template = "#$ -V\n#$ -S /bin/sh\n#$ -N ipcontroller\n{program_and_args}\n";
  s.engine_template = "#$ -V\n#$ -S /bin/sh\n#$ -N ipengine\n{program_and_args}\n";
  s.controller_file_name = "sge_controller";
  s.engine_file_name = "sge_engines";
  return s;
}

BatchSystem make_slurm() {
  BatchSystem s;
  s.name = "slurm";
  s.display = "Slurm";
  s.submit_command = {"sbatch"};
  s.delete_command = {"scancel"};
  s.signal_command = {"scancel", "-s"};
  s.status_command = {"scontrol", "show", "job", "-o"};
  s.job_id_regexp = R"(\d+)";
  s.job_array_regexp = R"(#SBATCH\W+(?:--ntasks|-n)[\w\d\-\$]+)";
  s.job_array_template = "#SBATCH --ntasks={n}";
  s.queue_regexp = R"(#SBATCH\W+(?:--partition|-p)\W+\$?\w+)";
  s.queue_template = "#SBATCH --partition={queue}";
  s.output_regexp = R"(#SBATCH\W+(?:--output)\W+\$?\w+)";
  s.output_template = "#SBATCH --output={output_file}";
  s.controller_template =
      "#!/bin/sh\n#SBATCH --export=ALL\n#SBATCH --job-name=ipcontroller-{cluster_id}\n"
      "#SBATCH --ntasks=1\n{program_and_args}\n";
  s.engine_template =
      "#!/bin/sh\n#SBATCH --export=ALL\n#SBATCH --job-name=ipengine-{cluster_id}\n"
      "srun {program_and_args}\n";
  s.controller_file_name = "slurm_controller.sbatch";
  s.engine_file_name = "slurm_engine.sbatch";
  return s;
}

BatchSystem make_lsf() {
  BatchSystem s;
  s.name = "lsf";
  s.display = "LSF";
  s.submit_command = {"bsub"};
  s.delete_command = {"bkill"};
  s.signal_command = {"bkill", "-s"};
  s.status_command = {"bjobs"};
  s.job_id_regexp = R"(\d+)";
  s.job_array_regexp = R"(#BSUB\s+-J+\w+\[\d+-\d+\])";
  s.job_array_template = "#BSUB -J ipengine[1-{n}]";
  s.queue_regexp = R"(#BSUB\s+-q\s+\w+)";
  s.queue_template = "#BSUB -q {queue}";
  s.output_regexp = R"(#BSUB\s+-oo?\s+\w+)";
  s.output_template = "#BSUB -o {output_file}\n#BSUB -e {output_file}\n";
  s.submit_via_stdin = true;
  // Python's templates indent the directives by four spaces; kept, so scripts match.
  s.controller_template =
      "#!/bin/sh\n    #BSUB -env all\n    #BSUB -J ipcontroller-{cluster_id}\n"
      "    {program_and_args}\n    ";
  s.engine_template =
      "#!/bin/sh\n    #BSUB -J ipengine-{cluster_id}\n    #BSUB -env all\n"
      "    {program_and_args}\n    ";
  s.controller_file_name = "lsf_controller";
  s.engine_file_name = "lsf_engines";
  return s;
}

BatchSystem make_htcondor() {
  BatchSystem s;
  s.name = "htcondor";
  s.display = "HTCondor";
  s.submit_command = {"condor_submit"};
  s.delete_command = {"condor_rm"};
  s.signal_command = {""};
  s.status_command = {"condor_q", "{job_id}", "-af", "JobStatus"};
  s.job_id_regexp = R"((\d+)\.$)";
  s.job_id_regexp_group = 1;
  s.job_array_regexp = R"(queue\W+\$)";
  s.job_array_template = "queue {n}";
  s.array_at_end = true;
  s.controller_template =
      "\nuniverse        = vanilla\nexecutable      = ipcontroller\n"
      "# by default we expect a shared file system\ntransfer_executable = False\n"
      "arguments       = {program_args}\n";
  s.engine_template =
      "\nuniverse        = vanilla\nexecutable      = ipengine\n"
      "# by default we expect a shared file system\ntransfer_executable = False\n"
      "arguments       = \"{program_args}\"\n";
  s.controller_file_name = "htcondor_controller";
  s.engine_file_name = "htcondor_engines";
  return s;
}

BatchSystem make_generic() {
  BatchSystem s;
  s.name = "batch";
  s.display = "Batch";
  s.submit_command = {""};
  s.delete_command = {""};
  s.signal_command = {""};
  s.controller_file_name = "batch_script";
  s.engine_file_name = "batch_script";
  return s;
}

bool search(const std::string& pattern, const std::string& text) {
  // Python: an empty pattern matches anywhere.
  if (pattern.empty()) return true;
  return std::regex_search(text, std::regex(pattern));
}

// Python's '\n'.join([firstline] + inserts + [rest]) after template.split('\n', 1).
std::string insert_after_first_line(const std::string& t, const std::vector<std::string>& lines) {
  auto nl = t.find('\n');
  if (nl == std::string::npos) {
    throw TemplateError("the default batch template has no line break to insert options after");
  }
  std::string out = t.substr(0, nl);
  for (const auto& l : lines) out += "\n" + l;
  return out + "\n" + t.substr(nl + 1);
}

std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// "1234" names the line "1234", "1234.host", "1234[1].host", "1234[]".
bool names_job(const std::string& token, const std::string& id) {
  if (token.rfind(id, 0) != 0) return false;
  return token.size() == id.size() || token[id.size()] == '.' || token[id.size()] == '[';
}

using Phase = JobStatus::Phase;

// Several lines (array tasks): the liveliest wins.
void merge(JobStatus& into, Phase phase, const std::string& state) {
  auto rank = [](Phase p) {
    switch (p) {
      case Phase::Running:
        return 4;
      case Phase::Pending:
        return 3;
      case Phase::Failed:
        return 2;
      case Phase::Finished:
        return 1;
      case Phase::Unknown:
        return 0;
    }
    return 0;
  };
  if (rank(phase) > rank(into.phase)) {
    into.phase = phase;
    into.state = state;
  }
}

Phase slurm_phase(const std::string& s) {
  if (s == "PENDING" || s == "CONFIGURING" || s == "REQUEUED" || s == "REQUEUE_HOLD" ||
      s == "REQUEUE_FED" || s == "SUSPENDED" || s == "RESV_DEL_HOLD" || s == "STOPPED") {
    return Phase::Pending;
  }
  if (s == "RUNNING" || s == "COMPLETING" || s == "SIGNALING" || s == "STAGE_OUT" ||
      s == "RESIZING" || s == "POWER_UP_NODE" || s == "UPDATE_DB") {
    return Phase::Running;
  }
  if (s == "COMPLETED") return Phase::Finished;
  return Phase::Failed;  // CANCELLED FAILED TIMEOUT NODE_FAIL PREEMPTED BOOT_FAIL DEADLINE OOM
}

std::string field_value(const std::string& line, const std::string& key) {
  const std::string k = key + "=";
  std::size_t pos = 0;
  while ((pos = line.find(k, pos)) != std::string::npos) {
    if (pos == 0 || line[pos - 1] == ' ') {
      auto end = line.find(' ', pos);
      return line.substr(pos + k.size(),
                         end == std::string::npos ? std::string::npos : end - pos - k.size());
    }
    pos += k.size();
  }
  return "";
}

}  // namespace

std::optional<BatchSystem> batch_system(const std::string& name) {
  if (name == "pbs") return pbs_like("pbs", "PBS");
  if (name == "sge") return make_sge();
  if (name == "slurm") return make_slurm();
  if (name == "lsf") return make_lsf();
  if (name == "htcondor") return make_htcondor();
  if (name == "batch") return make_generic();
  return std::nullopt;
}

std::string build_batch_script(const BatchSystem& sys, const BatchScriptParams& p) {
  std::string t = p.batch_template;
  const bool is_slurm = sys.name == "slurm";
  if (t.empty()) {
    t = p.kind == LaunchKind::Controller ? sys.controller_template : sys.engine_template;
    if (t.empty()) {
      throw TemplateError(
          "the generic batch launcher has no default template: set "
          "batch_template or batch_template_file");
    }
    // BatchSystemLauncher._insert_options_in_script: queue, then output.
    std::vector<std::string> inserts;
    if (!p.queue.empty() && !search(sys.queue_regexp, t)) inserts.push_back(sys.queue_template);
    if (!p.output_file.empty() && !sys.output_template.empty() && !search(sys.output_regexp, t)) {
      inserts.push_back(sys.output_template);
    }
    if (!inserts.empty()) t = insert_after_first_line(t, inserts);
    // SlurmLauncher adds account, qos and time in a second pass, above those.
    if (is_slurm) {
      inserts.clear();
      if (!p.account.empty() && !search(R"(#SBATCH\W+(?:--account|-A)\W+\$?\w+)", t)) {
        inserts.push_back("#SBATCH --account={account}");
      }
      if (!p.qos.empty() && !search(R"(#SBATCH\W+--qos\W+\$?\w+)", t)) {
        inserts.push_back("#SBATCH --qos={qos}");
      }
      if (!p.timelimit.empty() && !search(R"(#SBATCH\W+(?:--time|-t)\W+\$?\w+)", t)) {
        inserts.push_back("#SBATCH --time={timelimit}");
      }
      if (!inserts.empty()) t = insert_after_first_line(t, inserts);
    }
    if (!search(sys.job_array_regexp, t)) {
      t = sys.array_at_end ? t + "\n" + sys.job_array_template
                           : insert_after_first_line(t, {sys.job_array_template});
    }
  }
  TemplateNamespace ns;
  ns["n"] = static_cast<long long>(p.n);
  ns["queue"] = p.queue;
  ns["profile_dir"] = p.profile_dir;
  ns["cluster_id"] = p.cluster_id;
  ns["output_file"] = p.output_file;
  ns["program"] = shlex_join(p.program);
  ns["program_args"] = shlex_join(p.program_args);
  std::vector<std::string> all = p.program;
  all.insert(all.end(), p.program_args.begin(), p.program_args.end());
  ns["program_and_args"] = shlex_join(all);
  ns["environment_json"] = p.environment_json;
  if (is_slurm) {
    if (!p.account.empty()) ns["account"] = p.account;
    if (!p.qos.empty()) ns["qos"] = p.qos;
    if (!p.timelimit.empty()) ns["timelimit"] = p.timelimit;
    if (!p.options.empty()) ns["options"] = p.options;
  }
  for (const auto& [k, v] : p.user_namespace) ns[k] = v;
  return render_template(t, ns);
}

std::optional<std::string> parse_job_id(const std::string& regexp, int group,
                                        const std::string& output) {
  std::regex re(regexp);
  std::smatch m;
  // Python's `$` also matches before a final newline.
  std::string text = output;
  bool found = std::regex_search(text, m, re);
  if (!found && !text.empty() && text.back() == '\n') {
    text.pop_back();
    found = std::regex_search(text, m, re);
  }
  if (!found || group < 0 || static_cast<std::size_t>(group) >= m.size()) return std::nullopt;
  return m[static_cast<std::size_t>(group)].str();
}

std::vector<std::string> status_argv(const BatchSystem& sys, const std::string& job_id) {
  std::vector<std::string> argv = sys.status_command;
  bool placed = false;
  for (auto& a : argv) {
    for (auto pos = a.find("{job_id}"); pos != std::string::npos; pos = a.find("{job_id}")) {
      a.replace(pos, 8, job_id);
      placed = true;
    }
  }
  if (!placed && sys.status_takes_id) argv.push_back(job_id);
  return argv;
}

JobStatus parse_job_status(const BatchSystem& sys, const std::string& job_id,
                           const std::string& output, int exit_code) {
  JobStatus st;
  std::istringstream in(output);
  std::string line;
  bool any = false;
  if (sys.name == "slurm") {
    while (std::getline(in, line)) {
      if (field_value(line, "JobId").empty()) continue;
      const std::string state = field_value(line, "JobState");
      if (state.empty()) continue;
      any = true;
      merge(st, slurm_phase(state), state);
      if (st.reason.empty() || st.state == state) {
        auto reason = field_value(line, "Reason");
        if (reason != "None") st.reason = reason;
      }
      if (st.output_file.empty()) st.output_file = field_value(line, "StdOut");
    }
    if (!any) {
      // "slurm_load_jobs error: Invalid job id specified": the job has left slurmctld's memory.
      if (output.find("Invalid job id") != std::string::npos || exit_code == 0) {
        st.phase = Phase::Finished;
      }
    }
    return st;
  }
  if (sys.name == "htcondor") {
    static const char* kNames[] = {
        "Unexpanded",          "Idle",     "Running", "Removed", "Completed", "Held",
        "Transferring output", "Suspended"};
    while (std::getline(in, line)) {
      auto words = split_ws(line);
      if (words.size() != 1) continue;
      int code = -1;
      try {
        code = std::stoi(words[0]);
      } catch (const std::exception&) {
        continue;
      }
      if (code < 0 || code > 7) continue;
      any = true;
      Phase ph = code == 2 || code == 6 ? Phase::Running
                 : code == 3            ? Phase::Failed
                 : code == 4            ? Phase::Finished
                                        : Phase::Pending;
      merge(st, ph, kNames[code]);
    }
    if (!any && exit_code == 0) st.phase = Phase::Finished;
    return st;
  }
  // Tabular: PBS `qstat <id>`, SGE `qstat`, LSF `bjobs <id>`.
  const bool lsf = sys.name == "lsf";
  const bool sge = sys.name == "sge";
  const std::size_t col = lsf ? 2 : 4;
  while (std::getline(in, line)) {
    auto words = split_ws(line);
    if (words.size() <= col || !names_job(words[0], job_id)) continue;
    const std::string& s = words[col];
    any = true;
    Phase ph = Phase::Unknown;
    if (lsf) {
      ph = s == "PEND" || s == "PSUSP"                  ? Phase::Pending
           : s == "RUN" || s == "USUSP" || s == "SSUSP" ? Phase::Running
           : s == "DONE"                                ? Phase::Finished
           : s == "EXIT"                                ? Phase::Failed
                                                        : Phase::Unknown;
    } else if (sge) {
      ph = s.find('E') != std::string::npos                                       ? Phase::Failed
           : s.find('r') != std::string::npos || s.find('t') != std::string::npos ? Phase::Running
           : s.find('d') != std::string::npos                                     ? Phase::Finished
                                                                                  : Phase::Pending;
    } else {
      ph = s == "R" || s == "E" || s == "B"   ? Phase::Running
           : s == "C" || s == "F" || s == "X" ? Phase::Finished
                                              : Phase::Pending;  // Q H W T S M U
    }
    merge(st, ph, s);
  }
  if (!any) {
    // PBS: "qstat: Unknown Job Id 1234.host"; LSF: "Job <1234> is not found"; SGE: not listed.
    if (sge ? exit_code == 0
            : (exit_code != 0 || output.find("not found") != std::string::npos ||
               output.find("Unknown Job") != std::string::npos)) {
      st.phase = Phase::Finished;
    }
  }
  return st;
}

const char* to_string(JobStatus::Phase phase) {
  switch (phase) {
    case Phase::Pending:
      return "PENDING";
    case Phase::Running:
      return "RUNNING";
    case Phase::Finished:
      return "FINISHED";
    case Phase::Failed:
      return "FAILED";
    case Phase::Unknown:
      return "UNKNOWN";
  }
  return "UNKNOWN";
}

}  // namespace ipp::cluster
