"""Many models on Ray: one resident actor per model directory, requests routed by model id.

Each model (one per market or tenant) is a model directory; its actor is the only process
that writes it (the directory's lock still refuses a second writer), so its audit log holds
exactly the requests routed to it. Results and audit entries come back to the caller.

    python examples/ray_many_models.py          # two small models on a local Ray cluster

Actors ask for CPU resources by default: on a machine without a GPU, an actor asking
``num_gpus=1`` would wait forever. On a GPU cluster pass ``num_gpus=1`` (or a fraction, to
share a GPU between small models); docs/USAGE.md says how this scales and what breaks first.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import ray

import ifru


@ray.remote
class ModelActor:
    """Owns one model directory: applies its requests one at a time and commits each."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.model = ifru.Model.open(path)

    def forget(self, rows: Any, **options: Any) -> Dict[str, Any]:
        return self.model.forget(rows, **options).to_dict()

    def recommend(self, user: Any, k: int = 10) -> List:
        return self.model.recommend(user, k)

    def audit(self) -> List[Dict[str, Any]]:
        text = (self.path / "audit.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines() if line]


class Router:
    """Routes requests to the actor that owns the model."""

    def __init__(self, models: Dict[str, str], num_gpus: float = 0, num_cpus: float = 1):
        self.actors = {
            model_id: ModelActor.options(num_gpus=num_gpus, num_cpus=num_cpus).remote(path)
            for model_id, path in models.items()
        }

    def forget(self, model_id: str, rows: Any, **options: Any) -> "ray.ObjectRef":
        if model_id not in self.actors:
            raise ifru.BadInputError(f"no model {model_id!r} (have {sorted(self.actors)})")
        return self.actors[model_id].forget.remote(rows, **options)

    def audit(self, model_id: str) -> List[Dict[str, Any]]:
        return ray.get(self.actors[model_id].audit.remote())


def write_synthetic_folder(folder: Path, users: int = 60, items: int = 50, seed: int = 7) -> None:
    """A small IFRU-protocol folder whose labels follow hidden factors (10 training rows, one
    flipped row, one validation and one test row per user)."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(size=(users, 3)), rng.normal(size=(items, 3))
    names = ["train_normal"] * 10 + ["train_random", "valid", "test"]
    files = {name: ["user,item,label"] for name in set(names)}
    for u in range(users):
        for k, name in enumerate(names):
            i = (7 * u + 3 * k) % items
            label = int(p[u] @ q[i] + 0.3 * rng.normal() > 0)
            if name == "train_random":
                label = 1 - label
            files[name].append(f"{u},{i},{label}")
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")


def main(workdir: Optional[Path] = None) -> None:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="ifru-ray-"))
    models = {}
    for market, seed in (("eu", 7), ("us", 8)):
        data = workdir / f"data-{market}"
        write_synthetic_folder(data, seed=seed)
        ifru.train(data=data, out=workdir / market, model="mf", dim=8, epochs=5, lr=0.01)
        models[market] = str(workdir / market)
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try:
        router = Router(models)
        pending = [
            router.forget("eu", [("3", "21"), ("3", "24")]),
            router.forget("us", [("5", "35")]),
            router.forget("eu", [("4", "28")]),
        ]
        for result in ray.get(pending):
            check = result.get("forgetting_check") or {}
            print(f"{result['model_dir']} {result['version']}: forgot {result['request']['rows']} rows, check {check.get('passed')}")
        for market in models:
            commands = [entry["command"] for entry in router.audit(market)]
            print(f"{market}: audit log {commands}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
