#!/usr/bin/env bash
# An embedding program's flags (gev::parse_flags): --help prints the usage on stdout and
# exits 0, a bad flag names itself on stderr and exits 2.
# usage: embed_flags_test.sh EMBED_ECHO
set -uo pipefail
bin=$1
out=$("$bin" --help 2>/dev/null); rc=$?
[ $rc -eq 0 ] || { echo "--help exited $rc"; exit 1; }
grep -q -- "--port" <<<"$out" || { echo "--help printed no usage: $out"; exit 1; }
err=$("$bin" --bogus 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || { echo "--bogus exited $rc"; exit 1; }
grep -q -- "--bogus" <<<"$err" || { echo "--bogus not named: $err"; exit 1; }
echo "embed_echo: --help exits 0, a bad flag exits 2 naming it"
