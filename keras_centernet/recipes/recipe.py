"""`Recipe`: a named training recipe as data: the `TrainConfig` fields it sets and the result its source reports."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Recipe:
    """name: what `train --recipe` takes; description: one line; source: the paper, config file or run it
    transcribes; coco_map: the COCO val2017 box mAP (percent) that source reports; fields: flat `TrainConfig`
    field names (`TrainConfig.replace` keywords, e.g. batch_size=16) -> values; fields it leaves out keep their
    defaults."""

    name: str
    description: str
    source: str
    coco_map: float
    fields: dict = dataclasses.field(default_factory=dict)

    def config(self, **overrides):
        """The `TrainConfig` of this recipe, named in its `recipe` field, `overrides` (flat field names, e.g.
        data_dir=, batch_size=) winning."""
        from keras_centernet.training.config import TrainConfig

        return TrainConfig().replace(**{**self.fields, "recipe": self.name, **overrides})

    def to_dict(self):
        """json: name, description, source, coco_map and fields (tuples as lists)."""
        fields = {key: list(value) if isinstance(value, tuple) else value for key, value in self.fields.items()}
        return {**dataclasses.asdict(self), "fields": fields}
