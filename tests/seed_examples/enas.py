# The seed's ENAS micro example (Hypernets NAS docs) with its import lines mapped to nascompiler.
# Changed for a short test (each marked "test:"): a Fashion-MNIST subset instead of MNIST,
# a narrower space (init_filters, node_num), 1 epoch and 2 trials.
import tensorflow as tf

from nascompiler.callbacks import SummaryCallback
from nascompiler.ops import *
from nascompiler.spaces.enas_ops import *
from nascompiler.spaces import enas_micro_search_space
from nascompiler import HyperKeras
from nascompiler.searchers import RandomSearcher

rs = RandomSearcher(
    lambda: enas_micro_search_space(arch='NR', hp_dict={}, init_filters=8, node_num=2),  # test: narrower
    optimize_direction='max')
hk = HyperKeras(rs, optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'],
                callbacks=[SummaryCallback()])

from nascompiler.datasets import load_fashion_mnist  # test: instead of tf.keras.datasets.mnist

(x_train, y_train), (x_test, y_test) = load_fashion_mnist(scale=False, channel_axis=False)  # test

# Rescale the images from [0,255] to the [0.0,1.0] range.
x_train, x_test = x_train[..., np.newaxis] / 255.0, x_test[..., np.newaxis] / 255.0
y_train = tf.keras.utils.to_categorical(y_train)
y_test = tf.keras.utils.to_categorical(y_test)
print("Number of original training examples:", len(x_train))
print("Number of original test examples:", len(x_test))

# sample for speed up
samples = 500  # test: 10000
hk.search(x_train[:samples], y_train[:samples], x_test[:int(samples / 10)], y_test[:int(samples / 10)],
          max_trials=2, epochs=1)  # test: max_trials=10, epochs=3
assert hk.get_best_trial()
print("BEST", hk.get_best_trial().module_path)
