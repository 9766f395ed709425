"""The flags of a training run: the base config both trainers inherit, and argparse from it.

Every flag is a dataclass field (argparse with ``-h``, types, defaults, help from each
field's ``metadata["help"]``). :class:`TrainConfig` declares the flags both trainers take,
each once with one default; a trainer's config adds only its own fields. Where a trainer's
documented recipe needs its own value (its hole mix, batch size, ...), the field's default is
None and the trainer's ``recipe`` gives it; ``--overfit-batch`` is the one preset, and changes
only the defaults of the fields in ``overfit`` (``--lr``, ``--steps`` and ``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

__all__ = ["field", "TrainConfig", "JUDGE", "RESUMED", "layer_names", "check_select", "build_parser", "parse_config",
           "given_flags", "resumed_settings", "resolve_model_config"]

JUDGE = "judge"  # --val-perceptual's value for the judge of ../shared/JUDGE.md
# what a resumed run keeps of its stored train config unless the flag is given again: a default
# changed since the run began must not change the run midway (another --select resets its best
# score, and the next validation, however worse, overwrites its export)
RESUMED = ("select", "val_every", "save_every", "sample_every", "log_every", "workers")


def field(default=dataclasses.MISSING, help: str = "", **kwargs):  # noqa: A002 - mirrors argparse
    """A dataclass field whose ``help`` text becomes the flag's ``-h`` line."""
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


@dataclasses.dataclass(kw_only=True)
class TrainConfig:
    """The flags of both trainers. A subclass sets ``recipe`` (its values of the fields left
    None here), ``overfit`` (those of ``--overfit-batch``) and ``selectable`` (its ``--select``
    figures), and adds its own fields."""

    recipe: typing.ClassVar[dict] = {}
    overfit: typing.ClassVar[dict] = {}
    selectable: typing.ClassVar[tuple[str, ...]] = ()

    data: str = field(help="what to train on (album: image folders, comma-separated, searched recursively, "
                      "jpg/png/webp of any size; satellite: a tile folder, images/ beside masks/ or landcover/, or an RGB GeoTIFF "
                      "scene)")
    vgg_weights: str | None = field(None, help="local VGG16 ImageNet state dict (torchvision layout); several files "
                                    "comma-separated; default: $INPAINT_VGG16_WEIGHTS, else download via torch.hub")
    out: str | None = field(None, help="run folder: training state, log, sample grids (and a GeoTIFF scene's tiles); "
                            "--overfit-batch has its own, so the sanity test never overwrites a real run")
    export: str | None = field(None, help="where the trained model is exported")
    resume: bool = field(False, help="continue from OUT/state.pt (networks, optimisers, step, timer), with the run's "
                         "own --select, --val-every, --save-every, --sample-every, --log-every and --workers "
                         "unless given again")
    init: str | None = field(None, help="start a NEW run from the weights of an exported model (e.g. the shipped "
                             "checkpoint), rebuilt as it was built")
    overfit_batch: bool = field(False, help="the sanity test: fit one batch with fixed holes (album: 8 pictures; "
                                "satellite: --batch-size windows, the learning rates decaying to zero on a cosine: "
                                "at a constant rate Adam blew the fitted generator up after ~500 steps); validation "
                                "scores the fitted batch")
    # data
    crop: int = field(128, help="training crop (window) side in px: 4x cheaper than 256 on a CPU, and the models are "
                      "fully convolutional")
    masks: str | None = field(None, help="mix of hole kinds, KIND:SHARE comma-separated: research (4 32-px squares), "
                              "strokes (2-5, 8-28 px wide), large (8-45 %%), very-large (40-70 %%), free-form "
                              "(brush strokes and boxes), class-patches (satellite: a patch's most common class); "
                              "'research:1' is the album research's recipe")
    val_fraction: float | None = field(None, help="share of the images held out for validation by a hash of each "
                                       "file's name (album: of the first --data folder, without --val-sources; "
                                       "satellite: of its path relative to --data, without --val-tiles); files of "
                                       "the same sources: it flatters")
    val_perceptual: str = field(JUDGE, help="the validation's perceptual distance: 'judge' (the judge of JUDGE.md: "
                                "LPIPS-shaped, relu1_2 to relu5_3, channel-normalised; --vgg-weights must reach "
                                "conv5_3, e.g. two files comma-separated), or VGG16 layer names for the old "
                                "raw-activation distance (the card history's figure); '' = none")
    workers: int = field(1, help="data-loading worker processes (each keeps its own copy of the decoded pictures)")
    # optimisation
    batch_size: int | None = field(None, help="pictures (windows) per step per process")
    lr: float | None = field(None, help="learning rate of the generator")
    lr_d: float = field(2e-4, help="Adam learning rate of the discriminator (album: with --w-adv) and of the "
                        "satellite's referee")
    steps: int | None = field(None, help="total optimisation steps")
    max_minutes: float = field(0.0, help="stop (saving state and model) after this many minutes of this run; 0 = no "
                               "limit")
    hole_weight: float = field(6.0, help="L1 weight of hole pixels relative to known pixels")
    w_vgg: float = field(0.05, help="weight of the VGG16 perceptual (feature) loss on --vgg-layers")
    vgg_layers: str | None = field(None, help="VGG16 layers of the perceptual loss, comma-separated; "
                                   "relu1_2,relu2_2,relu3_3,relu4_3 trains on the old held-out distance's layers")
    w_tv: float = field(0.1, help="weight of the total-variation loss on the composite (without it a GAN's reward "
                        "grows a dotted 2-px pattern in the fills)")
    w_adv: float | None = field(None, help="weight of the generator's adversarial term on the filled patches (album: "
                                "a spectral-norm PatchGAN's hinge loss, 0 = off, the research's recipe; LaMa and "
                                "MI-GAN train with one; satellite: its two-headed PatchGAN's LSGAN loss)")
    amp: bool = field(True, help="mixed precision on CUDA, bf16 on CPUs with native bf16 (float32 on others, where "
                      "bf16 is slower)")
    device: str = field("auto", help="auto, cpu or cuda")
    seed: int = field(0, help="seed for weights, data order, windows and holes")
    # bookkeeping
    log_every: int = field(20, help="steps between log lines (progress bar and OUT/log.jsonl)")
    val_every: int = field(500, help="steps between validations (and exports when validation improves)")
    save_every: int = field(200, help="steps between training-state saves")
    sample_every: int = field(500, help="steps between sample grids")
    select: str = field(JUDGE, help="validation figure that picks the exported model: judge (the lowest judge "
                        "distance, JUDGE.md), psnr_hole, perceptual (the old distance: history only), consistency "
                        "(satellite: the referee's land-cover accuracy on the fills) or last (the latest validated "
                        "model; a GAN's best is often not its last)")
    keep_exports: bool = field(False, help="also export every validation's model to "
                               "OUT/exports/stepNNNNNN.safetensors, to choose among them with evaluate after the run")

    def __post_init__(self):
        preset = {**self.recipe, **(self.overfit if self.overfit_batch else {})}
        for name, value in preset.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.resume and self.init:  # the state holds the run's weights: an --init file would be ignored
            raise SystemExit("--resume continues a run, --init starts a new one from a model: pick one")
        if self.select not in self.selectable:
            raise SystemExit(f"--select must be one of {', '.join(self.selectable)}, got {self.select!r}")
        check_select(self.select, self.val_perceptual)


def layer_names(layers: str) -> tuple[str, ...]:
    """``--val-perceptual``'s (or ``--vgg-layers``') comma-separated names: ``("judge",)``, VGG16 layers, or none."""
    return tuple(x.strip() for x in layers.split(",") if x.strip())


def check_select(select: str, val_perceptual: str) -> None:
    """Stop with a clear message where ``--select`` names a figure the validation does not read."""
    names = layer_names(val_perceptual)
    if select == "judge" and names != (JUDGE,):
        raise SystemExit("--select judge needs the judge in validation (--val-perceptual judge)")
    if select == "perceptual" and (not names or names == (JUDGE,)):
        raise SystemExit("--select perceptual needs the old distance's layers in --val-perceptual "
                         "(e.g. relu1_2,relu2_2,relu3_3,relu4_3); the judge is --select judge")


def _flag_type(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _flag_type(args[0])
    return tp


def _add_flag(parser, name: str, tp, help_text: str, **kwargs) -> None:
    flag = "--" + name.replace("_", "-")
    if tp is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text, **kwargs)
    else:
        parser.add_argument(flag, type=tp, help=help_text, **kwargs)


def build_parser(config_cls, description: str, model_cls=None,
                 model_skip: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """An argparse parser with one ``--flag`` per dataclass field (``_`` becomes ``-``); a
    trainer's own fields (those :class:`TrainConfig` lacks) in a group of their own.

    A field the trainer's ``recipe`` sets shows the recipe's value as its default; one that
    ``--overfit-batch`` sets too says both. With ``model_cls`` (a model config dataclass), its
    fields (but ``model_skip``) become flags too, in their own group. A model flag not given is
    left out: a new run builds the model from the given ones and the dataclass's own defaults,
    the one place they live; ``--resume`` and ``--init`` rebuild the stored model (see
    :func:`resolve_model_config`).
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(config_cls)
    recipe, overfit = getattr(config_cls, "recipe", {}), getattr(config_cls, "overfit", {})
    shared = {f.name for f in dataclasses.fields(TrainConfig)} if issubclass(config_cls, TrainConfig) else None
    own = parser.add_argument_group(f"this trainer's own flags ({config_cls.__name__})") if shared else parser
    for f in dataclasses.fields(config_cls):
        group = parser if shared is None or f.name in shared else own
        help_text = f.metadata.get("help", "")
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            _add_flag(group, f.name, _flag_type(hints[f.name]), help_text, required=True)
        elif f.name in overfit:  # absent from the namespace unless given: the config picks the preset
            help_text += f" (default: {recipe[f.name]}; {overfit[f.name]} with --overfit-batch)"
            _add_flag(group, f.name, _flag_type(hints[f.name]), help_text, default=argparse.SUPPRESS)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            _add_flag(group, f.name, _flag_type(hints[f.name]), help_text, default=recipe.get(f.name, default))
    if model_cls is not None:
        group = parser.add_argument_group(
            f"model ({model_cls.__name__}; a new run only: --resume and --init rebuild the stored model)")
        model_hints = typing.get_type_hints(model_cls)
        for f in dataclasses.fields(model_cls):
            if f.name not in model_skip:
                # SUPPRESS: a flag not given is absent from the namespace (and -h shows the real default)
                _add_flag(group, f.name, _flag_type(model_hints[f.name]),
                          f"{f.metadata.get('help', '')} (default: {f.default})", default=argparse.SUPPRESS)
    return parser


def parse_config(config_cls, description: str, argv=None, model_cls=None, model_skip: tuple[str, ...] = ()):
    """``(config, model flags given, names of the config's flags given)`` from the command line:
    ``config_cls`` with the defaults where a flag is not given; with ``model_cls``, its flags given
    as ``{name: value}`` (else ``{}``). The names let ``--resume`` tell a flag typed now from a
    default (see :func:`resumed_settings`)."""
    parser = build_parser(config_cls, description, model_cls, model_skip)
    values = vars(parser.parse_args(argv))
    names = {f.name for f in dataclasses.fields(model_cls)} - set(model_skip) if model_cls is not None else set()
    model_flags = {k: values.pop(k) for k in list(values) if k in names}
    given = given_flags(parser, argv, [f.name for f in dataclasses.fields(config_cls)])
    return config_cls(**values), model_flags, given


def given_flags(parser: argparse.ArgumentParser, argv, names: list[str]) -> set[str]:
    """Which of the fields ``names`` the command line ``argv`` sets, whatever the value (the
    default's own value included): ``argv`` parsed onto a namespace where each name already
    holds a marker, so argparse fills in no default and only a flag given replaces its marker."""
    unset = object()
    args = parser.parse_args(argv, argparse.Namespace(**{name: unset for name in names}))
    return {name for name in names if getattr(args, name) is not unset}


def resumed_settings(stored: dict, given: set[str]) -> dict:
    """``{name: value}``: the settings of :data:`RESUMED` that a resumed run keeps from its
    stored train config (``stored``, as the training state holds it), those whose flag is not
    ``given`` on this command line."""
    return {name: stored[name] for name in RESUMED if name in stored and name not in given}


def resolve_model_config(model_cls, given: dict, stored: dict | None = None, source: str = "", **fixed):
    """The model config of a run: ``model_cls(**fixed, **given)`` for a new one; the
    ``stored`` config (of ``--resume``'s state or ``--init``'s checkpoint) otherwise, where
    a given flag that disagrees with it stops the run instead of being silently ignored."""
    try:
        if stored is None:
            return model_cls(**fixed, **given)
        conflicts = [f"--{k.replace('_', '-')} {v} (it has {stored.get(k)})" for k, v in given.items()
                     if stored.get(k) != v]
        if conflicts:
            raise SystemExit(f"{source} holds a model built differently: {'; '.join(conflicts)}. Drop those flags "
                             "(the stored model is rebuilt as it is) or start a new run")
        return model_cls(**stored)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"model config: {err}") from None
