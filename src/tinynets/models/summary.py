"""`python -m tinynets.models.summary model=NAME`: one row per layer (output shape, params, jump and
receptive field), the BN / Dropout / GAP / FC flags and `Total params: N`. It composes the
same conf/ as train.py (Hydra's compose API: no run dir is made), so the same overrides apply:
`dropout=none`, `experiment=...`, `model.net.<knob>=...`."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from tinynets.checks import check
from tinynets.config import conf_dir
from tinynets.errors import UserError, report
from tinynets.models.receptive_field import RF, leaf_layers, step


def summarize(net: torch.nn.Module, input_shape=(1, 1, 28, 28)) -> str:
    shapes: dict[str, tuple[int, ...]] = {}
    layers = leaf_layers(net)
    hooks = [m.register_forward_hook(lambda m, i, o, n=name: shapes.__setitem__(n, tuple(o.shape[1:])))
             for name, m in layers]
    was_training = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros(input_shape))
    net.train(was_training)
    for h in hooks:
        h.remove()

    head = f"{'layer':<14}{'type':<13}{'output shape':>16}{'params':>10}{'jump':>6}{'RF':>5}"
    lines = [head, "-" * len(head)]
    state = RF(size=input_shape[-1])
    for name, m in layers:
        state = step(state, m)
        n = sum(p.numel() for p in m.parameters())
        shape = "x".join(map(str, shapes.get(name, ())))
        lines.append(f"{name:<14}{type(m).__name__:<13}{shape:>16}{n:>10,}{state.jump:>6}{state.rf:>5}")
    lines.append("-" * len(head))
    flags = getattr(net, "flags", {})
    if flags:
        lines.append("  ".join(f"{k.removeprefix('uses_').upper().replace('DROPOUT', 'Dropout')}: "
                               f"{'yes' if v else 'no'}" for k, v in flags.items()))
    total = sum(p.numel() for p in net.parameters())
    lines.append(f"Total params: {total:,}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Compose conf/train.yaml with the command-line overrides and print the model's table."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from hydra.utils import instantiate
    from omegaconf import open_dict

    overrides = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in overrides):
        print(__doc__)
        return 0
    try:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            cfg = compose("train", overrides=overrides, return_hydra_config=True)
        name = cfg.hydra.runtime.choices.model
        with open_dict(cfg):  # a summary makes no run dir: point Hydra's runtime at the cwd
            cfg.hydra.runtime.output_dir = cfg.hydra.runtime.cwd = str(Path.cwd())
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        check(cfg)
        net = instantiate(cfg.model.net)
    except UserError as e:
        return report(e)
    except HydraException as e:  # an unknown option or key: the line train.py prints for it
        from tinynets.errors import describe

        return report(describe(e, overrides) or e)
    print(f"model={name}")
    print(summarize(net))
    return 0


if __name__ == "__main__":
    sys.exit(main())
