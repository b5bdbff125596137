"""Candidate a55ae7935e from space examples/digits_quick.py.

Hyperparameters:
    filters = 16
    kernel_size = (3, 3)
    batch_norm = True
    repeat_1.times = 1
    head = 0
    dense_units = 16
    dropout = 0.0

Cost (computed from the architecture, before training):
    parameters = 16,794 (16,762 trainable, 32 non-trainable)
    FLOPs per sample (forward) = 53,696
    peak activation memory per sample = 8,192 bytes (float32)

Search result:
    Exported by nascompiler 0.1.0 on 2026-12-05 13:39 UTC from study generated/digits_quick.
    trial #9, candidate a55ae7935e, rank 1 of 12 complete trials
    objective: val_accuracy = 0.9833 (max)
    last epoch: accuracy=0.9972, loss=0.04297, val_accuracy=0.9833, val_loss=0.1349
    parameters: 16,794
    data: x_train (1438, 8, 8, 1) uint8, y_train (1438,) uint8, x_val (359, 8, 8, 1) uint8, y_val (359,) uint8
    training: optimizer=adam, loss=sparse_categorical_crossentropy, metrics=['accuracy'], epochs=8, batch_size=32, seed=71288
    weights: best_model.weights.h5 (model = build_model(); model.load_weights('best_model.weights.h5'))
    golden test: python test_best_model.py or pytest test_best_model.py (outputs on best_model.golden.npz, shapes, parameters)
    training script: python train_best_model.py (this recipe, from scratch)
    files: best_model.weights.h5, test_best_model.py, best_model.golden.npz, train_best_model.py
"""

import keras
from keras import layers

CANDIDATE_ID = "a55ae7935e"
INPUT_SHAPE = (8, 8, 1)
HYPERPARAMETERS = {
    "filters": 16,
    "kernel_size": (3, 3),
    "batch_norm": True,
    "repeat_1.times": 1,
    "head": 0,
    "dense_units": 16,
    "dropout": 0.0,
}


def build_model() -> keras.Model:
    """Build the candidate's Keras model (untrained)."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="digit")
    x = layers.Rescaling(0.0625, name="rescaling_1")(inputs)
    x = layers.Conv2D(16, (3, 3), padding="same", name="conv2d_1")(x)
    x = layers.BatchNormalization(name="batch_normalization_1")(x)
    x = layers.Activation("relu", name="activation_1")(x)
    x = layers.Flatten(name="flatten_1")(x)
    x = layers.Dense(16, activation="relu", name="dense_1")(x)
    x = layers.Dropout(0.0, name="dropout_1")(x)
    outputs = layers.Dense(10, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="candidate_a55ae7935e")


if __name__ == "__main__":
    build_model().summary()
