"""Local gateway round-trip against a raw store read, in one process.

Baseline: `store.practice(p).get(pk, sk)` on a SqliteStore file holding one item — the
cheapest thing a request can do that touches data. Measured: `LocalGateway.dispatch` of
GET /v1/health, the whole local path (route match, API Gateway event, Lambda entry with
its log line, Powertools resolver with validation, response mapping). Also, to show where
the time goes: the handler alone on a prebuilt event. Optionally real HTTP through uvicorn
on a loopback port with httpx (a bounded number of requests; the server stops itself).

Every call is timed on its own (perf_counter_ns), so medians are not skewed by the odd
garbage collection or page fault.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.adapters.store.sqlite import SqliteStore
from tpm.local.functions import load_module
from tpm.local.gateway import HttpRequest, LocalGateway, build_event
from tpm.local.lambda_context import LocalLambdaContext

NAME = "gateway_roundtrip"
TARGET_RATIO = 3.0
CALLS, QUICK_CALLS = 5000, 1000
HTTP_REQUESTS, QUICK_HTTP_REQUESTS = 1000, 200
WARMUP = 50
PRACTICE, PK, SK = "prac_bench", "BENCH#1", "ITEM"
PATH = "/v1/health"
BASELINE = "SqliteStore practice(p).get(pk, sk)"


class _Sink:
    """Swallows log lines (counting them) so the figure is the logging cost in the process,
    not the terminal's speed, and the table is not buried under 5000 JSON lines."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def quiet_logs() -> Iterator[_Sink]:
    sink = _Sink()
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(n) for n in logging.root.manager.loggerDict),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            # Exactly StreamHandler: subclasses (files, pytest's capture) keep their stream.
            if type(handler) is logging.StreamHandler:
                swapped.append((handler, handler.setStream(sink)))
    try:
        # tpm's own handlers write to whatever sys.stdout is at the time.
        with contextlib.redirect_stdout(sink):
            yield sink
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)


def sample_calls(call: Callable[[], object], n: int, warmup: int = WARMUP) -> list[float]:
    """Microseconds of each of n calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        started = clock()
        call()
        samples.append((clock() - started) / 1000)
    return samples


def time_calls(call: Callable[[], object], n: int, warmup: int = WARMUP) -> Stats:
    return Stats.of(sample_calls(call, n, warmup))


def request() -> HttpRequest:
    return HttpRequest("GET", PATH, [("host", "127.0.0.1"), ("user-agent", "tpm-bench")], [], b"")


def _route_and_event(gateway: LocalGateway) -> object:
    """The gateway's own work before the handler runs."""
    req = request()
    matched = gateway.match(req.method, req.path)
    assert matched is not None
    return build_event(req, *matched)


def measure(root: Path, *, calls: int, http_requests: int = 0, warmup: int = WARMUP) -> Outcome:
    outcome = Outcome(NAME, details={"calls": calls, "http_requests": http_requests})
    with tempfile.TemporaryDirectory(prefix="tpm-bench-") as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        try:
            store.practice(PRACTICE).put({"pk": PK, "sk": SK, "status": "ok", "version": 1})
            if store.practice(PRACTICE).get(PK, SK) is None:
                outcome.failures.append("store: the benchmark item could not be read back")
                return outcome

            def read() -> object:
                return store.practice(PRACTICE).get(PK, SK)

            # Half the baseline before the gateway figures and half after, so drift on a
            # shared machine moves both sides of the ratio.
            base_samples = sample_calls(read, calls - calls // 2, warmup)
            gateway_figures = _gateway_figures(root, calls, warmup, http_requests, outcome)
            base_samples += sample_calls(read, calls // 2, warmup)
        finally:
            store.close()
    if gateway_figures is None:
        return outcome
    base = Stats.of(base_samples)

    def vs_store(subject: str, stats: Stats, target: float | None = None) -> Figure:
        return Figure(subject, "µs", stats, base, BASELINE, target)

    dispatch, routing, direct, resolve, http = gateway_figures
    function = outcome.details["function"]
    outcome.figures.append(vs_store(f"LocalGateway.dispatch GET {PATH}", dispatch, TARGET_RATIO))
    outcome.figures.append(vs_store("  part: route match + event build", routing))
    outcome.figures.append(vs_store(f"  part: Lambda handler ({function})", direct))
    if resolve is not None:
        outcome.figures.append(vs_store("    part: Powertools resolver (app.resolve)", resolve))
    if http is not None:
        outcome.figures.append(vs_store(f"HTTP GET {PATH} via uvicorn + httpx", http))
    return outcome


_GatewayFigures = tuple[Stats, Stats, Stats, Stats | None, Stats | None]


def _gateway_figures(
    root: Path, calls: int, warmup: int, http_requests: int, outcome: Outcome
) -> _GatewayFigures | None:
    """dispatch, route+event, handler, resolver, HTTP; None (with a failure) if it broke."""
    gateway = LocalGateway(root)
    matched = gateway.match("GET", PATH)
    if matched is None:
        outcome.failures.append(f"gateway: no route for GET {PATH} in template.yaml")
        return None
    route, params = matched
    outcome.details["function"] = route.function
    # Load the function before silencing logs: its Logger opens its stream at import.
    handler = gateway.handler(route.function)
    resolver = getattr(load_module(gateway.functions[route.function], root), "app", None)
    resolve_fn = getattr(resolver, "resolve", None)
    with quiet_logs() as sink:
        first = gateway.dispatch(request())
        if first.status != 200 or json.loads(first.body).get("status") != "ok":
            outcome.failures.append(f"gateway: GET {PATH} answered {first.status}")
            return None
        statuses: list[int] = []

        def dispatch_once() -> None:
            statuses.append(gateway.dispatch(request()).status)

        dispatch = time_calls(dispatch_once, calls, warmup)
        event = build_event(request(), route, params)
        direct = time_calls(
            lambda: handler(event, LocalLambdaContext(route.function)), calls, warmup
        )
        resolve = (
            time_calls(lambda: resolve_fn(event, LocalLambdaContext(route.function)), calls, warmup)
            if callable(resolve_fn)
            else None
        )
        http = _time_http(gateway, root, http_requests, outcome) if http_requests > 0 else None
    routing = time_calls(lambda: _route_and_event(gateway), calls, warmup)
    bad = sum(status != 200 for status in statuses)
    if bad:
        outcome.failures.append(f"gateway: {bad} of {len(statuses)} dispatches were not 200")
    outcome.details["log_lines"] = sink.lines
    return dispatch, routing, direct, resolve, http


def _time_http(gateway: LocalGateway, root: Path, n: int, outcome: Outcome) -> Stats | None:
    """Real HTTP on 127.0.0.1 through the `tpm dev` ASGI app; the server thread is always
    told to exit and joined, so the benchmark cannot leave it running."""
    import httpx
    import uvicorn

    from tpm.local.server import create_asgi_app

    app = create_asgi_app(gateway, root / "portal")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # proto=IPPROTO_TCP, as `uvicorn --port` binds: asyncio only sets TCP_NODELAY on such
    # sockets, and without it Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                outcome.failures.append("http: uvicorn did not start")
                return None
            time.sleep(0.01)
        # trust_env=False: a proxy from the environment must not sit in the loopback path.
        # The client sets TCP_NODELAY too, as browsers do.
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        base_url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base_url, transport=transport, trust_env=False) as client:
            statuses: list[int] = []
            stats = time_calls(lambda: statuses.append(client.get(PATH).status_code), n)
        bad = sum(status != 200 for status in statuses)
        if bad:
            outcome.failures.append(f"http: {bad} of {len(statuses)} requests were not 200")
        return stats
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        if thread.is_alive():
            outcome.failures.append("http: uvicorn did not stop")


def benchmark(options: Options) -> Outcome:
    return measure(
        options.root,
        calls=QUICK_CALLS if options.quick else CALLS,
        http_requests=QUICK_HTTP_REQUESTS if options.quick else HTTP_REQUESTS,
    )
