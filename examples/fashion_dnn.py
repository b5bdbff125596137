"""The seed's DNN space on Fashion-MNIST (images flattened to 784 features).

Needs Debian's dataset-fashion-mnist package (or the IDX files in ~/.keras/datasets).

The raw pixels (0 to 255) are scaled inside the model (Rescaling), so the exported model
takes raw images.
"""

from nascompiler.datasets import load_fashion_mnist
from nascompiler.layers import Rescaling
from nascompiler.spaces import dnn_search_space


def search_space():
    return dnn_search_space(
        input_shape=(784,),
        output_units=10,
        output_activation="softmax",
        preprocess=lambda x: Rescaling(1 / 255)(x),
        units_choices=[128, 256, 512],
        reduce_facotr_choices=[1, 0.8, 0.5],
        layer_num_choices=[2, 3, 4],
        activation_choices=["relu", "tanh"],
    )


def load_data():
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(
        channel_axis=False, scale=False
    )
    return (x_train.reshape(-1, 784), y_train), (x_test.reshape(-1, 784), y_test)


TRAINING = {
    "optimizer": "adam",
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
    "epochs": 2,
    "batch_size": 128,
}
SEARCH = {"searcher": "evolution", "max_trials": 20}
