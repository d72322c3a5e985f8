"""Runs a real gev-host for the interop tests and reports failures loudly.

usage from a driver:
    with GevHost(host_path, module_dir, ["--protocol", "websocket", "--handler", "echo"]) as h:
        h.port  # the listener's port (127.0.0.1:0 chosen by the kernel)

The host's log goes to a temporary file; it is printed when a check fails or the host
dies, so a failing ctest shows what the server said.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

try:  # the drivers import this module first, so a missing client library is named here
    import websockets  # noqa: F401
except ImportError:
    sys.stderr.write("FAIL: Python websockets missing for %s: install the Debian package "
                     "python3-websockets (scripts/setup) and run with /usr/bin/python3\n" %
                     sys.executable)
    sys.exit(1)

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class CheckFailed(Exception):
    pass


def check(cond, what):
    """Raises CheckFailed(what) unless cond: the drivers' one assertion."""
    if not cond:
        raise CheckFailed(what)


def self_signed(d):
    """A self-signed certificate for localhost and 127.0.0.1 in directory d (key mode
    0600, as gev-host requires): returns (cert, key) paths."""
    cert, key = os.path.join(d, "localhost.pem"), os.path.join(d, "localhost.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


class GevHost:
    def __init__(self, host_path, module_dir, args, listeners=1, timeout=10.0):
        self.log_file = tempfile.NamedTemporaryFile(prefix="gev-interop-", suffix=".log")
        cmd = [host_path, "--module-dir", module_dir]
        if "--admin" not in args:
            cmd += ["--admin", "off"]
        if "--listen" not in args and "--config" not in args:
            cmd += ["--listen", "127.0.0.1:0"]
        self.cmd = cmd + list(args)
        self.proc = subprocess.Popen(self.cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.ports = []
        self.stopped_by_test = False  # a test that sends SIGTERM itself sets this
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ports = [int(p) for p in LISTENING.findall(self.log())]
            if len(self.ports) >= listeners or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if len(self.ports) < listeners:
            self.stop()
            raise CheckFailed("gev-host did not start listening: %s\n--- host log ---\n%s" %
                              (" ".join(self.cmd), self.log()))

    @property
    def port(self):
        return self.ports[0]

    def log(self):
        with open(self.log_file.name, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM (graceful stop), then SIGKILL after 5 s. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # A graceful stop exits 0; anything else (a crash, a sanitizer report at exit, a
        # hang past 5 s) fails the test even when every check passed.
        died = self.proc.poll() is not None and not self.stopped_by_test
        rc = self.stop()
        if exc is not None or died or rc != 0:
            sys.stderr.write("--- gev-host (%s) exit %s, log ---\n%s--- end of log ---\n" %
                             (" ".join(self.cmd), rc, self.log()))
        if exc is None and died:
            raise CheckFailed("gev-host exited during the test (status %s)" % rc)
        if exc is None and rc != 0:
            raise CheckFailed("gev-host exited with status %s after SIGTERM" % rc)
        self.log_file.close()
        return False


def module_dir_with(module_dir, d, env_var, name):
    """A module directory in d: the built-in modules of module_dir and one test module
    whose path the environment variable env_var gives (ctest sets it), as name.so."""
    mine = os.path.join(d, "modules")
    os.mkdir(mine)
    for f in os.listdir(module_dir):
        if f.endswith(".so"):
            os.symlink(os.path.join(module_dir, f), os.path.join(mine, f))
    so = os.environ.get(env_var, "")
    check(os.path.exists(so), "%s=%r: %s.so not found" % (env_var, so, name))
    os.symlink(so, os.path.join(mine, name + ".so"))
    return mine


def parse_args(argv):
    """The drivers' common command line: HOST_PATH MODULE_DIR [extra...]."""
    if len(argv) < 3:
        sys.stderr.write("usage: %s GEV_HOST MODULE_DIR\n" % argv[0])
        sys.exit(2)
    host, module_dir = argv[1], argv[2]
    for path, what in ((host, "gev-host"), (os.path.join(module_dir, "websocket.so"),
                                              "the websocket module")):
        if not os.path.exists(path):
            sys.stderr.write("FAIL: %s not found at %s\n" % (what, path))
            sys.exit(1)
    return host, module_dir, argv[3:]


def run_main(name, body):
    """Runs body(), prints PASS or the failure, exits 0/1."""
    start = time.monotonic()
    try:
        body()
    except CheckFailed as e:
        print("FAIL %s: %s" % (name, e), flush=True)
        sys.exit(1)
    except Exception as e:  # a client error is a failure too, with its type
        import traceback
        traceback.print_exc()
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
        sys.exit(1)
    print("PASS %s (%.1f s)" % (name, time.monotonic() - start), flush=True)
