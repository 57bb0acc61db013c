"""A custom training loop: ``FeatureMapLogger.log`` wherever you decide, no ``fit`` needed.

The loop below is plain TensorFlow (``tf.GradientTape``, Keras' default backend). Every
``--log-every`` batches it calls ``logger.log(model, probe, step)``: one forward pass of the
probe, the rest is drawn and written on a background thread. ``log`` returns the frames; reading
one (``frames["conv2"]``) waits until it is written and gives its image and statistics.

    python examples/custom_training_loop.py --logdir runs/custom_loop --epochs 2
"""

from __future__ import annotations

import _common

import fmlogger


def main(argv=None) -> None:
    args = _common.parse_args(__doc__.splitlines()[0], name="custom_loop", epochs=2, argv=argv)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x, y = _common.digits(512)
    probe = x[-4:]
    model = _common.small_cnn()
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    batches = tf.data.Dataset.from_tensor_slices((x[:-4], y[:-4])).shuffle(512, seed=0).batch(64)
    log_every = 4
    step = 0
    with fmlogger.FeatureMapLogger(args.logdir, layers=["conv1", "conv2"], colormap="magma") as logger:
        frames = logger.log(model, probe, step)  # step 0: the untrained model
        for epoch in range(args.epochs):
            for images, labels in batches:
                loss = float(train_step(images, labels))
                step += 1
                if step % log_every == 0:
                    frames = logger.log(model, probe, step)
            print(f"epoch {epoch + 1}: loss {loss:.3f}, conv2 zero fraction "
                  f"{frames['conv2'].stats['zero_fraction']:.2f} (step {step})")
        if step % log_every:
            logger.log(model, probe, step)  # the final model, unless just logged
    _common.where_to_look(
        args.logdir,
        f"Images tab: feature_maps/conv1 and conv2 at steps 0, {log_every}, {2 * log_every}, ... "
        "(steps count batches here).",
        "Scalars tab: feature_map_stats/conv2/zero_fraction (dead ReLUs) over the same steps.",
    )


if __name__ == "__main__":
    main()
