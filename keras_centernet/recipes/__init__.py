"""Named training recipes as data (one module each): `keras-centernet recipes` lists them, `train --recipe NAME`
starts from one (flags given on the command line win), `get(NAME).config(data_dir=..., model_dir=...)` gives its
`TrainConfig`. See docs/recipes.md."""

from keras_centernet.recipes import (
    od_api_r101_fpn_512,
    paper_resdcn101_512,
    paper_resnet_deconv_512,
    seed_r101_fpn_512,
)
from keras_centernet.recipes.recipe import Recipe

RECIPES = {
    module.RECIPE.name: module.RECIPE
    for module in (od_api_r101_fpn_512, seed_r101_fpn_512, paper_resnet_deconv_512, paper_resdcn101_512)
}


def names():
    """The recipe names, in the order `keras-centernet recipes` lists them."""
    return list(RECIPES)


def get(name):
    """The `Recipe` called `name`; KeyError with one line naming the known ones otherwise."""
    if name not in RECIPES:
        raise KeyError(f"no recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


__all__ = ["RECIPES", "Recipe", "get", "names"]
