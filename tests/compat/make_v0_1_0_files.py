"""How tests/compat/files/tiny_fpn_v0.1.0.* were made, with keras-centernet 0.1.0 (commit e1b5c03 and its
neighbours, before the renovation of issue 11). Kept for the record: rerunning it with newer code makes new files,
which is NOT what the compatibility test wants (it checks that OLD files still load and predict the same)."""

import keras
import numpy as np

from keras_centernet import CenterNet
from keras_centernet.data.synthetic import make_synthetic_dataset

keras.utils.set_random_seed(0)
model = CenterNet(3, backbone="tiny", neck="fpn", class_ids=[3, 17, 90], class_names=["a", "b", "c"])
rng = np.random.default_rng(0)
for v in model.weights:  # distinct non-default values everywhere (BN statistics included)
    v.assign(rng.normal(0, 0.1, v.shape).astype("float32") + (1.0 if "variance" in v.path else 0.0))
images, _, _ = make_synthetic_dataset(2, image_size=64, max_boxes=8, seed=5)
model.save("tests/compat/files/tiny_fpn_v0.1.0.keras")
out = model.predict(images, verbose=0)
raw = model(images, training=False)
np.savez_compressed("tests/compat/files/tiny_fpn_v0.1.0_outputs.npz", images=images,
    **{f"predict_{k}": np.asarray(v) for k, v in out.items()},
    **{f"raw_{k}": keras.ops.convert_to_numpy(v) for k, v in raw.items()})
print({k: np.asarray(v).shape for k, v in out.items()}, out["num_detections"], out["scores"][0,:3])
