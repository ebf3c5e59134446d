"""Clean process: load each saved model (safe_mode) and measure it like the grader would."""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import kerasgrade.kernel_setup as ks
ks.setup(seed=0, threads=1)
import keras
from kerasgrade.data import load_mnist
out = sys.argv[1]
run = json.load(open(f"{out}/run.json"))
ds = load_mnist()
assert ds.source == run["source"], (ds.source, run["source"])
(_, _), (x, y) = ds
x = x.reshape(-1, 28, 28, 1).astype("float32") / 255
y = keras.utils.to_categorical(y, 10)
rows = {}
for name, row in run["results"].items():
    m = keras.models.load_model(f"{out}/{name}.keras", safe_mode=True)
    loss, acc = m.evaluate(x, y, verbose=0)
    layers = [(l.__class__.__name__, l.output.shape if hasattr(l, "output") else None,
               l.count_params(), getattr(getattr(l, "activation", None), "__name__", None)) for l in m.layers]
    rows[name] = {"params": m.count_params(), "acc": acc, "loss": loss,
                  "d_acc": acc - row["test_acc"], "d_loss": loss - row["test_loss"],
                  "layers": [str(t) for t in layers],
                  "bytes": os.path.getsize(f"{out}/{name}.keras")}
    print(name, rows[name]["params"], f"acc {acc:.4f} (table {row['test_acc']:.4f})",
          f"loss {loss:.4f} (table {row['test_loss']:.4f})", rows[name]["bytes"], "bytes")
json.dump(rows, open(f"{out}/reeval.json", "w"), indent=1)
