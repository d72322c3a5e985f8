// ConfigLines: where each key of a gev-host config file is written, so that errors can
// name the line. Reads the file the way Program_options' INI parser does: '#' starts a
// comment anywhere on a line, "[NAME]" opens a section whose keys read as NAME.KEY until
// the next section (there is no way back to the top level), "KEY = VALUE" with spaces
// around both trimmed.
#pragma once

#include <istream>
#include <map>
#include <string>

namespace gev::host {

struct ConfigLines {
  std::map<std::string, int> line_of;  // "listener.a.listen" or "loops" -> its first line
  // "FILE:LINE" for a key (or just FILE if it was not found).
  std::string where(const std::string& file, const std::string& key) const;
};

ConfigLines scan_config(std::istream& in);

// A value written in double quotes keeps what is inside them, spaces included:
// `message = "  hi  "` is "  hi  ". Anything else is taken as written (trimmed).
std::string unquote(const std::string& value);

}  // namespace gev::host
