"""The CLI: subcommands, --json output, one-line errors with a non-zero exit status."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from interpface.cli.main import main
from interpface.faces.images import load_image


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_for_every_subcommand():
    for args in (
        ["--help"],
        ["data", "--help"],
        ["data", "prepare", "--help"],
        ["data", "info", "--help"],
        ["occlude", "--help"],
    ):
        proc = subprocess.run([sys.executable, "-m", "interpface", *args], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage:" in proc.stdout


def test_occlude_writes_picture_and_json(tmp_path, faces, capsys):
    out, js = tmp_path / "o.png", tmp_path / "o.json"
    code, stdout, _ = run(
        [
            "occlude",
            str(faces.path("Eileen_Collins/Eileen_Collins_0001.jpg")),
            "--region",
            "nose",
            "--out",
            str(out),
            "--json",
            str(js),
        ],
        capsys,
    )
    assert code == 0 and out.is_file()
    info = json.loads(js.read_text())
    quad = np.array(info["quad_crop"])
    assert quad.shape == (4, 2) and (quad >= 0).all() and (quad <= 109).all()
    img = load_image(out)
    assert img.shape == (110, 110, 3)
    assert (
        info["occluded_pixels"] > 200 and (img.reshape(-1, 3) == 0).all(axis=1).sum() >= info["occluded_pixels"] * 0.9
    )


def test_occlude_random_seed_is_reproducible(tmp_path, faces, capsys):
    src = str(faces.path("Grace_Hopper/Grace_Hopper_0001.jpg"))
    for name in ("a", "b"):
        assert (
            run(
                [
                    "occlude",
                    src,
                    "--seed",
                    "3",
                    "--out",
                    str(tmp_path / f"{name}.png"),
                    "--json",
                    str(tmp_path / f"{name}.json"),
                ],
                capsys,
            )[0]
            == 0
        )
    assert (
        json.loads((tmp_path / "a.json").read_text())["quad_crop"]
        == json.loads((tmp_path / "b.json").read_text())["quad_crop"]
    )


@pytest.mark.parametrize(
    "content,expect",
    [
        (None, "no such file"),
        (b"", "empty"),
        (b"not an image", "cannot decode"),
        ("flat", "no face"),
    ],
)
def test_bad_inputs_give_one_line(tmp_path, capsys, content, expect):
    path = tmp_path / "in.png"
    if content == "flat":
        from PIL import Image

        Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(path)
    elif content is not None:
        path.write_bytes(content)
    code, _, err = run(["occlude", str(path), "--out", str(tmp_path / "o.png")], capsys)
    assert code == 2
    assert expect in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_huge_png_cli(tmp_path, capsys):
    from tests.test_images import huge_png_header

    (tmp_path / "huge.png").write_bytes(huge_png_header())
    code, _, err = run(["occlude", str(tmp_path / "huge.png"), "--out", str(tmp_path / "o.png")], capsys)
    assert code == 2 and "refused before decoding" in err


def test_no_face_fallback_flag(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(tmp_path / "flat.png")
    code, out, _ = run(["occlude", str(tmp_path / "flat.png"), "--fallback", "--out", str(tmp_path / "o.png")], capsys)
    assert code == 0 and "fallback" in out


def test_data_info_json(tmp_path, faces_root, capsys):
    code, _, _ = run(
        [
            "data",
            "info",
            "--dataset",
            "lfw",
            "--data-root",
            str(faces_root),
            "--cache-dir",
            str(tmp_path),
            "--json",
            str(tmp_path / "i.json"),
        ],
        capsys,
    )
    info = json.loads((tmp_path / "i.json").read_text())
    assert code == 0 and info["images"] == 24 and info["identities"] == 6
    assert info["view1"]["dev_test_images"] == 14 and info["view1"]["dev_train_people"] == 3
    assert info["view2"] == {"folds": 2, "pairs": 12, "matched": 6, "mismatched": 6, "people": 6}
    assert info["prepared"]["images"] == 0


def test_data_info_json_real_lfw(tmp_path, lfw, capsys):
    code, _, _ = run(
        ["data", "info", "--dataset", "lfw", "--cache-dir", str(tmp_path), "--json", str(tmp_path / "i.json")], capsys
    )
    info = json.loads((tmp_path / "i.json").read_text())
    assert code == 0 and info["images"] == 13233 and info["identities"] == 5749
    assert info["view1"]["dev_test_images"] == 3708 and info["view2"]["pairs"] == 6000
    assert info["prepared"]["images"] == 0


def test_no_dataset_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INTERPFACE_DATA", str(tmp_path))
    code, _, err = run(["data", "info", "--dataset", "lfw"], capsys)
    assert code == 2 and err.count("\n") == 1 and "get LFW" in err


def test_data_prepare_cli_on_folder(tmp_path, faces, capsys):
    root = tmp_path / "faces" / "Grace_Hopper"
    root.mkdir(parents=True)
    for k in (1, 2):
        shutil.copy(faces.path(f"Grace_Hopper/Grace_Hopper_000{k}.jpg"), root)
    code, out, _ = run(
        [
            "data",
            "prepare",
            "--dataset",
            f"folder:{tmp_path / 'faces'}",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--workers",
            "1",
            "--quiet",
            "--json",
            str(tmp_path / "p.json"),
        ],
        capsys,
    )
    assert code == 0 and "prepared 2 images" in out
    assert json.loads((tmp_path / "p.json").read_text())["counts"]["ok"] == 2
    code, _, err = run(["data", "info", "--dataset", "folder:/nonexistent/x"], capsys)
    assert code == 2 and "not a directory" in err
