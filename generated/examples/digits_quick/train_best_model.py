"""Train best_model.py from scratch with the recipe of its search, written by nascompile export.

The recipe is trial #9's (study generated/digits_quick): the same optimizer and settings,
loss, metrics, epochs, batch size and seed. With the same data and seed, on CPU, training
reproduces the trial's metrics:
    accuracy = 0.9972
    loss = 0.04297
    val_accuracy = 0.9833
    val_loss = 0.1349

Data: load_data() of ../../../examples/digits_quick.py (the space file the search used), imported by path.

    python train_best_model.py [--weights best_model.retrained.weights.h5] [--epochs N]

It needs keras and numpy (and whatever load_data() imports); it writes the trained weights,
which build_model() of best_model.py loads.
"""

import argparse
import importlib.util
import pathlib
import sys

import keras

HERE = pathlib.Path(__file__).resolve().parent
MODULE = HERE / "best_model.py"
OPTIMIZER = "adam"
LOSS = "sparse_categorical_crossentropy"
METRICS = ["accuracy"]
EPOCHS = 8
BATCH_SIZE = 32
SEED = 71288
# The last epoch of the searched trial, for comparison.
SEARCHED = {
    "accuracy": 0.9972183704376221,
    "loss": 0.0429658479988575,
    "val_accuracy": 0.9832869172096252,
    "val_loss": 0.1348714977502823,
}


def load_module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_data():
    return load_module(HERE / "../../../examples/digits_quick.py").load_data()


def train(data=None, epochs=EPOCHS, verbose=2):
    """Build the model untrained and train it with the search's recipe; returns the model and
    its history."""
    (x_train, y_train), (x_val, y_val) = data if data is not None else load_data()
    keras.utils.set_random_seed(SEED)
    model = load_module(MODULE).build_model()
    model.compile(
        optimizer=keras.optimizers.get(OPTIMIZER), loss=LOSS, metrics=list(METRICS)
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=(x_val, y_val),
        verbose=verbose,
    )
    return model, history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights",
        default=str(HERE / "best_model.retrained.weights.h5"),
        help="where to write the trained weights (a .weights.h5 file)",
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="training epochs")
    args = parser.parse_args(argv)
    model, history = train(epochs=args.epochs)
    model.save_weights(args.weights)
    print(
        "last epoch:",
        ", ".join(f"{k}={v[-1]:.4g}" for k, v in sorted(history.history.items())),
    )
    print("searched:  ", ", ".join(f"{k}={v:.4g}" for k, v in sorted(SEARCHED.items())))
    print("weights:   ", args.weights)


if __name__ == "__main__":
    sys.exit(main())
