"""The seed's CNN space on Fashion-MNIST (one-hot labels, as in the seed's example).

The seed's space ends in two dense layers of 1024-4096 units; on a CPU, trim the data with
load_fashion_mnist(train_samples=...) or use a GPU.

The raw pixels (0 to 255) are scaled inside the model (Rescaling), so the exported model
takes raw images.
"""

from nascompiler.datasets import load_fashion_mnist
from nascompiler.layers import Rescaling
from nascompiler.spaces import cnn_search_space


def search_space():
    return cnn_search_space(
        input_shape=(28, 28, 1),
        output_units=10,
        output_activation="softmax",
        preprocess=lambda x: Rescaling(1 / 255)(x),
        block_num_choices=[2, 3, 4],
        filters_choices=[16, 32],
        kernel_size_choices=[(1, 1), (3, 3)],
    )


def load_data():
    return load_fashion_mnist(one_hot=True, scale=False)


TRAINING = {
    "optimizer": "adam",
    "loss": "categorical_crossentropy",
    "metrics": ["accuracy"],
    "epochs": 2,
    "batch_size": 128,
}
SEARCH = {"searcher": "evolution", "max_trials": 10}
