"""Helpers to run the dashboard on loopback and drive it with Playwright + Debian's chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from interpface.cli.dashboard import dashboard_command

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_dashboard(env: dict | None = None):
    """Start `streamlit run` on interpface/dashboard/app.py on 127.0.0.1:<free port>; yield (url, process)."""
    port = free_port()
    # the server's output goes to a file, not a pipe nobody reads (a full pipe would stall the server);
    # server_log(proc) gives its tail for a test's failure message
    log = tempfile.NamedTemporaryFile(prefix="dashboard-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        dashboard_command("127.0.0.1", port),
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
    )
    proc.log_path = Path(log.name)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("dashboard did not start: " + server_log(proc)) from None
                time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        proc.log_path.unlink(missing_ok=True)


def server_log(proc, chars: int = 2000) -> str:
    """The last `chars` characters the dashboard server (from running_dashboard) has written."""
    return proc.log_path.read_bytes().decode(errors="replace")[-chars:]


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' status widget)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
    page.wait_for_timeout(300)


def errors_on(page) -> list[str]:
    """Texts of exception blocks and error alerts on the page."""
    texts = page.eval_on_selector_all(
        '[data-testid="stException"], [data-testid="stAlertContentError"]', "els => els.map(e => e.innerText)"
    )
    return texts


def bar_values(page, title_fragment: str) -> list[float]:
    """y values of the first trace of the plotly chart whose title contains `title_fragment`."""
    return page.evaluate(
        """(frag) => {
            for (const el of document.querySelectorAll('.js-plotly-plot')) {
                const t = (el.layout && el.layout.title && (el.layout.title.text || el.layout.title)) || '';
                // _fullData holds the decoded arrays (plotly sends numpy arrays base64-encoded)
                const d = el._fullData && el._fullData.length ? el._fullData : el.data;
                if (String(t).includes(frag) && d && d.length) return Array.from(d[0].y);
            }
            return null;
        }""",
        title_fragment,
    )


def choose(page, label: str, option: str, timeout: float = 30_000) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label` (each click waits up to `timeout` ms)."""
    box = page.get_by_label(label, exact=True).first
    box.click(timeout=timeout)
    page.get_by_role("option", name=option, exact=True).first.click(timeout=timeout)


def wait_chart(page, title_fragment: str, timeout: float = 120_000) -> list[float]:
    """Wait until the plotly chart whose title contains `title_fragment` has data; return its y values."""
    page.wait_for_function(
        """(frag) => [...document.querySelectorAll('.js-plotly-plot')].some(e => e._fullData &&
              e._fullData.length && JSON.stringify((e.layout && e.layout.title) || '').includes(frag))""",
        arg=title_fragment,
        timeout=timeout,
    )
    return bar_values(page, title_fragment)


def wait_charts(page, timeout: float = 120_000) -> None:
    """Wait until every plotly chart on the page has been drawn (for screenshots)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => {
              const e = c.querySelector('.js-plotly-plot'); return e && e._fullData; })""",
        timeout=timeout,
    )
    page.wait_for_timeout(800)
