#pragma once
// What Python's batch launchers (PBS, SGE, Slurm, LSF, HTCondor and the generic "batch") know
// about each system, and the sans-I/O steps of a batch launch: building the script from a
// template (ipyparallel 9.1's default templates, its option and job-array insertion, its
// template variables), finding the job id in the submit command's output, and reading a job's
// state from the status command's output (which Python never does).
//
// Pure functions over plain values; the launcher runs the commands.
#include <ipp/cluster/batch_template.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

enum class LaunchKind { Controller, Engines };

// The fixed facts of one batch system (ipyparallel.cluster.launcher's class attributes).
struct BatchSystem {
  std::string name;     // "slurm": the launcher's short name
  std::string display;  // "Slurm": for messages and class names (SlurmEngineSetLauncher)
  std::vector<std::string> submit_command;
  std::vector<std::string> delete_command;
  std::vector<std::string> signal_command;
  // ours: `{job_id}` in an argument is replaced by the id; without one the id is appended
  // (unless status_takes_id is false: SGE's qstat lists all jobs)
  std::vector<std::string> status_command;
  bool status_takes_id = true;
  std::string job_id_regexp;
  int job_id_regexp_group = 0;
  std::string job_array_regexp, job_array_template;
  std::string queue_regexp, queue_template;
  std::string output_regexp, output_template;
  bool array_at_end = false;      // HTCondor: `queue {n}` goes last
  bool submit_via_stdin = false;  // LSF: `bsub<"file"`
  std::string controller_template, engine_template;
  std::string controller_file_name, engine_file_name;
};

// nullopt for a name that is not a batch system ("local", "ssh", ...).
std::optional<BatchSystem> batch_system(const std::string& short_name);

// The configurable part of a batch launch (c.<System><Kind>Launcher.*).
struct BatchScriptParams {
  LaunchKind kind = LaunchKind::Engines;
  int n = 1;
  std::string queue;
  std::string account, qos, timelimit, options;  // Slurm; each in the namespace only when set
  std::string output_file;
  std::string profile_dir;
  std::string cluster_id;
  std::vector<std::string> program;       // controller_cmd / engine_cmd
  std::vector<std::string> program_args;  // controller_args / engine_args
  std::string environment_json;           // json.dumps of the job's IPP_* environment
  std::string batch_template;        // user template text (batch_template[_file]); "" = default
  TemplateNamespace user_namespace;  // c.<...>.namespace, overrides the generated names
};

// The batch script Python's write_batch_script() produces for the same settings. Throws
// TemplateError for a template that does not render.
std::string build_batch_script(const BatchSystem& sys, const BatchScriptParams& p);

// The job id in the submit command's output (Python's parse_job_id, with re.search semantics
// for a trailing `$`); nullopt when the regexp does not match.
std::optional<std::string> parse_job_id(const std::string& regexp, int group,
                                        const std::string& output);

// A job's state as the status command reports it.
struct JobStatus {
  enum class Phase {
    Pending,  // queued, held
    Running,
    Finished,  // left the queue (completed, or no longer known)
    Failed,    // cancelled, failed, timed out, node failure, exited with an error
    Unknown,   // the output could not be read
  };
  Phase phase = Phase::Unknown;
  std::string state;        // the system's word: RUNNING, PENDING, R, qw, RUN, 2, ...
  std::string reason;       // Slurm's Reason=, when there is one
  std::string output_file;  // Slurm's StdOut=, when reported
};

// The status command line for `job_id`.
std::vector<std::string> status_argv(const BatchSystem& sys, const std::string& job_id);

// Reads the status command's output for `job_id`. `exit_code` is the command's exit status.
JobStatus parse_job_status(const BatchSystem& sys, const std::string& job_id,
                           const std::string& output, int exit_code);

const char* to_string(JobStatus::Phase phase);

}  // namespace ipp::cluster
