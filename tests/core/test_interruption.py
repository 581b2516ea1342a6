"""``modelexport_core.interruption``: what an interrupted command removes, and the moment it waits for."""

from __future__ import annotations

from pathlib import Path

from modelexport_core import interruption


def test_registered_folders_are_removed_until_their_block_ends(tmp_path: Path) -> None:
    building, other = tmp_path / "building", tmp_path / "other"
    with interruption.removed_if_interrupted(building):
        building.mkdir()
        (building / "model.onnx").write_bytes(b"half")
        other.mkdir()
        interruption.remove_abandoned()
        assert not building.exists()
        assert other.exists(), "only registered folders go"
    building.mkdir()
    interruption.remove_abandoned()
    assert building.exists(), "a block that ended unregisters its folder"


def test_a_folder_not_yet_made_is_no_error(tmp_path: Path) -> None:
    with interruption.removed_if_interrupted(tmp_path / "not-yet"):
        interruption.remove_abandoned()


def test_an_interruption_waits_for_the_files_to_be_in_place() -> None:
    ran: list[str] = []
    with interruption.finishing():
        with interruption.finishing():
            interruption.run_when_safe(lambda: ran.append("exit"))
            ran.append("inner moved")
        ran.append("outer moved")
    assert ran == ["inner moved", "outer moved", "exit"]
    interruption.run_when_safe(lambda: ran.append("now"))
    assert ran[-1] == "now"


def test_an_error_while_finishing_still_lets_the_interruption_through() -> None:
    ran: list[str] = []
    try:
        with interruption.finishing():
            interruption.run_when_safe(lambda: ran.append("exit"))
            raise OSError("disk full")
    except OSError:
        pass
    assert ran == ["exit"]
