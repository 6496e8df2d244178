"""The training loop: invariants, determinism, gradient accumulation, AMP/channels_last, resume."""

from __future__ import annotations

import json

import pytest
import torch
from toy_training import ToyDataset, toy_loss, toy_model

from agcl.config import OptimConfig, RuntimeConfig
from agcl.errors import AgclError
from agcl.train.checkpoint import load_checkpoint
from agcl.train.loop import FitOptions, finished_checkpoint, fit, fit_or_load

RT = RuntimeConfig(device="cpu", amp="none", seed=5, log_every=1, progress=False)
OPT = OptimConfig(lr=0.5, max_epochs=3, patience=100)


def _fit(model, tmp_path=None, *, runtime=RT, optim=OPT, batch=8, loss=toy_loss, train=None):
    opts = FitOptions(stage="toy", optim=optim, runtime=runtime, batch_size=batch,
                      stage_dir=None if tmp_path is None else tmp_path / "stage",
                      run_dir=None if tmp_path is None else tmp_path, config={"c": 1}, tensorboard=False)
    return fit(model, loss, train or ToyDataset(32, 1), ToyDataset(16, 2), opts)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class RecordingSGD(torch.optim.SGD):
    """SGD that records, at every step, which parameters got a finite, non-zero gradient."""

    seen: list[set[str]]

    def step(self, closure=None):
        got = {self.names[id(p)] for g in self.param_groups for p in g["params"]
               if p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0}
        self.seen.append(got)
        return super().step(closure)


@pytest.mark.parametrize("kind", ["multilabel", "two_path"])
def test_every_parameter_gets_a_gradient_and_loss_falls(kind: str, tmp_path) -> None:
    """Invariants on the real networks with the tiny backbone, through fit (docs/training.md)."""
    from agcl.models import build_model
    from agcl.train.losses import masked_bce, two_path_loss

    model = build_model({"kind": kind, "backbone": "tiny", "image_size": 32}, seed=0)
    names = {id(p): n for n, p in model.named_parameters()}
    opt_holder: list[RecordingSGD] = []

    def make_opt(m):
        opt = RecordingSGD(m.parameters(), lr=0.3, momentum=0.9)
        opt.names, opt.seen = names, []
        opt_holder.append(opt)
        return opt

    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(8, 1, 32, 32, generator=g)
    labels = (torch.rand(8, 14, generator=g) > 0.5).float()
    with torch.no_grad():
        h = model.forward_features(imgs).shape[-1]
    data = [{"image": imgs[i], "labels": labels[i], "target": torch.rand(14, h, h, generator=g),
             "target_mask": (torch.arange(14) < 3).float()} for i in range(8)]

    if kind == "multilabel":
        def loss(out, b):
            return masked_bce(out, b["labels"])
    else:
        def loss(out, b):
            return two_path_loss(out["logits"], out["heatmaps"], b["labels"], None, b["target"], b["target_mask"], lam=0.05)

    opts = FitOptions(stage=kind, optim=OptimConfig(lr=0.3, max_epochs=20, patience=100), runtime=RT,
                      batch_size=8, optimizer_factory=make_opt, tensorboard=False, stage_dir=tmp_path,
                      train_method="forward" if kind == "multilabel" else "forward_train")
    res = fit(model, loss, data, None, opts)
    seen = opt_holder[0].seen
    assert set(names.values()) == seen[0], f"no gradient for {set(names.values()) - seen[0]}"
    losses = [r["train/loss"] for r in res.history]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.85 * losses[0], losses  # chance level is ln 2 ≈ 0.69
    if kind == "two_path":
        assert "train/reg" in res.history[0] and "train/cls" in res.history[0]
    saved = load_checkpoint(tmp_path / "checkpoint.pt", expect_kind=kind)
    rebuilt = build_model(saved["model_spec"], pretrained="none")
    rebuilt.load_state_dict(saved["model"])  # strict: keys of the bare network, not of a wrapper
    assert _same(rebuilt.state_dict(), model.state_dict())


def test_same_seed_is_bit_identical_and_other_seed_differs() -> None:
    runs = []
    for seed in (5, 5, 6):
        model = toy_model(0, dropout=0.3)
        _fit(model, runtime=RuntimeConfig(device="cpu", amp="none", seed=seed, progress=False))
        runs.append(model.state_dict())
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])


def test_grad_accumulation_matches_one_big_batch() -> None:
    big, small = toy_model(0), toy_model(0)
    _fit(big, batch=8)
    _fit(small, batch=4, runtime=RuntimeConfig(device="cpu", amp="none", seed=5, grad_accum_steps=2, progress=False))
    for k, v in big.state_dict().items():
        torch.testing.assert_close(small.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    plain = toy_model(0)
    _fit(plain, batch=4)  # without accumulation: twice the steps → clearly different weights
    assert not all(torch.allclose(plain.state_dict()[k], v, atol=1e-4) for k, v in big.state_dict().items())


def test_bf16_autocast_and_channels_last_run_on_cpu() -> None:
    model = toy_model(0, batchnorm=True)
    rt = RuntimeConfig(device="cpu", amp="bf16", channels_last="on", seed=5, progress=False)
    res = _fit(model, runtime=rt)
    assert all(torch.isfinite(torch.tensor(r["val/loss"])) for r in res.history)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fp16_on_cpu_is_a_config_error() -> None:
    with pytest.raises(AgclError, match="fp16 needs CUDA"):
        _fit(toy_model(0), runtime=RuntimeConfig(device="cpu", amp="fp16", progress=False))


def test_non_finite_loss_stops_with_a_clear_error() -> None:
    def bad(out, b):
        return {"loss": out.sum() * float("nan")}

    with pytest.raises(AgclError, match="non-finite training loss"):
        _fit(toy_model(0), loss=bad)


def test_lr_schedule_and_early_stopping_in_fit(tmp_path) -> None:
    opt = OptimConfig(lr=0.5, max_epochs=30, patience=2, lr_step_epochs=2, lr_gamma=0.1)
    calls = {"n": 0}

    def rising_val(out, b):  # validation loss rises after epoch 1 → plateau → stop
        d = toy_loss(out, b)
        if not torch.is_grad_enabled():
            calls["n"] += 1
            d["loss"] = d["loss"] * 0 + min(calls["n"], 4) * -1.0 + (calls["n"] > 4) * 10.0
        return d

    res = _fit(toy_model(0), tmp_path, optim=opt, loss=rising_val, train=ToyDataset(32, 1))
    assert [r["lr"] for r in res.history[:5]] == pytest.approx([0.5, 0.5, 0.05, 0.05, 0.005])
    assert res.stopped_early and res.epochs_run < 30
    best = min(range(res.epochs_run), key=lambda e: res.history[e]["val/loss"])
    assert res.best_epoch == best
    assert res.epochs_run == best + 1 + 2  # patience epochs after the best one
    final = load_checkpoint(tmp_path / "stage" / "checkpoint.pt")
    assert final["epoch"] == best and final["metrics"]["best_epoch"] == best
    assert not (tmp_path / "stage" / "last.pt").exists() and not (tmp_path / "stage" / "best.pt").exists()


def _events(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] != "timing"]


def test_resume_after_a_crash_gives_identical_weights_and_metrics(tmp_path) -> None:
    ref_dir, crash_dir = tmp_path / "ref", tmp_path / "crash"
    opt = OptimConfig(lr=0.5, max_epochs=5, patience=100, lr_step_epochs=2)
    ref = toy_model(0, dropout=0.3)
    ref_res = _fit(ref, ref_dir, optim=opt)

    calls = {"n": 0}

    def crashing(out, b):
        calls["n"] += 1
        if calls["n"] == 14:  # epoch 2 (0-based), mid-epoch: 4 train + 1 val calls per epoch... mid-way
            raise KeyboardInterrupt("simulated kill")
        return toy_loss(out, b)

    with pytest.raises(KeyboardInterrupt):
        _fit(toy_model(0, dropout=0.3), crash_dir, optim=opt, loss=crashing)
    saved = load_checkpoint(crash_dir / "stage" / "last.pt")
    assert saved["epoch"] == 1 and "optimizer" in saved and "rng" in saved
    torch.manual_seed(12345)  # the resumed run must not depend on the global RNG left behind
    resumed = toy_model(0, dropout=0.3)
    res = _fit(resumed, crash_dir, optim=opt)
    assert res.resumed_from_epoch == 2
    assert _same(ref.state_dict(), resumed.state_dict())
    assert res.history == ref_res.history
    assert _events(crash_dir) == _events(ref_dir)
    a = load_checkpoint(ref_dir / "stage" / "checkpoint.pt")["model"]
    b = load_checkpoint(crash_dir / "stage" / "checkpoint.pt")["model"]
    assert _same(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["bf16", "fp16", "none"])
def test_cuda_amp_channels_last_paths(amp: str, tmp_path) -> None:
    """On a GPU: autocast bf16, fp16 with an active GradScaler, channels_last; resumable state incl. scaler."""
    model = toy_model(0, batchnorm=True)
    rt = RuntimeConfig(device="cuda", amp=amp, channels_last="on", seed=5, progress=False)
    res = _fit(model, tmp_path, runtime=rt)
    assert next(model.parameters()).is_cuda and all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(torch.tensor(r["val/loss"])) for r in res.history)
    assert res.history[-1]["train/loss"] < res.history[0]["train/loss"]
    saved = load_checkpoint(tmp_path / "stage" / "checkpoint.pt")
    assert all(not v.is_cuda for v in saved["model"].values())  # loaded onto the CPU by default


def test_fit_or_load_loads_a_finished_stage_instead_of_training(tmp_path) -> None:
    trained = toy_model(0)
    first = _fit(trained, tmp_path)
    assert finished_checkpoint(tmp_path / "stage") == tmp_path / "stage" / "checkpoint.pt"

    def never(out, b):
        raise AssertionError("a finished stage must not train again")

    fresh = toy_model(1)
    opts = FitOptions(stage="toy", optim=OPT, runtime=RT, batch_size=8, stage_dir=tmp_path / "stage",
                      run_dir=tmp_path, tensorboard=False)
    res = fit_or_load(fresh, never, ToyDataset(32, 1), ToyDataset(16, 2), opts)
    assert _same(fresh.state_dict(), trained.state_dict())
    assert (res.best_epoch, res.epochs_run, res.history) == (first.best_epoch, first.epochs_run, first.history)
    (tmp_path / "stage" / "last.pt").write_bytes(b"")  # a later attempt was interrupted: not finished
    assert finished_checkpoint(tmp_path / "stage") is None
