"""First cell of every graded notebook: threads, seeds, determinism, offline data.

Runs in the student's kernel before any student code, so the same submission trains
the same way on every run.
"""

from __future__ import annotations

from kerasgrade.keras_terms import quiet_tensorflow


def setup(seed: int = 0, threads: int | None = None) -> None:
    quiet_tensorflow()
    import tensorflow as tf

    if threads:
        # Set before TensorFlow starts its pools, so parallel workers don't fight over cores.
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

    from kerasgrade import data

    data.patch_keras_datasets()


def source(seed: int, threads: int | None) -> str:
    """The code of the injected first cell."""
    return (
        "import kerasgrade.execute.kernel.setup_cell as _kerasgrade_setup\n"
        f"_kerasgrade_setup.setup(seed={seed!r}, threads={threads!r})\n"
        "del _kerasgrade_setup"
    )
