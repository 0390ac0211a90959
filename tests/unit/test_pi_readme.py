"""The emulated Raspberry Pi test runs the README's own commands: every system it knows has them."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    result = subprocess.run(["bash", "tests/pi/run.sh", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_pi_system_has_its_install_commands_in_the_readme() -> None:
    systems = _run("--systems").split()
    assert systems == ["bookworm-arm64-litert", "bookworm-arm64-tflite", "trixie-arm64-litert",
                       "bookworm-armhf-tflite"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for system in systems:
        commands = _run("--commands", system)
        # Exactly the block after the system's marker, which the test then runs in the emulated root.
        assert f"<!-- pi-test: {system} -->\n```bash\n{commands}```\n" in readme, system
        assert "pip install" in commands and "edgerank score --model edge" in commands, system
    assert "tflite-runtime==2.14.0" in _run("--commands", "bookworm-armhf-tflite")
    assert "--system-site-packages" in _run("--commands", "bookworm-armhf-tflite")
    assert "[edge]" in _run("--commands", "trixie-arm64-litert")
