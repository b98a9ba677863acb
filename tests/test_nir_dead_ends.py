"""Crashes and dead ends found by reading NIR files as a user would (issue 13, item 5): each is a
test that runs the CLI the way the user did."""

import nir
import numpy as np
import pytest
import torch

from neurodeploy.cli import main


def _run(capsys, *args):
    code = main(list(map(str, args)))
    out = capsys.readouterr()
    return code, out.out, out.err


def _foreign_graph(path, bias: bool, dt_in_metadata: bool = False) -> None:
    """648-12-10 LIF graph as another writer leaves it: Affine layers (zero or random bias),
    no neurodeploy metadata unless asked."""
    rng = np.random.default_rng(0)
    lif = {"tau": np.full(12, 0.01, np.float32), "r": np.ones(12, np.float32),
           "v_leak": np.zeros(12, np.float32), "v_threshold": np.ones(12, np.float32),
           "v_reset": np.zeros(12, np.float32)}
    out = {k: (np.resize(v, 10) if k != "tau" else np.full(10, 0.01, np.float32)) for k, v in lif.items()}

    def b(n):
        return rng.normal(0, 0.1, n).astype(np.float32) if bias else np.zeros(n, np.float32)

    nodes = {"input": nir.Input(input_type=np.array([648])),
             "fc1": nir.Affine(weight=rng.normal(0, 0.2, (12, 648)).astype(np.float32), bias=b(12)),
             "lif1": nir.LIF(**lif),
             "fc2": nir.Affine(weight=rng.normal(0, 0.5, (10, 12)).astype(np.float32), bias=b(10)),
             "lif2": nir.LIF(**out),
             "output": nir.Output(output_type=np.array([10]))}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    meta = {"dt_s": 1e-3} if dt_in_metadata else {}
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False))


def test_onnx_export_of_a_nir_file_we_wrote(trained_run, tmp_path, capsys):
    """Was: TypeError: Object of type int64 is not JSON serializable (metadata read back as numpy)."""
    code, _, err = _run(capsys, "export", trained_run, "-t", "nir", "-o", tmp_path / "m.nir")
    assert code == 0, err
    code, out, err = _run(capsys, "export", tmp_path / "m.nir", "-t", "onnx", "-o", tmp_path / "m.onnx")
    assert code == 0 and "Traceback" not in err, err
    code, out, err = _run(capsys, "verify", tmp_path / "m.onnx", "-n", "4")
    assert code == 0, out + err


def test_export_nir_without_o_never_overwrites_the_source(trained_run, tmp_path, capsys):
    src = tmp_path / "m.nir"
    assert _run(capsys, "export", trained_run, "-t", "nir", "-o", src)[0] == 0
    before = src.read_bytes()
    code, out, err = _run(capsys, "export", src, "-t", "nir")
    assert code == 0, err
    assert src.read_bytes() == before and (tmp_path / "m.export.nir").is_file()
    code, _, err = _run(capsys, "export", src, "-t", "nir", "-o", src)
    assert code == 2 and "is the source file itself" in err and src.read_bytes() == before


def test_inspect_and_train_init_take_the_nir_reading_options(tmp_path, capsys):
    """Both used to say 'pass --dt' without having such an option."""
    g = tmp_path / "foreign.nir"
    _foreign_graph(g, bias=False)
    code, _, err = _run(capsys, "inspect", g)
    assert code != 0 and "--dt" in err
    code, out, err = _run(capsys, "inspect", g, "--dt", "1e-3")
    assert code == 0 and "Affine" in out, err
    code, out, err = _run(capsys, "train", "--init", g, "--dt", "1e-3", "--out", tmp_path / "r",
                          "--epochs", "1", "-q")
    assert code == 0, err
    assert "trained 1 epochs" in out


@pytest.mark.parametrize("bias", [False, True])
def test_train_init_keeps_a_bias_free_network_bias_free(tmp_path, capsys, bias):
    """`[model] bias = false` (the default): zero biases of the init graph are removed (exact),
    non-zero ones are kept but not trained."""
    g = tmp_path / "g.nir"
    _foreign_graph(g, bias=bias, dt_in_metadata=True)
    code, out, err = _run(capsys, "train", "--init", g, "--out", tmp_path / "r", "--epochs", "1", "-q")
    assert code == 0, err
    assert ("neurodeploy: warning: train.init: layer" in err and "kept fixed" in err) == bias, err
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=False)["model_state"]
    biases = {k: v for k, v in state.items() if k.endswith("bias")}
    if not bias:
        assert biases == {}
    else:
        read = nir.read(str(g))
        first = next(k for k in biases if k.split(".")[-2] in ("0", "1"))
        assert torch.equal(biases[first], torch.as_tensor(read.nodes["fc1"].bias)), list(biases)  # not trained
