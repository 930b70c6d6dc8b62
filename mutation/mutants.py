"""The mutants `make mutation` plants: realistic one-line bugs in the central code, each with the tests that must
catch it. `old` must occur exactly once in `file`. `equivalent`: why no test can tell the mutant apart (left out
of the kill rate); `survivor_note`: for a survivor that is not equivalent, the test to add."""

import dataclasses

LAYERS = ("tests/layers/test_gaussian.py", "tests/layers/test_target_encoder.py",
          "tests/layers/test_gaussian_reference.py")  # fmt: skip
LOSSES = ("tests/losses",)
DECODER = ("tests/layers/test_decoder.py", "tests/layers/test_decoder_reference.py")
FLIP = ("tests/models/test_flip_reference.py",)
LETTERBOX = ("tests/evaluation/test_letterbox_reference.py", "tests/evaluation/test_coco.py", "tests/test_inference.py",
             "tests/test_preprocessing.py")
STEP = ("tests/models/test_loss_scaling_reference.py",)
MIRRORED = ("tests/distributed/test_mirrored_reference.py",)
HOROVOD = ("tests/distributed/test_reduction_reference.py",)
RESUME = ("tests/reliability/test_training_state.py", "tests/reliability/test_resume_reference.py")
PLAN = ("tests/training/test_plan.py",)
RETENTION = ("tests/callbacks/test_checkpoint_retention.py",)
PREEMPTION = ("tests/callbacks/test_preemption.py",)
FOLDER = ("tests/training/test_run_folder.py",)


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    tests: tuple
    equivalent: str = ""
    survivor_note: str = ""


_G = "keras_centernet/layers/gaussian.py"
_E = "keras_centernet/layers/target_encoder.py"
_F = "keras_centernet/losses/focal.py"
_R = "keras_centernet/losses/regression.py"
_D = "keras_centernet/layers/decoder.py"
_M = "keras_centernet/models/centernet.py"
_H = "keras_centernet/callbacks/horovod.py"
_HV = "keras_centernet/horovod.py"
_C = "keras_centernet/evaluation/coco.py"
_P = "keras_centernet/preprocessing.py"
_B = "keras_centernet/callbacks/backup.py"
_HF = "keras_centernet/callbacks/history_file.py"
_PL = "keras_centernet/training/plan.py"
_CK = "keras_centernet/callbacks/checkpoint.py"
_PR = "keras_centernet/callbacks/preemption.py"
_BU = "keras_centernet/training/builders.py"
_RF = "keras_centernet/training/run_folder.py"

MUTANTS = [
    # Gaussian radius and kernel
    Mutant("radius-halved", _G, "return ops.minimum(ops.minimum(r1, r2), r3)",
           "return ops.minimum(ops.minimum(r1, r2), r3) / 2", LAYERS),
    Mutant("min-overlap-ignored", _G, "    o = min_overlap\n", "    o = 0.7\n", LAYERS),
    Mutant("sigma-diameter-over-3", _G, "sigma = (2.0 * r + 1.0) / 6.0", "sigma = (2.0 * r + 1.0) / 3.0", LAYERS),
    Mutant("window-strict", _G, "ops.abs(dx) <= r", "ops.abs(dx) < r", LAYERS),
    Mutant("cornernet-smaller-root", _G, "r1, r2, r3 = (b1 + sq1) / 2, (b2 + sq2) / 2, (b3 + sq3) / 2",
           "r1, r2, r3 = (b1 - sq1) / 2, (b2 + sq2) / 2, (b3 + sq3) / 2", LAYERS),
    Mutant("corrected-case3-denominator", _G, "(-b3 + sq3) / (8 * o)", "(-b3 + sq3) / (4 * o)", LAYERS,
           equivalent="with the proper roots, case 3's root is never the smallest of the three (checked for h, w in "
           "1..50 cells and min_overlap 0.1..0.9) and doubling it keeps it so: the radius, a minimum, cannot change"),
    # Target encoder
    Mutant("radius-from-pixels", _E, "gaussian_radius(ops.ceil(h), ops.ceil(w),",
           "gaussian_radius(ops.ceil(h * self.stride), ops.ceil(w * self.stride),", LAYERS),
    Mutant("size-wh-swapped", _E, "size = ops.stack([w, h], axis=-1)", "size = ops.stack([h, w], axis=-1)", LAYERS),
    Mutant("offset-xy-swapped", _E, "offset = ops.stack([cx - cx_int, cy - cy_int], axis=-1)",
           "offset = ops.stack([cy - cy_int, cx - cx_int], axis=-1)", LAYERS),
    Mutant("index-row-col-swapped", _E, "ops.cast(cy_int * out_w + cx_int, \"int32\")",
           "ops.cast(cx_int * out_h + cy_int, \"int32\")", LAYERS),
    Mutant("nan-boxes-not-zeroed", _E, "boxes = ops.where(finite[..., None], boxes, 0.0)\n", "\n",
           LAYERS + ("tests/models/test_centernet.py",)),
    Mutant("classes-collapsed", _E, "image_index * self.num_classes + safe_labels", "image_index * self.num_classes",
           LAYERS),
    Mutant("center-not-floored", _E, "cx_int = ops.clip(ops.floor(cx), 0.0, float(out_w - 1))",
           "cx_int = ops.clip(ops.round(cx), 0.0, float(out_w - 1))", LAYERS),
    # Focal loss
    Mutant("focal-exponent-ignored", _F, "        return ops.power(x, exponent)", "        return ops.square(x)",
           LOSSES),
    Mutant("focal-penalty-inverted", _F, "penalty = self._power(1.0 - y_true, self.beta)",
           "penalty = self._power(y_true, self.beta)", LOSSES),
    Mutant("focal-log-not-p-sign", _F, "log_not_p = log_p - logits", "log_not_p = log_p + logits", LOSSES),
    Mutant("focal-not-normalized-by-objects", _F, "return per_image * batch / ops.maximum(ops.sum(positive), 1.0)",
           "return per_image * batch / ops.maximum(ops.cast(ops.size(positive), \"float32\"), 1.0)", LOSSES),
    Mutant("focal-positives-by-threshold", _F, "positive = ops.cast(ops.equal(y_true, 1.0), \"float32\")",
           "positive = ops.cast(ops.greater(y_true, 0.5), \"float32\")", LOSSES),
    # Regression loss
    Mutant("l1-mask-ignored", _R, "error = ops.abs(ops.cast(y_pred, \"float32\") - target) * mask",
           "error = ops.abs(ops.cast(y_pred, \"float32\") - target)", LOSSES),
    Mutant("l1-normalized-by-boxes", _R, "count = ops.sum(mask) * per_box", "count = ops.sum(mask)", LOSSES),
    # Decoder
    Mutant("decoder-row-col-swapped", _D, "xs = ops.cast(cell % width, \"float32\")",
           "xs = ops.cast(cell % height, \"float32\")", DECODER),
    Mutant("decoder-rows-by-height", _D, "ys = ops.cast(cell // width, \"float32\")",
           "ys = ops.cast(cell // height, \"float32\")", DECODER),
    Mutant("decoder-full-size", _D, "half_w, half_h = box_size[..., 0] / 2.0, box_size[..., 1] / 2.0",
           "half_w, half_h = box_size[..., 0], box_size[..., 1]", DECODER),
    Mutant("decoder-offset-dropped", _D, "cx = xs + box_offset[..., 0]", "cx = xs", DECODER),
    Mutant("decoder-offset-swapped", _D, "cy = ys + box_offset[..., 1]", "cy = ys + box_offset[..., 0]", DECODER),
    Mutant("decoder-clip-height-for-x", _D, "max_x, max_y = float(width * self.stride), float(height * self.stride)",
           "max_x, max_y = float(height * self.stride), float(height * self.stride)", DECODER),
    Mutant("decoder-peak-greater-equal", _D, "peaks = ops.where(ops.equal(probs, pooled), probs, 0.0)",
           "peaks = ops.where(ops.greater_equal(probs, pooled), probs, 0.0)", DECODER,
           equivalent="the max-pool over a window that holds the cell is never below it: >= is == here"),
    # Flip test
    Mutant("flip-heatmap-not-unflipped", _M,
           "heatmap = ops.sigmoid(outputs[\"heatmap\"]) + ops.flip(ops.sigmoid(mirrored_outputs[\"heatmap\"]), axis=2)",
           "heatmap = ops.sigmoid(outputs[\"heatmap\"]) + ops.sigmoid(mirrored_outputs[\"heatmap\"])", FLIP),
    Mutant("flip-size-not-unflipped", _M, "size = outputs[\"size\"] + ops.flip(mirrored_outputs[\"size\"], axis=2)",
           "size = outputs[\"size\"] + mirrored_outputs[\"size\"]", FLIP),
    Mutant("flip-heatmap-wrong-axis", _M, "ops.flip(ops.sigmoid(mirrored_outputs[\"heatmap\"]), axis=2)",
           "ops.flip(ops.sigmoid(mirrored_outputs[\"heatmap\"]), axis=1)", FLIP),
    Mutant("flip-input-not-mirrored", _M, "mirrored = self(ops.flip(x, axis=2), training=False) if self.flip_test",
           "mirrored = self(x, training=False) if self.flip_test", FLIP),
    # TensorFlow train_step and gradient reduction
    Mutant("scale-loss-dropped", _M, "scaled_loss = self.optimizer.scale_loss(loss)", "scaled_loss = loss", STEP),
    Mutant("loss-logged-unscaled", _M,
           "self._loss_tracker.update_state(_unscale_for_logging(loss), sample_weight=tf.shape(x)[0])",
           "self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])", MIRRORED),
    Mutant("reducer-sums", _HV, "                op=hvd.Average,\n                compression=compression,",
           "                op=hvd.Sum,\n                compression=compression,", HOROVOD),
    Mutant("batchnorm-stats-summed", _H,
           "averaged = hvd.grouped_allreduce([v.value for v in group], op=hvd.Average,",
           "averaged = hvd.grouped_allreduce([v.value for v in group], op=hvd.Sum,", HOROVOD),
    Mutant("reducer-skipped", _M, "            gradients = self.gradient_reducer(gradients)\n",
           "            pass\n", HOROVOD),
    # Letterbox inverse and category ids
    Mutant("detections-not-unletterboxed", _C,
           "boxes = boxes_to_original(boxes, 1.0 if scales is None else scales, heights, widths)",
           "boxes = boxes_to_original(boxes, 1.0, heights, widths)", LETTERBOX),
    Mutant("ground-truth-not-unletterboxed", _C,
           "self.boxes.extend(np.where(boxes >= 0, boxes_to_original(boxes, info[\"scale\"]), -1.0))",
           "self.boxes.extend(np.where(boxes >= 0, boxes, -1.0))", LETTERBOX),
    Mutant("category-id-is-label-plus-one", _C, "\"category_id\": int(category_ids[i, k]),",
           "\"category_id\": int(labels[i, k]) + 1,", LETTERBOX),
    Mutant("inference-boxes-times-scale", _P, "boxes = boxes / _per_image(scale, boxes)",
           "boxes = boxes * _per_image(scale, boxes)", LETTERBOX),
    # Resume
    Mutant("resume-weights-not-loaded", _B,
           "        model.load_weights(os.path.join(self.backup_dir, state[\"weights\"]))\n", "\n", RESUME),
    Mutant("backup-names-the-next-epoch", _B, "state = {\"epoch\": int(finished_epochs), \"step\": step,",
           "state = {\"epoch\": int(finished_epochs) + 1, \"step\": step,", RESUME),
    Mutant("history-keeps-redone-epochs", _HF, "if epoch <= epochs]", "if epoch <= epochs + 1]", RESUME),
    # Step plan (issue 18): N steps are N optimizer steps, a resumed epoch ends where it would have
    Mutant("last-epoch-full-length", _PL, "return min((epoch + 1) * self.steps_per_epoch, self.total_steps)",
           "return (epoch + 1) * self.steps_per_epoch", PLAN),
    Mutant("resumed-epoch-restarts", _PL, "segments.append(Segment(epoch, epoch + 1, end - step, step))",
           "segments.append(Segment(epoch, epoch + 1, self.steps_per_epoch, step))", PLAN),
    # Checkpoint retention and the best across resumes (issue 18)
    Mutant("retention-keeps-one-more", _CK, "if epoch <= current_epoch), reverse=True)[:keep]",
           "if epoch <= current_epoch), reverse=True)[:keep + 1]", RETENTION),
    Mutant("best-forgotten-on-resume", _CK,
           "            self.restore_best(read_history(self.history_path), self.initial_epoch)\n", "            pass\n",
           RETENTION),
    # SIGTERM and time backups at the current step (issue 18)
    Mutant("sigterm-without-backup", _PR,
           "        self.backup.save(self.model, step // self.steps_per_epoch)\n", "        pass\n", PREEMPTION),
    Mutant("backup-timer-never-restarts", _PR, "        self._last = self.clock()\n        if stop:",
           "        if stop:", PREEMPTION),
    Mutant("resumed-data-from-the-start", _BU, "start=int(start_step) * batch_size,", "start=0,", PREEMPTION),
    Mutant("eval-at-each-fits-end", "keras_centernet/callbacks/coco_eval.py",
           "last = self.final_epoch or (self.params.get(\"epochs\") if self.params else None)",
           "last = self.params.get(\"epochs\") if self.params else None",
           ("tests/evaluation/test_coco_eval_callback.py",)),
    # A run folder knows what it holds (issue 18)
    Mutant("identity-ignores-image-size", _RF, "    (\"data\", \"image_size\"),\n", "", FOLDER),
]  # fmt: skip
