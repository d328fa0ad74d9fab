"""The runner's own scorer: loads an exported model and computes bits per byte with the pristine harness.

    python -I evaluator.py --harness DIR --sha256 HEX --artifact FILE [--split val|test] [--probe] [--wait]

Runs in a process the runner controls, after train.py has exited. It imports `prepare` from DIR (the harness
as hashed at setup, checked against HEX first), never the working tree's, and none of train.py's code: the
artifact is a torch.export graph. The model is asked for logits only; prepare's one formula computes the
cross-entropy and the byte counts. With --probe it also checks causality. One JSON object on stdout.
With --wait it gets ready first (torch, the harness, the rows, the loader code) and reads the artifact only
after a line `go` on stdin: the runner starts it beside train.py, whose own start-up hides these imports.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time

# Spinning OpenMP workers collapse throughput when another process shares the cores (as in train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROBE_ROWS = 4  # validation rows the causality probe perturbs
PROBE_CUTS = 8  # cut points per row: tokens after each are replaced, logits up to it must not move
PROBE_SEED = 1234
# Largest |logit change| allowed at positions before a cut. Measured on CPU fp32: exactly 0 for causal
# models. bf16 on CUDA rounds to ~0.06 at |logit| 15; a real leak moves logits by 1 or more.
PROBE_TOLERANCE = {"float32": 1e-3, "bfloat16": 0.1}


def _fail(message: str) -> int:
    print(json.dumps({"ok": False, "error": message}))
    return 1


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


class FixedBatch:
    """Calls an exported program (traced at one batch size) on any number of rows: pads, then trims."""

    def __init__(self, fn, batch: int):
        self.fn, self.batch = fn, batch

    def __call__(self, x):
        import torch

        outs = []
        for start in range(0, x.size(0), self.batch):
            part = x[start : start + self.batch]
            n = part.size(0)
            if n < self.batch:
                part = torch.cat([part, part[:1].expand(self.batch - n, -1)])
            out = self.fn(part)
            out = out[0] if isinstance(out, (tuple, list)) else out
            outs.append(out[:n])
        return torch.cat(outs) if len(outs) > 1 else outs[0]


def causality_probe(model, rows, vocab_size: int, tolerance: float) -> dict:
    """Replace the tokens after position t; the logits at positions <= t must not change."""
    import torch

    x = rows[:PROBE_ROWS, :-1].contiguous()
    T = x.size(1)
    cuts = sorted({max(0, min(T - 2, (k * T) // (PROBE_CUTS + 1))) for k in range(1, PROBE_CUTS + 1)})
    gen = torch.Generator().manual_seed(PROBE_SEED)
    variants, index = [], []
    for r in range(x.size(0)):
        for t in cuts:
            v = x[r].clone()
            v[t + 1 :] = torch.randint(0, vocab_size, (T - t - 1,), generator=gen)
            variants.append(v)
            index.append((r, t))
    device = rows.device
    with torch.no_grad():
        base = model(x.to(device)).float()
        moved = model(torch.stack(variants).to(device)).float()
    worst, leaked = 0.0, set()
    for i, (r, t) in enumerate(index):
        delta = (moved[i, : t + 1] - base[r, : t + 1]).abs().amax(dim=-1)
        worst = max(worst, float(delta.max()))
        leaked.update(int(p) for p in torch.nonzero(delta > tolerance).flatten())
    return {
        "ok": not leaked,
        "max_abs_delta": worst,
        "tolerance": tolerance,
        "rows": x.size(0),
        "cuts": cuts,
        "leaked_positions": sorted(leaked)[:20],
        "leaked_count": len(leaked),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="evaluator.py")
    parser.add_argument("--harness", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--wait", action="store_true", help="read the artifact after `go` on stdin")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    harness_file = os.path.join(args.harness, "prepare.py")
    if not os.path.isfile(harness_file) or _sha256(harness_file) != args.sha256:
        return _fail(f"the pristine harness {harness_file} does not match setup's sha256")
    sys.path.insert(0, args.harness)
    os.environ["AUTORESEARCH_SUPERVISED"] = "1"  # config.SUPERVISED_ENV: the harness's own scorer, not a run
    import torch

    import prepare  # the pristine copy: sys.path[0] is the harness folder

    if os.path.realpath(prepare.__file__) != os.path.realpath(harness_file):
        return _fail(f"imported prepare from {prepare.__file__}, not the pristine harness")
    tokenizer = prepare.Tokenizer.from_directory()
    rows = prepare.eval_rows(tokenizer) if args.split == "val" else prepare._heldout_rows(tokenizer)
    if args.wait:
        try:  # the loader's own imports are most of torch.export.load's time: pay them while waiting
            import torch.export.pt2_archive._package  # noqa: F401
        except ImportError:
            pass
        t_ready = time.monotonic()
        if sys.stdin.readline().strip() != "go":
            return _fail("the runner did not ask for a score (the run ended otherwise)")
        t0 += time.monotonic() - t_ready  # waiting is not the scorer's cost
    meta_path = args.artifact + ".json"
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return _fail(f"no export record {meta_path}")
    device = torch.device(meta.get("device") or "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        return _fail("the model was exported on CUDA but no GPU is visible to the evaluator")
    token_bytes = prepare.get_token_bytes(device)
    t_load = time.monotonic()
    try:
        program = torch.export.load(args.artifact)
    except Exception as exc:  # noqa: BLE001 - reported as one line
        return _fail(f"cannot load the exported model: {str(exc).strip()[:200] or 'unreadable file'}")
    model = FixedBatch(program.module(), int(meta["batch"]))
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else torch.autocast("cpu", enabled=False)
    )
    precision = "bfloat16" if device.type == "cuda" else "float32"
    t_eval = time.monotonic()
    try:
        with autocast:
            nats, nbytes = prepare._bpb_totals(model, rows, token_bytes, model.batch, device)
            probe = (
                causality_probe(model, rows.to(device), prepare.VOCAB_SIZE, PROBE_TOLERANCE[precision])
                if args.probe
                else None
            )
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "no message"
        return _fail(f"the exported model failed on the {args.split} rows: {first}")
    t_end = time.monotonic()
    bpb = nats / (math.log(2) * nbytes)
    print(
        json.dumps(
            {
                "ok": True,
                "split": args.split,
                "bpb": bpb,
                "nats": nats,
                "bytes": nbytes,
                "rows": rows.size(0),
                "seq_len": rows.size(1) - 1,
                "device": device.type,
                "precision": precision,
                "probe": probe,
                "seconds": {
                    "startup": round(t_load - t0, 3),
                    "load": round(t_eval - t_load, 3),
                    "eval": round(t_end - t_eval, 3),
                    "total": round(t_end - t0, 3),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
