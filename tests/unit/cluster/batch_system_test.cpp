#include <ipp/cluster/batch_system.hpp>

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

TEST(BatchTemplate, FieldsExpressionsAndEscapes) {
  TemplateNamespace ns{{"n", 8LL}, {"queue", std::string("q1")}, {"x", 2.5}};
  EXPECT_EQ(render_template("#PBS -t 1-{n}", ns), "#PBS -t 1-8");
  EXPECT_EQ(render_template("{n//3} {n % 3} {n/4} {-n // 3}", ns), "2 2 2.0 -3");
  EXPECT_EQ(render_template("{queue + '-x'} {queue*2}", ns), "q1-x q1q1");
  EXPECT_EQ(render_template("{{literal}} {n:>4}|{queue:<4}|{n:04d}", ns),
            "{literal}    8|q1  |0008");
  EXPECT_EQ(render_template("{queue!r} {x} {x:.2f}", ns), "'q1' 2.5 2.50");
}

TEST(BatchTemplate, ErrorsNameTheField) {
  TemplateNamespace ns{{"n", 1LL}};
  try {
    (void)render_template("#SBATCH --account={account}", ns);
    FAIL() << "expected TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("name 'account' is not defined"), std::string::npos);
  }
  EXPECT_THROW((void)render_template("a } b", ns), TemplateError);
  EXPECT_THROW((void)render_template("a { b", ns), TemplateError);
  EXPECT_THROW((void)render_template("{n.__class__}", ns), TemplateError);
  EXPECT_THROW((void)render_template("{n // 0}", ns), TemplateError);
  // A lone '.' as a number (found by the batch_template fuzz target): an error, not a crash.
  EXPECT_THROW((void)render_template("{n*.+1}", ns), TemplateError);
  EXPECT_EQ(render_template("{n*.5}", ns), "0.5");
  // A width of 900 trillion columns (found by the batch_template fuzz target): an error naming
  // the field, not a 900 TB allocation; widths and precisions up to 4096 still work.
  try {
    (void)render_template("#echo {'x' + q!r:>0900000000000000}", TemplateNamespace{{"q", std::string("a")}});
    FAIL() << "expected TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("format width in '>0900000000000000' is too large"),
              std::string::npos) << e.what();
  }
  EXPECT_THROW((void)render_template("{n:.99999999999999999999f}", ns), TemplateError);
  EXPECT_EQ(render_template("{n:>4096}", ns).size(), 4096u);
  EXPECT_EQ(render_template("{n:.300f}", TemplateNamespace{{"n", 1e300}}).size(), 301u + 1u + 300u);
  // A string of 617 million characters (found by the fuzz target): refused, not built; a
  // megabyte is still fine. 64-bit overflow is an error, not undefined behaviour.
  EXPECT_THROW((void)render_template("#echo {'x' * 0000000617536688}", ns), TemplateError);
  EXPECT_EQ(render_template("{'ab' * 524288}", ns).size(), 1048576u);
  EXPECT_EQ(render_template("{'ab' * -3}", ns), "");
  EXPECT_EQ(render_template("{'abc' * 5}{'z' * 1}{'' * 9}", ns), "abcabcabcabcabcz");
  EXPECT_THROW((void)render_template("{9223372036854775807 + n}", ns), TemplateError);
  EXPECT_THROW((void)render_template("{-9223372036854775807 - 2}", ns), TemplateError);
  EXPECT_THROW((void)render_template("{4611686018427387904 * 2}", ns), TemplateError);
  EXPECT_EQ(render_template("{-7 // 2} {-7 % 2}", ns), "-4 1");
  // A length beyond any integer type in the message (found by the fuzz target): the error, not
  // an out-of-range conversion.
  try {
    (void)render_template("{'abcdefgh' * 1888888888888888888}", ns);
    FAIL() << "expected TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("15111111111111110"), std::string::npos) << e.what();
  }
  // Thousands of nested parentheses or signs (found by the fuzz target): an error, not a stack
  // overflow; 99 levels still work.
  EXPECT_THROW((void)render_template("{" + std::string(5000, '(') + "1}", ns), TemplateError);
  EXPECT_THROW((void)render_template("{" + std::string(5000, '-') + "1}", ns), TemplateError);
  EXPECT_EQ(render_template("{" + std::string(99, '(') + "n" + std::string(99, ')') + "}", ns),
            "1");
}

TEST(BatchTemplate, ShlexJoinMatchesPython) {
  EXPECT_EQ(shlex_join({"/usr/bin/ipengine", "--log-level=10", "", "a b", "it's"}),
            "/usr/bin/ipengine --log-level=10 '' 'a b' 'it'\"'\"'s'");
}

BatchScriptParams engine_params() {
  BatchScriptParams p;
  p.n = 4;
  p.profile_dir = "/p";
  p.cluster_id = "cid";
  p.output_file = "/p/log/ipengine-cid-1-42.log";
  p.program = {"/bin/ipengine"};
  p.program_args = {"--log-level=10"};
  return p;
}

TEST(BatchScript, SlurmDefaultsWithEveryOption) {
  auto p = engine_params();
  p.queue = "q1";
  p.account = "acct";
  p.qos = "normal";
  p.timelimit = "10:00";
  EXPECT_EQ(build_batch_script(*batch_system("slurm"), p),
            "#!/bin/sh\n#SBATCH --ntasks=4\n#SBATCH --account=acct\n#SBATCH --qos=normal\n"
            "#SBATCH --time=10:00\n#SBATCH --partition=q1\n"
            "#SBATCH --output=/p/log/ipengine-cid-1-42.log\n#SBATCH --export=ALL\n"
            "#SBATCH --job-name=ipengine-cid\nsrun /bin/ipengine --log-level=10\n");
}

TEST(BatchScript, ControllerScriptsGetAnArrayLineToo) {
  auto p = engine_params();
  p.kind = LaunchKind::Controller;
  p.n = 1;
  p.program = {"/bin/ipcontroller"};
  p.program_args = {};
  EXPECT_EQ(build_batch_script(*batch_system("pbs"), p),
            "#!/bin/sh\n#PBS -t 1-1\n#PBS -j oe\n#PBS -o /p/log/ipengine-cid-1-42.log\n#PBS -V\n"
            "#PBS -N ipcontroller\n/bin/ipcontroller\n");
  // Slurm's controller template already has --ntasks=1.
  auto s = build_batch_script(*batch_system("slurm"), p);
  EXPECT_EQ(s.find("#SBATCH --ntasks=1"), s.rfind("#SBATCH --ntasks"));
}

TEST(BatchScript, SgeLsfAndHtcondor) {
  auto p = engine_params();
  p.queue = "short";
  auto sge = build_batch_script(*batch_system("sge"), p);
  EXPECT_EQ(sge.substr(0, sge.find("#$ -S")),
            "#$ -V\n#$ -t 1-4\n#$ -q short\n#PBS -j oe\n#PBS -o /p/log/ipengine-cid-1-42.log\n");
  auto lsf = build_batch_script(*batch_system("lsf"), p);
  EXPECT_EQ(lsf.substr(0, lsf.find("    #BSUB -J ipengine-cid")),
            "#!/bin/sh\n#BSUB -J ipengine[1-4]\n#BSUB -q short\n"
            "#BSUB -o /p/log/ipengine-cid-1-42.log\n#BSUB -e /p/log/ipengine-cid-1-42.log\n\n");
  auto condor = build_batch_script(*batch_system("htcondor"), p);
  EXPECT_EQ(condor.substr(condor.size() - 9), "\n\nqueue 4");
  EXPECT_NE(condor.find("arguments       = \"--log-level=10\"\n"), std::string::npos);
}

TEST(BatchScript, UserTemplateGetsNoInsertionsAndSeesTheNamespace) {
  auto p = engine_params();
  p.queue = "q1";
  p.batch_template = "#!/bin/bash\n#SBATCH -n {n} -p {queue} --mem={mem}\n{program_and_args}\n";
  p.user_namespace["mem"] = std::string("4G");
  p.user_namespace["n"] = 99LL;  // the user's namespace overrides the generated names
  EXPECT_EQ(build_batch_script(*batch_system("slurm"), p),
            "#!/bin/bash\n#SBATCH -n 99 -p q1 --mem=4G\n/bin/ipengine --log-level=10\n");
}

TEST(BatchScript, SlurmOptionsAreNamesOnlyWhenSet) {
  auto p = engine_params();
  p.batch_template = "{account}";
  EXPECT_THROW((void)build_batch_script(*batch_system("slurm"), p), TemplateError);
  p.account = "a";
  EXPECT_EQ(build_batch_script(*batch_system("slurm"), p), "a");
}

TEST(BatchJobId, EachSystemsSubmitOutput) {
  EXPECT_EQ(parse_job_id(R"(\d+)", 0, "Submitted batch job 1234\n"), "1234");
  EXPECT_EQ(parse_job_id(R"(\d+)", 0, "1234.fakehost\n"), "1234");
  EXPECT_EQ(parse_job_id(R"(\d+)", 0, "Job <77> is submitted to default queue <normal>.\n"), "77");
  EXPECT_EQ(parse_job_id(R"((\d+)\.$)", 1,
                         "Submitting job(s)....\n4 job(s) submitted to cluster 1234.\n"),
            "1234");
  EXPECT_EQ(parse_job_id(R"(\d+)", 0, "no number"), std::nullopt);
}

TEST(BatchJobStatus, CommandLines) {
  EXPECT_EQ(status_argv(*batch_system("slurm"), "12"),
            (std::vector<std::string>{"scontrol", "show", "job", "-o", "12"}));
  EXPECT_EQ(status_argv(*batch_system("htcondor"), "9"),
            (std::vector<std::string>{"condor_q", "9", "-af", "JobStatus"}));
  EXPECT_EQ(status_argv(*batch_system("sge"), "7"), std::vector<std::string>{"qstat"});
}

TEST(BatchJobStatus, Slurm) {
  auto sys = *batch_system("slurm");
  auto st = parse_job_status(sys, "12",
                             "JobId=12 JobName=ipengine-x UserId=root(0) JobState=PENDING "
                             "Reason=Resources Dependency=(null) StdOut=/tmp/o.log\n",
                             0);
  EXPECT_EQ(st.phase, JobStatus::Phase::Pending);
  EXPECT_EQ(st.state, "PENDING");
  EXPECT_EQ(st.reason, "Resources");
  EXPECT_EQ(st.output_file, "/tmp/o.log");
  EXPECT_EQ(parse_job_status(sys, "12", "JobId=12 JobState=CANCELLED Reason=None\n", 0).phase,
            JobStatus::Phase::Failed);
  EXPECT_EQ(parse_job_status(sys, "12", "JobId=12 JobState=RUNNING Reason=None\n", 0).phase,
            JobStatus::Phase::Running);
  EXPECT_EQ(
      parse_job_status(sys, "12", "slurm_load_jobs error: Invalid job id specified\n", 1).phase,
      JobStatus::Phase::Finished);
  EXPECT_EQ(
      parse_job_status(sys, "12", "slurm_load_jobs error: Unable to contact slurm\n", 1).phase,
      JobStatus::Phase::Unknown);
}

TEST(BatchJobStatus, TabularSystems) {
  auto pbs = *batch_system("pbs");
  const std::string qstat =
      "Job ID                    Name             User            Time Use S Queue\n"
      "------------------------- ---------------- --------------- -------- - -----\n"
      "1234.host                 ipengine         root            00:00:00 R batch\n";
  EXPECT_EQ(parse_job_status(pbs, "1234", qstat, 0).phase, JobStatus::Phase::Running);
  EXPECT_EQ(parse_job_status(pbs, "123", qstat, 0).phase, JobStatus::Phase::Unknown);
  EXPECT_EQ(parse_job_status(pbs, "1234", "qstat: Unknown Job Id 1234.host\n", 153).phase,
            JobStatus::Phase::Finished);
  auto sge = *batch_system("sge");
  EXPECT_EQ(parse_job_status(sge, "7",
                             "job-ID prior name user state submit/start at queue slots ja-task-ID\n"
                             "-----\n      7 0.5 ipengine root qw 12/03/2026 10:00:00 1 1-4:1\n",
                             0)
                .phase,
            JobStatus::Phase::Pending);
  EXPECT_EQ(parse_job_status(sge, "7", "", 0).phase, JobStatus::Phase::Finished);
  auto lsf = *batch_system("lsf");
  EXPECT_EQ(parse_job_status(lsf, "5",
                             "JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME\n"
                             "5 root EXIT normal h h ipengine[1] Dec 3 10:00\n",
                             0)
                .phase,
            JobStatus::Phase::Failed);
  EXPECT_EQ(parse_job_status(lsf, "5", "Job <5> is not found\n", 255).phase,
            JobStatus::Phase::Finished);
  auto condor = *batch_system("htcondor");
  EXPECT_EQ(parse_job_status(condor, "9", "1\n2\n", 0).phase, JobStatus::Phase::Running);
  EXPECT_EQ(parse_job_status(condor, "9", "", 0).phase, JobStatus::Phase::Finished);
}

}  // namespace
}  // namespace ipp::cluster
