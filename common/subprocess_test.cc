#include "common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm {
namespace {

// Reads `fd` to EOF, closes it, and returns what was read.
std::string ReadAll(int fd) {
  std::string text;
  char chunk[256];
  ssize_t n;
  while ((n = ::read(fd, chunk, sizeof(chunk))) > 0) text.append(chunk, n);
  ::close(fd);
  return text;
}

int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

TEST(SubprocessTest, StdoutComesThroughThePipeAndStdinIsEmpty) {
  absl::StatusOr<SpawnedChild> child = SpawnWithStdoutPipe(
      {.argv = {"/bin/sh", "-c", "echo hello \"$0\"; cat; echo end", "arg"}});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(ReadAll(child->stdout_fd), "hello arg\nend\n");
  const int status = Reap(child->pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SubprocessTest, StderrGoesToTheGivenDescriptor) {
  char path[] = "/tmp/autotm_subprocess_test.XXXXXX";
  const int log = ::mkstemp(path);
  ASSERT_GE(log, 0);
  absl::StatusOr<SpawnedChild> child = SpawnWithStdoutPipe(
      {.argv = {"/bin/sh", "-c", "echo oops >&2"}, .stderr_fd = log});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(ReadAll(child->stdout_fd), "");
  Reap(child->pid);
  ::lseek(log, 0, SEEK_SET);
  EXPECT_EQ(ReadAll(log), "oops\n");
  ::unlink(path);
}

TEST(SubprocessTest, AMissingProgramExits127) {
  absl::StatusOr<SpawnedChild> child =
      SpawnWithStdoutPipe({.argv = {"/nonexistent/autotm-no-such-program"}});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(ReadAll(child->stdout_fd), "");
  const int status = Reap(child->pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 127);
}

TEST(SubprocessTest, TheChildStartsWithDefaultSignals) {
  // Ignored and blocked in the parent; the child must still die of SIGTERM.
  struct sigaction old_action {};
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGTERM, &ignore, &old_action), 0);
  sigset_t term, old_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old_mask), 0);
  absl::StatusOr<SpawnedChild> child = SpawnWithStdoutPipe(
      {.argv = {"/bin/sh", "-c", "kill -TERM $$; sleep 5"}});
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGTERM, &old_action, nullptr);
  ASSERT_TRUE(child.ok()) << child.status();
  ReadAll(child->stdout_fd);
  const int status = Reap(child->pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(SubprocessTest, AnEmptyArgvIsRefused) {
  absl::StatusOr<SpawnedChild> child = SpawnWithStdoutPipe({});
  EXPECT_EQ(child.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(child.status().message(), testing::HasSubstr("argv is empty"));
}

}  // namespace
}  // namespace autotm
