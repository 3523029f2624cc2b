"""Every limit and knob of the app, in one pydantic-settings object (env prefix BACKPROP_LAB_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    history_limit: int = Field(100_000, ge=16, description="stored loss-history points")
    trace_default_max: int = Field(32, description="trace rows shown without ?samples")
    gradcheck_max_work: int = Field(
        20_000_000, description="parameters × samples × 2 forward passes a gradcheck may do"
    )
    lock_timeout: float = Field(30.0, description="seconds a session lock is held at most")
    max_added_points: int = Field(500, ge=0, description="points a session may add to its data")
    heatmap_cache: int = Field(256, ge=0, description="per-neuron heatmap sets kept (LRU)")
    # Content-Security-Policy and other headers are fixed; see app/main.py.
    log_level: str = "info"


@lru_cache
def get_settings() -> Settings:
    return Settings()
