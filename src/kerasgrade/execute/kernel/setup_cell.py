"""First cell of every graded notebook: threads, seeds, determinism, offline data, fast fit.

Runs in the student's kernel before any student code, so the same submission trains
the same way on every run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from kerasgrade.keras_terms import quiet_tensorflow

# Callback methods Keras calls once per batch: with several batches per call into TensorFlow
# it would call them once per call, so a fit whose callbacks define one runs as written.
BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
               "on_test_batch_begin", "on_test_batch_end")
# Where `callbacks` stands among the positional arguments of the methods wrapped. predict is
# not wrapped: with several batches per call it was slower (2.7 s against 0.6 s on 10,000).
CALLBACKS_AT = {"fit": 5, "evaluate": 6}
# The models inside a wrapped fit or evaluate (by id): a call from inside runs as written.
_IN_CALL: set[int] = set()


def setup(seed: int = 0, threads: int | None = None, fit_steps: int = 1) -> None:
    quiet_tensorflow()
    import tensorflow as tf

    if threads:
        # Set before TensorFlow starts its pools, so parallel workers don't fight over cores.
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    if fit_steps > 1:
        keras.Model.fit = batches_per_call(keras.Model.fit, fit_steps, CALLBACKS_AT["fit"])
        keras.Model.evaluate = batches_per_call(keras.Model.evaluate, fit_steps,
                                                CALLBACKS_AT["evaluate"])

    from kerasgrade import data

    data.patch_keras_datasets()


def batches_per_call(method: Callable[..., Any], steps: int, callbacks_at: int
                     ) -> Callable[..., Any]:
    """Keras's fit or evaluate, running `steps` batches in each call into TensorFlow (Keras's
    own steps_per_execution) where the student left it at 1. A small network spends most of a
    batch in Python between calls; the batches, their order and every update stay the same, so
    the weights, the history and what evaluate returns are bit for bit those of a plain call
    (tests/execute/test_warm.py). A call that asked otherwise (its own steps_per_execution,
    run_eagerly, a callback called per batch) runs as written."""
    from keras.callbacks import Callback

    def as_written(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        callbacks = kwargs.get("callbacks",
                               args[callbacks_at] if len(args) > callbacks_at else None) or ()
        if isinstance(callbacks, Callback):
            callbacks = (callbacks,)
        try:
            per_batch = any(getattr(type(c), hook, None) is not getattr(Callback, hook)
                            for c in callbacks for hook in BATCH_HOOKS)
        except TypeError:  # not a list of callbacks: Keras says so, as written
            return True
        return model.steps_per_execution != 1 or bool(model.run_eagerly) or per_batch

    @functools.wraps(method)
    def in_batches_per_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if id(self) in _IN_CALL:
            # Inside the model's own fit or evaluate (fit's validation, a callback's evaluate):
            # the outer call's functions stay as they are, or its next batch finds none.
            return method(self, *args, **kwargs)
        _IN_CALL.add(id(self))
        try:
            if as_written(self, args, kwargs):
                return method(self, *args, **kwargs)
            # The functions are traced for a number of steps: traced anew before and after.
            self.steps_per_execution, self.train_function, self.test_function = steps, None, None
            try:
                return method(self, *args, **kwargs)
            finally:
                self.steps_per_execution, self.train_function, self.test_function = 1, None, None
        finally:
            _IN_CALL.discard(id(self))

    return in_batches_per_call


def source(seed: int, threads: int | None, fit_steps: int) -> str:
    """The code of the injected first cell."""
    return (
        "import kerasgrade.execute.kernel.setup_cell as _kerasgrade_setup\n"
        f"_kerasgrade_setup.setup(seed={seed!r}, threads={threads!r}, fit_steps={fit_steps!r})\n"
        "del _kerasgrade_setup"
    )
