"""GAN-style models without ``call``: ``submodel=`` logs the generator the fit model holds."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from fmlogger import FeatureMapCallback, tags  # noqa: E402
from helpers.runs import read_run  # noqa: E402


class TinyGAN(keras.Model):
    """A generator (latent 4 -> 8x8x1 image) and a discriminator, trained by ``train_step``; no ``call``."""

    def __init__(self):
        super().__init__()
        z = keras.Input((4,))
        x = keras.layers.Reshape((2, 2, 1))(z)
        x = keras.layers.UpSampling2D(4, name="up")(x)
        x = keras.layers.Conv2D(3, 3, padding="same", name="gen_conv")(x)
        self.generator = keras.Model(z, keras.layers.Conv2D(1, 1, name="to_image")(x), name="generator")
        image = keras.Input((8, 8, 1))
        y = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, name="disc_conv")(image))
        self.discriminator = keras.Model(image, keras.layers.Dense(1)(y), name="discriminator")
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def compile(self):
        super().compile()
        self.opt = keras.optimizers.SGD(0.01)

    def train_step(self, real):
        z = tf.random.normal((tf.shape(real)[0], 4))
        with tf.GradientTape() as tape:
            fake = self.discriminator(self.generator(z))
            loss = self.loss_fn(tf.ones_like(fake), fake)
        weights = self.generator.trainable_weights
        self.opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return {"loss": loss}


def fit_gan(tmp_path, **kwargs):
    gan = TinyGAN()
    gan.compile()
    latent = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    cb = FeatureMapCallback(tmp_path, latent, ["gen_conv"], **kwargs)
    gan.fit(np.zeros((8, 8, 8, 1), np.float32), epochs=2, batch_size=4, verbose=0, callbacks=[cb])
    return cb


@pytest.mark.parametrize("submodel", ["generator", lambda gan: gan.generator])
def test_submodel_logs_the_generator_of_a_model_without_call(tmp_path, submodel):
    cb = fit_gan(tmp_path, submodel=submodel)
    assert cb.logged_steps == [0, 1, 2]
    images = read_run(tmp_path / tags.RUN_SUBDIR).images["feature_maps/gen_conv"]
    assert [event.step for event in images] == [0, 1, 2]
    assert images[0].images.shape[0] == 2


def test_missing_submodel_names_the_attribute_and_the_models_there_are(tmp_path):
    expected = r"submodel='gen': model .* has no attribute 'gen'.*discriminator, generator"
    with pytest.raises(ValueError, match=expected):
        fit_gan(tmp_path, submodel="gen")


def test_submodel_that_is_not_a_keras_model(tmp_path):
    with pytest.raises(ValueError, match=r"submodel='loss_fn' .* is a BinaryCrossentropy, not a Keras model"):
        fit_gan(tmp_path, submodel="loss_fn")


@pytest.mark.parametrize("bad", ["", "a/b", 3])
def test_bad_submodel_fails_at_construction(tmp_path, bad):
    with pytest.raises(ValueError, match="submodel must be None, an attribute name"):
        FeatureMapCallback(tmp_path, np.zeros((1, 4), np.float32), ["gen_conv"], submodel=bad)
