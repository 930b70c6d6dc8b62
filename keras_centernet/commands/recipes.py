"""`keras-centernet recipes`: the named training recipes (name, description, source, COCO mAP), and the `--recipe`
flag of `train` that starts from one (keras_centernet.recipes)."""

import argparse
import json


class RecipeAction(argparse.Action):
    """`--recipe NAME`: sets the recipe's fields in the parsed namespace, except those a flag already set to a
    value other than its default; flags after `--recipe` are parsed later, so they win as well. Fields without a
    flag (e.g. head_channels) are set too; `train`'s config_from_args reads them into the TrainConfig."""

    def __call__(self, parser, namespace, values, option_string=None):
        from keras_centernet import recipes

        for name, value in recipes.get(values).fields.items():
            if getattr(namespace, name, None) == parser.get_default(name):  # not given before --recipe
                setattr(namespace, name, value)
        setattr(namespace, self.dest, values)


def add_recipe_argument(parser):
    """Adds `--recipe NAME` (one of `keras_centernet.recipes.names()`) to a training parser."""
    from keras_centernet import recipes

    parser.add_argument(
        "--recipe", action=RecipeAction, choices=recipes.names(), default=None, metavar="NAME",
        help="start from a named recipe (keras-centernet recipes lists them: " + ", ".join(recipes.names()) + "); "
        "flags after it, or before it with a non-default value, override its fields",
    )  # fmt: skip


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "recipes",
        help="list the named training recipes",
        description="The named training recipes for `keras-centernet train --recipe NAME`: name, source, the COCO "
        "mAP the source reports and what it sets. With NAME: that recipe's fields as json.",
    )
    parser.add_argument("name", nargs="?", default=None, help="print this recipe's fields as json")
    parser.set_defaults(func=run)
    return parser


def table(recipes):
    """Lines: one per recipe, `NAME  MAP  DESCRIPTION` then an indented `source: ...`."""
    width = max(len(recipe.name) for recipe in recipes)
    lines = [f"{'recipe':<{width}}  COCO mAP  description"]
    for recipe in recipes:
        lines.append(f"{recipe.name:<{width}}  {recipe.coco_map:8.1f}  {recipe.description}")
        lines.append(f"{'':<{width}}  {'':8}  source: {recipe.source}")
    return lines


def run(args):
    from keras_centernet import recipes
    from keras_centernet.validation import InputError

    if args.name is None:
        print("\n".join(table(list(recipes.RECIPES.values()))))
        return 0
    if args.name not in recipes.RECIPES:
        raise InputError(f"no recipe {args.name!r}; known: {', '.join(recipes.names())}")
    print(json.dumps(recipes.get(args.name).to_dict(), indent=2))
    return 0
