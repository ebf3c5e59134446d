"""Run the master notebook's code cells (check_step / run_check cells skipped) in one process,
with kernel_setup's seeds, threads and determinism; time each cell; save each model_* and the
results table for a clean-process re-measurement (reeval.py)."""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
nb_path, out = sys.argv[1], sys.argv[2]
threads = int(os.environ.get("THREADS", "1"))
t0 = time.perf_counter()
import kerasgrade.kernel_setup as ks
ks.setup(seed=0, threads=threads)
import nbformat, keras
nb = nbformat.read(nb_path, as_version=4)
ns = {"__name__": "__main__"}
cell_times = {}
for cell in nb.cells:
    if cell.cell_type != "code":
        continue
    src = cell.source
    if "check_step(" in src.split("\n")[0] or "run_check(" in src:
        continue
    t, c = time.perf_counter(), time.process_time()
    exec(compile(src, cell.id, "exec"), ns)
    cell_times[cell.id] = (round(time.perf_counter() - t, 2), round(time.process_time() - c, 2))
total = time.perf_counter() - t0
os.makedirs(out, exist_ok=True)
for name in ("baseline", "two_layers", "one_epoch", "wide", "narrow", "best"):
    m = ns[f"model_{name}"]
    m.save(f"{out}/{name}.keras")
    h = getattr(m, "history", None)
    ns["results"][name]["history_epochs"] = len(h.history["loss"]) if h else None
    ns["results"][name]["types"] = {k: type(v).__name__ for k, v in ns["results"][name].items()}
json.dump({"source": ns["dataset"].source, "threads": threads, "cell_seconds": cell_times,
           "training_seconds": round(sum(r["seconds"] for r in ns["results"].values()), 1),
           "run_seconds": round(total, 1), "run_cpu_seconds": round(time.process_time(), 1), "results": ns["results"]},
          open(f"{out}/run.json", "w"), indent=1, default=str)
print(json.dumps(cell_times, indent=1))
print("training seconds", sum(r["seconds"] for r in ns["results"].values()), "run", total)
