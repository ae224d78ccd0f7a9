# SPDX-License-Identifier: ISC
"""Small helpers to run the scripted fake (scripted.py) from Python tests.

    from fakelib import start_fake, stop_fake, get_json, post_json
    proc, port = start_fake({"routes": [{"path": "/x", "body": "hi"}]})
    try:
        ...
    finally:
        stop_fake(proc)
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTED = os.path.join(HERE, "scripted.py")

# Never go through an http_proxy from the environment to reach the fake.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def start_fake(script=None, extra_args=(), program=SCRIPTED, timeout=10.0):
    """Launch a fake server subprocess on 127.0.0.1, port 0.

    script: None, a dict (written to a temp JSON file) or a path to a JSON
    file.  extra_args: more command-line arguments.  Waits until the port
    file appears and GET /__fake/health answers.  Returns (proc, port);
    proc.fake_tmpdir is removed by stop_fake().
    """
    tmpdir = tempfile.mkdtemp(prefix="fake-")
    port_file = os.path.join(tmpdir, "port")
    cmd = [sys.executable, program, "--host", "127.0.0.1", "--port", "0",
           "--port-file", port_file]
    if script is not None:
        if isinstance(script, (dict, list)):
            path = os.path.join(tmpdir, "script.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(script, f)
            script = path
        cmd += ["--script", script]
    cmd += list(extra_args)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    proc.fake_tmpdir = tmpdir
    deadline = time.monotonic() + timeout
    port = None
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("fake exited early with status %s"
                                   % proc.returncode)
            if port is None and os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    port = int(text)
            if port is not None:
                try:
                    if get_json(port, "/__fake/health",
                                timeout=1.0).get("ok"):
                        proc.fake_port = port
                        return proc, port
                except (OSError, ValueError):
                    pass
            time.sleep(0.02)
        raise RuntimeError("fake did not become healthy within %.1fs"
                           % timeout)
    except BaseException:
        stop_fake(proc)
        raise


def stop_fake(proc, timeout=5.0):
    """SIGTERM the fake, wait (kill after timeout); return its exit code."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except OSError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    tmpdir = getattr(proc, "fake_tmpdir", None)
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return proc.returncode


def request(port, method, path, body=None, headers=None, timeout=10.0,
            host="127.0.0.1"):
    """Plain urllib request; returns (status, headers, body bytes).
    HTTP error statuses are returned, not raised."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path),
                                 data=body, method=method,
                                 headers=headers or {})
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


def get_json(port, path, timeout=10.0):
    """GET path, return the decoded JSON (raises on HTTP error status)."""
    status, _, body = request(port, "GET", path, timeout=timeout)
    if status >= 400:
        raise RuntimeError("GET %s -> %d: %r" % (path, status, body[:200]))
    return json.loads(body)


def post_json(port, path, obj, timeout=10.0):
    """POST obj as JSON, return the decoded JSON response (raises on HTTP
    error status)."""
    status, _, body = request(port, "POST", path, body=obj, timeout=timeout)
    if status >= 400:
        raise RuntimeError("POST %s -> %d: %r" % (path, status, body[:200]))
    return json.loads(body)


def delete(port, path, timeout=10.0):
    status, _, body = request(port, "DELETE", path, timeout=timeout)
    if status >= 400:
        raise RuntimeError("DELETE %s -> %d" % (path, status))
    return json.loads(body) if body else None


def set_script(port, script):
    return post_json(port, "/__fake/script", script)


def wait_requests(port, n, timeout_ms=5000):
    return get_json(port, "/__fake/wait?requests=%d&timeout_ms=%d"
                    % (n, timeout_ms), timeout=timeout_ms / 1000.0 + 5)
