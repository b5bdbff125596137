"""A small ENAS micro space (one normal and one reduction cell) on a Fashion-MNIST subset.
The raw pixels (0 to 255) are scaled inside the model (Rescaling), so the exported model
takes raw images.
"""

from nascompiler.datasets import load_fashion_mnist
from nascompiler.layers import Rescaling
from nascompiler.spaces import enas_micro_search_space


def search_space():
    return enas_micro_search_space(
        arch="NR",
        input_shape=(28, 28, 1),
        init_filters=16,
        node_num=3,
        classes=10,
        preprocess=lambda x: Rescaling(1 / 255)(x),
    )


def load_data():
    return load_fashion_mnist(
        train_samples=10000, test_samples=2000, one_hot=True, scale=False
    )


TRAINING = {
    "optimizer": "adam",
    "loss": "categorical_crossentropy",
    "metrics": ["accuracy"],
    "epochs": 2,
    "batch_size": 128,
}
SEARCH = {"searcher": "mcts", "max_trials": 10}
