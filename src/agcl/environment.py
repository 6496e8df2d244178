"""What machine and library builds produced a run: ``RUN/environment.json`` (docs/pipeline.md).

Numbers move with the CPU, the BLAS and the thread count (float summation order), so every run records
them: the CPU model, torch's version and build configuration (its BLAS/LAPACK and parallel backend),
numpy's version and BLAS, the BLAS/OpenMP thread pools in use (threadpoolctl), the thread settings and
the relevant environment variables. Each invocation of a run appends one entry, so a run resumed on
another machine says so. The file is a record, not a setting: it is never part of the resume check.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

from agcl.io import write_json_atomic

log = logging.getLogger(__name__)

FILE = "environment.json"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "AGCL_NUM_THREADS",
                    "CUBLAS_WORKSPACE_CONFIG")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _numpy_blas() -> dict:
    import numpy as np

    try:
        config = np.show_config(mode="dicts")  # numpy >= 1.26
    except TypeError:  # pragma: no cover - older numpy prints instead
        return {}
    deps = config.get("Build Dependencies", {})
    out = {k: {f: v.get(f) for f in ("name", "version", "openblas configuration") if v.get(f)}
           for k, v in deps.items() if isinstance(v, dict)}
    out["simd_found"] = config.get("SIMD Extensions", {}).get("found", [])
    return out


def _thread_pools() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - installed with scikit-learn
        return []
    return [{k: p.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "architecture")}
            for p in threadpool_info()]


def _agcl_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agcl")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "unknown"


def describe_environment() -> dict:
    """The current process: machine, CPU, Python, torch/numpy builds and BLAS, threads. Pure read."""
    import numpy as np
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        usable = os.cpu_count()
    torch_info = {"version": torch.__version__, "num_threads": torch.get_num_threads(),
                  "num_interop_threads": torch.get_num_interop_threads(),
                  "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available(),
                  "deterministic": torch.are_deterministic_algorithms_enabled(),
                  "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
                  "build_config": torch.__config__.show(), "parallel_info": torch.__config__.parallel_info()}
    if torch.cuda.is_available():
        torch_info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "agcl": _agcl_version(),
            "machine": {"system": platform.system(), "release": platform.release(), "arch": platform.machine(),
                        "cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable},
            "python": sys.version.split()[0], "torch": torch_info,
            "numpy": {"version": np.__version__, "build": _numpy_blas()},
            "thread_pools": _thread_pools(),
            "environment_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}}


def record_environment(run_dir: Path) -> Path:
    """Append this invocation's :func:`describe_environment` to ``RUN/environment.json`` (atomic)."""
    path = Path(run_dir) / FILE
    entries: list = []
    if path.is_file():
        try:
            entries = list(json.loads(path.read_text(encoding="utf-8")).get("invocations", []))
        except (ValueError, AttributeError, TypeError) as exc:
            log.warning("%s: unreadable (%s); starting a new record", path, exc)
    entries.append(describe_environment())
    write_json_atomic(path, {"schema": 1, "invocations": entries})
    return path


def summary_line(record: dict) -> str:
    """``CPU, torch 2.x (threads 2), numpy 2.x (openblas 0.3.x)`` of one entry, for logs and reports."""
    blas = record.get("numpy", {}).get("build", {}).get("blas", {})
    return (f"{record['machine']['cpu_model']}, {record['machine']['usable_cpus']} usable CPUs; torch "
            f"{record['torch']['version']} ({record['torch']['num_threads']} threads); numpy "
            f"{record['numpy']['version']} ({blas.get('name', '?')} {blas.get('version', '')})".rstrip())
