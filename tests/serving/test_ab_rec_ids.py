"""Signed rec_ids: what they carry, and every way one is refused."""

from __future__ import annotations

import hashlib

import pytest

from serving.rec_ids import RecId, RecIdSigner, Rejection, new_rec_id

NOW = 1_795_000_000.0
DAY = 86_400.0
SIGNER = RecIdSigner(hashlib.sha256(b"test secret").digest())


def issued(**fields: object) -> str:
    options: dict[str, object] = {"user_id": "u1", "model": "products", "version": "7",
                                  "experiment": "als-vs-bpr", "variant": "treatment",
                                  "now": NOW}
    options.update(fields)
    return SIGNER.issue(**options)  # type: ignore[arg-type]


def flipped(rec_id: str, position: int) -> str:
    char = rec_id[position]
    return rec_id[:position] + ("B" if char == "A" else "A") + rec_id[position + 1 :]


def test_a_rec_id_carries_experiment_variant_version_and_issue_time() -> None:
    rec_id = issued()
    assert SIGNER.verify(rec_id, "u1", NOW + 60, DAY) == RecId(
        int(NOW), "als-vs-bpr", "treatment", "products", "7")
    assert len(rec_id) <= 80 and rec_id.replace("-", "").replace("_", "").isalnum()


def test_responses_outside_experiments_verify_with_empty_experiment() -> None:
    payload = SIGNER.verify(issued(experiment=None, variant=None), "u1", NOW, DAY)
    assert isinstance(payload, RecId) and (payload.experiment, payload.variant) == ("", "")


def test_two_rec_ids_of_the_same_second_differ() -> None:
    assert issued() != issued()


@pytest.mark.parametrize("position", [0, 3, 10, 25, 40, -1])
def test_any_changed_character_makes_it_forged(position: int) -> None:
    assert SIGNER.verify(flipped(issued(), position), "u1", NOW, DAY) is Rejection.FORGED


@pytest.mark.parametrize("rec_id", ["", "abc", "not base64 at all!", "A" * 70])
def test_garbage_is_forged(rec_id: str) -> None:
    assert SIGNER.verify(rec_id, "u1", NOW, DAY) is Rejection.FORGED


def test_a_truncated_or_foreign_key_rec_id_is_forged() -> None:
    other = RecIdSigner(hashlib.sha256(b"another secret").digest())
    assert SIGNER.verify(issued()[:-4], "u1", NOW, DAY) is Rejection.FORGED
    assert other.verify(issued(), "u1", NOW, DAY) is Rejection.FORGED


def test_expiry_is_the_attribution_window_after_issue() -> None:
    rec_id = issued()
    assert isinstance(SIGNER.verify(rec_id, "u1", NOW + DAY, DAY), RecId)
    assert SIGNER.verify(rec_id, "u1", NOW + DAY + 1, DAY) is Rejection.EXPIRED


def test_another_users_event_does_not_match() -> None:
    assert SIGNER.verify(issued(), "u2", NOW, DAY) is Rejection.OTHER_USER


def test_plain_random_ids_are_unsigned_not_forged() -> None:
    assert SIGNER.verify(new_rec_id(), "u1", NOW, DAY) is Rejection.UNSIGNED
