// CPU time of a process from /proc/PID/stat (utime + stime), for the load generators.
#ifndef GEV_BENCH_LOAD_PROC_STAT_H_
#define GEV_BENCH_LOAD_PROC_STAT_H_

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace gev::load {

// Seconds of CPU the process has used; -1 if /proc/PID/stat cannot be read.
inline double process_cpu_seconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  size_t paren = line.rfind(')');  // comm (field 2) may hold spaces and ')'
  if (paren == std::string::npos) return -1;
  std::istringstream rest(line.substr(paren + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && rest >> field; ++n) {
    if (n == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (n == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (!rest) return -1;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace gev::load

#endif  // GEV_BENCH_LOAD_PROC_STAT_H_
