"""Typed settings, read once at the edge from luigi.cfg's ``[csvdock]`` section and the environment.

Precedence, highest first: explicit overrides (CLI options) > environment > luigi.cfg > defaults.
Per-table settings live in ``[csvdock.table.NAME]`` sections and override the global ones.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from csvdock.core.errors import ConfigError
from csvdock.targets import DEFAULT_TARGET, parse_target

DEFAULT_NULL_TOKENS = ("", "NA", "N/A", "NULL", "null", "\\N")
Mode = Literal["etl", "elt"]  # etl: cast with Polars, then load; elt: load raw, cast in SQL
Evolution = Literal["evolve", "freeze", "discard_columns"]
EVOLUTION_POLICIES: tuple[Evolution, ...] = get_args(Evolution)
MODES: tuple[Mode, ...] = get_args(Mode)


@dataclass(frozen=True)
class TableSettings:
    """Settings that may differ per table."""

    evolution: Evolution = "evolve"
    mode: Mode = "etl"
    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = None
    header: bool | None = None
    encoding: str | None = None
    null_tokens: tuple[str, ...] = DEFAULT_NULL_TOKENS
    outlier_share: float = 0.001
    max_reject_ratio: float | None = None
    max_rejects: int | None = None
    keep_raw: bool = False


@dataclass(frozen=True)
class Settings:
    """Everything csvdock needs to know, typed and validated."""

    workspace: Path = Path(".csvdock")
    target: str = DEFAULT_TARGET
    schemas_dir: Path = Path("schemas")
    report: bool = True
    notebooks_dir: Path | None = None
    log_level: str = "INFO"
    api_token: str | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    upload_read_timeout: float = 30.0  # seconds an upload's body may stall before a 408
    daily_input: str = "data/input/{date:%Y-%m-%d}/*.csv"
    retries: int = 3
    retry_delay: float = 1.0
    # A file of at most this many bytes runs as one Luigi task (extract, transform, load in one
    # go, no checkpoint folders kept); 0: every file runs as three tasks with checkpoints.
    small_file_bytes: int = 1024 * 1024
    # A file of at least this many bytes copies no records: its types are checked on the source
    # and the load casts from it (``csvdock.pipeline.in_source``); None: off.
    in_source_bytes: int | None = 16 * 1024 * 1024
    defaults: TableSettings = field(default_factory=TableSettings)
    tables: dict[str, TableSettings] = field(default_factory=dict)

    def for_table(self, table: str) -> TableSettings:
        """Return the settings for ``table`` (its own section, else the defaults)."""
        return self.tables.get(table, self.defaults)

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the non-None ``overrides`` applied to global and per-table settings.

        Keys that belong to ``TableSettings`` apply to every table (a CLI option wins everywhere).
        """
        table_keys = {f.name for f in dataclasses.fields(TableSettings)}
        given = {k: v for k, v in overrides.items() if v is not None}
        table_over = {k: v for k, v in given.items() if k in table_keys}
        top = {k: v for k, v in given.items() if k not in table_keys}
        result = dataclasses.replace(self, **top)
        if table_over:
            result = dataclasses.replace(
                result,
                defaults=_validated(dataclasses.replace(result.defaults, **table_over)),
                tables={
                    name: _validated(dataclasses.replace(ts, **table_over))
                    for name, ts in result.tables.items()
                },
            )
        parse_target(result.target)
        return result


def config_path() -> Path:
    """Return the luigi.cfg that applies: ``LUIGI_CONFIG_PATH`` or ``./luigi.cfg``."""
    return Path(os.environ.get("LUIGI_CONFIG_PATH", "luigi.cfg"))


SETTINGS_ENVIRONMENT = (
    "CSVDOCK_TARGET",
    "CSVDOCK_WORKSPACE",
    "CSVDOCK_REPORT",
    "CSVDOCK_API_TOKEN",
)


def settings_inputs() -> tuple[object, ...]:
    """Return what ``load_settings()`` reads (the working directory, luigi.cfg's path and
    version, the environment): a process may keep its settings while these stay the same."""
    cfg = config_path().absolute()
    version = (cfg.stat().st_mtime_ns, cfg.stat().st_size) if cfg.exists() else None
    return (Path.cwd(), cfg, version, *(os.environ.get(k) for k in SETTINGS_ENVIRONMENT))


def load_settings(path: Path | None = None) -> Settings:
    """Read settings from ``path`` (default: ``config_path()``) and the environment."""
    parser = configparser.ConfigParser(interpolation=None)
    cfg = path or config_path()
    if cfg.exists():
        try:
            parser.read(cfg, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{cfg}: {exc}") from exc
    section = parser["csvdock"] if parser.has_section("csvdock") else {}
    defaults = _table_settings(section, TableSettings(), f"{cfg} [csvdock]")
    tables = {
        name.removeprefix("csvdock.table."): _table_settings(
            parser[name], defaults, f"{cfg} [{name}]"
        )
        for name in parser.sections()
        if name.startswith("csvdock.table.")
    }
    target = os.environ.get("CSVDOCK_TARGET") or section.get("target", DEFAULT_TARGET)
    settings = Settings(
        workspace=Path(
            os.environ.get("CSVDOCK_WORKSPACE") or section.get("workspace", ".csvdock")
        ).absolute(),
        target=target,
        schemas_dir=Path(section.get("schemas_dir", "schemas")).absolute(),
        report=_bool(
            {"report": os.environ.get("CSVDOCK_REPORT") or section.get("report", "true")},
            "report",
            True,
            cfg,
        ),
        notebooks_dir=Path(section["notebooks_dir"]).absolute()
        if "notebooks_dir" in section
        else None,
        log_level=section.get("log_level", "INFO"),
        api_token=os.environ.get("CSVDOCK_API_TOKEN") or section.get("api_token") or None,
        max_upload_bytes=_int(section, "max_upload_mb", 100, cfg) * 1024 * 1024,
        upload_read_timeout=_float(section, "upload_read_timeout", cfg)
        if "upload_read_timeout" in section
        else 30.0,
        daily_input=section.get("daily_input", "data/input/{date:%Y-%m-%d}/*.csv"),
        retries=_int(section, "retries", 3, cfg),
        retry_delay=_float(section, "retry_delay", cfg) if "retry_delay" in section else 1.0,
        small_file_bytes=_int(section, "small_file_kb", 1024, cfg) * 1024,
        in_source_bytes=_in_source_bytes(section, cfg),
        defaults=defaults,
        tables=tables,
    )
    parse_target(settings.target)
    return settings


def _table_settings(section: Any, base: TableSettings, where: str) -> TableSettings:
    values: dict[str, Any] = {}
    for key in ("evolution", "mode", "delimiter", "quote", "escape", "encoding"):
        if key in section:
            values[key] = _unescape(section[key])
    if "header" in section:
        values["header"] = _bool(section, "header", True, where)
    if "null_tokens" in section:
        values["null_tokens"] = tuple(t.strip() for t in section["null_tokens"].split(","))
    if "keep_raw" in section:
        values["keep_raw"] = _bool(section, "keep_raw", False, where)
    for key in ("outlier_share", "max_reject_ratio"):
        if key in section:
            values[key] = _float(section, key, where)
    if "max_rejects" in section:
        values["max_rejects"] = _int(section, "max_rejects", 0, where)
    return _validated(dataclasses.replace(base, **values), where)


def _validated(ts: TableSettings, where: str = "options") -> TableSettings:
    if ts.evolution not in EVOLUTION_POLICIES:
        raise ConfigError(
            f"{where}: evolution must be one of {', '.join(EVOLUTION_POLICIES)}, "
            f"not {ts.evolution!r}"
        )
    if ts.mode not in MODES:
        raise ConfigError(f"{where}: mode must be one of {', '.join(MODES)}, not {ts.mode!r}")
    for key in ("delimiter", "quote", "escape"):
        value = getattr(ts, key)
        if value is not None and len(value) != 1:
            raise ConfigError(f"{where}: {key} must be one character, not {value!r}")
    return ts


def _unescape(value: str) -> str | None:
    value = value.strip()
    if value in ("", "auto"):
        return None
    return {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(value, value)


def _bool(section: Any, key: str, default: bool, where: object) -> bool:
    raw = str(section.get(key, default)).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{where}: {key} must be true or false, not {raw!r}")


def _in_source_bytes(section: Any, cfg: object) -> int | None:
    """Return ``in_source_kb`` in bytes (``off``: None)."""
    if section.get("in_source_kb", "").strip().lower() == "off":
        return None
    return _int(section, "in_source_kb", 16 * 1024, cfg) * 1024


def _int(section: Any, key: str, default: int, where: object) -> int:
    try:
        return int(section.get(key, default))
    except ValueError:
        raise ConfigError(f"{where}: {key} must be a whole number") from None


def _float(section: Any, key: str, where: object) -> float:
    try:
        return float(section[key])
    except ValueError:
        raise ConfigError(f"{where}: {key} must be a number") from None
