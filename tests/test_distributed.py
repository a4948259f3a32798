"""Distributed training, launched as a user would: ``torchrun`` subprocesses, gloo on the CPU.

Each launch starts Python and torch in every process (seconds on two cores), so launches are few:
two single-process "nodes" rendezvous on 127.0.0.1 (identical weights after every step, an exact
resume); and, marked slow, the command line on 2 processes, killed and resumed, against one
process at the same global batch; and, in one spawn of 2 gloo processes, the synced batch norm
against batch norm over the global batch and the start-up copy of rank 0's buffers.
`benchmarks/ddp_scaling.py` is run by hand.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cganbalance.fer2013 import CLASSES

from ._checkpoints import checkpoint_epoch

ROOT = Path(__file__).resolve().parent.parent
WORKER = str(Path(__file__).with_name("distributed_worker.py"))
TIMEOUT = 240


def _env():
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return {**env, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _torchrun(*args, stdout=subprocess.PIPE) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", *map(str, args)]
    return subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=stdout, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (torchrun starts its workers in sessions of their own)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {TIMEOUT} s:\n{out.decode()[-3000:]}")
    assert proc.returncode == 0, out.decode()[-3000:]
    return out.decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tiny_npz(tmp_path):
    """28 random 48×48 grey faces, 4 per FER-2013 class."""
    rng = np.random.RandomState(0)
    path = tmp_path / "tiny.npz"
    labels = np.arange(28) % 7
    np.savez(path, images=rng.randint(0, 256, size=(28, 48, 48)).astype(np.uint8), labels=labels, classes=np.array(CLASSES))
    return path


def test_two_nodes_rendezvous_hold_identical_weights_after_every_step_and_resume_exactly(tmp_path):
    port = _free_port()
    nodes = [
        _torchrun("--nnodes", 2, "--node-rank", r, "--nproc-per-node", 1, "--master-addr", "127.0.0.1",
                  "--master-port", port, WORKER, tmp_path, "--batch-size", 4, "--epochs", 2,
                  "--augment", "translation,cutout")
        for r in (0, 1)
    ]
    for node in nodes:
        _finish(node)
    runs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    # 40 samples, 20 per process, batches of 4: 5 steps an epoch.
    assert len(runs[0]["digests"]) == 10
    assert len(set(runs[0]["digests"])) == 10  # the weights changed at every step...
    assert runs[0]["digests"] == runs[1]["digests"]  # ...identically in both processes
    # Stopped after epoch 1 and resumed: bit-identical to the uninterrupted run (each process's own
    # stream, for dropout and augmentation, comes back from the checkpoint).
    assert runs[0]["resumed"] == runs[1]["resumed"] == runs[0]["digests"][-1]
    assert [h["steps"] for h in runs[0]["history"]] == [5, 5]
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in runs[0]["history"]]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in runs[1]["history"]]


def _probe(generator_dir) -> torch.Tensor:
    """Samples of a fixed noise batch with batch statistics (see tests/distributed_worker.py)."""
    from cganbalance.hub import load_generator

    g = load_generator(generator_dir).train()
    z = torch.randn(28, g.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return g(z, torch.arange(28) % 7)


def _cli(out, data, *args) -> list:
    return [str(a) for a in ("-m", "cganbalance", "train", data, "--out", out, "--seed", 3, *args)]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's workers in /proc")
def test_cli_two_processes_killed_and_resumed_match_one_process_at_the_same_global_batch(tiny_npz, tmp_path):
    # 28 faces, one step an epoch: batches of 28 in one process, of 14 in each of two.
    one = subprocess.run([sys.executable, *_cli(tmp_path / "one", tiny_npz, "--epochs", 6, "--batch-size", 28)],
                         cwd=ROOT, env=_env(), capture_output=True, timeout=TIMEOUT)
    assert one.returncode == 0, one.stderr.decode()[-3000:]
    common = ["--epochs", 6, "--batch-size", 14]
    out = tmp_path / "two"
    proc = _torchrun("--standalone", "--nproc-per-node", 2, *_cli(out, tiny_npz, *common), stdout=subprocess.DEVNULL)
    checkpoint = out / "checkpoints" / "checkpoint.safetensors"
    deadline = time.time() + TIMEOUT
    while checkpoint_epoch(checkpoint) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    for pid in [*_descendants(proc.pid), proc.pid]:  # the workers, then torchrun: the whole "machine" fails
        os.kill(pid, signal.SIGKILL)
    proc.communicate()
    assert not (out / "generator").exists()
    assert 2 <= checkpoint_epoch(checkpoint) < 6
    log = _finish(_torchrun("--standalone", "--nproc-per-node", 2, *_cli(out, tiny_npz, *common, "--resume")))
    assert log.count("Saved the generator") == 1  # rank 0 alone writes
    assert "× 2 processes (DDP)" in (out / "generator" / "README.md").read_text()
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert len(list((out / "samples").iterdir())) == 6
    # The same global batches, noise and synced batch statistics: the same steps up to float rounding,
    # which GAN training amplifies (losses agree to ~1e-6 after a few steps, samples to a few per cent).
    one_history = json.loads((tmp_path / "one" / "history.json").read_text())
    for a, b in zip(history, one_history):
        assert a["g_loss"] == pytest.approx(b["g_loss"], rel=1e-3)
        assert a["d_loss"] == pytest.approx(b["d_loss"], rel=1e-3)
    two_samples, one_samples = _probe(out / "generator"), _probe(tmp_path / "one" / "generator")
    assert (two_samples - one_samples).abs().mean() < 0.05 * one_samples.abs().mean()


# -- in-process checks: one spawn of 2 gloo processes serves them all ----------------------------
def _bn(channels: int):
    from cganbalance.training.distributed import SyncedBatchNorm

    bn = SyncedBatchNorm(channels, momentum=0.5)
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, channels))
        bn.bias.copy_(torch.linspace(-1, 1, channels))
    return bn


def _spawned_worker(rank: int, port: int, x: torch.Tensor, dy: torch.Tensor, out: dict) -> None:
    import torch.distributed as dist

    from cganbalance.training import make_rng
    from cganbalance.training.distributed import wrap
    from cganbalance.training.presets import build_networks

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        bn = _bn(x.shape[1])
        part = x.chunk(2)[rank].clone().contiguous(memory_format=torch.channels_last).requires_grad_()
        y = bn(part)
        y.backward(dy.chunk(2)[rank])
        result = {"y": y.detach(), "dx": part.grad, "dw": bn.weight.grad, "db": bn.bias.grad,
                  "mean": bn.running_mean.clone(), "var": bn.running_var.clone()}
        # Networks built from a seed of each process's own (random_state=None under torchrun), then wrapped.
        _, d, _ = build_networks("default", n_classes=2, data_shape=[1, 8, 8], rng=make_rng(rank),
                                 overrides={"discriminator": {"widths": [4, 4]}})
        result["wrapped"] = {k: v.clone() for k, v in wrap(d, torch.device("cpu")).module.state_dict().items()}
        out[rank] = result
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def spawned():
    """What 2 spawned gloo processes computed from the same global batch ``x`` and gradient ``dy``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 5, 4, generator=gen) * 2 + 1
    dy = torch.randn(8, 3, 5, 4, generator=gen)
    with torch.multiprocessing.get_context("spawn").Manager() as manager:
        out = manager.dict()
        torch.multiprocessing.start_processes(_spawned_worker, args=(_free_port(), x, dy, out), nprocs=2,
                                              start_method="spawn")
        return x, dy, dict(out)


def test_synced_batch_norm_on_two_processes_is_batch_norm_over_the_global_batch(spawned):
    x, dy, out = spawned
    bn = torch.nn.BatchNorm2d(3, momentum=0.5)
    bn.load_state_dict(_bn(3).state_dict())
    ref_x = x.clone().requires_grad_()
    ref_y = bn(ref_x)
    ref_y.backward(dy)
    torch.testing.assert_close(torch.cat([out[0]["y"], out[1]["y"]]), ref_y.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat([out[0]["dx"], out[1]["dx"]]), ref_x.grad, atol=1e-5, rtol=1e-5)
    # Parameter gradients are each process's share (their sum is the global batch's); running statistics are global.
    torch.testing.assert_close(out[0]["dw"] + out[1]["dw"], bn.weight.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[0]["db"] + out[1]["db"], bn.bias.grad, atol=1e-5, rtol=1e-5)
    for rank in (0, 1):
        torch.testing.assert_close(out[rank]["mean"], bn.running_mean)
        torch.testing.assert_close(out[rank]["var"], bn.running_var)


def test_wrapped_networks_start_from_rank_0s_weights_and_buffers(spawned):
    _, _, out = spawned
    assert any("_u" in k for k in out[0]["wrapped"])  # spectral-norm vectors are buffers
    for k, v in out[0]["wrapped"].items():
        torch.testing.assert_close(out[1]["wrapped"][k], v, rtol=0, atol=0, msg=k)
