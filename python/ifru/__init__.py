"""Recommendation unlearning with influence functions, on the GPU.

A model lives in a model directory (versions, an audit log, the lock that keeps one writer).
Train one, or bring one trained elsewhere, then forget rows from it::

    import ifru
    model = ifru.import_model(embeddings="lightgcn.safetensors", data="gowalla",
                              out="gowalla-model", model="lightgcn", layers=3, loss="bpr")
    result = model.forget([("u17", "i42"), ("u17", "i7")])
    print(result.forgetting_check["passed"], result.version)
    users, items = model.embeddings()

Keyword arguments are the command line's long flags (``dim=16`` is ``--dim 16``,
``full_batch=True`` is ``--full-batch``); ids are the data's own. Nothing is printed unless
``verbose=True``: otherwise progress and summaries go to the ``ifru`` logger (``logging``). Errors
raise :class:`IfruError` subclasses: :class:`BadInputError`, :class:`LockHeldError`,
:class:`DataMismatchError`, :class:`DeviceError`, :class:`SolveRefusedError`,
:class:`CheckFailedError`, :class:`UnusableError`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple, Union

import numpy as np

from . import _ifru
from ._ifru import (
    BadInputError,
    CheckFailedError,
    DataMismatchError,
    DeviceError,
    IfruError,
    LockHeldError,
    SolveRefusedError,
    UnusableError,
)

__all__ = [
    "Model",
    "Unlearner",
    "ForgetResult",
    "train",
    "import_model",
    "run",
    "IfruError",
    "BadInputError",
    "LockHeldError",
    "DataMismatchError",
    "DeviceError",
    "SolveRefusedError",
    "CheckFailedError",
    "UnusableError",
]

PathLike = Union[str, "os.PathLike[str]"]


def _flags(options: dict) -> list:
    """``{"dim": 16, "full_batch": True, "x": None}`` -> ``["--dim", "16", "--full-batch"]``."""
    out = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return out


log = logging.getLogger("ifru")


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Captures what the native code writes to stdout and stderr unless ``verbose``, and
    hands it to the ``ifru`` logger line by line (INFO; ``warning:`` lines at WARNING), so
    nothing is printed unless asked, by ``verbose=True`` or by configuring ``logging``."""
    if verbose:
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError):
            pass
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as captured:
        try:
            os.dup2(captured.fileno(), 1)
            os.dup2(captured.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if line.strip():
                    level = logging.WARNING if line.startswith("warning:") else logging.INFO
                    log.log(level, "%s", line)


def run(*args: str, verbose: bool = False, device: Optional["_ifru.Device"] = None) -> None:
    """Runs ``ifru ARGS...`` in this process, as the command line would (``ifru unlearn`` on
    ``device`` when given, instead of a device opened for the request)."""
    argv = [str(a) for a in args]
    with _quiet(verbose):
        if device is None:
            _ifru.run(argv)
        else:
            device.run(argv)


@dataclass
class ForgetResult:
    """What one forget request did: the new version, the update's figures and the check."""

    version: str
    method: str
    seconds: float
    forgetting_check: Optional[dict]
    metrics: dict
    warnings: list
    report: dict = field(repr=False)

    def to_dict(self) -> dict:
        """The whole ``ifru unlearn`` report."""
        return dict(self.report)


_METRIC_KEYS = (
    "test_auc",
    "valid_auc",
    "forget_auc",
    "forget_auc_b",
    "recall@20",
    "ndcg@20",
    "forget_rank",
    "forget_rank_b",
)


def _rows_file(rows: Any, folder: Path) -> Path:
    """A forget file (``user,item[,label]``) for ``rows``: a path as it is; a pandas or
    polars DataFrame with ``user`` and ``item`` (and ``label``) columns; or rows of
    ``(user, item[, label])``."""
    if isinstance(rows, (str, os.PathLike)):
        return Path(rows)
    columns = getattr(rows, "columns", None)
    if columns is not None:
        names = [str(c) for c in columns]
        keep = [c for c in ("user", "item", "label") if c in names]
        if keep[:2] != ["user", "item"]:
            raise BadInputError(f"a DataFrame of rows needs 'user' and 'item' columns, not {names}")
        data = rows[keep]
        table = data.to_numpy().tolist() if hasattr(data, "to_numpy") else list(data.rows())
    else:
        table = [list(r) for r in np.asarray(rows, dtype=object).tolist()]
        keep = ["user", "item", "label"][: len(table[0])] if table else ["user", "item"]
    path = folder / "rows.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keep)
        w.writerows(table)
    return path


class Model:
    """A model directory."""

    _device: Optional["_ifru.Device"] = None

    def __init__(self, path: PathLike, data: Optional[PathLike] = None, verbose: bool = False):
        self.path = Path(path)
        self.data = data
        self.verbose = verbose

    @classmethod
    def open(cls, path: PathLike, data: Optional[PathLike] = None, verbose: bool = False) -> "Model":
        """Opens a model directory (``data``: its data, if it moved)."""
        model = cls(path, data, verbose)
        if not (model.path / "CURRENT").is_file():
            raise BadInputError(f"{model.path}: not a model directory (no CURRENT)")
        return model

    def __repr__(self) -> str:
        return f"ifru.Model({str(self.path)!r})"

    def forget(
        self,
        rows: Any,
        kind: Optional[str] = None,
        method: Optional[str] = None,
        **options: Any,
    ) -> ForgetResult:
        """Forgets ``rows`` and commits a new version of the model.

        ``kind``: ``"genuine"`` or ``"flipped"`` (default: detected as the command line
        does); ``method``: ``"ifru"`` (the default), ``"ifru-fixed"``, ``"retrain"``, ...;
        other keywords are ``ifru unlearn``'s flags (``skip_missing=True``,
        ``on_check_fail="refuse"``, ``damping=0.5``, ...).
        """
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            forget = _rows_file(rows, tmp)
            report_path = tmp / "report.json"
            args = ["unlearn", "--model", self.path, "--forget", forget, "--report", report_path]
            args += _flags({"data": self.data, "forget_rows": kind, "method": method, **options})
            run(*args, verbose=self.verbose, device=self._device)
            report = json.loads(report_path.read_text())
        return ForgetResult(
            version=report["version"],
            method=report["method"],
            seconds=float(report.get("seconds", 0.0)),
            forgetting_check=report.get("forgetting_check"),
            metrics={k: report[k] for k in _METRIC_KEYS if k in report},
            warnings=list(report.get("warnings", [])),
            report=report,
        )

    def evaluate(self, **options: Any) -> dict:
        """``ifru eval``'s report: AUCs for BCE models, Recall/NDCG@20 for BPR ones."""
        with tempfile.TemporaryDirectory() as tmp:
            report_path = Path(tmp) / "eval.json"
            args = ["eval", "--model", self.path, "--report", report_path]
            run(*args, *_flags({"data": self.data, **options}), verbose=self.verbose)
            return json.loads(report_path.read_text())

    def embeddings(self, final: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """``(users, items)`` as float32 arrays, rows in the order of the data's ids.

        ``final=True``: the embeddings a score uses (after LightGCN's propagation on the
        model's current graph); ``False``: the parameters, for an imported model at the width
        it came with.
        """
        data = None if self.data is None else os.fspath(self.data)
        with _quiet(self.verbose):
            users, items, nu, ni, width = _ifru.tables(os.fspath(self.path), final, data)
        u = np.frombuffer(users, dtype="<f4").reshape(nu, width)
        i = np.frombuffer(items, dtype="<f4").reshape(ni, width)
        return u.copy(), i.copy()

    def recommend(self, users: Any, k: int = 20) -> Any:
        """Top ``k`` items as ``(item id, score)`` pairs, training items left out, on the
        model's current graph: a list for one user, a list of lists for a list of users."""
        one = isinstance(users, (str, int, np.integer))
        ids = [str(users)] if one else [str(u) for u in users]
        data = None if self.data is None else os.fspath(self.data)
        with _quiet(self.verbose):
            lists = _ifru.recommend(os.fspath(self.path), ids, k, data)
        return lists[0] if one else lists


class Unlearner(Model):
    """A model kept resident with its device for a stream of requests: each :meth:`forget`
    commits a new version as :meth:`Model.forget` does, without opening a device per
    request. One process writes a model directory at a time (its lock holds)."""

    def __init__(self, path: PathLike, data: Optional[PathLike] = None, verbose: bool = False):
        super().__init__(path, data, verbose)
        if not (self.path / "CURRENT").is_file():
            raise BadInputError(f"{self.path}: not a model directory (no CURRENT)")
        with _quiet(verbose):
            self._device = _ifru.Device()

    @property
    def adapter(self) -> str:
        """The device's adapter."""
        assert self._device is not None
        return self._device.adapter()


def train(data: PathLike, out: PathLike, verbose: bool = False, **options: Any) -> Model:
    """``ifru train``: trains on the GPU and writes the model directory ``out``."""
    run("train", "--data", data, "--out", out, *_flags(options), verbose=verbose)
    return Model(out, verbose=verbose)


def import_model(
    embeddings: PathLike, data: PathLike, out: PathLike, verbose: bool = False, **options: Any
) -> Model:
    """``ifru import``: a model trained elsewhere (safetensors or ``.npy`` tables whose rows
    are the data's ids) as the model directory ``out``."""
    run("import", "--embeddings", embeddings, "--data", data, "--out", out, *_flags(options), verbose=verbose)
    return Model(out, data=None, verbose=verbose)
