// ConfigLines: line numbers for gev-host config errors.
#include "config_lines.h"

namespace gev::host {

namespace {
std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}
}  // namespace

ConfigLines scan_config(std::istream& in) {
  ConfigLines out;
  std::string line, prefix;
  for (int n = 1; std::getline(in, line); ++n) {
    if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    line = trim(line);
    if (line.empty()) continue;
    if (line.front() == '[' && line.back() == ']') {
      prefix = trim(line.substr(1, line.size() - 2)) + ".";
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;  // Program_options refuses it, quoting the line
    out.line_of.try_emplace(prefix + trim(line.substr(0, eq)), n);
  }
  return out;
}

std::string ConfigLines::where(const std::string& file, const std::string& key) const {
  auto it = line_of.find(key);
  return it == line_of.end() ? file : file + ":" + std::to_string(it->second);
}

std::string unquote(const std::string& value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
    return value.substr(1, value.size() - 2);
  return value;
}

}  // namespace gev::host
