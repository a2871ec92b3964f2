"""The server's memory under worst-case uploads: N browsers upload a small PNG that decodes to a huge image at once.

    python -m bench.upload_memory [--uploads 1 8] [--out docs/benchmarks.md] [--root CHECKOUT] [--cap-gib 9]

The file is the reported case of issue 16: a 16-bit grayscale PNG declaring 10,000 x 10,000 pixels (100 MP, just
inside ``xai_core.images.MAX_PIXELS``) whose zero rows compress to about 200 KB. The app runs as a real server
(``tests/e2e/browser.py``'s ``start_app``: ``serve.py``, or ``app.py`` in an older checkout given by ``--root``),
Chromium opens N sessions, waits until each has loaded the model, then every session uploads the file through the
sidebar at the same moment. The server's resident set is sampled every 20 ms from ``/proc/<pid>/status`` (and
``VmHWM``, the kernel's own peak, read at the end); a safety cap kills the server if it grows past ``--cap-gib``
(this machine is shared: the unpatched server grows by more than a gigabyte per upload). Each session's outcome is
the page it ends on: the image decoded ("... as the model sees it") or the sidebar's error message.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))  # the browser helpers live with the browser tests

import browser  # noqa: E402  (needs the path above)

SIDE = 10_000  # 10,000 x 10,000 = 100 MP = xai_core.images.MAX_PIXELS: the largest image the pixel check lets in
GIB = 2**30


def worst_case_png(path: Path, side: int = SIDE) -> Path:
    """A 16-bit grayscale PNG of ``side`` x ``side`` zeros, written row by row (never held whole in memory)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 2 * side)  # filter byte + 2 bytes per pixel
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0)  # bit depth 16, colour type 0 (grayscale)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class RssSampler(threading.Thread):
    """Samples a process's resident set; kills it with SIGKILL above ``cap`` bytes (then ``capped`` is True)."""

    def __init__(self, pid: int, cap: int, period: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.cap, self.period = pid, cap, period
        self.peak = 0
        self.capped = False
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                rss = _status_kib(self.pid, "VmRSS") * 1024
            except (OSError, KeyError):
                return
            self.peak = max(self.peak, rss)
            if rss > self.cap:
                self.capped = True
                os.kill(self.pid, 9)
                return
            time.sleep(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def outcome(page: object, name: str, deadline: float, sampler: RssSampler) -> str:
    """Wait until the session shows the decoded upload or an error in the sidebar; return what it shows."""
    decoded = page.get_by_text(f"{name}, as the model sees it")  # type: ignore[attr-defined]
    error = browser.sidebar(page).get_by_test_id("stAlertContentError")  # type: ignore[arg-type]
    while time.monotonic() < deadline and not sampler.capped:
        try:
            decoded.or_(error).first.wait_for(timeout=1000)
        except Exception:  # not yet (Playwright's TimeoutError)
            continue
        return "decoded" if decoded.count() else "refused: " + error.first.inner_text().strip()
    return "no answer (server killed at the cap)" if sampler.capped else "no answer (timeout)"


def measure(root: Path, uploads: int, cap: int, env: dict[str, str]) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="upload-memory-"))
    png = worst_case_png(work / "bomb16.png")
    env = {"XAI_STUDY_DB_URL": f"sqlite:///{work / 'studies.db'}", "XAI_CACHE_DIR": str(work / "cache"), **env}
    server = browser.start_app(env, log_path=work / "server.log", root=root)
    results: dict[str, object] = {"file_kib": png.stat().st_size / 1024, "uploads": uploads}
    try:
        with sync_playwright() as playwright:
            chromium = browser.launch_chromium(playwright)
            context = chromium.new_context(viewport=browser.VIEWPORT)
            pages = [context.new_page() for _ in range(uploads)]
            for page in pages:
                page.goto(server.url, wait_until="networkidle")
                browser.wait_for_app(page)
            time.sleep(2.0)
            baseline = _status_kib(server.process.pid, "VmRSS") * 1024
            sampler = RssSampler(server.process.pid, cap)
            sampler.start()
            start = time.perf_counter()
            for page in pages:  # one after the other without waiting: the server decodes them concurrently
                uploader = browser.sidebar(page).get_by_test_id("stFileUploader").locator("input[type=file]")
                uploader.set_input_files(str(png))
            deadline = time.monotonic() + 600
            outcomes = [outcome(page, png.name, deadline, sampler) for page in pages]
            elapsed = time.perf_counter() - start
            time.sleep(0.5)
            sampler.stop()
            hwm = 0 if sampler.capped else _status_kib(server.process.pid, "VmHWM") * 1024
            chromium.close()
        results.update(
            baseline=baseline,
            peak=max(sampler.peak, hwm),
            capped=sampler.capped,
            elapsed=elapsed,
            outcomes=outcomes,
        )
    finally:
        server.stop()
    return results


def render(runs: list[tuple[str, dict[str, object]]], cap: int, budget: str) -> str:
    load = os.getloadavg()
    lines = [
        f"### Upload memory: concurrent worst-case uploads ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n",
        f"A {SIDE:,} x {SIDE:,} 16-bit grayscale PNG ({runs[0][1]['file_kib']:.0f} KB on disk, 100 MP declared) "
        "uploaded through the sidebar by every session at once; the server's resident set sampled every 20 ms "
        f"(and its VmHWM). Safety cap {cap / GIB:.0f} GiB (the server is killed above it). {budget} "
        f"CPU: {os.cpu_count()} cores; load average at the end {load[0]:.1f}.\n",
        "| server | uploads | RSS before | peak RSS | growth | outcome | wall |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in runs:
        outcomes = [str(o) for o in r["outcomes"]]  # type: ignore[attr-defined]
        kinds = sorted(set(o.split(":")[0] for o in outcomes))
        summary = ", ".join(f"{sum(o.startswith(k) for o in outcomes)} {k}" for k in kinds)
        if r["capped"]:
            summary += f"; killed at the {cap / GIB:.0f} GiB cap"
        growth = (int(r["peak"]) - int(r["baseline"])) / GIB  # type: ignore[call-overload]
        lines.append(
            f"| {label} | {r['uploads']} | {int(r['baseline']) / GIB:.2f} GiB "  # type: ignore[call-overload]
            f"| {'> ' if r['capped'] else ''}{int(r['peak']) / GIB:.2f} GiB "  # type: ignore[call-overload]
            f"| {'> ' if r['capped'] else ''}+{growth:.2f} GiB | {summary} | {float(r['elapsed']):.1f} s |"  # type: ignore[arg-type]
        )
    refusals = sorted({str(o) for _, r in runs for o in r["outcomes"] if str(o).startswith("refused")})  # type: ignore[attr-defined]
    if refusals:
        lines += ["", "Messages shown:", *[f"- {o.removeprefix('refused: ')}" for o in refusals]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, nargs="+", default=[8], help="concurrent uploads (one run per value)")
    parser.add_argument("--root", action="append", default=[], help="a checkout to measure (repeatable; label=path)")
    parser.add_argument("--cap-gib", type=float, default=9.0)
    parser.add_argument("--out", default="-", help="markdown file to update between bench:upload markers")
    args = parser.parse_args(argv)
    roots = [r.split("=", 1) if "=" in r else [r, r] for r in args.root] or [["this checkout", str(ROOT)]]
    cap = int(args.cap_gib * GIB)
    runs = []
    for label, path in roots:
        for uploads in args.uploads:
            result = measure(Path(path), uploads, cap, {})
            print(label, result, flush=True)
            runs.append((label, result))
    budget = f"XAI_MAX_DECODE_MB={os.environ.get('XAI_MAX_DECODE_MB', 'default')}."
    text = render(runs, cap, budget)
    print(text)
    if args.out != "-":
        report.update(Path(args.out), text, "upload")


if __name__ == "__main__":
    main()
