"""Runs train.py as `__main__`, then exports its global `model` for the runner's attested evaluation.

    python bootstrap.py ARTIFACT BATCH TRAIN_SCRIPT

The runner starts train.py through this file. train.py runs exactly as `python train.py` would (same
`__main__`, argv, sys.path and exit code); only after it returns does this file look up the model (a global
named `model`, unwrapped from torch.compile) and write a torch.export program to ARTIFACT: a graph of the
forward pass plus the weights, with none of train.py's Python code. The outcome of that step goes to
ARTIFACT.json, never to stdout, so run.log ends with train.py's own summary block.
"""

import json
import os
import sys
import time
import types

MODEL_GLOBAL = "model"


def _write_meta(artifact: str, meta: dict) -> None:
    tmp = artifact + ".json.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(meta, fh)
    os.replace(tmp, artifact + ".json")


def _find_model(namespace: dict):
    import torch

    model = namespace.get(MODEL_GLOBAL)
    if not isinstance(model, torch.nn.Module):
        found = [v for k, v in namespace.items() if isinstance(v, torch.nn.Module) and not k.startswith("_")]
        if len(found) != 1:
            raise LookupError(
                f"train.py has no global `{MODEL_GLOBAL}` (an nn.Module): name the trained model `model`"
            )
        model = found[0]
    return getattr(model, "_orig_mod", model)  # torch.compile's wrapper holds the real module


def export_model(namespace: dict, artifact: str, batch: int) -> dict:
    import torch

    t0 = time.monotonic()
    model = _find_model(namespace)
    prepare = sys.modules.get("prepare")
    seq_len = getattr(prepare, "MAX_SEQ_LEN", None)
    if not isinstance(seq_len, int):
        raise LookupError("train.py never imported prepare.py: the sequence length is unknown")
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    model.eval()
    example = torch.zeros((batch, seq_len), dtype=torch.long, device=device)
    with torch.no_grad():
        program = torch.export.export(model, (example,), strict=False)
    tmp = artifact[: -len(".pt2")] + ".tmp.pt2" if artifact.endswith(".pt2") else artifact + ".tmp"
    torch.export.save(program, tmp)
    os.replace(tmp, artifact)
    return {
        "ok": True,
        "device": device.type,
        "batch": batch,
        "seq_len": seq_len,
        "params": sum(p.numel() for p in model.parameters()),
        "export_seconds": round(time.monotonic() - t0, 3),
        "bytes": os.path.getsize(artifact),
    }


def main() -> int:
    artifact, batch, script = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    path = os.path.abspath(script)
    sys.argv = [script]
    sys.path[0] = os.path.dirname(path)  # as `python train.py` would have it
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module  # pickling and multiprocessing see train.py as __main__
    with open(path, "rb") as fh:
        code = compile(fh.read(), path, "exec")
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    sys.stdout.flush()
    try:
        meta = export_model(module.__dict__, artifact, batch)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line the runner reports
        text = str(exc).strip()
        message = text.splitlines()[0] if text else "torch.export failed without a message"
        _write_meta(artifact, {"ok": False, "error": message[:300]})
        return 0
    _write_meta(artifact, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
