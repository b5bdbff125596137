"""Zero-cost proxies: training-free scores of a freshly built candidate (runs in a worker).

Each proxy looks at an untrained model and one batch of training data and returns one number,
higher meaning "predicted to train better". None is reliable everywhere (NAS-Bench-Suite-Zero,
Krishnakumar et al. 2022, found no proxy consistent across tasks, and plain parameter or FLOP
counts often rank as well), so ``nascompile proxies`` measures them on the user's own data
before any of them is trusted. The static ``params`` and ``flops`` come from the compiler's
cost model (``nascompiler.ir.cost``), not from here.

Every proxy is deterministic for a model and a batch: the weights come from the seeded build,
and nothing here draws random numbers. Gradients are taken on whichever Keras backend runs
(TensorFlow, JAX or PyTorch) through :func:`value_and_grad`.

Example::

    model = build_model()
    scores = compute_proxies(model, x_batch, y_batch, loss="sparse_categorical_crossentropy")
    scores["synflow"], scores["naswot"], scores["grad_norm"], scores["jacob_cov"]
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np

from ..storage.ranking import PROXY_NAMES as PROXIES


def value_and_grad(
    fn: Callable[[list[Any]], Any], args: Sequence[Any]
) -> tuple[float, list[np.ndarray]]:
    """``fn(args)`` (a scalar tensor) and its gradient with respect to each of ``args``, on the
    running Keras backend; returned as a float and numpy arrays."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(fn)(
            [keras.ops.convert_to_tensor(a) for a in args]
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(tensors)
        grads = tape.gradient(value, tensors)
    elif backend == "torch":
        import torch

        tensors = [
            torch.as_tensor(np.asarray(a)).detach().requires_grad_(True) for a in args
        ]
        value = fn(tensors)
        grads = torch.autograd.grad(value, tensors)
    else:  # pragma: no cover - Keras has no other backend that trains
        raise ValueError(
            f"zero-cost proxies need a backend with gradients, not {backend!r}"
        )
    return float(keras.ops.convert_to_numpy(value)), [
        (
            np.zeros(np.shape(a), dtype=np.float64)
            if g is None
            else keras.ops.convert_to_numpy(g)
        )
        for a, g in zip(args, grads)
    ]


@contextlib.contextmanager
def logits_output(model: Any) -> Iterator[None]:
    """Inside the block the model's output layer applies no softmax/sigmoid: scores that
    differentiate the output (synflow, jacob_cov) would otherwise see a constant sum."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    squashing = activation in (keras.activations.softmax, keras.activations.sigmoid)
    if squashing:
        last.activation = keras.activations.linear
    try:
        yield
    finally:
        if squashing:
            last.activation = activation


def _forward(model: Any, trainable: list[Any], non_trainable: list[Any], x: Any) -> Any:
    outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
    return outputs


def _values(variables: Sequence[Any]) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in variables]


def synflow(model: Any, x: Any) -> float:
    """SynFlow (Tanaka et al., "Pruning neural networks without any data by iteratively
    conserving synaptic flow", NeurIPS 2020; as a NAS proxy, Abdelfattah et al., ICLR 2021).

    Every weight is replaced by its absolute value, an all-ones input of one sample goes
    through the network (batch norm in inference mode, the output without its softmax), and
    the score is ``sum(|w * dR/dw|)`` over the kernels (weights of rank >= 2) for
    ``R = sum(output)``. Data-free: only the input's shape is used.
    """
    ones = np.ones((1,) + tuple(np.shape(x)[1:]), dtype="float32")
    trainable = [np.abs(v) for v in _values(model.trainable_variables)]
    non_trainable = _values(model.non_trainable_variables)

    def total(args: list[Any]) -> Any:
        return keras.ops.sum(_forward(model, args, non_trainable, ones))

    with logits_output(model):
        _, grads = value_and_grad(total, trainable)
    score = 0.0
    for weight, grad in zip(trainable, grads):
        if weight.ndim >= 2:
            score += float(np.sum(np.abs(weight.astype(np.float64) * grad)))
    return score


def _relu_layers(model: Any) -> list[Any]:
    relu = keras.activations.relu
    found = []
    for layer in model.layers:
        if getattr(layer, "activation", None) is relu or isinstance(
            layer, keras.layers.ReLU
        ):
            found.append(layer)
    return found


def naswot(model: Any, x: Any) -> float:
    """NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021).

    Each sample of the batch gets a binary code: which ReLU units it switches on. With ``c_i``
    the codes, ``K[i, j]`` counts the units on which samples i and j agree
    (``c_i.c_j + (1-c_i).(1-c_j)``) and the score is ``log|det K|``: networks whose units
    tell the samples apart score higher. NaN for a model without ReLU units.
    """
    layers = _relu_layers(model)
    if not layers:
        return math.nan
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.output for layer in layers])
    outputs = probe(x, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    codes = np.concatenate(
        [
            (keras.ops.convert_to_numpy(o).reshape(len(x), -1) > 0).astype(np.float64)
            for o in outputs
        ],
        axis=1,
    )
    kernel = codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else -math.inf


def grad_norm(model: Any, x: Any, y: Any, loss: Any) -> float:
    """Gradient norm (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021):
    the sum over the trainable weights of the Euclidean norm of the training loss's gradient on
    one batch, at initialisation."""
    loss_fn = keras.losses.get(loss)
    trainable = _values(model.trainable_variables)
    non_trainable = _values(model.non_trainable_variables)

    def batch_loss(args: list[Any]) -> Any:
        return keras.ops.mean(loss_fn(y, _forward(model, args, non_trainable, x)))

    _, grads = value_and_grad(batch_loss, trainable)
    return float(sum(np.linalg.norm(g.astype(np.float64)) for g in grads))


def jacob_cov(model: Any, x: Any) -> float:
    """Jacobian covariance (Mellor et al., arXiv:2006.04647v1, the first version of NASWOT).

    ``J`` holds, per sample, the gradient of the summed output (without softmax) with respect
    to that sample's input; ``C`` is the correlation matrix of the rows of ``J`` and the score
    is ``-sum(log(v + k) + 1 / (v + k))`` over ``C``'s eigenvalues ``v``, ``k = 1e-5``: inputs
    with less correlated local linear maps score higher.
    """
    trainable = _values(model.trainable_variables)
    non_trainable = _values(model.non_trainable_variables)

    def total(args: list[Any]) -> Any:
        return keras.ops.sum(_forward(model, trainable, non_trainable, args[0]))

    with logits_output(model):
        _, (jacobian,) = value_and_grad(total, [np.asarray(x, dtype="float32")])
    rows = jacobian.reshape(len(x), -1).astype(np.float64)
    return jacob_cov_score(rows)


def jacob_cov_score(rows: np.ndarray, k: float = 1e-5) -> float:
    """The score of :func:`jacob_cov` for a Jacobian given as one row per sample."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    if np.any(norms == 0):
        return -math.inf  # a constant row: no correlation is defined
    unit = centred / norms[:, None]
    eigenvalues = np.linalg.eigvalsh(unit @ unit.T)
    return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def compute_proxies(
    model: Any, x: Any, y: Any, loss: Any, names: Sequence[str] = PROXIES
) -> tuple[dict[str, float], dict[str, float]]:
    """Every proxy in ``names`` for ``model`` on the batch ``(x, y)``: ``(scores, seconds)``.
    A proxy that fails (a layer it cannot differentiate, say) scores NaN rather than failing
    the candidate."""
    scores: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for name in names:
        started = time.perf_counter()
        try:
            if name == "synflow":
                value = synflow(model, x)
            elif name == "naswot":
                value = naswot(model, x)
            elif name == "grad_norm":
                value = grad_norm(model, x, y, loss)
            elif name == "jacob_cov":
                value = jacob_cov(model, x)
            else:
                raise ValueError(f"unknown proxy {name!r}; known: {', '.join(PROXIES)}")
        except ValueError:
            raise
        except (
            Exception
        ):  # noqa: BLE001 - a proxy's failure is its score, not the trial's
            value = math.nan
        scores[name] = value
        seconds[name] = time.perf_counter() - started
    return scores, seconds
