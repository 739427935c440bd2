"""The founding notes' first network, run on lamina.

This is the program from the project's founding notes (the classic MNIST example of
*Deep Learning with Python*) with two changes only: the imports say ``lamina`` instead of
``keras``, and the data comes from the handwritten digits that scikit-learn bundles, shaped
like MNIST (``lamina.datasets.digits``), so it runs without a network. Swap in
``lamina.datasets.mnist`` to train on the real MNIST when it can be downloaded.

Run: ``python examples/seed_mnist.py``
"""

# 加载数据集 (load the data set)
from lamina.datasets import digits

(train_images, train_labels), (test_images, test_labels) = digits.load_data()

# 搭建网络架构 (build the network)
from lamina import layers, models  # noqa: E402

network = models.Sequential()
network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
network.add(layers.Dropout(0.5))
network.add(layers.Dense(10, activation="softmax"))

# 编译 (compile)
network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])

# 准备图像数据 (prepare the images)
train_images = train_images.reshape((len(train_images), 28 * 28))
train_images = train_images.astype("float32") / 255
test_images = test_images.reshape((len(test_images), 28 * 28))
test_images = test_images.astype("float32") / 255

# 准备标签 (prepare the labels)
from lamina.utils import to_categorical  # noqa: E402

train_labels = to_categorical(train_labels)
test_labels = to_categorical(test_labels)

# 留出验证集 (hold out a validation set: 300 of the 1,500 digits, as MNIST's 1,000 of 60,000)
val_images = train_images[:300]
partial_train_images = train_images[300:]
val_labels = train_labels[:300]
partial_train_labels = train_labels[300:]

# 训练网络 (train)
network.fit(
    partial_train_images,
    partial_train_labels,
    epochs=5,
    batch_size=128,
    validation_data=(val_images, val_labels),
)

# 评估模型 (evaluate)
test_loss, test_acc = network.evaluate(test_images, test_labels)
print(f"test_acc: {test_acc:.4f}")
