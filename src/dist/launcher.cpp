// launcher.cpp: see launcher.h.
#include "dist/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "core/clock.h"

namespace moescope::dist {
namespace {

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
         ")";
}

}  // namespace

int free_port(const std::string& addr) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("launch: socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  if (inet_pton(AF_INET, addr.c_str(), &a.sin_addr) != 1) {
    close(fd);
    throw std::runtime_error("launch: --master-addr '" + addr +
                             "' is not an IPv4 address (give --master-port to use a host name)");
  }
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const std::string err = std::strerror(errno);
    close(fd);
    throw std::runtime_error("launch: no free port on " + addr + ": " + err);
  }
  close(fd);
  return ntohs(a.sin_port);
}

int launch(const LaunchOptions& o, std::ostream& log) {
  if (o.nproc < 1 || o.nproc > 1024)
    throw std::invalid_argument("launch: --nproc must be in [1, 1024], got " + std::to_string(o.nproc));
  if (o.args.empty())
    throw std::invalid_argument("launch: no command after '--' (e.g. moescope launch --nproc 2 -- train --config ...)");
  const int port = o.master_port > 0 ? o.master_port : free_port(o.master_addr);
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::string omp = std::to_string(std::max(1u, hw / static_cast<unsigned>(o.nproc)));

  // Signals are taken synchronously (sigtimedwait) so that none is lost between checks.
  sigset_t set, old;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, &old);
  const pid_t parent = getpid();
  std::vector<pid_t> pids(static_cast<size_t>(o.nproc), -1);
  for (int r = 0; r < o.nproc; ++r) {
    const pid_t pid = fork();
    if (pid < 0) {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL);
      sigprocmask(SIG_SETMASK, &old, nullptr);
      throw std::runtime_error(std::string("launch: fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      sigprocmask(SIG_SETMASK, &old, nullptr);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);  // the launcher died before prctl
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      if (o.timeout_s > 0) setenv("MOESCOPE_DIST_TIMEOUT_S", std::to_string(o.timeout_s).c_str(), 1);
      setenv("OMP_NUM_THREADS", omp.c_str(), 0);
      std::vector<std::string> args{o.exe};
      args.insert(args.end(), o.args.begin(), o.args.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(o.exe.c_str(), argv.data());
      std::fprintf(stderr, "launch: exec %s: %s\n", o.exe.c_str(), std::strerror(errno));
      _exit(127);
    }
    pids[static_cast<size_t>(r)] = pid;
  }
  log << "launch: " << o.nproc << " ranks, MASTER_ADDR=" << o.master_addr << " MASTER_PORT=" << port << "\n";

  int live = o.nproc, result = 0;
  double kill_at = -1;  // SIGKILL deadline once stopping
  auto signal_all = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) kill(p, sig);
  };
  while (live > 0) {
    int status = 0;
    pid_t done;
    while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
      for (int r = 0; r < o.nproc; ++r) {
        if (pids[static_cast<size_t>(r)] != done) continue;
        pids[static_cast<size_t>(r)] = -1;
        --live;
        const int code = exit_code(status);
        if (code != 0 && result == 0) {
          result = code;
          log << "launch: rank " << r << " (pid " << done << ") " << describe(status)
              << (live > 0 ? "; stopping the other ranks" : "") << "\n";
          signal_all(SIGTERM);
          kill_at = now_s() + o.grace_s;
        }
      }
    }
    if (live == 0) break;
    if (kill_at > 0 && now_s() >= kill_at) {
      log << "launch: ranks still running " << o.grace_s << " s after SIGTERM: SIGKILL\n";
      signal_all(SIGKILL);
      kill_at = now_s() + 3600;
    }
    timespec ts{0, 100 * 1000 * 1000};
    const int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      log << "launch: " << strsignal(sig) << ": forwarding to every rank\n";
      signal_all(sig);
    }
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return result;
}

}  // namespace moescope::dist
