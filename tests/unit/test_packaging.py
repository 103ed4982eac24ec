"""Project hygiene: environment.yml agrees with pyproject.toml; CI runs the README command."""

import re
import subprocess
import sys

import tomllib

from tests.helpers.paths import ROOT

CONDA_NAMES = {"torch": "pytorch", "zlib-ng": "python-zlib-ng"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    text = (ROOT / "environment.yml").read_text()
    conda, pip, section = {}, {}, None
    deps = text.split("\ndependencies:\n", 1)[1]
    for line in deps.splitlines():
        if re.match(r"^\s{2}- pip:\s*$", line):
            section = "pip"
            continue
        m = re.match(r"^\s{2}- (\S.*)$", line)
        if m:
            section = "conda"
            name, spec = _split(m.group(1))
            conda[name] = spec
            continue
        m = re.match(r"^\s{6}- (\S.*)$", line)
        if m and section == "pip":
            name, spec = _split(m.group(1))
            pip[name] = spec
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    runtime = dict(_split(r) for r in project["dependencies"] + extras["model"])
    for name, spec in runtime.items():
        conda_name = CONDA_NAMES.get(name, name)
        assert conda.get(conda_name) == spec, (
            f"{name}{spec} is not in environment.yml as {conda_name}{spec}")
    extra = set(conda) - {CONDA_NAMES.get(n, n) for n in runtime} - {"python", "pip"}
    assert not extra, f"environment.yml has dependencies pyproject.toml lacks: {extra}"
    assert conda["python"] == project["requires-python"]
    demo = dict(_split(r) for r in extras["demo"] if not r.startswith("attviz["))
    assert pip == demo


def test_base_install_has_no_model_libraries_and_every_extra_that_runs_models_has_them():
    project = _pyproject()["project"]
    heavy = {"torch", "transformers", "tokenizers", "safetensors"}
    assert not heavy & {_split(r)[0] for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert {_split(r)[0] for r in extras["model"]} == heavy
    for name in ("demo", "test"):
        assert "attviz[model]" in extras[name], name


def _readme_commands():
    """The code blocks of the README's set-up section ("## Quick start ...")."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start.*?(?=^## )", text, flags=re.S | re.M).group(0)
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    demo, tests = commands
    assert "demo" in demo and "test" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests.strip() in ci.splitlines()
    for cmd in commands:
        assert (ROOT / cmd.split()[0]).exists()


def test_cpu_constraint_pins_torch_but_pyproject_stays_open():
    pins = (ROOT / "constraints-cpu.txt").read_text()
    assert re.search(r"^torch==\d", pins, flags=re.M)
    deps = dict(_split(r) for r in _pyproject()["project"]["optional-dependencies"]["model"])
    assert deps["torch"].startswith(">=")


def test_help_lists_subcommands_and_each_has_examples():
    out = subprocess.run([sys.executable, "-m", "attviz.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for cmd in ("precompute", "info", "finetune", "verify", "merge", "synth", "index",
                "shard-name"):
        assert cmd in out
        sub = subprocess.run([sys.executable, "-m", "attviz.cli", cmd, "--help"],
                             capture_output=True, text=True, check=True).stdout
        assert "examples:" in sub, cmd


def test_readme_notebook_section_says_what_to_install_and_ends_with_the_explorer():
    """Its cells are what the notebook tier runs in JupyterLab (tests/notebook)."""
    from tests.helpers.jupyter import readme_cells

    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## In a notebook\n.*?(?=^## )", text, flags=re.S | re.M).group(0)
    assert "pip install attviz jupyterlab" in section
    assert (ROOT / "docs" / "images" / "notebook.png").is_file()
    assert "](docs/images/notebook.png)" in section
    cells = readme_cells()
    assert cells[0].startswith("import attviz") and "attviz.explorer(" in cells[-1]
    assert any("head_stats(" in c for c in cells) and any(".attention(" in c for c in cells)
    project = _pyproject()["project"]
    assert "xarray" in {_split(r)[0] for r in project["dependencies"]}  # .sel(...) works
