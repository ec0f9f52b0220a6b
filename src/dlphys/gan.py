r"""Wasserstein GAN with gradient penalty, WGAN-GP (book ch. 18).

A generator :math:`G` maps latent vectors :math:`z \sim \mathcal{N}(0, 1)^{d}` to samples, a critic
:math:`D` scores samples. By the Kantorovich–Rubinstein duality the Wasserstein-1 (earth mover's)
distance between the data distribution :math:`P_r` and the generated one :math:`P_g` is

.. math::

    W(P_r, P_g) = \sup_{\|D\|_L \le 1}\; \mathbb{E}_{x \sim P_r}[D(x)] - \mathbb{E}_{z}[D(G(z))],

the supremum over 1-Lipschitz critics. WGAN-GP (Gulrajani et al. 2017) enforces the Lipschitz
constraint softly: a differentiable function is 1-Lipschitz iff its gradient norm is at most 1
everywhere, and the optimal critic has norm exactly 1 on the lines between paired real and
generated samples. With :math:`\hat x = \epsilon x + (1 - \epsilon)\,\tilde x`,
:math:`\epsilon \sim U(0, 1)` per sample, the critic minimises

.. math::

    L_D = \mathbb{E}[D(\tilde x)] - \mathbb{E}[D(x)]
          + \lambda\, \mathbb{E}_{\hat x}\bigl[(\|\nabla_{\hat x} D(\hat x)\|_2 - 1)^2\bigr],

(default :math:`\lambda = 10`, ``critic_steps = 5`` critic updates per generator update, as in
the paper's Algorithm 1), and the generator minimises :math:`L_G = -\mathbb{E}[D(G(z))]`.
The negative critic loss without the penalty, :math:`\mathbb{E}[D(x)] - \mathbb{E}[D(\tilde x)]`, is
the running estimate of :math:`W` (reported as ``wasserstein``); it falls as training proceeds.

Choosing :math:`\lambda`: in one dimension the critic's slope on the interpolation segment can only
change sign by passing through zero, where the penalty costs :math:`\lambda`. With the generated
samples a distance :math:`\Delta` beyond the data, a nearly linear critic whose slope :math:`s > 0`
still points past the data has :math:`L_D \approx s\Delta + \lambda (1 - s)^2`, minimal at
:math:`s = 1 - \Delta / 2\lambda > 0` for :math:`\Delta < 2\lambda`: once the generator overshoots
the data, the critic keeps pushing it on and the generator runs away. The authors therefore use
:math:`\lambda = 0.1` for their low-dimensional toy data (``gan_toy.py`` of their reference
implementation) and :math:`\lambda = 10` for images. Standardise the data as for any network: with Keras's zero bias
initialisation all ReLU kinks of the critic's first layer start at the origin.

The critic must treat samples independently (no batch normalisation; layer normalisation is fine),
otherwise the per-sample gradient penalty is not defined. Each :class:`WGANGP` training step reuses
its batch of real samples for all ``critic_steps`` critic updates, with fresh latent vectors and
fresh :math:`\epsilon` each time.

References:
    I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved Training of
    Wasserstein GANs", NeurIPS 30 (2017), arXiv:1704.00028.
    M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein Generative Adversarial Networks", ICML (2017),
    arXiv:1701.07875.
    M. Erdmann, J. Glombitza, G. Kasieczka, U. Klemradt, *Deep Learning for Physics Research*,
    World Scientific (2021), ch. 18.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import ops

__all__ = ["WGANGP", "SampleGrid", "gradient_penalty", "sample_grid_figure"]


def gradient_penalty(critic, real, fake, seed=None):
    r"""Mean over the batch of :math:`(\|\nabla_{\hat x} D(\hat x)\|_2 - 1)^2`.

    :math:`\hat x = \epsilon\,\text{real} + (1 - \epsilon)\,\text{fake}` with one
    :math:`\epsilon \sim U(0, 1)` per sample (broadcast over all other axes); the gradient norm runs
    over all non-batch axes. Differentiable with respect to the critic weights, so it can be used
    inside the critic's own ``GradientTape``.

    Args:
        critic: callable (Keras layer or model) mapping samples (batch, ...) to scores (batch, 1) or
            (batch,); samples must be scored independently of each other.
        real: real samples, (batch, ...).
        fake: generated samples, same shape as ``real``.
        seed: None, an int or a ``keras.random.SeedGenerator`` (use the latter inside a compiled
            training step) for drawing :math:`\epsilon`.

    Returns:
        Scalar tensor, the penalty (dimensionless).
    """
    import tensorflow as tf  # Keras 3 has no backend-neutral input gradient; TensorFlow only here.

    real = ops.convert_to_tensor(real)
    fake = ops.cast(ops.convert_to_tensor(fake), real.dtype)
    if tuple(real.shape) != tuple(fake.shape):
        raise ValueError(
            f"real and fake must have the same shape; received {tuple(real.shape)} and {tuple(fake.shape)}."
        )
    rank = len(real.shape)
    if rank < 2:
        raise ValueError(
            f"real must have a batch axis and at least one sample axis; received shape {tuple(real.shape)}."
        )
    eps_shape = (ops.shape(real)[0],) + (1,) * (rank - 1)
    eps = keras.random.uniform(eps_shape, minval=0.0, maxval=1.0, dtype=real.dtype, seed=seed)
    x_hat = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        score = critic(x_hat, training=True)
    grad = tape.gradient(score, x_hat)  # samples are independent: d(sum score)/dx_hat is per sample
    # The tiny constant keeps the derivative of sqrt finite at a zero gradient; it shifts the norm
    # by < 1e-6 for any gradient norm above 1e-6.
    norm = ops.sqrt(ops.sum(ops.square(grad), axis=tuple(range(1, rank))) + 1e-12)
    return ops.mean(ops.square(norm - 1.0))


class WGANGP(keras.Model):
    """Wasserstein GAN with gradient penalty, trained with ``fit(real_data)``.

    Args:
        generator: Keras model mapping latent vectors (batch, latent_dim) to samples (batch, ...).
        critic: Keras model mapping samples (batch, ...) to scores (batch, 1); no batch norm.
        latent_dim: size of the latent vector, an int >= 1; latent vectors are standard normal.
        critic_steps: critic updates per generator update (int >= 1, paper: 5).
        gp_weight: weight :math:`\\lambda >= 0` of the gradient penalty (paper: 10 for images, 0.1 for
            low-dimensional toy data; see the module docstring).
        seed: int seed of the latent vectors and the interpolation factors, or None for a random one.
        **kwargs: standard ``keras.Model`` arguments (``name``).

    ``compile(g_optimizer, c_optimizer)`` takes one optimizer for each network. ``fit`` reports
    per epoch the means of ``critic_loss`` (:math:`L_D` with penalty), ``wasserstein`` (the
    estimate :math:`\\mathbb{E}[D(x)] - \\mathbb{E}[D(G(z))]`), ``gradient_penalty`` and
    ``generator_loss``; ``evaluate`` and ``validation_data`` give the same figures without updates
    (``val_wasserstein`` is the held-out estimate). Calling the model on latent vectors runs the
    generator. Save the generator (``gan.generator.save(...)``) to keep a trained model.

    Example:
        >>> import numpy as np, keras
        >>> from dlphys.gan import WGANGP
        >>> def mlp(n_in):
        ...     return keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(8, activation="relu"),
        ...                              keras.layers.Dense(1)])
        >>> gen, critic = mlp(2), mlp(1)
        >>> gan = WGANGP(gen, critic, latent_dim=2, critic_steps=2, seed=0)
        >>> gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
        >>> data = np.random.default_rng(0).normal(3.0, 0.5, size=(64, 1)).astype("float32")
        >>> history = gan.fit(data, batch_size=32, epochs=1, verbose=0)
        >>> sorted(history.history)
        ['critic_loss', 'generator_loss', 'gradient_penalty', 'wasserstein']
        >>> gan.generate(5, seed=1).shape
        (5, 1)
    """

    def __init__(
        self,
        generator,
        critic,
        latent_dim: int,
        critic_steps: int = 5,
        gp_weight: float = 10.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, net in (("generator", generator), ("critic", critic)):
            if not isinstance(net, keras.layers.Layer):
                raise ValueError(f"{name} must be a Keras model or layer; received {type(net).__name__}.")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer)) or latent_dim < 1:
            raise ValueError(f"latent_dim must be an integer >= 1; received latent_dim={latent_dim!r}.")
        if isinstance(critic_steps, bool) or not isinstance(critic_steps, (int, np.integer)) or critic_steps < 1:
            raise ValueError(
                f"critic_steps must be an integer >= 1 (critic updates per generator update); "
                f"received critic_steps={critic_steps!r}."
            )
        if isinstance(gp_weight, bool) or not isinstance(gp_weight, (int, float, np.floating)) or not gp_weight >= 0:
            raise ValueError(f"gp_weight must be a number >= 0; received gp_weight={gp_weight!r}.")
        self.generator = generator
        self.critic = critic
        self.latent_dim = int(latent_dim)
        self.critic_steps = int(critic_steps)
        self.gp_weight = float(gp_weight)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.critic_loss_tracker = keras.metrics.Mean(name="critic_loss")
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein")
        self.gp_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.g_optimizer = None
        self.c_optimizer = None

    def build(self, input_shape=None):
        """Create the weights of generator and critic by running them once on a zero latent vector."""
        if not (self.generator.built and self.critic.built):
            self.critic(self.generator(ops.zeros((1, self.latent_dim))))
        self.built = True

    def call(self, z, training=False):
        """Generated samples for latent vectors ``z`` (batch, latent_dim)."""
        return self.generator(z, training=training)

    def compile(self, g_optimizer, c_optimizer, **kwargs):
        """Set the optimizers of the generator and the critic (e.g. ``keras.optimizers.Adam(1e-4, 0.5, 0.9)``,
        the paper's choice); other keyword arguments go to ``keras.Model.compile`` (no loss is used)."""
        for name, opt in (("g_optimizer", g_optimizer), ("c_optimizer", c_optimizer)):
            if not isinstance(opt, keras.optimizers.Optimizer):
                raise ValueError(f"{name} must be a keras.optimizers.Optimizer instance; received {opt!r}.")
        if g_optimizer is c_optimizer:
            raise ValueError("g_optimizer and c_optimizer must be two different optimizer instances.")
        super().compile(optimizer=None, **kwargs)
        self.g_optimizer = g_optimizer
        self.c_optimizer = c_optimizer
        self.build()
        # Create the optimizer slots now, outside the traced training step.
        g_optimizer.build(self.generator.trainable_variables)
        c_optimizer.build(self.critic.trainable_variables)

    @property
    def metrics(self):
        return [self.critic_loss_tracker, self.wasserstein_tracker, self.gp_tracker, self.generator_loss_tracker]

    def _latent(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def critic_step(self, real):
        """One critic update on the batch ``real``; returns (critic_loss, wasserstein, gradient_penalty)."""
        import tensorflow as tf

        self._check_compiled()
        real = ops.convert_to_tensor(real)
        fake = self.generator(self._latent(ops.shape(real)[0]), training=True)
        fake = ops.cast(fake, real.dtype)
        with tf.GradientTape() as tape:
            wasserstein = ops.mean(self.critic(real, training=True)) - ops.mean(self.critic(fake, training=True))
            penalty = gradient_penalty(self.critic, real, fake, seed=self.seed_generator)
            loss = -wasserstein + self.gp_weight * penalty
        weights = self.critic.trainable_weights
        self.c_optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=False))
        return loss, wasserstein, penalty

    def generator_step(self, batch_size):
        """One generator update with ``batch_size`` latent vectors; returns the generator loss."""
        import tensorflow as tf

        self._check_compiled()
        z = self._latent(batch_size)
        with tf.GradientTape() as tape:
            loss = -ops.mean(self.critic(self.generator(z, training=True), training=True))
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=False))
        return loss

    def train_step(self, data):
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        for _ in range(self.critic_steps):
            c_loss, wasserstein, penalty = self.critic_step(real)
            self.critic_loss_tracker.update_state(c_loss)
            self.wasserstein_tracker.update_state(wasserstein)
            self.gp_tracker.update_state(penalty)
        g_loss = self.generator_step(ops.shape(real)[0])
        self.generator_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        """The four figures on a batch without any update (``evaluate``, ``validation_data``)."""
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.convert_to_tensor(real)
        fake = ops.cast(self.generator(self._latent(ops.shape(real)[0]), training=False), real.dtype)
        fake_score = ops.mean(self.critic(fake, training=False))
        wasserstein = ops.mean(self.critic(real, training=False)) - fake_score
        penalty = gradient_penalty(self.critic, real, fake, seed=self.seed_generator)
        self.critic_loss_tracker.update_state(-wasserstein + self.gp_weight * penalty)
        self.wasserstein_tracker.update_state(wasserstein)
        self.gp_tracker.update_state(penalty)
        self.generator_loss_tracker.update_state(-fake_score)
        return {m.name: m.result() for m in self.metrics}

    def _check_compiled(self):
        if self.g_optimizer is None or self.c_optimizer is None:
            raise RuntimeError("call compile(g_optimizer, c_optimizer) before training the WGANGP.")

    def generate(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` generated samples (n, ...) as a NumPy array, from latent vectors drawn with ``seed``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer >= 1 (number of samples); received n={n!r}.")
        z = np.random.default_rng(seed).standard_normal((int(n), self.latent_dim)).astype("float32")
        return keras.ops.convert_to_numpy(self.generator(z, training=False))


class SampleGrid(keras.callbacks.Callback):
    """Keep and/or draw generated samples at the end of every ``every``-th epoch.

    The same latent vectors (drawn once with ``seed``) are used every time, so the grid shows how
    the generator evolves.

    Args:
        n: number of samples per grid.
        store: a list to which ``(epoch, samples)`` tuples are appended (epoch counted from 1,
            samples a NumPy array (n, ...)), or None.
        directory: folder for ``samples_epoch{epoch:03d}.png`` figures (created if needed), or None.
        every: keep a grid every this many epochs.
        seed: seed of the fixed latent vectors.

    Images (n, H, W) or (n, H, W, C) are drawn as an image grid, vectors (n, L) as a grid of line
    plots, scalars (n,) or (n, 1) as a histogram.
    """

    def __init__(self, n: int = 16, store: list | None = None, directory=None, every: int = 1, seed: int = 0):
        super().__init__()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer >= 1; received n={n!r}.")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1; received every={every!r}.")
        if store is not None and not isinstance(store, list):
            raise ValueError(f"store must be a list or None; received {type(store).__name__}.")
        self.n, self.store, self.every, self.seed = n, store, every, seed
        self.directory = None if directory is None else Path(directory)
        self._z = None

    def on_train_begin(self, logs=None):
        latent_dim = self.model.latent_dim
        self._z = np.random.default_rng(self.seed).standard_normal((self.n, latent_dim)).astype("float32")

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        samples = keras.ops.convert_to_numpy(self.model.generator(self._z, training=False))
        if self.store is not None:
            self.store.append((epoch + 1, samples))
        if self.directory is not None:
            import matplotlib.pyplot as plt

            self.directory.mkdir(parents=True, exist_ok=True)
            fig = sample_grid_figure(samples, title=f"generated samples, epoch {epoch + 1}")
            fig.savefig(self.directory / f"samples_epoch{epoch + 1:03d}.png", dpi=80)
            plt.close(fig)


def sample_grid_figure(samples, title: str | None = None):
    """A Matplotlib figure of generated ``samples`` (n, ...): image grid, line-plot grid or histogram.

    Axes are labelled in sample units ("value"), pixel indices or the bin count; returns the Figure.
    """
    import matplotlib.pyplot as plt

    samples = np.asarray(samples)
    if samples.ndim == 1 or (samples.ndim == 2 and samples.shape[1] == 1):
        fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
        ax.hist(samples.ravel(), bins=30)
        ax.set_xlabel("generated value (data units)")
        ax.set_ylabel("samples per bin")
    else:
        n = samples.shape[0]
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(
            rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.3), squeeze=False, layout="constrained"
        )
        for i, ax in enumerate(axes.flat):
            if i >= n:
                ax.axis("off")
                continue
            s = samples[i]
            if s.ndim == 1:
                ax.plot(s, lw=0.8)
                ax.set_xlabel("index", fontsize=6)
                ax.set_ylabel("value", fontsize=6)
                ax.tick_params(labelsize=5)
            else:
                img = s[..., 0] if s.ndim == 3 and s.shape[-1] == 1 else s
                if img.ndim == 3:  # colour: rescale to [0, 1] for imshow
                    img = (img - img.min()) / max(float(np.ptp(img)), 1e-12)
                ax.imshow(img, cmap="viridis" if img.ndim == 2 else None)
                ax.set_xticks([])
                ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
