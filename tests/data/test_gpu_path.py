"""The GPU-resident path (`trainer=gpu`), checked with the same code on CPU: the split tensors,
the batches and the augmentation live on the training device, and nothing between two training
steps waits for that device (no `.item()`, `.cpu()`, data-dependent shapes)."""

from __future__ import annotations

import traceback
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from tinynets.data.mnist import MNISTData

# ops that make the host wait for a GPU: a value read back, or an output shape that depends on data
SYNC_OPS = {"aten::_local_scalar_dense", "aten::nonzero", "aten::masked_select", "aten::_unique2",
            "aten::unique_dim", "aten::unique_consecutive", "aten::equal", "aten::is_nonzero",
            "aten::repeat_interleave"}
HOST_COPIES = ("cpu", "numpy", "tolist")  # on CPU a no-op, on a GPU a device-to-host copy


class HostSyncs(TorchDispatchMode):
    """Records every op run inside it that would synchronise with a GPU, every copy between
    devices and every `.cpu()`, `.numpy()`, `.tolist()`, with where it was called from. (On a
    CPU run a `.to(device)` is not a copy at all; on `meta` a copy to the host is seen.)"""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self._saved: dict[str, object] = {}

    def _note(self, what: str) -> None:
        frames = [f for f in traceback.extract_stack()[:-2] if "torch/utils/_python_dispatch" not in f.filename]
        where = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in frames[-4:][::-1])
        self.events.append(f"{what} at {where}")

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name
        if name in SYNC_OPS:
            self._note(name)
        elif name == "aten::index" and any(i is not None and i.dtype == torch.bool for i in args[1]):
            self._note("boolean indexing")
        elif name == "aten::_to_copy" and kwargs.get("device") not in (None, args[0].device):
            self._note(f"copy {args[0].device} -> {kwargs['device']}")
        elif name == "aten::copy_" and args[0].device != args[1].device:
            self._note(f"copy {args[1].device} -> {args[0].device}")
        return func(*args, **kwargs)

    def __enter__(self):
        for method in HOST_COPIES:
            original = getattr(torch.Tensor, method)
            self._saved[method] = original

            def wrapper(t, *a, _orig=original, _m=method, **k):
                self._note(f"Tensor.{_m}()")
                return _orig(t, *a, **k)

            setattr(torch.Tensor, method, wrapper)
        return super().__enter__()

    def __exit__(self, *exc):
        for method, original in self._saved.items():
            setattr(torch.Tensor, method, original)
        return super().__exit__(*exc)


def test_the_watch_sees_syncs():
    """The check below can fail: each kind of host round trip is caught."""
    x = torch.randn(8, requires_grad=True)
    d = x.detach()
    cases = [lambda: (d * 2).sum().item(), lambda: float(d.sum()), lambda: bool(d.sum() > 0),
             lambda: x[x > 0], lambda: (x > 0).nonzero(), lambda: d.cpu(), lambda: d.tolist(),
             lambda: d.numpy(), lambda: torch.zeros(3).to("meta")]
    for case in cases:
        with HostSyncs() as watch:
            case()
        assert watch.events, case
    with HostSyncs() as watch:
        (x * 2).sum().backward()
    assert watch.events == []


@pytest.fixture
def on_meta(tiny_mnist):
    """MNISTData set up for a trainer whose device is `meta`: any tensor made on the host and
    mixed into the data path raises."""
    dm = MNISTData(root=str(tiny_mnist), verify=False, batch_size=32,
                   augment={"rotation": 7.0, "translate": 0.1, "scale": 0.1})
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("meta")), current_epoch=0,
                                 training=True, global_rank=0, world_size=1)
    dm.setup("fit")
    return dm


def test_splits_batches_and_augmentation_live_on_the_training_device(on_meta):
    from tinynets.models import zoo

    assert {t.device.type for split in on_meta.splits.values() for t in split} == {"meta"}
    net = zoo.deep_narrow().to("meta", memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    watch = HostSyncs()
    for i, batch in enumerate(on_meta.train_dataloader()):  # the shuffled order is moved once, at i=0
        if i == 1:
            watch.__enter__()
        x, y = on_meta.on_after_batch_transfer(batch, 0)  # normalise + affine augmentation
        assert (x.device.type, y.device.type, x.shape) == ("meta", "meta", (32, 1, 28, 28))
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i == 3:
            watch.__exit__(None, None, None)
            break
    assert watch._saved and watch.events == []
    assert all(p.device.type == "meta" for p in net.parameters())
    # tinynets' Dropout took nn.Dropout's path there: its CPU mask would not mix with meta tensors
    assert any(type(m).__module__ == "tinynets.models.dropout" for m in net.modules())


@pytest.mark.parametrize("case", ["default", "experiment=fast", "control"])
def test_no_host_sync_between_training_steps(make_cfg, tiny_mnist, case):
    """Lightning + data=mnist, the code `trainer=gpu` runs: from the end of step 1 to the end of
    step 5 (fetch, index, transfer hook, augmentation, forward, backward, optimizer, scheduler,
    logging, callbacks) nothing reads a value back from the device but DivergenceGuard's one
    check of the loss per step (train.py runs it too: it must stop before a NaN reaches the
    weights). `control` adds a callback that reads the loss each step, as the write-ups' loop
    does: the watch must see it."""
    import lightning as L

    from tinynets.bench.pipelines import run_tinynets
    from tinynets.models.dropout import Dropout

    watch = HostSyncs()

    class Window(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == 0:
                watch.__enter__()
            elif batch_idx == 4:
                watch.__exit__(None, None, None)

    class ReadsLoss(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.last = float(trainer.callback_metrics.get("lr", torch.zeros(())))

        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            self.norm = pl_module.net[0].conv.weight.grad.norm().item()

    overrides = [case] if case.startswith("experiment=") else []
    cfg = make_cfg(*overrides, "trainer=cpu", f"paths.data_dir={tiny_mnist}", "data.verify=false",
                   "data.batch_size=16", "data.augment.rotation=7", "logger=none")
    extra = [Window()] + ([ReadsLoss()] if case == "control" else [])
    # on a GPU, tinynets' Dropout is nn.Dropout (its CPU mask reads positions back: fine on a CPU)
    run_tinynets(cfg, warmup=1, steps=5, extra_callbacks=extra, torch_layers=[Dropout])
    assert watch._saved, "the window never opened"
    guard = [e for e in watch.events if "on_before_backward" in e]
    assert len(guard) == 4, watch.events  # steps 2..5: the guard's check, once a step
    others = [e for e in watch.events if e not in guard]
    if case == "control":
        assert len([e for e in others if "_local_scalar_dense" in e]) >= 4, watch.events
    else:
        assert others == []
