"""Every limit and knob of the app, in one pydantic-settings object (env prefix BACKPROP_LAB_)."""

from __future__ import annotations

import sys
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.nn.kernel_slot import KernelName


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKPROP_LAB_", extra="ignore")

    # Where sessions live: "memory" (one process) or a redis:// URL (any number of workers).
    store: str = "memory"
    session_ttl: float = Field(7200.0, gt=0, description="idle seconds before a session expires")
    max_sessions: int = Field(10_000, ge=1, description="least recently used evicted beyond")

    min_layers: int = 2
    max_layers: int = 10
    max_neurons: int = 64
    max_samples: int = 5_000
    max_abs_value: float = 1e6
    max_learning_rate: float = 100.0
    max_regularization_rate: float = 100.0
    max_epochs: int = 100_000
    train_time_budget: float = Field(2.0, gt=0, description="seconds per train call")
    max_body_bytes: int = 1 << 20
    # An export of a long session (100,000 history points, each with its gradient norms) is
    # over max_body_bytes; the two import paths take bodies up to this size so it opens again.
    max_import_bytes: int = Field(16 << 20, ge=1, description="request body of POST "
                                  "/api/v1/sessions/import and of the page's /open (413)")
    import_precheck_bytes: int = Field(
        1 << 20, ge=0, description="an import body this big or bigger is first checked in a "
        "separate process, so an invalid one never holds up the server (0: off)")
    history_limit: int = Field(100_000, ge=16, description="stored loss-history points")
    # Replies carry a decimated history unless the client asks for more (?history=N or all).
    history_default_points: int = Field(250, ge=2, description="history points in a reply "
                                        "without ?history")
    history_max_points: int = Field(100_000, ge=2, description="most history points a reply "
                                    "may carry (?history=N, ?history=all)")
    trace_default_max: int = Field(32, description="trace rows shown without ?samples")
    gradcheck_max_work: int = Field(
        20_000_000, description="parameters × samples × 2 forward passes a gradcheck may do"
    )
    lock_timeout: float = Field(30.0, description="seconds a session lock is held at most")
    # Teaching sessions: undo, follow (watch links), one noisy client.
    undo_depth: int = Field(100, ge=0, le=10_000, description="restore points kept each way")
    undo_max_bytes: int = Field(8 << 20, ge=0, description="bytes of restore points per session")
    watch_max_per_session: int = Field(500, ge=1, description="open watch streams per session")
    watch_max_streams: int = Field(
        2000, ge=1, description="open watch streams per worker, all sessions together (what "
        "protects the server's connections; a class behind one address is one client)")
    watch_buffer_bytes: int = Field(
        512 << 20, ge=1 << 20, description="bytes per worker that watch streams' frames may "
        "hold while their clients read slowly (3 frames each at most); a frame that does not "
        "fit is skipped, a new stream refused (429)")
    watch_check_interval: float = Field(
        15.0, gt=0, le=3600, description="seconds: a quiet watch stream checks that its "
        "session still exists (an expired or deleted session's streams end)")
    watch_max_per_client: int = Field(
        0, ge=0, description="open watch streams per client address (0: no limit, the "
        "default: a class behind one NAT address is one client)")
    watch_min_interval: float = Field(
        0.2, ge=0, le=10, description="seconds between two events to one watcher (coalesced)")
    watch_cache_bytes: int = Field(
        64 << 20, ge=0, description="bytes per worker of what watchers read: the copies of "
        "watched sessions' last saved states and their rendered frames (least recently used "
        "out)")
    create_rate_limit: int = Field(
        1000, ge=0, description="sessions a client address may create per minute (0: no "
        "limit); far above a class of 200 behind one NAT address each making a copy: sessions "
        "in use are bounded by max_sessions and memory_budget")
    active_window: float = Field(
        600.0, ge=0, description="seconds: a session used this recently is never evicted")
    # The training kernel (app/nn/kernel_slot.py), fixed per session at creation: "auto" = new
    # sessions train on the compiled kernel (numba, compiled at start-up in a thread) unless
    # their config asks for "numpy" (the lesson preset does), NumPy where numba is missing;
    # "numpy" = every session on the step-through arithmetic, bit for bit; "numba" = compiled.
    kernel: KernelName = "auto"
    kernel_wait: float = Field(
        2.0, ge=0, description="seconds a train of a session on the compiled kernel may wait "
        "for this process to finish compiling it before its budget starts (then 503, retry; "
        "capped at lock_timeout − train_time_budget − 1). A Play tick waits within tick_budget, "
        "then trains nothing that tick")
    tick_budget: float = Field(0.05, gt=0, description="seconds of training per Play tick")
    # Play on the page with JavaScript: one stream per playing page (app/web/routes/play.py) pushes
    # a frame every play_interval; beyond play_max_streams the page polls POST /tick instead.
    play_interval: float = Field(
        0.25, ge=0.05, le=5, description="seconds from one Play tick's start to the next on a "
        "playing page's stream (4 ticks a second)")
    play_max_streams: int = Field(
        500, ge=0, description="open Play streams per worker (each holds a gzip compressor "
        "of about 160 KB); a page beyond it plays by polling (one request per tick) instead: "
        "nobody is refused, a class behind one address included")
    # Train N on the page with JavaScript: a run of chunks, each one request (app/sessions/
    # runs.py); the page asks for the next chunk this often (a chunk still in flight: as soon
    # as it returns), so the diagram and loss curve move at about Play's pace.
    run_chunk_budget: float = Field(
        0.2, gt=0, description="seconds of training per chunk of a long run on the page "
        "(at most train_time_budget)")
    run_poll_interval: float = Field(
        0.25, ge=0.05, le=5, description="seconds between the page's requests for the next "
        "chunk of a long run")
    parallel_operations: int = Field(
        2, ge=1, le=256,
        description="short session operations (and their page renders) run at once per "
        "process; the others wait in arrival order (train and gradcheck run beside them)")
    gil_switch_interval: float = Field(
        0.005, gt=0, le=0.1,
        description="seconds a thread may hold Python's GIL while another waits for it "
        "(Python's default, 0.005: a class on one process got more ticks per CPU second from "
        "it than from 0.001; docs/performance.md)")
    accept_batch: int = Field(
        1, ge=1, le=10_000,
        description="connections a worker accepts per turn of its event loop: with --workers "
        "N a busy worker leaves new connections (a class opening its pages at once) to the "
        "others (app/fair_accept.py)")
    max_added_points: int = Field(500, ge=0, description="points a session may add to its data")
    heatmap_cache: int = Field(256, ge=0, description="per-neuron heatmap sets kept (LRU)")
    # Content-Security-Policy and other headers are fixed; see app/main.py.
    log_level: str = "info"

    # --- budgets (issue #8): every request bounded in time, memory and reply size ---------
    max_history_epoch: int = Field(
        10**9, ge=1, description="largest epoch number (and count) a session may reach or import")
    max_iteration: int = Field(
        10**15, ge=1, description="largest iteration count a session may reach or import")
    max_history_loss: float = Field(
        sys.float_info.max, gt=0, description="largest loss an imported history point may "
        "carry (default: any finite value, as training can reach any; the charts cope)")
    session_max_bytes: int = Field(
        64 << 20, ge=1 << 20, description="estimated bytes one session may need at its peak "
        "(weights, data, trace and kernel buffers of a full pass, history)")
    memory_budget: int = Field(
        512 << 20, ge=1, description="estimated bytes of all sessions together; least "
        "recently used sessions are evicted beyond it (503 when none can be)")
    max_reply_bytes: int = Field(
        8 << 20, ge=1 << 16, description="estimated bytes of one reply (JSON or HTML)")
    render_memory_budget: int = Field(
        96 << 20, ge=1 << 20, description="estimated peak bytes that page renders, watchers' "
        "frames and state replies may hold at once per worker (a big network's page holds ~10 "
        "times its HTML while it is built); one over it waits (render_wait), then 503")
    render_wait: float = Field(
        5.0, gt=0, le=60, description="seconds a render may wait for render_memory_budget "
        "before the request is answered 503 with Retry-After")
    max_form_fields: int = Field(200, ge=16, description="fields in one submitted form")
    gradcheck_time_budget: float = Field(5.0, gt=0, description="seconds per gradient check")
    gradcheck_estimate_after: float = Field(
        0.25, ge=0, description="seconds into a gradient check after which its pace so far "
        "estimates the whole; one that cannot end within gradcheck_time_budget stops there "
        "and says how long it would take (0: never estimate)")
    body_read_timeout: float = Field(
        5.0, gt=0, description="seconds a client may take to send a request body (then 408)")
    public_base_url: str = Field(
        "", description="prefix of the Location header (e.g. https://lab.example.org); "
        "empty: a relative URL, never one built from the Host header")
    csrf_trusted_origins: str = Field(
        "", description="comma-separated origins (https://host[:port]) besides the server's "
        "own and public_base_url's whose pages may change sessions (docs/security-notes.md)")
    timeout_keep_alive: int = Field(5, ge=1, description="uvicorn: idle keep-alive seconds")
    header_read_timeout: float = Field(
        10.0, gt=0, le=600, description="seconds a client may take to send a request's line "
        "and headers (then the connection is closed; app/server_protocol.py)")
    h11_max_incomplete_event_size: int = Field(
        16 * 1024, ge=1024, description="uvicorn/h11: bytes of request line + headers")

    # --- class polls and the class's network (issue #20) ---------------------------------
    poll_max_per_session: int = Field(100, ge=1, description="polls a session keeps (409 beyond)")
    poll_max_answers: int = Field(
        1000, ge=1, description="answers (student tokens) one poll accepts (409 beyond)")
    poll_answer_max_bytes: int = Field(
        1024, ge=64, description="request body of one student's answer (413 beyond)")
    poll_prompt_max_chars: int = Field(300, ge=20, description="characters of a poll's prompt")
    poll_max_choices: int = Field(12, ge=2, description="choices of a choice poll")
    # What `backprop-lab --host/--lan` bound (the CLI sets it): lan_urls come from it.
    listen_host: str = Field(
        "127.0.0.1", description="the address the server listens on (set by the command); "
        "0.0.0.0 or :: (--lan): watch links also on the machine's network addresses")


@lru_cache
def get_settings() -> Settings:
    return Settings()
