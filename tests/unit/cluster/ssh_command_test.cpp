// The remote shell lines of the SSH engine launcher (no ssh connection needed).
#include "cluster/launchers/ssh_engines.hpp"

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

TEST(SshCommand, ShellQuote) {
  EXPECT_EQ(shell_quote("plain-word_1.2/x@y:z"), "plain-word_1.2/x@y:z");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\"'\"'s'");
  EXPECT_EQ(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
}

TEST(SshCommand, RemoteStartLine) {
  RemoteEngineParams p;
  p.cluster_id = "abc";
  p.remote_profile_dir = ".ipython/profile_my profile";
  p.engine_cmd = {"ipengine"};
  p.engine_args = {"--log-level=20"};
  p.engine_file_json = R"({"key": "k'1"})";
  auto line = remote_start_command(p, ".ipython/profile_my profile/log/e-0.log");
  // The engine must be the backgrounded job itself (its pid is $!), not a subshell that also
  // holds the ssh channel open: no `&&` chained into the background job.
  auto bg = line.find(" & echo __remote_pid=$!__");
  ASSERT_NE(bg, std::string::npos) << line;
  EXPECT_EQ(line.find("&&"), std::string::npos) << line;
  EXPECT_NE(line.find("mkdir -p '.ipython/profile_my profile/log' || exit 1; "), std::string::npos)
      << line;
  EXPECT_NE(line.find("nohup ipengine --profile-dir='.ipython/profile_my profile' "
                      "--cluster-id=abc --log-level=20 > '.ipython/profile_my profile/log/e-0.log'"
                      " 2>&1 < /dev/null"),
            std::string::npos)
      << line;
  // The key travels only in the copied file, never on a remote command line.
  EXPECT_EQ(line.find("IPP_CONNECTION_INFO"), std::string::npos) << line;
  EXPECT_EQ(line.find("k'"), std::string::npos) << line;
  EXPECT_NE(line.find("IPP_CLUSTER_ID=abc"), std::string::npos);
}

TEST(SshCommand, PortFromSshArgs) {
  EXPECT_EQ(port_from_ssh_args({"-p", "2222"}), 2222);
  EXPECT_EQ(port_from_ssh_args({"-o", "X=y"}), 0);
  EXPECT_EQ(port_from_ssh_args({}), 0);
}

}  // namespace
}  // namespace ipp::cluster
